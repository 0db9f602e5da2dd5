"""The wire format: gossip frames round-trip, and the frame reader never trusts a length."""

from __future__ import annotations

import pytest
import trio
from hypothesis import given, settings
from hypothesis import strategies as st

from p2p.frames import (
    GOSSIP_HEAD_BYTES,
    FrameKind,
    FrameReader,
    FrameTooLarge,
    MalformedFrame,
    Read,
    TruncatedFrame,
    decode_notification,
    decode_peer_list,
    encode_frame,
    encode_notification,
    encode_peer_list,
    encode_uvarint,
    peek_gossip,
)
from p2p.seen import message_id

pytestmark = pytest.mark.timeout(60)

topics = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789_-/", min_size=1, max_size=64)


def chunked(data: bytes, sizes: list[int]) -> Read:
    """A read function returning `data` in pieces of the given sizes, then b"" forever."""
    pieces = []
    offset = 0
    for size in sizes:
        if offset >= len(data):
            break
        pieces.append(data[offset : offset + max(1, size)])
        offset += max(1, size)
    pieces.append(data[offset:])

    async def read(n: int) -> bytes:
        await trio.lowlevel.checkpoint()
        while pieces:
            piece = pieces.pop(0)
            if not piece:
                continue
            if len(piece) > n:
                pieces.insert(0, piece[n:])
                piece = piece[:n]
            return piece
        return b""

    return read


def read_all(reader: FrameReader) -> list[bytes]:
    async def main() -> list[bytes]:
        frames = []
        while (frame := await reader.read_frame()) is not None:
            frames.append(frame)
        return frames

    return trio.run(main)


@given(topic=topics, payload=st.binary(max_size=300))
def test_gossip_frames_round_trip(topic: str, payload: bytes) -> None:
    message = message_id(topic, payload)
    frame = encode_notification(FrameKind.GOSSIP, topic, payload, message)
    body = read_all(FrameReader(chunked(frame, [1]), 1000))[0]
    note = decode_notification(body)
    assert (note.kind, note.topic, note.payload, note.message) == (
        FrameKind.GOSSIP,
        topic,
        payload,
        message,
    )
    assert peek_gossip(body[:GOSSIP_HEAD_BYTES]) == (topic, message)


@given(
    bodies=st.lists(st.binary(max_size=2000), max_size=8),
    sizes=st.lists(st.integers(1, 3000), max_size=30),
)
@settings(max_examples=50)
def test_frames_survive_any_split_of_the_stream(bodies: list[bytes], sizes: list[int]) -> None:
    stream = b"".join(encode_frame(body) for body in bodies)
    assert read_all(FrameReader(chunked(stream, sizes), 2000)) == bodies


def test_an_oversized_frame_is_skipped_and_the_stream_stays_usable() -> None:
    stream = encode_frame(b"a" * 5000) + encode_frame(b"next")
    reader = FrameReader(chunked(stream, [100] * 100), 1000, discard_limit=10_000)

    async def main() -> None:
        with pytest.raises(FrameTooLarge) as error:
            await reader.read_frame()
        assert error.value.discarded and error.value.length == 5000
        assert await reader.read_frame() == b"next"
        assert await reader.read_frame() is None

    trio.run(main)


def test_a_length_beyond_the_discard_limit_is_not_read() -> None:
    reader = FrameReader(chunked(encode_uvarint(10**9), [5]), 1000, discard_limit=10_000)

    async def main() -> None:
        with pytest.raises(FrameTooLarge) as error:
            await reader.read_frame()
        assert not error.value.discarded

    trio.run(main)


@pytest.mark.parametrize(
    ("stream", "error"),
    [
        (b"\xff" * 11, MalformedFrame),
        (b"\x80\x00", MalformedFrame),  # not minimal
        (b"\x05abc", TruncatedFrame),
        (b"\x85", TruncatedFrame),
    ],
)
def test_bad_length_prefixes(stream: bytes, error: type[Exception]) -> None:
    async def main() -> None:
        with pytest.raises(error):
            await FrameReader(chunked(stream, [1] * 20), 1000).read_frame()

    trio.run(main)


def test_a_large_frame_is_announced_by_its_head_before_the_rest_arrives() -> None:
    payload = b"x" * 100_000
    message = message_id("blocks", payload)
    frame = encode_notification(FrameKind.GOSSIP, "blocks", payload, message)
    seen: list[tuple[str, bytes] | None] = []
    read = chunked(frame, [1000] * 200)
    reader = FrameReader(
        read,
        200_000,
        on_large_frame=lambda head: seen.append(peek_gossip(head)),
        large_frame=32_000,
        head_bytes=GOSSIP_HEAD_BYTES,
    )
    assert read_all(reader)[0].endswith(payload)
    assert seen == [("blocks", message)]


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"\x00",
        b"\x09\x01a",  # unknown kind
        b"\x00\x05ab",  # topic runs past the end
        b"\x00\x00",  # GOSSIP without a topic
        b"\x03\x01a",  # PEERS with a topic
        b"\x00\x01a" + b"\x00" * 10,  # GOSSIP with a partial id
        b"\x01\x02\xff\xfe",  # topic not ASCII
    ],
)
def test_malformed_gossip_frames(body: bytes) -> None:
    with pytest.raises(MalformedFrame):
        decode_notification(body)


def test_have_and_peer_lists() -> None:
    ids = [bytes([i]) * 32 for i in range(3)]
    have = decode_notification(encode_notification(FrameKind.HAVE, "blocks", b"".join(ids))[1:])
    assert have.message_ids() == ids
    broken = decode_notification(encode_notification(FrameKind.HAVE, "blocks", b"x" * 33)[1:])
    with pytest.raises(MalformedFrame):
        broken.message_ids()
    peers = [b"a" * 38, b"b" * 20]
    assert decode_peer_list(encode_peer_list(peers), 10) == peers
    with pytest.raises(MalformedFrame):
        decode_peer_list(encode_peer_list(peers), 1)
    with pytest.raises(MalformedFrame):
        decode_peer_list(b"\x05ab", 10)
    with pytest.raises(ValueError):
        encode_notification(FrameKind.GOSSIP, "blocks", b"data")  # no id
