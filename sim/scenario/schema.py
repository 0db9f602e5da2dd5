"""The scenario schema: what a simulation runs, as frozen pydantic models.

Times are seconds (floats) where people write them and milliseconds inside the simulator; amounts
are XPL (floats) and prices XPL per 10^9 cost units ("gunit"), converted to planck with
`xpl_to_planck`. Every model refuses unknown keys and coerces no types. The checks that tie
sections together (regions named by groups exist, the chain parameters hold, stakes fit the
endowments) run on the whole `Scenario`.
"""

from __future__ import annotations

import typing
from collections.abc import Iterator, Sequence
from decimal import Decimal
from typing import Annotated, Any, Final, Literal

from pydantic import BaseModel, Field, ValidationInfo, field_validator, model_validator

from runtime import fields
from runtime.pallets.compute import ComputeParams
from runtime.pallets.compute.guard import check_verification_window
from runtime.pallets.market import MarketParams
from runtime.pallets.market.constants import MAX_DEADLINE_BLOCKS, MAX_WAIT_BLOCKS
from runtime.pallets.staking import StakingParams
from runtime.primitives.amount import InvalidAmount, parse_amount
from runtime.schema import Record
from runtime.workloads import WORKLOADS, WorkloadError, payment_for, workload_shape
from sim.node_databases import StoreKind
from sim.scenario.distribution import MODEL_CONFIG, Distribution, fixed, problem

PLANCK_PER_XPL: Final = 10**12
MAX_VALIDATORS: Final = 100
"""The most validators a scenario runs (a local spec's limit)."""
MAX_GROUP_COUNT: Final = 100_000
"""The most agents one worker or requester group holds."""
MAX_AGENTS: Final = 100_000
"""The most workers and requesters a scenario holds in all (each is a key, an account and an
agent in memory)."""
MAX_SEED: Final = 2**63 - 1
"""The largest seed: a TOML integer (64-bit signed) and an int64 column of a sweep's table."""
MAX_DURATION_S: Final = 366 * 86_400.0
"""The longest simulated duration a scenario asks for: a year; also bounds every other time in
seconds (a fault's end, a worker's downtime)."""
MAX_XPL: Final = 1e24
"""The largest amount of XPL (a stake, an endowment, a price per gunit) a scenario names: 10^36
planck, within a u128 balance."""
MAX_AMOUNT: Final = 2**128 - 1
"""The most planck every endowment together may come to (balances and issuance are u128)."""
MIN_PERIOD_S: Final = 0.1
"""The shortest period of anything repeated (samples, a worker's crashes): the shortest slot."""
MAX_RATE_PER_S: Final = 1_000.0
"""The highest arrival rate per requester (one job a millisecond, the simulator's tick)."""
MAX_FAULTS_PER_HOUR: Final = 3_600.0
"""The highest rate of each kind of random fault: one a second."""
MAX_RANDOM_FAULTS: Final = 100_000
"""The most random faults of one kind a run expects (rate × duration): they are drawn before the
run starts and held in memory."""
MAX_DELAY_MS: Final = 3_600_000.0
"""The longest latency, jitter or extra delay of a link: an hour."""
MAX_SKEW_MS: Final = 86_400_000
"""The largest clock skew, either way: a day."""
MAX_FLUSH_ROWS: Final = 1_000_000
"""The most rows of one table held in memory before they are written (memory stays bounded)."""
MAX_WEIGHT: Final = 1e12
"""The largest region or job weight (their sums must stay finite floats)."""
TableName = Literal["blocks", "finality", "messages", "jobs", "workers", "economics"]
TABLE_NAMES: Final[tuple[TableName, ...]] = typing.get_args(TableName)
"""The output tables a run can write."""
PARAMS: Final[dict[str, type[Record]]] = {
    "compute": ComputeParams,
    "market": MarketParams,
    "staking": StakingParams,
}
"""The chain parameter sections and the runtime record each one builds."""

NonNegative = Annotated[float, Field(ge=0)]
Seconds = Annotated[float, Field(ge=0, le=MAX_DURATION_S)]
Delay = Annotated[float, Field(ge=0, le=MAX_DELAY_MS)]
Xpl = Annotated[float, Field(gt=0, le=MAX_XPL)]
PerHour = Annotated[float, Field(ge=0, le=MAX_FAULTS_PER_HOUR)]
Probability = Annotated[float, Field(ge=0, lt=1)]
Name = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_\-]+$")]


def xpl_to_planck(xpl: float) -> int:
    """An amount in XPL as planck (10^-12 XPL), exactly as written in decimal."""
    return int(Decimal(repr(xpl)) * PLANCK_PER_XPL)


# The chain


def _params_of(section: str, values: dict[str, int]) -> Record:
    return PARAMS[section](**values)


class ChainConfig(BaseModel):
    """Genesis parameters: any field of ComputeParams, MarketParams or StakingParams by its
    Python name (balances in planck, or as an amount such as "100XPL"); what is left out takes
    the runtime's default, and a loaded scenario holds every field."""

    model_config = MODEL_CONFIG

    compute: dict[str, int] = Field(default_factory=dict, validate_default=True)
    market: dict[str, int] = Field(default_factory=dict, validate_default=True)
    staking: dict[str, int] = Field(default_factory=dict, validate_default=True)

    @field_validator("compute", "market", "staking", mode="before")
    @classmethod
    def _complete(cls, value: Any, info: ValidationInfo) -> Any:
        """Known fields only, amounts as planck, and every default filled in."""
        if not isinstance(value, dict):
            return value
        section = str(info.field_name)
        record = PARAMS[section]
        specs = record.schema().by_name
        out: dict[str, Any] = {}
        for key, v in value.items():
            spec = specs.get(key)
            if spec is None:
                known = ", ".join(specs)
                raise problem(key, f"is not a {section} parameter (known: {known})")
            if isinstance(v, str) and spec.ftype is fields.BALANCE:
                try:
                    v = parse_amount(v)
                except InvalidAmount as exc:
                    raise problem(key, str(exc)) from exc
            if type(v) is not int:
                raise problem(key, f"must be an integer, got {v!r}")
            if spec.json_max is not None and v > spec.json_max:
                raise problem(key, f"must be at most {spec.json_max}, got {v}")
            out[key] = v
        return {name: out.get(name, spec.default) for name, spec in specs.items()}

    @model_validator(mode="after")
    def _params_hold(self) -> ChainConfig:
        for section in PARAMS:
            values: dict[str, int] = getattr(self, section)
            try:
                _params_of(section, values).check()
            except ValueError as exc:
                message = str(exc)
                first, _, rest = message.partition(" ")
                if first in values:
                    raise problem(f"{section}.{first}", rest) from exc
                raise problem(section, message) from exc
        return self

    def compute_params(self) -> ComputeParams:
        """The runtime's verification parameters."""
        return ComputeParams(**self.compute)

    def market_params(self) -> MarketParams:
        """The runtime's market parameters."""
        return MarketParams(**self.market)

    def staking_params(self) -> StakingParams:
        """The runtime's staking parameters."""
        return StakingParams(**self.staking)


# Validators and the network


class ValidatorSet(BaseModel):
    """The validators: each runs a real node core and bonds a stake drawn from `stake` out of its
    genesis endowment. `regions` places them: a list round robin, a table by weight; empty means
    round robin over every network region. The first `equivocating` validators equivocate. As
    committee members, the last `unavailable` validators reveal "unavailable" without trying, the
    `silent` before them never attest, and the `lazy` before those copy the worker's published
    result (the node's `--verifier-behaviour` modes); the others recompute."""

    model_config = MODEL_CONFIG

    count: int = Field(ge=1, le=MAX_VALIDATORS)
    stake: Distribution = Field(default_factory=lambda: fixed(100_000.0))
    endowment_xpl: Xpl = 1_000_000.0
    regions: list[Name] | dict[Name, Annotated[float, Field(ge=0, le=MAX_WEIGHT)]] = Field(
        default_factory=list
    )
    equivocating: int = Field(default=0, ge=0)
    lazy: int = Field(default=0, ge=0)
    silent: int = Field(default=0, ge=0)
    unavailable: int = Field(default=0, ge=0)

    def committee_behaviours(self) -> list[str]:
        """Each validator's behaviour on committees, in validator order."""
        honest = self.count - self.lazy - self.silent - self.unavailable
        return (
            ["honest"] * honest
            + ["lazy"] * self.lazy
            + ["silent"] * self.silent
            + ["unavailable"] * self.unavailable
        )

    @field_validator("regions", mode="before")
    @classmethod
    def _regions_shape(cls, value: Any) -> Any:
        if not isinstance(value, list | dict):
            raise problem("", "must be a list of region names or a table of region weights")
        return value

    @model_validator(mode="after")
    def _equivocating_fit(self) -> ValidatorSet:
        if self.equivocating > self.count:
            raise problem(
                "equivocating", f"{self.equivocating} is more than the {self.count} validators"
            )
        deviating = self.lazy + self.silent + self.unavailable
        if deviating > self.count:
            raise problem(
                "lazy",
                f"lazy, silent and unavailable members ({deviating}) are more than the "
                f"{self.count} validators",
            )
        if isinstance(self.regions, dict) and self.regions and sum(self.regions.values()) <= 0:
            raise problem("regions", "the region weights must not all be 0")
        return self

    def placement(self, network_regions: Sequence[str]) -> list[str]:
        """Each validator's region, in validator order (deterministic)."""
        if isinstance(self.regions, dict):
            if self.regions:
                return apportion(self.count, self.regions)
            return spread(self.count, network_regions)
        return spread(self.count, self.regions or network_regions)


class NetworkConfig(BaseModel):
    """Regions with a latency matrix (ms, row = sender's region) and jitter, per-node bandwidth
    (None: unlimited), and the default link's loss, duplication and extra uniform delay."""

    model_config = MODEL_CONFIG

    regions: list[Name] = Field(default_factory=lambda: ["local"], min_length=1)
    latency_ms: list[list[Delay]] = Field(default_factory=lambda: [[20.0]])
    jitter_ms: Delay = 0.0
    bandwidth_mbps: float | None = Field(default=None, ge=1e-3, le=1e9)
    loss: Probability = 0.0
    duplicate: Probability = 0.0
    reorder_ms: Delay = 0.0

    @model_validator(mode="after")
    def _matrix_fits_regions(self) -> NetworkConfig:
        if len(set(self.regions)) != len(self.regions):
            raise problem("regions", "names a region twice")
        n = len(self.regions)
        if len(self.latency_ms) != n:
            raise problem(
                "latency_ms",
                f"has {len(self.latency_ms)} row(s) for {n} region(s): it must be {n}×{n}",
            )
        for i, row in enumerate(self.latency_ms):
            if len(row) != n:
                raise problem(
                    f"latency_ms[{i}]",
                    f"has {len(row)} value(s) for {n} region(s): it must be {n}×{n}",
                )
        return self


# Workers


class Pricing(BaseModel):
    """A worker's ask per workload: fixed at `price_xpl_per_gunit`; cost_plus at its cost times
    1 + markup; undercut: starts at the price and asks `undercut` (a share) below the lowest ask
    it sees, never below its cost."""

    model_config = MODEL_CONFIG

    policy: Literal["fixed", "cost_plus", "undercut"] = "fixed"
    price_xpl_per_gunit: Xpl = 5_000.0
    cost_xpl_per_gunit: float = Field(default=0.0, ge=0, le=MAX_XPL)
    """What the compute costs the worker (its profit is earnings less this)."""
    markup: NonNegative = 0.2
    undercut: Probability = 0.05

    @model_validator(mode="after")
    def _cost_plus_has_cost(self) -> Pricing:
        if self.policy == "cost_plus" and self.cost_xpl_per_gunit <= 0:
            raise problem("cost_xpl_per_gunit", "a cost_plus price needs a cost above 0")
        if self.policy == "cost_plus" and self.cost_xpl_per_gunit * (1 + self.markup) > MAX_XPL:
            raise problem(
                "markup",
                f"the ask, cost × (1 + markup), comes to more than {MAX_XPL} XPL per gunit",
            )
        return self


class Strategy(BaseModel):
    """How a worker behaves: honest; cheat (fakes a `fraction` of the leaves); lazy (commits
    without computing); offline (leaves for good after `offline_after_s`); crash (goes down every
    `crash_every_s` for `down_for_s`, then resumes); unresponsive (never answers a check);
    withhold (never publishes its result, faking a `fraction` of its leaves if above 0)."""

    model_config = MODEL_CONFIG

    kind: Literal["honest", "cheat", "lazy", "offline", "crash", "unresponsive", "withhold"] = (
        "honest"
    )
    fraction: float = Field(default=0.0, ge=0, le=1)
    offline_after_s: Seconds | None = None
    crash_every_s: float | None = Field(default=None, ge=MIN_PERIOD_S, le=MAX_DURATION_S)
    down_for_s: Seconds = 30.0

    @model_validator(mode="after")
    def _parameters_fit_kind(self) -> Strategy:
        if self.kind == "cheat" and self.fraction <= 0:
            raise problem("fraction", "a cheating worker fakes a fraction of leaves above 0")
        if self.kind not in ("cheat", "withhold") and self.fraction != 0:
            raise problem("fraction", f"applies only to kind = 'cheat', not {self.kind!r}")
        if self.kind == "offline" and self.offline_after_s is None:
            raise problem("offline_after_s", "an offline worker needs the time it leaves")
        if self.kind != "offline" and self.offline_after_s is not None:
            raise problem("offline_after_s", f"applies only to kind = 'offline', not {self.kind!r}")
        if self.kind == "crash" and self.crash_every_s is None:
            raise problem("crash_every_s", "a crashing worker needs how often it crashes")
        if self.kind != "crash" and self.crash_every_s is not None:
            raise problem("crash_every_s", f"applies only to kind = 'crash', not {self.kind!r}")
        return self


class WorkerGroup(BaseModel):
    """`count` workers alike but for their drawn throughput (cost units per second), in `region`
    (None: round robin over the network's regions), each staking `stake_xpl` out of its
    endowment and taking up to `capacity` jobs at once."""

    model_config = MODEL_CONFIG

    name: Name
    count: int = Field(default=1, ge=0, le=MAX_GROUP_COUNT)
    region: Name | None = None
    throughput: Distribution = Field(default_factory=lambda: fixed(1e9))
    stake_xpl: Xpl = 1_000.0
    endowment_xpl: Xpl = 10_000.0
    capacity: int = Field(default=4, ge=1, le=1_000)
    workloads: list[str] = Field(default_factory=lambda: ["gemm_i8"], min_length=1)
    pricing: Pricing = Field(default_factory=Pricing)
    strategy: Strategy = Field(default_factory=Strategy)

    @field_validator("workloads")
    @classmethod
    def _known_workloads(cls, value: list[str]) -> list[str]:
        for i, w in enumerate(value):
            if w not in WORKLOADS:
                raise problem(f"[{i}]", _unknown_workload(w))
        return value

    @model_validator(mode="after")
    def _stake_fits(self) -> WorkerGroup:
        if self.stake_xpl > self.endowment_xpl:
            raise problem(
                "stake_xpl",
                f"{self.stake_xpl} XPL is more than each worker's endowment_xpl "
                f"({self.endowment_xpl})",
            )
        low = self.throughput.lowest()
        if low <= 0 and self.throughput.kind in ("fixed", "uniform"):
            raise problem("throughput", "a worker's throughput must be above 0 cost units/s")
        return self


# Requesters


class Arrival(BaseModel):
    """When each requester of a group submits: a Poisson process or a fixed interval, at
    `rate_per_s` jobs per second per requester, between `start_s` and `stop_s` of simulated time
    (the first arrival one gap after `start_s`; none after `stop_s`, None: until the run ends)."""

    model_config = MODEL_CONFIG

    process: Literal["poisson", "fixed"] = "poisson"
    rate_per_s: float = Field(default=0.1, ge=0, le=MAX_RATE_PER_S)
    start_s: Seconds = 0.0
    stop_s: Seconds | None = None

    @model_validator(mode="after")
    def _window_is_ordered(self) -> Arrival:
        if self.stop_s is not None and self.stop_s <= self.start_s:
            raise problem("stop_s", f"must be after start_s ({self.start_s}), got {self.stop_s}")
        return self

    @property
    def start_ms(self) -> int:
        """No arrivals before this simulated time, in milliseconds."""
        return round(self.start_s * 1000)

    @property
    def stop_ms(self) -> int | None:
        """No arrivals after this simulated time, in milliseconds (None: until the run ends)."""
        return None if self.stop_s is None else round(self.stop_s * 1000)


class JobMix(BaseModel):
    """One kind of job a requester submits, drawn with probability proportional to `weight`;
    `leaves` (optional) states the result leaves the parameters give, as a check."""

    model_config = MODEL_CONFIG

    workload: str = "gemm_i8"
    params: list[int] = Field(default_factory=lambda: [8, 16, 8, 2])
    weight: float = Field(default=1.0, gt=0, le=MAX_WEIGHT)
    leaves: int | None = Field(default=None, ge=1)

    @model_validator(mode="after")
    def _shape_is_valid(self) -> JobMix:
        if self.workload not in WORKLOADS:
            raise problem("workload", _unknown_workload(self.workload))
        try:
            shape = workload_shape(self.workload, self.params)
        except WorkloadError as exc:
            raise problem("params", str(exc)) from exc
        if self.leaves is not None and self.leaves != shape.leaves:
            raise problem("leaves", f"these params give {shape.leaves} leaves, not {self.leaves}")
        return self

    def cost_units(self) -> int:
        """The job's cost units."""
        return workload_shape(self.workload, self.params).cost_units


class RequesterGroup(BaseModel):
    """`count` requesters submitting jobs from `jobs`, offering at most
    `max_price_xpl_per_gunit`, audited `mode` ("sampled" or "always"), checking results with
    Freivalds' test when `freivalds` and disputing a wrong leaf when `dispute`; with `grief`,
    disputing a random leaf of every committed result, right or wrong."""

    model_config = MODEL_CONFIG

    name: Name
    count: int = Field(default=1, ge=0, le=MAX_GROUP_COUNT)
    region: Name | None = None
    arrival: Arrival = Field(default_factory=Arrival)
    jobs: list[JobMix] = Field(default_factory=lambda: [JobMix()], min_length=1)
    max_price_xpl_per_gunit: Xpl = 10_000.0
    mode: Literal["sampled", "always"] = "sampled"
    freivalds: bool = False
    dispute: bool = True
    grief: bool = False
    deadline_blocks: int = Field(default=20, ge=1, le=MAX_DEADLINE_BLOCKS)
    wait_blocks: int = Field(default=20, ge=0, le=MAX_WAIT_BLOCKS)
    endowment_xpl: Xpl = 1_000_000.0


# Faults


class FaultEvent(BaseModel):
    """One scheduled fault at `at_s`. `nodes` are validator indices (0-based); partition
    `groups` list validator indices or region names (a region stands for the validators in
    it); `until_s` ends a crash (restart), a partition (heal), a skew or a loss window."""

    model_config = MODEL_CONFIG

    at_s: Seconds
    kind: Literal["crash", "restart", "partition", "heal", "skew", "loss", "equivocate"]
    nodes: list[Annotated[int, Field(ge=0)]] = Field(default_factory=list)
    groups: list[list[Annotated[int, Field(ge=0)] | Name]] = Field(default_factory=list)
    skew_ms: int | None = Field(default=None, ge=-MAX_SKEW_MS, le=MAX_SKEW_MS)
    until_s: Seconds | None = None
    loss: Probability | None = None
    duplicate: Probability | None = None
    reorder_ms: Delay | None = None

    @model_validator(mode="after")
    def _parameters_fit_kind(self) -> FaultEvent:
        if self.kind in ("crash", "restart", "skew", "equivocate") and not self.nodes:
            raise problem("nodes", f"a {self.kind} fault names the validators it hits")
        if self.kind == "partition" and len(self.groups) < 2:
            raise problem("groups", "a partition needs at least two groups")
        if self.kind != "partition" and self.groups:
            raise problem("groups", f"applies only to a partition, not to {self.kind!r}")
        if self.kind == "skew" and self.skew_ms is None:
            raise problem("skew_ms", "a skew fault needs skew_ms")
        if self.kind == "loss" and (self.loss, self.duplicate, self.reorder_ms) == (None,) * 3:
            raise problem("loss", "a loss window needs loss, duplicate or reorder_ms")
        if self.until_s is not None and self.until_s <= self.at_s:
            raise problem("until_s", f"must be after at_s ({self.at_s}), got {self.until_s}")
        return self


class RandomFaults(BaseModel):
    """Faults drawn from the run's seed at these rates: crashes (each down for an exponential
    time of mean `mean_down_s`), partitions into two random halves (healed after the same),
    clock skews up to `max_skew_ms` and loss windows of `loss`."""

    model_config = MODEL_CONFIG

    crash_per_hour: PerHour = 0.0
    partition_per_hour: PerHour = 0.0
    skew_per_hour: PerHour = 0.0
    loss_per_hour: PerHour = 0.0
    mean_down_s: float = Field(default=60.0, gt=0, le=MAX_DURATION_S)
    max_skew_ms: int = Field(default=500, ge=0, le=MAX_SKEW_MS)
    loss: Probability = 0.2


class FaultPlan(BaseModel):
    """Faults on a schedule and at random rates."""

    model_config = MODEL_CONFIG

    schedule: list[FaultEvent] = Field(default_factory=list)
    random: RandomFaults = Field(default_factory=RandomFaults)


# Outputs


class OutputConfig(BaseModel):
    """Which tables a run writes, whether it draws plots, rows buffered per table before a
    Parquet flush, and how often agents and the network are sampled."""

    model_config = MODEL_CONFIG

    tables: list[TableName] = Field(default_factory=lambda: list(TABLE_NAMES))
    plots: bool = True
    flush_rows: int = Field(default=10_000, ge=1, le=MAX_FLUSH_ROWS)
    sample_every_s: float = Field(default=10.0, ge=MIN_PERIOD_S, le=MAX_DURATION_S)


# The scenario


class Scenario(BaseModel):
    """One simulation: the chain, its validators and network, workers, requesters, faults and
    outputs, run for `duration_s` of simulated time from `seed` (a command line's --seed wins)."""

    model_config = MODEL_CONFIG

    name: Annotated[str, Field(min_length=1, max_length=128)]
    duration_s: float = Field(gt=0, le=MAX_DURATION_S)
    seed: int = Field(default=0, ge=0, le=MAX_SEED)
    slot_ms: int = Field(default=1_000, ge=100, le=3_600_000)
    chain: ChainConfig = Field(default_factory=ChainConfig)
    validators: ValidatorSet
    network: NetworkConfig = Field(default_factory=NetworkConfig)
    workers: list[WorkerGroup] = Field(default_factory=list)
    requesters: list[RequesterGroup] = Field(default_factory=list)
    faults: FaultPlan = Field(default_factory=FaultPlan)
    outputs: OutputConfig = Field(default_factory=OutputConfig)
    store: StoreKind = "leveldb"
    """Where each validator keeps its database: "leveldb" (on disk in a temporary directory the
    run removes at its end: memory stays flat however long the run) or "memory" (a little
    faster; memory grows with the duration; the databases can be read after the run)."""

    @property
    def duration_ms(self) -> int:
        """The simulated duration in milliseconds."""
        return round(self.duration_s * 1000)

    def validator_regions(self) -> list[str]:
        """Each validator's region, in validator order."""
        return self.validators.placement(self.network.regions)

    def group_regions(self, group: WorkerGroup | RequesterGroup) -> list[str]:
        """Each agent's region in a worker or requester group, in agent order."""
        return spread(group.count, [group.region] if group.region else self.network.regions)

    @model_validator(mode="after")
    def _sections_agree(self) -> Scenario:
        for key, message in self._problems():
            raise problem(key, message)
        return self

    def _problems(self) -> Iterator[tuple[str, str]]:
        """(key, problem) for each rule tying sections together, in file order."""
        try:
            check_verification_window(self.chain.compute_params(), self.slot_ms)
        except ValueError as exc:
            yield "chain.compute.audit_leaves", str(exc)
        regions = set(self.network.regions)
        known = ", ".join(self.network.regions)
        yield from self._validator_problems(regions, known)
        names: set[str] = set()
        min_stake = self.chain.market_params().min_stake
        for i, w in enumerate(self.workers):
            at = f"workers[{i}]"
            if w.name in names:
                yield f"{at}.name", f"{w.name!r} names another group too"
            names.add(w.name)
            if w.region is not None and w.region not in regions:
                yield f"{at}.region", f"{w.region!r} is not a network region (known: {known})"
            if xpl_to_planck(w.stake_xpl) < min_stake:
                yield (
                    f"{at}.stake_xpl",
                    f"{w.stake_xpl} XPL is below chain.market.min_stake "
                    f"({min_stake / PLANCK_PER_XPL} XPL)",
                )
        served = {wl for w in self.workers for wl in w.workloads}
        min_payment = self.chain.market_params().min_payment
        for i, r in enumerate(self.requesters):
            at = f"requesters[{i}]"
            if r.name in names:
                yield f"{at}.name", f"{r.name!r} names another group too"
            names.add(r.name)
            if r.region is not None and r.region not in regions:
                yield f"{at}.region", f"{r.region!r} is not a network region (known: {known})"
            arrival = r.arrival
            if arrival.start_s >= self.duration_s:
                yield (
                    f"{at}.arrival.start_s",
                    f"{arrival.start_s} s is not before the run ends ({self.duration_s} s)",
                )
            if arrival.stop_s is not None and arrival.stop_s > self.duration_s:
                yield (
                    f"{at}.arrival.stop_s",
                    f"{arrival.stop_s} s is after the run ends ({self.duration_s} s)",
                )
            for j, job in enumerate(r.jobs):
                if job.workload not in served:
                    yield f"{at}.jobs[{j}].workload", f"no worker group runs {job.workload!r}"
                price = xpl_to_planck(r.max_price_xpl_per_gunit)
                payment = payment_for(job.cost_units(), price)
                if payment < min_payment:
                    yield (
                        f"{at}.jobs[{j}].params",
                        f"a job of {job.cost_units()} cost units pays at most {payment} planck at "
                        f"max_price_xpl_per_gunit {r.max_price_xpl_per_gunit}, below "
                        f"chain.market.min_payment ({min_payment}): the chain would refuse it",
                    )
        for i, event in enumerate(self.faults.schedule):
            yield from self._fault_problems(f"faults.schedule[{i}]", event, regions, known)
        hours = self.duration_s / 3600
        for kind in ("crash", "partition", "skew", "loss"):
            rate = getattr(self.faults.random, f"{kind}_per_hour")
            if rate * hours > MAX_RANDOM_FAULTS:
                yield (
                    f"faults.random.{kind}_per_hour",
                    f"{rate} an hour for {self.duration_s} s is {rate * hours:.0f} faults, more "
                    f"than a run draws ({MAX_RANDOM_FAULTS})",
                )
        yield from self._endowment_problems()
        workers = sum(w.count for w in self.workers)
        agents = workers + sum(r.count for r in self.requesters)
        if agents > MAX_AGENTS:
            yield (
                "workers" if workers * 2 >= agents else "requesters",
                f"{agents} workers and requesters in all, more than a scenario holds "
                f"({MAX_AGENTS})",
            )

    def _endowment_problems(self) -> Iterator[tuple[str, str]]:
        """Every endowment together must fit a u128 balance (the genesis issuance)."""
        totals = [
            ("validators.endowment_xpl", self.validators.count, self.validators.endowment_xpl)
        ]
        totals += [
            (f"workers[{i}].endowment_xpl", g.count, g.endowment_xpl)
            for i, g in enumerate(self.workers)
        ]
        totals += [
            (f"requesters[{i}].endowment_xpl", g.count, g.endowment_xpl)
            for i, g in enumerate(self.requesters)
        ]
        planck = [(key, count * xpl_to_planck(xpl)) for key, count, xpl in totals]
        total = sum(amount for _, amount in planck)
        if total > MAX_AMOUNT:
            key = max(planck, key=lambda entry: entry[1])[0]
            yield (
                key,
                f"the endowments come to {total} planck in all, more than the chain's issuance "
                f"can hold ({MAX_AMOUNT})",
            )

    def _validator_problems(self, regions: set[str], known: str) -> Iterator[tuple[str, str]]:
        v = self.validators
        for i, region in enumerate(v.regions):
            if region not in regions:
                where = f".{region}" if isinstance(v.regions, dict) else f"[{i}]"
                yield (
                    f"validators.regions{where}",
                    f"{region!r} is not a network region (known: {known})",
                )
        highest = v.stake.highest()
        if highest is None:
            yield "validators.stake.high", "an unbounded stake distribution needs high to cap it"
        elif highest > v.endowment_xpl:
            yield (
                "validators.stake",
                f"a validator may stake {highest} XPL, more than the {v.endowment_xpl} XPL "
                "each is endowed with (validators.endowment_xpl)",
            )
        min_bond = self.chain.staking_params().min_validator_bond
        if xpl_to_planck(v.stake.lowest()) < min_bond:
            yield (
                "validators.stake",
                f"a validator may stake {v.stake.lowest()} XPL, below "
                f"chain.staking.min_validator_bond ({min_bond / PLANCK_PER_XPL} XPL)",
            )
        if v.count > self.chain.staking_params().validator_count:
            yield (
                "validators.count",
                f"{v.count} validators is more than chain.staking.validator_count "
                f"({self.chain.staking_params().validator_count}) elects",
            )

    def _fault_problems(
        self, at: str, event: FaultEvent, regions: set[str], known: str
    ) -> Iterator[tuple[str, str]]:
        count = self.validators.count
        if event.at_s > self.duration_s:
            yield f"{at}.at_s", f"{event.at_s} s is after the run ends ({self.duration_s} s)"
        for j, node in enumerate(event.nodes):
            if node >= count:
                yield f"{at}.nodes[{j}]", f"there is no validator {node} (0 to {count - 1})"
        for g, group in enumerate(event.groups):
            for j, member in enumerate(group):
                where = f"{at}.groups[{g}][{j}]"
                if isinstance(member, str) and member not in regions:
                    yield where, f"{member!r} is not a network region (known: {known})"
                elif isinstance(member, int) and member >= count:
                    yield where, f"there is no validator {member} (0 to {count - 1})"


# Placement


def spread(count: int, regions: Sequence[str]) -> list[str]:
    """`count` agents placed round robin over `regions`."""
    return [regions[i % len(regions)] for i in range(count)]


def apportion(count: int, weights: dict[str, float]) -> list[str]:
    """`count` agents split over regions in proportion to their weights (largest remainder,
    ties to the region listed first), grouped by region in the order listed."""
    total = sum(weights.values())
    shares = [(name, count * w / total) for name, w in weights.items()]
    seats = {name: int(share) for name, share in shares}
    left = count - sum(seats.values())
    by_remainder = sorted(range(len(shares)), key=lambda i: -(shares[i][1] - int(shares[i][1])))
    for i in by_remainder[:left]:
        seats[shares[i][0]] += 1
    return [name for name, _ in shares for _ in range(seats[name])]


def _unknown_workload(name: str) -> str:
    return f"{name!r} is not a workload the runtime knows (known: {', '.join(sorted(WORKLOADS))})"


__all__ = [
    "PARAMS",
    "PLANCK_PER_XPL",
    "TABLE_NAMES",
    "Arrival",
    "ChainConfig",
    "Distribution",
    "FaultEvent",
    "FaultPlan",
    "JobMix",
    "NetworkConfig",
    "OutputConfig",
    "Pricing",
    "RandomFaults",
    "RequesterGroup",
    "Scenario",
    "Strategy",
    "ValidatorSet",
    "WorkerGroup",
    "apportion",
    "spread",
    "xpl_to_planck",
]
