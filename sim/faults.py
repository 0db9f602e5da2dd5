"""Random fault schedules over the simulated network, and the checks that judge a run.

A schedule is what one seed draws: four validators of the local spec (one of them, if asked,
equivocating), a link model per link (latency spread, loss, duplicates, long delays), then 4 to
12 steps, each a fault (a crash, a restart, a partition of any shape, a heal, or nothing)
followed by 1 to 20 slots. After the last step every partition is healed, every node restarted
and the default link model restored, and more slots run.

`run_schedule` plays a schedule on a `SimNetwork` and checks, after every slot, that finality is
safe (no two nodes finalize different blocks at one height, and no node's finality goes back);
after the final heal, with every validator up and connected, it counts the slots until every
node has finalized a block above the highest one finalized before: a run whose finality does not
resume within the slots it is given has stalled. The seed determines the whole run.

It reads the network only through `SimNetwork`'s public methods and the node cores' best and
finalized headers, so it judges any voter the cores run.
"""

from __future__ import annotations

import itertools
import random
import traceback
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Final

from chain.spec import ChainSpec, local_spec
from runtime.primitives.keys import Keypair, keypair_from_suri
from sim.network import LinkModel, SimNetwork

NAMES: Final = ("Alice", "Bob", "Charlie", "Dave")
"""The validators of every schedule, in the order the local spec lists them."""

MIN_STEPS: Final = 4
MAX_STEPS: Final = 12
MAX_STEP_SLOTS: Final = 20
"""The most slots a step runs after its fault."""

MAX_LATENCY_SPREAD_MS: Final = 1_500
"""The widest latency range of a link: messages sent within it arrive in any order."""
MAX_LOSS: Final = 0.4
MAX_DUPLICATE: Final = 0.2
MAX_LONG_DELAY: Final = 0.02
"""The highest chance that a message is held back by a long delay (seconds, not milliseconds)."""

DEFAULT_SLOTS_AFTER_HEAL: Final = 60
"""Slots run after the final heal: finality that has not resumed by then has stalled."""
RESTALL_SLOTS: Final = 20
"""Finality that resumed and then made no progress for this many slots before the end of the
run has stalled again (counted as a stall too; a run of fewer slots after the heal is not
judged this way)."""


# Faults


@dataclass(frozen=True, slots=True)
class Crash:
    """Stop a node at once; it keeps only its database."""

    node: str

    def apply(self, net: SimNetwork) -> None:
        net.crash(self.node)

    def describe(self, net: SimNetwork) -> str:
        return f"crash {self.node}" + ("" if net.nodes[self.node].up else " (already down)")


@dataclass(frozen=True, slots=True)
class Restart:
    """Start a crashed node again from its database."""

    node: str

    def apply(self, net: SimNetwork) -> None:
        net.restart(self.node)

    def describe(self, net: SimNetwork) -> str:
        return f"restart {self.node}" + (" (already up)" if net.nodes[self.node].up else "")


@dataclass(frozen=True, slots=True)
class Partition:
    """Cut every link between nodes of different groups (cuts made before stay cut)."""

    groups: tuple[tuple[str, ...], ...]

    def apply(self, net: SimNetwork) -> None:
        net.partition(*self.groups)

    def describe(self, net: SimNetwork) -> str:
        return "partition " + " vs ".join("{" + ", ".join(g) + "}" for g in self.groups)


@dataclass(frozen=True, slots=True)
class Heal:
    """Restore every cut link."""

    def apply(self, net: SimNetwork) -> None:
        net.heal()

    def describe(self, net: SimNetwork) -> str:
        return "heal"


@dataclass(frozen=True, slots=True)
class Nothing:
    """No fault: the step only runs its slots."""

    def apply(self, net: SimNetwork) -> None:
        pass

    def describe(self, net: SimNetwork) -> str:
        return "nothing"


Fault = Crash | Restart | Partition | Heal | Nothing


@dataclass(frozen=True, slots=True)
class Step:
    """A fault, then `slots` slots of the network running."""

    fault: Fault
    slots: int


@dataclass(frozen=True)
class Schedule:
    """Everything a run does, drawn from `seed` (or written out, as a test does)."""

    seed: int
    steps: tuple[Step, ...]
    link: LinkModel = field(default_factory=LinkModel)
    """The link model of every link that `links` does not name."""
    links: tuple[tuple[str, str, LinkModel], ...] = ()
    network_seed: int = 0
    """The seed of the network's own randomness (latencies, losses)."""
    equivocator: str | None = None
    """The validator that casts two prevotes in every round, if any."""


def partitions_of(names: Sequence[str]) -> list[tuple[tuple[str, ...], ...]]:
    """Every way to split `names` into two or more non-empty groups (14 for four names)."""

    def splits(rest: Sequence[str]) -> Iterator[list[list[str]]]:
        if not rest:
            yield []
            return
        first, *others = rest
        for smaller in splits(others):
            yield [[first], *smaller]
            for i in range(len(smaller)):
                yield [*smaller[:i], [first, *smaller[i]], *smaller[i + 1 :]]

    found = {
        tuple(sorted(tuple(sorted(g, key=names.index)) for g in split))
        for split in splits(list(names))
        if len(split) > 1
    }
    return sorted(found, key=lambda groups: (sorted(map(len, groups)), groups))


PARTITIONS: Final = partitions_of(NAMES)
"""Every partition shape of the four validators: 1|3, 2|2, 1|1|2 and 1|1|1|1, each way round."""


def random_link(rng: random.Random) -> LinkModel:
    """A link model with a random latency spread, loss, duplicates and, sometimes, long delays."""
    low = rng.randint(1, 50)
    spread = rng.randint(0, MAX_LATENCY_SPREAD_MS)
    long_delay = rng.uniform(0.0, MAX_LONG_DELAY) if rng.random() < 0.3 else 0.0
    return LinkModel(
        latency_ms=(low, low + spread),
        loss=round(rng.uniform(0.0, MAX_LOSS), 3),
        duplicate=round(rng.uniform(0.0, MAX_DUPLICATE), 3),
        long_delay=round(long_delay, 4),
        long_delay_ms=(3_000, rng.randint(5_000, 20_000)),
    )


def random_fault(rng: random.Random) -> Fault:
    kind = rng.choice(("crash", "restart", "partition", "heal", "nothing"))
    if kind == "crash":
        return Crash(rng.choice(NAMES))
    if kind == "restart":
        return Restart(rng.choice(NAMES))
    if kind == "partition":
        return Partition(rng.choice(PARTITIONS))
    return Heal() if kind == "heal" else Nothing()


def generate_schedule(seed: int, *, equivocator: bool = False) -> Schedule:
    """The schedule that `seed` draws; with `equivocator`, one validator equivocates."""
    rng = random.Random(seed)
    link = random_link(rng)
    links: tuple[tuple[str, str, LinkModel], ...] = ()
    if rng.random() < 0.5:  # half the schedules give each link its own model
        links = tuple((a, b, random_link(rng)) for a, b in itertools.combinations(NAMES, 2))
    steps = tuple(
        Step(random_fault(rng), rng.randint(1, MAX_STEP_SLOTS))
        for _ in range(rng.randint(MIN_STEPS, MAX_STEPS))
    )
    return Schedule(
        seed=seed,
        steps=steps,
        link=link,
        links=links,
        network_seed=rng.getrandbits(32),
        equivocator=rng.choice(NAMES) if equivocator else None,
    )


# Checking


class SafetyMonitor:
    """Finality's safety, checked after every slot: no two blocks finalized at one height, by
    one node or two, and no node's finalized block lower than one it finalized before."""

    def __init__(self) -> None:
        self._by_height: dict[int, tuple[str, bytes]] = {}
        self._highest: dict[str, int] = {}

    def check(self, net: SimNetwork) -> list[str]:
        """What is wrong now (empty while finality is safe)."""
        problems = list(net.conflicting_finality())
        for name, node in net.nodes.items():
            if node.core is None:
                continue
            header = node.core.finalized_header
            highest = self._highest.get(name, 0)
            if header.number < highest:
                problems.append(f"{name}'s finality went back from #{highest} to #{header.number}")
            self._highest[name] = max(highest, header.number)
            seen = self._by_height.setdefault(header.number, (name, header.hash))
            if seen[1] != header.hash:
                problems.append(
                    f"#{header.number}: {seen[0]} and {name} finalized different blocks"
                )
        return problems


# Running


@dataclass(frozen=True, slots=True)
class NodeState:
    """A node's best and finalized block numbers, or None while it is down."""

    best: int
    finalized: int


@dataclass(frozen=True)
class StepReport:
    """Where the network stands after one step (or the final heal, `index` None)."""

    index: int | None
    fault: str
    slots: int
    nodes: dict[str, NodeState | None]


@dataclass(frozen=True)
class Outcome:
    """What one schedule's run showed."""

    seed: int
    equivocator: bool
    slots_after_heal: int
    violations: tuple[str, ...] = ()
    """Safety violations, each with the step and slot where it was seen (the run stops there)."""
    error: str | None = None
    """The exception that a node raised out of the run, if one did (the run stops there)."""
    resumed_after: int | None = None
    """Slots after the final heal until every node finalized a block above the highest one
    finalized before it; None if that did not happen within the run."""
    restalled: bool = False
    """Finality resumed, then made no progress in the last RESTALL_SLOTS slots of the run."""
    finalized_at_heal: int = 0
    final: dict[str, NodeState | None] = field(default_factory=dict)

    @property
    def stalled(self) -> bool:
        return (
            self.error is None
            and not self.violations
            and (self.resumed_after is None or self.restalled)
        )

    @property
    def failed(self) -> bool:
        return bool(self.violations) or self.error is not None or self.stalled

    def verdict(self) -> str:
        """One line: how the run ended."""
        if self.violations:
            return "SAFETY VIOLATION: " + "; ".join(self.violations)
        if self.error is not None:
            return "ERROR: " + self.error
        if self.resumed_after is None:
            return (
                f"STALL: finality stayed at #{self.finalized_at_heal} for "
                f"{self.slots_after_heal} slots after the heal"
            )
        if self.restalled:
            return (
                f"STALL: finality resumed after {self.resumed_after} slots, then stopped for "
                f"the last {RESTALL_SLOTS} slots"
            )
        return f"ok: finality resumed {self.resumed_after} slots after the heal"


@cache
def _spec() -> ChainSpec:
    return local_spec(validators=len(NAMES))


@cache
def _key(name: str) -> Keypair:
    return keypair_from_suri("//" + name)


def build_network(schedule: Schedule, network_type: type[SimNetwork] = SimNetwork) -> SimNetwork:
    """The four validators, connected, on the schedule's links."""
    net = network_type(_spec(), seed=schedule.network_seed, link=schedule.link)
    for a, b, model in schedule.links:
        net.links[frozenset((a, b))] = model
    for name in NAMES:
        net.add_node(name, _key(name), equivocate=name == schedule.equivocator)
    net.connect_all()
    return net


def node_states(net: SimNetwork) -> dict[str, NodeState | None]:
    """Each node's best and finalized numbers (None while down)."""
    return {
        name: None
        if node.core is None
        else NodeState(node.core.best_header.number, node.core.finalized_header.number)
        for name, node in net.nodes.items()
    }


class FinalityWatch:
    """After the final heal: the slot at which finality resumed, and the last at which it
    went on."""

    def __init__(self, mark: int) -> None:
        self.mark = mark
        """The highest block any node had finalized at the heal."""
        self.resumed_after: int | None = None
        """The first slot after which every node had finalized a block above `mark`."""
        self.last_progress = 0
        """The last slot after which the lowest finalized block of the nodes was higher."""
        self._lowest = mark

    def observe(self, net: SimNetwork, slot: int) -> None:
        lowest = min(n.core.finalized_header.number for n in net.nodes.values() if n.core)
        if lowest > self.mark and self.resumed_after is None:
            self.resumed_after = slot
        if lowest > self._lowest:
            self._lowest, self.last_progress = lowest, slot


class _Unsafe(Exception):
    """Safety broke: the run stops."""


def run_schedule(
    schedule: Schedule,
    *,
    slots_after_heal: int = DEFAULT_SLOTS_AFTER_HEAL,
    on_step: Callable[[StepReport], None] | None = None,
    network: Callable[[Schedule], SimNetwork] = build_network,
) -> Outcome:
    """Play `schedule`, checking safety after every slot and, after the final heal, how many
    slots finality takes to resume. `on_step` sees where the network stands after each step."""
    net = network(schedule)
    slot_ms = _spec().genesis.slot_duration_ms
    monitor = SafetyMonitor()
    where = "start"

    def run_slots(slots: int, each: Callable[[int], None] | None = None) -> None:
        for slot in range(1, slots + 1):
            net.run_for(slot_ms)
            problems = monitor.check(net)
            if problems:
                raise _Unsafe(*(f"{where}, slot {slot}: {p}" for p in problems))
            if each is not None:
                each(slot)

    def report(index: int | None, fault: str, slots: int) -> None:
        if on_step is not None:
            on_step(StepReport(index, fault, slots, node_states(net)))

    equivocator = schedule.equivocator is not None
    watch = FinalityWatch(0)
    try:
        for index, step in enumerate(schedule.steps):
            where = f"step {index}"
            fault = step.fault.describe(net)
            step.fault.apply(net)
            run_slots(step.slots)
            report(index, fault, step.slots)
        where = "after the heal"
        net.heal()
        for name in NAMES:
            net.restart(name)
        net.link = LinkModel()
        net.links.clear()
        watch = FinalityWatch(max(s.finalized for s in node_states(net).values() if s is not None))
        run_slots(slots_after_heal, lambda slot: watch.observe(net, slot))
        report(None, "heal all, restart all, clean links", slots_after_heal)
    except _Unsafe as unsafe:
        return Outcome(
            schedule.seed,
            equivocator,
            slots_after_heal,
            violations=unsafe.args,
            finalized_at_heal=watch.mark,
            final=node_states(net),
        )
    except Exception as exc:  # a node raising is a finding, not the end of the fuzz
        last = traceback.extract_tb(exc.__traceback__)[-1]
        return Outcome(
            schedule.seed,
            equivocator,
            slots_after_heal,
            error=f"{where}: {type(exc).__name__}: {exc} ({last.filename}:{last.lineno})",
            finalized_at_heal=watch.mark,
            final=node_states(net),
        )
    return Outcome(
        schedule.seed,
        equivocator,
        slots_after_heal,
        resumed_after=watch.resumed_after,
        restalled=watch.resumed_after is not None
        and slots_after_heal - watch.last_progress >= RESTALL_SLOTS,
        finalized_at_heal=watch.mark,
        final=node_states(net),
    )


__all__ = [
    "DEFAULT_SLOTS_AFTER_HEAL",
    "NAMES",
    "PARTITIONS",
    "Crash",
    "Fault",
    "Heal",
    "NodeState",
    "Nothing",
    "Outcome",
    "Partition",
    "Restart",
    "SafetyMonitor",
    "Schedule",
    "Step",
    "StepReport",
    "build_network",
    "generate_schedule",
    "node_states",
    "partitions_of",
    "run_schedule",
]
