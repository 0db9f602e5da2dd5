"""A deterministic simulated network that drives real node cores on a simulated clock.

Each simulated node is a real `chain.core.node.NodeCore` over its own in-memory chain store,
running the real runtime. The network carries what the cores ask to send: gossip is flooded to
connected peers, deduplicated by message hash and relayed only when the receiver accepts it (as
the libp2p layer does); requests are answered by the peer's core and the answer comes back, or
fails after a timeout. Links (one model for all, or one per link) have a latency drawn per
message, and may lose, duplicate, hold back for long or (by their latency spread) reorder
messages; partitions cut links between groups; nodes can crash (losing everything but their
database) and restart. A node's requests may be answered by a responder of the test's own
instead of its core (`set_responder`): a peer that lies.

Everything happens in one thread on one event queue ordered by (time, sequence), and all
randomness comes from one seeded generator, so a seed gives the same run every time.
"""

from __future__ import annotations

import heapq
import logging
import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Final

from chain.core.actions import (
    Action,
    BlockImported,
    Finalized,
    Gossip,
    ReportPeer,
    SendRequest,
    SetTimer,
)
from chain.core.node import NodeCore, RequestRefused
from chain.core.voter_messages import Verdict
from chain.spec import ChainSpec
from chain.storage.chain_store import ChainStore, ChainStoreError
from chain.storage.kv import MemoryStore
from runtime.block import Header
from runtime.invariants import InvariantsBroken
from runtime.primitives.codec import DecodeError
from runtime.primitives.hashing import blake2b_256
from runtime.primitives.keys import Keypair

log = logging.getLogger("xpl.sim")

REQUEST_TIMEOUT_MS: Final = 5_000

Responder = Callable[[str, str, bytes], bytes | None]
"""Answers a request in a node's place: (requester, protocol, request) -> the answer, or None to
leave it unanswered (the requester's request then times out); it may raise RequestRefused, as a
core does."""


@dataclass
class LinkModel:
    """How messages travel between two connected nodes."""

    latency_ms: tuple[int, int] = (5, 40)
    """Each message's delay is drawn uniformly from this range (a wide range reorders)."""
    loss: float = 0.0
    duplicate: float = 0.0
    long_delay: float = 0.0
    """The chance that a message is held back instead by a delay drawn from `long_delay_ms`."""
    long_delay_ms: tuple[int, int] = (5_000, 30_000)
    """The range of a long delay (a message that arrives after rounds, or partitions, moved on)."""


@dataclass
class SimNode:
    """One node: its core, its database, and what the network knows about it."""

    name: str
    key: Keypair | None
    kv: MemoryStore
    core: NodeCore | None = None
    timers: dict[str, int] = field(default_factory=dict)
    seen: set[bytes] = field(default_factory=set)
    scores: dict[str, int] = field(default_factory=dict)
    """What each peer's reported misbehaviour cost it, summed and logged but never acted on: the
    simulator bans no peer (the libp2p layer does, in `p2p.scoring`)."""
    finalized: dict[int, bytes] = field(default_factory=dict)
    """Every block this node finalized, by number (across restarts)."""
    equivocate: bool = False

    @property
    def up(self) -> bool:
        return self.core is not None

    def require_core(self) -> NodeCore:
        if self.core is None:
            raise RuntimeError(f"node {self.name} is down")
        return self.core


class SimNetwork:
    """Nodes of one chain on a simulated network and clock."""

    def __init__(
        self,
        spec: ChainSpec,
        *,
        seed: int = 0,
        link: LinkModel | None = None,
        start_ms: int | None = None,
        check_invariants: bool = False,
    ) -> None:
        self.spec = spec
        self.check_invariants = check_invariants
        """Check every invariant of the state after each block a node imports or authors;
        InvariantsBroken is raised out of the run on the first violation."""
        self.rng = random.Random(seed)
        self.link = link or LinkModel()
        self.links: dict[frozenset[str], LinkModel] = {}
        """Link models of single links, each in place of `link` (both directions)."""
        slot_ms = spec.genesis.slot_duration_ms
        self.now_ms = start_ms if start_ms is not None else 1_000_000 * slot_ms
        self.nodes: dict[str, SimNode] = {}
        self._links: set[frozenset[str]] = set()
        self._cut: set[frozenset[str]] = set()
        self._queue: list[tuple[int, int, Callable[[], None]]] = []
        self._seq = 0
        self._checked: set[tuple[str, bytes]] = set()
        self._genesis = spec.genesis_header()
        self._genesis_state = spec.genesis_state()
        self._responders: dict[str, Responder] = {}
        self.delivered = 0
        self.lost = 0

    # Building the network

    def add_node(
        self, name: str, key: Keypair | None = None, *, equivocate: bool = False
    ) -> SimNode:
        """A new node with an empty database (it starts at genesis); started at once."""
        if name in self.nodes:
            raise ValueError(f"a node named {name} exists")
        node = SimNode(name, key, MemoryStore(), equivocate=equivocate)
        self.nodes[name] = node
        self._boot(node)
        return node

    def set_responder(self, name: str, responder: Responder | None) -> None:
        """Answer the requests sent to `name` with `responder` instead of its core (None: with its
        core again). The node's core still gossips, syncs and asks its own requests."""
        if responder is None:
            self._responders.pop(name, None)
        else:
            self._responders[name] = responder

    def connect(self, a: str, b: str) -> None:
        pair = frozenset((a, b))
        if a == b or pair in self._links:
            return
        self._links.add(pair)
        if self._linked(a, b):
            self._on_connect(a, b)

    def connect_all(self) -> None:
        names = list(self.nodes)
        for i, a in enumerate(names):
            for b in names[i + 1 :]:
                self.connect(a, b)

    def partition(self, *groups: Iterable[str]) -> None:
        """Cut every link between nodes of different groups."""
        sets = [set(g) for g in groups]
        for pair in sorted(self._links, key=sorted):
            a, b = sorted(pair)
            if not any(a in g and b in g for g in sets) and pair not in self._cut:
                self._cut.add(pair)
                self._on_disconnect(a, b)

    def heal(self) -> None:
        cut, self._cut = self._cut, set()
        for pair in sorted(cut, key=sorted):
            a, b = sorted(pair)
            if self._linked(a, b):
                self._on_connect(a, b)

    def crash(self, name: str) -> None:
        """Stop a node at once: it loses its memory, keeps its database."""
        node = self.nodes[name]
        if node.core is None:
            return
        node.core = None
        node.timers.clear()
        node.seen.clear()
        for other in self._neighbours(name, even_down=True):
            if self.nodes[other].up:
                self._on_disconnect(name, other)

    def restart(self, name: str) -> None:
        node = self.nodes[name]
        if node.up:
            return
        self._boot(node)
        for other in self._neighbours(name):
            self._on_connect(name, other)

    # Running

    def run_until(self, at_ms: int) -> None:
        while self._queue and self._queue[0][0] <= at_ms:
            time, _seq, event = heapq.heappop(self._queue)
            self.now_ms = time
            event()
        self.now_ms = max(self.now_ms, at_ms)

    def run_for(self, ms: int) -> None:
        self.run_until(self.now_ms + ms)

    def gossip_from(self, name: str, topic: str, data: bytes) -> None:
        """`name` publishes `data` on `topic`, as if its core had asked to (faults, attacks)."""
        self._apply(self.nodes[name], [Gossip(topic, data)])

    def submit(self, name: str, raw: bytes) -> None:
        """A transaction submitted to one node (as over its RPC)."""
        core = self.nodes[name].require_core()
        _tx, actions = core.submit_transaction(raw, self.now_ms)
        self._apply(self.nodes[name], actions)

    # Reading

    def core(self, name: str) -> NodeCore:
        return self.nodes[name].require_core()

    def finalized_numbers(self) -> dict[str, int]:
        return {
            n: node.require_core().finalized_header.number
            for n, node in self.nodes.items()
            if node.up
        }

    def conflicting_finality(self) -> list[str]:
        """Heights at which two nodes finalized different blocks (must always be empty)."""
        problems = []
        heights: dict[int, tuple[str, bytes]] = {}
        for name, node in self.nodes.items():
            for number, block_hash in node.finalized.items():
                seen = heights.get(number)
                if seen is None:
                    heights[number] = (name, block_hash)
                elif seen[1] != block_hash:
                    problems.append(f"#{number}: {seen[0]} and {name} finalized different blocks")
        return problems

    # Internals

    def _boot(self, node: SimNode) -> None:
        store = ChainStore(node.kv)
        if store.is_initialized():
            store.open()
        else:
            store.initialize(self._genesis, self._genesis_state)
        node.core = NodeCore(store, authority=node.key, equivocate=node.equivocate)
        node.timers.clear()
        self._apply(node, node.core.start(self.now_ms))

    def _linked(self, a: str, b: str) -> bool:
        pair = frozenset((a, b))
        return (
            pair in self._links and pair not in self._cut and self.nodes[a].up and self.nodes[b].up
        )

    def _neighbours(self, name: str, *, even_down: bool = False) -> list[str]:
        out = []
        for pair in self._links:
            if name in pair:
                (other,) = pair - {name}
                if even_down or self._linked(name, other):
                    out.append(other)
        return sorted(out)

    def _on_connect(self, a: str, b: str) -> None:
        for x, y in ((a, b), (b, a)):
            node = self.nodes[x]
            self._apply(node, node.require_core().on_peer_connected(y, self.now_ms))

    def _on_disconnect(self, a: str, b: str) -> None:
        for x, y in ((a, b), (b, a)):
            core = self.nodes[x].core
            if core is not None:
                core.on_peer_disconnected(y)

    def _schedule(self, delay_ms: int, event: Callable[[], None]) -> None:
        self._seq += 1
        heapq.heappush(self._queue, (self.now_ms + delay_ms, self._seq, event))

    def _latency(self, link: LinkModel) -> int:
        # The long-delay draw is made only where it may happen, so that a run without long
        # delays draws what it drew before they existed (a seed keeps its run).
        if link.long_delay and self.rng.random() < link.long_delay:
            lo, hi = link.long_delay_ms
        else:
            lo, hi = link.latency_ms
        return self.rng.randint(lo, hi)

    def _transmit(self, a: str, b: str, deliver: Callable[[], None]) -> bool:
        """Send one message from `a` to `b`; False if it is lost on the way."""
        link = self.links.get(frozenset((a, b)), self.link)
        if not self._linked(a, b) or self.rng.random() < link.loss:
            self.lost += 1
            return False

        def arrive() -> None:
            if self._linked(a, b):
                self.delivered += 1
                deliver()
            else:
                self.lost += 1

        self._schedule(self._latency(link), arrive)
        if self.rng.random() < link.duplicate:
            self._schedule(self._latency(link), arrive)
        return True

    def _apply(self, node: SimNode, actions: list[Action]) -> None:
        for action in actions:
            if isinstance(action, SetTimer):
                self._arm(node, action.name, action.at_ms)
            elif isinstance(action, Gossip):
                message_id = blake2b_256(action.topic.encode() + action.data)
                node.seen.add(message_id)
                for peer in self._neighbours(node.name):
                    self._send_gossip(node.name, peer, action.topic, action.data, message_id)
            elif isinstance(action, SendRequest):
                self._send_request(node.name, action)
            elif isinstance(action, ReportPeer):
                self._report(node, action)
            elif isinstance(action, Finalized):
                for header in action.headers:
                    node.finalized[header.number] = header.hash
            elif isinstance(action, BlockImported) and self.check_invariants:
                self._check_invariants(node, action.header)

    def _check_invariants(self, node: SimNode, header: Header) -> None:
        """Raise InvariantsBroken out of the run if `node`'s state after `header` breaks one; a
        block is checked once per node, and one whose state is gone is passed over."""
        if (node.name, header.hash) in self._checked:
            return
        try:
            node.require_core().store.check_invariants(header.hash)
        except ChainStoreError:  # abandoned by finality in the same step
            return
        except InvariantsBroken as exc:
            raise InvariantsBroken(exc.problems, f"{node.name}'s {exc.where}") from None
        self._checked.add((node.name, header.hash))

    def _arm(self, node: SimNode, name: str, at_ms: int) -> None:
        node.timers[name] = at_ms
        core = node.core

        def fire() -> None:
            if node.core is core and core is not None and node.timers.get(name) == at_ms:
                del node.timers[name]
                self._apply(node, core.on_timer(name, self.now_ms))

        self._schedule(max(0, at_ms - self.now_ms), fire)

    def _send_gossip(
        self, sender: str, peer: str, topic: str, data: bytes, message_id: bytes
    ) -> None:
        def deliver() -> None:
            node = self.nodes[peer]
            core = node.core
            if core is None or message_id in node.seen:
                return
            node.seen.add(message_id)
            verdict, actions = core.on_gossip(sender, topic, data, self.now_ms)
            self._apply(node, actions)
            if verdict is Verdict.ACCEPT:
                for other in self._neighbours(peer):
                    if other != sender:
                        self._send_gossip(peer, other, topic, data, message_id)
            elif verdict is Verdict.REJECT:
                self._report(node, ReportPeer(sender, 100, f"rejected {topic} gossip"))

        self._transmit(sender, peer, deliver)

    def _send_request(self, requester: str, request: SendRequest) -> None:
        answered = {"done": False}
        core_at_send = self.nodes[requester].core

        def respond(data: bytes | None) -> None:
            if answered["done"]:
                return
            answered["done"] = True
            node = self.nodes[requester]
            if node.core is not core_at_send or node.core is None:
                return
            self._apply(node, node.core.on_response(request.peer, request.tag, data, self.now_ms))

        def serve() -> None:
            node = self.nodes[request.peer]
            if node.core is None:
                return
            responder = self._responders.get(request.peer)
            data: bytes | None
            try:
                if responder is None:
                    data = node.core.on_request(
                        requester, request.protocol, request.data, self.now_ms
                    )
                else:
                    data = responder(requester, request.protocol, request.data)
                    if data is None:
                        return
            except (RequestRefused, DecodeError) as exc:
                log.debug(
                    "%s refused %s's %s request: %s", request.peer, requester, request.protocol, exc
                )
                data = None
            self._transmit(request.peer, requester, lambda: respond(data))

        self._transmit(requester, request.peer, serve)
        self._schedule(REQUEST_TIMEOUT_MS, lambda: respond(None))

    def _report(self, node: SimNode, report: ReportPeer) -> None:
        score = node.scores.get(report.peer, 0) - report.cost
        node.scores[report.peer] = score
        log.debug("%s reports %s: %s (score %d)", node.name, report.peer, report.reason, score)


__all__ = ["LinkModel", "Responder", "SimNetwork", "SimNode"]
