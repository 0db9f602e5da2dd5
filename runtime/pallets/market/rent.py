"""Rent for waiting: what a job pays the treasury for each block it holds a place in the queue
of waiting jobs before its first worker, dearer the fuller the queue was when it came.

A job holds, besides its escrow, a deposit of its rent times its wait; when it first leaves the
queue (matched, cancelled or expired) it pays the rent of the blocks it waited and the rest of
the deposit is released. A job matched at submission pays nothing. Later waits (after a decline
or a miss) are free: the workers caused them, and MAX_EXCLUDED bounds them.

What an attacker can still do: hold places in the queue, as any requester may, for their rent.
Eligibility at submission cannot tell whether the eligible worker will ever be free (a sybil
worker kept busy by its own owner makes every cheap job "eligible"), so filling the queue is not
refused; it is priced. Filling all MAX_PENDING_JOBS places for MAX_WAIT_BLOCKS blocks costs
about MAX_PENDING_JOBS·MAX_WAIT_BLOCKS·`wait_rent`·(1 + WAIT_RENT_GROWTH / 2) (about 46 XPL at the
defaults, against 3 XPL of fees before), paid to the treasury, and the attacker gains nothing.
An honest job waits a few blocks at most in a queue that is not under attack, for a few
millionths of an XPL each.
"""

from __future__ import annotations

from dataclasses import replace

from runtime.accounts import TREASURY
from runtime.framework import BlockContext
from runtime.pallets.market.constants import ESCROW, MAX_PENDING_JOBS, WAIT_RENT_GROWTH
from runtime.pallets.market.escrow import pay_out, release_held
from runtime.pallets.market.storage import Job, Params, PendingJobs


def rent_now(ctx: BlockContext) -> int:
    """The rent a block of a job submitted now, to the queue as it is."""
    waiting = len(PendingJobs.get(ctx.state))
    base = Params.get(ctx.state).wait_rent
    return base * (MAX_PENDING_JOBS + WAIT_RENT_GROWTH * waiting) // MAX_PENDING_JOBS


def deposit_of(current: Job) -> int:
    """What a job holds for its rent until it first leaves the queue: its rent for all its wait."""
    return current.rent * (current.expires_at - current.submitted_at)


def charge_wait(ctx: BlockContext, current: Job) -> Job:
    """A job leaving the queue for the first time pays the rent of the blocks it waited (out of
    its escrow hold, to the treasury) and gets the rest of its deposit back; returned without
    its deposit (unchanged if it paid already). Never fails: hooks call it."""
    if not current.rent:
        return current
    deposit = deposit_of(current)
    owed = min(deposit, current.rent * max(0, ctx.number - current.submitted_at))
    pay_out(ctx, current.requester, ESCROW, TREASURY, owed)
    release_held(ctx, current.requester, ESCROW, deposit - owed)
    return replace(current, escrow=current.escrow - deposit, rent=0)
