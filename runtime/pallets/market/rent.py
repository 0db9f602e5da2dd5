"""Rent for waiting: what a job pays the treasury for each block it holds a place in the queue
of waiting jobs before its first worker, dearer the fuller the queue was when it came.

A job that waits holds, besides its escrow, a deposit of its rent times the rest of its wait;
when it leaves the queue (matched, cancelled or expired) it pays the rent of the blocks it
waited and the rest of the deposit is released. A job matched at submission pays nothing. A job
a worker gives back (a decline or a miss) waits again and pays again, at the queue as it then
is: were that wait free, jobs matched at submission to a sybil that declines them at once would
hold the queue for nothing. A requester that cannot hold the new deposit has its job expire.

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
from runtime.pallets import balances, treasury
from runtime.pallets.market.constants import ESCROW, MAX_PENDING_JOBS, WAIT_RENT_GROWTH
from runtime.pallets.market.escrow import pay_out, release_held
from runtime.pallets.market.storage import Job, Params, PendingJobs


def rent_now(ctx: BlockContext) -> int:
    """The rent a block of a job submitted now, to the queue as it is."""
    waiting = len(PendingJobs.get(ctx.state))
    base = Params.get(ctx.state).wait_rent
    return base * (MAX_PENDING_JOBS + WAIT_RENT_GROWTH * waiting) // MAX_PENDING_JOBS


def wait_start(current: Job) -> int:
    """The block the job's current wait began."""
    return max(current.submitted_at, current.waiting_since)


def deposit_of(current: Job) -> int:
    """What a waiting job holds for its rent until it leaves the queue: its rent for the rest of
    its wait."""
    return current.rent * (current.expires_at - wait_start(current))


def wait_again(ctx: BlockContext, current: Job, rent: int) -> Job | None:
    """A job given back by its worker, waiting again from now at `rent` a block (`rent_now` of
    the queue it found, without itself) with its deposit held; None if the requester cannot hold
    that deposit with what its freezes leave usable (the job must expire). Never fails: a missed
    deadline's hook calls it."""
    deposit = rent * max(0, current.expires_at - ctx.number)
    if deposit > balances.usable_free(ctx, current.requester):  # frozen funds cannot be held
        return None
    if deposit:
        balances.hold(ctx, current.requester, ESCROW, deposit)
    return replace(current, escrow=current.escrow + deposit, rent=rent, waiting_since=ctx.number)


def charge_wait(ctx: BlockContext, current: Job) -> Job:
    """A job leaving the queue pays the rent of the blocks it waited (out of its escrow hold, to
    the treasury) and gets the rest of its deposit back; returned without its deposit (unchanged
    if it paid already). Never fails: hooks call it."""
    if not current.rent:
        return current
    deposit = deposit_of(current)
    owed = min(deposit, current.rent * max(0, ctx.number - wait_start(current)))
    treasury.receive(ctx, treasury.RENT, pay_out(ctx, current.requester, ESCROW, TREASURY, owed))
    release_held(ctx, current.requester, ESCROW, deposit - owed)
    return replace(current, escrow=current.escrow - deposit, rent=0)
