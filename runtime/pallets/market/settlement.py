"""A job's commitment and settlement: paying the worker, fees and refunds, or the slash."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from runtime.accounts import TREASURY
from runtime.framework import BlockContext
from runtime.pallets import balances, treasury
from runtime.pallets.market.constants import ESCROW, PPM, STAKE
from runtime.pallets.market.errors import BadJob, NotPending, NotYourJob
from runtime.pallets.market.escrow import pay_out_all, release_held
from runtime.pallets.market.events import JobFailed, JobSettled, ModelFeePaid
from runtime.pallets.market.jobs import job
from runtime.pallets.market.storage import Job, Jobs, Params
from runtime.pallets.market.workers import end_for_worker, store_worker
from runtime.workloads import workload_shape

# What the compute pallet calls


def record_commitment(
    ctx: BlockContext, job_id: int, worker: bytes, root: bytes, leaves: int
) -> Job:
    """Record a matched job's result commitment by its worker; raises if it may not commit."""
    current = job(ctx, job_id)
    if current.state != "matched" or current.worker != worker:
        raise NotYourJob()
    if ctx.number > current.commit_by:
        raise NotPending()
    if leaves != current.leaves:
        raise BadJob()
    updated = replace(current, state="committed", result_root=root, committed_at=ctx.number)
    Jobs.insert(ctx.state, job_id, updated)
    return updated


def job_fees(ctx: BlockContext, current: Job) -> tuple[int, int]:
    """(protocol fee, verification fee) on a job's payment at the rates in force, the
    verification fee covering the audit its workload and parameters force (`fees_for`)."""
    shape = workload_shape(current.workload, current.params)
    return Params.get(ctx.state).fees_for(current.payment, current.workload, shape)


def fees_within(ctx: BlockContext, current: Job) -> tuple[int, int]:
    """(protocol fee, verification fee) of a committed job: on its payment at the rates in force,
    but never more than its escrow holds beyond the payment (the verifiers' fee first).

    The escrow was taken at the rates in force at submission, so a job ends within it whatever
    Root sets in between: raising the fee rates (or the least verification fee) after a job was
    submitted never takes its requester's other funds, nor another job's escrow."""
    protocol_fee, verification_fee = job_fees(ctx, current)
    room = max(0, current.escrow - current.payment - current.model_fee)
    verification_fee = min(verification_fee, room)
    return min(protocol_fee, room - verification_fee), verification_fee


def settle_success(ctx: BlockContext, job_id: int, verifiers: Sequence[bytes]) -> None:
    """Pay out a committed job whose dispute window passed without a failed check: the worker,
    the treasury's protocol fee, the model's owner its fee per use (a job that names a model),
    the verifiers; the rest of the escrow back to the requester."""
    current = job(ctx, job_id)
    assert current.state == "committed" and current.worker is not None
    payment = current.payment
    protocol_fee, verification_fee = fees_within(ctx, current)
    requester = current.requester
    payouts = [(current.worker, payment), (TREASURY, protocol_fee)]
    if current.model is not None:
        payouts.append((current.model.owner, current.model.fee))
    paid_verifiers = 0
    if verifiers:
        share = verification_fee // len(verifiers)
        payouts.extend((verifier, share) for verifier in verifiers)
        paid_verifiers = share * len(verifiers)
    credited = pay_out_all(ctx, requester, ESCROW, payouts)
    treasury.receive(ctx, treasury.PROTOCOL, credited[1])
    if current.model is not None:
        use = current.model
        ctx.deposit_event(ModelFeePaid, job_id, use.model_id, use.version, use.owner, credited[2])
    paid = payment + protocol_fee + current.model_fee + paid_verifiers
    refund = release_held(ctx, requester, ESCROW, current.escrow - paid)
    store_worker(ctx, current.worker, end_for_worker(ctx, current, +1))
    Jobs.insert(ctx.state, job_id, replace(current, state="settled"))
    ctx.deposit_event(
        JobSettled, job_id, current.worker, payment, paid_verifiers, protocol_fee, refund
    )


def settle_failure(
    ctx: BlockContext,
    job_id: int,
    verifiers: Sequence[bytes],
    challenger: bytes | None = None,
    challenger_share_ppm: int = 0,
) -> None:
    """End a committed job whose result was proven wrong: slash the worker, refund the requester.

    The `verifiers` (the committee members whose reveals decided the fail) share the job's
    verification fee out of the escrow, as they would have shared it on a pass; the requester gets
    the rest of its escrow back (a model's fee included). The slash goes to the treasury, except
    `challenger_share_ppm` of it to a dispute's `challenger` whose fraud proof held. Nobody but a
    challenger profits from a conviction, so voting "fail" pays a member no more than voting
    "pass".
    """
    current = job(ctx, job_id)
    assert current.state == "committed" and current.worker is not None
    _, verification_fee = fees_within(ctx, current)
    share = verification_fee // len(verifiers) if verifiers else 0
    pay_out_all(ctx, current.requester, ESCROW, [(v, share) for v in verifiers])
    refund = release_held(ctx, current.requester, ESCROW, current.escrow - share * len(verifiers))
    slashed = balances.slash_held(ctx, current.worker, STAKE, current.slash)
    reward = slashed * challenger_share_ppm // PPM if challenger is not None else 0
    if challenger is not None and reward:
        balances.deposit(ctx, challenger, reward)
    treasury.receive(ctx, treasury.SLASHES, balances.deposit(ctx, TREASURY, slashed - reward))
    worker = end_for_worker(ctx, current, -10)
    if worker is not None:
        worker = replace(worker, stake=max(0, worker.stake - slashed))
    store_worker(ctx, current.worker, worker)
    Jobs.insert(ctx.state, job_id, replace(current, state="failed"))
    ctx.deposit_event(JobFailed, job_id, current.worker, slashed, refund)


def settle_void(ctx: BlockContext, job_id: int) -> int:
    """End a committed job that no committee could decide: the requester gets its whole escrow
    back, the worker is neither paid nor slashed and its bond is freed (its reputation unchanged);
    the job ends "cancelled". Returns the refund.

    Nobody is paid for a void job, so a party that forces one (a requester withholding its input
    data, members revealing "unavailable" round after round) gains nothing from it but the
    refund of what it paid in.
    """
    current = job(ctx, job_id)
    assert current.state == "committed" and current.worker is not None
    refund = release_held(ctx, current.requester, ESCROW, current.escrow)
    store_worker(ctx, current.worker, end_for_worker(ctx, current, 0))
    Jobs.insert(ctx.state, job_id, replace(current, state="cancelled"))
    return refund
