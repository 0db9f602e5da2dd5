"""Token buckets: the per-peer rate limits on what a node accepts, and the pacing of what it sends.

A topic's limit is two buckets, one counting messages and one counting bytes; a message passes
when both hold enough. Receivers check; senders wait (`delay`) so that they never exceed what
the receiver will take, with a margin (`SEND_MARGIN`) for the jitter between the two clocks.
Times are in seconds from any monotonic clock (the network uses `trio.current_time`).
"""

from __future__ import annotations

from typing import Final

from p2p.config import BURST_SECONDS, RequestLimits, TopicLimits

SEND_MARGIN: Final = 0.8
"""Senders use this fraction of the receiver's rates and half its burst."""


class TokenBucket:
    """`rate` tokens a second, holding at most `capacity`; starts full."""

    __slots__ = ("_level", "_updated", "capacity", "rate")

    def __init__(self, rate: float, capacity: float, now: float) -> None:
        self.rate = rate
        self.capacity = capacity
        self._level = capacity
        self._updated = now

    def _refill(self, now: float) -> None:
        if now > self._updated:
            self._level = min(self.capacity, self._level + (now - self._updated) * self.rate)
            self._updated = now

    def take(self, amount: float, now: float) -> bool:
        """Take `amount` tokens if there are that many; whether it did."""
        self._refill(now)
        if self._level < amount:
            return False
        self._level -= amount
        return True

    def delay(self, amount: float, now: float) -> float:
        """Seconds until `amount` tokens will be there (0 if they are now)."""
        self._refill(now)
        missing = min(amount, self.capacity) - self._level
        return 0.0 if missing <= 0 else missing / self.rate


class TopicRate:
    """A topic's limit for one peer: messages and bytes, checked together."""

    __slots__ = ("_bytes", "_messages")

    def __init__(
        self, limits: TopicLimits, now: float, *, scale: float = 1.0, burst: float = BURST_SECONDS
    ) -> None:
        messages = limits.max_messages_per_second * scale
        data = limits.max_bytes_per_second * scale
        self._messages = TokenBucket(messages, max(1.0, messages * burst), now)
        self._bytes = TokenBucket(data, max(limits.max_message_bytes, data * burst), now)

    @classmethod
    def for_sending(cls, limits: TopicLimits, now: float) -> TopicRate:
        """The pace at which to send a topic to a peer that enforces `limits`."""
        return cls(limits, now, scale=SEND_MARGIN, burst=BURST_SECONDS / 2)

    def admit(self, size: int, now: float) -> bool:
        """Whether a message of `size` bytes is within the limit (and count it if so)."""
        if self._messages.delay(1, now) > 0 or self._bytes.delay(size, now) > 0:
            return False
        self._messages.take(1, now)
        self._bytes.take(size, now)
        return True

    def delay(self, size: int, now: float) -> float:
        """Seconds until a message of `size` bytes may be sent."""
        return max(self._messages.delay(1, now), self._bytes.delay(size, now))


def request_bucket(limits: RequestLimits, now: float, *, sending: bool = False) -> TokenBucket:
    """The bucket limiting one peer's requests on one protocol (or ours to it, when sending)."""
    rate = limits.max_requests_per_second * (SEND_MARGIN if sending else 1.0)
    burst = BURST_SECONDS / 2 if sending else BURST_SECONDS
    return TokenBucket(rate, max(1.0, rate * burst), now)
