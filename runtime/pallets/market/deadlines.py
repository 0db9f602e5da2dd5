"""Deadlines: expiring jobs that found no worker, declined matches and missed commitments."""

from __future__ import annotations

from dataclasses import replace

from runtime.accounts import TREASURY
from runtime.framework import BlockContext
from runtime.pallets.market.constants import ESCROW, MAX_EXCLUDED, PPM, STAKE
from runtime.pallets.market.escrow import pay_out, release_held
from runtime.pallets.market.events import DeadlineMissed, JobDeclined, JobExpired
from runtime.pallets.market.matching import anyone_eligible
from runtime.pallets.market.queue import dequeue, enqueue
from runtime.pallets.market.storage import Job, Jobs, Params
from runtime.pallets.market.workers import end_for_worker, store_worker


def expire(ctx: BlockContext, job_id: int, current: Job, *, queued: bool = True) -> None:
    """A job that found no worker in time (or no worker left that could take it): refund its
    escrow and end it. `queued`: it is in the queue of waiting jobs."""
    release_held(ctx, current.requester, ESCROW, current.escrow)
    Jobs.insert(ctx.state, job_id, replace(current, state="expired"))
    if queued:
        dequeue(ctx, job_id, current.requester)
    ctx.deposit_event(JobExpired, job_id, current.escrow)


def decline(ctx: BlockContext, job_id: int, current: Job) -> None:
    """The matched worker gives the job back within the decline window: no penalty, no change of
    reputation; it is never matched to this job again.

    What an attacker can still do: a worker may take jobs and decline them, keeping each out of
    others' hands for at most `decline_blocks` blocks, once per job, and earns nothing by it; a
    requester whose job every worker declines (inputs nobody can fetch, say) gets its escrow back
    and has paid its fees, while the workers lost nothing.
    """
    assert current.worker is not None
    store_worker(ctx, current.worker, end_for_worker(ctx, current, 0))
    ctx.deposit_event(JobDeclined, job_id, current.worker)
    _wait_again(ctx, job_id, current)


def miss_deadline(ctx: BlockContext, job_id: int, current: Job) -> None:
    """A matched job passed its commit deadline: the worker pays `miss_penalty_ppm` of the slash
    to the treasury, loses reputation and never gets this job again; the job waits again.

    The penalty goes to the treasury, never to the requester, so that a requester gains nothing
    from a job no worker can finish: it cannot farm workers' stake. What an attacker can still
    do: submit a job that cannot be done (inputs nobody serves) and hope a worker neither does
    nor declines it: that worker loses the penalty, but the requester only pays its fees.
    """
    assert current.worker is not None
    p = Params.get(ctx.state)
    penalty = pay_out(
        ctx, current.worker, STAKE, TREASURY, current.slash * p.miss_penalty_ppm // PPM
    )
    worker = end_for_worker(ctx, current, -2)
    if worker is not None:
        worker = replace(worker, stake=max(0, worker.stake - penalty))
    store_worker(ctx, current.worker, worker)
    ctx.deposit_event(DeadlineMissed, job_id, current.worker, penalty)
    _wait_again(ctx, job_id, current)


def _wait_again(ctx: BlockContext, job_id: int, current: Job) -> None:
    """A job its worker gave back waits for another worker, without that one; it expires when
    its wait is over, when MAX_EXCLUDED workers gave it back, or when no worker left could take
    it."""
    assert current.worker is not None
    excluded = (*current.excluded, current.worker)
    waiting = replace(
        current, state="pending", worker=None, price=0, slash=0, commit_by=0, excluded=excluded
    )
    Jobs.insert(ctx.state, job_id, waiting)
    if (
        ctx.number >= current.expires_at
        or len(excluded) >= MAX_EXCLUDED
        or not anyone_eligible(ctx, waiting)
    ):
        expire(ctx, job_id, waiting, queued=False)
        return
    enqueue(ctx, job_id, current.requester)
