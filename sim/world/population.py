"""The agents of a scenario: a committee member on every validator, the worker and requester
groups, each agent with its key, its genesis endowment and its home node.

An agent's key is derived from its group and index (`//SimWorker-GROUP-I`,
`//SimRequester-GROUP-I`); its home is a validator of its region, in turn (any validator, in
turn, where none is in its region); its random stream is its own (`stream(seed, "agent/NAME")`).
Throughputs are drawn from each group's distribution on the group's stream.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Final

from runtime.primitives.keys import Keypair, keypair_from_suri
from sim.agents import (
    CommitteeMember,
    JobKind,
    Pricing,
    PublishedResults,
    RequesterAgent,
    WorkerAgent,
    WorkerStrategy,
)
from sim.scenario import RequesterGroup, Scenario, WorkerGroup, xpl_to_planck
from sim.world.context import Agent

PPM: Final = 1_000_000


@dataclass
class Population:
    """The agents to place, each with its home node, and the accounts to endow at genesis."""

    results: PublishedResults = field(default_factory=PublishedResults)
    agents: list[tuple[Agent, str]] = field(default_factory=list)
    """(agent, home node) in the order they start."""
    endowments: dict[bytes, int] = field(default_factory=dict)


def worker_keypair(group: str, index: int) -> Keypair:
    return keypair_from_suri(f"//SimWorker-{group}-{index}")


def requester_keypair(group: str, index: int) -> Keypair:
    return keypair_from_suri(f"//SimRequester-{group}-{index}")


class Homes:
    """Hands out home nodes: the validators of a region in turn."""

    def __init__(self, validators: Sequence[tuple[str, str | None]]) -> None:
        self.by_region: dict[str | None, list[str]] = {}
        for name, region in validators:
            self.by_region.setdefault(region, []).append(name)
        self.all = [name for name, _ in validators]
        self.turn: dict[str | None, int] = {}

    def next(self, region: str | None) -> str:
        names = self.by_region.get(region) or self.all
        i = self.turn.get(region, 0)
        self.turn[region] = i + 1
        return names[i % len(names)]


def worker_pricing(group: WorkerGroup) -> Pricing:
    """The agent's pricing from the group's, in planck per gunit: fixed asks its price;
    cost_plus its cost plus the markup; undercut follows the lowest other ask, never below its
    cost (its price where it states no cost). A cost of 0 is not modelled."""
    p = group.pricing
    price = xpl_to_planck(p.price_xpl_per_gunit)
    cost = xpl_to_planck(p.cost_xpl_per_gunit) or None
    if p.policy == "fixed":
        return Pricing("fixed", price, cost=cost)
    if p.policy == "cost_plus":
        assert cost is not None  # the schema requires a cost for cost_plus
        return Pricing("cost_plus", cost, markup_ppm=round(p.markup * PPM), cost=cost)
    return Pricing("undercut", cost or price, undercut_ppm=round(p.undercut * PPM), cost=cost)


def worker_strategy(group: WorkerGroup) -> WorkerStrategy:
    s = group.strategy
    return WorkerStrategy(
        kind=s.kind,
        fraction=s.fraction,
        offline_after_ms=None if s.offline_after_s is None else round(s.offline_after_s * 1000),
        crash_every_ms=None if s.crash_every_s is None else round(s.crash_every_s * 1000),
        down_for_ms=round(s.down_for_s * 1000),
    )


def populate(
    scenario: Scenario,
    validators: Sequence[tuple[str, Keypair, str | None]],
    throughput_streams: dict[str, list[float]],
) -> Population:
    """Every agent of the scenario; `throughput_streams` holds each worker group's drawn
    throughputs."""
    pop = Population()
    homes = Homes([(name, region) for name, _, region in validators])
    behaviours = scenario.validators.committee_behaviours()
    for (name, key, _), behaviour in zip(validators, behaviours, strict=True):
        member = CommitteeMember(f"committee-{name}", key, pop.results, behaviour=behaviour)
        pop.agents.append((member, name))
    for group in scenario.workers:
        _add_workers(pop, scenario, group, homes, throughput_streams[group.name])
    for rgroup in scenario.requesters:
        _add_requesters(pop, scenario, rgroup, homes)
    return pop


def _add_workers(
    pop: Population, scenario: Scenario, group: WorkerGroup, homes: Homes, drawn: list[float]
) -> None:
    regions = scenario.group_regions(group)
    strategy, pricing = worker_strategy(group), worker_pricing(group)
    for i in range(group.count):
        key = worker_keypair(group.name, i)
        agent = WorkerAgent(
            f"{group.name}-{i}",
            key,
            pop.results,
            group=group.name,
            strategy=strategy,
            pricing=pricing,
            stake=xpl_to_planck(group.stake_xpl),
            workloads=tuple(group.workloads),
            throughput=max(1, round(drawn[i])),
            capacity=group.capacity,
        )
        pop.agents.append((agent, homes.next(regions[i])))
        pop.endowments[key.public] = xpl_to_planck(group.endowment_xpl)


def _add_requesters(
    pop: Population, scenario: Scenario, group: RequesterGroup, homes: Homes
) -> None:
    if group.arrival.rate_per_s <= 0:
        return  # a group that submits nothing needs no agents
    regions = scenario.group_regions(group)
    jobs = tuple(JobKind(j.workload, tuple(j.params), j.weight) for j in group.jobs)
    for i in range(group.count):
        key = requester_keypair(group.name, i)
        agent = RequesterAgent(
            f"{group.name}-{i}",
            key,
            pop.results,
            jobs=jobs,
            rate_per_s=group.arrival.rate_per_s,
            max_price=xpl_to_planck(group.max_price_xpl_per_gunit),
            group=group.name,
            process=group.arrival.process,
            mode=group.mode,
            freivalds=group.freivalds,
            dispute=group.dispute,
            grief=group.grief,
            deadline_blocks=group.deadline_blocks,
            wait_blocks=group.wait_blocks,
            start_after_ms=group.arrival.start_ms,
            stop_after_ms=group.arrival.stop_ms,
        )
        pop.agents.append((agent, homes.next(regions[i])))
        pop.endowments[key.public] = xpl_to_planck(group.endowment_xpl)


__all__ = ["Population", "populate", "requester_keypair", "worker_keypair"]
