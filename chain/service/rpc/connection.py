"""One accepted JSON-RPC connection as the server sees it: what it is waiting for, when it last
sent, its WebSocket session, and the stream handed to hypercorn, which reports what arrives and
when the socket closes (`chain.service.rpc.transport` serves it)."""

from __future__ import annotations

import logging

import trio

from chain.service.rpc.limits import ConnectionTable, Tracked, client_key
from chain.service.rpc.subscriptions import Session

logger = logging.getLogger("xpl.rpc")

WS_IDLE_CLOSE = 1000
"""The close code sent to a WebSocket closed for being idle (normal closure: nothing is wrong)."""


class Connection:
    """One accepted TCP connection, served by hypercorn's TCPServer in its own cancel scope."""

    def __init__(
        self,
        stream: trio.SocketStream,
        peer: tuple[str, int],
        open_sockets: dict[tuple[str, int], Connection],
        table: ConnectionTable,
        now: float,
        header_deadline: float,
    ) -> None:
        self.stream = stream
        self.peer = peer
        self.scope = trio.CancelScope(shield=True)
        self.tracked = Tracked(client_key(peer[0]), now, now)
        self.deadline = header_deadline
        """When the client must have sent what is awaited (headers, a body); inf: nothing is."""
        self.last_received = now
        self.ended = False
        """The client has closed its side (it reads nothing more from it)."""
        self.in_request = 0
        """HTTP requests being answered."""
        self.unfinished_bytes = 0
        """WebSocket bytes received since its last whole message (a fragment, pings, pongs)."""
        self.unfinished_since = now
        self.session: Session | None = None
        """Its WebSocket session, once the handshake is accepted."""
        self._open_sockets = open_sockets
        self._table = table
        open_sockets[peer] = self
        table.add(self.tracked)

    def socket_closed(self) -> None:
        """The socket is closed: stop counting it against the connection limits."""
        if self._open_sockets.get(self.peer) is self:
            del self._open_sockets[self.peer]
        self._table.remove(self.tracked)

    def abort(self) -> None:
        """Close the socket under hypercorn (waking a blocked write) and cancel its tasks."""
        self.stream.socket.close()
        self.socket_closed()
        self.scope.cancel()

    def close(self, reason: str) -> None:
        """Close it for `reason`: a WebSocket gets a close frame first, anything else is aborted."""
        logger.info("closing JSON-RPC connection from %s:%d: %s", *self.peer, reason)
        if self.session is not None and not self.session.closing:
            self.session.request_close(WS_IDLE_CLOSE, reason)
        else:
            self.abort()


class TrackedStream(trio.abc.HalfCloseableStream):
    """The socket stream handed to hypercorn, which tells its connection when it is closed.

    After the client closes a keep-alive connection, hypercorn's TCPServer would keep the
    socket and its task until its idle timer ends (keep_alive_timeout, the header timeout). The
    connection stays counted until its socket is closed (uncounted, a loop of connect-and-close
    would hold thousands of sockets), which the deadline check does within DEADLINE_CHECK_S
    once no request of it is being answered; meanwhile, at its address's limit, a new
    connection replaces that address's least recently active idle one.
    """

    def __init__(self, connection: Connection) -> None:
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
        self._connection.last_received = trio.current_time()
        if self._connection.session is not None:
            if self._connection.unfinished_bytes == 0:
                self._connection.unfinished_since = self._connection.last_received
            self._connection.unfinished_bytes += len(data)
        if not data:
            self._connection.ended = True  # closed at the next deadline check if not answering
        return data

    async def aclose(self) -> None:
        self._connection.socket_closed()
        await self._stream.aclose()
