"""Deadlines: expiring jobs that found no worker, declined matches and missed commitments, and
offering a job its worker gave back to the next worker at once."""

from __future__ import annotations

from dataclasses import replace

from runtime.accounts import TREASURY
from runtime.framework import BlockContext
from runtime.pallets.market.constants import ESCROW, PPM, STAKE
from runtime.pallets.market.escrow import pay_out, release_held
from runtime.pallets.market.events import DeadlineMissed, JobDeclined, JobExpired
from runtime.pallets.market.matching import anyone_eligible, try_match
from runtime.pallets.market.queue import dequeue, enqueue, schedule
from runtime.pallets.market.rent import charge_wait, rent_now, wait_again
from runtime.pallets.market.storage import Deadlines, Job, Jobs, Params, PastMatch
from runtime.pallets.market.workers import end_for_worker, store_worker


def expire(ctx: BlockContext, job_id: int, current: Job, *, queued: bool = True) -> None:
    """A job that found no worker in time (or no worker left that could take it, or given back
    once too often): refund its escrow (less the rent of its wait, `market.rent`) and end it; its
    `expires_at` becomes the block it ended in. `queued`: it is in the queue of waiting jobs."""
    current = charge_wait(ctx, current)
    release_held(ctx, current.requester, ESCROW, current.escrow)
    Jobs.insert(ctx.state, job_id, replace(current, state="expired", expires_at=ctx.number))
    if queued:
        dequeue(ctx, job_id, current.requester)
    ctx.deposit_event(JobExpired, job_id, current.escrow)


def decline(ctx: BlockContext, job_id: int, current: Job) -> None:
    """The matched worker gives the job back within the decline window: it pays
    `decline_penalty_ppm` of the job's slash from its stake to the treasury, is matched after
    the others for DECLINE_COOLDOWN blocks, and is never matched to this job again; the job is
    offered to the next worker at once (`give_back`).

    Declining costs the decliner so that sybil workers cannot kill others' jobs for nothing: a
    job given back `max_reoffers` + 1 times expires, and the cheapest asks are matched first, so
    that many sybils asking less than the honest could otherwise decline every job until it
    expired. What an attacker can still do: kill a job by declining it from `max_reoffers` + 1
    workers (each registered with `min_stake`), paying as many penalties (at least
    `min_slash`·`decline_penalty_ppm` each) and decline fees per job killed, more than the
    requester loses (its submission fee; its escrow comes back, it may submit again), and it
    gains nothing: the job is paid to nobody. After a decline a sybil is matched only when no
    other worker can take a job, for DECLINE_COOLDOWN blocks (`matching.try_match`), so each
    sybil kills at most one job in that time. A requester whose job every worker declines
    (inputs nobody can fetch) costs at most `max_reoffers` + 1 workers a penalty each and puts
    them behind the others for DECLINE_COOLDOWN blocks, for its own fee; it gains nothing from
    the penalties (they go to the treasury), and a rival worker that does this to steer the next
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
    give_back(ctx, job_id, current, "declined", penalty)


def miss_deadline(ctx: BlockContext, job_id: int, current: Job, *, at_once: bool = True) -> None:
    """A matched job passed its commit deadline (its worker went away, or could not finish):
    the worker pays `miss_penalty_ppm` of the slash to the treasury, loses reputation and never
    gets this job again; the job is offered to the next worker at once (`give_back`), or, when
    not `at_once` (past REOFFERS_PER_BLOCK misses in the block), waits in the queue for its turn.

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
    give_back(ctx, job_id, current, "missed", penalty, at_once=at_once)


def give_back(
    ctx: BlockContext,
    job_id: int,
    current: Job,
    outcome: str,
    penalty: int,
    *,
    at_once: bool = True,
) -> None:
    """A job its worker gave back (`outcome`: "declined" or "missed", for `penalty`): the match
    goes into its history, and it is offered at once to the best other worker with a free slot,
    with a full commit window (`matching.try_match`). Its wait for a worker is extended by the
    blocks it spent matched, which the requester did not spend waiting. Not matched at once, it
    waits again without that worker, paying rent again (`rent.wait_again`). It expires, refunded,
    when it was given back more than `max_reoffers` times, when no worker left could take it,
    or when its requester cannot hold the rent of another wait. Not `at_once`, it goes straight
    to the queue (a block's hook offers at most REOFFERS_PER_BLOCK missed jobs at once). Never
    fails: a missed deadline's hook calls it.

    What an attacker can still do: hold a job with sybil workers, each asking less than the
    honest workers and in good standing (fresh), each taking it and letting its deadline pass.
    Each miss costs that sybil `miss_penalty_ppm` of the job's slash (at least
    `min_slash`·`miss_penalty_ppm`, 0.1 XPL at the defaults, to the treasury) and two points of
    reputation, which put it behind every worker in good standing; after `max_reoffers` + 1 of
    them the job expires and is refunded. So the attacker pays `max_reoffers` + 1 penalties to
    keep one job from running for at most (`max_reoffers` + 1)·(`deadline_blocks` + 1) blocks
    more than its wait, and gains nothing: nobody is paid for it. The requester pays nothing
    for the re-offers (a job matched again at once pays no rent; one that waits pays the rent of
    the blocks it waits, within its own wait) and gets its escrow back at the end.
    """
    assert current.worker is not None
    past = PastMatch(
        worker=current.worker,
        matched_at=current.matched_at,
        commit_by=current.commit_by,
        ended_at=ctx.number,
        outcome=outcome,
        penalty=penalty,
    )
    waiting = replace(
        current,
        state="pending",
        worker=None,
        price=0,
        slash=0,
        matched_at=0,
        commit_by=0,
        past_matches=(*current.past_matches, past),
        expires_at=current.expires_at + max(0, ctx.number - current.matched_at),
    )
    Jobs.insert(ctx.state, job_id, waiting)
    if (
        len(waiting.past_matches) > Params.get(ctx.state).max_reoffers
        or ctx.number >= waiting.expires_at
        or not anyone_eligible(ctx, waiting)
    ):
        expire(ctx, job_id, waiting, queued=False)
        return
    rent = rent_now(ctx)  # the queue as the job finds it
    enqueue(ctx, job_id, current.requester)
    if at_once and try_match(ctx, job_id):
        return
    renting = wait_again(ctx, waiting, rent)
    if renting is None:  # its requester cannot hold the rent of another wait
        expire(ctx, job_id, waiting)
        return
    Jobs.insert(ctx.state, job_id, renting)
    schedule(Deadlines, ctx, renting.expires_at, job_id)
