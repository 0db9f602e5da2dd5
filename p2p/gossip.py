"""Gossip: XPL's own notification protocol, Substrate-style, over long-lived yamux streams.

Each node opens streams to each peer on `<prefix>/notifications/1` and writes length-prefixed
frames on them (`p2p.frames`); it never reads from a stream it opened. There is one stream per
lane (`p2p.session`): bulk topics (blocks) have one of their own, so that a 900 KB block in
flight does not hold back the votes and transactions queued behind it. A received message goes,
in order, through:

1. the frame's size and the topic's size limit, then the peer's per-topic rate limit: excess is
   dropped and costs the sender score;
2. deduplication by message id (`p2p.seen`): a duplicate is dropped, free of charge, and a new
   message's id is checked against its payload (a false id bans the sender);
3. for a large message, a HAVE frame to every other peer that does not know it yet, so that
   they do not send it to us too (GossipSub v1.2's IDONTWANT). It goes out as soon as the
   frame's header has arrived, before the rest of the message: a 900 KB block takes tens of
   milliseconds to arrive, during which every peer that received it first would relay it to us;
4. the node's `on_gossip` verdict: ACCEPT relays the message to every open peer that is not
   known to have it and is not itself connected to the peer we got it from (which sends
   everything to all its peers: each peer tells its peers whom it is connected to, in PEERS
   frames); IGNORE drops it; REJECT drops it and penalizes the sender.

Why not py-libp2p's GossipSub (configured as notes/libp2p.md advises): under `p2p.bench`'s load
on this project's 2-core machine (4 node processes, 20 messages/s each, a 900 KB block a second
among them), five runs gave p50 latencies of 1.2-7 s, 0-49% of deliveries still missing 5 s
after the last publish, and 19-46% of a core per node; its validators cannot say IGNORE and
also run on our own publishes; and its queues drop silently. This protocol, under the same load
(and the same noisy machine), delivered everything with p50 4-8 ms and p99 27-71 ms at 5-6% of
a core per node; with 8 nodes in a full mesh, still everything, at 7-10% of a core, with p50
12 ms and p99 41 ms while the machine was otherwise quiet (p50 up to 0.3 s and p99 up to 1.3 s
while other work kept both cores busy). What made the difference at 8 nodes: without the peer
lists, relays sent every node each message about five times over (each node took in about
60 MB in 10 s instead of 15); with HAVE sent only once a whole block had arrived, each node
still got 30-50 extra copies of the 10 blocks; with one stream per peer, small messages waited
behind blocks (p99 0.5-2 s, against 0.07-0.26 s with the bulk lane).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Final

import trio
from libp2p.abc import INetStream
from libp2p.network.stream.exceptions import StreamEOF

from p2p import scoring, stats
from p2p.config import NetworkConfig
from p2p.errors import MessageTooLarge, NotConnected, UnknownTopic
from p2p.frames import (
    GOSSIP_HEAD_BYTES,
    FrameKind,
    FrameReader,
    FrameTooLarge,
    MalformedFrame,
    Notification,
    TruncatedFrame,
    decode_notification,
    decode_peer_list,
    encode_notification,
    encode_peer_list,
    encode_uvarint,
    peek_gossip,
)
from p2p.handler import GossipVerdict, NetworkHandler
from p2p.outbox import Outbox, OutgoingFrame
from p2p.seen import SeenMessages, message_id
from p2p.session import PeerSession
from p2p.stats import NetworkStats

log = logging.getLogger("xpl.p2p.gossip")

HAVE_MIN_BYTES: Final = 32 * 1024
"""Messages at least this large are announced with HAVE before they are validated."""
MAX_LISTED_PEERS: Final = 1024
"""A PEERS frame listing more peers than this is malformed."""
WRITE_BATCH_BYTES: Final = 64 * 1024
"""Small frames are written together up to about this much: yamux and Noise cost per write."""


Penalize = Callable[[str, float, str], None]


@dataclass
class StreamView:
    """What one of a peer's gossip streams has told us: the peers the sender was connected to
    when it sent the frames that follow. (Each of the peer's streams gets each of its peer lists
    in order with its own frames, so a list never applies to frames sent before it.)"""

    neighbors: frozenset[bytes] = frozenset()


class Gossip:
    """Publishing, receiving, validating and relaying gossip for all sessions of one node."""

    def __init__(
        self,
        config: NetworkConfig,
        handler: NetworkHandler,
        sessions: Mapping[str, PeerSession],
        network_stats: NetworkStats,
        penalize: Penalize,
    ) -> None:
        self.config = config
        self.handler = handler
        self.sessions = sessions
        self.stats = network_stats
        self.penalize = penalize
        self.seen = SeenMessages()
        self._announced = SeenMessages(ttl=60.0, capacity=10_000)
        self._dropped_logged = 0.0

    # Sending

    def check(self, topic: str, data: bytes) -> None:
        """Raise UnknownTopic or MessageTooLarge if peers would not take `data` on `topic`."""
        limits = self.config.topics.get(topic)
        if limits is None:
            raise UnknownTopic(f"topic {topic!r} is not one of {sorted(self.config.topics)}")
        if len(data) > limits.max_message_bytes:
            raise MessageTooLarge(
                f"a {topic} message of {len(data)} bytes, over the topic's "
                f"{limits.max_message_bytes}-byte limit"
            )

    def publish(self, topic: str, data: bytes) -> None:
        """Queue `data` for every open peer that does not have it."""
        self.check(topic, data)
        message = message_id(topic, data)
        self.seen.add(message, trio.current_time())
        frame = encode_notification(FrameKind.GOSSIP, topic, data, message)
        if not self._flood(topic, message, frame, source=None, skip=frozenset()):
            self.stats.dropped[stats.NO_PEERS] += 1
            log.debug("published a %s message with no peer connected", topic)

    def send(self, peer: str, topic: str, data: bytes) -> None:
        """Queue `data` for `peer` only; it will not be relayed."""
        self.check(topic, data)
        session = self.sessions.get(peer)
        if session is None or not session.opened.is_set() or session.closed:
            raise NotConnected(f"peer {peer} is not connected")
        self._queue(
            session, OutgoingFrame(topic, encode_notification(FrameKind.DIRECT, topic, data))
        )

    def _flood(
        self,
        topic: str,
        message: bytes,
        frame: bytes,
        source: PeerSession | None,
        skip: frozenset[bytes],
    ) -> bool:
        """Queue a gossip frame for every open peer not known to have it and, for a message
        from `source`, not connected to `source` (which sent it to all its peers itself);
        whether any peer was open."""
        any_open = False
        for session in self.sessions.values():
            if session is source or not session.opened.is_set() or session.closed:
                continue
            any_open = True
            if message in session.known or session.peer_bytes in skip:
                continue
            session.known.add(message)
            self._queue(session, OutgoingFrame(topic, frame, message))
        return any_open

    def _queue(self, session: PeerSession, frame: OutgoingFrame) -> None:
        outbox = session.outbox(frame.topic)
        if outbox.push(frame):
            return
        self.stats.dropped[stats.QUEUE_FULL] += 1
        now = trio.current_time()
        if now - self._dropped_logged > 1.0:  # at most a line a second under a flood
            self._dropped_logged = now
            log.warning(
                "dropped a %s message for %s: its queue holds %d bytes in %d frames "
                "(%d dropped so far)",
                frame.topic,
                session.peer,
                outbox.queued_bytes,
                outbox.queued_frames,
                self.stats.dropped[stats.QUEUE_FULL],
            )

    def _announce(self, topic: str, message: bytes, source: PeerSession) -> None:
        """Tell the other open peers that we have (or are receiving) `message`, so that they do
        not send it."""
        if not self._announced.add(message, trio.current_time()):
            return
        frame = encode_notification(FrameKind.HAVE, topic, message)
        for session in self.sessions.values():
            if session is source or not session.opened.is_set() or session.closed:
                continue
            # Not added to `known`: the peer is told we have it, not that it has it.
            if message not in session.known:
                session.outbox(topic).push_control(OutgoingFrame(topic, frame, counted=False))

    def announce_peers(self) -> None:
        """Tell every open peer which peers we are connected to (after a session opens or
        closes), so that none relays to us what we send to all of them anyway."""
        open_sessions = [s for s in self.sessions.values() if s.opened.is_set() and not s.closed]
        frame = encode_notification(
            FrameKind.PEERS, "", encode_peer_list(s.peer_bytes for s in open_sessions)
        )
        for session in open_sessions:
            for outbox in session.outboxes.values():
                outbox.push_in_order(OutgoingFrame("", frame, counted=False))

    async def write_to(self, outbox: Outbox, stream: INetStream) -> None:
        """Write a lane's queued frames to its gossip stream until cancelled; a failed or
        stalled write raises (StreamError, trio.TooSlowError) with the batch counted as dropped."""
        while True:
            batch = await outbox.next_batch(WRITE_BATCH_BYTES)
            data = b"".join(frame.data for frame in batch)
            try:
                with trio.fail_after(self.config.write_timeout):
                    await stream.write(data)
            except BaseException:
                self.stats.dropped[stats.STREAM_FAILED] += sum(f.counted for f in batch)
                raise
            for frame in batch:
                if frame.topic:  # not a PEERS frame
                    self.stats.bytes_out[frame.topic] += len(frame.data)
                if frame.counted:
                    self.stats.messages_out[frame.topic] += 1

    # Receiving

    async def read_from(self, session: PeerSession, stream: INetStream) -> None:
        """Handle the frames the peer writes on its gossip stream until it ends; returns early
        (and the caller resets the stream) after a protocol violation."""

        async def read(n: int) -> bytes:
            try:
                return await stream.read(n)
            except StreamEOF:
                return b""

        def large_frame_begins(head: bytes) -> None:
            peeked = peek_gossip(head)
            if peeked is not None and peeked[0] in self.config.topics:
                topic, message = peeked
                session.saw(message)
                if message not in self.seen:
                    self._announce(topic, message, session)

        view = StreamView()
        reader = FrameReader(
            read,
            self.config.max_frame_bytes,
            discard_limit=4 * self.config.max_frame_bytes,
            on_large_frame=large_frame_begins,
            large_frame=HAVE_MIN_BYTES,
            head_bytes=GOSSIP_HEAD_BYTES,
        )
        while not session.closed:
            try:
                body = await reader.read_frame()
            except FrameTooLarge as exc:
                self.stats.dropped[stats.OVERSIZED] += 1
                if not exc.discarded:
                    self.penalize(session.peer, scoring.PROTOCOL_VIOLATION, str(exc))
                    return
                self.penalize(session.peer, scoring.OVERSIZED_MESSAGE, str(exc))
                continue
            except MalformedFrame as exc:
                self.stats.dropped[stats.MALFORMED] += 1
                self.penalize(session.peer, scoring.PROTOCOL_VIOLATION, str(exc))
                return
            except TruncatedFrame:
                return
            if body is None:
                return
            self.on_frame(session, body, view)

    def on_frame(self, session: PeerSession, body: bytes, view: StreamView) -> None:
        """Check, deduplicate, validate and relay one frame the peer sent."""
        try:
            note = decode_notification(body)
            if note.kind is FrameKind.PEERS:
                self._on_peer_list(session, note.payload, view)
                return
            if not self._within_limits(session, note, len(body)):
                return
            if note.kind is FrameKind.HAVE:
                for message in note.message_ids():
                    session.saw(message)
                return
        except MalformedFrame as exc:
            self.stats.dropped[stats.MALFORMED] += 1
            self.penalize(session.peer, scoring.MALFORMED_FRAME, str(exc))
            return
        if note.kind is FrameKind.DIRECT:
            self._deliver(session, note.topic, note.payload)
            return
        message = note.message
        session.saw(message)
        if message in self.seen:
            # The id is not checked: whatever the payload, we have the message it names.
            self.stats.duplicates[note.topic] += 1
            return
        if message_id(note.topic, note.payload) != message:
            self.stats.dropped[stats.MALFORMED] += 1
            self.penalize(session.peer, scoring.PROTOCOL_VIOLATION, "a message under a false id")
            return
        self.seen.add(message, trio.current_time())
        if len(note.payload) >= HAVE_MIN_BYTES:
            self._announce(note.topic, message, session)
        if self._deliver(session, note.topic, note.payload):
            frame = encode_uvarint(len(body)) + body
            self._flood(note.topic, message, frame, source=session, skip=view.neighbors)

    def _within_limits(self, session: PeerSession, note: Notification, size: int) -> bool:
        """Whether a frame's topic exists and it is within the topic's size and rate limits;
        if not, it is counted and its sender penalized."""
        limits = self.config.topics.get(note.topic)
        if limits is None:
            self.stats.dropped[stats.UNKNOWN_TOPIC] += 1
            self.penalize(session.peer, scoring.MALFORMED_FRAME, f"unknown topic {note.topic!r}")
            return False
        if len(note.payload) > limits.max_message_bytes:
            self.stats.dropped[stats.OVERSIZED] += 1
            self.penalize(
                session.peer,
                scoring.OVERSIZED_MESSAGE,
                f"a {note.topic} message of {len(note.payload)} bytes, over "
                f"{limits.max_message_bytes}",
            )
            return False
        if not session.inbound_rates[note.topic].admit(size, trio.current_time()):
            self.stats.dropped[stats.RATE_LIMITED] += 1
            self.penalize(session.peer, scoring.RATE_EXCEEDED, f"{note.topic} rate exceeded")
            return False
        self.stats.bytes_in[note.topic] += size
        return True

    def _on_peer_list(self, session: PeerSession, payload: bytes, view: StreamView) -> None:
        if not session.peer_list_rate.take(1, trio.current_time()):
            self.stats.dropped[stats.RATE_LIMITED] += 1
            self.penalize(session.peer, scoring.RATE_EXCEEDED, "peer lists too often")
            return
        view.neighbors = frozenset(decode_peer_list(payload, MAX_LISTED_PEERS))

    def _deliver(self, session: PeerSession, topic: str, data: bytes) -> bool:
        """Hand a message to the node; whether it was accepted (and may be relayed)."""
        try:
            verdict = self.handler.on_gossip(session.peer, topic, data)
        except Exception:
            self.stats.dropped[stats.HANDLER_FAILED] += 1
            log.exception("the handler failed on a %s message from %s", topic, session.peer)
            return False
        if verdict is GossipVerdict.ACCEPT:
            self.stats.messages_in[topic] += 1
            return True
        if verdict is GossipVerdict.REJECT:
            self.stats.rejected[topic] += 1
            self.penalize(session.peer, scoring.REJECTED_MESSAGE, f"a {topic} message rejected")
        return False
