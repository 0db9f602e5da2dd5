"""A node joining far behind syncs at its normal speed with a lying peer among its peers.

The liar follows the chain as any full node does, but answers requests for the others: its status
claims best block #4294967295, and it answers range requests with one block the joining node
already has, with nothing, not at all, or with one new block at a time. Two nodes join at the
same instant, one with the liar among its peers and one without, and both are timed to the tip in
the same run.
"""

from __future__ import annotations

import copy
import types
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from chain.core.messages import (
    PROTOCOL_STATUS,
    PROTOCOL_SYNC,
    BlockRequest,
    Status,
    SyncedBlock,
    encode_blocks,
)
from chain.spec import local_spec
from runtime.primitives.keys import keypair_from_suri
from sim.network import LinkModel, SimNetwork
from sim.shared_execution import SharedExecution

HONEST = ("Alice", "Bob", "Charlie")
SPEC = local_spec(validators=len(HONEST))
SLOT_MS = SPEC.genesis.slot_duration_ms
BEHIND = 600
"""Blocks the joining nodes start behind the tip."""
HUGE_BEST = 2**32 - 1
LIAR = "Liar"
WITH_LIAR, WITHOUT_LIAR = "Joiner", "Plain"
MAX_EXTRA_SLOTS = 2
"""How much later than the node without a liar the node with one may reach the tip."""
HONEST_SCORE_FLOOR = -20
"""The most an honest peer may be charged while a node syncs (the network bans at -100)."""


def lying_responder(
    net: SimNetwork, answer: str, asked: list[tuple[str, BlockRequest]]
) -> Callable[[str, str, bytes], bytes | None]:
    """The liar's answers: a huge best in its status, and `answer` to every block request."""

    def respond(requester: str, protocol: str, data: bytes) -> bytes | None:
        core = net.core(LIAR)
        if protocol == PROTOCOL_STATUS:
            real = core.status()
            return Status(
                real.genesis_hash,
                HUGE_BEST,
                real.best_hash,
                real.finalized_number,
                real.finalized_hash,
                real.authority,
            ).encode()
        if protocol == PROTOCOL_SYNC:
            asked.append((requester, BlockRequest.decode(data)))
            if answer == "silence":
                return None
            if answer == "nothing":
                return encode_blocks([])
            if answer == "one new block at a time":
                request = BlockRequest.decode(data)
                one = BlockRequest(request.start, request.descending, 1, request.bodies)
                return core.on_request(requester, protocol, one.encode(), net.now_ms)
            genesis = core.store.require_header(core.store.hash_at(0) or b"")
            body = core.store.body(genesis.hash)
            return encode_blocks([SyncedBlock(genesis, body, None)])
        return core.on_request(requester, protocol, data, net.now_ms)

    return respond


def slots_to_tip(net: SimNetwork, names: tuple[str, ...], limit_slots: int) -> dict[str, float]:
    """Slots each node takes to come within a block of Alice's best (inf if it never does)."""
    start = net.now_ms
    reached: dict[str, float] = {}
    step = SLOT_MS // 10
    while net.now_ms - start < limit_slots * SLOT_MS and len(reached) < len(names):
        net.run_for(step)
        tip = net.core("Alice").best_header.number
        for name in names:
            if name not in reached and net.core(name).best_header.number >= tip - 1:
                reached[name] = (net.now_ms - start) / SLOT_MS
    return {name: reached.get(name, float("inf")) for name in names}


@dataclass
class SyncRace:
    """Two nodes that joined at once, 600 blocks behind, one with a liar among its peers."""

    net: SimNetwork
    took: dict[str, float]
    """Slots each took to the tip."""
    asked: list[tuple[str, BlockRequest]]
    """The block requests the liar was sent, by whom."""


def copy_network(net: SimNetwork) -> SimNetwork:
    """A copy of `net` that shares nothing with it, the events it has queued included.

    `copy.deepcopy` copies a function as itself, so a queued closure over the network (a request's
    `serve`, its timeout's `respond`) would act on the original; each one reachable from the queue
    is copied first with its cells, and the deep copy of the network then takes those copies.
    """
    memo: dict[int, Any] = {}
    closures: list[tuple[types.FunctionType, types.FunctionType]] = []
    reachable: list[object] = [event for _, _, event in net._queue]
    while reachable:
        f = reachable.pop()
        if not isinstance(f, types.FunctionType) or f.__closure__ is None or id(f) in memo:
            continue
        cells = tuple(types.CellType() for _ in f.__closure__)
        shell = types.FunctionType(f.__code__, f.__globals__, f.__name__, f.__defaults__, cells)
        memo[id(f)] = shell
        closures.append((f, shell))
        reachable.extend(cell.cell_contents for cell in f.__closure__)
    for f, shell in closures:
        for old, new in zip(f.__closure__ or (), shell.__closure__ or (), strict=True):
            new.cell_contents = copy.deepcopy(old.cell_contents, memo)
    return copy.deepcopy(net, memo)


def fingerprint(net: SimNetwork) -> tuple[object, ...]:
    """What running a copy of `net` would change in `net` if the copy shared anything with it."""
    heads = tuple(
        (name, node.core and node.core.best_header.hash) for name, node in net.nodes.items()
    )
    return net.now_ms, net.delivered, net.lost, net._seq, len(net._queue), net.rng.getstate(), heads


BUILT: dict[tuple[int, str], tuple[SimNetwork, tuple[object, ...]]] = {}


def chain_behind(seed: int, link: LinkModel) -> tuple[SimNetwork, tuple[object, ...]]:
    """The honest validators and the liar BEHIND blocks into the chain, and its fingerprint.

    Built once for every race of a seed and link (most of a race's time), each race running on a
    copy of it; the fingerprint shows no race changed it.
    """
    key = (seed, repr(link))
    if key in BUILT:
        return BUILT[key]
    # The nodes share block executions (`sim.shared_execution`): the same run, a quarter faster.
    net = SimNetwork(SPEC, seed=seed, link=link, shared=SharedExecution())
    for name in HONEST:
        net.add_node(name, keypair_from_suri("//" + name))
    net.add_node(LIAR)
    net.connect_all()
    net.run_for(BEHIND * SLOT_MS)
    assert net.core("Alice").best_header.number >= BEHIND - 5
    assert net.core(LIAR).best_header.number >= BEHIND - 6  # it follows the chain
    BUILT[key] = net, fingerprint(net)
    return BUILT[key]


def sync_race(
    answer: str, *, seed: int = 21, link: LinkModel | None = None, limit_slots: int = 40
) -> SyncRace:
    """Build a chain of BEHIND blocks, let two nodes join, and time both to the tip.

    The default link has one latency for every message, so the liar, connected first to the
    node with a liar, is the first peer to answer it. The figure of the closing note:
    `python -c "from tests.sim.test_sync_liar import sync_race; print(sync_race('silence').took)"`
    """
    built, built_print = chain_behind(seed, link or LinkModel(latency_ms=(20, 20)))
    assert fingerprint(built) == built_print, "an earlier race changed the chain it copied"
    net = copy_network(built)
    asked: list[tuple[str, BlockRequest]] = []
    net.set_responder(LIAR, lying_responder(net, answer, asked))
    net.add_node(WITH_LIAR)
    net.add_node(WITHOUT_LIAR)
    net.connect(WITH_LIAR, LIAR)
    for name in HONEST:
        net.connect(WITH_LIAR, name)
        net.connect(WITHOUT_LIAR, name)
    took = slots_to_tip(net, (WITH_LIAR, WITHOUT_LIAR), limit_slots)
    assert fingerprint(built) == built_print, "the race changed the chain it copied"
    return SyncRace(net, took, asked)


def ranges_asked_by(race: SyncRace, name: str) -> list[BlockRequest]:
    return [r for who, r in race.asked if who == name and isinstance(r.start, int)]


@pytest.mark.parametrize(
    "answer", ["a known block", "nothing", "silence", "one new block at a time"]
)
def test_a_joining_node_syncs_at_its_normal_speed_with_a_lying_peer(answer: str) -> None:
    race = sync_race(answer)
    net, took = race.net, race.took
    assert took[WITHOUT_LIAR] <= 2, took
    assert took[WITH_LIAR] <= took[WITHOUT_LIAR] + MAX_EXTRA_SLOTS, took
    assert ranges_asked_by(race, WITH_LIAR)[0].start == 1  # first, as the old code always did
    for name in (WITH_LIAR, WITHOUT_LIAR):
        scores = net.nodes[name].scores
        assert all(scores.get(peer, 0) >= HONEST_SCORE_FLOOR for peer in HONEST), (name, scores)
    assert net.nodes[WITH_LIAR].scores.get(LIAR, 0) <= -50  # charged for its claim
    # Caught, it is asked again only as its doubt runs out: a handful of times, not each range.
    net.run_for(20 * SLOT_MS)
    assert len(ranges_asked_by(race, WITH_LIAR)) <= 4, race.asked
    assert net.core(WITH_LIAR).best_header.number >= net.core("Alice").best_header.number - 1
