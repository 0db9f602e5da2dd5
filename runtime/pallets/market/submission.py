"""Submitting a job: the checks every job passes, its escrow, and its first match; and what a job
that names a registered model adds (its "model" input and its fee per use)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from runtime.framework import BlockContext
from runtime.pallets import balances, models
from runtime.pallets.market.constants import (
    ESCROW,
    MAX_DEADLINE_BLOCKS,
    MAX_PENDING_JOBS,
    MAX_PENDING_PER_REQUESTER,
    MAX_WAIT_BLOCKS,
    MODES,
    WAIT_RENT_GROWTH,
)
from runtime.pallets.market.errors import (
    BadJob,
    ModelWeightsInput,
    NoEligibleWorker,
    PriceTooLow,
    TooManyPendingJobs,
    TooManyPendingOfRequester,
)
from runtime.pallets.market.events import JobSubmitted, ModelJobSubmitted
from runtime.pallets.market.matching import anyone_eligible, try_match
from runtime.pallets.market.queue import enqueue, pending_of, schedule
from runtime.pallets.market.rent import rent_now
from runtime.pallets.market.storage import (
    Deadlines,
    Job,
    Jobs,
    ModelUse,
    NextJobId,
    Params,
    PendingJobs,
)
from runtime.state import StateOverlay
from runtime.workloads import WorkloadError, payment_for, workload_shape

MODEL_INPUT = "model"
"""The input a job that names a model gets the version's weights root in."""


def most_held(
    state: StateOverlay, workload: str, params: Sequence[int], max_price: int, wait_blocks: int
) -> int | None:
    """The most a submission holds: its escrow and the most its rent deposit can be if it waits
    (None if its workload is not one the market knows: it fails, but say the worst).

    The deposit is held at the rent of the queue the job finds in its block, which the block's
    earlier transactions may have filled, so the rent of a full queue is declared, not today's:
    an account's later transactions are ready only if they can pay after that. What remains is
    that an honest requester's later transactions may wait as future for a block when its balance
    covers the rent now but not a full queue's; nothing the pool holds ready goes unpaid."""
    try:
        shape = workload_shape(workload, params)
    except WorkloadError:
        return None
    p = Params.get(state)
    most_rent = p.wait_rent * (1 + WAIT_RENT_GROWTH)  # `rent_now` of a full queue, at most
    return int(p.escrow_for(workload, shape, max_price) + most_rent * wait_blocks)


def check_no_published_weights(
    state: StateOverlay, inputs: Sequence[tuple[str, bytes]], model: ModelUse | None
) -> None:
    """ModelWeightsInput unless the only input that is a registered model's published weights
    (`models.first_publication`, retired versions included) is the "model" input of a job that
    names a version (which the market filled with that version's root). Otherwise a plain job
    could run a model's weights, or a model job feed them to another model as data, without
    paying the owner's fee per use."""
    for name, root in inputs:
        if not root or (model is not None and name == MODEL_INPUT):
            continue
        first = models.first_publication(state, root)
        if first is not None:
            raise ModelWeightsInput(
                f"input {name!r} is the weights of model {first.model_id} (first published as "
                f"version {first.version}): run it with market.submit_model_job, which pays "
                "its fee per use"
            )


def open_job(
    ctx: BlockContext,
    requester: bytes,
    workload: str,
    params: Sequence[int],
    inputs: Sequence[tuple[str, bytes]],
    seed: int,
    max_price: int,
    deadline_blocks: int,
    wait_blocks: int,
    mode: str,
    model: ModelUse | None = None,
) -> int:
    """Check a job, hold its escrow (the model's fee included) and match it if a worker can take
    it at once; its id. See `Market.submit_job` for the rules."""
    state = ctx.state
    try:
        shape = workload_shape(workload, params)
    except WorkloadError as exc:
        raise BadJob(str(exc)) from exc
    expected = [spec.name for spec in shape.inputs]
    if [name for name, _ in inputs] != expected:
        raise BadJob(f"the {workload} inputs are {expected}")
    if any(len(root) not in (0, 32) for _, root in inputs):
        raise BadJob("an input root is 32 bytes, or empty to be generated from the seed")
    check_no_published_weights(state, inputs, model)
    if mode not in MODES:
        raise BadJob(f"the mode is one of {', '.join(MODES)}")
    if not 1 <= deadline_blocks <= MAX_DEADLINE_BLOCKS or not 1 <= wait_blocks <= MAX_WAIT_BLOCKS:
        raise BadJob(
            f"deadline_blocks must be 1 to {MAX_DEADLINE_BLOCKS}, wait_blocks 1 to "
            f"{MAX_WAIT_BLOCKS}"
        )
    p = Params.get(state)
    if max_price == 0 or payment_for(shape.cost_units, max_price) < p.min_payment:
        raise PriceTooLow()
    if len(PendingJobs.get(state)) >= MAX_PENDING_JOBS:
        raise TooManyPendingJobs()
    if pending_of(ctx, requester) >= MAX_PENDING_PER_REQUESTER:
        raise TooManyPendingOfRequester()
    escrow = p.escrow_for(workload, shape, max_price)
    if escrow < balances.EXISTENTIAL_DEPOSIT:
        # Each job's escrow is at least the deposit, so paying one job out never leaves an
        # account with other jobs' escrow below it (it would be reaped, escrow and all).
        raise PriceTooLow()
    escrow += 0 if model is None else model.fee
    rent = rent_now(ctx)  # the queue as the job found it
    expires_at = ctx.number + wait_blocks
    submitted = Job(
        requester=requester,
        workload=workload,
        params=tuple(params),
        inputs=tuple(inputs),
        seed=seed,
        max_price=max_price,
        cost_units=shape.cost_units,
        leaves=shape.leaves,
        escrow=escrow,
        mode=mode,
        deadline_blocks=deadline_blocks,
        expires_at=expires_at,
        submitted_at=ctx.number,
        state="pending",
        model=model,
    )
    balances.hold(ctx, requester, ESCROW, escrow)  # a refusal below rolls the hold back
    if not anyone_eligible(ctx, submitted):
        raise NoEligibleWorker()
    job_id = NextJobId.get(state)
    NextJobId.put(state, job_id + 1)
    Jobs.insert(state, job_id, submitted)
    enqueue(ctx, job_id, requester)
    schedule(Deadlines, ctx, expires_at, job_id)
    ctx.deposit_event(JobSubmitted, job_id, requester, workload, shape.cost_units, escrow)
    if model is not None:
        ctx.deposit_event(ModelJobSubmitted, job_id, model.model_id, model.version, model.fee)
    if not try_match(ctx, job_id) and rent:
        # It waits: it holds the deposit for its rent until it first leaves the queue.
        deposit = rent * wait_blocks
        balances.hold(ctx, requester, ESCROW, deposit)
        Jobs.insert(state, job_id, replace(submitted, escrow=escrow + deposit, rent=rent))
    return job_id


def model_job_inputs(
    ctx: BlockContext,
    model_id: int,
    version: int,
    params: Sequence[int],
    input_names: Sequence[str],
    input_roots: Sequence[bytes],
) -> tuple[str, list[tuple[str, bytes]], ModelUse]:
    """What a job naming version `version` of model `model_id` runs: its workload, its inputs
    (the given ones, in the workload's order, with the version's weights root as "model") and
    the model's use (owner and fee per use); the models pallet's error for an unknown or retired
    model or version, or params that do not fit its descriptor; BadJob for inputs that do not."""
    found, chosen, workload = models.version_for_job(ctx.state, model_id, version, params)
    try:
        shape = workload_shape(workload, params)
    except WorkloadError as exc:
        raise BadJob(str(exc)) from exc
    others = [spec.name for spec in shape.inputs if spec.name != MODEL_INPUT]
    if list(input_names) != others or len(input_roots) != len(others):
        raise BadJob(f"a job that names a {workload} model gives the inputs {others}")
    given = dict(zip(input_names, input_roots, strict=True))
    inputs: list[tuple[str, bytes]] = []
    for spec in shape.inputs:
        if spec.name == MODEL_INPUT:
            if spec.size != chosen.weights_size:
                raise BadJob(f"the model input is {spec.size} bytes, the weights are not")
            inputs.append((MODEL_INPUT, chosen.weights_root))
        else:
            inputs.append((spec.name, given[spec.name]))
    return workload, inputs, ModelUse(model_id, version, found.owner, chosen.fee_per_use)
