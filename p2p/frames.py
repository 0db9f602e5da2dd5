"""Wire format of the gossip streams, and a bounded reader of length-prefixed frames.

Every frame, on the gossip streams and in requests and responses, is an unsigned LEB128 varint
length followed by that many bytes (the libp2p convention). A gossip frame's bytes are

    kind (1 byte) | topic length (1 byte) | topic (ASCII) | [message id (32 bytes)] | payload

where kind is GOSSIP (relayed by whoever accepts it; the only kind with the message id, which
lets a receiver drop a duplicate without hashing it, and announce a large message it has begun
to receive before the rest arrives), DIRECT (for the receiver only), HAVE (the payload is a list
of 32-byte message ids the sender already has or is receiving, so that nobody sends it a large
message twice) or PEERS (no topic; the payload lists the peers the sender is connected to, each
id prefixed by its length in one byte, so that nobody relays it what it sends to them itself;
see `p2p.gossip`). A receiver checks the id of every message it has not seen against the
payload.

`FrameReader` never trusts a length: a frame over its limit is read and thrown away in chunks
(and reported as `FrameTooLarge`, so the sender can be penalized and the stream stays usable),
and one over the discard limit, or a malformed length, ends the stream. libp2p's own
`read_exactly` gives up after 101 partial reads, and byte-at-a-time varint reads cost an await per
byte; this reader buffers whole chunks instead.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from enum import IntEnum
from typing import Final

MESSAGE_ID_LEN: Final = 32
MAX_TOPIC_LEN: Final = 255
GOSSIP_HEAD_BYTES: Final = 2 + MAX_TOPIC_LEN + MESSAGE_ID_LEN
"""Enough of a gossip frame's start to hold its kind, topic and message id."""
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
    PEERS = 3


@dataclass(frozen=True, slots=True)
class Notification:
    """One decoded gossip frame."""

    kind: FrameKind
    topic: str
    payload: bytes
    message: bytes = b""
    """The message id a GOSSIP frame claims (not yet checked against the payload)."""

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


def encode_notification(kind: FrameKind, topic: str, payload: bytes, message: bytes = b"") -> bytes:
    """A whole gossip frame, length prefix included; `message` is the id, for GOSSIP only, and
    `topic` is empty for PEERS only."""
    name = topic.encode("ascii")
    if (kind is FrameKind.PEERS) != (not name) or len(name) > MAX_TOPIC_LEN:
        raise ValueError(f"topic {topic!r}: 1 to {MAX_TOPIC_LEN} characters, none for PEERS")
    if (kind is FrameKind.GOSSIP) != (len(message) == MESSAGE_ID_LEN):
        raise ValueError("a GOSSIP frame, and only one, carries a 32-byte message id")
    return encode_frame(bytes((kind, len(name))) + name + message + payload)


def decode_notification(body: bytes) -> Notification:
    """The frame in `body` (without its length prefix); MalformedFrame if it is not one."""
    if len(body) < 2:
        raise MalformedFrame(f"a gossip frame of {len(body)} bytes")
    try:
        kind = FrameKind(body[0])
    except ValueError:
        raise MalformedFrame(f"unknown gossip frame kind {body[0]}") from None
    end = 2 + body[1]
    if (body[1] == 0) != (kind is FrameKind.PEERS):
        raise MalformedFrame(f"a {kind.name} frame with a topic of {body[1]} bytes")
    if len(body) < end:
        raise MalformedFrame("a gossip frame whose topic runs past its end")
    try:
        topic = body[2:end].decode("ascii")
    except UnicodeDecodeError:
        raise MalformedFrame("a gossip frame whose topic is not ASCII") from None
    if kind is not FrameKind.GOSSIP:
        return Notification(kind, topic, body[end:])
    if len(body) < end + MESSAGE_ID_LEN:
        raise MalformedFrame("a GOSSIP frame without a whole message id")
    return Notification(kind, topic, body[end + MESSAGE_ID_LEN :], body[end : end + MESSAGE_ID_LEN])


def peek_gossip(head: bytes) -> tuple[str, bytes] | None:
    """(topic, claimed message id) from the start of a GOSSIP frame; None for any other start."""
    if len(head) < 2 or head[0] != FrameKind.GOSSIP or head[1] == 0:
        return None
    end = 2 + head[1]
    if len(head) < end + MESSAGE_ID_LEN:
        return None
    try:
        topic = head[2:end].decode("ascii")
    except UnicodeDecodeError:
        return None
    return topic, head[end : end + MESSAGE_ID_LEN]


def encode_peer_list(peers: Iterable[bytes]) -> bytes:
    """The payload of a PEERS frame."""
    return b"".join(bytes((len(peer),)) + peer for peer in peers)


def decode_peer_list(payload: bytes, max_peers: int) -> list[bytes]:
    """The peer ids in a PEERS payload; MalformedFrame if it does not parse or lists too many."""
    peers: list[bytes] = []
    offset = 0
    while offset < len(payload):
        end = offset + 1 + payload[offset]
        if payload[offset] == 0 or end > len(payload):
            raise MalformedFrame("a PEERS frame whose list does not parse")
        peers.append(payload[offset + 1 : end])
        offset = end
        if len(peers) > max_peers:
            raise MalformedFrame(f"a PEERS frame listing over {max_peers} peers")
    return peers


Read = Callable[[int], Awaitable[bytes]]
"""Reads up to n bytes, as many as have arrived; b"" at the end of the stream."""


def _buffered_varint(buffer: bytearray) -> int | None:
    """The length prefix at the start of `buffer`, removed from it; None if it is not all there
    yet. MalformedFrame if it is not minimally encoded or longer than 10 bytes."""
    value = 0
    for index, byte in enumerate(buffer[:_MAX_VARINT_BYTES]):
        value |= (byte & 0x7F) << (7 * index)
        if byte & 0x80 == 0:
            if byte == 0 and index > 0:
                raise MalformedFrame("a length prefix that is not minimally encoded")
            del buffer[: index + 1]
            return value
    if len(buffer) >= _MAX_VARINT_BYTES:
        raise MalformedFrame("a length prefix longer than 10 bytes")
    return None


class FrameReader:
    """Reads length-prefixed frames of at most `max_frame` bytes from a stream.

    Frames over `max_frame` but not over `discard_limit` are read, thrown away and reported
    (FrameTooLarge, discarded); a longer one is reported without reading it. For frames of at
    least `large_frame` bytes, `on_large_frame` is called with their first `head_bytes` bytes as
    soon as those arrive, before the rest is read: a large message takes a while to arrive, and
    the gossip tells other peers early not to send it too.
    """

    def __init__(
        self,
        read: Read,
        max_frame: int,
        *,
        discard_limit: int | None = None,
        on_large_frame: Callable[[bytes], None] | None = None,
        large_frame: int = 0,
        head_bytes: int = 0,
    ) -> None:
        self._read = read
        self.max_frame = max_frame
        self.discard_limit = max(max_frame, discard_limit or 0)
        self._on_large_frame = on_large_frame
        self._large_frame = max(large_frame, head_bytes)
        self._head_bytes = head_bytes
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
        if self._on_large_frame is not None and length >= self._large_frame:
            while len(self._buffer) < self._head_bytes:
                if not await self._fill(READ_CHUNK):
                    raise TruncatedFrame("the stream ended inside a frame")
            self._on_large_frame(bytes(self._buffer[: self._head_bytes]))
        while len(self._buffer) < length:
            if not await self._fill(max(READ_CHUNK, length - len(self._buffer))):
                raise TruncatedFrame(f"the stream ended {length - len(self._buffer)} bytes early")
        body = bytes(self._buffer[:length])
        del self._buffer[:length]
        return body

    async def _read_length(self) -> int | None:
        while True:
            length = _buffered_varint(self._buffer)
            if length is not None:
                return length
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
