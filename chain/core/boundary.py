"""The node core's boundary: what goes in, what comes out, what it offers and what it needs.

The core (`chain.core.node.NodeCore` and the parts it composes) is a state machine without I/O.
Its drivers (the node process in `chain.service.node` and `chain.service.network`, the simulator in
`sim.network`, tests) feed it inputs and carry out the actions it returns:

    inputs      NodeInputs: the start, a timer firing at time T, a transaction submitted here, a
                block from elsewhere (with its justification, from sync), a justification for a
                stored block, a peer connecting or leaving, a gossip message, a peer's request,
                the answer to one of ours. Time comes in as `now_ms` on every input.
    outputs     Action: timers to arm, notifications, gossip, requests, peer reports
                (`chain.core.actions`); a gossip message also gets a Verdict
                (`chain.core.voter_messages`), a request an answer or RequestRefused.
    views       ChainView: what the GRANDPA voter (`chain.core.grandpa`) reads of the chain; the
                core is the voter's view. NodeView, which extends it: the core's own reading of its
                chain (NodeCore is checked against it). The node service's parts still reach
                NodeCore's store, pool, sync and voter directly (`chain.service.interfaces`).

What the core needs from outside:

    ChainStoreReads    the chain store (`chain.storage.chain_store.ChainStore`) as the core's
                       parts read it: blocks, the canonical index, justifications and states.
    ChainStoreWrites   the same store written: imported blocks and finality (by
                       `chain.core.chain_updates` alone) and the voter's state. These writes are
                       the core's one side effect; every other effect is an Action its driver
                       carries out.
    SignatureVerifier  checks a block's signatures, maybe in parallel (`runtime.executive`).
"""

from __future__ import annotations

from typing import Final, Protocol

from chain.core.actions import (
    Action,
    BlockImported,
    Finalized,
    Gossip,
    ReportPeer,
    Retracted,
    SendRequest,
    SetTimer,
    TxDropped,
)
from chain.core.messages import Status
from chain.core.voter_messages import Verdict
from runtime.block import Block, Header
from runtime.executive import SignatureVerifier
from runtime.pallets.session import AuthoritySet
from runtime.primitives.trie import TrieCommit
from runtime.state import StateReader
from runtime.transaction import SignedTransaction

# Inputs

SLOT_TIMER: Final = "slot"
"""The timer of the next Aura slot: author if the slot is this node's."""
TICK_TIMER: Final = "tick"
"""The upkeep timer: votes sent again, sync requests, peers' status."""
GOSSIP_TIMER: Final = "gossip"
"""The timer that sends the transactions submitted here as one gossip batch."""
TIMERS: Final = (SLOT_TIMER, TICK_TIMER, GOSSIP_TIMER)
"""The names `on_timer` accepts; the core arms them with SetTimer."""


class RequestRefused(Exception):
    """A peer's request this node will not answer; the message says why."""


class NodeInputs(Protocol):
    """The inputs the core accepts; each returns the actions its driver must carry out."""

    def start(self, now_ms: int) -> list[Action]:
        """Resume after a (re)start: arm the timers, and vote on what is not final yet."""
        ...

    def on_timer(self, name: str, now_ms: int) -> list[Action]:
        """A timer armed by SetTimer fired; `name` is one of TIMERS."""
        ...

    def submit_transaction(self, raw: bytes, now_ms: int) -> tuple[SignedTransaction, list[Action]]:
        """Admit a local transaction to the pool and gossip it; raises if it is refused."""
        ...

    def import_block(
        self,
        block: Block,
        now_ms: int,
        *,
        justification: bytes | None = None,
        next_block: Block | None = None,
    ) -> list[Action]:
        """Import a block from elsewhere (final too with a justification); raises if refused.
        `next_block`, the one to be imported next, may have its signature checks started."""
        ...

    def finalize_block(self, block_hash: bytes, justification: bytes, now_ms: int) -> list[Action]:
        """Finalize a stored block given its justification; raises if the justification is bad."""
        ...

    def on_peer_connected(self, peer: str, now_ms: int) -> list[Action]:
        """A peer connected: learn its chain."""
        ...

    def on_peer_disconnected(self, peer: str) -> None:
        """A peer left: stop asking it for anything."""
        ...

    def on_gossip(
        self, peer: str, topic: str, data: bytes, now_ms: int
    ) -> tuple[Verdict, list[Action]]:
        """A gossip message from `peer`, checked before the network relays it (ACCEPT only)."""
        ...

    def on_request(self, peer: str, protocol: str, data: bytes, now_ms: int) -> bytes:
        """Answer a peer's request; RequestRefused (or DecodeError) if it cannot be answered."""
        ...

    def on_response(self, peer: str, tag: int, data: bytes | None, now_ms: int) -> list[Action]:
        """The answer to request `tag` (None: it failed or timed out)."""
        ...


# Views


class ChainView(Protocol):
    """What the GRANDPA voter reads of the chain."""

    def header(self, block_hash: bytes) -> Header | None:
        """The header of a block this node stores, or None."""
        ...

    @property
    def best_header(self) -> Header: ...

    @property
    def finalized_header(self) -> Header: ...

    def authority_set_after(self, block_hash: bytes) -> AuthoritySet:
        """The set in the state after `block_hash`: the one that finalizes its children."""
        ...


class NodeView(ChainView, Protocol):
    """What the core's drivers read of its chain (beside the voter's ChainView)."""

    @property
    def genesis_hash(self) -> bytes: ...

    def reader(self, block_hash: bytes | None = None) -> StateReader:
        """Read the state after `block_hash` (default: the best block)."""
        ...

    def slot_duration_ms(self) -> int:
        """The Aura slot length (ms) that the best block's state sets for its children."""
        ...

    def validators(self) -> tuple[bytes, ...]:
        """The session keys of the authorities that author the best block's children."""
        ...

    def next_nonce(self, who: bytes) -> int:
        """The nonce for a new transaction from `who`: its account nonce plus its pooled ones."""
        ...

    def status(self) -> Status:
        """What this node tells a peer about its chain."""
        ...


# What the core needs


class ChainStoreReads(Protocol):
    """What the core reads of the chain store."""

    @property
    def genesis_hash(self) -> bytes: ...

    @property
    def best_hash(self) -> bytes: ...

    @property
    def finalized_hash(self) -> bytes: ...

    @property
    def best_header(self) -> Header: ...

    @property
    def finalized_header(self) -> Header: ...

    def header(self, block_hash: bytes) -> Header | None:
        """The header of a stored block, or None (unknown, or on a fork that finality abandoned)."""
        ...

    def require_header(self, block_hash: bytes) -> Header:
        """The header of a stored block; raises if it is not stored."""
        ...

    def body(self, block_hash: bytes) -> tuple[bytes, ...] | None:
        """The extrinsics of a stored block, or None if it is not stored."""
        ...

    def hash_at(self, number: int) -> bytes | None:
        """The hash of the block at `number` on the best chain."""
        ...

    def justification(self, block_hash: bytes) -> bytes | None:
        """The justification that made `block_hash` final, or None: only the block each finality
        step targeted keeps one."""
        ...

    def reader(self, block_hash: bytes) -> StateReader:
        """Read the state after block `block_hash`, valid until the store next changes."""
        ...

    def commit_state(self, parent_root: bytes, changes: dict[bytes, bytes | None]) -> TrieCommit:
        """The trie commit of a block's changes on its parent's state (nothing is written)."""
        ...

    def voter_state(self) -> bytes | None:
        """What the finality voter saved of its own votes."""
        ...


class ChainStoreWrites(ChainStoreReads, Protocol):
    """The chain store as the core writes it: the core's one side effect, each write atomic."""

    def import_block(
        self,
        block: Block,
        changes: dict[bytes, bytes | None],
        commit: TrieCommit,
        *,
        make_best: bool,
        justification: bytes | None = None,
    ) -> list[bytes]:
        """Store an executed block (final too with a justification); returns the new final ones."""
        ...

    def finalize(self, block_hash: bytes, justification: bytes) -> list[bytes]:
        """Make `block_hash` and its ancestors final; returns the new final hashes, oldest first."""
        ...

    def save_voter_state(self, raw: bytes) -> None:
        """Save the voter's state durably, before it sends the votes it records."""
        ...


__all__ = [
    "GOSSIP_TIMER",
    "SLOT_TIMER",
    "TICK_TIMER",
    "TIMERS",
    "Action",
    "BlockImported",
    "ChainStoreReads",
    "ChainStoreWrites",
    "ChainView",
    "Finalized",
    "Gossip",
    "NodeInputs",
    "NodeView",
    "ReportPeer",
    "RequestRefused",
    "Retracted",
    "SendRequest",
    "SetTimer",
    "SignatureVerifier",
    "TxDropped",
    "Verdict",
]
