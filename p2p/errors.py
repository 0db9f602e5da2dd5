"""The ways a network operation fails, each a type of its own with a message that says why."""

from __future__ import annotations

from enum import Enum


class NetworkError(Exception):
    """Base of the errors `p2p` raises to the node."""


class ListenError(NetworkError):
    """The node cannot listen on its configured address (port in use, bad host)."""


class UnknownTopic(NetworkError, ValueError):
    """A topic the configuration does not declare."""


class MessageTooLarge(NetworkError, ValueError):
    """A message over its topic's size limit: peers would drop it and penalize the sender."""


class NotConnected(NetworkError):
    """`send` to a peer that has no open session."""


class FailureReason(Enum):
    """Why a request failed; `RequestFailed.reason`."""

    NOT_CONNECTED = "not connected"
    UNKNOWN_PROTOCOL = "unknown protocol"
    UNSUPPORTED = "the peer does not serve this protocol"
    REQUEST_TOO_LARGE = "request too large"
    RESPONSE_TOO_LARGE = "response too large"
    TIMEOUT = "timed out"
    REFUSED = "refused by the peer"
    REMOTE_ERROR = "the peer failed to answer"
    BUSY = "the peer is busy"
    STREAM_ERROR = "the stream failed"
    MALFORMED_RESPONSE = "malformed response"


class RequestFailed(NetworkError):
    """A request that got no valid response; `reason` says which way it failed."""

    def __init__(self, peer: str, protocol: str, reason: FailureReason, detail: str = "") -> None:
        self.peer = peer
        self.protocol = protocol
        self.reason = reason
        self.detail = detail
        text = f"request {protocol} to {peer}: {reason.value}"
        super().__init__(f"{text}: {detail}" if detail else text)


class RequestRefused(Exception):
    """Raised by a node's request handler to refuse a request; the peer is told `reason`, and
    `cost` is taken from its score (0 for a refusal that is no fault of the peer's)."""

    def __init__(self, reason: str, cost: int = 0) -> None:
        super().__init__(reason)
        self.reason = reason
        self.cost = cost
