"""Deadlines: expiring jobs that found no worker, declined matches and missed commitments, and
offering a job its worker gave back to the next worker at once."""

from __future__ import annotations

from dataclasses import replace

from runtime.accounts import TREASURY
from runtime.framework import BlockContext
from runtime.pallets import treasury
from runtime.pallets.market.constants import (
    DEADLINE_WEIGHT,
    DEADLINES_PER_BLOCK,
    DUE_ENTRY_WEIGHT,
    ESCROW,
    MAX_DECLINES,
    PASS_WEIGHT,
    PPM,
    REOFFERS_PER_BLOCK,
    STAKE,
    WORKER_CHECK_WEIGHT,
)
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


def declines_of(current: Job) -> int:
    """How many workers declined the job before (misses not counted)."""
    return sum(m.outcome == "declined" for m in current.past_matches)


def decline(ctx: BlockContext, job_id: int, current: Job) -> None:
    """The matched worker gives the job back within the decline window. The job's first decline
    costs its worker `decline_penalty_ppm` of the job's slash from its stake (to the treasury)
    and puts it after the others for DECLINE_COOLDOWN blocks; the job is offered to the next
    worker at once (`give_back`). Its MAX_DECLINES-th decline (a second worker that cannot do it
    either: most likely nobody can, its inputs being served by nobody) costs that worker nothing,
    neither penalty nor cooldown, and expires the job, refunded. Neither worker is ever matched
    to this job again.

    Declining costs the first decliner so that sybil workers cannot kill others' jobs for
    nothing. What an attacker can still do:

    - A requester (or a rival worker) submitting a job nobody can do harms one honest worker per
      submission: the first matched pays the penalty (at least `min_slash`·`decline_penalty_ppm`,
      0.005 XPL, to the treasury, not to the attacker) and is behind the others for
      DECLINE_COOLDOWN blocks; the second declines it for free and it expires. The attacker pays
      the submission fee (about 0.006 XPL) and the rent of no wait; to keep k honest workers
      behind a rival it must submit k such jobs every DECLINE_COOLDOWN blocks, and which
      workers it hits is the matching's choice, not its own.
    - Sybil workers kill a job by declining it from two of them: one penalty and its cooldown
      on the first sybil, two decline fees, per job killed. Nobody is paid for a killed job, the
      requester gets its escrow back (it loses its submission fee and may submit again), so the
      attacker gains nothing. After its decline a sybil is matched only when no other worker can
      take a job, for DECLINE_COOLDOWN blocks (`matching.try_match`).
    - A worker declines for free only a job another worker declined first (which costs that
      worker a penalty): a worker cannot make its own first decline free.
    """
    assert current.worker is not None
    p = Params.get(ctx.state)
    first = declines_of(current) == 0
    rate = p.decline_penalty_ppm if first else 0
    penalty = pay_out(ctx, current.worker, STAKE, TREASURY, current.slash * rate // PPM)
    treasury.receive(ctx, treasury.SLASHES, penalty)
    worker = end_for_worker(ctx, current, 0)
    if worker is not None:
        worker = replace(
            worker,
            stake=max(0, worker.stake - penalty),
            declined_at=ctx.number if first else worker.declined_at,
        )
    store_worker(ctx, current.worker, worker)
    ctx.deposit_event(JobDeclined, job_id, current.worker, penalty)
    give_back(ctx, job_id, current, "declined", penalty)


def miss_deadline(ctx: BlockContext, job_id: int, current: Job, *, at_once: bool = True) -> int:
    """A matched job passed its commit deadline (its worker went away, or could not finish):
    the worker pays `miss_penalty_ppm` of the slash to the treasury, loses reputation and never
    gets this job again; the job is offered to the next worker at once (`give_back`), or, when
    not `at_once` (past REOFFERS_PER_BLOCK misses in the block), waits in the queue for its turn.

    The penalty goes to the treasury, never to the requester, so that a requester gains nothing
    from a job no worker can finish: it cannot farm workers' stake. What an attacker can still
    do: submit a job that cannot be done (inputs nobody serves) and hope a worker neither does
    nor declines it: that worker loses the penalty, but the requester only pays its fees.
    Returns the passes over the workers it ran (`give_back`).
    """
    assert current.worker is not None
    p = Params.get(ctx.state)
    penalty = pay_out(
        ctx, current.worker, STAKE, TREASURY, current.slash * p.miss_penalty_ppm // PPM
    )
    treasury.receive(ctx, treasury.SLASHES, penalty)
    worker = end_for_worker(ctx, current, -2)
    if worker is not None:
        worker = replace(worker, stake=max(0, worker.stake - penalty))
    store_worker(ctx, current.worker, worker)
    ctx.deposit_event(DeadlineMissed, job_id, current.worker, penalty)
    return give_back(ctx, job_id, current, "missed", penalty, at_once=at_once)


def give_back(
    ctx: BlockContext,
    job_id: int,
    current: Job,
    outcome: str,
    penalty: int,
    *,
    at_once: bool = True,
) -> int:
    """A job its worker gave back (`outcome`: "declined" or "missed", for `penalty`): the match
    goes into its history, and it is offered at once to the best other worker with a free slot,
    with a full commit window (`matching.try_match`). Its wait for a worker is extended by the
    blocks it spent matched, which the requester did not spend waiting. Not matched at once, it
    waits again without that worker, paying rent again (`rent.wait_again`). It expires, refunded,
    when it was given back more than `max_reoffers` times or declined MAX_DECLINES times, when
    no worker left could take it, or when its requester cannot hold the rent of another wait.
    Not `at_once`, it goes straight to the queue (a block's hook offers at most
    REOFFERS_PER_BLOCK missed jobs at once). Never fails: a missed deadline's hook calls it.
    Returns the passes over the workers it ran (at most 2: whether anyone could take it, and
    matching it), for the hook's weight.

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
        or declines_of(waiting) >= MAX_DECLINES
        or ctx.number >= waiting.expires_at
    ):
        expire(ctx, job_id, waiting, queued=False)
        return 0
    if not anyone_eligible(ctx, waiting):
        expire(ctx, job_id, waiting, queued=False)
        return 1
    rent = rent_now(ctx)  # the queue as the job finds it
    enqueue(ctx, job_id, current.requester)
    if at_once and try_match(ctx, job_id):
        return 2
    renting = wait_again(ctx, waiting, rent)
    if renting is None:  # its requester cannot hold the rent of another wait
        expire(ctx, job_id, waiting)
    else:
        Jobs.insert(ctx.state, job_id, renting)
        schedule(Deadlines, ctx, renting.expires_at, job_id)
    return 2 if at_once else 1


def hook_weight(processed: int, entries: int, passes: int, workers: int) -> int:
    """The weight of a block's hook: `processed` due deadlines, `entries` due entries read or
    carried, and `passes` passes over `workers` registered workers."""
    pass_weight = PASS_WEIGHT + WORKER_CHECK_WEIGHT * workers
    return DEADLINE_WEIGHT * processed + DUE_ENTRY_WEIGHT * entries + pass_weight * passes


def process_due(ctx: BlockContext) -> tuple[int, int, int]:
    """Expire the waiting jobs and penalize the missed deadlines due now, the first
    DEADLINES_PER_BLOCK of them; the rest go first in the next block's (in their order). Due
    entries whose job moved on (matched again, extended, ended) are skipped, not counted.
    Returns (deadlines processed, entries read or carried, passes over the workers run): at most
    DEADLINES_PER_BLOCK, the entries due, and REOFFERS_PER_BLOCK·2 + the rest of the misses."""
    state = ctx.state
    due = Deadlines.get(state, ctx.number)
    if due is None:
        return 0, 0, 0
    Deadlines.remove(state, ctx.number)
    processed = passes = missed = 0
    for index, job_id in enumerate(due):
        if processed >= DEADLINES_PER_BLOCK:
            rest = due[index:]
            later = Deadlines.get(state, ctx.number + 1) or ()
            carried = set(rest)
            Deadlines.insert(
                state, ctx.number + 1, (*rest, *(i for i in later if i not in carried))
            )
            return processed, len(due) + len(later), passes
        current = Jobs.get(state, job_id)
        if current is None:
            continue
        # Carried entries are due later than their deadline: hence `<=` and `<`.
        if current.state == "pending" and current.expires_at <= ctx.number:
            expire(ctx, job_id, current)
            processed += 1
        elif current.state == "matched" and current.commit_by < ctx.number:
            passes += miss_deadline(ctx, job_id, current, at_once=missed < REOFFERS_PER_BLOCK)
            missed += 1
            processed += 1
    return processed, len(due), passes
