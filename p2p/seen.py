"""Message ids, and the bounded memories of which messages a node, and each peer, has seen.

A gossip message's id is the BLAKE2b-256 hash of its topic and data, so the same bytes on one
topic are one message whoever sends them and however often: the node's handler hears each once.
"""

from __future__ import annotations

from collections import OrderedDict
from hashlib import blake2b
from typing import Final

from p2p.frames import MESSAGE_ID_LEN


def message_id(topic: str, data: bytes) -> bytes:
    """The id of `data` published on `topic`."""
    digest = blake2b(topic.encode("ascii"), digest_size=MESSAGE_ID_LEN)
    digest.update(b"\0")
    digest.update(data)
    return digest.digest()


class SeenMessages:
    """The ids of recently seen messages, each kept for `ttl` seconds and at most `capacity`."""

    def __init__(self, *, ttl: float = 120.0, capacity: int = 200_000) -> None:
        self.ttl = ttl
        self.capacity = capacity
        self._seen: OrderedDict[bytes, float] = OrderedDict()

    def __contains__(self, message: bytes) -> bool:
        return message in self._seen

    def __len__(self) -> int:
        return len(self._seen)

    def add(self, message: bytes, now: float) -> bool:
        """Remember `message`; False if it was already remembered."""
        if message in self._seen:
            return False
        self._seen[message] = now + self.ttl
        while self._seen:
            oldest, expires = next(iter(self._seen.items()))
            if expires > now and len(self._seen) <= self.capacity:
                break
            del self._seen[oldest]
        return True


class KnownMessages:
    """Which messages one peer is known to have (it sent them, was sent them, or said it has them).

    Only the last `capacity` are kept: forgetting one costs at most a duplicate send.
    """

    CAPACITY: Final = 8192

    def __init__(self, capacity: int = CAPACITY) -> None:
        self.capacity = capacity
        self._ids: OrderedDict[bytes, None] = OrderedDict()

    def __contains__(self, message: bytes) -> bool:
        return message in self._ids

    def add(self, message: bytes) -> None:
        """Note that the peer has `message`."""
        self._ids[message] = None
        self._ids.move_to_end(message)
        if len(self._ids) > self.capacity:
            self._ids.popitem(last=False)
