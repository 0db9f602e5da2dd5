"""A deterministic simulated network that drives real node cores on a simulated clock.

Each simulated node is a real `chain.core.node.NodeCore` over its own chain store (in memory, or in
the database `databases` opens for it), running the real runtime. The network carries what the
cores ask to send: gossip is flooded to connected peers, deduplicated by message hash and relayed
only when the receiver accepts it (as the libp2p layer does); requests are answered by the peer's
core and the answer comes back, or fails after a timeout. Links (one model for all, or one per
link) have a latency drawn per message, and may lose, duplicate, hold back for long or (by their
latency spread) reorder messages; partitions cut links between groups; nodes can crash (losing
everything but their database) and restart. A node's requests may be answered by a responder of the
test's own instead of its core (`set_responder`): a peer that lies.

For larger worlds the network also models geography and capacity: nodes placed in regions
(`set_regions`, `place`) get the latency of a region-to-region matrix plus jitter; a node with a
bandwidth (`set_bandwidth`) serializes what it sends one message after another, each taking its
size over the bandwidth; a node with a clock skew (`set_clock_skew`) runs its core on a clock
ahead of (or behind) the network's. Observers (`add_observer`) see every action a core returns,
and `message_stats` counts messages, bytes and losses per topic. Each of these draws random
numbers only when it is on, so a seed keeps the run it had before they existed. With a
`SharedExecution` the nodes execute each block and check each signature once for the network
(`sim.shared_execution`): the run is the same, faster.

Everything happens in one thread on one event queue ordered by (time, sequence), and all
randomness comes from one seeded generator, so a seed gives the same run every time.
"""

from __future__ import annotations

import gc
import heapq
import logging
import math
import random
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from functools import partial
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
from chain.storage.kv import KeyValueStore, MemoryStore
from runtime.block import Header
from runtime.invariants import InvariantsBroken
from runtime.primitives.codec import DecodeError
from runtime.primitives.hashing import blake2b_256
from runtime.primitives.keys import Keypair, verify
from sim.shared_execution import SharedExecution

log = logging.getLogger("xpl.sim")

REQUEST_TIMEOUT_MS: Final = 5_000
CHECKED_BLOCKS: Final = 10_000
"""How many (node, block) pairs whose invariants were checked are remembered (so that a block is
checked once per node): bounds that memory in a long run; a block is imported by every node
within far fewer imports than this."""
FINALIZED_KEPT: Final = 4_096
"""How many of its finalized heights a node remembers (`SimNode.finalized`; the oldest are
forgotten first), so that a long run's memory stays flat: two nodes further apart than this are
not compared by `conflicting_finality` (the world's invariants keep as many blocks)."""
SEEN_TTL_MS: Final = 120_000
"""How long a node remembers a gossip message's id to drop its copies (as gossipsub's seen cache):
between this and twice this, so that what a node remembers stays bounded in a long run."""

RUN_GC_THRESHOLDS: Final = (20_000, 20, 20)
"""The cyclic garbage collector's thresholds while the simulated network runs (Python's default:
700, 10, 10). A run makes little cyclic garbage (none in 20 simulated s of 16 validators, 488
objects in the 120 s of quick.toml), yet at the default each collection of the oldest generation
walks every node's chain: they took 45% of the time at 64 validators. Restored when `run_until`
returns."""

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
    reorder_ms: int = 0
    """An extra delay drawn uniformly from [0, reorder_ms] for each message (0: none)."""


@dataclass
class SimNode:
    """One node: its core, its database, and what the network knows about it."""

    name: str
    key: Keypair | None
    kv: KeyValueStore
    core: NodeCore | None = None
    timers: dict[str, int] = field(default_factory=dict)
    seen: set[bytes] = field(default_factory=set)
    """The ids of the gossip messages this node took in since `seen_since`."""
    seen_before: set[bytes] = field(default_factory=set)
    """The ids it took in the `SEEN_TTL_MS` before that (forgotten at the next turn)."""
    seen_since: int = 0
    scores: dict[str, int] = field(default_factory=dict)
    """What each peer's reported misbehaviour cost it, summed and logged but never acted on: the
    simulator bans no peer (the libp2p layer does, in `p2p.scoring`)."""
    finalized: dict[int, bytes] = field(default_factory=dict)
    """The blocks this node finalized, by number (across restarts), the latest
    `FINALIZED_KEPT`."""
    equivocate: bool = False
    region: int | None = None
    """The index of the node's region in the network's latency matrix (None: not placed)."""
    bandwidth_mbps: float | None = None
    """The node's upload bandwidth in megabits per second (None: unlimited)."""
    clock_skew_ms: int = 0
    """How far the node's clock runs ahead of the network's (negative: behind)."""
    sending_until_us: int = 0
    """When the node's uplink finishes sending what it was given (network time, microseconds)."""

    @property
    def up(self) -> bool:
        return self.core is not None

    def require_core(self) -> NodeCore:
        if self.core is None:
            raise RuntimeError(f"node {self.name} is down")
        return self.core


Observer = Callable[[SimNode, Action], None]
"""Called with each action a node's core returned, after the network carried it out."""

REQUEST_TOPIC_PREFIX: Final = "request:"
RESPONSE_TOPIC_PREFIX: Final = "response:"
"""`message_stats` counts a request on `request:PROTOCOL` and its answer on `response:PROTOCOL`
(gossip on its own topic)."""


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
        shared: SharedExecution | None = None,
        databases: Callable[[str], KeyValueStore] | None = None,
    ) -> None:
        self.spec = spec
        self.databases = databases
        """Opens a new node's empty database by the node's name (None: a `MemoryStore`)."""
        self.shared = shared
        """What the nodes share to run faster (None: each node checks and executes alone); a
        seed's run is the same either way."""
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
        self._adjacent: dict[str, list[str]] = {}
        """Each node's links, up or down, cut or not, sorted."""
        self._live: dict[str, tuple[list[str], frozenset[str]]] = {}
        """Each node's peers it can reach now, sorted (computed when asked, forgotten whenever a
        link, a cut or a node's state changes)."""
        self._queue: list[tuple[int, int, Callable[[], None]]] = []
        self._seq = 0
        self._checked: dict[tuple[str, bytes], None] = {}
        """The (node, block) pairs whose state was checked, the latest `CHECKED_BLOCKS`."""
        self._genesis = spec.genesis_header()
        self._genesis_state = spec.genesis_state()
        self._responders: dict[str, Responder] = {}
        self.delivered = 0
        self.lost = 0
        self._observers: list[Observer] = []
        self._regions: dict[str, int] = {}
        self._latency_matrix: list[list[int]] = []
        self._jitter_ms = 0.0
        self._stats: dict[str, list[int]] = {}

    # Building the network

    def add_node(
        self, name: str, key: Keypair | None = None, *, equivocate: bool = False
    ) -> SimNode:
        """A new node with an empty database (it starts at genesis); started at once."""
        if name in self.nodes:
            raise ValueError(f"a node named {name} exists")
        kv = MemoryStore() if self.databases is None else self.databases(name)
        node = SimNode(name, key, kv, equivocate=equivocate)
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

    def add_observer(self, observer: Observer) -> None:
        """Call `observer` with every action a core returns, after the network carried it out."""
        self._observers.append(observer)

    def set_regions(
        self, regions: Sequence[str], latency_ms: Sequence[Sequence[float]], jitter_ms: float
    ) -> None:
        """Name the regions and the one-way latency from each to each (row: the sender's region);
        a message between placed nodes takes that latency plus a jitter drawn uniformly from
        [0, jitter_ms] (instead of the default link model's latency; its loss, duplicates, long
        delays and reordering still apply). A link with a model of its own keeps that model."""
        names = list(regions)
        if len(set(names)) != len(names):
            raise ValueError(f"region names repeat: {names}")
        if len(latency_ms) != len(names) or any(len(row) != len(names) for row in latency_ms):
            raise ValueError(
                f"the latency matrix must be {len(names)}x{len(names)}, one row and column per "
                "region"
            )
        if any(not math.isfinite(v) or v < 0 for row in latency_ms for v in row):
            raise ValueError("latencies must be finite and non-negative")
        if not math.isfinite(jitter_ms) or jitter_ms < 0:
            raise ValueError(f"jitter_ms must be finite and non-negative, got {jitter_ms}")
        self._regions = {name: i for i, name in enumerate(names)}
        self._latency_matrix = [[round(v) for v in row] for row in latency_ms]
        self._jitter_ms = float(jitter_ms)
        for node in self.nodes.values():
            node.region = None

    def place(self, node: str, region: str) -> None:
        """Put `node` in `region` (one of `set_regions`')."""
        if region not in self._regions:
            raise ValueError(f"unknown region {region!r} (known: {sorted(self._regions)})")
        self.nodes[node].region = self._regions[region]

    def set_bandwidth(self, node: str, mbps: float | None) -> None:
        """Limit what `node` sends to `mbps` megabits per second (None: unlimited)."""
        if mbps is not None and (not math.isfinite(mbps) or mbps <= 0):
            raise ValueError(f"the bandwidth of {node} must be positive, got {mbps}")
        self.nodes[node].bandwidth_mbps = mbps

    def set_clock_skew(self, node: str, skew_ms: int) -> None:
        """Run `node`'s core on the network's clock plus `skew_ms` from now on."""
        self.nodes[node].clock_skew_ms = int(skew_ms)

    def set_link(
        self,
        loss: float | None = None,
        duplicate: float | None = None,
        reorder_ms: int | None = None,
    ) -> None:
        """Change the default link model's loss, duplication or reordering (None: unchanged), for
        a fault window; links with a model of their own keep it."""
        link = self.link
        if loss is not None:
            if not 0 <= loss < 1:
                raise ValueError(f"loss must be in [0, 1), got {loss}")
            link = replace(link, loss=loss)
        if duplicate is not None:
            if not 0 <= duplicate < 1:
                raise ValueError(f"duplicate must be in [0, 1), got {duplicate}")
            link = replace(link, duplicate=duplicate)
        if reorder_ms is not None:
            if reorder_ms < 0:
                raise ValueError(f"reorder_ms must be non-negative, got {reorder_ms}")
            link = replace(link, reorder_ms=int(reorder_ms))
        self.link = link

    def connect(self, a: str, b: str) -> None:
        pair = frozenset((a, b))
        if a == b or pair in self._links:
            return
        self._links.add(pair)
        self._adjacent[a] = sorted([*self._adjacent.get(a, ()), b])
        self._adjacent[b] = sorted([*self._adjacent.get(b, ()), a])
        self._live.clear()
        if self._linked(a, b):
            self._on_connect(a, b)

    def connect_all(self) -> None:
        names = list(self.nodes)
        for i, a in enumerate(names):
            for b in names[i + 1 :]:
                self.connect(a, b)

    def connect_mesh(self, degree: int, *, seed: int = 0) -> None:
        """Connect the nodes in a ring, then each to `(degree - 2) // 2` more drawn at random (from
        a generator of its own, seeded with `seed`): about `degree` peers each, connected, as
        gossipsub's mesh rather than everyone to everyone."""
        names = list(self.nodes)
        if len(names) <= degree + 1:
            self.connect_all()
            return
        rng = random.Random(seed)
        for i, name in enumerate(names):
            self.connect(name, names[(i + 1) % len(names)])
        extra = max(0, (degree - 2) // 2)
        for name in names:
            others = [n for n in names if n != name]
            for other in rng.sample(others, extra):
                self.connect(name, other)

    def partition(self, *groups: Iterable[str]) -> None:
        """Cut every link between nodes of different groups."""
        sets = [set(g) for g in groups]
        for pair in sorted(self._links, key=sorted):
            a, b = sorted(pair)
            if not any(a in g and b in g for g in sets) and pair not in self._cut:
                self._cut.add(pair)
                self._live.clear()
                self._on_disconnect(a, b)

    def heal(self) -> None:
        cut, self._cut = self._cut, set()
        self._live.clear()
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
        self._live.clear()
        node.timers.clear()
        node.seen.clear()
        node.seen_before.clear()
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
        thresholds = gc.get_threshold()
        gc.set_threshold(*RUN_GC_THRESHOLDS)
        try:
            queue, pop = self._queue, heapq.heappop  # the loop runs once per message: kept local
            while queue and queue[0][0] <= at_ms:
                time, _seq, event = pop(queue)
                self.now_ms = time
                event()
        finally:
            gc.set_threshold(*thresholds)
        self.now_ms = max(self.now_ms, at_ms)

    def run_for(self, ms: int) -> None:
        self.run_until(self.now_ms + ms)

    def schedule(self, delay_ms: int, event: Callable[[], None]) -> None:
        """Run `event` `delay_ms` from now on the simulated clock (after what is due before)."""
        self._schedule(max(0, delay_ms), event)

    def clock(self, name: str) -> int:
        """The time `name`'s core sees now: the network's clock plus the node's skew."""
        return self.now_ms + self.nodes[name].clock_skew_ms

    def gossip_from(self, name: str, topic: str, data: bytes) -> None:
        """`name` publishes `data` on `topic`, as if its core had asked to (faults, attacks)."""
        self._apply(self.nodes[name], [Gossip(topic, data)])

    def submit(self, name: str, raw: bytes) -> None:
        """A transaction submitted to one node (as over its RPC)."""
        node = self.nodes[name]
        _tx, actions = node.require_core().submit_transaction(raw, self._now(node))
        self._apply(node, actions)

    # Reading

    @property
    def message_stats(self) -> dict[str, tuple[int, int, int]]:
        """Per topic: (messages sent, bytes sent, messages lost), since the network began; each
        hop of a flooded message counts, and so does each duplicate."""
        return {topic: (c[0], c[1], c[2]) for topic, c in sorted(self._stats.items())}

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
        shared = self.shared
        node.core = NodeCore(
            store,
            authority=node.key,
            equivocate=node.equivocate,
            verifier=None if shared is None else shared.signatures,
            executor=None if shared is None else shared.executions,
            check_signature=verify if shared is None else shared.signatures.check,
        )
        self._live.clear()
        node.seen_since = self.now_ms
        node.timers.clear()
        self._apply(node, node.core.start(self._now(node)))

    def _linked(self, a: str, b: str) -> bool:
        return b in self._live_peers(a)[1]

    def _live_peers(self, name: str) -> tuple[list[str], frozenset[str]]:
        """`name`'s reachable peers, sorted and as a set (none while it is down)."""
        live = self._live.get(name)
        if live is None:
            peers: list[str] = []
            if self.nodes[name].up:
                for other in self._adjacent.get(name, ()):
                    if self.nodes[other].up and frozenset((name, other)) not in self._cut:
                        peers.append(other)
            live = self._live[name] = (peers, frozenset(peers))
        return live

    def _neighbours(self, name: str, *, even_down: bool = False) -> list[str]:
        # The lists are replaced, never changed, so that a caller may iterate over one while
        # what it calls changes the network.
        if even_down:
            return self._adjacent.get(name, [])
        return self._live_peers(name)[0]

    def _remember(self, node: SimNode, message_id: bytes) -> bool:
        """Note that `node` took in a gossip message; False if it had already seen it."""
        if self.now_ms - node.seen_since >= SEEN_TTL_MS:
            node.seen_before, node.seen = node.seen, set()
            node.seen_since = self.now_ms
        if message_id in node.seen or message_id in node.seen_before:
            return False
        node.seen.add(message_id)
        return True

    def _on_connect(self, a: str, b: str) -> None:
        for x, y in ((a, b), (b, a)):
            node = self.nodes[x]
            self._apply(node, node.require_core().on_peer_connected(y, self._now(node)))

    def _on_disconnect(self, a: str, b: str) -> None:
        for x, y in ((a, b), (b, a)):
            core = self.nodes[x].core
            if core is not None:
                core.on_peer_disconnected(y)

    def _now(self, node: SimNode) -> int:
        return self.now_ms + node.clock_skew_ms

    def _schedule(self, delay_ms: int, event: Callable[[], None]) -> None:
        self._seq += 1
        heapq.heappush(self._queue, (self.now_ms + delay_ms, self._seq, event))

    def _latency(self, a: SimNode, b: SimNode, link: LinkModel, own: bool) -> int:
        # The long-delay, jitter and reorder draws are made only where they may happen, so that a
        # run without them draws what it drew before they existed (a seed keeps its run).
        if link.long_delay and self.rng.random() < link.long_delay:
            lo, hi = link.long_delay_ms
            delay = self._randint(lo, hi)
        elif not own and a.region is not None and b.region is not None:
            delay = self._latency_matrix[a.region][b.region]
            if self._jitter_ms:
                delay += round(self.rng.random() * self._jitter_ms)
        else:
            lo, hi = link.latency_ms
            delay = self._randint(lo, hi)
        if link.reorder_ms:
            delay += self._randint(0, link.reorder_ms)
        return delay

    def _randint(self, lo: int, hi: int) -> int:
        """`self.rng.randint(lo, hi)`: the same number from the same draws, at a third of the
        cost (randint checks its arguments through two calls before it draws, once per message)."""
        if lo > hi:
            return self.rng.randint(lo, hi)  # refused as randint refuses it
        # randint(lo, hi) is randrange(lo, hi + 1), which returns lo + _randbelow(hi - lo + 1)
        # (CPython 3.11 and later; tests/sim/test_network_draws.py compares the two streams).
        below: int = self.rng._randbelow(hi - lo + 1)  # type: ignore[attr-defined]
        return lo + below

    def _sending_delay(self, node: SimNode, size: int) -> int:
        """Milliseconds until `node`'s uplink has sent a message of `size` bytes given now: it
        waits for what the node sent before, then takes its size over the bandwidth."""
        if node.bandwidth_mbps is None:
            return 0
        now_us = self.now_ms * 1_000
        start_us = max(now_us, node.sending_until_us)
        # bits over megabits per second is microseconds
        node.sending_until_us = start_us + math.ceil(size * 8 / node.bandwidth_mbps)
        return -(-(node.sending_until_us - now_us) // 1_000)

    def _transmit(self, a: str, b: str, deliver: Callable[[], None], topic: str, size: int) -> bool:
        """Send one message of `size` bytes on `topic` from `a` to `b`; False if it is lost on
        the way."""
        own_link = self.links.get(frozenset((a, b))) if self.links else None
        link = self.link if own_link is None else own_link
        stats = self._stats.get(topic)
        if stats is None:
            stats = self._stats[topic] = [0, 0, 0]
        stats[0] += 1
        stats[1] += size
        live = self._live.get(a) or self._live_peers(a)
        if b not in live[1]:
            self.lost += 1
            stats[2] += 1
            return False
        sender, receiver = self.nodes[a], self.nodes[b]
        sending = 0 if sender.bandwidth_mbps is None else self._sending_delay(sender, size)
        if self.rng.random() < link.loss:
            self.lost += 1
            stats[2] += 1
            return False

        def arrive() -> None:
            live = self._live.get(a) or self._live_peers(a)
            if b in live[1]:
                self.delivered += 1
                deliver()
            else:
                self.lost += 1
                stats[2] += 1

        own = own_link is not None
        self._seq += 1
        at_ms = self.now_ms + sending + self._latency(sender, receiver, link, own)
        heapq.heappush(self._queue, (at_ms, self._seq, arrive))
        if self.rng.random() < link.duplicate:
            stats[0] += 1
            stats[1] += size
            self._schedule(sending + self._latency(sender, receiver, link, own), arrive)
        return True

    def _apply(self, node: SimNode, actions: list[Action]) -> None:
        for action in actions:
            if isinstance(action, SetTimer):
                self._arm(node, action.name, action.at_ms)
            elif isinstance(action, Gossip):
                message_id = blake2b_256(action.topic.encode() + action.data)
                self._remember(node, message_id)
                self._flood(node.name, self._neighbours(node.name), None, action, message_id)
            elif isinstance(action, SendRequest):
                self._send_request(node.name, action)
            elif isinstance(action, ReportPeer):
                self._report(node, action)
            elif isinstance(action, Finalized):
                for header in action.headers:
                    node.finalized[header.number] = header.hash
                while len(node.finalized) > FINALIZED_KEPT:
                    del node.finalized[next(iter(node.finalized))]
            elif isinstance(action, BlockImported) and self.check_invariants:
                self._check_invariants(node, action.header)
            for observer in self._observers:
                observer(node, action)

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
        if len(self._checked) >= CHECKED_BLOCKS:
            del self._checked[next(iter(self._checked))]
        self._checked[(node.name, header.hash)] = None

    def _arm(self, node: SimNode, name: str, at_ms: int) -> None:
        node.timers[name] = at_ms
        core = node.core

        def fire() -> None:
            if node.core is core and core is not None and node.timers.get(name) == at_ms:
                del node.timers[name]
                self._apply(node, core.on_timer(name, self._now(node)))

        self._schedule(max(0, at_ms - self._now(node)), fire)

    def _flood(
        self, sender: str, peers: list[str], skip: str | None, gossip: Gossip, message_id: bytes
    ) -> None:
        """Send a gossip message from `sender` to each of `peers` but `skip`, as `_transmit` sends
        one message: the same draws in the same order, what is the same for every peer looked up
        once (this runs for each node that takes a message in: the simulator's busiest step)."""
        size = len(gossip.data)
        stats = self._stats.get(gossip.topic)
        if stats is None:
            stats = self._stats[gossip.topic] = [0, 0, 0]
        live = (self._live.get(sender) or self._live_peers(sender))[1]
        nodes, links, rng, queue = self.nodes, self.links, self.rng, self._queue
        node = nodes[sender]
        for peer in peers:
            if peer == skip:
                continue
            own_link = links.get(frozenset((sender, peer))) if links else None
            link = self.link if own_link is None else own_link
            stats[0] += 1
            stats[1] += size
            if peer not in live:
                self.lost += 1
                stats[2] += 1
                continue
            receiver = nodes[peer]
            sending = 0 if node.bandwidth_mbps is None else self._sending_delay(node, size)
            if rng.random() < link.loss:
                self.lost += 1
                stats[2] += 1
                continue
            arrive: Callable[[], None] = partial(
                self._gossip_arrives, sender, peer, gossip, message_id, stats
            )
            own = own_link is not None
            self._seq += 1
            at_ms = self.now_ms + sending + self._latency(node, receiver, link, own)
            heapq.heappush(queue, (at_ms, self._seq, arrive))
            if rng.random() < link.duplicate:
                stats[0] += 1
                stats[1] += size
                self._schedule(sending + self._latency(node, receiver, link, own), arrive)

    def _gossip_arrives(
        self, sender: str, peer: str, gossip: Gossip, message_id: bytes, stats: list[int]
    ) -> None:
        """A gossip message from `sender` reaches `peer`, if their link still holds: `peer`
        takes it in unless it saw it before, and relays it to its other peers if it accepts it."""
        live = self._live.get(sender) or self._live_peers(sender)
        if peer not in live[1]:
            self.lost += 1
            stats[2] += 1
            return
        self.delivered += 1
        node = self.nodes[peer]
        core = node.core
        if core is None or not self._remember(node, message_id):
            return
        verdict, actions = core.on_gossip(sender, gossip.topic, gossip.data, self._now(node))
        self._apply(node, actions)
        if verdict is Verdict.ACCEPT:
            self._flood(peer, self._neighbours(peer), sender, gossip, message_id)
        elif verdict is Verdict.REJECT:
            self._report(node, ReportPeer(sender, 100, f"rejected {gossip.topic} gossip"))

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
            self._apply(
                node, node.core.on_response(request.peer, request.tag, data, self._now(node))
            )

        def serve() -> None:
            node = self.nodes[request.peer]
            if node.core is None:
                return
            responder = self._responders.get(request.peer)
            data: bytes | None
            try:
                if responder is None:
                    data = node.core.on_request(
                        requester, request.protocol, request.data, self._now(node)
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
            self._transmit(
                request.peer,
                requester,
                lambda: respond(data),
                RESPONSE_TOPIC_PREFIX + request.protocol,
                len(data or b""),
            )

        self._transmit(
            requester,
            request.peer,
            serve,
            REQUEST_TOPIC_PREFIX + request.protocol,
            len(request.data),
        )
        self._schedule(REQUEST_TIMEOUT_MS, lambda: respond(None))

    def _report(self, node: SimNode, report: ReportPeer) -> None:
        score = node.scores.get(report.peer, 0) - report.cost
        node.scores[report.peer] = score
        log.debug("%s reports %s: %s (score %d)", node.name, report.peer, report.reason, score)


__all__ = ["LinkModel", "Observer", "Responder", "SimNetwork", "SimNode"]
