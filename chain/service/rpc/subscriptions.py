"""Subscriptions over a WebSocket: a client's subscription, and the connection's session that
queues its notifications, enforces its limits and closes it.

A subscription's notifications wait until the subscribe call is answered, so that none reaches
the client before the id it belongs to; a client that does not keep up with its queue is
disconnected rather than silently dropped notifications.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable

import trio

from chain.service.rpc.errors import TOO_MANY_SUBSCRIPTIONS, RpcError, invalid_params
from chain.service.rpc.protocol import dumps

logger = logging.getLogger("xpl.rpc")

CLOSE_TIMEOUT_S = 1.0
"""How long a WebSocket that must close (slow client, shutdown) gets to take its close frame
before its socket is closed under it."""

MAX_SUBSCRIPTIONS_PER_ADDRESS = 4096
"""Subscriptions one client address (IPv6: one /64) may hold over all its WebSockets: each
costs the node a notification per event, encoded and sent on the event loop that answers
everyone. Within it an address still pays for its own notifications' bandwidth, and others
keep theirs, up to MAX_SUBSCRIPTIONS."""

MAX_QUEUED_BYTES = 16 * 1024 * 1024
"""Bytes of answers and notifications waiting to be sent on one WebSocket. Over it the
connection's requests are not read (its answers wait for it to read) and a notification closes
it; a client can make the node hold this much, and one answer more, per connection."""

MAX_SUBSCRIPTIONS = 16_384
"""Subscriptions all clients together may hold: what a new head costs the node to announce."""


class SubscriptionCounts:
    """Open subscriptions by client address and in all, shared by a server's sessions."""

    def __init__(
        self, per_address: int = MAX_SUBSCRIPTIONS_PER_ADDRESS, total: int = MAX_SUBSCRIPTIONS
    ) -> None:
        self.per_address = per_address
        self.total = total
        self.by_address: dict[str, int] = {}
        self.count = 0

    def take(self, address: str) -> None:
        """Count one more for `address`; RpcError TOO_MANY_SUBSCRIPTIONS over either cap."""
        held = self.by_address.get(address, 0)
        if held >= self.per_address:
            raise RpcError(
                TOO_MANY_SUBSCRIPTIONS,
                f"Too many subscriptions: the limit is {self.per_address} per address",
            )
        if self.count >= self.total:
            raise RpcError(
                TOO_MANY_SUBSCRIPTIONS,
                f"Too many subscriptions: the node holds its limit of {self.total}",
            )
        self.by_address[address] = held + 1
        self.count += 1

    def give_back(self, address: str) -> None:
        """Count one fewer for `address`."""
        held = self.by_address.get(address, 0)
        if held <= 1:
            self.by_address.pop(address, None)
        else:
            self.by_address[address] = held - 1
        self.count = max(0, self.count - 1)


# WebSocket close codes (RFC 6455).
WS_GOING_AWAY = 1001
WS_POLICY_VIOLATION = 1008


class Subscription:
    """One client's subscription over one WebSocket; the method's handler sends notifications."""

    def __init__(self, sub_id: str, notification: str, unsubscribe: str, session: Session) -> None:
        self.id = sub_id
        self.notification = notification
        self.unsubscribe_method = unsubscribe
        self._session = session
        self._finished = False
        self._ending = False  # closing soon: an oversized notification
        self._callbacks: list[Callable[[], None]] = []
        # Notifications sent before the subscribe call is answered wait here, so that none
        # reaches the client before the id it belongs to.
        self._pending: list[str] | None = []

    @property
    def closed(self) -> bool:
        """Whether further notifications are dropped (unsubscribed, closed or disconnecting)."""
        return self._finished or self._ending or self._session.closing

    def send(self, result: object) -> None:
        """Queue a notification carrying `result`; never blocks, never runs on_close callbacks.

        Raises TypeError or ValueError when `result` cannot be encoded as JSON. If the client does
        not keep up and the connection's queue overflows, the connection is closed (and the
        subscription ends with it, a moment later).
        """
        if self.closed:
            return
        text = dumps(
            {
                "jsonrpc": "2.0",
                "method": self.notification,
                "params": {"subscription": self.id, "result": result},
            }
        )
        if len(text) > self._session.max_message_bytes:
            logger.error(
                "notification %s for subscription %s is %d bytes, over the %d-byte limit; "
                "ending the subscription",
                self.notification,
                self.id,
                len(text),
                self._session.max_message_bytes,
            )
            self._ending = True
            self._session.nursery.start_soon(self._close_now)
            return
        self._deliver(text)

    def close(self) -> None:
        """End the subscription from the server side; the client gets a final "closed" notice.

        Runs the on_close callbacks before returning: a hub that closes subscriptions while
        iterating over its own set of them should iterate over a copy.
        """
        if self._finished:
            return
        if not self._session.closing:
            notice = {"subscription": self.id, "closed": True}
            self._deliver(dumps({"jsonrpc": "2.0", "method": self.notification, "params": notice}))
        self.finish()

    async def _close_now(self) -> None:
        self.close()

    def on_close(self, callback: Callable[[], None]) -> None:
        """Run `callback` once when the subscription ends, however it ends (now if it has)."""
        if self._finished:
            _run_callback(callback)
        else:
            self._callbacks.append(callback)

    def _deliver(self, text: str) -> None:
        if self._pending is None:
            self._session.push(text)
            return
        self._pending.append(text)
        if len(self._pending) > self._session.max_queued_messages:
            self._session.overflow()

    def activate(self) -> None:
        """The subscribe call has been answered: let held notifications through."""
        pending, self._pending = self._pending, None
        for text in pending or ():
            self._session.push(text)

    def finish(self) -> None:
        """End the subscription without a notice (unsubscribed, disconnected, never answered)."""
        if self._finished:
            return
        self._finished = True
        if self._session.subscriptions.pop(self.id, None) is not None:
            self._session.counts.give_back(self._session.address)
        callbacks, self._callbacks = self._callbacks, []
        for callback in callbacks:
            _run_callback(callback)


def _run_callback(callback: Callable[[], None]) -> None:
    try:
        callback()
    except Exception:
        logger.exception("subscription on_close callback failed")


class Session:
    """One WebSocket connection: its outgoing queue, its subscriptions, and how it closes."""

    def __init__(
        self,
        nursery: trio.Nursery,
        peer: str,
        *,
        abort_connection: Callable[[], None] | None,
        max_message_bytes: int,
        max_queued_messages: int,
        max_subscriptions: int,
        address: str = "?",
        counts: SubscriptionCounts | None = None,
    ) -> None:
        self.nursery = nursery
        self.address = address
        """The client address its subscriptions are counted under."""
        self.counts = counts or SubscriptionCounts()
        self.abort_connection = abort_connection
        """Closes the socket under the connection (None: the socket is not known)."""
        self.peer = peer
        self.max_message_bytes = max_message_bytes
        self.max_queued_messages = max_queued_messages
        self.max_subscriptions = max_subscriptions
        self.outbox_send, self.outbox_receive = trio.open_memory_channel[str](max_queued_messages)
        self.max_queued_bytes = MAX_QUEUED_BYTES
        self.queued_bytes = 0
        """Bytes of the messages waiting in the outbox (and the one being written)."""
        self.last_progress = trio.current_time()
        """When a message was last written, or the queue last became non-empty."""
        self.room = trio.Event()
        """Set while queued_bytes is within max_queued_bytes."""
        self.room.set()
        self.subscriptions: dict[str, Subscription] = {}
        self.close_reason: tuple[int, str] | None = None
        self.ended = False
        self.wait_scope: trio.CancelScope | None = None

    @property
    def closing(self) -> bool:
        """Whether the connection is closing or closed: nothing more is queued."""
        return self.ended or self.close_reason is not None

    def push(self, text: str) -> None:
        """Queue a notification without blocking; overflow closes the connection."""
        if self.closing:
            return
        if self.queued_bytes > self.max_queued_bytes:
            self.overflow()
            return
        try:
            self.outbox_send.send_nowait(text)
        except trio.WouldBlock:
            self.overflow()
            return
        self._queued(len(text))

    async def queue_answer(self, text: str) -> None:
        """Queue an answer, waiting for room in the outbox."""
        await self.outbox_send.send(text)
        self._queued(len(text))

    def _queued(self, size: int) -> None:
        if self.queued_bytes == 0:
            self.last_progress = trio.current_time()
        self.queued_bytes += size
        if self.queued_bytes > self.max_queued_bytes:
            self.room = trio.Event()

    def sent(self, size: int) -> None:
        """A queued message of `size` bytes has been written."""
        self.queued_bytes -= size
        self.last_progress = trio.current_time()
        if self.queued_bytes <= self.max_queued_bytes:
            self.room.set()

    def overflow(self) -> None:
        """The client does not keep up: close rather than drop notifications silently."""
        logger.warning(
            "closing WebSocket connection from %s: more than %d messages waiting to be sent",
            self.peer,
            self.max_queued_messages,
        )
        self.request_close(WS_POLICY_VIOLATION, "client too slow: message queue overflow")

    def request_close(self, code: int, reason: str) -> None:
        """Send a close frame after the message being written; abort if that takes too long."""
        if self.closing:
            return
        self.close_reason = (code, reason)
        if self.wait_scope is not None:
            self.wait_scope.cancel()
        self.nursery.start_soon(self._abort_after, CLOSE_TIMEOUT_S)

    def open_subscription(self, notification: str, unsubscribe: str) -> Subscription:
        """Create a subscription on this connection, within its limit."""
        if len(self.subscriptions) >= self.max_subscriptions:
            raise RpcError(
                TOO_MANY_SUBSCRIPTIONS,
                f"Too many subscriptions: the limit is {self.max_subscriptions} per connection",
            )
        self.counts.take(self.address)
        sub_id = secrets.token_hex(8)
        while sub_id in self.subscriptions:
            sub_id = secrets.token_hex(8)
        subscription = Subscription(sub_id, notification, unsubscribe, self)
        self.subscriptions[sub_id] = subscription
        return subscription

    def unsubscribe(self, method: str, params: object) -> bool:
        """End the subscription named in params ([id]); False if there is none of this kind."""
        if not (isinstance(params, list) and len(params) == 1 and isinstance(params[0], str)):
            raise invalid_params(f"{method} takes [subscription id]")
        subscription = self.subscriptions.get(params[0])
        if subscription is None or subscription.unsubscribe_method != method:
            return False
        subscription.finish()
        return True

    def end(self) -> None:
        """The connection is gone: end every subscription (running their on_close callbacks)."""
        self.ended = True
        for subscription in list(self.subscriptions.values()):
            subscription.finish()

    async def _abort_after(self, delay: float) -> None:
        await trio.sleep(delay)
        logger.warning("WebSocket connection from %s did not close in time; aborting", self.peer)
        if self.abort_connection is not None:
            self.abort_connection()
        self.nursery.cancel_scope.cancel()
