"""Peer scores and bans: what a peer's misbehaviour costs, and when it is shown the door.

Every peer starts at 0. Misbehaviour lowers the score by its cost (the costs below for what the
network itself catches, any amount for what the node reports through `Network.report`), and the
score decays back towards 0 with a half-life, so an honest peer's occasional fault is forgotten.
A peer whose score reaches the ban score is disconnected and banned for a while: its connections
are refused and it is not dialed. Duplicates are never penalized: in a mesh every honest peer
sends them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

# Costs of what the network layer catches by itself (with ban_score -100: a handful of bad
# messages, or a sustained flood, bans a peer; a single slip does not).
REJECTED_MESSAGE: Final = 20
"""The node's handler returned REJECT."""
OVERSIZED_MESSAGE: Final = 25
"""A message over its topic's size limit."""
RATE_EXCEEDED: Final = 5
"""A message or request beyond the peer's rate or concurrency limit."""
MALFORMED_FRAME: Final = 25
"""A frame that does not parse, or names a topic this chain does not have."""
PROTOCOL_VIOLATION: Final = 100
"""A length prefix no honest node would send: the stream is closed too."""
OVERSIZED_REQUEST: Final = 25
"""A request over its protocol's size limit."""
TOO_MANY_STREAMS: Final = 10
"""Each stream a peer opens beyond `NetworkConfig.max_inbound_streams` on one connection: ten of
them ban it."""


@dataclass
class _Record:
    score: float
    updated: float
    banned_until: float = 0.0


class PeerScores:
    """Scores of the peers a node has dealt with recently, and its bans."""

    MAX_RECORDS: Final = 10_000

    def __init__(self, *, ban_score: float, ban_seconds: float, half_life: float) -> None:
        self.ban_score = ban_score
        self.ban_seconds = ban_seconds
        self.half_life = half_life
        self._records: dict[str, _Record] = {}

    def score(self, peer: str, now: float) -> float:
        """The peer's current score (0 for a peer with no record)."""
        record = self._records.get(peer)
        if record is None:
            return 0.0
        self._decay(record, now)
        return record.score

    def penalize(self, peer: str, cost: float, now: float) -> bool:
        """Lower the peer's score by `cost`; True if this newly bans it."""
        record = self._records.get(peer)
        if record is None:
            self._make_room()
            record = self._records[peer] = _Record(0.0, now)
        self._decay(record, now)
        record.score -= cost
        if record.score > self.ban_score or record.banned_until > now:
            return False
        record.banned_until = now + self.ban_seconds
        return True

    def is_banned(self, peer: str, now: float) -> bool:
        """Whether the peer is banned at `now`."""
        record = self._records.get(peer)
        return record is not None and record.banned_until > now

    def banned_until(self, peer: str) -> float:
        """When the peer's ban ends (0 if it has none)."""
        record = self._records.get(peer)
        return 0.0 if record is None else record.banned_until

    def _decay(self, record: _Record, now: float) -> None:
        if record.banned_until and record.banned_until <= now:
            record.banned_until = 0.0
            record.score = 0.0  # a served ban wipes the slate
        elif now > record.updated:
            record.score *= 0.5 ** ((now - record.updated) / self.half_life)
        record.updated = max(record.updated, now)

    def _make_room(self) -> None:
        if len(self._records) < self.MAX_RECORDS:
            return
        now = max(record.updated for record in self._records.values())
        for peer in [p for p, r in self._records.items() if r.banned_until <= now]:
            del self._records[peer]
            if len(self._records) < self.MAX_RECORDS // 2:
                return
