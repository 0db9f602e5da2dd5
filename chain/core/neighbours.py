"""Where a voter's peers stand (their neighbour packets), and whom it asks to catch up, how often.

A peer's position (set id and round) is what it says in the neighbour protocol: unsigned and
unverified, so it never moves the voter. It only picks the peer to ask for a catch-up, which
carries the signed votes of a completed round and proves itself. A peer whose claim is not backed
by its answer (none, or a round that is not ahead) loses the claim and is asked again only after
a back-off that doubles each time, so a liar costs the voter one request per back-off period and
gains nothing. Everything here is kept per connected peer and dropped when the peer leaves.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

NEIGHBOUR_REFRESH_MS: Final = 3_000
"""A voter whose round is stuck asks each peer for its position at most this often."""
CATCH_UP_BACKOFF_MS: Final = 1_000
"""After asking a peer for a catch-up, the voter waits this long before asking it again."""
MAX_CATCH_UP_BACKOFF_MS: Final = 32_000
"""The back-off doubles up to this while a peer's answers do not back its claims."""


@dataclass
class PeerPosition:
    """One peer's last claimed position, and when the voter may next ask it for what."""

    set_id: int = 0
    round: int = 0
    known: bool = False
    asked_ms: int | None = None
    """When its position was last asked for."""
    catch_up_after_ms: int = 0
    backoff_ms: int = CATCH_UP_BACKOFF_MS


class Neighbours:
    """The positions of the connected peers."""

    def __init__(self) -> None:
        self._peers: dict[str, PeerPosition] = {}

    def __len__(self) -> int:
        return len(self._peers)

    def peers(self) -> list[str]:
        """The connected peers, by name."""
        return sorted(self._peers)

    def connected(self, peer: str) -> None:
        self._peers.setdefault(peer, PeerPosition())

    def disconnected(self, peer: str) -> None:
        self._peers.pop(peer, None)

    def note(self, peer: str, set_id: int, round_: int) -> None:
        """`peer` says its voter is at round `round_` of set `set_id` (ignored for a peer that is
        not connected, so strangers' packets take no memory)."""
        state = self._peers.get(peer)
        if state is not None:
            state.set_id, state.round, state.known = set_id, round_, True

    def position(self, peer: str) -> tuple[int, int] | None:
        """The (set id, round) `peer` last claimed, if any."""
        state = self._peers.get(peer)
        return None if state is None or not state.known else (state.set_id, state.round)

    def to_refresh(self, now_ms: int, *, every_ms: int = NEIGHBOUR_REFRESH_MS) -> list[str]:
        """The peers whose position was not asked for in the last `every_ms`; marked asked."""
        out = []
        for peer, state in sorted(self._peers.items()):
            if state.asked_ms is None or now_ms - state.asked_ms >= every_ms:
                state.asked_ms = now_ms
                out.append(peer)
        return out

    def asked(self, peer: str, now_ms: int) -> None:
        """`peer`'s position was asked for now."""
        state = self._peers.get(peer)
        if state is not None:
            state.asked_ms = now_ms

    def ahead(self, set_id: int, round_: int, now_ms: int, *, by: int) -> str | None:
        """A peer that claims a round at least `by` past `round_` in set `set_id` and may be asked
        for a catch-up now: of those whose claims failed least (a liar claiming the furthest
        round is not asked before honest peers), the one furthest ahead (ties: the first by
        name, for determinism)."""
        best: tuple[int, int, str] | None = None
        for peer, state in sorted(self._peers.items()):
            if not state.known or state.set_id != set_id or state.round < round_ + by:
                continue
            if now_ms < state.catch_up_after_ms:
                continue
            if best is None or (-state.backoff_ms, state.round) > (-best[0], best[1]):
                best = (state.backoff_ms, state.round, peer)
        return None if best is None else best[2]

    def asked_catch_up(self, peer: str, now_ms: int) -> None:
        """A catch-up was asked of `peer` now: not again before its back-off has passed."""
        state = self._peers.get(peer)
        if state is not None:
            state.catch_up_after_ms = now_ms + state.backoff_ms

    def catch_up_failed(self, peer: str, now_ms: int) -> None:
        """`peer` did not back its claim: forget it, and double its back-off."""
        state = self._peers.get(peer)
        if state is not None:
            state.known = False
            state.backoff_ms = min(2 * state.backoff_ms, MAX_CATCH_UP_BACKOFF_MS)
            state.catch_up_after_ms = now_ms + state.backoff_ms

    def catch_up_succeeded(self, peer: str) -> None:
        """`peer`'s catch-up brought this voter along: it is trusted to be asked again soon."""
        state = self._peers.get(peer)
        if state is not None:
            state.backoff_ms = CATCH_UP_BACKOFF_MS
