"""Market: GPU workers and their asks, jobs with escrow, matching, deadlines and settlement.

Lifecycle of a job (DESIGN 8):

1. A worker registers: its stake goes under the hold "stake"; it states its device, memory,
   measured throughput, a price ask per workload (per 10^9 cost units) and how many jobs it takes
   at once.
2. A requester submits a job: workload, parameters, inputs (a blob root each, or generated from
   the job's seed), the highest price it pays, how long the worker may take, how long the job may
   wait for a worker, and the verification mode. The escrow (the highest payment plus the
   protocol and verification fees) goes under the hold "escrow".
3. Matching picks, at once and again at every block while the job waits, the cheapest worker
   whose ask is within the job's price, with a free slot and enough free stake to bond the job's
   slash; ties go to the better reputation, then to block randomness. The slash is bonded from
   the worker's stake until the job ends.
4. The worker must commit a result (the compute pallet records it) before its deadline. A missed
   deadline costs it part of the bonded slash, paid to the requester, and the job waits for a
   worker again, or expires and is refunded.
5. Settlement (called by the compute pallet after the dispute window): on success the worker is
   paid price × units, the treasury its protocol fee and the verification committee its fee,
   and the rest of the escrow is released. On failure the worker's slash is taken: half to whoever
   caught it, half to the treasury; the requester gets its whole escrow back.

Invariants: each requester's "escrow" hold equals the escrow of its open jobs; each worker's
"stake" hold equals its recorded stake, and its bonded amount equals the slashes of its active
jobs; a job ends exactly once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Final, Protocol

from runtime import fields
from runtime.accounts import TREASURY
from runtime.framework import (
    U64_CODEC,
    WEIGHT_PER_MICROS,
    BlockContext,
    DispatchError,
    EventDef,
    Origin,
    Pallet,
    StorageMap,
    StorageValue,
    call,
    ensure_signed,
    value_codec,
)
from runtime.pallets import balances, system
from runtime.primitives import codec
from runtime.primitives.hashing import blake2b_256
from runtime.schema import Record, param
from runtime.state import PrefixIterator, StateOverlay, StateReader
from runtime.workloads import WORKLOADS, WorkloadError, payment_for, workload_shape

NAME: Final = "market"

# Constants

MAX_WORKERS: Final = 256
MAX_PENDING_JOBS: Final = 512
MATCHES_PER_BLOCK: Final = 32
"""Waiting jobs (oldest first) that each block tries to match, which bounds a block's work."""
MAX_ASKS: Final = 8
MAX_INPUTS: Final = 8
MAX_PARAMS: Final = 24
MAX_JOB_CAPACITY: Final = 64
MAX_DEADLINE_BLOCKS: Final = 10_000
MAX_WAIT_BLOCKS: Final = 10_000
MAX_REPUTATION: Final = 1_000
MIN_REPUTATION: Final = -1_000
STAKE: Final = "stake"
ESCROW: Final = "escrow"
MODES: Final = ("sampled", "always")
"""Verification modes: audited with the chain's probability, or always audited."""
PPM: Final = 1_000_000

REGISTER_WEIGHT: Final = 80 * WEIGHT_PER_MICROS
SUBMIT_WEIGHT: Final = 400 * WEIGHT_PER_MICROS
"""Checking the job and matching it against at most MAX_WORKERS workers."""
JOB_WEIGHT: Final = 60 * WEIGHT_PER_MICROS


@dataclass(frozen=True, slots=True)
class MarketParams(Record):
    """The market's economic parameters (genesis; later governance)."""

    slash_ppm: int = param(fields.U32, 0, 100 * PPM, default=3 * PPM)
    """A job's slash, as a share of its payment (in parts per million)..."""
    min_slash: int = param(fields.BALANCE, default=10**12)
    """...but at least this much."""
    protocol_fee_ppm: int = param(fields.U32, 0, PPM, default=20_000)
    """The treasury's share of each payment."""
    verification_fee_ppm: int = param(fields.U32, 0, PPM, default=50_000)
    """The verification committee's fee, as a share of the payment..."""
    min_verification_fee: int = param(fields.BALANCE, default=10**9)
    """...but at least this much."""
    miss_penalty_ppm: int = param(fields.U32, 0, PPM, default=100_000)
    """Share of a job's slash taken from a worker that misses its deadline."""
    min_stake: int = param(fields.BALANCE, default=100 * 10**12)
    """The least stake a worker registers with."""

    def slash_for(self, payment: int) -> int:
        return max(self.min_slash, payment * self.slash_ppm // PPM)

    def escrow_for(self, cost_units: int, max_price: int) -> int:
        """What a job holds at submission: its highest payment plus the protocol and
        verification fees on it."""
        max_payment = payment_for(cost_units, max_price)
        protocol_fee, verification_fee = self.fees_for(max_payment)
        return max_payment + protocol_fee + verification_fee

    def fees_for(self, payment: int) -> tuple[int, int]:
        """(protocol fee, verification fee) on a payment."""
        return (
            payment * self.protocol_fee_ppm // PPM,
            max(self.min_verification_fee, payment * self.verification_fee_ppm // PPM),
        )


DEFAULT_MARKET_PARAMS: Final = MarketParams()
"""Slash 3× the payment (at least 1 XPL), 2% to the treasury, 5% (at least 0.001 XPL) to the
verifiers, 10% of the slash for a missed deadline, 100 XPL least stake."""


_WORKLOAD: Final = fields.str_type(32)


@dataclass(frozen=True, slots=True)
class Worker(Record):
    """A registered worker: its stake, device, asks and how busy it is."""

    stake: int = param(fields.BALANCE)
    bonded: int = param(fields.BALANCE)
    device: str = param(fields.str_type(32))
    memory_mb: int = param(fields.U32)
    throughput: tuple[tuple[str, int], ...] = param(
        fields.tuple_type(fields.pair_type(_WORKLOAD, fields.U64), MAX_ASKS)
    )
    """Measured throughput per workload, in 10^9 cost units per second."""
    asks: tuple[tuple[str, int], ...] = param(
        fields.tuple_type(fields.pair_type(_WORKLOAD, fields.BALANCE), MAX_ASKS)
    )
    """Price per 10^9 cost units, per workload."""
    endpoint: str = param(fields.str_type(256))
    capacity: int = param(fields.U32)
    active: int = param(fields.U32)
    reputation: int = param(fields.I64, MIN_REPUTATION, MAX_REPUTATION)
    retiring: bool = param(fields.BOOL)

    def ask(self, workload: str) -> int | None:
        for name, price in self.asks:
            if name == workload:
                return price
        return None


JOB_STATES: Final = (
    "pending",
    "matched",
    "committed",
    "settled",
    "failed",
    "expired",
    "cancelled",
)
OPEN_STATES: Final = ("pending", "matched", "committed")


@dataclass(frozen=True, slots=True)
class Job(Record):
    """A submitted job: what to run, its escrow and where it is in its lifecycle."""

    requester: bytes = param(fields.ACCOUNT)
    workload: str = param(_WORKLOAD)
    params: tuple[int, ...] = param(fields.tuple_type(fields.U64, MAX_PARAMS))
    inputs: tuple[tuple[str, bytes], ...] = param(
        fields.tuple_type(fields.pair_type(fields.str_type(32), fields.bytes_type(32)), MAX_INPUTS)
    )
    """(name, blob root); an empty root means the input is generated from the seed."""
    seed: int = param(fields.U64)
    max_price: int = param(fields.BALANCE)
    cost_units: int = param(fields.U64)
    leaves: int = param(fields.U32)
    escrow: int = param(fields.BALANCE)
    mode: str = param(fields.str_type(16))
    deadline_blocks: int = param(fields.U32)
    expires_at: int = param(fields.U32)
    submitted_at: int = param(fields.U32)
    state: str = param(fields.str_type(16))
    worker: bytes | None = param(fields.option_type(fields.ACCOUNT), default=None)
    price: int = param(fields.BALANCE, default=0)
    slash: int = param(fields.BALANCE, default=0)
    matched_at: int = param(fields.U32, default=0)
    commit_by: int = param(fields.U32, default=0)
    result_root: bytes = param(fields.bytes_type(32), default=b"")
    committed_at: int = param(fields.U32, default=0)

    @property
    def payment(self) -> int:
        return payment_for(self.cost_units, self.price)


JOB_IDS_CODEC: Final = value_codec(
    list,
    lambda v: tuple(codec.expect_u64(x, "job id") for x in codec.expect_array(v, 100_000, "ids")),
)
"""A list of job ids (the queues of pending jobs and of jobs to look at in a block)."""


# Storage

Params: Final = StorageValue[MarketParams](
    NAME,
    "Params",
    value_codec(MarketParams.to_value, MarketParams.from_value),
    DEFAULT_MARKET_PARAMS,
)
Workers: Final = StorageMap[bytes, Worker](
    NAME, "Workers", lambda a: a, value_codec(Worker.to_value, Worker.from_value)
)
WorkerList: Final = StorageValue[tuple[bytes, ...]](
    NAME,
    "WorkerList",
    value_codec(
        list,
        lambda v: tuple(
            codec.expect_bytes(a, "worker", length=32)
            for a in codec.expect_array(v, MAX_WORKERS, "workers")
        ),
    ),
    (),
)
Jobs: Final = StorageMap[int, Job](
    NAME, "Jobs", lambda i: i.to_bytes(8, "big"), value_codec(Job.to_value, Job.from_value)
)
NextJobId: Final = StorageValue[int](NAME, "NextJobId", U64_CODEC, 1)
PendingJobs: Final = StorageValue[tuple[int, ...]](NAME, "PendingJobs", JOB_IDS_CODEC, ())
Deadlines: Final = StorageMap[int, tuple[int, ...]](
    NAME, "Deadlines", lambda n: n.to_bytes(4, "big"), JOB_IDS_CODEC
)
"""Jobs to look at in block n: a pending job's expiry, a matched job's commit deadline."""

# Events

_JOB = ("job", fields.U64)
WorkerRegistered: Final = EventDef(
    NAME, "WorkerRegistered", (("worker", fields.ACCOUNT), ("stake", fields.BALANCE))
)
WorkerUpdated: Final = EventDef(NAME, "WorkerUpdated", (("worker", fields.ACCOUNT),))
WorkerRetired: Final = EventDef(
    NAME, "WorkerRetired", (("worker", fields.ACCOUNT), ("stake", fields.BALANCE))
)
JobSubmitted: Final = EventDef(
    NAME,
    "JobSubmitted",
    (
        _JOB,
        ("requester", fields.ACCOUNT),
        ("workload", fields.str_type(32)),
        ("cost_units", fields.U64),
        ("escrow", fields.BALANCE),
    ),
)
JobMatched: Final = EventDef(
    NAME,
    "JobMatched",
    (_JOB, ("worker", fields.ACCOUNT), ("price", fields.BALANCE), ("commit_by", fields.U32)),
)
JobCancelled: Final = EventDef(NAME, "JobCancelled", (_JOB, ("refund", fields.BALANCE)))
JobExpired: Final = EventDef(NAME, "JobExpired", (_JOB, ("refund", fields.BALANCE)))
DeadlineMissed: Final = EventDef(
    NAME, "DeadlineMissed", (_JOB, ("worker", fields.ACCOUNT), ("penalty", fields.BALANCE))
)
JobSettled: Final = EventDef(
    NAME,
    "JobSettled",
    (
        _JOB,
        ("worker", fields.ACCOUNT),
        ("payment", fields.BALANCE),
        ("verification_fee", fields.BALANCE),
        ("protocol_fee", fields.BALANCE),
        ("refund", fields.BALANCE),
    ),
)
JobFailed: Final = EventDef(
    NAME,
    "JobFailed",
    (_JOB, ("worker", fields.ACCOUNT), ("slashed", fields.BALANCE), ("refund", fields.BALANCE)),
)

# Errors


class MarketError(DispatchError):
    pallet = NAME


class AlreadyRegistered(MarketError):
    """This account is already a registered worker."""


class NotAWorker(MarketError):
    """This account is not a registered worker."""


class TooManyWorkers(MarketError):
    """The market has its maximum number of workers."""


class StakeTooLow(MarketError):
    """The stake is below the market's minimum stake."""


class BadAsk(MarketError):
    """An ask names an unknown workload, repeats one, or there are too many."""


class BadWorkerInfo(MarketError):
    """The worker's capacity, device or endpoint is out of range."""


class WorkerBusy(MarketError):
    """The worker still has active jobs."""


class BadJob(MarketError):
    """The job's workload, parameters, inputs, mode or timing are invalid."""


class PriceTooLow(MarketError):
    """No registered worker's ask is within the job's price."""


class TooManyPendingJobs(MarketError):
    """The queue of jobs waiting for a worker is full."""


class UnknownJob(MarketError):
    """No job has that id."""


class NotYourJob(MarketError):
    """Only the job's requester may do this."""


class NotPending(MarketError):
    """The job is no longer waiting for a worker."""


# Reading (the interface the compute pallet and RPC use)


def params(ctx: BlockContext) -> MarketParams:
    return Params.get(ctx.state)


def params_in(state: StateOverlay) -> MarketParams:
    """The market's parameters in a state (outside a block, as at genesis)."""
    return Params.get(state)


def find_job(ctx: BlockContext, job_id: int) -> Job | None:
    """The job with this id, or None if there is none."""
    return Jobs.get(ctx.state, job_id)


def job(ctx: BlockContext, job_id: int) -> Job:
    found = Jobs.get(ctx.state, job_id)
    if found is None:
        raise UnknownJob()
    return found


def _randomness(ctx: BlockContext, *parts: bytes) -> bytes:
    return blake2b_256(b"xpl-market" + ctx.parent_hash + b"".join(parts))


def schedule(
    queue: StorageMap[int, tuple[int, ...]], ctx: BlockContext, number: int, job_id: int
) -> None:
    """Queue `job_id` in `queue` for block `number` (once)."""
    queued = queue.get(ctx.state, number) or ()
    if job_id not in queued:
        queue.insert(ctx.state, number, (*queued, job_id))


def _set_reputation(worker: Worker, delta: int) -> Worker:
    value = max(MIN_REPUTATION, min(MAX_REPUTATION, worker.reputation + delta))
    return replace(worker, reputation=value)


# Matching


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


def _end_for_worker(ctx: BlockContext, current: Job, reputation: int) -> Worker | None:
    """The worker of an ending job, with the job's slot and bond freed (None if it is gone)."""
    assert current.worker is not None
    worker = Workers.get(ctx.state, current.worker)
    if worker is None:
        return None
    worker = replace(
        worker, active=max(0, worker.active - 1), bonded=max(0, worker.bonded - current.slash)
    )
    return _set_reputation(worker, reputation)


def _store_worker(ctx: BlockContext, account: bytes, worker: Worker | None) -> None:
    if worker is None:
        return
    if not balances.exists(ctx, account):  # reaped by a slash: it cannot stay
        Workers.remove(ctx.state, account)
        WorkerList.put(ctx.state, tuple(a for a in WorkerList.get(ctx.state) if a != account))
        return
    if worker.retiring and worker.active == 0:
        _retire(ctx, account, worker)
    else:
        Workers.insert(ctx.state, account, worker)


def _pay_out(ctx: BlockContext, source: bytes, reason: str, dest: bytes, amount: int) -> int:
    """Pay from a hold without ever failing: hooks must not (a failing hook halts the chain).

    The invariants guarantee the hold covers `amount`; if it somehow does not, what is there
    is paid. Returns what left the hold (a payment too small to create `dest` is burned).
    """
    amount = min(amount, balances.held(ctx, source, reason))
    if amount:
        balances.transfer_held(ctx, source, reason, dest, amount)
    return amount


def _pay_out_all(
    ctx: BlockContext, source: bytes, reason: str, payouts: Sequence[tuple[bytes, int]]
) -> None:
    """Make each (dest, amount) payment from a hold, in full and without ever failing.

    Paid one by one, a source left below the existential deposit would be reaped by the payment
    that takes it there, and what it still held for the later receivers burned. So when the
    payments leave it below the deposit, they are taken from its hold at once (reaping it, with
    only its own dust burned) and then credited to their receivers.
    """
    info = system.account(ctx, source)
    if info is None:
        return
    total = sum(amount for _, amount in payouts)
    if info.total - total >= balances.EXISTENTIAL_DEPOSIT:
        for dest, amount in payouts:
            _pay_out(ctx, source, reason, dest, amount)
        return
    left = balances.slash_held(ctx, source, reason, total)
    for dest, amount in payouts:
        amount = min(amount, left)
        left -= amount
        balances.deposit(ctx, dest, amount)


def _release(ctx: BlockContext, who: bytes, reason: str, amount: int) -> int:
    amount = min(amount, balances.held(ctx, who, reason))
    if amount:
        balances.release(ctx, who, reason, amount)
    return amount


def settle_success(ctx: BlockContext, job_id: int, verifiers: Sequence[bytes]) -> None:
    """Pay out a committed job whose dispute window passed without a failed check."""
    current = job(ctx, job_id)
    assert current.state == "committed" and current.worker is not None
    p = Params.get(ctx.state)
    payment = current.payment
    protocol_fee, verification_fee = p.fees_for(payment)
    requester = current.requester
    payouts = [(current.worker, payment), (TREASURY, protocol_fee)]
    paid_verifiers = 0
    if verifiers:
        share = verification_fee // len(verifiers)
        payouts.extend((verifier, share) for verifier in verifiers)
        paid_verifiers = share * len(verifiers)
    _pay_out_all(ctx, requester, ESCROW, payouts)
    refund = _release(
        ctx, requester, ESCROW, current.escrow - payment - protocol_fee - paid_verifiers
    )
    _store_worker(ctx, current.worker, _end_for_worker(ctx, current, +1))
    Jobs.insert(ctx.state, job_id, replace(current, state="settled"))
    ctx.deposit_event(
        JobSettled, job_id, current.worker, payment, paid_verifiers, protocol_fee, refund
    )


def settle_failure(ctx: BlockContext, job_id: int, catchers: Sequence[bytes]) -> None:
    """End a committed job whose result was proven wrong: slash the worker, refund the requester.

    Half of the slash goes to the `catchers` (the committee members who found the fault, and a
    challenger whose fraud proof held), half to the treasury.
    """
    current = job(ctx, job_id)
    assert current.state == "committed" and current.worker is not None
    slashed = balances.slash_held(ctx, current.worker, STAKE, current.slash)
    reward = slashed // 2 // len(catchers) if catchers else 0
    for catcher in catchers:
        balances.deposit(ctx, catcher, reward)
    balances.deposit(ctx, TREASURY, slashed - reward * len(catchers))
    _release(ctx, current.requester, ESCROW, current.escrow)
    worker = _end_for_worker(ctx, current, -10)
    if worker is not None:
        worker = replace(worker, stake=max(0, worker.stake - slashed))
    _store_worker(ctx, current.worker, worker)
    Jobs.insert(ctx.state, job_id, replace(current, state="failed"))
    ctx.deposit_event(JobFailed, job_id, current.worker, slashed, current.escrow)


def _retire(ctx: BlockContext, account: bytes, worker: Worker) -> None:
    """Release a worker's stake and remove it from the market."""
    held = _release(ctx, account, STAKE, balances.held(ctx, account, STAKE))
    Workers.remove(ctx.state, account)
    WorkerList.put(ctx.state, tuple(a for a in WorkerList.get(ctx.state) if a != account))
    ctx.deposit_event(WorkerRetired, account, held)


# Deadlines


def _expire(ctx: BlockContext, job_id: int, current: Job) -> None:
    _release(ctx, current.requester, ESCROW, current.escrow)
    Jobs.insert(ctx.state, job_id, replace(current, state="expired"))
    PendingJobs.put(ctx.state, tuple(i for i in PendingJobs.get(ctx.state) if i != job_id))
    ctx.deposit_event(JobExpired, job_id, current.escrow)


def _missed(ctx: BlockContext, job_id: int, current: Job) -> None:
    """A matched job passed its commit deadline: penalize the worker, let the job wait again."""
    assert current.worker is not None
    p = Params.get(ctx.state)
    penalty = _pay_out(
        ctx, current.worker, STAKE, current.requester, current.slash * p.miss_penalty_ppm // PPM
    )
    worker = _end_for_worker(ctx, current, -2)
    if worker is not None:
        worker = replace(worker, stake=max(0, worker.stake - penalty))
    _store_worker(ctx, current.worker, worker)
    ctx.deposit_event(DeadlineMissed, job_id, current.worker, penalty)
    waiting = replace(current, state="pending", worker=None, price=0, slash=0, commit_by=0)
    if ctx.number >= current.expires_at:
        _expire(ctx, job_id, waiting)
        return
    Jobs.insert(ctx.state, job_id, waiting)
    PendingJobs.put(ctx.state, (*PendingJobs.get(ctx.state), job_id))


class MarketGenesis(Protocol):
    """The part of the genesis config that the market builds from."""

    @property
    def market(self) -> MarketParams: ...


class Market(Pallet):
    NAME = NAME
    PARAMS = MarketParams
    EVENTS = (
        WorkerRegistered,
        WorkerUpdated,
        WorkerRetired,
        JobSubmitted,
        JobMatched,
        JobCancelled,
        JobExpired,
        DeadlineMissed,
        JobSettled,
        JobFailed,
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
    )

    # Hooks

    def on_initialize(self, ctx: BlockContext) -> int:
        """Expire waiting jobs, penalize missed deadlines, and match what still waits."""
        state = ctx.state
        due = Deadlines.get(state, ctx.number)
        if due is not None:
            Deadlines.remove(state, ctx.number)
            for job_id in due:
                current = Jobs.get(state, job_id)
                if current is None:
                    continue
                if current.state == "pending" and current.expires_at == ctx.number:
                    _expire(ctx, job_id, current)
                elif current.state == "matched" and current.commit_by == ctx.number - 1:
                    _missed(ctx, job_id, current)
        for job_id in PendingJobs.get(state)[:MATCHES_PER_BLOCK]:
            try_match(ctx, job_id)
        return 0

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
        asks = _asks(workloads, prices)
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
        """Change a worker's prices and capacity, and add to its stake."""
        who = ensure_signed(origin)
        worker = Workers.get(ctx.state, who)
        if worker is None:
            raise NotAWorker()
        asks = _asks(workloads, prices)
        if not 1 <= capacity <= MAX_JOB_CAPACITY:
            raise BadWorkerInfo()
        if add_stake:
            balances.hold(ctx, who, STAKE, add_stake)
        measured = dict(worker.throughput)
        Workers.insert(
            ctx.state,
            who,
            replace(
                worker,
                asks=asks,
                throughput=tuple((w, measured.get(w, 0)) for w in workloads),
                capacity=capacity,
                stake=worker.stake + add_stake,
            ),
        )
        ctx.deposit_event(WorkerUpdated, who)

    @call(args=(), weight=REGISTER_WEIGHT)
    def retire_worker(self, ctx: BlockContext, origin: Origin) -> None:
        """Stop taking jobs; the stake is released once the active jobs end."""
        who = ensure_signed(origin)
        worker = Workers.get(ctx.state, who)
        if worker is None:
            raise NotAWorker()
        _store_worker(ctx, who, replace(worker, retiring=True))

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

        Each input is a blob root (32 bytes) or empty to be generated from `seed`.
        """
        requester = ensure_signed(origin)
        state = ctx.state
        try:
            shape = workload_shape(workload, params)
        except WorkloadError as exc:
            raise BadJob() from exc
        expected = [spec.name for spec in shape.inputs]
        if input_names != expected or len(input_roots) != len(expected):
            raise BadJob()
        if any(len(root) not in (0, 32) for root in input_roots):
            raise BadJob()
        if mode not in MODES:
            raise BadJob()
        if (
            not 1 <= deadline_blocks <= MAX_DEADLINE_BLOCKS
            or not 1 <= wait_blocks <= MAX_WAIT_BLOCKS
        ):
            raise BadJob()
        if max_price == 0:
            raise PriceTooLow()
        pending = PendingJobs.get(state)
        if len(pending) >= MAX_PENDING_JOBS:
            raise TooManyPendingJobs()
        p = Params.get(state)
        escrow = p.escrow_for(shape.cost_units, max_price)
        if escrow < balances.EXISTENTIAL_DEPOSIT:
            # Each job's escrow is at least the deposit, so paying one job out never leaves an
            # account with other jobs' escrow below it (it would be reaped, escrow and all).
            raise PriceTooLow()
        balances.hold(ctx, requester, ESCROW, escrow)
        job_id = NextJobId.get(state)
        NextJobId.put(state, job_id + 1)
        expires_at = ctx.number + wait_blocks
        Jobs.insert(
            state,
            job_id,
            Job(
                requester=requester,
                workload=workload,
                params=tuple(params),
                inputs=tuple(zip(input_names, input_roots, strict=True)),
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
            ),
        )
        PendingJobs.put(state, (*pending, job_id))
        schedule(Deadlines, ctx, expires_at, job_id)
        ctx.deposit_event(JobSubmitted, job_id, requester, workload, shape.cost_units, escrow)
        try_match(ctx, job_id)

    @call(args=(("job", fields.U64),), weight=JOB_WEIGHT)
    def cancel_job(self, ctx: BlockContext, origin: Origin, job_id: int) -> None:
        """Cancel a job that has no worker yet; its escrow is released."""
        who = ensure_signed(origin)
        current = job(ctx, job_id)
        if current.requester != who:
            raise NotYourJob()
        if current.state != "pending":
            raise NotPending()
        balances.release(ctx, who, ESCROW, current.escrow)
        Jobs.insert(ctx.state, job_id, replace(current, state="cancelled"))
        PendingJobs.put(ctx.state, tuple(i for i in PendingJobs.get(ctx.state) if i != job_id))
        ctx.deposit_event(JobCancelled, job_id, current.escrow)

    # Genesis

    def build_genesis(self, ctx: BlockContext, config: MarketGenesis) -> None:
        self.check_params(ctx.state, config.market)
        Params.put(ctx.state, config.market)
        NextJobId.put(ctx.state, 1)

    # Invariants

    def check_invariants(self, read: StateReader, iterate: PrefixIterator) -> list[str]:
        problems: list[str] = []
        escrow_by_requester: dict[bytes, int] = {}
        bonded_by_worker: dict[bytes, int] = {}
        active_by_worker: dict[bytes, int] = {}
        for _, raw in iterate(Jobs.prefix):
            current = Jobs.decode(raw)
            if current.state in OPEN_STATES:
                escrow_by_requester[current.requester] = (
                    escrow_by_requester.get(current.requester, 0) + current.escrow
                )
            if current.state in ("matched", "committed") and current.worker is not None:
                bonded_by_worker[current.worker] = (
                    bonded_by_worker.get(current.worker, 0) + current.slash
                )
                active_by_worker[current.worker] = active_by_worker.get(current.worker, 0) + 1
        holds = dict(system.accounts_in(iterate))
        for requester, escrow in escrow_by_requester.items():
            info = holds.get(requester)
            held = 0 if info is None else info.held(ESCROW)
            if held != escrow:
                problems.append(
                    f"requester {requester.hex()} holds {held} in escrow, jobs owe {escrow}"
                )
        registered: list[bytes] = []
        for key, raw in iterate(Workers.prefix):
            account = Workers.key_suffix(key)
            worker = Workers.decode(raw)
            info = holds.get(account)
            held = 0 if info is None else info.held(STAKE)
            if held != worker.stake:
                problems.append(
                    f"worker {account.hex()} holds {held} as stake, records {worker.stake}"
                )
            if worker.bonded != bonded_by_worker.get(account, 0):
                problems.append(
                    f"worker {account.hex()} bonds {worker.bonded}, its jobs' slashes differ"
                )
            if worker.active != active_by_worker.get(account, 0):
                problems.append(f"worker {account.hex()} counts {worker.active} active jobs")
            if worker.bonded > worker.stake:
                problems.append(f"worker {account.hex()} bonds more than its stake")
            registered.append(account)
        raw_list = read(WorkerList.key)
        listed = () if raw_list is None else WorkerList.decode(raw_list)
        if sorted(listed) != sorted(registered):
            problems.append("the worker list differs from the registered workers")
        for account, info in holds.items():
            if info.held(ESCROW) and account not in escrow_by_requester:
                problems.append(f"account {account.hex()} holds escrow without an open job")
            if info.held(STAKE) and account not in registered:
                problems.append(f"account {account.hex()} holds stake but is not a worker")
        return problems


def _asks(workloads: list[str], prices: list[int]) -> tuple[tuple[str, int], ...]:
    """Checked (workload, price) pairs."""
    if len(workloads) != len(prices) or not workloads:
        raise BadAsk()
    if len(set(workloads)) != len(workloads) or any(w not in WORKLOADS for w in workloads):
        raise BadAsk()
    if any(price == 0 for price in prices):
        raise BadAsk()
    return tuple(zip(workloads, prices, strict=True))
