"""The node's side of the network interface: what the network asks the node.

The node core decides what every message means; the network only moves bytes and defends the
node. It calls these methods on the trio thread, one at a time, so the node needs no locking.
"""

from __future__ import annotations

from enum import Enum
from typing import Protocol


class GossipVerdict(Enum):
    """The node's judgement of a gossip message, given before the network relays it."""

    ACCEPT = "accept"
    """Valid: deliver it and relay it to the peers that do not have it."""
    IGNORE = "ignore"
    """Drop it without penalty (a duplicate, stale, or not checkable yet)."""
    REJECT = "reject"
    """Invalid: drop it and penalize the peer that sent it."""


class NetworkHandler(Protocol):
    """Implemented by the node."""

    def on_peer_connected(self, peer: str) -> None:
        """A peer of this chain is connected (our gossip streams to it are open)."""

    def on_peer_disconnected(self, peer: str) -> None:
        """A peer that `on_peer_connected` announced is gone."""

    def on_gossip(self, peer: str, topic: str, data: bytes) -> GossipVerdict:
        """Judge a message `peer` sent on `topic`; called once per message (duplicates are
        dropped before), before the message is relayed, and only ACCEPT relays it. Messages sent
        with `Network.send` come here too, every time, and are never relayed."""
        ...

    async def on_request(self, peer: str, protocol: str, data: bytes) -> bytes:
        """Answer `peer`'s request on `protocol`; raise `p2p.errors.RequestRefused` to refuse it.
        Any other exception is logged and the peer told that the request failed."""
        ...
