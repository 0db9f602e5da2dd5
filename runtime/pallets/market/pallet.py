"""The market pallet: its hooks, calls, genesis and invariants."""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Protocol

from runtime import fields
from runtime.framework import BlockContext, Origin, Pallet, call, ensure_signed
from runtime.pallets import balances, models
from runtime.pallets.market.constants import (
    ESCROW,
    JOB_WEIGHT,
    MAX_ASKS,
    MAX_INPUTS,
    MAX_JOB_CAPACITY,
    MAX_PARAMS,
    MAX_WORKERS,
    MODEL_WEIGHT,
    NAME,
    REGISTER_WEIGHT,
    SET_PARAMS_WEIGHT,
    STAKE,
    SUBMIT_WEIGHT,
)
from runtime.pallets.market.deadlines import decline, hook_weight, process_due
from runtime.pallets.market.errors import (
    AlreadyRegistered,
    BadAsk,
    BadJob,
    BadParams,
    BadWorkerInfo,
    DeclineWindowClosed,
    ModelWeightsInput,
    NoEligibleWorker,
    NotAWorker,
    NotPending,
    NotYourJob,
    PriceTooLow,
    StakeTooLow,
    TooManyPendingJobs,
    TooManyPendingOfRequester,
    TooManyWorkers,
    UnknownJob,
    WorkerBusy,
    WrongJob,
)
from runtime.pallets.market.events import (
    AskRaised,
    DeadlineMissed,
    JobCancelled,
    JobDeclined,
    JobExpired,
    JobFailed,
    JobMatched,
    JobSettled,
    JobSubmitted,
    ModelFeePaid,
    ModelJobSubmitted,
    ParamsChanged,
    WorkerRegistered,
    WorkerRetired,
    WorkerUpdated,
)
from runtime.pallets.market.invariants import broken_invariants
from runtime.pallets.market.jobs import named_job
from runtime.pallets.market.matching import match_waiting
from runtime.pallets.market.params import MarketParams, check_bound_rules
from runtime.pallets.market.queue import dequeue
from runtime.pallets.market.rent import charge_wait
from runtime.pallets.market.storage import (
    Jobs,
    NextJobId,
    Params,
    Worker,
    WorkerList,
    Workers,
)
from runtime.pallets.market.submission import model_job_inputs, most_held, open_job
from runtime.pallets.market.workers import checked_asks, store_worker
from runtime.state import PrefixIterator, StateOverlay, StateReader


def _job_holds(ctx: BlockContext, args: tuple[Any, ...]) -> int | None:
    """A job submission's outflow: its escrow and the most its rent deposit can be if it waits
    (`submission.most_held`)."""
    return most_held(ctx.state, args[0], args[1], args[5], args[7])


def _model_job_holds(ctx: BlockContext, args: tuple[Any, ...]) -> int | None:
    """A model job's outflow: as a job's, and the model's fee per use (None for a model or
    version that is not there: the call fails, but say the worst)."""
    model_id, version, params, max_price, wait_blocks = args[0], args[1], args[2], args[6], args[8]
    chosen = models.Versions.get(ctx.state, (model_id, version))
    if chosen is None:
        return None
    held = most_held(ctx.state, chosen.family, params, max_price, wait_blocks)
    return None if held is None else held + chosen.fee_per_use


class MarketGenesis(Protocol):
    """The part of the genesis config that the market builds from."""

    @property
    def market(self) -> MarketParams: ...


class Market(Pallet):
    """GPU workers, jobs with escrow, matching, deadlines and settlement."""

    NAME = NAME
    PARAMS = MarketParams
    EVENTS = (
        WorkerRegistered,
        WorkerUpdated,
        WorkerRetired,
        JobSubmitted,
        JobMatched,
        JobDeclined,
        AskRaised,
        JobCancelled,
        JobExpired,
        DeadlineMissed,
        JobSettled,
        JobFailed,
        ModelJobSubmitted,
        ModelFeePaid,
        ParamsChanged,
    )
    ERRORS = (
        AlreadyRegistered,
        NotAWorker,
        TooManyWorkers,
        StakeTooLow,
        BadAsk,
        BadWorkerInfo,
        WorkerBusy,
        BadJob,
        PriceTooLow,
        TooManyPendingJobs,
        UnknownJob,
        NotYourJob,
        NotPending,
        TooManyPendingOfRequester,
        NoEligibleWorker,
        DeclineWindowClosed,
        WrongJob,
        BadParams,
        ModelWeightsInput,
    )

    # Hooks

    def on_initialize(self, ctx: BlockContext) -> int:
        """Expire waiting jobs and penalize missed deadlines due now (at most
        DEADLINES_PER_BLOCK, `deadlines.process_due`), and match waiting jobs in turn; its weight
        counts each deadline and each pass over the workers (`deadlines.hook_weight`)."""
        workers = len(WorkerList.get(ctx.state))  # the hook only removes workers
        processed, entries, passes = process_due(ctx)
        passes += match_waiting(ctx)
        return hook_weight(processed, entries, passes, workers)

    # Calls

    @call(
        args=(
            ("stake", fields.BALANCE),
            ("device", fields.str_type(32)),
            ("memory_mb", fields.U32),
            ("workloads", fields.list_type(fields.str_type(32), MAX_ASKS)),
            ("prices", fields.list_type(fields.BALANCE, MAX_ASKS)),
            ("throughput", fields.list_type(fields.U64, MAX_ASKS)),
            ("endpoint", fields.str_type(256)),
            ("capacity", fields.U32),
        ),
        weight=REGISTER_WEIGHT,
        outflow=lambda _ctx, args: int(args[0]),  # the stake held
    )
    def register_worker(
        self,
        ctx: BlockContext,
        origin: Origin,
        stake: int,
        device: str,
        memory_mb: int,
        workloads: list[str],
        prices: list[int],
        throughput: list[int],
        endpoint: str,
        capacity: int,
    ) -> None:
        """Register as a worker: hold `stake`; publish capabilities and a price per workload.

        `prices[i]` (per 10^9 cost units) and `throughput[i]` (10^9 cost units per second, as
        measured) are for `workloads[i]`.
        """
        who = ensure_signed(origin)
        state = ctx.state
        if Workers.get(state, who) is not None:
            raise AlreadyRegistered()
        if len(WorkerList.get(state)) >= MAX_WORKERS:
            raise TooManyWorkers()
        if stake < Params.get(state).min_stake:
            raise StakeTooLow()
        asks = checked_asks(workloads, prices)
        if len(throughput) != len(workloads):
            raise BadAsk()
        if not 1 <= capacity <= MAX_JOB_CAPACITY or not device:
            raise BadWorkerInfo()
        balances.hold(ctx, who, STAKE, stake)
        worker = Worker(
            stake=stake,
            bonded=0,
            device=device,
            memory_mb=memory_mb,
            throughput=tuple(zip(workloads, throughput, strict=True)),
            asks=asks,
            endpoint=endpoint,
            capacity=capacity,
            active=0,
            reputation=0,
            retiring=False,
        )
        Workers.insert(state, who, worker)
        WorkerList.put(state, (*WorkerList.get(state), who))
        ctx.deposit_event(WorkerRegistered, who, stake)

    @call(
        args=(
            ("workloads", fields.list_type(fields.str_type(32), MAX_ASKS)),
            ("prices", fields.list_type(fields.BALANCE, MAX_ASKS)),
            ("capacity", fields.U32),
            ("add_stake", fields.BALANCE),
        ),
        weight=REGISTER_WEIGHT,
        outflow=lambda _ctx, args: int(args[3]),  # the stake added
    )
    def update_worker(
        self,
        ctx: BlockContext,
        origin: Origin,
        workloads: list[str],
        prices: list[int],
        capacity: int,
        add_stake: int,
    ) -> None:
        """Change a worker's prices and capacity, and add to its stake.

        A lowered price (or a new workload) is in force at once; a raised one only `ask_delay`
        blocks later (until then the price in force stays), so that no update placed before a
        submission in the same block raises what the submitter pays. A later update replaces
        raises not yet in force. What an attacker can still do: announce a raise and let it come
        into force; every requester sees it coming for `ask_delay` blocks, and a job never pays
        more than its own highest price.
        """
        who = ensure_signed(origin)
        worker = Workers.get(ctx.state, who)
        if worker is None:
            raise NotAWorker()
        asks = checked_asks(workloads, prices)
        if not 1 <= capacity <= MAX_JOB_CAPACITY:
            raise BadWorkerInfo()
        if add_stake:
            balances.hold(ctx, who, STAKE, add_stake)
        in_force = dict(worker.asks_at(ctx.number))
        raised = tuple((w, price) for w, price in asks if price > in_force.get(w, price))
        in_force_at = ctx.number + Params.get(ctx.state).ask_delay
        measured = dict(worker.throughput)
        Workers.insert(
            ctx.state,
            who,
            replace(
                worker,
                asks=tuple((w, min(price, in_force.get(w, price))) for w, price in asks),
                raised_asks=raised,
                raised_at=in_force_at if raised else 0,
                throughput=tuple((w, measured.get(w, 0)) for w in workloads),
                capacity=capacity,
                stake=worker.stake + add_stake,
            ),
        )
        for w, price in raised:
            ctx.deposit_event(AskRaised, who, w, price, in_force_at)
        ctx.deposit_event(WorkerUpdated, who)

    @call(args=(), weight=REGISTER_WEIGHT, outflow=0)
    def retire_worker(self, ctx: BlockContext, origin: Origin) -> None:
        """Stop taking jobs; the stake is released once the active jobs end."""
        who = ensure_signed(origin)
        worker = Workers.get(ctx.state, who)
        if worker is None:
            raise NotAWorker()
        store_worker(ctx, who, replace(worker, retiring=True))

    @call(
        args=(
            ("workload", fields.str_type(32)),
            ("params", fields.list_type(fields.U64, MAX_PARAMS)),
            ("input_names", fields.list_type(fields.str_type(32), MAX_INPUTS)),
            ("input_roots", fields.list_type(fields.bytes_type(32), MAX_INPUTS)),
            ("seed", fields.U64),
            ("max_price", fields.BALANCE),
            ("deadline_blocks", fields.U32),
            ("wait_blocks", fields.U32),
            ("mode", fields.str_type(16)),
        ),
        weight=SUBMIT_WEIGHT,
        outflow=_job_holds,
    )
    def submit_job(
        self,
        ctx: BlockContext,
        origin: Origin,
        workload: str,
        params: list[int],
        input_names: list[str],
        input_roots: list[bytes],
        seed: int,
        max_price: int,
        deadline_blocks: int,
        wait_blocks: int,
        mode: str,
    ) -> None:
        """Submit a job and hold its escrow; it is matched at once if a worker can take it.

        Each input is a blob root (32 bytes) or empty to be generated from `seed`. Refused when
        its highest payment is below `min_payment`, when the requester already has
        MAX_PENDING_PER_REQUESTER jobs waiting, and when no registered worker could ever take
        it (NoEligibleWorker). Besides its escrow it holds a deposit for its rent while it waits
        for its first worker (`market.rent`). What an attacker can still do: submit jobs some
        worker could take and cancel them before they are matched, paying a fee (and the rent
        of their wait) each time; or jobs whose inputs nobody serves, which two workers decline
        (the first at a penalty to the treasury, `deadlines.decline`) while the attacker pays its
        fees.
        """
        requester = ensure_signed(origin)
        if len(input_roots) != len(input_names):
            raise BadJob("one root per input name")
        inputs = list(zip(input_names, input_roots, strict=True))
        open_job(
            ctx,
            requester,
            workload,
            params,
            inputs,
            seed,
            max_price,
            deadline_blocks,
            wait_blocks,
            mode,
        )

    @call(
        args=(
            ("model_id", fields.U64),
            ("version", fields.U32),
            ("params", fields.list_type(fields.U64, MAX_PARAMS)),
            ("input_names", fields.list_type(fields.str_type(32), MAX_INPUTS)),
            ("input_roots", fields.list_type(fields.bytes_type(32), MAX_INPUTS)),
            ("seed", fields.U64),
            ("max_price", fields.BALANCE),
            ("deadline_blocks", fields.U32),
            ("wait_blocks", fields.U32),
            ("mode", fields.str_type(16)),
        ),
        weight=SUBMIT_WEIGHT + MODEL_WEIGHT,
        outflow=_model_job_holds,
    )
    def submit_model_job(
        self,
        ctx: BlockContext,
        origin: Origin,
        model_id: int,
        version: int,
        params: list[int],
        input_names: list[str],
        input_roots: list[bytes],
        seed: int,
        max_price: int,
        deadline_blocks: int,
        wait_blocks: int,
        mode: str,
    ) -> None:
        """Submit a job that runs version `version` of registered model `model_id`: as
        `submit_job`, its workload the model's family, its "model" input the version's weights
        root (the other inputs given in the workload's order), its params fitting the model's
        descriptor. The escrow also holds the version's fee per use, paid to the model's owner
        when the job settles and returned whenever it ends otherwise. Refused for an unknown or
        retired model or version (the models pallet's errors) before anything is held."""
        requester = ensure_signed(origin)
        if len(input_roots) != len(input_names):
            raise BadJob("one root per input name")
        workload, inputs, use = model_job_inputs(
            ctx, model_id, version, params, input_names, input_roots
        )
        open_job(
            ctx,
            requester,
            workload,
            params,
            inputs,
            seed,
            max_price,
            deadline_blocks,
            wait_blocks,
            mode,
            use,
        )

    @call(args=(("job", fields.U64), ("digest", fields.HASH)), weight=JOB_WEIGHT, outflow=0)
    def cancel_job(self, ctx: BlockContext, origin: Origin, job_id: int, digest: bytes) -> None:
        """Cancel a job that has no worker yet; its escrow is released, less the rent of the
        blocks it waited (`market.rent`). `digest` (`market.job_digest`) names the job: WrongJob
        if the job with that id is another one."""
        who = ensure_signed(origin)
        current = named_job(ctx, job_id, digest)
        if current.requester != who:
            raise NotYourJob()
        if current.state != "pending":
            raise NotPending()
        current = charge_wait(ctx, current)
        balances.release(ctx, who, ESCROW, current.escrow)
        Jobs.insert(ctx.state, job_id, replace(current, state="cancelled"))
        dequeue(ctx, job_id, who)
        ctx.deposit_event(JobCancelled, job_id, current.escrow)

    @call(args=(("job", fields.U64), ("digest", fields.HASH)), weight=SUBMIT_WEIGHT, outflow=0)
    def decline_job(self, ctx: BlockContext, origin: Origin, job_id: int, digest: bytes) -> None:
        """Give back a job matched to the caller, within `decline_blocks` of the match: its first
        decline costs `decline_penalty_ppm` of its slash and offers it to the next worker at once;
        its second is free and expires it. It is never matched to the caller again (see
        `deadlines.decline` for why the first costs, and what it still allows). `digest`
        (`market.job_digest`) names the job: WrongJob if the job with that id is another one, so
        a decline signed on one fork never costs the penalty of another fork's job."""
        who = ensure_signed(origin)
        current = named_job(ctx, job_id, digest)
        if current.state != "matched" or current.worker != who:
            raise NotYourJob()
        if ctx.number > current.matched_at + Params.get(ctx.state).decline_blocks:
            raise DeclineWindowClosed()
        decline(ctx, job_id, current)

    @call(args=MarketParams.call_args(), weight=SET_PARAMS_WEIGHT, outflow=0)
    def set_params(self, ctx: BlockContext, origin: Origin, *values: Any) -> None:
        """Change the market's parameters (Root only); refused if out of range or if, with the
        compute parameters in force, faking results would pay. Jobs already submitted keep the
        terms they were matched on (their slash and deadline) and never pay more fees than their
        escrow holds (`settlement.fees_within`)."""
        self.change_params(ctx, origin, MarketParams(*values), Params, BadParams, ParamsChanged)

    # Parameters and genesis

    def check_params(self, state: StateOverlay, params: Any) -> None:
        """ValueError unless `params` are in their ranges and keep every rule other pallets bind
        to the market's parameters (`params.bind_params_rule`)."""
        params.check()
        check_bound_rules(state, params)

    def build_genesis(self, ctx: BlockContext, config: MarketGenesis) -> None:
        """Store the genesis parameters (ValueError if out of range: the compute pallet's genesis,
        which comes after, checks the two together); job ids start at 1."""
        config.market.check()
        Params.put(ctx.state, config.market)
        NextJobId.put(ctx.state, 1)

    # Invariants

    def check_invariants(self, read: StateReader, iterate: PrefixIterator) -> list[str]:
        """Escrow and stake holds match the open jobs and workers (`broken_invariants`)."""
        return broken_invariants(read, iterate)
