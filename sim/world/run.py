"""A simulation run: the world built from a scenario and seed, driven to its duration.

The run advances the network slot by slot on the simulated clock. Faults (the scenario's
schedule and its random rates, drawn before the run) are events on the network's queue; so are
the samples taken every `outputs.sample_every_s` (messages per topic, the economics, each
agent's `sample`). Agents see each new best block of their home node through the network's
observer. Invariants are judged after every block on every node; the first violation stops the
run, which returns with it. A KeyboardInterrupt (Ctrl-C) closes the recorder, so that every
table written so far is complete, and is raised on.

Nothing here reads the wall clock but the progress report and the summary's `wall_s`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Final

from runtime.block import Header
from sim.invariants import InvariantViolated, Violation, replay_command
from sim.node_databases import NodeDatabases
from sim.plots import write_plots
from sim.results import SCENARIO_FILE, SimResult
from sim.scenario import Scenario, resolved_toml
from sim.summary import summarize, write_summary
from sim.tables import Recorder
from sim.world.build import World, build_world, stream
from sim.world.context import Agent, AgentContext
from sim.world.fault_plan import FaultEvent, apply_fault, plan_faults
from sim.world.observation import Observation

log = logging.getLogger("xpl.sim")

DEFAULT_SAMPLE_EVERY_MS: Final = 10_000
"""How often the world samples where the scenario does not say (simulated milliseconds)."""


@dataclass(frozen=True)
class Progress:
    """Where a run stands: simulated time, its end, the first validator's heights."""

    t_ms: int
    end_ms: int
    best: int
    finalized: int
    blocks: int


class Simulation:
    """One run of a scenario with a seed."""

    def __init__(
        self,
        scenario: Scenario,
        *,
        seed: int,
        out: Path | None,
        stop_at_ms: int | None = None,
        source: str = "SCENARIO.toml",
        overrides: Sequence[str] = (),
        on_progress: Callable[[Progress], None] | None = None,
        recorder: Recorder | None = None,
        databases: NodeDatabases | None = None,
    ) -> None:
        self.scenario = scenario
        self.seed = seed
        self.out = out
        self.duration_ms = round(scenario.duration_s * 1000)
        self.end_ms = self.duration_ms if stop_at_ms is None else min(stop_at_ms, self.duration_ms)
        self.source = source
        """The scenario's file, as the replay command names it."""
        self.overrides = tuple(overrides)
        self.on_progress = on_progress
        outputs = scenario.outputs
        self.recorder = recorder or Recorder(
            out, flush_rows=outputs.flush_rows, tables=outputs.tables
        )
        sample_s = getattr(outputs, "sample_every_s", None)
        self.sample_every_ms = round(sample_s * 1000) if sample_s else DEFAULT_SAMPLE_EVERY_MS
        self.databases = databases or NodeDatabases(scenario.store)
        """The validators' databases: closed (and their directory removed) when the run ends."""
        self.world: World | None = None
        self.observation: Observation | None = None
        self._messages_seen: dict[str, tuple[int, int, int]] = {}

    def replay(self, t_ms: int) -> str:
        """The command that replays this run to simulated time `t_ms`."""
        return replay_command(self.source, self.seed, self.overrides, t_ms)

    def run(self) -> SimResult:
        """Run to the duration (or the stop time); stop at the first violated invariant."""
        started = time.perf_counter()
        violation: Violation | None = None
        if self.out is not None:
            self.out.mkdir(parents=True, exist_ok=True)
            (self.out / SCENARIO_FILE).write_text(resolved_toml(self.scenario))
        try:
            world = self.world = build_world(
                self.scenario, self.seed, self.recorder, self.databases.open
            )
            observation = self.observation = Observation(
                world, self.recorder, self.replay, self._on_best
            )
            world.net.add_observer(observation)
            for agent, ctx in world.agents:
                agent.start(ctx)
            self._schedule_faults(world)
            world.net.schedule(self.sample_every_ms, self._sample)
            try:
                self._drive(world)
                # Each worker's last row holds its books at the end (those it booked after the
                # last sample too), as the jobs table does.
                for agent, ctx in world.agents:
                    agent.sample(ctx)
            except InvariantViolated as exc:
                violation = exc.violation
        finally:
            self.recorder.close()
            self.databases.close()
        return self._result(violation, time.perf_counter() - started)

    def _drive(self, world: World) -> None:
        slot_ms = world.spec.genesis.slot_duration_ms
        t = 0
        while t < self.end_ms:
            t = min(t + slot_ms, self.end_ms)
            world.net.run_until(world.start_ms + t)
            if self.on_progress is not None:
                self.on_progress(self.progress())

    def progress(self) -> Progress:
        """Where the run stands now."""
        assert self.world is not None and self.observation is not None
        heights = self.observation.heights.get(self.world.validator_names[0], (0, 0))
        return Progress(
            self.world.t_ms(), self.end_ms, heights[0], heights[1], self.observation.blocks_recorded
        )

    def _schedule_faults(self, world: World) -> None:
        n = self.scenario.network
        faults = plan_faults(
            self.scenario.faults,
            world.validator_names,
            [v.region for v in world.validators],
            stream(self.seed, "faults"),
            self.duration_ms,
            (n.loss, n.duplicate, n.reorder_ms),
        )
        for fault in faults:
            world.net.schedule(fault.at_ms, self._fault_action(world, fault))

    @staticmethod
    def _fault_action(world: World, fault: FaultEvent) -> Callable[[], None]:
        return lambda: apply_fault(world.net, fault)

    def _on_best(self, node: str, header: Header) -> None:
        """A node's new best block, for the agents whose home it is: each is told at once after
        the node's step (on the queue, not inside the network's handling of the import)."""
        assert self.world is not None
        for agent, ctx in self.world.agents_at(node):
            self.world.net.schedule(0, self._tell(agent, ctx, header))

    @staticmethod
    def _tell(agent: Agent, ctx: AgentContext, header: Header) -> Callable[[], None]:
        def tell() -> None:
            if ctx.online:
                agent.on_block(ctx, header)

        return tell

    def _sample(self) -> None:
        assert self.world is not None and self.observation is not None
        t_ms = self.world.t_ms()
        stats = self.world.net.message_stats
        for topic, (messages, size, lost) in stats.items():
            seen = self._messages_seen.get(topic, (0, 0, 0))
            if (messages, size, lost) != seen:
                self.recorder.row(
                    "messages",
                    t_ms=t_ms,
                    topic=topic,
                    messages=messages - seen[0],
                    bytes=size - seen[1],
                    lost=lost - seen[2],
                )
        self._messages_seen = dict(stats)
        self.observation.record_economics()
        for agent, ctx in self.world.agents:
            agent.sample(ctx)
        self.world.net.schedule(self.sample_every_ms, self._sample)

    def state_root(self) -> str:
        """The state root of the first validator's finalized block, hex."""
        if self.observation is None:
            return ""
        return self.observation.final_header.state_root.hex()

    def _result(self, violation: Violation | None, wall_s: float) -> SimResult:
        """The result; with a directory, its summary and plots written there too."""
        digest = self.recorder.digest()
        frames = self.recorder.frames()
        state_root = self.state_root()
        summary = summarize(
            frames,
            scenario=self.scenario,
            seed=self.seed,
            digest=digest,
            state_root=state_root,
            wall_s=wall_s,
        )
        summary["stopped_at_ms"] = self.world.t_ms() if self.world is not None else 0
        if violation is not None:
            summary["violation"] = asdict(violation)
        if self.out is not None:
            write_summary(self.out, summary)
            if self.scenario.outputs.plots:
                write_plots(self.out, frames)
        return SimResult(
            scenario=self.scenario,
            seed=self.seed,
            digest=digest,
            state_root=state_root,
            summary=summary,
            out=self.out,
            violation=violation,
            frames=frames,
        )


__all__ = ["Progress", "Simulation"]
