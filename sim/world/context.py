"""What an agent of the simulated world sees and does: one node (its "home"), the clock, its own
random stream, and the recorder its rows go to.

Workers, requesters and committee members (`sim.agents`) act only through an `AgentContext`:
they read their home node's best state, sign and submit real transactions to its pool, schedule
what they do later on the simulated clock (`at`, never a sleep), and read the events of the blocks
their home node adopted since they last looked (`events_since`). An agent whose home node is down
is offline: its submissions fail and it reads nothing.

Everything is deterministic: the agent's own `rng` is its only randomness, and events come back
in block order.
"""

from __future__ import annotations

import logging
import random
import weakref
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Final, Protocol

from chain.core.node import NodeCore
from chain.core.pool import PoolError
from chain.storage.chain_store import ChainStoreError
from runtime.block import Header
from runtime.executive import EVENTS, InvalidTransaction
from runtime.fields import decode_fields
from runtime.pallets.system import EVENTS_KEY
from runtime.primitives import codec
from runtime.primitives.codec import DecodeError
from runtime.primitives.keys import Keypair
from runtime.primitives.trie import TrieError
from runtime.state import StateOverlay, StateReader
from runtime.transaction import MAX_MORTAL_PERIOD, Call, Mortality, sign_transaction
from sim.network import SimNetwork

log = logging.getLogger("xpl.sim.agents")

DEFAULT_MORTALITY: Final = 64
"""Blocks from the finalized head that a transaction submitted without a mortality of its own
stays valid for, as the client SDK signs them (`chain.client.chain.DEFAULT_MORTALITY`): one that
the pool holds back does not land long after its agent moved on, and while finality lags that
far behind the best block, no such transaction is valid at all."""
MAX_EVENT_WALK: Final = 256
"""Blocks `events_since` walks back from the best block; a longer gap (or a reorg) asks the agent
to read the state afresh instead."""
EVENT_CACHE_BLOCKS: Final = 512
"""Decoded blocks' events kept per network (agents on one node read the same blocks)."""


class RowRecorder(Protocol):
    """Where agents write their rows (`sim.tables.Recorder` in a run; any such object in tests)."""

    def row(self, table: str, **columns: Any) -> None:
        """Record one row of `table`."""
        ...


@dataclass(frozen=True, slots=True)
class ChainEvent:
    """One event of a block, as stored: its pallet, name and codec argument values."""

    pallet: str
    name: str
    args: tuple[Any, ...]


@dataclass(frozen=True, slots=True)
class BlockEvents:
    """The events of one block the home node adopted."""

    number: int
    hash: bytes
    events: tuple[ChainEvent, ...]


_CACHES: weakref.WeakKeyDictionary[SimNetwork, OrderedDict[bytes, tuple[ChainEvent, ...]]] = (
    weakref.WeakKeyDictionary()
)


def decode_events(raw: bytes | None) -> tuple[ChainEvent, ...]:
    """A block's stored events (`system`'s EVENTS_KEY), each decoded by the runtime's declaration
    of it (balances as ints, accounts as bytes)."""
    if raw is None:
        return ()
    found: list[ChainEvent] = []
    for i, value in enumerate(codec.expect_array(codec.decode_raw(raw), 10**6, "events")):
        record = codec.expect_list(value, 4, f"events[{i}]")
        pallet, name = str(record[1]), str(record[2])
        declared = EVENTS.get((pallet, name))
        if declared is None:
            continue
        found.append(
            ChainEvent(pallet, name, decode_fields(declared.fields, record[3], f"{pallet}.{name}"))
        )
    return tuple(found)


class AgentContext:
    """What an agent sees and does: one node (its "home"), the clock, its own random stream."""

    def __init__(
        self, name: str, net: SimNetwork, home: str, rng: random.Random, recorder: RowRecorder
    ) -> None:
        if home not in net.nodes:
            raise ValueError(f"agent {name}: no node named {home}")
        self.name = name
        self.net = net
        self.home = home
        self.rng = rng
        self.recorder = recorder

    @property
    def now_ms(self) -> int:
        """The simulated time."""
        return self.net.now_ms

    @property
    def online(self) -> bool:
        """Whether the home node is up."""
        return self.net.nodes[self.home].up

    def core(self) -> NodeCore:
        """The home node's core; RuntimeError if it is down."""
        return self.net.core(self.home)

    def best_header(self) -> Header:
        return self.core().best_header

    def finalized_header(self) -> Header:
        return self.core().finalized_header

    def state(self, block_hash: bytes | None = None) -> StateReader:
        """The home node's state at `block_hash` (its best block by default)."""
        core = self.core()
        return core.reader(core.best_header.hash if block_hash is None else block_hash)

    def overlay(self, block_hash: bytes | None = None) -> StateOverlay:
        """The home node's state at `block_hash` as an overlay that storage maps read."""
        return StateOverlay(self.state(block_hash))

    def iterate(self, prefix: bytes) -> Iterator[tuple[bytes, bytes]]:
        """The key-value pairs under `prefix` in the best state, in key order."""
        core = self.core()
        return core.store.iterate_state(core.best_header.hash, prefix)

    def submit(
        self,
        signer: Keypair,
        call: Call,
        *,
        mortality: int | Mortality | None = None,
        birth: Header | None = None,
    ) -> bool:
        """Sign `call` as `signer` with its next nonce (its account's, after those of its
        transactions in the home pool) and submit it to the home node; False if the node is down
        or its pool refused it (the reason is logged at debug).

        `mortality` is a period in blocks from the finalized block, where the client SDK births
        its transactions (DEFAULT_MORTALITY if None), or a `Mortality` with its `birth` block (as
        `committee_duties.phase_mortality` gives them)."""
        if not self.online:
            return False
        core = self.core()
        if isinstance(mortality, Mortality):
            if birth is None:
                raise ValueError("a Mortality needs its birth block")
            born = birth
        else:
            born = core.finalized_header
            period = DEFAULT_MORTALITY if mortality is None else mortality
            mortality = Mortality(max(1, min(period, MAX_MORTAL_PERIOD)), born.number)
        tx = sign_transaction(
            signer,
            call,
            nonce=core.next_nonce(signer.public),
            genesis_hash=core.genesis_hash,
            mortality=mortality,
            birth_hash=born.hash,
        )
        try:
            self.net.submit(self.home, tx.raw)
        except (DecodeError, InvalidTransaction, PoolError) as exc:
            log.debug("%s: the pool refused %s.%s: %s", self.name, call.pallet, call.name, exc)
            return False
        return True

    def at(self, delay_ms: int, action: Callable[[], None]) -> None:
        """Run `action` `delay_ms` from now on the simulated clock."""
        self.net.schedule(max(0, int(delay_ms)), action)

    def events_since(self, known: bytes | None) -> list[BlockEvents] | None:
        """The events of each block after `known` up to the best block, oldest first; None when
        `known` is None or not an ancestor within MAX_EVENT_WALK blocks (a reorg, a long gap, a
        restart), so that the agent reads the state afresh."""
        if known is None:
            return None
        core = self.core()
        store = core.store
        found: list[BlockEvents] = []
        block_hash = core.best_header.hash
        known_header = store.header(known)
        if known_header is None:
            return None
        for _ in range(MAX_EVENT_WALK + 1):
            if block_hash == known:
                found.reverse()
                return found
            header = store.header(block_hash)
            if header is None or header.number <= known_header.number:
                return None
            events = self._events_of(block_hash)
            if events is None:
                return None
            found.append(BlockEvents(header.number, block_hash, events))
            block_hash = header.parent_hash
        return None

    def _events_of(self, block_hash: bytes) -> tuple[ChainEvent, ...] | None:
        cache = _CACHES.setdefault(self.net, OrderedDict())
        events = cache.get(block_hash)
        if events is not None:
            return events
        try:
            raw = self.core().store.reader(block_hash)(EVENTS_KEY)
        except (ChainStoreError, TrieError):
            return None
        events = decode_events(raw)
        cache[block_hash] = events
        if len(cache) > EVENT_CACHE_BLOCKS:
            cache.popitem(last=False)
        return events


class Agent(Protocol):
    """A worker, requester or committee member of the simulated world."""

    name: str

    def start(self, ctx: AgentContext) -> None:
        """Once, at the start of the run."""
        ...

    def on_block(self, ctx: AgentContext, header: Header) -> None:
        """Each new best block of the agent's home node."""
        ...

    def sample(self, ctx: AgentContext) -> None:
        """Every `outputs.sample_every_s` of simulated time."""
        ...


__all__ = [
    "DEFAULT_MORTALITY",
    "Agent",
    "AgentContext",
    "BlockEvents",
    "ChainEvent",
    "RowRecorder",
    "decode_events",
]
