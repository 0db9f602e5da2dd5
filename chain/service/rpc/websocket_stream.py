"""Hypercorn's WebSocket stream, closing a connection that sends a bad frame with the RFC 6455
close code for it.

wsproto reports a frame it cannot accept (a text message that is not valid UTF-8, encoded
surrogates included, or a protocol error) as a `CloseConnection` event with the right code (1007,
1002, ...) but leaves the connection open; hypercorn 0.18 answers a close only when the peer sent
one, so such a client saw its TCP connection drop without a reason. This stream sends the close
frame with that code first. `install` makes hypercorn's HTTP/1.1 and HTTP/2 protocols create it.
"""

from __future__ import annotations

import hypercorn.protocol.h2
import hypercorn.protocol.h11
from hypercorn.protocol.events import StreamClosed
from hypercorn.protocol.ws_stream import FrameTooLargeError, WSStream
from wsproto.connection import ConnectionState
from wsproto.events import CloseConnection, Message, Ping
from wsproto.frame_protocol import CloseReason


class ClosingWSStream(WSStream):
    """A WSStream that answers a frame it cannot parse with a close frame carrying the reason."""

    async def _handle_events(self) -> None:
        for event in self.connection.events():
            if isinstance(event, Message):
                try:
                    self.buffer.extend(event)
                except FrameTooLargeError:
                    await self._send_wsproto_event(
                        CloseConnection(code=CloseReason.MESSAGE_TOO_BIG)
                    )
                    break
                if event.message_finished and self.app_put is not None:
                    await self.app_put(self.buffer.to_message())
                    self.buffer.clear()
            elif isinstance(event, Ping):
                await self._send_wsproto_event(event.response())
            elif isinstance(event, CloseConnection):
                if self.connection.state == ConnectionState.REMOTE_CLOSING:
                    await self._send_wsproto_event(event.response())
                elif self.connection.state == ConnectionState.OPEN:
                    # Not the peer's close: wsproto could not parse what the peer sent.
                    await self._send_wsproto_event(
                        CloseConnection(code=event.code, reason=event.reason)
                    )
                await self.send(StreamClosed(stream_id=self.stream_id))
                break


def install() -> None:
    """Make hypercorn's protocols serve WebSockets with `ClosingWSStream` (idempotent)."""
    for module in (hypercorn.protocol.h11, hypercorn.protocol.h2):
        setattr(module, "WSStream", ClosingWSStream)  # noqa: B010 (not exported, hence setattr)
