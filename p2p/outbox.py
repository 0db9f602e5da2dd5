"""One peer's queue of outgoing gossip frames, paced to the peer's limits.

py-libp2p's GossipSub drops messages past 32 queued per peer without a word; this queue instead
holds up to a byte budget and reports every frame it cannot take (the caller counts and logs it).
Frames leave in the order they were queued, except that a topic whose pace says "wait" is
skipped for a moment, so that a burst of blocks does not hold votes back, and control frames
(HAVE) go first, except PEERS lists, which keep their place in the order. Frames for a message
the peer turned out to have already are skipped when their turn comes.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import trio

from p2p.config import TopicLimits
from p2p.rate_limit import TopicRate


@dataclass(slots=True)
class OutgoingFrame:
    """A frame waiting to be written, with its length prefix."""

    topic: str
    data: bytes
    message: bytes | None = None
    """The gossip message id, for frames that can be skipped if the peer has it meanwhile."""
    counted: bool = True
    """Whether the frame counts as a message in the stats (control frames do not)."""
    order: int = 0


class Outbox:
    """Frames for one peer: per-topic queues, each paced to what the peer accepts."""

    def __init__(
        self,
        topics: Mapping[str, TopicLimits],
        *,
        max_bytes: int,
        peer_has: Callable[[bytes], bool],
    ) -> None:
        now = trio.current_time()
        self.max_bytes = max_bytes
        self._peer_has = peer_has
        self._pace = {topic: TopicRate.for_sending(limits, now) for topic, limits in topics.items()}
        self._queues: dict[str, deque[OutgoingFrame]] = {topic: deque() for topic in topics}
        self._control: deque[OutgoingFrame] = deque()
        self._ordered: deque[OutgoingFrame] = deque()
        self._order = 0
        self.queued_bytes = 0
        self.skipped = 0
        """Frames not sent because the peer had the message by the time their turn came."""
        self._changed = trio.Event()

    @property
    def queued_frames(self) -> int:
        """Frames waiting, control frames included."""
        queues = (self._control, self._ordered, *self._queues.values())
        return sum(len(queue) for queue in queues)

    def push(self, frame: OutgoingFrame) -> bool:
        """Queue a gossip frame; False (and nothing queued) if the byte budget is spent."""
        if self.queued_bytes + len(frame.data) > self.max_bytes:
            return False
        self._order += 1
        frame.order = self._order
        self._queues[frame.topic].append(frame)
        self.queued_bytes += len(frame.data)
        self._changed.set()
        return True

    def push_control(self, frame: OutgoingFrame) -> None:
        """Queue a small control frame ahead of every gossip frame (it is not paced)."""
        self._control.append(frame)
        self.queued_bytes += len(frame.data)
        self._changed.set()

    def push_in_order(self, frame: OutgoingFrame) -> None:
        """Queue an unpaced control frame behind every gossip frame queued before it (a PEERS
        list must not overtake what was sent before it: the receiver judges those by it)."""
        self._order += 1
        frame.order = self._order
        self._ordered.append(frame)
        self.queued_bytes += len(frame.data)
        self._changed.set()

    def clear(self) -> int:
        """Empty the queue; the number of gossip frames thrown away."""
        dropped = sum(len(queue) for queue in self._queues.values())
        for queue in self._queues.values():
            queue.clear()
        self._control.clear()
        self._ordered.clear()
        self.queued_bytes = 0
        return dropped

    async def next_batch(self, max_bytes: int) -> list[OutgoingFrame]:
        """Wait for frames that may be sent now and take up to about `max_bytes` of them (at
        least one frame, however large)."""
        while True:
            batch = self._take(max_bytes)
            if batch:
                return batch
            wait = self._next_due()
            self._changed = trio.Event()
            with trio.move_on_after(wait):
                await self._changed.wait()

    def _take(self, max_bytes: int) -> list[OutgoingFrame]:
        batch: list[OutgoingFrame] = []
        size = 0
        while self._control and size < max_bytes:
            control = self._control.popleft()
            batch.append(control)
            size += len(control.data)
        now = trio.current_time()
        while size < max_bytes:
            frame = self._next_frame(now)
            if frame is None:
                break
            batch.append(frame)
            size += len(frame.data)
        self.queued_bytes -= size
        return batch

    def _next_frame(self, now: float) -> OutgoingFrame | None:
        """The oldest frame that may go now (taking its topic's tokens): the head of a topic
        queue whose pace allows it, or an ordered control frame older than every topic head."""
        while True:
            oldest = min((queue[0].order for queue in self._queues.values() if queue), default=None)
            best: deque[OutgoingFrame] | None = None
            if self._ordered and (oldest is None or self._ordered[0].order < oldest):
                best = self._ordered
            for topic, queue in self._queues.items():
                if not queue or (best is not None and queue[0].order > best[0].order):
                    continue
                if self._pace[topic].delay(len(queue[0].data), now) == 0:
                    best = queue
            if best is None:
                return None
            frame = best.popleft()
            if best is self._ordered:
                return frame
            if frame.message is not None and self._peer_has(frame.message):
                self.queued_bytes -= len(frame.data)
                self.skipped += 1
                continue
            self._pace[frame.topic].admit(len(frame.data), now)
            return frame

    def _next_due(self) -> float:
        """Seconds until some queued frame may be sent (inf if none is queued)."""
        now = trio.current_time()
        delays = [
            self._pace[topic].delay(len(queue[0].data), now)
            for topic, queue in self._queues.items()
            if queue
        ]
        return min(delays, default=float("inf"))
