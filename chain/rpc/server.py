"""JSON-RPC 2.0 over HTTP (POST /) and WebSocket on one port, served on trio.

The transport only: what the methods do is registered in an `RpcMethods` by the node. HTTP and
WebSocket parsing are hypercorn's (its h11/wsproto protocol stack and its trio `TCPServer`); the
accept loop is ours rather than `hypercorn.trio.serve`, for two reasons:

- hypercorn writes to a socket inside a shielded cancel scope, so a client that stops reading
  blocks that write, and with it the server's shutdown, forever. We keep each connection's
  socket, so a slow client or a shutdown can close it, which wakes the blocked write.
- `max_connections` counts TCP connections (as Substrate's does), which an ASGI app cannot see.

Both HTTP and WebSocket requests are answered by the same dispatcher: batches, notifications,
the standard error codes (see `chain.rpc.errors`), and size limits on both directions.
"""

from __future__ import annotations

import inspect
import json
import logging
import secrets
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, cast

import trio
from hypercorn.app_wrappers import ASGIWrapper
from hypercorn.config import Config
from hypercorn.trio.tcp_server import TCPServer
from hypercorn.trio.worker_context import WorkerContext

from chain.rpc.errors import (
    BATCH_TOO_LARGE,
    INTERNAL_ERROR,
    INVALID_REQUEST,
    METHOD_NOT_FOUND,
    OVERSIZED_REQUEST,
    OVERSIZED_RESPONSE,
    PARSE_ERROR,
    SERVER_BUSY,
    TOO_MANY_SUBSCRIPTIONS,
    RpcError,
    invalid_params,
)

logger = logging.getLogger("xpl.rpc")

Params = list[Any] | dict[str, Any]
RequestId = str | int | None

# How long a WebSocket that must close (slow client, shutdown) gets to take its close frame
# before its socket is closed under it.
CLOSE_TIMEOUT_S = 1.0
# How long a shutdown waits for connections to finish their current request and close.
SHUTDOWN_GRACE_S = 2.0
# How long an oversized HTTP body is read and discarded after the 413 answer, so that the client,
# which sends its whole body before reading, sees the answer rather than a reset connection.
OVERSIZED_DRAIN_S = 2.0

# WebSocket close codes (RFC 6455).
_WS_GOING_AWAY = 1001
_WS_POLICY_VIOLATION = 1008

_Message = dict[str, Any]
_Receive = Callable[[], Awaitable[_Message]]
_Send = Callable[[_Message], Awaitable[None]]


# ---------------------------------------------------------------------------------------------
# The method registry


class Subscription:
    """One client's subscription over one WebSocket; the method's handler sends notifications."""

    def __init__(self, sub_id: str, notification: str, unsubscribe: str, session: _Session) -> None:
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
        text = _dumps(
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
            self._deliver(_dumps({"jsonrpc": "2.0", "method": self.notification, "params": notice}))
        self._finish()

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

    def _activate(self) -> None:
        """The subscribe call has been answered: let held notifications through."""
        pending, self._pending = self._pending, None
        for text in pending or ():
            self._session.push(text)

    def _finish(self) -> None:
        if self._finished:
            return
        self._finished = True
        self._session.subscriptions.pop(self.id, None)
        callbacks, self._callbacks = self._callbacks, []
        for callback in callbacks:
            _run_callback(callback)


MethodHandler = Callable[[Params], object | Awaitable[object]]
SubscriptionHandler = Callable[[Params, Subscription], object | Awaitable[object]]


@dataclass(frozen=True)
class _Method:
    handler: MethodHandler


@dataclass(frozen=True)
class _Subscribe:
    notification: str
    unsubscribe: str
    handler: SubscriptionHandler


@dataclass(frozen=True)
class _Unsubscribe:
    subscribe: str


class RpcMethods:
    """The methods a server answers, by name; `rpc_methods` is always among them."""

    def __init__(self) -> None:
        self._entries: dict[str, _Method | _Subscribe | _Unsubscribe] = {}
        self.add("rpc_methods", self._rpc_methods)

    def add(self, name: str, handler: MethodHandler) -> None:
        """Register a method; the handler gets the params (a list or a dict) and returns a result.

        A handler may be async. It raises RpcError to answer with that error, ValueError or
        TypeError to answer INVALID_PARAMS with its message; anything else is logged and answered
        INTERNAL_ERROR without details.
        """
        self._claim(name)
        self._entries[name] = _Method(handler)

    def add_subscription(
        self, subscribe: str, notification: str, unsubscribe: str, handler: SubscriptionHandler
    ) -> None:
        """Register a WebSocket-only subscription: its subscribe and unsubscribe methods.

        The server creates the Subscription, calls the handler with it (the handler registers it
        wherever notifications come from, and may send some at once), then answers the subscribe
        call with the subscription id. `unsubscribe` takes [id] and answers true or false.
        """
        if len({subscribe, notification, unsubscribe}) != 3:
            raise ValueError("subscribe, notification and unsubscribe names must differ")
        if not notification:
            raise ValueError("notification name must not be empty")
        self._claim(subscribe)
        self._claim(unsubscribe)
        self._entries[subscribe] = _Subscribe(notification, unsubscribe, handler)
        self._entries[unsubscribe] = _Unsubscribe(subscribe)

    def names(self) -> list[str]:
        """All method names, sorted, subscribe and unsubscribe methods included."""
        return sorted(self._entries)

    def lookup(self, name: str) -> _Method | _Subscribe | _Unsubscribe | None:
        """The registration for `name`, or None."""
        return self._entries.get(name)

    def _claim(self, name: str) -> None:
        if not name:
            raise ValueError("method name must not be empty")
        if name in self._entries:
            raise ValueError(f"RPC method {name} is already registered")

    def _rpc_methods(self, params: Params) -> dict[str, list[str]]:
        return {"methods": self.names()}


def _run_callback(callback: Callable[[], None]) -> None:
    try:
        callback()
    except Exception:
        logger.exception("subscription on_close callback failed")


# ---------------------------------------------------------------------------------------------
# Requests and responses


def _dumps(value: object) -> str:
    # ensure_ascii (the default) keeps len(text) equal to its size in bytes.
    return json.dumps(value, separators=(",", ":"), allow_nan=False)


def _reject_constant(name: str) -> object:
    raise ValueError(f"{name} is not valid JSON")


def _valid_id(value: object) -> bool:
    return value is None or isinstance(value, str) or type(value) is int


@dataclass(frozen=True)
class _Request:
    method: str
    params: Params
    id: RequestId
    is_notification: bool


class _InvalidRequest(Exception):
    def __init__(self, request_id: RequestId, reason: str) -> None:
        super().__init__(reason)
        self.request_id = request_id
        self.reason = reason


def _parse_request(item: object) -> _Request:
    """Check one request object's shape (JSON-RPC 2.0 section 4)."""
    if not isinstance(item, dict):
        raise _InvalidRequest(None, "a request must be a JSON object")
    raw_id = item.get("id")
    if not _valid_id(raw_id):
        raise _InvalidRequest(None, '"id" must be a string, an integer or null')
    request_id = cast(RequestId, raw_id)
    if item.get("jsonrpc") != "2.0":
        raise _InvalidRequest(request_id, '"jsonrpc" must be "2.0"')
    method = item.get("method")
    if not isinstance(method, str):
        raise _InvalidRequest(request_id, '"method" must be a string')
    params = item.get("params", [])
    if not isinstance(params, list | dict):
        raise _InvalidRequest(request_id, '"params" must be an array or an object')
    return _Request(method, params, request_id, "id" not in item)


def _error_text(request_id: RequestId, error: RpcError) -> str:
    response = {"jsonrpc": "2.0", "error": error.to_json(), "id": request_id}
    try:
        return _dumps(response)
    except (TypeError, ValueError, RecursionError):
        logger.exception("RPC error data for %s cannot be encoded as JSON", error.message)
        bare = {"code": error.code, "message": error.message}
        return _dumps({"jsonrpc": "2.0", "error": bare, "id": request_id})


def _result_text(request_id: RequestId, result: object) -> str:
    try:
        return _dumps({"jsonrpc": "2.0", "result": result, "id": request_id})
    except (TypeError, ValueError, RecursionError):
        logger.exception("RPC result cannot be encoded as JSON")
        return _error_text(request_id, RpcError(INTERNAL_ERROR, "Internal error"))


async def _invoke(name: str, handler: Callable[..., object], *args: object) -> object:
    """Call a handler, awaiting it if async, and turn what it raises into an RpcError."""
    try:
        result = handler(*args)
        if inspect.isawaitable(result):
            result = await result
    except RpcError:
        raise
    except (ValueError, TypeError) as exc:
        raise invalid_params(str(exc)) from None
    except Exception:
        logger.exception("RPC method %s failed", name)
        raise RpcError(INTERNAL_ERROR, "Internal error") from None
    return result


# ---------------------------------------------------------------------------------------------
# Connections and WebSocket sessions


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


class _Session:
    """One WebSocket connection: its outgoing queue, its subscriptions, and how it closes."""

    def __init__(
        self, server: RpcServer, nursery: trio.Nursery, connection: _Connection | None, peer: str
    ) -> None:
        self.nursery = nursery
        self.connection = connection
        self.peer = peer
        self.max_message_bytes = server.max_response_bytes
        self.max_queued_messages = server.max_queued_messages
        self.max_subscriptions = server.max_subscriptions_per_connection
        self.outbox_send, self.outbox_receive = trio.open_memory_channel[str](
            server.max_queued_messages
        )
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
        try:
            self.outbox_send.send_nowait(text)
        except trio.WouldBlock:
            self.overflow()

    def overflow(self) -> None:
        """The client does not keep up: close rather than drop notifications silently."""
        logger.warning(
            "closing WebSocket connection from %s: more than %d messages waiting to be sent",
            self.peer,
            self.max_queued_messages,
        )
        self.request_close(_WS_POLICY_VIOLATION, "client too slow: message queue overflow")

    def request_close(self, code: int, reason: str) -> None:
        """Send a close frame after the message being written; abort if that takes too long."""
        if self.closing:
            return
        self.close_reason = (code, reason)
        if self.wait_scope is not None:
            self.wait_scope.cancel()
        self.nursery.start_soon(self._abort_after, CLOSE_TIMEOUT_S)

    def open_subscription(self, method: str, entry: _Subscribe) -> Subscription:
        """Create a subscription on this connection, within its limit."""
        if len(self.subscriptions) >= self.max_subscriptions:
            raise RpcError(
                TOO_MANY_SUBSCRIPTIONS,
                f"Too many subscriptions: the limit is {self.max_subscriptions} per connection",
            )
        sub_id = secrets.token_hex(8)
        while sub_id in self.subscriptions:
            sub_id = secrets.token_hex(8)
        subscription = Subscription(sub_id, entry.notification, entry.unsubscribe, self)
        self.subscriptions[sub_id] = subscription
        return subscription

    def unsubscribe(self, method: str, params: Params) -> bool:
        """End the subscription named in params ([id]); False if there is none of this kind."""
        if not (isinstance(params, list) and len(params) == 1 and isinstance(params[0], str)):
            raise invalid_params(f"{method} takes [subscription id]")
        subscription = self.subscriptions.get(params[0])
        if subscription is None or subscription.unsubscribe_method != method:
            return False
        subscription._finish()
        return True

    def end(self) -> None:
        """The connection is gone: end every subscription (running their on_close callbacks)."""
        self.ended = True
        for subscription in list(self.subscriptions.values()):
            subscription._finish()

    async def _abort_after(self, delay: float) -> None:
        await trio.sleep(delay)
        logger.warning("WebSocket connection from %s did not close in time; aborting", self.peer)
        if self.connection is not None:
            self.connection.abort()
        self.nursery.cancel_scope.cancel()


# ---------------------------------------------------------------------------------------------
# The server


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
        self._sessions: set[_Session] = set()
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
            session.request_close(_WS_GOING_AWAY, "server shutting down")
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
        body = _error_text(
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
        body = _error_text(None, error).encode()
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
            session = _Session(self, nursery, connection, peer)
            self._sessions.add(session)
            try:
                nursery.start_soon(self._write_websocket, session, send)
                await self._read_websocket(session, receive)
                nursery.cancel_scope.cancel()
            finally:
                self._sessions.discard(session)
                session.end()

    async def _read_websocket(self, session: _Session, receive: _Receive) -> None:
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
                subscription._activate()

    async def _write_websocket(self, session: _Session, send: _Send) -> None:
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
        self, payload: bytes | str, session: _Session | None
    ) -> tuple[str | None, list[Subscription]]:
        """The response text to one HTTP body or WebSocket message (None: nothing to send).

        Also the subscriptions it opened, to be activated once the response is queued.
        """
        try:
            document = json.loads(payload, parse_constant=_reject_constant)
        except (ValueError, RecursionError) as exc:
            return _error_text(None, RpcError(PARSE_ERROR, f"Parse error: {exc}")), []
        if not isinstance(document, list):
            text, subscription = await self._answer_one(document, session)
            return text, [subscription] if subscription is not None else []
        if not document:
            error = RpcError(INVALID_REQUEST, "Invalid request: empty batch")
            return _error_text(None, error), []
        if len(document) > self.max_batch:
            error = RpcError(
                BATCH_TOO_LARGE,
                f"Batch too large: {len(document)} requests, the limit is {self.max_batch}",
            )
            return _error_text(None, error), []
        texts: list[str] = []
        subscriptions: list[Subscription] = []
        size = 2
        for item in document:
            text, subscription = await self._answer_one(item, session)
            if text is not None:
                texts.append(text)
                size += len(text) + 1
            if subscription is not None:
                subscriptions.append(subscription)
        if not texts:
            return None, subscriptions
        if size > self.max_response_bytes:
            for subscription in subscriptions:
                subscription._finish()
            error = RpcError(
                OVERSIZED_RESPONSE,
                f"Response too large: the batch's answers exceed {self.max_response_bytes} bytes",
            )
            return _error_text(None, error), []
        return "[" + ",".join(texts) + "]", subscriptions

    async def _answer_one(
        self, item: object, session: _Session | None
    ) -> tuple[str | None, Subscription | None]:
        try:
            request = _parse_request(item)
        except _InvalidRequest as exc:
            error = RpcError(INVALID_REQUEST, f"Invalid request: {exc.reason}")
            return _error_text(exc.request_id, error), None
        subscription: Subscription | None = None
        try:
            result, subscription = await self._execute(request, session)
        except RpcError as error:
            text = None if request.is_notification else _error_text(request.id, error)
            return text, None
        if request.is_notification:
            return None, None
        text = _result_text(request.id, result)
        if len(text) > self.max_response_bytes:
            if subscription is not None:
                subscription._finish()
            too_large = RpcError(
                OVERSIZED_RESPONSE,
                f"Response too large: {len(text)} bytes, the limit is {self.max_response_bytes}",
            )
            return _error_text(request.id, too_large), None
        return text, subscription

    async def _execute(
        self, request: _Request, session: _Session | None
    ) -> tuple[object, Subscription | None]:
        entry = self.methods.lookup(request.method)
        if entry is None:
            raise RpcError(METHOD_NOT_FOUND, f"Method not found: {request.method}")
        if isinstance(entry, _Method):
            return await _invoke(request.method, entry.handler, request.params), None
        if session is None:
            raise RpcError(
                METHOD_NOT_FOUND,
                f"{request.method} is a subscription method: it needs a WebSocket connection",
            )
        if isinstance(entry, _Unsubscribe):
            return session.unsubscribe(request.method, request.params), None
        if request.is_notification:
            # Nobody would learn the subscription's id.
            raise RpcError(INVALID_REQUEST, "Invalid request: a subscribe call needs an id")
        subscription = session.open_subscription(request.method, entry)
        try:
            await _invoke(request.method, entry.handler, request.params, subscription)
        except BaseException:
            subscription._finish()
            raise
        return subscription.id, subscription


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
