"""Deadlines: expiring jobs that found no worker, declined matches and missed commitments."""

from __future__ import annotations

from dataclasses import replace

from runtime.accounts import TREASURY
from runtime.framework import BlockContext
from runtime.pallets.market.constants import (
    ESCROW,
    MAX_EXCLUDED,
    PPM,
    STAKE,
)
from runtime.pallets.market.escrow import pay_out, release_held
from runtime.pallets.market.events import DeadlineMissed, JobDeclined, JobExpired
from runtime.pallets.market.matching import anyone_eligible
from runtime.pallets.market.queue import dequeue, enqueue
from runtime.pallets.market.rent import charge_wait, wait_again
from runtime.pallets.market.storage import Job, Jobs, Params
from runtime.pallets.market.workers import end_for_worker, store_worker


def expire(ctx: BlockContext, job_id: int, current: Job, *, queued: bool = True) -> None:
    """A job that found no worker in time (or no worker left that could take it): refund its
    escrow (less the rent of its wait, `market.rent`) and end it. `queued`: it is in the queue of
    waiting jobs."""
    current = charge_wait(ctx, current)
    release_held(ctx, current.requester, ESCROW, current.escrow)
    Jobs.insert(ctx.state, job_id, replace(current, state="expired"))
    if queued:
        dequeue(ctx, job_id, current.requester)
    ctx.deposit_event(JobExpired, job_id, current.escrow)


def decline(ctx: BlockContext, job_id: int, current: Job) -> None:
    """The matched worker gives the job back within the decline window: it pays
    `decline_penalty_ppm` of the job's slash from its stake to the treasury, is matched after
    the others for DECLINE_COOLDOWN blocks, and is never matched to this job again; the job
    waits for another worker.

    Declining costs the decliner so that sybil workers cannot kill others' jobs for nothing: a
    job given back by MAX_EXCLUDED workers expires, and the cheapest asks are matched first, so
    MAX_EXCLUDED sybils asking less than the honest could otherwise decline every job until it
    expired. What an attacker can still do: kill a job by declining it from MAX_EXCLUDED
    workers (each registered with `min_stake`), paying MAX_EXCLUDED penalties (at least
    `min_slash`·`decline_penalty_ppm` each) and decline fees per job killed, more than the
    requester loses (its submission fee; its escrow comes back, it may submit again), and it
    gains nothing: the job is paid to nobody. After a decline a sybil is matched only when no
    other worker can take a job, for DECLINE_COOLDOWN blocks (`matching.try_match`), so each
    sybil kills at most one job in that time. A requester whose job every worker declines
    (inputs nobody can fetch) costs at most MAX_EXCLUDED workers a penalty each and puts them
    behind the others for DECLINE_COOLDOWN blocks, for its own fee; it gains nothing from the
    penalties (they go to the treasury), and a rival worker that does this to steer the next
    jobs to itself must do it again every DECLINE_COOLDOWN blocks, and still must bid within
    the requesters' prices.
    """
    assert current.worker is not None
    p = Params.get(ctx.state)
    penalty = pay_out(
        ctx, current.worker, STAKE, TREASURY, current.slash * p.decline_penalty_ppm // PPM
    )
    worker = end_for_worker(ctx, current, 0)
    if worker is not None:
        worker = replace(worker, stake=max(0, worker.stake - penalty), declined_at=ctx.number)
    store_worker(ctx, current.worker, worker)
    ctx.deposit_event(JobDeclined, job_id, current.worker, penalty)
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
    """A job its worker gave back waits for another worker, without that one, paying rent again
    (`rent.wait_again`); it expires when its wait is over, when MAX_EXCLUDED workers gave it
    back, when no worker left could take it, or when its requester cannot hold the rent."""
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
    renting = wait_again(ctx, waiting)
    if renting is None:  # its requester cannot hold the rent of another wait
        expire(ctx, job_id, waiting, queued=False)
        return
    Jobs.insert(ctx.state, job_id, renting)
    enqueue(ctx, job_id, current.requester)
