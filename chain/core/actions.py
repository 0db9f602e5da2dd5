"""What the node core asks its driver to do. The core never touches sockets or clocks itself.

The driver (the libp2p node process, the simulator, a test) executes these: it arms timers,
notifies RPC subscribers, updates metrics, and, from the network issue on, sends messages.
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


Action = SetTimer | BlockImported | Retracted | Finalized | TxDropped
