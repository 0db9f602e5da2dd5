"""Matching a waiting job with the cheapest eligible worker."""

from __future__ import annotations

from dataclasses import replace

from runtime.framework import BlockContext
from runtime.pallets import randomness
from runtime.pallets.market.deadlines import schedule
from runtime.pallets.market.events import JobMatched
from runtime.pallets.market.params import MarketParams
from runtime.pallets.market.storage import (
    Deadlines,
    Job,
    Jobs,
    Params,
    PendingJobs,
    Worker,
    WorkerList,
    Workers,
)
from runtime.primitives.hashing import blake2b_256
from runtime.workloads import payment_for


def _randomness(ctx: BlockContext, *parts: bytes) -> bytes:
    return blake2b_256(b"xpl-market" + randomness.current(ctx.state) + b"".join(parts))


def _eligible(worker: Worker, stake_free: int, job: Job, p: MarketParams) -> int | None:
    """The worker's price for the job if it can take it, else None."""
    price = worker.ask(job.workload)
    if price is None or price > job.max_price or worker.retiring:
        return None
    if worker.active >= worker.capacity:
        return None
    if stake_free < p.slash_for(payment_for(job.cost_units, price)):
        return None
    return price


def try_match(ctx: BlockContext, job_id: int) -> bool:
    """Match a pending job to the best worker now; True if it found one."""
    state = ctx.state
    current = Jobs.get(state, job_id)
    if current is None or current.state != "pending":
        return False
    p = Params.get(state)
    best: tuple[int, int, bytes, bytes] | None = None
    for account in WorkerList.get(state):
        worker = Workers.get(state, account)
        if worker is None:
            continue
        price = _eligible(worker, worker.stake - worker.bonded, current, p)
        if price is None:
            continue
        key = (
            price,
            -worker.reputation,
            _randomness(ctx, job_id.to_bytes(8, "big"), account),
            account,
        )
        if best is None or key < best:
            best = key
    if best is None:
        return False
    price, _, _, account = best
    worker = Workers.get(state, account)
    assert worker is not None
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
    PendingJobs.put(state, tuple(i for i in PendingJobs.get(state) if i != job_id))
    schedule(Deadlines, ctx, commit_by + 1, job_id)
    ctx.deposit_event(JobMatched, job_id, account, price, commit_by)
    return True
