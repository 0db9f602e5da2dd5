"""The market's records (workers and jobs) and storage items."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from runtime import fields
from runtime.framework import U64_CODEC, StorageMap, StorageValue, record_codec, value_codec
from runtime.pallets.market.constants import (
    MAX_ASKS,
    MAX_EXCLUDED,
    MAX_INPUTS,
    MAX_PARAMS,
    MAX_REPUTATION,
    MAX_WORKERS,
    MIN_REPUTATION,
    NAME,
)
from runtime.pallets.market.params import DEFAULT_MARKET_PARAMS, MarketParams
from runtime.primitives import codec
from runtime.schema import Record, param, record_from_json, record_to_json
from runtime.workloads import payment_for

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
    raised_asks: tuple[tuple[str, int], ...] = param(
        fields.tuple_type(fields.pair_type(_WORKLOAD, fields.BALANCE), MAX_ASKS), default=()
    )
    """Raised prices not yet in force: they replace those of `asks` from block `raised_at`."""
    raised_at: int = param(fields.U32, default=0)
    declined_at: int = param(fields.U32, default=0)
    """The block of its last decline (0: none); for DECLINE_COOLDOWN blocks after it, it is
    matched after the others."""

    def asks_at(self, number: int) -> tuple[tuple[str, int], ...]:
        """The asks in force in block `number` (raised prices once their block has come)."""
        if not self.raised_asks or number < self.raised_at:
            return self.asks
        raised = dict(self.raised_asks)
        return tuple((name, raised.get(name, price)) for name, price in self.asks)

    def ask(self, workload: str) -> int | None:
        """The worker's asking price for a workload before any raise, or None if it does not
        offer it."""
        return dict(self.asks).get(workload)

    def ask_at(self, workload: str, number: int) -> int | None:
        """The worker's price for a workload in force in block `number`, or None."""
        return dict(self.asks_at(number)).get(workload)

    def throughput_for(self, workload: str) -> int:
        """The registered throughput for a workload (10^9 cost units per second; 0: none)."""
        return dict(self.throughput).get(workload, 0)


GIVE_BACKS: Final = ("declined", "missed")
"""How a matched worker gives a job back: it declined it, or it missed its commit deadline."""


@dataclass(frozen=True, slots=True)
class PastMatch(Record):
    """A match of a job that its worker gave back: who, when, its deadline, how and when it
    ended, and the penalty it paid (to the treasury)."""

    worker: bytes = param(fields.ACCOUNT)
    matched_at: int = param(fields.U32)
    commit_by: int = param(fields.U32)
    ended_at: int = param(fields.U32)
    """The block of the decline, or the block after the missed deadline."""
    outcome: str = param(fields.str_type(16))
    """One of GIVE_BACKS."""
    penalty: int = param(fields.BALANCE)


@dataclass(frozen=True, slots=True)
class ModelUse(Record):
    """The model a job runs (`market.submit_model_job`): its id and version, its owner and the fee
    per use the job holds for it, fixed when the job was submitted."""

    model_id: int = param(fields.U64)
    version: int = param(fields.U32)
    owner: bytes = param(fields.ACCOUNT)
    fee: int = param(fields.BALANCE)
    """Paid to `owner` out of the escrow when the job settles; returned whenever it ends
    otherwise."""


def _record_field(record: type[Record]) -> fields.FieldType:
    """A field holding a record (encoded as the record's array of fields)."""
    schema = record.schema()
    return fields.FieldType(
        name=record.__name__,
        to_value=schema.to_value,
        from_value=lambda v, what: schema.from_value(v),
        to_json=record_to_json,
        from_json=lambda j, what: record_from_json(record, j),
    )


_MODEL_USE: Final = fields.option_type(_record_field(ModelUse))

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
    past_matches: tuple[PastMatch, ...] = param(
        fields.tuple_type(_record_field(PastMatch), MAX_EXCLUDED), default=()
    )
    """Its earlier matches, in order, each given back by its worker (declined or missed): the
    job is never matched to those workers again."""
    rent: int = param(fields.BALANCE, default=0)
    """What the job pays for each block of its current wait for a worker (0 once paid); `escrow`
    holds its deposit until then (`market.rent`)."""
    waiting_since: int = param(fields.U32, default=0)
    """The block a wait after a decline or a miss began (0: the job waits since its
    submission, if at all)."""
    model: ModelUse | None = param(_MODEL_USE, default=None)  # noqa: RUF009 (a frozen record)
    """The registered model it runs, if it names one; its "model" input is that version's
    weights root, and `escrow` holds the model's fee besides the payment and fees."""

    @property
    def payment(self) -> int:
        return payment_for(self.cost_units, self.price)

    @property
    def model_fee(self) -> int:
        """The model's fee per use the escrow holds (0 for a job that names no model)."""
        return 0 if self.model is None else self.model.fee

    @property
    def excluded(self) -> tuple[bytes, ...]:
        """The workers that declined or missed this job: it is never matched to them again."""
        return tuple(m.worker for m in self.past_matches)


JOB_IDS_CODEC: Final = value_codec(
    list,
    lambda v: tuple(codec.expect_u64(x, "job id") for x in codec.expect_array(v, 100_000, "ids")),
)
"""A list of job ids (the queues of pending jobs and of jobs to look at in a block)."""


# Storage

Params: Final = StorageValue[MarketParams](
    NAME,
    "Params",
    record_codec(MarketParams),
    DEFAULT_MARKET_PARAMS,
)
Workers: Final = StorageMap[bytes, Worker](NAME, "Workers", lambda a: a, record_codec(Worker))
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
Jobs: Final = StorageMap[int, Job](NAME, "Jobs", lambda i: i.to_bytes(8, "big"), record_codec(Job))
NextJobId: Final = StorageValue[int](NAME, "NextJobId", U64_CODEC, 1)
PendingJobs: Final = StorageValue[tuple[int, ...]](NAME, "PendingJobs", JOB_IDS_CODEC, ())
Deadlines: Final = StorageMap[int, tuple[int, ...]](
    NAME, "Deadlines", lambda n: n.to_bytes(4, "big"), JOB_IDS_CODEC
)
"""Jobs to look at in block n: a pending job's expiry, a matched job's commit deadline."""
PendingCount: Final = StorageMap[bytes, int](NAME, "PendingCount", lambda a: a, U64_CODEC)
"""How many of an account's jobs wait for a worker (absent: none)."""
MatchCursor: Final = StorageValue[int](NAME, "MatchCursor", U64_CODEC, 0)
"""The last waiting job that a block's matching tried: the next block starts after it."""
