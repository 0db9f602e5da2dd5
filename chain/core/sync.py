"""Sync: what to ask peers for so that this node reaches their best and finalized blocks.

The node learns each peer's best and finalized blocks from the status request on connect (asked
again every STATUS_INTERVAL_MS) and from the blocks the peer gossips. Then:

- range sync: while a peer's best is above ours, ask it for up to MAX_SYNC_BLOCKS blocks, by
  number, from our best + 1 upward. One range request at a time, taking turns among the peers
  that can fill it, and a second one to another peer if the first is slow to come back
  (`hedge_ms`: twice the usual round trip). If the first block returned does not attach to
  our chain, that peer is on a fork: ask it again from our finalized block + 1, which every
  honest chain shares.
- claims are checked: a best block above what could have been authored since our finalized block
  (`highest_possible_block`) is capped there, and a peer whose range answer brings nothing above
  our best (or does not come) loses its claim down to what its range answers brought, and is
  doubted for a while that doubles with each failure: its status claims are not believed, and it
  is asked for ranges only when no other peer is ahead. (A gossiped block raises its best again,
  but proves nothing: a peer relays a block whose parent it lacks before it holds it.)
- block fetch: a block that gossip names but does not carry (a large body, or a vote or commit
  for a block not seen yet) is asked for by hash, with its ancestors down to our finalized block;
  a block more than MAX_SYNC_BLOCKS above our best is left to range sync, as its ancestry could
  not reach our chain in one answer.
- finality: if a peer finalized a block that we hold but not as final, ask for that block's
  justification.

Responses carry justifications where the serving node has them, and the node imports them in
order, so a node that starts from genesis follows every authority set change. This class only
decides and remembers; `chain.core.sync_exchange` sends the requests and imports what comes back.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from chain.core.aura import MAX_FUTURE_SLOTS, slot_at
from chain.core.messages import MAX_SYNC_BLOCKS, BlockRequest, Status

STATUS_INTERVAL_MS: Final = 5_000
REQUEST_TIMEOUT_MS: Final = 20_000
"""A request the driver has not answered by then is forgotten (the driver times out first)."""
MAX_WANTED_BLOCKS: Final = 64
"""Blocks waiting to be fetched by hash, at most."""
UNTRACKED_KINDS: Final = ("status", "catchup", "neighbour")
"""Requests sent beside sync's own, which do not make their peer busy."""
FORGET_WANTED_AHEAD: Final = 4 * MAX_SYNC_BLOCKS
"""A block wanted by hash this far above our best is forgotten rather than kept for later."""
JUSTIFICATION_INTERVAL_MS: Final = 1_000
"""A peer is asked for a justification at most this often."""
RANGE_HEDGE_MS: Final = 1_000
"""A range request unanswered this long lets another go out, to another peer, until range answers
were timed (then `hedge_ms`)."""
MIN_RANGE_HEDGE_MS: Final = 500
"""The hedge delay is never shorter (a fast network does not double every request)."""
MAX_RANGE_HEDGE_MS: Final = REQUEST_TIMEOUT_MS // 2
"""The hedge delay is never longer. A peer that never answers still delays sync by the hedge delay
each time it is asked (rarely: see DOUBT_MS); one that answers slowly with real blocks lengthens
it, up to this."""
MAX_RANGES_IN_FLIGHT: Final = 2
"""Range requests in flight at once, at most (each to a different peer)."""
DOUBT_MS: Final = 5_000
"""How long a peer whose range answer failed to back its claimed best is doubted after its first
failure; each further failure in a row doubles it, up to MAX_DOUBT_MS. A liar can still be asked
while doubted when no other peer is ahead (a block it gossips raises its best), and once its doubt
ends it claims again and is asked once more in turn: one wasted request (and a hedge delay if it
keeps silent) per doubling, about ten in its first hour and then one per MAX_DOUBT_MS. Old blocks
in answer cost it COST_USELESS each time; an empty answer or none costs nothing (honest peers give
those too)."""
MAX_DOUBT_MS: Final = 600_000
"""The longest a peer is doubted."""


def highest_possible_block(
    finalized_number: int, finalized_slot: int, now_ms: int, slot_duration_ms: int
) -> int:
    """The highest block a chain that keeps our finalized block can have reached by `now_ms`.

    Every block's slot is after its parent's, and no block is accepted from more than
    MAX_FUTURE_SLOTS ahead of our clock: at most one block per slot since the finalized one. From
    genesis (slot 0) the bound is loose (the slots since the epoch): a liar can still claim up to
    it, and is then caught by its range answers.
    """
    slots = slot_at(now_ms, slot_duration_ms) + MAX_FUTURE_SLOTS - finalized_slot
    return finalized_number + max(0, slots)


@dataclass
class PeerState:
    """What this node knows of one peer's chain, and when it last asked that peer for what."""

    best_number: int = 0
    best_hash: bytes = b""
    finalized_number: int = 0
    finalized_hash: bytes = b""
    authority: bool = False
    known: bool = False
    """Whether its status was received."""
    status_asked_ms: int = -STATUS_INTERVAL_MS
    justification_asked_ms: int = -STATUS_INTERVAL_MS
    busy: bool = False
    """A request to it is in flight."""
    from_finalized: bool = False
    """Its chain forked from ours: range requests start at our finalized block."""
    backed_number: int = 0
    """The highest block one of its range answers brought."""
    range_asked_ms: int = -1
    """When it was last asked for a range (peers take turns, the longest unasked first)."""
    failures: int = 0
    """Range answers in a row that did not back its claimed best."""
    doubted_until_ms: int = 0
    """Until then its status claims are not believed above `backed_number`, and it is asked for a
    range only when no other peer is ahead."""

    def doubted(self, now_ms: int) -> bool:
        """Whether it failed to back its claim lately."""
        return now_ms < self.doubted_until_ms


@dataclass(frozen=True, slots=True)
class Pending:
    """A request in flight."""

    peer: str
    kind: str
    """"status", "range", "fetch", "justification", "catchup" or "neighbour"."""
    sent_ms: int
    key: bytes = b""
    """The block hash a fetch or justification request is for."""
    best_then: int = 0
    """For a range request: this node's best number when it asked (the answer must bring more)."""
    up_to: int = 0
    """For a range request: the highest block number asked for."""


class Sync:
    """The peers' chains as this node knows them, and the sync requests in flight."""

    def __init__(self) -> None:
        self.peers: dict[str, PeerState] = {}
        self.pending: dict[int, Pending] = {}
        self._wanted: dict[bytes, tuple[int, str]] = {}
        """Blocks to fetch by hash: hash -> (number, a peer that has it)."""
        self._next_tag = 1
        self._range_round_trip_ms: int | None = None
        """A moving average of the round trips of range answers that brought blocks."""
        # `next_requests` runs after every gossip message a node takes in: these three let it
        # pass over the peers without looking at each while nothing can be due.
        self._status_due_ms: int | None = None
        """When the next status request falls due: the earliest status ask of a peer plus
        STATUS_INTERVAL_MS (asks change only in `next_requests`, which keeps this; None: look)."""
        self._peers_finalized = 0
        """The highest finalized number a peer told of (never lowered): no peer above it has a
        justification to ask for."""
        self._peers_best = 0
        """The highest best number a peer told of or gossiped (never lowered): with ours at or
        above it, no peer is ahead to ask for a range."""

    # Peers

    def add_peer(self, peer: str) -> None:
        """Track a newly connected peer; its status is asked for with the next requests."""
        self.peers.setdefault(peer, PeerState())
        self._status_due_ms = None

    def remove_peer(self, peer: str) -> None:
        """Forget a peer that left, its requests in flight, and the blocks it was to send."""
        self.peers.pop(peer, None)
        for tag in [t for t, p in self.pending.items() if p.peer == peer]:
            del self.pending[tag]
        for block_hash in [h for h, (_, p) in self._wanted.items() if p == peer]:
            del self._wanted[block_hash]

    def on_status(self, peer: str, status: Status, *, cap: int, now_ms: int) -> bool:
        """Learn a peer's chain from its status: its best block now (lower than before if it
        moved to a shorter chain that finality chose), and its finalized block (only ever up).

        A best above `cap` (`highest_possible_block`) is taken as `cap`, and a doubted peer's as
        no more than its range answers brought. Returns whether its best was above `cap` (a lie).
        """
        state = self.peers.get(peer)
        if state is None:
            return False
        state.known = True
        state.authority = status.authority
        best, best_hash = status.best_number, status.best_hash
        if best > cap:
            best, best_hash = cap, b""
        if state.doubted(now_ms):
            best = min(best, state.backed_number)
        state.best_number, state.best_hash = best, best_hash
        self._peers_best = max(self._peers_best, best)
        if status.finalized_number >= state.finalized_number:
            state.finalized_number = status.finalized_number
            state.finalized_hash = status.finalized_hash
            self._peers_finalized = max(self._peers_finalized, state.finalized_number)
        return status.best_number > cap

    def note_block(self, peer: str, number: int, block_hash: bytes) -> None:
        """`peer` has block (`number`, `block_hash`): it gossiped it."""
        state = self.peers.get(peer)
        if state is not None and number > state.best_number:
            state.best_number, state.best_hash = number, block_hash
            self._peers_best = max(self._peers_best, number)

    def want_block(self, peer: str, block_hash: bytes, number: int) -> None:
        """Fetch this block (and its missing ancestors) from `peer`."""
        if block_hash not in self._wanted and len(self._wanted) < MAX_WANTED_BLOCKS:
            self._wanted[block_hash] = (number, peer)
        self.note_block(peer, number, block_hash)

    def fetched(self, block_hash: bytes) -> None:
        """`block_hash` arrived: stop wanting it."""
        self._wanted.pop(block_hash, None)

    # Reading

    def highest_peer_block(self) -> int:
        """The highest best-block number any peer has told of (0 with no peers)."""
        return max((p.best_number for p in self.peers.values()), default=0)

    def is_syncing(self, best_number: int) -> bool:
        """Whether this node is well behind its peers (more than a couple of blocks)."""
        return self.highest_peer_block() > best_number + 2

    # Requests

    def _tag(self) -> int:
        tag = self._next_tag
        self._next_tag += 1
        return tag

    def _send(
        self,
        peer: str,
        kind: str,
        now_ms: int,
        key: bytes = b"",
        best_then: int = 0,
        up_to: int = 0,
    ) -> int:
        tag = self._tag()
        self.pending[tag] = Pending(peer, kind, now_ms, key, best_then, up_to)
        if kind not in UNTRACKED_KINDS:
            self.peers[peer].busy = True
        return tag

    def track(self, peer: str, kind: str, now_ms: int) -> int:
        """A tag for a request the caller builds itself (status, catch-up)."""
        return self._send(peer, kind, now_ms)

    def next_requests(
        self,
        *,
        best_number: int,
        finalized_number: int,
        has_block: Callable[[bytes], bool],
        is_final: Callable[[bytes], bool],
        now_ms: int,
    ) -> list[tuple[str, int, str, BlockRequest | None]]:
        """What to ask now: (peer, tag, kind, block request or None for a status request)."""
        out: list[tuple[str, int, str, BlockRequest | None]] = []
        if self.pending:
            for tag, p in list(self.pending.items()):
                if now_ms - p.sent_ms > REQUEST_TIMEOUT_MS:
                    self.finish(tag)
                    self.unanswered(p, now_ms)
        if self._status_due_ms is None or now_ms >= self._status_due_ms:
            earliest: int | None = None
            for peer, state in self.peers.items():
                if now_ms - state.status_asked_ms >= STATUS_INTERVAL_MS:
                    state.status_asked_ms = now_ms
                    out.append((peer, self._send(peer, "status", now_ms), "status", None))
                if earliest is None or state.status_asked_ms < earliest:
                    earliest = state.status_asked_ms
            self._status_due_ms = None if earliest is None else earliest + STATUS_INTERVAL_MS
        # Blocks named but not held, by hash, with their ancestors.
        for block_hash, (number, peer) in list(self._wanted.items()) if self._wanted else ():
            if has_block(block_hash):
                del self._wanted[block_hash]
                continue
            if any(p.kind == "fetch" and p.key == block_hash for p in self.pending.values()):
                continue
            if number > best_number + FORGET_WANTED_AHEAD:
                # Named far beyond anything range sync will bring soon: dropped, so that names
                # of blocks that may never exist cannot fill the wanted list for good.
                del self._wanted[block_hash]
                continue
            if number > best_number + MAX_SYNC_BLOCKS:
                continue  # its ancestry would not reach our chain: range sync brings it
            holder = self.peers.get(peer)
            if holder is None or holder.busy:
                continue
            count = max(1, min(MAX_SYNC_BLOCKS, number - finalized_number))
            request = BlockRequest(block_hash, descending=True, max_blocks=count)
            out.append((peer, self._send(peer, "fetch", now_ms, block_hash), "fetch", request))
        # One range request at a time, and another if it is slow to come back.
        ranges = [p for p in self.pending.values() if p.kind == "range"]
        if (
            self._peers_best > best_number
            and len(ranges) < MAX_RANGES_IN_FLIGHT
            and all(now_ms - p.sent_ms >= self.hedge_ms() for p in ranges)
        ):
            server = self._range_peer(best_number, now_ms)
            if server is not None:
                state = self.peers[server]
                state.range_asked_ms = now_ms
                start = finalized_number + 1 if state.from_finalized else best_number + 1
                count = max(1, min(MAX_SYNC_BLOCKS, state.best_number - start + 1))
                request = BlockRequest(start, descending=False, max_blocks=count)
                tag = self._send(
                    server, "range", now_ms, best_then=best_number, up_to=start + count - 1
                )
                out.append((server, tag, "range", request))
        # Justifications of blocks a peer finalized that we hold but not as final.
        if self._peers_finalized > finalized_number and not any(
            p.kind == "justification" for p in self.pending.values()
        ):
            for peer, state in self.peers.items():
                if (
                    state.known
                    and not state.busy
                    and now_ms - state.justification_asked_ms >= JUSTIFICATION_INTERVAL_MS
                    and state.finalized_number > finalized_number
                    and has_block(state.finalized_hash)
                    and not is_final(state.finalized_hash)
                ):
                    state.justification_asked_ms = now_ms
                    request = BlockRequest(
                        state.finalized_hash, descending=True, max_blocks=1, bodies=False
                    )
                    tag = self._send(peer, "justification", now_ms, state.finalized_hash)
                    out.append((peer, tag, "justification", request))
                    break
        return out

    def _range_peer(self, best_number: int, now_ms: int) -> str | None:
        """Whom to ask for the next range: a peer ahead that is not doubted, one that can fill
        the request, and of those the one asked longest ago (ties: the first connected)."""
        ahead = [
            (peer, s)
            for peer, s in self.peers.items()
            if s.known and not s.busy and s.best_number > best_number
        ]
        if not ahead:
            return None
        peer, _ = min(
            ahead,
            key=lambda item: (
                item[1].doubted(now_ms),
                -min(MAX_SYNC_BLOCKS, item[1].best_number - best_number),
                item[1].range_asked_ms,
            ),
        )
        return peer

    def finish(self, tag: int) -> Pending | None:
        """The request `tag` was answered (or failed): forget it and free its peer."""
        pending = self.pending.pop(tag, None)
        if pending is not None:
            state = self.peers.get(pending.peer)
            if state is not None and pending.kind not in UNTRACKED_KINDS:
                state.busy = any(
                    p.peer == pending.peer and p.kind not in UNTRACKED_KINDS
                    for p in self.pending.values()
                )
        return pending

    def unanswered(self, pending: Pending, now_ms: int) -> None:
        """`pending` failed or timed out: a range request that did so did not back the claim."""
        if pending.kind == "range":
            self.range_failed(pending.peer, now_ms)

    def hedge_ms(self) -> int:
        """How long a range request may go unanswered before another goes to another peer."""
        if self._range_round_trip_ms is None:
            return RANGE_HEDGE_MS
        return max(MIN_RANGE_HEDGE_MS, min(MAX_RANGE_HEDGE_MS, 2 * self._range_round_trip_ms))

    def range_backed(self, peer: str, highest: int, *, round_trip_ms: int) -> None:
        """`peer`'s range answer brought blocks up to `highest` in `round_trip_ms`: it backs its
        claim."""
        average = self._range_round_trip_ms
        average = round_trip_ms if average is None else average + (round_trip_ms - average) // 4
        self._range_round_trip_ms = average
        state = self.peers.get(peer)
        if state is not None:
            state.backed_number = max(state.backed_number, highest)
            state.failures = 0
            state.doubted_until_ms = 0

    def range_ended(self, peer: str, highest: int) -> None:
        """`peer`'s range answer stopped at `highest`, short of what was asked, and not for its
        size: its chain ends there, whatever it claimed (a peer that gives a block at a time is
        asked again only once it claims or gossips more)."""
        state = self.peers.get(peer)
        if state is not None and state.best_number > highest:
            state.best_number, state.best_hash = highest, b""

    def range_failed(self, peer: str, now_ms: int) -> None:
        """`peer`'s range answer brought nothing above our best (or never came): forget its
        claimed best beyond what its range answers brought, and doubt it for a while (doubling
        with each failure in a row)."""
        state = self.peers.get(peer)
        if state is None:
            return
        state.failures += 1
        doubt = min(MAX_DOUBT_MS, DOUBT_MS << min(state.failures - 1, 20))
        state.doubted_until_ms = now_ms + doubt
        if state.best_number > state.backed_number:
            state.best_number, state.best_hash = state.backed_number, b""

    def forked(self, peer: str) -> bool:
        """`peer`'s blocks do not attach to our best chain: range-sync it from finality.

        Returns False if that was already the case (then its chain does not attach at all).
        """
        state = self.peers.get(peer)
        if state is None or state.from_finalized:
            return False
        state.from_finalized = True
        return True

    def attached(self, peer: str) -> None:
        """`peer`'s blocks attach to our chain again: range-sync it from our best block."""
        state = self.peers.get(peer)
        if state is not None:
            state.from_finalized = False
