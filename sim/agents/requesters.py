"""Requester agents: jobs arriving by a process, submitted to the market, followed to their end.

A requester's jobs arrive by its process ("poisson": exponential gaps at `rate_per_s`; "fixed":
one every 1/rate seconds), each drawn from its mix by weight with a fresh seed (all from the
agent's own random stream), and are submitted with `market.submit_job` at its highest price,
inputs generated from the seed. It follows its jobs through its home node's blocks and records
their steps. With `freivalds`, it checks each committed result it can read (the worker's
published leaves) with `gpu_worker.freivalds.check_result`, and with `dispute` opens
`compute.dispute` on the first wrong leaf it finds. With `grief`, it disputes a leaf of each
committed result, drawn at random, whatever the result (a griefer holding up honest workers: the
committee finds the leaf right and the requester's bond pays for it).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from typing import Final

import numpy as np

from gpu_worker.freivalds import check_result
from gpu_worker.inputs import generate_inputs
from gpu_worker.jobs import JobSpec
from runtime.api import make_call
from runtime.block import Header
from runtime.pallets import compute, market
from runtime.primitives.keys import Keypair
from runtime.workloads import workload_shape
from sim.agents.job_steps import record_step
from sim.agents.published import PublishedResults
from sim.world.context import AgentContext, ChainEvent

log = logging.getLogger("xpl.sim.agents")

ARRIVALS: Final = ("poisson", "fixed")
SEED_BITS: Final = 63
"""Bits of a job's seed (the chain takes a u64)."""


@dataclass(frozen=True, slots=True)
class JobKind:
    """One entry of a requester's mix: a workload and its parameters, drawn by weight."""

    workload: str
    params: tuple[int, ...]
    weight: float = 1.0

    def __post_init__(self) -> None:
        workload_shape(self.workload, self.params)  # WorkloadError naming what is wrong
        if self.weight <= 0:
            raise ValueError(f"job weight must be positive, not {self.weight}")


@dataclass(slots=True)
class _Tracked:
    record: market.Job | None
    audited: bool = False
    outcome: str | None = None
    checked: bool = False


@dataclass
class RequesterAgent:
    """An account that submits jobs and follows them (see the module)."""

    name: str
    key: Keypair
    results: PublishedResults
    jobs: tuple[JobKind, ...]
    rate_per_s: float
    max_price: int
    """Planck per 10^9 cost units."""
    group: str = ""
    process: str = "poisson"
    mode: str = "sampled"
    freivalds: bool = False
    dispute: bool = True
    deadline_blocks: int = 30
    wait_blocks: int = 10
    start_after_ms: int = 0
    """No arrivals before this much simulated time from its start: the first comes one gap
    after it (a scenario's `arrival.start_s`)."""
    grief: bool = False
    """Dispute a random leaf of every committed result, right or wrong."""
    stop_after_ms: int | None = None
    """No arrivals after this much simulated time from its start (None: arrivals go on; a
    scenario's `arrival.stop_s`)."""

    submitted: int = field(default=0, init=False)
    refused: int = field(default=0, init=False)
    _tracked: dict[int, _Tracked] = field(default_factory=dict, init=False)
    _ending: dict[int, _Tracked] = field(default_factory=dict, init=False)
    """Jobs whose end is recorded in a block not yet final: followed again after a reorg."""
    _known: bytes | None = field(default=None, init=False)
    _stop_at_ms: int | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        if self.process not in ARRIVALS:
            raise ValueError(f"unknown arrival process {self.process!r} (one of {ARRIVALS})")
        if self.rate_per_s <= 0 or not self.jobs:
            raise ValueError(f"requester {self.name}: a positive rate and a job mix are needed")
        if self.mode not in market.MODES:
            raise ValueError(f"unknown verification mode {self.mode!r} (one of {market.MODES})")
        if self.start_after_ms < 0 or (
            self.stop_after_ms is not None and self.stop_after_ms < self.start_after_ms
        ):
            raise ValueError(f"requester {self.name}: arrivals must not stop before they start")

    def start(self, ctx: AgentContext) -> None:
        """Schedule the first arrival."""
        if self.stop_after_ms is not None:
            self._stop_at_ms = ctx.now_ms + self.stop_after_ms
        ctx.at(self.start_after_ms + self._gap_ms(ctx), lambda: self._arrive(ctx))

    def sample(self, ctx: AgentContext) -> None:
        """Requesters write no samples: their jobs' steps are in the `jobs` table."""

    def on_block(self, ctx: AgentContext, header: Header) -> None:
        """Follow its jobs through the blocks since the last one."""
        if not ctx.online:
            return
        best = ctx.best_header()
        events = ctx.events_since(self._known)
        if events is not None:
            for block in events:
                for event in block.events:
                    self._on_event(ctx, block.number, event)
        else:
            self._rescan(ctx, best.number)
        self._known = best.hash

    # Arrivals

    def _gap_ms(self, ctx: AgentContext) -> int:
        if self.process == "fixed":
            return max(1, round(1000 / self.rate_per_s))
        return max(1, round(ctx.rng.expovariate(self.rate_per_s) * 1000))

    def _arrive(self, ctx: AgentContext) -> None:
        if self._stop_at_ms is not None and ctx.now_ms > self._stop_at_ms:
            return
        kind = ctx.rng.choices(self.jobs, weights=[k.weight for k in self.jobs])[0]
        seed = ctx.rng.getrandbits(SEED_BITS)
        names = [spec.name for spec in workload_shape(kind.workload, kind.params).inputs]
        call = make_call(
            "market",
            "submit_job",
            kind.workload,
            list(kind.params),
            names,
            [b""] * len(names),
            seed,
            self.max_price,
            self.deadline_blocks,
            self.wait_blocks,
            self.mode,
        )
        if ctx.submit(self.key, call):
            self.submitted += 1
        else:
            self.refused += 1
        ctx.at(self._gap_ms(ctx), lambda: self._arrive(ctx))

    # Following its jobs

    def _on_event(self, ctx: AgentContext, number: int, event: ChainEvent) -> None:
        args = event.args
        if not args or not isinstance(args[0], int):
            return
        job_id = args[0]
        if event.pallet == "market" and event.name == "JobSubmitted":
            if args[1] == self.key.public:
                record = market.Jobs.get(ctx.overlay(), job_id)
                self._tracked[job_id] = _Tracked(record)
                record_step(ctx, "submitted", job_id, number, record)
            return
        tracked = self._tracked.get(job_id)
        if tracked is None:
            return
        if event.pallet == "compute":
            if event.name == "ResultCommitted":
                self._refresh_record(ctx, job_id, tracked)
                if self.grief:
                    self._grief(ctx, job_id, tracked, number)
                elif self.freivalds:
                    self._check(ctx, job_id, tracked, number, bytes(args[2]))
            elif event.name == "ChallengeDrawn" and args[2] is True:
                tracked.audited = True
            elif event.name == "CheckDecided":
                tracked.outcome = str(args[2])
            elif event.name == "JobVoided":
                self._end(ctx, job_id, "failed", number, "void", 0)
            return
        if event.pallet != "market":
            return
        if event.name == "JobMatched":
            self._refresh_record(ctx, job_id, tracked)
        elif event.name == "JobSettled":
            verdict = tracked.outcome or ("pass" if tracked.audited else "unaudited")
            self._end(ctx, job_id, "settled", number, verdict, int(args[2]))
        elif event.name == "JobFailed":
            self._end(ctx, job_id, "failed", number, tracked.outcome or "fail", int(args[3]))
        elif event.name in ("JobExpired", "JobCancelled"):
            self._end(ctx, job_id, "expired", number, None, int(args[1]))

    def _refresh_record(self, ctx: AgentContext, job_id: int, tracked: _Tracked) -> None:
        record = market.Jobs.get(ctx.overlay(), job_id)
        if record is not None:
            tracked.record = record

    def _end(
        self,
        ctx: AgentContext,
        job_id: int,
        step: str,
        number: int,
        verdict: str | None,
        amount: int,
    ) -> None:
        tracked = self._tracked.pop(job_id)
        self._ending[job_id] = tracked

        def final() -> None:
            self._ending.pop(job_id, None)

        record_step(
            ctx, step, job_id, number, tracked.record, verdict=verdict, amount=amount, then=final
        )

    def _rescan(self, ctx: AgentContext, number: int) -> None:
        """Learn its open jobs from the state, and end those that ended meanwhile (after a gap or
        a reorg: the steps in between are not recorded but its submission, and an ended job's
        row has the payment of a settled job, no refund of one that failed or expired). A job
        whose end it saw in a block not yet final is followed again: a reorg may have abandoned
        that block."""
        state = ctx.overlay()
        self._tracked.update(self._ending)
        self._ending.clear()
        for job_id in list(self._tracked):
            tracked = self._tracked[job_id]
            job = market.Jobs.get(state, job_id)
            if job is None or job.requester != self.key.public:
                del self._tracked[job_id]  # not its job on the chain adopted
                continue
            tracked.record = job
            record_step(ctx, "submitted", job_id, job.submitted_at, job)
            if job.state == "settled":
                verdict = tracked.outcome or ("pass" if tracked.audited else "unaudited")
                self._end(ctx, job_id, "settled", number, verdict, job.payment)
            elif job.state == "failed":
                self._end(ctx, job_id, "failed", number, tracked.outcome or "fail", 0)
            elif job.state in ("expired", "cancelled"):
                self._end(ctx, job_id, "expired", number, None, 0)
        for key, raw in ctx.iterate(market.Jobs.prefix):
            job = market.Jobs.decode(raw)
            if job.requester != self.key.public or job.state not in (
                "pending",
                "matched",
                "committed",
            ):
                continue
            job_id = int.from_bytes(market.Jobs.key_suffix(key), "big")
            if job_id not in self._tracked:
                # Submitted in blocks it did not read (a reorg put its submission there).
                self._tracked[job_id] = _Tracked(job)
                record_step(ctx, "submitted", job_id, job.submitted_at, job)

    def _grief(self, ctx: AgentContext, job_id: int, tracked: _Tracked, number: int) -> None:
        """A dispute of a leaf drawn at random, whether or not it is wrong."""
        job = tracked.record
        if job is None or not job.leaves or tracked.checked:
            return
        tracked.checked = True
        leaf = ctx.rng.randrange(job.leaves)
        if ctx.submit(
            self.key,
            make_call("compute", "dispute", job_id, compute.result_digest(job_id, job), leaf),
        ):
            record_step(
                ctx,
                "disputed",
                job_id,
                number,
                job,
                verdict="grief",
                distinct=(self.key.public, leaf),
            )

    def _check(
        self, ctx: AgentContext, job_id: int, tracked: _Tracked, number: int, root: bytes
    ) -> None:
        """Freivalds' check of the committed result; a dispute of its first wrong leaf."""
        job = tracked.record
        leaves = self.results.leaves(root)
        if job is None or leaves is None or tracked.checked:
            return
        tracked.checked = True
        spec = JobSpec(job.workload, job.params, job.seed)
        rng = np.random.default_rng(ctx.rng.getrandbits(64))
        inputs = generate_inputs(job.workload, job.params, job.seed)
        # A result may come with leaves of another size than the job's (a cheater's): as the
        # client does (`find_bad_leaf`), the first leaf of the wrong size is the wrong one.
        sizes = spec.shape.leaf_sizes
        wrong = next(
            (
                i
                for i, (leaf, size) in enumerate(zip(leaves, sizes, strict=False))
                if len(leaf) != size
            ),
            None,
        )
        if wrong is None and len(leaves) == len(sizes):
            wrong = check_result(spec, inputs, leaves, rng=rng)
        if wrong is None or not self.dispute:
            return
        if ctx.submit(
            self.key,
            make_call(
                "compute",
                "dispute",
                job_id,
                compute.result_digest(job_id, replace(job, result_root=root)),
                wrong,
            ),
        ):
            record_step(
                ctx,
                "disputed",
                job_id,
                number,
                job,
                verdict="freivalds",
                distinct=(self.key.public, wrong),
            )


__all__ = ["ARRIVALS", "JobKind", "RequesterAgent"]
