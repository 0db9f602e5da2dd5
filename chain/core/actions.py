"""What the node core asks its driver to do. The core never touches sockets or clocks itself.

The driver (the libp2p node process, the simulator, a test) executes these: it arms timers,
notifies RPC subscribers, updates metrics, and sends messages to peers. `Action`, their union,
is what every input of the core returns (`chain.core.boundary`).
"""

from __future__ import annotations

from dataclasses import dataclass

from runtime.block import Header


@dataclass(frozen=True, slots=True)
class SetTimer:
    """Call `on_timer(name, ...)` at time `at_ms` (unix milliseconds)."""

    name: str
    at_ms: int


@dataclass(frozen=True, slots=True)
class BlockImported:
    """A block was imported (authored here or received); `best` if it is now the best block."""

    header: Header
    tx_hashes: tuple[bytes, ...]
    best: bool
    authored: bool


@dataclass(frozen=True, slots=True)
class Retracted:
    """A block left the best chain (a reorg); its transactions went back to the pool if valid."""

    block_hash: bytes
    tx_hashes: tuple[bytes, ...]


@dataclass(frozen=True, slots=True)
class Finalized:
    """These blocks became final, oldest first."""

    headers: tuple[Header, ...]


@dataclass(frozen=True, slots=True)
class TxDropped:
    """A pooled transaction left the pool without being included; `reason` says why."""

    tx_hash: bytes
    status: str
    """"invalid", "dropped" (evicted or expired) or "usurped" (replaced by a higher tip)."""
    reason: str


@dataclass(frozen=True, slots=True)
class Gossip:
    """Publish `data` on `topic` to the network (see chain.core.messages)."""

    topic: str
    data: bytes


@dataclass(frozen=True, slots=True)
class SendRequest:
    """Ask `peer` over `protocol`; the answer (or its failure) comes back to `on_response(tag)`."""

    peer: str
    protocol: str
    data: bytes
    tag: int


@dataclass(frozen=True, slots=True)
class ReportPeer:
    """`peer` sent something useless or wrong: lower its score by `cost` (a ban at the floor)."""

    peer: str
    cost: int
    reason: str


Action = (
    SetTimer | BlockImported | Retracted | Finalized | TxDropped | Gossip | SendRequest | ReportPeer
)
