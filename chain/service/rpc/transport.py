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
directions.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, cast

import trio
from hypercorn.app_wrappers import ASGIWrapper
from hypercorn.config import Config
from hypercorn.trio.tcp_server import TCPServer
from hypercorn.trio.worker_context import WorkerContext

from chain.service.rpc.errors import OVERSIZED_REQUEST, SERVER_BUSY, RpcError
from chain.service.rpc.protocol import Request, answer, error_text
from chain.service.rpc.registry import RpcMethods, execute
from chain.service.rpc.subscriptions import WS_GOING_AWAY, Session, Subscription

logger = logging.getLogger("xpl.rpc")

# How long a shutdown waits for connections to finish their current request and close.
SHUTDOWN_GRACE_S = 2.0
# How long an oversized HTTP body is read and discarded after the 413 answer, so that the client,
# which sends its whole body before reading, sees the answer rather than a reset connection.
OVERSIZED_DRAIN_S = 2.0

_Message = dict[str, Any]
_Receive = Callable[[], Awaitable[_Message]]
_Send = Callable[[_Message], Awaitable[None]]


class _Connection:
    """One accepted TCP connection, served by hypercorn's TCPServer in its own cancel scope."""

    def __init__(
        self,
        stream: trio.SocketStream,
        peer: tuple[str, int],
        open_sockets: dict[tuple[str, int], _Connection],
    ) -> None:
        self.stream = stream
        self.peer = peer
        self.scope = trio.CancelScope(shield=True)
        self._open_sockets = open_sockets
        open_sockets[peer] = self

    def socket_closed(self) -> None:
        """The socket is closed: stop counting it against the connection limit."""
        if self._open_sockets.get(self.peer) is self:
            del self._open_sockets[self.peer]

    def abort(self) -> None:
        """Close the socket under hypercorn (waking a blocked write) and cancel its tasks."""
        self.stream.socket.close()
        self.socket_closed()
        self.scope.cancel()


class _TrackedStream(trio.abc.HalfCloseableStream):
    """The socket stream handed to hypercorn, which tells its connection when it is closed.

    After the client closes a keep-alive connection, hypercorn's TCPServer keeps the socket and
    its task until its idle timer ends (keep_alive_timeout, 5 s); counting those against the
    limit would refuse a script that makes many short-lived calls.
    """

    def __init__(self, connection: _Connection) -> None:
        self._connection = connection
        self._stream = connection.stream
        self.socket = connection.stream.socket

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        await self._stream.send_all(data)

    async def wait_send_all_might_not_block(self) -> None:
        await self._stream.wait_send_all_might_not_block()

    async def send_eof(self) -> None:
        await self._stream.send_eof()

    async def receive_some(self, max_bytes: int | None = None) -> bytes | bytearray:
        data = await self._stream.receive_some(max_bytes)
        if not data:
            # The client has gone; hypercorn closes the socket when its idle timer ends.
            self._connection.socket_closed()
        return data

    async def aclose(self) -> None:
        self._connection.socket_closed()
        await self._stream.aclose()


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
        max_connections: int = 100,
        max_subscriptions_per_connection: int = 1024,
        max_queued_messages: int = 4096,
        extra_routes: Mapping[str, Callable[[], tuple[int, str, bytes]]] | None = None,
    ) -> None:
        for name, value in (
            ("max_request_bytes", max_request_bytes),
            ("max_response_bytes", max_response_bytes),
            ("max_batch", max_batch),
            ("max_connections", max_connections),
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
        self.max_connections = max_connections
        self.max_subscriptions_per_connection = max_subscriptions_per_connection
        self.max_queued_messages = max_queued_messages
        self.extra_routes = dict(extra_routes or {})

        self._config = Config()
        self._config.websocket_max_message_size = max_request_bytes
        self._config.errorlog = logger
        self._config.accesslog = None
        self._app = ASGIWrapper(cast(Any, self._asgi))
        self._context = WorkerContext(None)
        self._open: dict[tuple[str, int], _Connection] = {}  # by peer address, open sockets
        self._tasks: set[_Connection] = set()  # whose TCPServer task is still running
        self._sessions: set[Session] = set()
        self._serving = False
        self._shutting_down = False
        self._drained: trio.Event | None = None

    @property
    def connection_count(self) -> int:
        """Open TCP connections (HTTP keep-alive and WebSocket)."""
        return len(self._open)

    async def serve(self, *, task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED) -> None:
        """Listen and answer until cancelled; `task_status.started(port)` once listening.

        Cancelling shuts down: WebSockets get a close frame, requests in progress get
        SHUTDOWN_GRACE_S to finish, then every socket is closed and every subscription ended.
        """
        if self._serving:
            raise RuntimeError("this RpcServer is already serving")
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
            self.port = listeners[0].socket.getsockname()[1]
            async with trio.open_nursery() as handlers:
                try:
                    logger.info("JSON-RPC server listening on %s port %d", self.host, self.port)
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

    async def _serve_connection(self, stream: trio.SocketStream) -> None:
        if self._shutting_down:
            stream.socket.close()
            return
        if len(self._open) >= self.max_connections:
            await self._refuse_connection(stream)
            return
        try:
            address = stream.socket.getpeername()
        except OSError:
            stream.socket.close()
            return
        connection = _Connection(stream, (str(address[0]), int(address[1])), self._open)
        self._tasks.add(connection)
        try:
            with connection.scope:
                tracked = cast(Any, _TrackedStream(connection))
                await TCPServer(self._app, self._config, self._context, {}, tracked).run()
        except Exception:
            logger.exception("JSON-RPC connection from %s:%d failed", *connection.peer)
        finally:
            stream.socket.close()
            connection.socket_closed()
            self._tasks.discard(connection)
            if not self._tasks and self._drained is not None:
                self._drained.set()

    async def _refuse_connection(self, stream: trio.SocketStream) -> None:
        """Answer HTTP 429 on a connection over the limit, as Substrate does, and close it."""
        logger.warning("refusing a connection: %d connections open", len(self._open))
        body = error_text(
            None,
            RpcError(SERVER_BUSY, f"Too many connections: the limit is {self.max_connections}"),
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

    # -- ASGI -----------------------------------------------------------------------------------

    async def _asgi(self, scope: _Message, receive: _Receive, send: _Send) -> None:
        kind = scope["type"]
        if kind == "http":
            await self._serve_http(scope, receive, send)
        elif kind == "websocket":
            await self._serve_websocket(scope, receive, send)

    async def _serve_http(self, scope: _Message, receive: _Receive, send: _Send) -> None:
        method, path = scope["method"], scope["path"]
        if method == "POST" and path == "/":
            await self._serve_http_rpc(scope, receive, send)
        elif method == "GET" and path in self.extra_routes:
            try:
                status, content_type, body = self.extra_routes[path]()
            except Exception:
                logger.exception("HTTP route %s failed", path)
                status, content_type, body = 500, "text/plain; charset=utf-8", b"internal error\n"
            await _respond(send, status, content_type, body)
        elif method in ("GET", "POST"):
            await _respond(send, 404, "text/plain; charset=utf-8", b"not found\n")
        else:
            await _respond(
                send,
                405,
                "text/plain; charset=utf-8",
                b"method not allowed: use POST for JSON-RPC\n",
                [(b"allow", b"GET, POST")],
            )

    async def _serve_http_rpc(self, scope: _Message, receive: _Receive, send: _Send) -> None:
        declared = _content_length(scope["headers"])
        body = bytearray()
        more_body = True
        while more_body and (declared is None or declared <= self.max_request_bytes):
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            more_body = bool(message.get("more_body", False))
            if len(body) > self.max_request_bytes:
                break
        if len(body) > self.max_request_bytes or (
            declared is not None and declared > self.max_request_bytes
        ):
            await self._refuse_oversized(scope, receive, send, more_body)
            return
        text, _ = await self._answer(bytes(body), None)
        await _respond(send, 200, "application/json", (text or "").encode())

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
        if scope["path"] != "/" or self._shutting_down:
            await send({"type": "websocket.close"})  # hypercorn answers the handshake with 403
            return
        await send({"type": "websocket.accept"})
        client = scope.get("client")
        key = (str(client[0]), int(client[1])) if client else None
        connection = self._open.get(key) if key else None
        peer = f"{key[0]}:{key[1]}" if key else "?"
        async with trio.open_nursery() as nursery:
            session = Session(
                nursery,
                peer,
                abort_connection=None if connection is None else connection.abort,
                max_message_bytes=self.max_response_bytes,
                max_queued_messages=self.max_queued_messages,
                max_subscriptions=self.max_subscriptions_per_connection,
            )
            self._sessions.add(session)
            try:
                nursery.start_soon(self._write_websocket, session, send)
                await self._read_websocket(session, receive)
                nursery.cancel_scope.cancel()
            finally:
                self._sessions.discard(session)
                session.end()

    async def _read_websocket(self, session: Session, receive: _Receive) -> None:
        """Answer the connection's requests one at a time, in order, until it disconnects."""
        while True:
            message = await receive()
            if message["type"] == "websocket.disconnect":
                return
            payload = message.get("text")
            if payload is None:
                payload = message.get("bytes")
            if message["type"] != "websocket.receive" or payload is None or session.closing:
                continue
            text, subscriptions = await self._answer(payload, session)
            if text is not None:
                await session.outbox_send.send(text)
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
        if session.close_reason is not None:
            code, reason = session.close_reason
            await send({"type": "websocket.close", "code": code, "reason": reason})
        session.nursery.cancel_scope.cancel()

    # -- Dispatch -------------------------------------------------------------------------------

    async def _answer(
        self, payload: bytes | str, session: Session | None
    ) -> tuple[str | None, list[Subscription]]:
        """The response text to one HTTP body or WebSocket message (None: nothing to send).

        Also the subscriptions it opened, to be activated once the response is queued.
        """

        async def run(request: Request) -> tuple[object, Subscription | None]:
            return await execute(self.methods, request, session)

        return await answer(
            payload, run, max_batch=self.max_batch, max_response_bytes=self.max_response_bytes
        )


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
