"""Worker agents: register, take the jobs matched to them, compute, commit, answer checks.

A worker registers (`market.register_worker`: its stake, device "cpu", an ask per workload from its
pricing policy, its throughput and capacity), then follows its home node's best blocks. A job
matched to it is computed for real with the gpu_worker kernels (the NumPy path, inputs generated
from the job's seed) while the simulated clock models the time it takes from the worker's throughput
(`cost_units / throughput`, one job after another on its device; never a sleep). It commits the real
Merkle root (`compute.commit_result`, naming the job it computed by its digest), publishes the
leaves where committee members and requesters read them (`PublishedResults`, standing in for the
blob protocol), and answers each check in its reveal phase with the named leaves' hashes and Merkle
proofs (`compute.respond`). A job it cannot finish by the job's commit deadline at the throughput it
registered (with the chain's safety factor and margin), or of a workload it registered no throughput
for, it declines (`market.decline_job`) while the decline window is open, as the daemon does
(`gpu_worker.worker.decline_rule`); past the window it computes and commits what it can.

When a check awaits a response and what it holds come from the daemon's own functions
(`gpu_worker.worker.response`); cheating reuses `gpu_worker.worker.cheating` as the daemon's
`--cheat` does.

Strategies: "honest"; "cheat" (corrupts a fraction f of each result's leaves before committing);
"lazy" (commits a made-up root without computing, so it cannot answer a check); "offline" (stops
for good after `offline_after_ms`); "crash" (goes down every `crash_every_ms` on average for
`down_for_ms`, losing the jobs it was computing, and resumes from the chain's state);
"unresponsive" (computes and commits honestly, and never answers a check: a response that comes
after the reveal phase is refused by the chain, so late is never); "withhold" (commits its result,
corrupted on a fraction f of its leaves if f > 0, and never publishes it, so that committee
members cannot read the committed leaves a checked one builds on and requesters cannot check it).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Final

from chain.service.committee_duties import phase_mortality
from gpu_worker.commitment import result_root
from gpu_worker.inputs import generate_inputs
from gpu_worker.jobs import JobSpec, compute_leaves
from gpu_worker.worker.cheating import cheat_indices, corrupt_leaves
from gpu_worker.worker.decline_rule import Abilities, decline_reason, may_decline
from gpu_worker.worker.response import awaits_response, response_call
from runtime.api import make_call
from runtime.block import Header
from runtime.pallets import compute, market
from runtime.primitives.hashing import blake2b_256
from runtime.primitives.keys import Keypair
from runtime.workloads import GOP
from sim.agents.job_steps import WORKERS_TABLE, address, on_final, record_step
from sim.agents.published import PublishedResults
from sim.world.context import AgentContext, ChainEvent

log = logging.getLogger("xpl.sim.agents")

STRATEGIES: Final = ("honest", "cheat", "lazy", "offline", "crash", "unresponsive", "withhold")
PRICING_POLICIES: Final = ("fixed", "cost_plus", "undercut")
RESEND_AFTER_BLOCKS: Final = 2
"""Blocks a sent response or commitment may take to show on chain before it is sent again."""
UNDERCUT_EVERY_BLOCKS: Final = 10
"""How often an undercutting worker looks at the other asks."""
PENALTIES: Final = {"JobFailed": "fail", "DeadlineMissed": "missed", "JobDeclined": "declined"}
"""The market's events that take from a worker's stake (their third argument), and the verdict
its `slashed` row gives each."""
MEMORY_MB: Final = 16_384
"""The device memory a simulated worker registers (the chain does not match on it)."""


@dataclass(frozen=True, slots=True)
class WorkerStrategy:
    """How a worker behaves (see the module)."""

    kind: str = "honest"
    fraction: float = 0.0
    """cheat: the share of each result's leaves it corrupts."""
    offline_after_ms: int | None = None
    crash_every_ms: int | None = None
    down_for_ms: int = 0

    def __post_init__(self) -> None:
        if self.kind not in STRATEGIES:
            raise ValueError(f"unknown worker strategy {self.kind!r} (one of {STRATEGIES})")
        if not 0.0 <= self.fraction <= 1.0:
            raise ValueError(f"the cheat fraction must be from 0 to 1, not {self.fraction}")


@dataclass(frozen=True, slots=True)
class Pricing:
    """Where a worker's asks come from: a fixed price, its cost plus a markup, or undercutting
    the lowest other ask (never below its cost). Prices in planck per 10^9 cost units."""

    policy: str = "fixed"
    price: int = 10**9
    """fixed: the ask; cost_plus and undercut: the worker's cost, the floor of its ask."""
    markup_ppm: int = 0
    """cost_plus: the ask is price · (1 + markup)."""
    undercut_ppm: int = 10_000
    """undercut: how far below the lowest other ask it asks."""
    cost: int | None = None
    """What computing 10^9 cost units costs the worker (None: `price` for cost_plus and
    undercut, unmodelled for fixed)."""

    def __post_init__(self) -> None:
        if self.policy not in PRICING_POLICIES:
            raise ValueError(f"unknown pricing policy {self.policy!r} (one of {PRICING_POLICIES})")
        if self.price <= 0:
            raise ValueError("a worker's price must be positive")

    @property
    def cost_per_gunit(self) -> int | None:
        """The worker's modelled cost per 10^9 cost units, if modelled."""
        if self.cost is not None:
            return self.cost
        return None if self.policy == "fixed" else self.price

    def initial_ask(self) -> int:
        """The ask the worker registers with."""
        if self.policy == "cost_plus":
            return self.price + self.price * self.markup_ppm // 1_000_000
        return self.price


@dataclass(slots=True)
class _Job:
    """A job this worker took, as far as it knows."""

    record: market.Job
    leaves: tuple[bytes, ...] | None = None
    """Its computed (or corrupted) result, once committed; None for a lazy worker's."""
    root: bytes = b""
    published: bool = False
    computing: bool = False
    committed: bool = False
    sent_commit_at: int = -1


@dataclass
class WorkerAgent:
    """A worker account that takes jobs on its home node's chain (see the module)."""

    name: str
    key: Keypair
    results: PublishedResults
    group: str = ""
    strategy: WorkerStrategy = field(default_factory=WorkerStrategy)
    pricing: Pricing = field(default_factory=Pricing)
    stake: int = 100 * 10**12
    workloads: tuple[str, ...] = ("gemm_i8",)
    throughput: int = 10**9
    """Cost units per second its device computes."""
    capacity: int = 2

    registered: bool = field(default=False, init=False)
    earnings: int = field(default=0, init=False)
    """Payments of its settled jobs, booked once each as their blocks become final."""
    slashed: int = field(default=0, init=False)
    """Penalties taken from its stake, booked as its payments are."""
    cost: int = field(default=0, init=False)
    """The modelled cost of the compute done so far (a cheater's saved leaves and a lazy
    worker's whole job cost nothing)."""
    _jobs: dict[int, _Job] = field(default_factory=dict, init=False)
    _known: bytes | None = field(default=None, init=False)
    _busy_until_ms: int = field(default=0, init=False)
    _generation: int = field(default=0, init=False)
    _down: bool = field(default=False, init=False)
    _gone: bool = field(default=False, init=False)
    _register_sent_at: int = field(default=-1, init=False)
    _responded: dict[tuple[int, int, int], int] = field(default_factory=dict, init=False)
    _cheat_seed: int = field(default=0, init=False)
    _ask: int = field(default=0, init=False)
    _ending: dict[int, None] = field(default_factory=dict, init=False)
    """Jobs whose payment or penalty is seen in a block not yet final: read again after a
    reorg."""
    _last: tuple[int, int, int] = field(default=(0, 0, 0), init=False)
    """The last stake, reputation and active jobs read from the chain (for samples while down)."""

    def __post_init__(self) -> None:
        if self.throughput <= 0 or self.capacity <= 0 or not self.workloads:
            raise ValueError(f"worker {self.name}: throughput, capacity and workloads are needed")
        self._ask = self.pricing.initial_ask()

    @property
    def account(self) -> bytes:
        return self.key.public

    # The agent protocol

    def start(self, ctx: AgentContext) -> None:
        """Draw its cheating seed, register, and schedule its going offline or crashing."""
        self._cheat_seed = ctx.rng.getrandbits(32)
        self._register(ctx)
        s = self.strategy
        if s.kind == "offline" and s.offline_after_ms is not None:
            ctx.at(s.offline_after_ms, self._go_offline)
        if s.kind == "crash" and s.crash_every_ms:
            self._schedule_crash(ctx)

    def on_block(self, ctx: AgentContext, header: Header) -> None:
        """Follow the chain: take matched jobs, note commitments and endings, answer checks.

        A worker that is down or gone still has its payments and slashes read from the chain
        (its books), but takes, computes and answers nothing; one that resumes reads its open
        jobs afresh."""
        if not ctx.online:
            return
        best = ctx.best_header()
        acting = self._acting()
        if not self.registered:
            self.registered = market.Workers.get(ctx.overlay(), self.account) is not None
            if not self.registered:
                if acting and best.number >= self._register_sent_at + RESEND_AFTER_BLOCKS:
                    self._register(ctx)
                self._known = best.hash
                return
        events = ctx.events_since(self._known)
        if events is None:
            if acting:
                self._rescan(ctx, best.number)
        else:
            for block in events:
                for event in block.events:
                    self._on_event(ctx, block.number, event)
        self._known = best.hash
        if not acting:
            return
        self._commit_again(ctx, best.number)
        self._respond_due(ctx, best)
        if self.pricing.policy == "undercut" and best.number % UNDERCUT_EVERY_BLOCKS == 0:
            self._undercut(ctx)

    def sample(self, ctx: AgentContext) -> None:
        """One row of the `workers` table."""
        if ctx.online:
            worker = market.Workers.get(ctx.overlay(), self.account)
            if worker is not None:
                self._last = (worker.stake, worker.reputation, worker.active)
        stake, reputation, active = self._last
        ctx.recorder.row(
            WORKERS_TABLE,
            t_ms=ctx.now_ms,
            worker=address(self.account),
            group=self.group,
            strategy=self.strategy.kind,
            stake=stake,
            earnings=self.earnings,
            slashed=self.slashed,
            reputation=reputation,
            active=active > 0,
            online=self._active(ctx),
            cost=self.cost if self.pricing.cost_per_gunit is not None else None,
        )

    # Registration and prices

    def _register(self, ctx: AgentContext) -> None:
        if not ctx.online:
            return
        # Stated as the daemon's measurement states it (`registration.measure_throughput`):
        # rounded to whole 10^9 cost units per second, at least 1.
        gunits_per_s = max(1, round(self.throughput / GOP))
        call = make_call(
            "market",
            "register_worker",
            self.stake,
            "cpu",
            MEMORY_MB,
            list(self.workloads),
            [self._ask] * len(self.workloads),
            [gunits_per_s] * len(self.workloads),
            f"sim://{self.name}",
            self.capacity,
        )
        if ctx.submit(self.key, call):
            self._register_sent_at = ctx.best_header().number

    def _undercut(self, ctx: AgentContext) -> None:
        """Ask `undercut_ppm` below the lowest other ask for its first workload (up or down, as
        the others move), never below its cost."""
        state = ctx.overlay()
        workload = self.workloads[0]
        number = ctx.best_header().number
        others = []
        for account in market.WorkerList.get(state):
            if account == self.account:
                continue
            worker = market.Workers.get(state, account)
            ask = None if worker is None else worker.ask_at(workload, number)
            if ask is not None:
                others.append(ask)
        if not others:
            return
        lowest = min(others)
        target = max(self.pricing.price, lowest - lowest * self.pricing.undercut_ppm // 10**6)
        if target != self._ask:
            self._ask = target
            call = make_call(
                "market",
                "update_worker",
                list(self.workloads),
                [target] * len(self.workloads),
                self.capacity,
                0,
            )
            ctx.submit(self.key, call)

    # Following the chain

    def _on_event(self, ctx: AgentContext, number: int, event: ChainEvent) -> None:
        args = event.args
        if not args or not isinstance(args[0], int):
            return
        job_id = args[0]
        if event.pallet == "market":
            # Its books follow every event naming it, known job or not (one it lost track of
            # in a crash or declined is paid or penalized all the same).
            named = len(args) > 1 and args[1] == self.account
            if event.name == "JobMatched" and named:
                if self._acting():
                    self._take(ctx, job_id, number)
            elif event.name == "JobSettled" and named:
                self._book_payment(ctx, job_id, number, int(args[2]))
                self._drop(job_id)
            elif event.name in PENALTIES and named:
                mine = self._jobs.get(job_id)
                record = mine.record if mine else market.Jobs.get(ctx.overlay(), job_id)
                self._book_slash(ctx, job_id, number, record, PENALTIES[event.name], int(args[2]))
                self._drop(job_id)
            elif event.name in ("JobExpired", "JobCancelled"):
                self._drop(job_id)
        elif event.pallet == "compute" and job_id in self._jobs:
            mine = self._jobs[job_id]
            if event.name == "ResultCommitted" and args[1] == self.account:
                mine.committed = True
                record_step(
                    ctx,
                    "committed",
                    job_id,
                    number,
                    mine.record,
                    worker=self.account,
                    distinct=(self.account,),
                )
            elif event.name == "ChallengeDrawn" and args[2] is True:
                record_step(
                    ctx,
                    "audit_drawn",
                    job_id,
                    number,
                    mine.record,
                    worker=self.account,
                    distinct=(self.account, args[1], args[5]),
                )
            elif event.name == "JobVoided":
                self._drop(job_id)

    def _rescan(self, ctx: AgentContext, number: int) -> None:
        """Read its open jobs afresh from the state (at the start, after a gap or a crash)."""
        open_ids = set()
        for key, raw in ctx.iterate(market.Jobs.prefix):
            job = market.Jobs.decode(raw)
            if job.worker != self.account or job.state not in ("matched", "committed"):
                continue
            job_id = int.from_bytes(market.Jobs.key_suffix(key), "big")
            open_ids.add(job_id)
            mine = self._jobs.get(job_id)
            if mine is not None and market.job_digest(job_id, mine.record) != market.job_digest(
                job_id, job
            ):
                # A reorg replaced the job it computed with another job of the same id: what it
                # holds is no answer to that one.
                self._drop(job_id)
                mine = None
            if mine is None:
                if job.state == "matched":
                    self._take(ctx, job_id, number)
                # A committed job it no longer knows the result of it cannot answer checks on.
                continue
            mine.record = job
            mine.committed = job.state == "committed"
            if mine.committed:
                record_step(
                    ctx,
                    "committed",
                    job_id,
                    job.committed_at,
                    job,
                    worker=self.account,
                    distinct=(self.account,),
                )
            # Its match may be in blocks it did not read (a reorg put it there).
            record_step(
                ctx,
                "matched",
                job_id,
                job.matched_at,
                job,
                worker=self.account,
                distinct=(self.account,),
            )
            if job.state == "matched" and mine.root:
                # Computed, and its commitment is not on chain (still pooled when it went down, or
                # replaced by a reorg): commit the same root again at once, as the daemon does
                # from its record on disk, rather than computing it again.
                mine.sent_commit_at = -1
            elif job.state == "matched" and not mine.computing:
                self._schedule_compute(ctx, job_id, mine)
        state = ctx.overlay()
        for job_id in [j for j in self._jobs if j not in open_ids]:
            self._book_ended(ctx, job_id, market.Jobs.get(state, job_id), number)
            self._drop(job_id)
        # An end seen in a block a reorg abandoned is booked from the chain adopted.
        for job_id in [j for j in self._ending if j not in open_ids]:
            self._book_ended(ctx, job_id, market.Jobs.get(state, job_id), number)

    def _book_ended(
        self, ctx: AgentContext, job_id: int, job: market.Job | None, number: int
    ) -> None:
        """Book a job of its that ended in blocks whose events it did not read (a reorg, a gap)
        as the market's settlement did: its payment if settled, its slash if failed. (A miss or
        a decline in such blocks gives the job back, and its penalty is not booked.)"""
        if job is None or job.worker != self.account:
            return
        if job.state == "settled":
            self._book_payment(ctx, job_id, number, job.payment)
        elif job.state == "failed":
            self._book_slash(ctx, job_id, number, job, PENALTIES["JobFailed"], job.slash)

    def _book_payment(self, ctx: AgentContext, job_id: int, number: int, amount: int) -> None:
        """Book a job's payment, seen at height `number`, once that block is final: once per
        job, whichever final block shows it first, never from a block a reorg abandoned."""

        def book() -> None:
            self.earnings += amount
            self._ending.pop(job_id, None)

        self._ending[job_id] = None
        on_final(ctx, number, "settled", (job_id, "earned", self.account), book)

    def _book_slash(
        self,
        ctx: AgentContext,
        job_id: int,
        number: int,
        job: market.Job | None,
        verdict: str,
        amount: int,
    ) -> None:
        """Book and record a penalty, seen at height `number`, once that block is final (once
        per job, as a payment)."""
        if amount <= 0:
            return

        def book() -> None:
            self.slashed += amount
            self._ending.pop(job_id, None)

        self._ending[job_id] = None
        record_step(
            ctx,
            "slashed",
            job_id,
            number,
            job,
            worker=self.account,
            verdict=verdict,
            amount=amount,
            distinct=(self.account,),
            then=book,
        )

    def _take(self, ctx: AgentContext, job_id: int, number: int) -> None:
        """A job matched to it: compute it, or decline it if it cannot be done in time."""
        job = market.Jobs.get(ctx.overlay(), job_id)
        if job is None or job.worker != self.account or job.state != "matched":
            return
        record_step(
            ctx,
            "matched",
            job_id,
            job.matched_at,
            job,
            worker=self.account,
            distinct=(self.account,),
        )
        if self._declines(ctx, job):
            ctx.submit(
                self.key, make_call("market", "decline_job", job_id, market.job_digest(job_id, job))
            )
            return
        mine = _Job(job)
        self._jobs[job_id] = mine
        self._schedule_compute(ctx, job_id, mine)

    def _declines(self, ctx: AgentContext, job: market.Job) -> bool:
        """Whether to give the job back, as the daemon decides (`decline_rule`): it cannot be
        done by its deadline at the throughput registered for its workload, and the decline
        window is still open (past it, the worker tries its best)."""
        state = ctx.overlay()
        head = ctx.best_header().number
        params = market.Params.get(state)
        if not may_decline(job, head, params):
            return False
        worker = market.Workers.get(state, self.account)
        throughput = 0 if worker is None else worker.throughput_for(job.workload)
        slot_s = ctx.net.spec.genesis.slot_duration_ms / 1000
        abilities = Abilities(MEMORY_MB * 2**20, throughput, slot_s)
        # Inputs are generated from the job's seed: no blob is fetched in the simulated world.
        return decline_reason(job, head, params, abilities, lambda root: False) is not None

    def _compute_ms(self, job: market.Job) -> int:
        if self.strategy.kind == "lazy":
            return 0
        return -(-job.cost_units * 1000 // self.throughput)

    def _schedule_compute(self, ctx: AgentContext, job_id: int, mine: _Job) -> None:
        start = max(ctx.now_ms, self._busy_until_ms)
        self._busy_until_ms = start + self._compute_ms(mine.record)
        mine.computing = True
        generation = self._generation
        ctx.at(self._busy_until_ms - ctx.now_ms, lambda: self._finish(ctx, job_id, generation))

    def _finish(self, ctx: AgentContext, job_id: int, generation: int) -> None:
        """The device is done with the job: commit its root and publish its leaves."""
        mine = self._jobs.get(job_id)
        # The device computes whether or not the home node is up; the commitment waits for it.
        if generation != self._generation or mine is None or not self._acting():
            return
        mine.computing = False
        job = mine.record
        if self.strategy.kind == "lazy":
            mine.root = blake2b_256(b"xpl-sim-lazy" + job_id.to_bytes(8, "big"))
        else:
            spec = JobSpec(job.workload, job.params, job.seed)
            leaves = compute_leaves(
                spec, generate_inputs(job.workload, job.params, job.seed), device="numpy"
            )
            bad: tuple[int, ...] = ()
            if self.strategy.kind in ("cheat", "withhold"):
                bad = cheat_indices(len(leaves), self.strategy.fraction, self._cheat_seed, job_id)
                leaves = corrupt_leaves(leaves, bad, self._cheat_seed, job_id)
            self._add_cost(job, len(leaves) - len(bad), len(leaves))
            mine.leaves = tuple(leaves)
            if self.strategy.kind == "withhold":
                mine.root = result_root(leaves, threads=1)
            else:
                mine.root = self.results.publish(leaves)
                mine.published = True
        self._send_commit(ctx, job_id, mine)

    def _add_cost(self, job: market.Job, computed: int, leaves: int) -> None:
        """Book the modelled cost of computing `computed` of the job's `leaves` leaves."""
        per_gunit = self.pricing.cost_per_gunit
        if per_gunit is not None and leaves:
            self.cost += job.cost_units * computed * per_gunit // (GOP * leaves)

    def _send_commit(self, ctx: AgentContext, job_id: int, mine: _Job) -> None:
        digest = market.job_digest(job_id, mine.record)
        call = make_call("compute", "commit_result", job_id, digest, mine.root, mine.record.leaves)
        if ctx.submit(self.key, call):
            mine.sent_commit_at = ctx.best_header().number

    def _commit_again(self, ctx: AgentContext, best: int) -> None:
        """Send again a commitment that the pool refused (or its node was down for), or that has
        not reached the chain within RESEND_AFTER_BLOCKS, while the deadline allows (the daemon
        tries again at each block while the job is matched)."""
        for job_id, mine in sorted(self._jobs.items()):
            if (
                mine.root
                and not mine.committed
                and (mine.sent_commit_at < 0 or best >= mine.sent_commit_at + RESEND_AFTER_BLOCKS)
                and best < mine.record.commit_by
            ):
                self._send_commit(ctx, job_id, mine)

    def _respond_due(self, ctx: AgentContext, best: Header) -> None:
        """Answer each check on its committed jobs whose reveal phase the next block is in."""
        if self.strategy.kind == "unresponsive":
            return
        state = ctx.overlay()
        for job_id, mine in sorted(self._jobs.items()):
            if not mine.committed or mine.leaves is None:
                continue  # a lazy worker has nothing to answer with
            checks = compute.Checks.get(state, job_id) or ()
            for index, check in enumerate(checks):
                if not awaits_response(check, best.number):
                    continue
                key = (job_id, index, check.round)
                sent = self._responded.get(key)
                if sent is not None and best.number < sent + RESEND_AFTER_BLOCKS:
                    continue
                timing = phase_mortality(
                    check.reveal_deadline,
                    best,
                    ctx.finalized_header(),
                    drawn_at=check.drawn_at,
                    header_of=ctx.core().header,
                )
                if timing is None:
                    continue
                call = response_call(job_id, index, check, mine.leaves)
                if ctx.submit(self.key, call, mortality=timing[0], birth=timing[1]):
                    self._responded[key] = best.number

    def _drop(self, job_id: int) -> None:
        mine = self._jobs.pop(job_id, None)
        if mine is not None and mine.published:
            self.results.withdraw(mine.root)
        for key in [k for k in self._responded if k[0] == job_id]:
            del self._responded[key]

    # Going offline and crashing

    def _acting(self) -> bool:
        """Whether the worker itself is up (its home node aside)."""
        return not self._down and not self._gone

    def _active(self, ctx: AgentContext) -> bool:
        return ctx.online and self._acting()

    def _go_offline(self) -> None:
        self._gone = True

    def _schedule_crash(self, ctx: AgentContext) -> None:
        every = self.strategy.crash_every_ms or 0
        ctx.at(int(ctx.rng.expovariate(1.0 / every)), lambda: self._crash(ctx))

    def _crash(self, ctx: AgentContext) -> None:
        """Go down: what it was computing is lost; its published results (on disk) stay."""
        if self._down:
            return
        self._down = True
        self._generation += 1
        self._busy_until_ms = 0
        for mine in self._jobs.values():
            mine.computing = False
        ctx.at(self.strategy.down_for_ms, lambda: self._resume(ctx))

    def _resume(self, ctx: AgentContext) -> None:
        self._down = False
        self._known = None  # read its open jobs afresh at the next block
        self._schedule_crash(ctx)


__all__ = ["PRICING_POLICIES", "STRATEGIES", "Pricing", "WorkerAgent", "WorkerStrategy"]
