"""A scenario's faults played on the network: its schedule, and faults drawn at random rates.

Scheduled faults (`faults.schedule`) happen at their `at_s`: crash, restart, partition, heal,
skew, loss and equivocate; one with `until_s` is undone then (a crashed node restarts from its
database, a partition heals, a skew returns to zero, the links' loss and duplication return to
the scenario's). `nodes` are validator indices; a partition's groups list validator indices
or region names (a region stands for its validators).

Random faults (`faults.random`): crashes, partitions into two random groups, clock skews (up
to `max_skew_ms` either way) and loss windows (of `loss`) arrive as Poisson processes at their
rates per hour, each lasting an exponential time of mean `mean_down_s`. Everything is drawn
from the faults' own stream, in time order, before the run.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from sim.network import SimNetwork
from sim.scenario import FaultPlan

log = logging.getLogger("xpl.sim.faults")

MS_PER_HOUR: Final = 3_600_000


@dataclass(frozen=True)
class FaultEvent:
    """One thing done to the network at a simulated time."""

    at_ms: int
    kind: str
    nodes: tuple[str, ...] = ()
    groups: tuple[tuple[str, ...], ...] = ()
    skew_ms: int = 0
    loss: float | None = None
    duplicate: float | None = None
    reorder_ms: int | None = None

    def describe(self) -> str:
        """The fault in a few words."""
        text = self.kind
        if self.nodes:
            text += " " + ",".join(self.nodes)
        if self.groups:
            text += " " + " | ".join(",".join(g) for g in self.groups)
        if self.kind == "skew":
            text += f" {self.skew_ms:+} ms"
        if self.loss is not None:
            text += f" loss {self.loss:g}"
        return text


def _members(
    group: Sequence[int | str], validators: Sequence[str], regions: Sequence[str | None]
) -> tuple[str, ...]:
    """A partition group's validators: by index, or every validator in a named region."""
    out: list[str] = []
    for member in group:
        if isinstance(member, int):
            out.append(validators[member])
        else:
            out.extend(v for v, r in zip(validators, regions, strict=True) if r == member)
    return tuple(out)


UNDO: Final = {"crash": "restart", "partition": "heal", "skew": "skew", "loss": "loss"}
"""What ends a fault at its `until_s`."""


def plan_faults(
    faults: FaultPlan,
    validators: Sequence[str],
    regions: Sequence[str | None],
    rng: random.Random,
    duration_ms: int,
    link: tuple[float, float, float],
) -> list[FaultEvent]:
    """Every fault event of a run, in time order (ties in the order they were planned).
    `regions` is each validator's region; `link` the scenario's (loss, duplicate, reorder_ms),
    which a loss window returns to."""
    base_loss, base_duplicate, base_reorder = link
    planned: list[FaultEvent] = []
    for entry in faults.schedule:
        at_ms = round(entry.at_s * 1000)
        nodes = tuple(validators[i] for i in entry.nodes)
        groups = tuple(_members(g, validators, regions) for g in entry.groups)
        planned.append(
            FaultEvent(
                at_ms,
                entry.kind,
                nodes,
                groups,
                entry.skew_ms or 0,
                entry.loss,
                entry.duplicate,
                None if entry.reorder_ms is None else round(entry.reorder_ms),
            )
        )
        if entry.until_s is not None and entry.kind in UNDO:
            until_ms = round(entry.until_s * 1000)
            window = entry.kind == "loss"
            planned.append(
                FaultEvent(
                    until_ms,
                    UNDO[entry.kind],
                    nodes,
                    (),
                    0,
                    base_loss if window else None,
                    base_duplicate if window else None,
                    round(base_reorder) if window else None,
                )
            )
    r = faults.random
    mean_down_ms = r.mean_down_s * 1000
    for kind, rate in (
        ("crash", r.crash_per_hour),
        ("partition", r.partition_per_hour),
        ("skew", r.skew_per_hour),
        ("loss", r.loss_per_hour),
    ):
        t = 0.0
        while rate > 0:
            t += rng.expovariate(rate / MS_PER_HOUR)
            if t >= duration_ms:
                break
            at, until = round(t), round(t + rng.expovariate(1 / mean_down_ms))
            if kind == "crash":
                node = (rng.choice(list(validators)),)
                planned += [FaultEvent(at, "crash", node), FaultEvent(until, "restart", node)]
            elif kind == "partition":
                groups = _random_split(validators, rng)
                planned += [FaultEvent(at, "partition", (), groups), FaultEvent(until, "heal")]
            elif kind == "skew":
                node = (rng.choice(list(validators)),)
                skew = rng.randint(-r.max_skew_ms, r.max_skew_ms)
                planned += [FaultEvent(at, "skew", node, (), skew), FaultEvent(until, "skew", node)]
            else:
                planned += [
                    FaultEvent(at, "loss", loss=r.loss),
                    FaultEvent(until, "loss", loss=base_loss),
                ]
    order = sorted(range(len(planned)), key=lambda i: (planned[i].at_ms, i))
    return [planned[i] for i in order]


def _random_split(validators: Sequence[str], rng: random.Random) -> tuple[tuple[str, ...], ...]:
    """The validators split in two non-empty groups at random."""
    names = list(validators)
    if len(names) < 2:
        return (tuple(names),)
    rng.shuffle(names)
    cut = rng.randint(1, len(names) - 1)
    return (tuple(sorted(names[:cut])), tuple(sorted(names[cut:])))


def apply_fault(net: SimNetwork, fault: FaultEvent) -> None:
    """Do one fault to the network now."""
    log.debug("fault at %d ms: %s", fault.at_ms, fault.describe())
    if fault.kind == "crash":
        for name in fault.nodes:
            net.crash(name)
    elif fault.kind == "restart":
        for name in fault.nodes or [n for n, node in net.nodes.items() if not node.up]:
            net.restart(name)
    elif fault.kind == "partition":
        net.partition(*fault.groups)
    elif fault.kind == "heal":
        net.heal()
    elif fault.kind == "skew":
        for name in fault.nodes:
            net.set_clock_skew(name, fault.skew_ms)
    elif fault.kind == "loss":
        net.set_link(loss=fault.loss, duplicate=fault.duplicate, reorder_ms=fault.reorder_ms)
    elif fault.kind == "equivocate":
        # A core takes its equivocation at its start: the node restarts at once, from its
        # database, as an equivocator.
        for name in fault.nodes:
            node = net.nodes[name]
            node.equivocate = True
            if node.up:
                net.crash(name)
                net.restart(name)
    else:
        raise ValueError(f"unknown fault kind {fault.kind!r}")


__all__ = ["FaultEvent", "apply_fault", "plan_faults"]
