"""Deadlines: scheduling them, expiring jobs that found no worker, and missed commitments."""

from __future__ import annotations

from dataclasses import replace

from runtime.framework import BlockContext, StorageMap
from runtime.pallets.market.constants import ESCROW, PPM, STAKE
from runtime.pallets.market.escrow import pay_out, release_held
from runtime.pallets.market.events import DeadlineMissed, JobExpired
from runtime.pallets.market.storage import Job, Jobs, Params, PendingJobs
from runtime.pallets.market.workers import end_for_worker, store_worker


def schedule(
    queue: StorageMap[int, tuple[int, ...]], ctx: BlockContext, number: int, job_id: int
) -> None:
    """Queue `job_id` in `queue` for block `number` (once)."""
    queued = queue.get(ctx.state, number) or ()
    if job_id not in queued:
        queue.insert(ctx.state, number, (*queued, job_id))


def expire(ctx: BlockContext, job_id: int, current: Job) -> None:
    """A job that found no worker in time: refund its escrow and end it."""
    release_held(ctx, current.requester, ESCROW, current.escrow)
    Jobs.insert(ctx.state, job_id, replace(current, state="expired"))
    PendingJobs.put(ctx.state, tuple(i for i in PendingJobs.get(ctx.state) if i != job_id))
    ctx.deposit_event(JobExpired, job_id, current.escrow)


def miss_deadline(ctx: BlockContext, job_id: int, current: Job) -> None:
    """A matched job passed its commit deadline: penalize the worker, let the job wait again."""
    assert current.worker is not None
    p = Params.get(ctx.state)
    penalty = pay_out(
        ctx, current.worker, STAKE, current.requester, current.slash * p.miss_penalty_ppm // PPM
    )
    worker = end_for_worker(ctx, current, -2)
    if worker is not None:
        worker = replace(worker, stake=max(0, worker.stake - penalty))
    store_worker(ctx, current.worker, worker)
    ctx.deposit_event(DeadlineMissed, job_id, current.worker, penalty)
    waiting = replace(current, state="pending", worker=None, price=0, slash=0, commit_by=0)
    if ctx.number >= current.expires_at:
        expire(ctx, job_id, waiting)
        return
    Jobs.insert(ctx.state, job_id, waiting)
    PendingJobs.put(ctx.state, (*PendingJobs.get(ctx.state), job_id))
