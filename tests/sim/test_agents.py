"""The simulated world's agents on a small network of four validators: honest workers get paid
and nobody is slashed; a worker cheating on a share f of its leaves is caught at the rate the
audits' sampling gives; a lazy worker is slashed; a run repeats exactly from its seed; a worker
declines as the daemon does (the jobs table and the books under a partition:
`test_final_chain_books.py`)."""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, get_args

import pytest

from chain.spec import ChainSpec, local_spec
from runtime.api import make_call
from runtime.pallets import compute, market, system
from runtime.pallets.compute.params import fraud_bond_for
from runtime.pallets.system import EVENTS_KEY
from runtime.primitives.address import encode_address
from runtime.primitives.keys import Keypair, keypair_from_suri
from runtime.state import StateOverlay
from runtime.workloads import workload_shape
from sim.agents import (
    CommitteeMember,
    JobKind,
    Pricing,
    PublishedResults,
    RequesterAgent,
    WorkerAgent,
    WorkerStrategy,
)
from sim.agents.workers import STRATEGIES
from sim.network import SimNetwork
from sim.scenario.schema import Strategy
from sim.tables import validate_row
from sim.world.context import DEFAULT_MORTALITY, Agent, AgentContext, decode_events

VALIDATORS = ("Alice", "Bob", "Charlie", "Dave")
UNIT = 10**12
GEMM = JobKind("gemm_i8", (64, 16, 16, 2))
"""32 leaves of 2 rows each: small enough to compute and recompute at once."""
LEAVES = workload_shape(GEMM.workload, GEMM.params).leaves
GEMM_COST = workload_shape(GEMM.workload, GEMM.params).cost_units
AUDIT_PPM = 800_000
AUDIT_LEAVES = 2
"""q and k: with k = 2 of 32 leaves a cheater on a quarter of them escapes an audit often, so
the measured rate says something about k (the guard allows k = 2 from q = 0.685)."""
POLL_MS = 250
SAMPLE_MS = 2_000


@dataclass
class Rows:
    """A recorder that keeps its rows as dicts, each checked against its table's schema as
    `sim.tables.Recorder` checks it."""

    tables: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def row(self, table: str, **columns: Any) -> None:
        validate_row(table, columns)
        self.tables.setdefault(table, []).append(columns)

    def of(self, table: str, **match: Any) -> list[dict[str, Any]]:
        return [r for r in self.tables.get(table, []) if all(r[k] == v for k, v in match.items())]


def key(name: str) -> Keypair:
    return keypair_from_suri("//" + name)


def spec(accounts: Sequence[Keypair]) -> ChainSpec:
    """A local four-validator chain with short verification windows, q and k as above, workers
    matched whatever their reputation (a cheater keeps taking jobs), and `accounts` endowed."""
    data = local_spec(validators=len(VALIDATORS)).to_json()
    genesis = data["genesis"]
    genesis["balances"].extend([encode_address(a.public), "100000XPL"] for a in accounts)
    genesis["compute"].update(
        auditPpm=AUDIT_PPM,
        auditLeaves=AUDIT_LEAVES,
        commitWindow=3,
        revealWindow=2,
        disputeWindow=12,
    )
    genesis["market"].update(minMatchReputation=-1_000)
    return ChainSpec.from_json(data)


@dataclass
class World:
    """A small driver: agents on their home nodes, told of each new best block by polling."""

    net: SimNetwork
    rows: Rows
    agents: list[tuple[Agent, AgentContext]] = field(default_factory=list)
    seen: dict[str, bytes] = field(default_factory=dict)

    def add(self, agent: Agent, home: str, seed: int) -> None:
        ctx = AgentContext(agent.name, self.net, home, random.Random(seed), self.rows)
        self.agents.append((agent, ctx))

    def run(self, ms: int) -> None:
        for agent, ctx in self.agents:
            agent.start(ctx)
        self.net.schedule(POLL_MS, self._poll)
        self.net.schedule(SAMPLE_MS, self._sample)
        self.net.run_for(ms)

    def _sample(self) -> None:
        for agent, ctx in self.agents:
            agent.sample(ctx)
        self.net.schedule(SAMPLE_MS, self._sample)

    def _poll(self) -> None:
        for agent, ctx in self.agents:
            if not ctx.online:
                continue
            best = ctx.best_header()
            if self.seen.get(agent.name) != best.hash:
                self.seen[agent.name] = best.hash
                agent.on_block(ctx, best)
        self.net.schedule(POLL_MS, self._poll)


def final_state(w: World) -> StateOverlay:
    """The state of the first validator's finalized block, which the `jobs` table and the
    workers' books follow."""
    core = w.net.core(VALIDATORS[0])
    return StateOverlay(core.reader(core.finalized_header.hash))


def world(
    workers: Sequence[WorkerAgent],
    requesters: Sequence[RequesterAgent],
    *,
    seed: int,
    check_invariants: bool = True,
    behaviours: Sequence[str] = (),
) -> World:
    """The four validators, a committee member on each, and the agents spread over them; every
    pallet's invariants checked after each block unless told not to (a long run)."""
    agents: list[WorkerAgent | RequesterAgent] = [*workers, *requesters]
    accounts = [a.key for a in agents]
    net = SimNetwork(spec(accounts), seed=seed, check_invariants=check_invariants)
    for name in VALIDATORS:
        net.add_node(name, key(name))
    net.connect_all()
    w = World(net, Rows())
    results = workers[0].results
    for i, name in enumerate(VALIDATORS):
        behaviour = behaviours[i] if i < len(behaviours) else "honest"
        member = CommitteeMember(f"committee-{name}", key(name), results, behaviour)
        w.add(member, name, seed * 1000 + i)
    for i, agent in enumerate(agents):
        w.add(agent, VALIDATORS[i % len(VALIDATORS)], seed * 1000 + 100 + i)
    return w


def workers(
    results: PublishedResults,
    count: int,
    strategy: WorkerStrategy,
    *,
    prefix: str = "w",
    workloads: tuple[str, ...] = ("gemm_i8",),
) -> list[WorkerAgent]:
    return [
        WorkerAgent(
            f"{prefix}{i}",
            key(f"{prefix}{i}"),
            results,
            group=strategy.kind,
            strategy=strategy,
            pricing=Pricing(price=100 * UNIT),
            stake=1_000 * UNIT,
            throughput=10**8,
            capacity=4,
            workloads=workloads,
        )
        for i in range(count)
    ]


def requesters(
    results: PublishedResults,
    count: int,
    *,
    rate: float,
    stop_after_ms: int,
    mode: str = "sampled",
    freivalds: bool = False,
    grief: bool = False,
    jobs: tuple[JobKind, ...] = (GEMM,),
    prefix: str = "r",
) -> list[RequesterAgent]:
    return [
        RequesterAgent(
            f"{prefix}{i}",
            key(f"{prefix}{i}"),
            results,
            jobs=jobs,
            rate_per_s=rate,
            max_price=1_000 * UNIT,
            mode=mode,
            freivalds=freivalds,
            grief=grief,
            stop_after_ms=stop_after_ms,
        )
        for i in range(count)
    ]


def test_honest_workers_settle_jobs_and_nobody_is_slashed() -> None:
    results = PublishedResults()
    honest = workers(results, 2, WorkerStrategy())
    w = world(honest, requesters(results, 2, rate=0.3, stop_after_ms=20_000), seed=1)
    w.run(45_000)
    settled = w.rows.of("jobs", step="settled")
    assert len(settled) >= 5
    assert w.rows.of("jobs", step="failed") == []
    assert w.rows.of("jobs", step="slashed") == []
    assert {r["verdict"] for r in w.rows.of("jobs", step="attested")} == {"recomputed"}
    assert w.rows.of("jobs", step="audit_drawn")  # audits happened, and passed
    samples = w.rows.of("workers")
    assert {s["slashed"] for s in samples} == {0}
    last = {s["worker"]: s for s in samples}  # each worker's latest sample
    assert sum(s["earnings"] for s in last.values()) == sum(r["amount"] for r in settled)
    assert len(results) == 0  # every ended job's result was withdrawn
    assert w.net.conflicting_finality() == []


def _binomial_interval(n: int, p: Fraction, tail: float) -> tuple[int, int]:
    """The central interval of Binomial(n, p) leaving at most `tail` on each side."""
    pf = float(p)
    pmf = [math.comb(n, i) * pf**i * (1 - pf) ** (n - i) for i in range(n + 1)]
    low, acc = 0, 0.0
    while acc + pmf[low] <= tail:
        acc += pmf[low]
        low += 1
    high, acc = n, 0.0
    while acc + pmf[high] <= tail:
        acc += pmf[high]
        high -= 1
    return low, high


def test_a_cheater_is_caught_at_the_rate_the_audits_sample() -> None:
    # f = 1/4 of 32 leaves corrupted; an audit draws k = 2 distinct leaves, so it finds one with
    # probability 1 - C(24, 2)/C(32, 2) (at least 1 - (1 - f)^k: without replacement is likelier),
    # and q of the jobs are audited.
    f = 0.25
    results = PublishedResults()
    cheaters = workers(results, 6, WorkerStrategy("cheat", fraction=f))
    demand = requesters(results, 6, rate=0.45, stop_after_ms=60_000)
    w = world(cheaters, demand, seed=2, check_invariants=False)
    w.run(90_000)
    caught = len(w.rows.of("jobs", step="failed"))
    passed = len(w.rows.of("jobs", step="settled"))
    ended = caught + passed
    assert ended >= 120, ended
    bad = round(f * LEAVES)
    hit = 1 - Fraction(math.comb(LEAVES - bad, AUDIT_LEAVES), math.comb(LEAVES, AUDIT_LEAVES))
    expected = Fraction(AUDIT_PPM, 10**6) * hit
    assert abs(float(expected) - AUDIT_PPM / 1e6 * (1 - (1 - f) ** AUDIT_LEAVES)) < 0.01
    low, high = _binomial_interval(ended, expected, 0.0005)
    assert low <= caught <= high, (caught, ended, float(expected))
    # Every catch is a slash of the cheater, and every pass of an audit found only good leaves.
    assert len(w.rows.of("jobs", step="slashed")) == caught
    assert all(r["verdict"] in ("pass", "unaudited") for r in w.rows.of("jobs", step="settled"))


def test_a_lazy_worker_is_slashed() -> None:
    results = PublishedResults()
    lazy = workers(results, 1, WorkerStrategy("lazy"))
    w = world(lazy, requesters(results, 1, rate=0.2, stop_after_ms=10_000, mode="always"), seed=3)
    w.run(30_000)
    failed = w.rows.of("jobs", step="failed")
    assert failed
    assert w.rows.of("jobs", step="settled") == []
    slashed = w.rows.of("jobs", step="slashed")
    assert len(slashed) == len(failed) and all(r["amount"] > 0 for r in slashed)
    assert w.rows.of("workers")[-1]["slashed"] == sum(r["amount"] for r in slashed)


def test_requesters_checking_with_freivalds_dispute_every_cheat() -> None:
    # Audits sample; a requester's Freivalds check of the whole result finds every corrupted
    # result and its dispute convicts the worker, so no cheat is paid.
    results = PublishedResults()
    cheater = workers(results, 1, WorkerStrategy("cheat", fraction=0.1))
    checking = requesters(results, 1, rate=0.5, stop_after_ms=10_000, freivalds=True)
    w = world(cheater, checking, seed=6)
    w.run(30_000)
    failed = w.rows.of("jobs", step="failed")
    disputed = w.rows.of("jobs", step="disputed")
    assert len(failed) >= 3 and w.rows.of("jobs", step="settled") == []
    assert {r["job"] for r in disputed} == {r["job"] for r in failed}


def test_workers_that_go_offline_or_crash_stop_and_resume() -> None:
    results = PublishedResults()
    offline = WorkerStrategy("offline", offline_after_ms=8_000)
    crashing = WorkerStrategy("crash", crash_every_ms=6_000, down_for_ms=3_000)
    agents = [
        *workers(results, 1, offline, prefix="off"),
        *workers(results, 1, crashing, prefix="crash"),
        *workers(results, 1, WorkerStrategy()),
    ]
    w = world(agents, requesters(results, 2, rate=0.4, stop_after_ms=25_000), seed=7)
    start = w.net.now_ms
    w.run(43_000)  # the gone worker's first miss (block 40) final by then
    gone = encode_address(agents[0].key.public)
    crash = encode_address(agents[1].key.public)
    committed = w.rows.of("jobs", step="committed")
    assert all(r["t_ms"] <= start + 8_000 for r in committed if r["worker"] == gone)
    assert not any(
        s["online"] for s in w.rows.of("workers", worker=gone) if s["t_ms"] > start + 8_000
    )
    # Its books go on: the job it left committed and unanswered failed, and it was slashed.
    failed = {r["job"] for r in w.rows.of("jobs", step="failed", worker=gone)}
    slashed = w.rows.of("jobs", step="slashed", worker=gone, verdict="fail")
    assert failed and failed == {r["job"] for r in slashed}
    crash_samples = [s["online"] for s in w.rows.of("workers", worker=crash)]
    assert False in crash_samples
    # It went down and came back, and took jobs after coming back.
    back = [
        i for i in range(1, len(crash_samples)) if crash_samples[i] and not crash_samples[i - 1]
    ]
    assert back
    assert any(r["worker"] == crash for r in w.rows.of("jobs", step="settled"))
    # Each worker's books of what its stake lost (failed checks, missed deadlines, declines)
    # are what the chain took by its finalized block (books follow finality); the one gone
    # offline missed the jobs matched to it meanwhile.
    state = final_state(w)
    for agent in agents:
        registered = market.Workers.get(state, agent.key.public)
        assert registered is not None
        assert agent.stake - registered.stake == agent.slashed, agent.name
    assert {r["verdict"] for r in w.rows.of("jobs", step="slashed", worker=gone)} >= {"missed"}


def test_an_undercutting_worker_asks_below_the_others_and_books_its_cost() -> None:
    results = PublishedResults()
    fixed = workers(results, 1, WorkerStrategy())[0]
    undercut = WorkerAgent(
        "u0",
        key("u0"),
        results,
        group="undercut",
        pricing=Pricing("undercut", price=50 * UNIT, undercut_ppm=100_000),
        stake=1_000 * UNIT,
        throughput=10**8,
    )
    w = world([fixed, undercut], requesters(results, 1, rate=0.3, stop_after_ms=15_000), seed=8)
    w.run(30_000)
    core = w.net.core("Alice")
    state = StateOverlay(core.reader())
    number = core.best_header.number
    asks = {}
    for agent in (fixed, undercut):
        registered = market.Workers.get(state, agent.key.public)
        assert registered is not None
        asks[agent.name] = registered.ask_at("gemm_i8", number)
    # Registered at its cost, it raised its ask to 10% below the other's (in force after the
    # market's ask delay).
    assert asks == {"w0": 100 * UNIT, "u0": 90 * UNIT}
    last = {s["worker"]: s for s in w.rows.of("workers")}
    cheap = last[encode_address(undercut.key.public)]
    assert cheap["cost"] == undercut.cost > 0  # it computed jobs, at its cost
    assert last[encode_address(fixed.key.public)]["cost"] is None  # a fixed price models none


def test_a_run_repeats_exactly_from_its_seed() -> None:
    def once(seed: int) -> dict[str, list[dict[str, Any]]]:
        results = PublishedResults()
        mixed = [
            *workers(results, 1, WorkerStrategy()),
            *workers(results, 1, WorkerStrategy("cheat", fraction=0.5), prefix="c"),
        ]
        w = world(mixed, requesters(results, 2, rate=0.6, stop_after_ms=6_000), seed=seed)
        w.run(16_000)
        return w.rows.tables

    first = once(4)
    assert first["jobs"]
    assert once(4) == first
    assert once(5) != first


@dataclass
class ArrivalClock:
    """The little of an agent context a requester's arrivals use: a clock, a queue of scheduled
    actions, its random stream, and a pool that takes every submission (their times kept)."""

    rng: random.Random
    now_ms: int = 0
    queue: list[tuple[int, int, Any]] = field(default_factory=list)
    submitted_ms: list[int] = field(default_factory=list)

    def at(self, delay_ms: int, action: Any) -> None:
        self.queue.append((self.now_ms + delay_ms, len(self.queue), action))

    def submit(self, signer: Keypair, call: Any, *, mortality: int | None = None) -> bool:
        self.submitted_ms.append(self.now_ms)
        return True

    def run_until(self, end_ms: int) -> None:
        while self.queue:
            self.queue.sort(key=lambda entry: entry[:2])
            t, _, action = self.queue[0]
            if t > end_ms:
                return
            self.queue.pop(0)
            self.now_ms = t
            action()


def test_requester_arrivals_fall_within_their_window() -> None:
    """No job before start_after_ms nor after stop_after_ms, and jobs in between at the rate."""
    for process in ("poisson", "fixed"):
        agent = RequesterAgent(
            "r",
            key("r"),
            PublishedResults(),
            jobs=(GEMM,),
            rate_per_s=2.0,
            max_price=UNIT,
            process=process,
            start_after_ms=30_000,
            stop_after_ms=40_000,
        )
        clock = ArrivalClock(random.Random(5))
        agent.start(clock)  # type: ignore[arg-type]
        clock.run_until(100_000)
        times = clock.submitted_ms
        assert times and min(times) >= 30_000 and max(times) <= 40_000, process
        assert 10 <= len(times) <= 35, (process, len(times))  # 2/s over 10 s


class RefusingFirstCommits(AgentContext):
    """A worker's context whose pool refuses the first commitment of each job, and that then
    reports a gap in the blocks if `gaps` (as after a reorg or a long outage), so that the
    worker reads its jobs afresh with the commitment still not on chain."""

    refused: set[int]
    gaps: bool
    gap: bool

    def submit(self, signer: Keypair, call: Any, **kwargs: Any) -> bool:
        if call.pallet == "compute" and call.name == "commit_result":
            job_id = int(call.args[0])
            if job_id not in self.refused:
                self.refused.add(job_id)
                self.gap = self.gaps
                return False
        return super().submit(signer, call, **kwargs)

    def events_since(self, known: bytes | None) -> Any:
        if self.gap:
            self.gap = False
            return None
        return super().events_since(known)


@pytest.mark.parametrize("gaps", [False, True])
def test_a_refused_commitment_is_sent_again_and_the_job_not_computed_twice(gaps: bool) -> None:
    # The daemon commits a computed job again at each block while it is matched (its record on
    # disk says "uploaded"); it never computes it again for that.
    results = PublishedResults()
    worker = WorkerAgent(
        "w0",
        key("w0"),
        results,
        pricing=Pricing("cost_plus", price=100 * UNIT),
        stake=1_000 * UNIT,
        throughput=10**8,
        capacity=8,
    )
    w = world([worker], requesters(results, 1, rate=0.3, stop_after_ms=10_000), seed=11)
    ctx = RefusingFirstCommits(worker.name, w.net, "Alice", random.Random(0), w.rows)
    ctx.refused, ctx.gaps, ctx.gap = set(), gaps, False
    w.agents = [(a, ctx if a is worker else c) for a, c in w.agents]
    w.run(30_000)
    settled = w.rows.of("jobs", step="settled")
    assert len(settled) >= 2 and len(ctx.refused) == len(settled)
    assert {r["job"] for r in w.rows.of("jobs", step="submitted")} == {r["job"] for r in settled}
    assert len(w.rows.of("jobs", step="matched")) == len(settled)  # no deadline missed
    assert worker.cost == sum(r["cost_units"] * 100 * UNIT // 10**9 for r in settled)
    assert len(results) == 0  # each result published once, and withdrawn


def test_an_unresponsive_worker_fails_every_audit() -> None:
    # It computes and commits honestly and never answers a check: that fails the check as a
    # wrong leaf does, so the work it did is lost and its stake slashed.
    results = PublishedResults()
    mute = workers(results, 1, WorkerStrategy("unresponsive"))
    w = world(mute, requesters(results, 1, rate=0.2, stop_after_ms=10_000, mode="always"), seed=12)
    w.run(30_000)
    failed = w.rows.of("jobs", step="failed")
    assert len(failed) >= 2 and w.rows.of("jobs", step="settled") == []
    assert {r["verdict"] for r in w.rows.of("jobs", step="attested")} == {"recomputed"}
    assert mute[0].earnings == 0 and mute[0].slashed > 0


SGD = JobKind("sgd_fxp", (64, 32, 2, 32, 6, 12, 9))
"""Six steps, each leaf building on the committed step before it."""


def test_a_worker_withholding_its_result_fails_the_audits_that_need_it() -> None:
    # Each sgd step after the first builds on the committed step before it, which the worker
    # must serve; members that cannot read it reveal RESULT_WITHHELD and the check fails, so
    # withholding a result (here an honest one) loses the job and the stake.
    results = PublishedResults()
    hider = workers(results, 1, WorkerStrategy("withhold"), workloads=("sgd_fxp",))
    demand = requesters(results, 1, rate=0.4, stop_after_ms=10_000, mode="always", jobs=(SGD,))
    w = world(hider, demand, seed=13)
    w.run(30_000)
    failed = w.rows.of("jobs", step="failed")
    assert len(failed) >= 2 and w.rows.of("jobs", step="settled") == []
    assert {r["verdict"] for r in w.rows.of("jobs", step="attested")} == {"withheld"}
    assert hider[0].earnings == 0 and hider[0].slashed > 0
    assert len(results) == 0  # nothing was ever published


def _total_balance(w: World, account: bytes) -> int:
    core = w.net.core("Alice")
    info = system.Account.get(StateOverlay(core.reader()), account)
    return 0 if info is None else info.free + sum(amount for _, amount in info.holds)


def test_a_requester_disputing_honest_work_loses_its_bonds() -> None:
    # A griefer disputes a random leaf of each honest result: the committee finds it right, the
    # worker is paid all the same, and the griefer's bond goes to the committee and the worker.
    results = PublishedResults()
    honest = workers(results, 2, WorkerStrategy())
    griefer = requesters(results, 1, rate=0.4, stop_after_ms=10_000, grief=True, prefix="g")
    plain = requesters(results, 1, rate=0.4, stop_after_ms=10_000)
    w = world(honest, [*griefer, *plain], seed=14)
    before = {r.name: _total_balance(w, r.key.public) for r in (*griefer, *plain)}
    w.run(40_000)
    disputed = {r["job"] for r in w.rows.of("jobs", step="disputed")}
    settled = w.rows.of("jobs", step="settled")
    assert len(disputed) >= 2 and disputed <= {r["job"] for r in settled}
    assert w.rows.of("jobs", step="failed") == [] and w.rows.of("jobs", step="slashed") == []
    spent = {}
    for r in (*griefer, *plain):
        jobs = [s for s in settled if s["requester"] == encode_address(r.key.public)]
        assert jobs
        spent[r.name] = (before[r.name] - _total_balance(w, r.key.public)) // len(jobs)
    core = w.net.core("Alice")
    state = StateOverlay(core.reader())
    payment = max(s["amount"] for s in settled)
    fee = market.Params.get(state).fees_for(payment)[1]
    bond = fraud_bond_for(compute.Params.get(state), fee)
    assert spent["g0"] >= spent["r0"] + bond  # every dispute's bond lost, on top of the job


def _events(w: World, pallet: str, name: str) -> list[tuple[Any, ...]]:
    """The arguments of every `pallet.name` event on Alice's best chain."""
    core = w.net.core("Alice")
    found: list[tuple[Any, ...]] = []
    header = core.best_header
    while header.number > 0:
        for event in decode_events(core.store.reader(header.hash)(EVENTS_KEY)):
            if (event.pallet, event.name) == (pallet, name):
                found.append(event.args)
        parent = core.store.header(header.parent_hash)
        assert parent is not None
        header = parent
    return found


@pytest.mark.parametrize("behaviour", ["unavailable", "lazy", "silent"])
def test_a_committee_member_that_does_not_recompute_is_penalized(behaviour: str) -> None:
    # Alice's member answers by its behaviour, the other three recompute: every job audited
    # still settles on their votes, and only Alice is penalized (once per check she sat on).
    results = PublishedResults()
    honest = workers(results, 1, WorkerStrategy())
    demand = requesters(results, 1, rate=0.4, stop_after_ms=8_000, mode="always")
    w = world(honest, demand, seed=16, behaviours=(behaviour,))
    w.run(25_000)
    attested = w.rows.of("jobs", step="attested")
    assert {r["verdict"] for r in attested} == {"recomputed"} | (
        set() if behaviour == "silent" else {behaviour}
    )
    assert w.rows.of("jobs", step="settled") and w.rows.of("jobs", step="failed") == []
    alice = key("Alice").public
    penalties = _events(w, "compute", "MemberPenalized")
    assert penalties and {args[2] for args in penalties} == {alice}
    decided = {args[:2] for args in _events(w, "compute", "CheckDecided")}
    sat = {a[:2] for a in _events(w, "compute", "ChallengeDrawn") if a[2] and alice in a[4]}
    assert sorted(args[:2] for args in penalties) == sorted(sat & decided)


def test_a_worker_registers_its_throughput_rounded_as_the_daemon_measures_it() -> None:
    # The chain gives a job as many blocks as the registered throughput says it takes; the
    # daemon states round(measured), so a 1.9 GOP/s device registers 2, a 0.4 GOP/s one 1.
    results = PublishedResults()
    fast, slow = (
        WorkerAgent(name, key(name), results, stake=1_000 * UNIT, throughput=throughput)
        for name, throughput in (("f0", 1_900_000_000), ("s0", 400_000_000))
    )
    w = world([fast, slow], requesters(results, 1, rate=0.1, stop_after_ms=0), seed=16)
    w.run(3_000)
    state = StateOverlay(w.net.core("Alice").reader())
    registered = {}
    for agent in (fast, slow):
        worker = market.Workers.get(state, agent.key.public)
        assert worker is not None
        registered[agent.name] = worker.throughput_for("gemm_i8")
    assert registered == {"f0": 2, "s0": 1}


class Gappy(AgentContext):
    """A context that reports a gap (as after a reorg or an outage) at every other block."""

    calls = 0

    def events_since(self, known: bytes | None) -> Any:
        self.calls += 1
        return None if self.calls % 2 else super().events_since(known)


def test_jobs_that_end_in_a_gap_are_booked_from_the_state() -> None:
    # Reading the state afresh after a gap, a worker books the payment of a job that settled
    # meanwhile, and the requester writes its end; the daemon reads its jobs' states the same.
    results = PublishedResults()
    honest = workers(results, 2, WorkerStrategy())
    demand = requesters(results, 2, rate=0.4, stop_after_ms=10_000)
    w = world(honest, demand, seed=17)
    w.agents = [
        (a, c if isinstance(a, CommitteeMember) else Gappy(c.name, w.net, c.home, c.rng, w.rows))
        for a, c in w.agents
    ]
    w.run(35_000)
    core = w.net.core("Alice")
    ended = {}
    for raw_key, raw in core.store.iterate_state(core.finalized_header.hash, market.Jobs.prefix):
        job = market.Jobs.decode(raw)
        if job.state == "settled":
            ended[int.from_bytes(market.Jobs.key_suffix(raw_key), "big")] = job
    assert len(ended) >= 4
    settled = w.rows.of("jobs", step="settled")
    assert sorted(r["job"] for r in settled) == sorted(ended)
    assert sum(a.earnings for a in honest) == sum(job.payment for job in ended.values())
    assert all(not r._tracked for r in demand)  # nothing left followed after its end


def test_transactions_are_born_at_the_finalized_block_as_the_client_signs_them() -> None:
    # With half the validators down, blocks go on and finality stops; once the best block is
    # DEFAULT_MORTALITY past the finalized one, a transaction signed as the client SDK signs it
    # (mortal from the finalized head) is dead on arrival, and the pool refuses it.
    w = world(workers(PublishedResults(), 1, WorkerStrategy()), [], seed=18)
    ctx = AgentContext("probe", w.net, "Alice", random.Random(0), w.rows)
    transfer = make_call("balances", "transfer_keep_alive", key("Bob").public, UNIT)
    w.net.run_for(5_000)
    assert ctx.submit(key("w0"), transfer)
    w.net.crash("Charlie")
    w.net.crash("Dave")
    lag = 0
    while lag < DEFAULT_MORTALITY + 2:
        w.net.run_for(10_000)
        lag = ctx.best_header().number - ctx.finalized_header().number
        if lag < DEFAULT_MORTALITY - 1:
            assert ctx.submit(key("w0"), transfer)
    assert not ctx.submit(key("w0"), transfer)


def test_every_worker_strategy_can_be_named_in_a_scenario() -> None:
    annotation = Strategy.model_fields["kind"].annotation
    assert set(get_args(annotation)) == set(STRATEGIES)


class Replaying(AgentContext):
    """A context that shows each block's events twice, as a reorg onto a branch with the same
    events shows them again."""

    def events_since(self, known: bytes | None) -> Any:
        blocks = super().events_since(known)
        return None if blocks is None else [b for block in blocks for b in (block, block)]


def test_a_job_end_seen_again_is_booked_once() -> None:
    results = PublishedResults()
    agents = [
        *workers(results, 1, WorkerStrategy()),
        *workers(results, 1, WorkerStrategy("offline", offline_after_ms=5_000), prefix="o"),
    ]
    w = world(agents, requesters(results, 2, rate=0.4, stop_after_ms=10_000), seed=19)
    w.agents = [
        (a, Replaying(c.name, w.net, c.home, c.rng, w.rows) if a in agents else c)
        for a, c in w.agents
    ]
    w.run(60_000)  # jobs first offered to the worker that goes offline settle near 51 s
    settled = w.rows.of("jobs", step="settled")
    assert settled and agents[0].earnings == sum(
        r["amount"] for r in settled if r["worker"] == encode_address(agents[0].key.public)
    )
    state = final_state(w)
    for agent in agents:
        registered = market.Workers.get(state, agent.key.public)
        assert registered is not None and agent.stake - registered.stake == agent.slashed


def test_a_worker_declines_as_the_daemon_does_on_its_registered_throughput() -> None:
    # A device far slower than the 10^9 cost units a second it registers (the least it can
    # state): the chain gives each job the blocks that throughput says it needs, so the daemon's
    # rule keeps every job, and the worker misses the deadlines rather than declining.
    results = PublishedResults()
    slow = WorkerAgent("s0", key("s0"), results, stake=1_000 * UNIT, throughput=1_000)
    assert -(-GEMM_COST * 1000 // slow.throughput) > 10_000  # 32 s a job: past any deadline
    demand = requesters(results, 1, rate=1.0, stop_after_ms=5_000)
    demand[0].deadline_blocks = 8
    w = world([slow], demand, seed=21)
    w.run(20_000)
    assert _events(w, "market", "JobMatched")
    assert _events(w, "market", "JobDeclined") == []
    missed = _events(w, "market", "DeadlineMissed")
    assert missed and all(args[1] == slow.key.public for args in missed)
