"""A scenario made into a world: the chain spec, the simulated network of validators, the agents.

Everything is drawn from the scenario and the seed through one random stream per purpose
(`stream`), so that adding draws to one purpose leaves every other purpose's draws as they were.
Validators' keys are derived from their index (`//SimValidatorI`), their stakes drawn from the
scenario's distribution; every account the agents sign with is funded at genesis.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from chain.spec import ChainSpec
from chain.storage.kv import KeyValueStore
from runtime import fields
from runtime.pallets.compute import ComputeParams
from runtime.pallets.market import MarketParams
from runtime.pallets.staking import StakingParams
from runtime.primitives.address import encode_address
from runtime.primitives.amount import format_amount
from runtime.primitives.keys import Keypair, keypair_from_suri
from runtime.schema import Record
from sim.network import SimNetwork
from sim.scenario import Scenario, xpl_to_planck
from sim.shared_execution import SharedExecution
from sim.world.context import Agent, AgentContext, RowRecorder
from sim.world.population import populate

SPEC_ID: Final = "sim"
PEERS_PER_NODE: Final = 8
"""The average number of peers a validator gossips with where there are more validators than
that (libp2p gossipsub keeps a mesh of 6 to 12)."""


def stream(seed: int, purpose: str) -> random.Random:
    """The random stream of one purpose of a seed's run (a str seed is hashed with SHA-512, the
    same on every machine and every Python)."""
    return random.Random(f"xpl-sim/{seed}/{purpose}")


def validator_name(index: int) -> str:
    """The node name of validator `index`."""
    return f"v{index}"


def validator_keypair(index: int) -> Keypair:
    """Validator `index`'s stash and session key."""
    return keypair_from_suri(f"//SimValidator{index}")


def params_json(record: type[Record], values: Mapping[str, Any]) -> dict[str, Any]:
    """A pallet's parameters by their Python names as chain-spec JSON (camelCase keys, balances
    as amounts)."""
    by_name = {f.name: f for f in record.schema().fields}
    out: dict[str, Any] = {}
    for name, value in values.items():
        f = by_name[name]
        out[f.camel_name] = format_amount(int(value)) if f.ftype is fields.BALANCE else int(value)
    return out


@dataclass(frozen=True)
class ValidatorPlan:
    """One validator: its node name, keys, bond, region and whether it equivocates."""

    name: str
    key: Keypair
    bond: int
    endowment: int
    """Its genesis balance, the bond held out of it."""
    region: str | None
    equivocate: bool


def plan_validators(scenario: Scenario, seed: int) -> list[ValidatorPlan]:
    """The validators' names, keys, stakes (drawn), endowments and regions; the first
    `equivocating` of them equivocate."""
    v = scenario.validators
    stakes = v.stake.draw(stream(seed, "validators"), v.count)
    regions = scenario.validator_regions()
    return [
        ValidatorPlan(
            name=validator_name(i),
            key=validator_keypair(i),
            bond=xpl_to_planck(stakes[i]),
            endowment=xpl_to_planck(v.endowment_xpl),
            region=regions[i] if i < len(regions) else None,
            equivocate=i < v.equivocating,
        )
        for i in range(v.count)
    ]


def build_spec(
    scenario: Scenario, validators: Sequence[ValidatorPlan], balances: Mapping[bytes, int]
) -> ChainSpec:
    """The chain spec: the validators bonding their stakes, the accounts funded, the chain
    parameters of the scenario (through the spec's JSON form, so that they are checked as a spec
    file's would be)."""
    funded = dict(balances)
    for v in validators:
        funded[v.key.public] = funded.get(v.key.public, 0) + v.endowment
    chain = scenario.chain
    return ChainSpec.from_json(
        {
            "name": f"XPL simulation {scenario.name}"[:128],
            "id": SPEC_ID,
            "chainType": "Local",
            "genesis": {
                "slotDurationMs": scenario.slot_ms,
                "validators": [
                    {"account": encode_address(v.key.public), "bond": format_amount(v.bond)}
                    for v in validators
                ],
                "balances": [
                    [encode_address(who), format_amount(amount)]
                    for who, amount in sorted(funded.items())
                ],
                "market": params_json(MarketParams, chain.market),
                "compute": params_json(ComputeParams, chain.compute),
                "staking": params_json(StakingParams, chain.staking),
            },
        }
    )


def build_network(
    scenario: Scenario,
    seed: int,
    spec: ChainSpec,
    validators: Sequence[ValidatorPlan],
    databases: Callable[[str], KeyValueStore] | None = None,
) -> SimNetwork:
    """The simulated network: the regions and their latencies, every validator placed, with its
    bandwidth, on links of the scenario's loss, duplication and reordering, in a gossip mesh;
    each node's database opened by `databases` (None: in memory)."""
    n = scenario.network
    net = SimNetwork(
        spec,
        seed=stream(seed, "network").getrandbits(64),
        start_ms=0,
        shared=SharedExecution(),
        databases=databases,
    )
    net.set_regions(n.regions, n.latency_ms, n.jitter_ms)
    net.set_link(loss=n.loss, duplicate=n.duplicate, reorder_ms=round(n.reorder_ms))
    for v in validators:
        net.add_node(v.name, v.key, equivocate=v.equivocate)
        if v.region is not None:
            net.place(v.name, v.region)
        if n.bandwidth_mbps is not None:
            net.set_bandwidth(v.name, n.bandwidth_mbps)
    connect(net, [v.name for v in validators], stream(seed, "topology"))
    return net


def connect(net: SimNetwork, names: Sequence[str], rng: random.Random) -> None:
    """Link the validators as a gossip mesh does: all with all up to PEERS_PER_NODE + 1 of
    them; beyond, a ring (so that the mesh is connected) and random links until each node has
    PEERS_PER_NODE peers on average. Flooding costs the links' count per message, so a full
    mesh of 64 would carry eight times what this one does."""
    if len(names) <= PEERS_PER_NODE + 1:
        net.connect_all()
        return
    links: set[tuple[int, int]] = set()
    n = len(names)
    for i in range(n):
        links.add((min(i, (i + 1) % n), max(i, (i + 1) % n)))
    while len(links) < n * PEERS_PER_NODE // 2:
        a, b = rng.sample(range(n), 2)
        links.add((min(a, b), max(a, b)))
    for a, b in sorted(links):
        net.connect(names[a], names[b])


@dataclass
class World:
    """A scenario's network, chain and agents, ready to run."""

    scenario: Scenario
    seed: int
    spec: ChainSpec
    net: SimNetwork
    validators: list[ValidatorPlan]
    start_ms: int
    """The network time at which the run starts (simulated time 0)."""
    agents: list[tuple[Agent, AgentContext]] = field(default_factory=list)
    """Each agent with its context, in the order they start."""

    @property
    def validator_names(self) -> list[str]:
        return [v.name for v in self.validators]

    def t_ms(self) -> int:
        """Simulated time since the start."""
        return self.net.now_ms - self.start_ms

    def agents_at(self, node: str) -> list[tuple[Agent, AgentContext]]:
        """The agents whose home is `node`."""
        return self._homes.get(node, [])

    def __post_init__(self) -> None:
        self._homes: dict[str, list[tuple[Agent, AgentContext]]] = {}
        for agent, ctx in self.agents:
            self._homes.setdefault(ctx.home, []).append((agent, ctx))


def build_world(
    scenario: Scenario,
    seed: int,
    recorder: RowRecorder,
    databases: Callable[[str], KeyValueStore] | None = None,
) -> World:
    """The world of a scenario and seed: spec, network and agents (not started); each node's
    database opened by `databases` (None: in memory)."""
    validators = plan_validators(scenario, seed)
    throughputs = {
        g.name: g.throughput.draw(stream(seed, f"throughput/{g.name}"), g.count)
        for g in scenario.workers
    }
    pop = populate(scenario, [(v.name, v.key, v.region) for v in validators], throughputs)
    spec = build_spec(scenario, validators, pop.endowments)
    net = build_network(scenario, seed, spec, validators, databases)
    agents = [
        (agent, AgentContext(agent.name, net, home, stream(seed, f"agent/{agent.name}"), recorder))
        for agent, home in pop.agents
    ]
    return World(scenario, seed, spec, net, validators, start_ms=net.now_ms, agents=agents)


__all__ = [
    "ValidatorPlan",
    "World",
    "build_network",
    "build_spec",
    "build_world",
    "plan_validators",
    "stream",
    "validator_keypair",
]
