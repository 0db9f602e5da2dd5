"""JSON-RPC 2.0 over HTTP (POST /) and WebSocket on one port, served on trio.

The transport only: what the methods do is registered in an `RpcMethods` by the node, and the
JSON-RPC messages are `chain.service.rpc.protocol`'s. HTTP and WebSocket parsing are hypercorn's
(its h11/wsproto protocol stack and its trio `TCPServer`); the accept loop is ours rather than
`hypercorn.trio.serve`, for two reasons:

- hypercorn writes to a socket inside a shielded cancel scope, so a client that stops reading
  blocks that write, and with it the server's shutdown, forever. We keep each connection's
  socket, so a slow client or a shutdown can close it, which wakes the blocked write.
- `max_connections` counts TCP connections (as Substrate's does), which an ASGI app cannot see.

Both HTTP and WebSocket requests are answered by the same dispatcher, with size limits on both
directions. Who may connect and what they may hold are `chain.service.rpc.limits` (connections
per address and in all, the rate of calls, deadlines for headers, bodies and idle WebSockets) and
`chain.service.rpc.access` (browser origins, Host names, unsafe methods); a task checks every
connection's deadline a few times a second and closes those that passed it.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, cast

import trio
from hypercorn.app_wrappers import ASGIWrapper
from hypercorn.config import Config
from hypercorn.trio.tcp_server import TCPServer
from hypercorn.trio.worker_context import WorkerContext

from chain.service.rpc import websocket_stream
from chain.service.rpc.access import RpcAccess
from chain.service.rpc.connection import Connection, TrackedStream
from chain.service.rpc.errors import OVERSIZED_REQUEST, SERVER_BUSY, RpcError
from chain.service.rpc.limits import (
    ACCEPTS_PER_SECOND,
    MAX_REQUEST_STRUCTURE,
    STRUCTURE_PER_TOKEN,
    Admission,
    ConnectionTable,
    RateLimiter,
    RpcLimits,
    Tracked,
    client_key,
    raise_open_file_limit,
)
from chain.service.rpc.protocol import (
    Request,
    answer_document,
    error_text,
    parse,
    structure_count,
)
from chain.service.rpc.registry import RpcMethods, execute
from chain.service.rpc.subscriptions import (
    WS_GOING_AWAY,
    Session,
    Subscription,
    SubscriptionCounts,
)

websocket_stream.install()

logger = logging.getLogger("xpl.rpc")

# How long a shutdown waits for connections to finish their current request and close.
SHUTDOWN_GRACE_S = 2.0
# How long an oversized HTTP body is read and discarded after the 413 answer, so that the client,
# which sends its whole body before reading, sees the answer rather than a reset connection.
OVERSIZED_DRAIN_S = 2.0
# How often the deadlines of open connections are checked (at most; less often with long ones).
DEADLINE_CHECK_S = 0.25
# How long a connection closed for being late, idle or displaced gets to take its close frame.
CLOSE_GRACE_S = 1.0
PARTIAL_MESSAGE_BYTES = 64 * 1024
"""Bytes a WebSocket may send in one body timeout without finishing a message (pings and pongs
count too): more, and a message not finished within the body timeout closes the connection, so
an unfinished 15 MiB fragment is not held for ever. Within it, a fragment can still grow by
this much per body timeout (about 2 KiB a second at the defaults) up to the message limit."""

_Message = dict[str, Any]
_Receive = Callable[[], Awaitable[_Message]]
_Send = Callable[[_Message], Awaitable[None]]


class RpcServer:
    """A JSON-RPC 2.0 server for `methods` over HTTP and WebSocket on one port."""

    def __init__(
        self,
        methods: RpcMethods,
        *,
        host: str = "127.0.0.1",
        port: int = 9944,
        max_request_bytes: int = 15 * 1024 * 1024,
        max_response_bytes: int = 15 * 1024 * 1024,
        max_batch: int = 1024,
        max_subscriptions_per_connection: int = 1024,
        max_queued_messages: int = 4096,
        limits: RpcLimits | None = None,
        access: RpcAccess | None = None,
        extra_routes: Mapping[str, Callable[[], tuple[int, str, bytes]]] | None = None,
    ) -> None:
        for name, value in (
            ("max_request_bytes", max_request_bytes),
            ("max_response_bytes", max_response_bytes),
            ("max_batch", max_batch),
            ("max_subscriptions_per_connection", max_subscriptions_per_connection),
            ("max_queued_messages", max_queued_messages),
        ):
            if value < 1:
                raise ValueError(f"{name} must be at least 1, not {value}")
        if not 0 <= port <= 65535:
            raise ValueError(f"port must be in 0..65535, not {port}")
        self.methods = methods
        self.host = host
        self.port = port
        self.max_request_bytes = max_request_bytes
        self.max_response_bytes = max_response_bytes
        self.max_batch = max_batch
        self.max_subscriptions_per_connection = max_subscriptions_per_connection
        self.max_queued_messages = max_queued_messages
        self.limits = limits or RpcLimits()
        self.access = access or RpcAccess()
        self.serves_unsafe = self.access.serves_unsafe(host)
        self.extra_routes = dict(extra_routes or {})
        self.bound_address = f"{host}:{port}"
        """The address it listens on, once serving (host:port, with the port chosen)."""
        self.closed_counts: dict[str, int] = {}
        """Connections refused or closed by the limits since the start, by reason."""

        self._config = Config()
        self._config.websocket_max_message_size = max_request_bytes
        self._config.keep_alive_timeout = self.limits.header_timeout_s
        self._config.websocket_ping_interval = self.limits.ws_ping_interval_s
        self._config.errorlog = logger
        self._config.accesslog = None
        self._app = ASGIWrapper(cast(Any, self._asgi))
        self._context = WorkerContext(None)
        self._open: dict[tuple[str, int], Connection] = {}  # by peer address, open sockets
        self._table = ConnectionTable(
            self.limits.max_connections, self.limits.max_connections_per_ip
        )
        rate = self.limits.rate_limit_per_minute
        self._rate = None if rate is None else RateLimiter(rate, max(1, rate // 60))
        # An address may open its whole quota of connections at once.
        accept_burst = max(ACCEPTS_PER_SECOND, self.limits.max_connections_per_ip)
        self._accepts = RateLimiter(60 * ACCEPTS_PER_SECOND, accept_burst)
        self._tasks: set[Connection] = set()  # whose TCPServer task is still running
        self._sessions: set[Session] = set()
        self.subscription_counts = SubscriptionCounts()
        """Open subscriptions by address and in all (capped, see SubscriptionCounts)."""
        self._serving = False
        self._shutting_down = False
        self._drained: trio.Event | None = None

    @property
    def max_connections(self) -> int:
        """Open connections in all (`RpcLimits.max_connections`)."""
        return self.limits.max_connections

    @property
    def connection_count(self) -> int:
        """Open TCP connections (HTTP keep-alive and WebSocket)."""
        return len(self._open)

    @property
    def busy_count(self) -> int:
        """Open connections with a call being answered."""
        return sum(1 for connection in self._open.values() if connection.tracked.busy)

    async def serve(self, *, task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED) -> None:
        """Listen and answer until cancelled; `task_status.started(port)` once listening.

        Cancelling shuts down: WebSockets get a close frame, requests in progress get
        SHUTDOWN_GRACE_S to finish, then every socket is closed and every subscription ended.
        """
        if self._serving:
            raise RuntimeError("this RpcServer is already serving")
        raise_open_file_limit()
        listeners = await trio.open_tcp_listeners(self.port, host=self.host)
        self._serving = True
        self._shutting_down = False
        self._drained = None
        self._context = WorkerContext(None)
        if self.port == 0:
            for extra in listeners[1:]:
                extra.socket.close()
            listeners = listeners[:1]
        try:
            bound = listeners[0].socket.getsockname()
            self.port = bound[1]
            name = str(bound[0])
            self.bound_address = f"[{name}]:{self.port}" if ":" in name else f"{name}:{self.port}"
            async with trio.open_nursery() as handlers:
                try:
                    logger.info("JSON-RPC server listening on %s", self.bound_address)
                    handlers.start_soon(self._enforce_deadlines)
                    task_status.started(self.port)
                    await trio.serve_listeners(
                        self._serve_connection, listeners, handler_nursery=handlers
                    )
                finally:
                    with trio.CancelScope(shield=True):
                        await self._shut_down()
        finally:
            for listener in listeners:
                listener.socket.close()
            self._serving = False
            logger.info("JSON-RPC server on port %d stopped", self.port)

    async def _shut_down(self) -> None:
        self._shutting_down = True
        for session in list(self._sessions):
            session.request_close(WS_GOING_AWAY, "server shutting down")
        await self._context.terminated.set()  # hypercorn closes idle keep-alive connections
        self._drained = trio.Event()
        if not self._tasks:
            self._drained.set()
        with trio.move_on_after(SHUTDOWN_GRACE_S):
            await self._drained.wait()
        for connection in list(self._tasks):
            connection.abort()

    def _count_closed(self, reason: str) -> None:
        self.closed_counts[reason] = self.closed_counts.get(reason, 0) + 1

    async def _enforce_deadlines(self) -> None:
        """Close connections past their deadline, unresponsive or idle, a few times a second."""
        limits = self.limits
        unresponsive_s = 2 * limits.ws_ping_interval_s
        period = min(DEADLINE_CHECK_S, limits.header_timeout_s / 4, limits.body_timeout_s / 4)
        while True:
            await trio.sleep(period)
            now = trio.current_time()
            for connection in list(self._tasks):
                session = connection.session
                if self._open.get(connection.peer) is not connection:
                    continue  # its socket is closed; hypercorn's task is ending
                if session is None:
                    if connection.ended and not connection.in_request:
                        connection.abort()  # the client has gone: free its socket now
                    elif now > connection.deadline + CLOSE_GRACE_S:
                        # A backstop: the body deadline is also kept by the request itself,
                        # which answers 408 first; this closes what hypercorn still holds.
                        self._count_closed("timeout")
                        connection.close("request not received in time")
                    continue
                if session.closing:
                    continue
                unfinished_late = now - connection.unfinished_since > limits.body_timeout_s
                if unfinished_late and connection.unfinished_bytes <= PARTIAL_MESSAGE_BYTES:
                    connection.unfinished_bytes = 0  # pings and pongs, a little at a time
                    connection.unfinished_since = now
                    unfinished_late = False
                if (
                    now - connection.last_received > unresponsive_s
                    or (
                        session.queued_bytes and now - session.last_progress > limits.body_timeout_s
                    )
                    or unfinished_late
                ):
                    # Nothing arrives, what it is sent is not taken, or a message is not finished.
                    self._count_closed("unresponsive")
                    connection.abort()
                elif (
                    not session.subscriptions
                    and connection.tracked.busy == 0
                    and now - connection.tracked.last_active > limits.ws_idle_timeout_s
                ):
                    self._count_closed("idle")
                    connection.close("idle timeout")

    async def _serve_connection(self, stream: trio.SocketStream) -> None:
        if self._shutting_down:
            stream.socket.close()
            return
        try:
            address = stream.socket.getpeername()
        except OSError:
            stream.socket.close()
            return
        peer = (str(address[0]), int(address[1]))
        if not self._accepts.take(client_key(peer[0]), 1, trio.current_time()):
            self._count_closed("refused")
            reason = f"over {ACCEPTS_PER_SECOND} connections a second from {peer[0]}"
            await self._refuse_connection(stream, Admission(False, reason=reason))
            return
        admission = self._table.admission(
            client_key(peer[0]), trio.current_time(), self.limits.body_timeout_s
        )
        if not admission.admit:
            self._count_closed("refused")
            await self._refuse_connection(stream, admission)
            return
        if admission.evict is not None:
            self._evict(admission.evict)
        now = trio.current_time()
        connection = Connection(
            stream, peer, self._open, self._table, now, now + self.limits.header_timeout_s
        )
        self._tasks.add(connection)
        try:
            with connection.scope:
                tracked = cast(Any, TrackedStream(connection))
                await TCPServer(self._app, self._config, self._context, {}, tracked).run()
        except Exception:
            logger.exception("JSON-RPC connection from %s:%d failed", *connection.peer)
        finally:
            stream.socket.close()
            connection.socket_closed()
            self._tasks.discard(connection)
            if not self._tasks and self._drained is not None:
                self._drained.set()

    def _evict(self, victim: Tracked) -> None:
        """Close `victim` to make room: at once (a WebSocket gets its close frame after)."""
        for connection in self._tasks:
            if connection.tracked is victim:
                self._count_closed("evicted")
                connection.socket_closed()  # the room is needed now, not once it has closed
                if victim.busy:
                    connection.abort()  # a call busy past the body timeout is ended
                else:
                    connection.close("making room for a new connection")
                return

    async def _refuse_connection(self, stream: trio.SocketStream, admission: Admission) -> None:
        """Answer HTTP 429 on a connection over the limit, as Substrate does, and close it."""
        logger.warning("refusing a connection: %s", admission.reason)
        body = error_text(
            None, RpcError(SERVER_BUSY, f"Too many connections: {admission.reason}")
        ).encode()
        head = (
            "HTTP/1.1 429 Too Many Requests\r\ncontent-type: application/json\r\n"
            f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
        ).encode()
        with trio.move_on_after(1.0):
            try:
                # Read the request first: closing with it unread would reset the connection
                # before the client reads the answer.
                await stream.receive_some(65536)
                await stream.send_all(head + body)
                await stream.send_eof()
                while await stream.receive_some(65536):
                    pass
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                pass
        stream.socket.close()

    def _connection_of(self, scope: _Message) -> Connection | None:
        client = scope.get("client")
        return self._open.get((str(client[0]), int(client[1]))) if client else None

    # -- ASGI -----------------------------------------------------------------------------------

    async def _asgi(self, scope: _Message, receive: _Receive, send: _Send) -> None:
        kind = scope["type"]
        if kind == "http":
            await self._serve_http(scope, receive, send)
        elif kind == "websocket":
            await self._serve_websocket(scope, receive, send)

    def _refusal(self, scope: _Message) -> str | None:
        """Why a request's Host or Origin is refused (403), or None."""
        host = _header(scope["headers"], b"host")
        if not self.access.host_allowed(host):
            return f"host {host!r} is not allowed (see --rpc-allowed-hosts)"
        origin = _header(scope["headers"], b"origin")
        if not self.access.origin_allowed(origin) and not _same_origin(origin, host):
            return f"origin {origin!r} is not allowed (see --rpc-cors)"
        return None

    def _cors_headers(self, scope: _Message) -> list[tuple[bytes, bytes]]:
        origin = _header(scope["headers"], b"origin")
        if origin is None:
            return []
        allowed = b"*" if self.access.cors is None else origin.encode("latin-1")
        return [(b"access-control-allow-origin", allowed), (b"vary", b"origin")]

    async def _serve_http(self, scope: _Message, receive: _Receive, send: _Send) -> None:
        connection = self._connection_of(scope)
        if connection is None:
            await self._serve_http_request(scope, receive, send, connection)
            return
        connection.in_request += 1
        connection.deadline = trio.current_time() + self.limits.body_timeout_s
        try:
            await self._serve_http_request(scope, receive, send, connection)
        finally:
            connection.in_request -= 1
            # The next request's headers are due within the header timeout.
            connection.deadline = trio.current_time() + self.limits.header_timeout_s

    async def _serve_http_request(
        self, scope: _Message, receive: _Receive, send: _Send, connection: Connection | None
    ) -> None:
        refusal = self._refusal(scope)
        method, path = scope["method"], scope["path"]
        address = client_key(str(scope["client"][0])) if scope.get("client") else "?"
        if not await self._charge(address, 1):
            # Every request costs a token whatever it asks: a 404 or a parse error costs the
            # node its parsing and answering as much as a call does.
            await _respond(send, 429, "application/json", self._rate_refusal().encode())
        elif refusal is not None:
            await _respond(send, 403, "text/plain; charset=utf-8", f"{refusal}\n".encode())
        elif method == "OPTIONS":
            await _respond(
                send,
                204,
                "text/plain; charset=utf-8",
                b"",
                [
                    *self._cors_headers(scope),
                    (b"access-control-allow-methods", b"POST, GET, OPTIONS"),
                    (b"access-control-allow-headers", b"content-type"),
                    (b"access-control-max-age", b"600"),
                ],
            )
        elif method == "POST" and path == "/":
            await self._serve_http_rpc(scope, receive, send, connection)
        elif method == "GET" and path in self.extra_routes:
            try:
                status, content_type, body = self.extra_routes[path]()
            except Exception:
                logger.exception("HTTP route %s failed", path)
                status, content_type, body = 500, "text/plain; charset=utf-8", b"internal error\n"
            await _respond(send, status, content_type, body, self._cors_headers(scope))
        elif method in ("GET", "POST"):
            await _respond(send, 404, "text/plain; charset=utf-8", b"not found\n")
        else:
            await _respond(
                send,
                405,
                "text/plain; charset=utf-8",
                b"method not allowed: use POST for JSON-RPC\n",
                [(b"allow", b"GET, POST, OPTIONS")],
            )

    async def _serve_http_rpc(
        self, scope: _Message, receive: _Receive, send: _Send, connection: Connection | None
    ) -> None:
        content_type = (_header(scope["headers"], b"content-type") or "").lower()
        if content_type.split(";")[0].strip() != "application/json":
            # Also refuses the "simple" requests a browser sends cross-origin without asking.
            await _respond(
                send,
                415,
                "text/plain; charset=utf-8",
                b"unsupported media type: JSON-RPC requests are application/json\n",
            )
            return
        declared = _content_length(scope["headers"])
        body = bytearray()
        more_body = True
        with trio.move_on_after(self.limits.body_timeout_s) as reading:
            while more_body and (declared is None or declared <= self.max_request_bytes):
                message = await receive()
                if message["type"] == "http.disconnect":
                    return
                body += message.get("body", b"")
                more_body = bool(message.get("more_body", False))
                if len(body) > self.max_request_bytes:
                    break
        if reading.cancelled_caught:
            self._count_closed("timeout")
            await self._refuse_late_body(scope, send, connection)
            return
        if len(body) > self.max_request_bytes or (
            declared is not None and declared > self.max_request_bytes
        ):
            await self._refuse_oversized(scope, receive, send, more_body)
            return
        address = client_key(str(scope["client"][0])) if scope.get("client") else "?"
        text, _, status = await self._answer(bytes(body), None, address, connection, charged=1)
        await _respond(
            send, status, "application/json", (text or "").encode(), self._cors_headers(scope)
        )

    async def _refuse_late_body(
        self, scope: _Message, send: _Send, connection: Connection | None
    ) -> None:
        """Answer 408 to a request whose body did not arrive in time, and close its connection."""
        logger.info("JSON-RPC request body not received in %.1f s", self.limits.body_timeout_s)
        close = [(b"connection", b"close")] if scope.get("http_version", "1.1") < "2" else []
        with trio.move_on_after(CLOSE_GRACE_S):
            await _respond(
                send,
                408,
                "text/plain; charset=utf-8",
                b"request body not received in time\n",
                close,
            )
        if connection is not None:
            connection.abort()

    async def _refuse_oversized(
        self, scope: _Message, receive: _Receive, send: _Send, more_body: bool
    ) -> None:
        error = RpcError(
            OVERSIZED_REQUEST, f"Request too large: the limit is {self.max_request_bytes} bytes"
        )
        body = error_text(None, error).encode()
        # HTTP/2 forbids the connection header.
        close = [(b"connection", b"close")] if scope.get("http_version", "1.1") < "2" else []
        await _respond(send, 413, "application/json", body, close)
        with trio.move_on_after(OVERSIZED_DRAIN_S):
            while more_body:
                message = await receive()
                more_body = message["type"] != "http.disconnect" and bool(
                    message.get("more_body", False)
                )

    async def _serve_websocket(self, scope: _Message, receive: _Receive, send: _Send) -> None:
        if (await receive())["type"] != "websocket.connect":
            return
        refusal = self._refusal(scope)
        if refusal is not None:
            logger.info("refusing a WebSocket handshake: %s", refusal)
        if scope["path"] != "/" or self._shutting_down or refusal is not None:
            await send({"type": "websocket.close"})  # hypercorn answers the handshake with 403
            return
        await send({"type": "websocket.accept"})
        connection = self._connection_of(scope)
        peer = "?" if connection is None else f"{connection.peer[0]}:{connection.peer[1]}"
        address = "?" if connection is None else connection.tracked.address
        async with trio.open_nursery() as nursery:
            session = Session(
                nursery,
                peer,
                abort_connection=None if connection is None else connection.abort,
                max_message_bytes=self.max_response_bytes,
                max_queued_messages=self.max_queued_messages,
                max_subscriptions=self.max_subscriptions_per_connection,
                address=address,
                counts=self.subscription_counts,
            )
            self._sessions.add(session)
            if connection is not None:
                connection.session = session
                connection.deadline = math.inf
                connection.tracked.last_active = trio.current_time()
            try:
                nursery.start_soon(self._write_websocket, session, send)
                await self._read_websocket(session, receive, address, connection)
                nursery.cancel_scope.cancel()
            finally:
                self._sessions.discard(session)
                session.end()

    async def _read_websocket(
        self, session: Session, receive: _Receive, address: str, connection: Connection | None
    ) -> None:
        """Answer the connection's requests one at a time, in order, until it disconnects."""
        while True:
            # A client whose answers wait unread is not read from until it catches up.
            await session.room.wait()
            message = await receive()
            if message["type"] == "websocket.disconnect":
                return
            if connection is not None:
                connection.unfinished_bytes = 0
            payload = message.get("text")
            if payload is None:
                payload = message.get("bytes")
            if message["type"] != "websocket.receive" or payload is None or session.closing:
                continue
            text, subscriptions, _ = await self._answer(
                payload, session, address, connection, charged=0
            )
            if text is not None:
                await session.queue_answer(text)
            for subscription in subscriptions:
                subscription.activate()

    async def _write_websocket(self, session: Session, send: _Send) -> None:
        """Send queued messages in order; then the close frame, if one was asked for."""
        while session.close_reason is None:
            text: str | None = None
            with trio.CancelScope() as wait_scope:
                session.wait_scope = wait_scope
                text = await session.outbox_receive.receive()
            session.wait_scope = None
            if text is None or session.close_reason is not None:
                break
            await send({"type": "websocket.send", "text": text})
            session.sent(len(text))
        if session.close_reason is not None:
            code, reason = session.close_reason
            await send({"type": "websocket.close", "code": code, "reason": reason})
        session.nursery.cancel_scope.cancel()

    # -- Dispatch -------------------------------------------------------------------------------

    async def _charge(self, address: str, tokens: int) -> bool:
        """Take `tokens` from `address`'s rate limit, waiting for them if they are due within
        MAX_RATE_WAIT_S (the connection is not busy meanwhile); False if refused."""
        if self._rate is None or tokens == 0:
            return True
        wait = self._rate.reserve(address, tokens, trio.current_time())
        if wait is None:
            return False
        if wait > 0:
            await trio.sleep(wait)
        return True

    def _rate_refusal(self, detail: str = "") -> str:
        limit = self.limits.rate_limit_per_minute
        error = RpcError(
            SERVER_BUSY,
            f"Too many requests: the limit is {limit} calls a minute from one address{detail}",
        )
        return error_text(None, error)

    async def _answer(
        self,
        payload: bytes | str,
        session: Session | None,
        address: str,
        connection: Connection | None,
        *,
        charged: int,
    ) -> tuple[str | None, list[Subscription], int]:
        """The response text to one HTTP body or WebSocket message (None: nothing to send).

        Also the subscriptions it opened, to be activated once the response is queued, and the
        HTTP status to answer it with (429 when over the rate limit). The message is charged
        before it is parsed (one token, less `charged` already taken, and one per
        STRUCTURE_PER_TOKEN of its JSON punctuation) and a batch for its calls once parsed,
        before any runs: a message over the limit is refused whole, at once, and never waits.
        """
        if not await self._charge(address, max(0, 1 - charged)):
            return self._rate_refusal(), [], 429
        structure = structure_count(payload)
        if structure > MAX_REQUEST_STRUCTURE:
            error = RpcError(
                OVERSIZED_REQUEST,
                f"Request too large: over {MAX_REQUEST_STRUCTURE} JSON values",
            )
            return error_text(None, error), [], 413
        if not await self._charge(address, structure // STRUCTURE_PER_TOKEN):
            return self._rate_refusal(), [], 429
        document, parse_error = parse(payload)
        if parse_error is not None:
            return parse_error, [], 200
        if isinstance(document, list) and 1 < len(document) <= self.max_batch:
            burst = self._rate.burst if self._rate is not None else math.inf
            if len(document) > burst or not await self._charge(address, len(document) - 1):
                detail = f" (a batch may hold {burst:.0f} calls: a second's worth)"
                return self._rate_refusal(detail), [], 429
        if connection is not None:
            if connection.tracked.busy == 0:
                connection.tracked.busy_since = trio.current_time()
            connection.tracked.busy += 1
            connection.deadline = math.inf

        async def run(request: Request) -> tuple[object, Subscription | None]:
            return await execute(self.methods, request, session, allow_unsafe=self.serves_unsafe)

        try:
            text, subscriptions = await answer_document(
                document, run, max_batch=self.max_batch, max_response_bytes=self.max_response_bytes
            )
            return text, subscriptions, 200
        finally:
            if connection is not None:
                connection.tracked.busy -= 1
                connection.tracked.last_active = trio.current_time()
                if connection.session is None:
                    connection.deadline = trio.current_time() + self.limits.body_timeout_s


def _same_origin(origin: str | None, host: str | None) -> bool:
    """Whether a page served by this server itself asks (its Host passed the Host check)."""
    if origin is None or host is None:
        return False
    origin, host = origin.lower(), host.lower()
    return origin in (f"http://{host}", f"https://{host}")


def _header(headers: list[tuple[bytes, bytes]], name: bytes) -> str | None:
    for key, value in headers:
        if key.lower() == name:
            return value.decode("latin-1")
    return None


def _content_length(headers: list[tuple[bytes, bytes]]) -> int | None:
    for name, value in headers:
        if name.lower() == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


async def _respond(
    send: _Send,
    status: int,
    content_type: str,
    body: bytes,
    headers: list[tuple[bytes, bytes]] | None = None,
) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", content_type.encode()),
                (b"content-length", str(len(body)).encode()),
                *(headers or []),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
