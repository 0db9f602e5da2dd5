"""Wire format of the gossip streams, and a bounded reader of length-prefixed frames.

Every frame, on the gossip streams and in requests and responses, is an unsigned LEB128 varint
length followed by that many bytes (the libp2p convention). A gossip frame's bytes are

    kind (1 byte) | topic length (1 byte) | topic (ASCII) | payload

where kind is GOSSIP (relayed by whoever accepts it), DIRECT (for the receiver only) or HAVE
(the payload is a list of 32-byte message ids the sender already has, so that nobody sends it a
large message twice; see `p2p.gossip`).

`FrameReader` never trusts a length: a frame over its limit is read and thrown away in chunks
(and reported as `FrameTooLarge`, so the sender can be penalized and the stream stays usable),
and one over the discard limit, or a malformed length, ends the stream. libp2p's own
`read_exactly` gives up after 101 partial reads, and byte-at-a-time varint reads cost an await per
byte; this reader buffers whole chunks instead.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import IntEnum
from typing import Final

MESSAGE_ID_LEN: Final = 32
READ_CHUNK: Final = 256 * 1024
_MAX_VARINT_BYTES: Final = 10


class FrameError(Exception):
    """A frame that breaks the wire format."""


class MalformedFrame(FrameError):
    """A frame that cannot be parsed; after a bad length prefix the stream is unusable."""


class TruncatedFrame(FrameError):
    """The stream ended inside a frame (the sender stopped, or was stopped, mid-write)."""


class FrameTooLarge(FrameError):
    """A frame over the reader's limit. If `discarded`, it was read and thrown away and the stream
    is still usable; otherwise it was too large even for that, and the stream must be closed."""

    def __init__(self, length: int, limit: int, *, discarded: bool) -> None:
        super().__init__(f"a frame of {length} bytes, over the {limit}-byte limit")
        self.length = length
        self.limit = limit
        self.discarded = discarded


class FrameKind(IntEnum):
    """What a gossip frame carries."""

    GOSSIP = 0
    DIRECT = 1
    HAVE = 2


@dataclass(frozen=True, slots=True)
class Notification:
    """One decoded gossip frame."""

    kind: FrameKind
    topic: str
    payload: bytes

    def message_ids(self) -> list[bytes]:
        """The ids listed by a HAVE frame; MalformedFrame if its payload is not a list of ids."""
        if len(self.payload) % MESSAGE_ID_LEN:
            raise MalformedFrame(f"a HAVE frame of {len(self.payload)} bytes, not a list of ids")
        return [
            self.payload[start : start + MESSAGE_ID_LEN]
            for start in range(0, len(self.payload), MESSAGE_ID_LEN)
        ]


def encode_uvarint(value: int) -> bytes:
    """Unsigned LEB128, the length prefix of every frame."""
    if value < 0:
        raise ValueError("a varint cannot be negative")
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def encode_frame(body: bytes) -> bytes:
    """`body` with its length prefix."""
    return encode_uvarint(len(body)) + body


def encode_notification(kind: FrameKind, topic: str, payload: bytes) -> bytes:
    """A whole gossip frame, length prefix included."""
    name = topic.encode("ascii")
    if not 0 < len(name) < 256:
        raise ValueError(f"topic {topic!r}: 1 to 255 characters")
    return encode_frame(bytes((kind, len(name))) + name + payload)


def decode_notification(body: bytes) -> Notification:
    """The frame in `body` (without its length prefix); MalformedFrame if it is not one."""
    if len(body) < 2:
        raise MalformedFrame(f"a gossip frame of {len(body)} bytes")
    try:
        kind = FrameKind(body[0])
    except ValueError:
        raise MalformedFrame(f"unknown gossip frame kind {body[0]}") from None
    end = 2 + body[1]
    if body[1] == 0 or len(body) < end:
        raise MalformedFrame("a gossip frame whose topic runs past its end")
    try:
        topic = body[2:end].decode("ascii")
    except UnicodeDecodeError:
        raise MalformedFrame("a gossip frame whose topic is not ASCII") from None
    return Notification(kind, topic, body[end:])


Read = Callable[[int], Awaitable[bytes]]
"""Reads up to n bytes, as many as have arrived; b"" at the end of the stream."""


class FrameReader:
    """Reads length-prefixed frames of at most `max_frame` bytes from a stream.

    Frames over `max_frame` but not over `discard_limit` are read, thrown away and reported
    (FrameTooLarge, discarded); a longer one is reported without reading it.
    """

    def __init__(self, read: Read, max_frame: int, *, discard_limit: int | None = None) -> None:
        self._read = read
        self.max_frame = max_frame
        self.discard_limit = max(max_frame, discard_limit or 0)
        self._buffer = bytearray()

    async def read_frame(self) -> bytes | None:
        """The next frame's body, or None when the stream ends cleanly between frames."""
        length = await self._read_length()
        if length is None:
            return None
        if length > self.discard_limit:
            raise FrameTooLarge(length, self.max_frame, discarded=False)
        if length > self.max_frame:
            await self._discard(length)
            raise FrameTooLarge(length, self.max_frame, discarded=True)
        while len(self._buffer) < length:
            if not await self._fill(max(READ_CHUNK, length - len(self._buffer))):
                raise TruncatedFrame(f"the stream ended {length - len(self._buffer)} bytes early")
        body = bytes(self._buffer[:length])
        del self._buffer[:length]
        return body

    async def _read_length(self) -> int | None:
        while True:
            value = 0
            for index, byte in enumerate(self._buffer[:_MAX_VARINT_BYTES]):
                value |= (byte & 0x7F) << (7 * index)
                if byte & 0x80 == 0:
                    if byte == 0 and index > 0:
                        raise MalformedFrame("a length prefix that is not minimally encoded")
                    del self._buffer[: index + 1]
                    return value
            if len(self._buffer) >= _MAX_VARINT_BYTES:
                raise MalformedFrame("a length prefix longer than 10 bytes")
            if not await self._fill(READ_CHUNK):
                if self._buffer:
                    raise TruncatedFrame("the stream ended inside a length prefix")
                return None

    async def _discard(self, length: int) -> None:
        remaining = length
        while True:
            dropped = min(remaining, len(self._buffer))
            del self._buffer[:dropped]
            remaining -= dropped
            if remaining == 0:
                return
            if not await self._fill(min(READ_CHUNK, remaining)):
                raise TruncatedFrame(f"the stream ended {remaining} bytes early")

    async def _fill(self, n: int) -> bool:
        """Append up to n more bytes to the buffer; False at the end of the stream."""
        chunk = await self._read(n)
        if not chunk:
            return False
        self._buffer += chunk
        return True
