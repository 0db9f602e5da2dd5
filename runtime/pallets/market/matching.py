"""Matching a waiting job with the cheapest eligible worker, and which waiting jobs each block
tries."""

from __future__ import annotations

from dataclasses import replace

from runtime.framework import BlockContext
from runtime.pallets import randomness
from runtime.pallets.market.constants import DECLINE_COOLDOWN, MATCHES_PER_BLOCK
from runtime.pallets.market.eligibility import price_if_eligible, price_if_free, slot_ms
from runtime.pallets.market.events import JobMatched
from runtime.pallets.market.queue import dequeue, schedule
from runtime.pallets.market.rent import charge_wait
from runtime.pallets.market.storage import (
    Deadlines,
    Job,
    Jobs,
    MatchCursor,
    Params,
    PendingJobs,
    WorkerList,
    Workers,
)
from runtime.primitives.hashing import blake2b_256
from runtime.workloads import payment_for


def anyone_eligible(ctx: BlockContext, current: Job) -> bool:
    """Whether some registered worker could ever take the job (busy or not)."""
    p, slot, state = Params.get(ctx.state), slot_ms(ctx), ctx.state
    for account in WorkerList.get(state):
        worker = Workers.get(state, account)
        if worker is not None and price_if_eligible(p, slot, ctx.number, account, worker, current):
            return True
    return False


def match_waiting(ctx: BlockContext) -> int:
    """Try to match up to MATCHES_PER_BLOCK waiting jobs, starting after the last job the block
    before tried (in job id order, wrapping around), so that jobs no worker takes now do not keep
    the others from being tried.

    What an attacker can still do: fill the queue with jobs that wait (each job needs an eligible
    ask at submission, so it pays the escrow and fees, and at most MAX_PENDING_PER_REQUESTER per
    account). With N waiting jobs every job is tried at least once in N / MATCHES_PER_BLOCK
    blocks, so it delays others' jobs by that many blocks at most, and gains nothing by it.
    Returns how many it tried (each a pass over the workers).
    """
    waiting = sorted(PendingJobs.get(ctx.state))
    if not waiting:
        return 0
    cursor = MatchCursor.get(ctx.state)
    after = [i for i in waiting if i > cursor]
    turn = (after + [i for i in waiting if i <= cursor])[:MATCHES_PER_BLOCK]
    for job_id in turn:
        try_match(ctx, job_id)
    MatchCursor.put(ctx.state, turn[-1])
    return len(turn)


def try_match(ctx: BlockContext, job_id: int) -> bool:
    """Match a pending job to the best worker now; True if it found one.

    The best is a worker in good standing (reputation not negative, no decline in the last
    DECLINE_COOLDOWN blocks) before any other, then the cheapest, then the most reputed, then
    by the block's randomness: a worker that missed or failed more jobs than it settled, or
    declined one lately, takes a job only when no worker in good standing can, so that a few
    sybil workers asking little cannot decline one job after another. What an attacker can
    still do: regain good standing by settling a job (real work, paid as such), by waiting out
    the cooldown, or by retiring and registering again (two fees, its stake released and held
    again), paying a decline's penalty each time it declines (`deadlines.decline`).
    """
    state = ctx.state
    current = Jobs.get(state, job_id)
    if current is None or current.state != "pending":
        return False
    p = Params.get(state)
    slot = slot_ms(ctx)
    seed = b"xpl-market" + randomness.current(state) + job_id.to_bytes(8, "big")
    # The draw breaks ties only, so it is hashed only for workers tied with the best so far.
    best: tuple[bool, int, int] | None = None
    best_draw = b""
    best_account = b""
    for account in WorkerList.get(state):
        worker = Workers.get(state, account)
        if worker is None:
            continue
        price = price_if_free(p, slot, ctx.number, account, worker, current)
        if price is None:
            continue
        cooling = worker.declined_at > 0 and ctx.number < worker.declined_at + DECLINE_COOLDOWN
        key = (cooling or worker.reputation < 0, price, -worker.reputation)
        if best is not None and key > best:
            continue
        draw = blake2b_256(seed + account)
        if best is None or key < best or (draw, account) < (best_draw, best_account):
            best, best_draw, best_account = key, draw, account
    if best is None:
        return False
    price, account = best[1], best_account
    worker = Workers.get(state, account)
    assert worker is not None
    current = charge_wait(ctx, current)
    slash = p.slash_for(payment_for(current.cost_units, price))
    commit_by = ctx.number + current.deadline_blocks
    Workers.insert(
        state, account, replace(worker, active=worker.active + 1, bonded=worker.bonded + slash)
    )
    Jobs.insert(
        state,
        job_id,
        replace(
            current,
            state="matched",
            worker=account,
            price=price,
            slash=slash,
            matched_at=ctx.number,
            commit_by=commit_by,
        ),
    )
    dequeue(ctx, job_id, current.requester)
    schedule(Deadlines, ctx, commit_by + 1, job_id)
    ctx.deposit_event(JobMatched, job_id, account, price, commit_by)
    return True
