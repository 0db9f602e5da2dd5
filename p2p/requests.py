"""Request-response protocols: one yamux stream per request, under the chain's protocol prefix.

The requester opens a stream on `<prefix>/<protocol>`, writes the request as one length-prefixed
frame and closes its side; the responder answers with one frame, `status (1 byte) | payload`, and
closes. The payload of an OK response is the handler's answer; of any other status, a UTF-8
reason that the requester's `RequestFailed` carries. Both sides read with `FrameReader` under the
protocol's size limits, so neither a request nor a response can make the other side buffer more
than its limit; the requester also bounds the whole exchange by the protocol's timeout, and each
side holds to the protocol's per-peer concurrency and rate limits (the requester waits for a free
slot and for its pace; a responder that is asked too much answers BUSY and penalizes the peer).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from enum import IntEnum
from typing import Final

import trio
from libp2p.abc import INetStream
from libp2p.custom_types import TProtocol
from libp2p.host.basic_host import BasicHost
from libp2p.host.exceptions import StreamFailure
from libp2p.network.stream.exceptions import StreamEOF, StreamError
from libp2p.network.stream.net_stream import NetStream

from p2p import scoring
from p2p.config import NetworkConfig
from p2p.errors import FailureReason, RequestFailed, RequestRefused
from p2p.frames import FrameReader, FrameTooLarge, MalformedFrame, TruncatedFrame, encode_frame
from p2p.handler import NetworkHandler
from p2p.host import LIBP2P_ERRORS, end_stream, widen_receive_window
from p2p.session import PeerSession
from p2p.stats import NetworkStats

log = logging.getLogger("xpl.p2p.requests")

ANSWER_WRITE_TIMEOUT: Final = 5.0
"""How long a responder waits to write an error answer before giving up on the stream."""
_MAX_REASON_BYTES: Final = 1024


class Status(IntEnum):
    """The first byte of a response."""

    OK = 0
    REFUSED = 1
    ERROR = 2
    BUSY = 3
    TOO_LARGE = 4


_FAILURES: Final = {
    Status.REFUSED: FailureReason.REFUSED,
    Status.ERROR: FailureReason.REMOTE_ERROR,
    Status.BUSY: FailureReason.BUSY,
    Status.TOO_LARGE: FailureReason.REQUEST_TOO_LARGE,
}

Penalize = Callable[[str, float, str], None]


def _reader(stream: INetStream, max_frame: int) -> FrameReader:
    async def read(n: int) -> bytes:
        try:
            return await stream.read(n)
        except StreamEOF:
            return b""

    return FrameReader(read, max_frame)


class Requests:
    """Both ends of every request protocol of one node."""

    def __init__(
        self,
        config: NetworkConfig,
        handler: NetworkHandler,
        network_stats: NetworkStats,
        penalize: Penalize,
    ) -> None:
        self.config = config
        self.handler = handler
        self.stats = network_stats
        self.penalize = penalize

    # The requester's end

    async def request(
        self,
        host: BasicHost,
        session: PeerSession | None,
        peer: str,
        protocol: str,
        data: bytes,
        timeout: float | None,
    ) -> bytes:
        """Send a request and return the response; RequestFailed says why there is none."""
        try:
            return await self._request(host, session, peer, protocol, data, timeout)
        except RequestFailed as failure:
            self.stats.request_failures[failure.reason.value] += 1
            raise

    async def _request(
        self,
        host: BasicHost,
        session: PeerSession | None,
        peer: str,
        protocol: str,
        data: bytes,
        timeout: float | None,
    ) -> bytes:
        limits = self.config.request_protocols.get(protocol)
        if limits is None:
            raise RequestFailed(peer, protocol, FailureReason.UNKNOWN_PROTOCOL)
        if len(data) > limits.max_request_bytes:
            raise RequestFailed(
                peer,
                protocol,
                FailureReason.REQUEST_TOO_LARGE,
                f"{len(data)} bytes, over the {limits.max_request_bytes}-byte limit",
            )
        if session is None or session.closed or not session.opened.is_set():
            raise RequestFailed(peer, protocol, FailureReason.NOT_CONNECTED)
        deadline = limits.timeout if timeout is None else timeout
        with trio.move_on_after(deadline) as scope:
            async with session.request_slots[protocol]:
                pace = session.request_pace[protocol]
                await trio.sleep(pace.delay(1, trio.current_time()))
                pace.take(1, trio.current_time())
                response = await self._exchange(host, session, protocol, data)
        if scope.cancelled_caught:
            raise RequestFailed(peer, protocol, FailureReason.TIMEOUT, f"after {deadline:g} s")
        self.stats.requests_out[protocol] += 1
        return response

    async def _exchange(
        self, host: BasicHost, session: PeerSession, protocol: str, data: bytes
    ) -> bytes:
        peer = session.peer
        limits = self.config.request_protocols[protocol]
        try:
            stream = await host.new_stream(
                session.peer_id, [TProtocol(self.config.protocol_id(protocol))]
            )
        except StreamFailure as exc:
            raise RequestFailed(peer, protocol, FailureReason.UNSUPPORTED) from exc
        except LIBP2P_ERRORS as exc:  # the connection went away
            raise RequestFailed(peer, protocol, FailureReason.STREAM_ERROR, str(exc)) from exc
        done = False
        try:
            await widen_receive_window(stream, limits.max_response_bytes + 16)
            await stream.write(encode_frame(data))
            if isinstance(stream, NetStream):
                await stream.close_write()  # the request is complete: half-close
            body = await _reader(stream, limits.max_response_bytes + 1).read_frame()
            done = True
        except FrameTooLarge as exc:
            raise RequestFailed(
                peer, protocol, FailureReason.RESPONSE_TOO_LARGE, f"{exc.length - 1} bytes"
            ) from exc
        except (MalformedFrame, TruncatedFrame) as exc:
            raise RequestFailed(peer, protocol, FailureReason.MALFORMED_RESPONSE, str(exc)) from exc
        except StreamError as exc:
            raise RequestFailed(peer, protocol, FailureReason.STREAM_ERROR, str(exc)) from exc
        finally:
            await end_stream(stream, graceful=done)
        if not body:
            raise RequestFailed(
                peer, protocol, FailureReason.STREAM_ERROR, "the stream closed with no response"
            )
        try:
            status = Status(body[0])
        except ValueError:
            raise RequestFailed(
                peer, protocol, FailureReason.MALFORMED_RESPONSE, f"status {body[0]}"
            ) from None
        if status is Status.OK:
            return body[1:]
        reason = body[1 : 1 + _MAX_REASON_BYTES].decode("utf-8", "replace")
        raise RequestFailed(peer, protocol, _FAILURES[status], reason)

    # The responder's end

    async def serve(self, session: PeerSession, protocol: str, stream: INetStream) -> None:
        """Answer one request the peer opened `stream` for."""
        limits = self.config.request_protocols[protocol]
        peer = session.peer
        if session.serving[protocol] >= limits.max_concurrent_per_peer:
            self.penalize(peer, scoring.RATE_EXCEEDED, f"over {protocol}'s concurrency limit")
            await _answer(
                stream, Status.BUSY, b"too many concurrent requests", ANSWER_WRITE_TIMEOUT
            )
            return
        if not session.request_rates[protocol].take(1, trio.current_time()):
            self.penalize(peer, scoring.RATE_EXCEEDED, f"over {protocol}'s rate limit")
            await _answer(stream, Status.BUSY, b"too many requests", ANSWER_WRITE_TIMEOUT)
            return
        session.serving[protocol] += 1
        try:
            with trio.move_on_after(limits.timeout) as scope:
                answer = await self._answer_for(session, protocol, stream)
            if scope.cancelled_caught:
                answer = Status.ERROR, b"timed out"
            if answer is None:
                await end_stream(stream, graceful=False)
                return
            await _answer(stream, *answer, timeout=limits.timeout)
        finally:
            session.serving[protocol] -= 1

    async def _answer_for(
        self, session: PeerSession, protocol: str, stream: INetStream
    ) -> tuple[Status, bytes] | None:
        """The answer to the request on `stream`; None if the stream ended before a request."""
        limits = self.config.request_protocols[protocol]
        peer = session.peer
        try:
            request = await _reader(stream, limits.max_request_bytes).read_frame()
        except (TruncatedFrame, StreamError):
            return None
        except FrameTooLarge as exc:
            self.penalize(peer, scoring.OVERSIZED_REQUEST, f"a {protocol} request: {exc}")
            return Status.TOO_LARGE, f"over the {limits.max_request_bytes}-byte limit".encode()
        except MalformedFrame as exc:
            self.penalize(peer, scoring.MALFORMED_FRAME, f"a {protocol} request: {exc}")
            return Status.ERROR, b"malformed request"
        if request is None:
            return None
        try:
            response = await self.handler.on_request(peer, protocol, request)
        except RequestRefused as refusal:
            if refusal.cost:
                self.penalize(peer, refusal.cost, f"{protocol} request refused: {refusal.reason}")
            return Status.REFUSED, refusal.reason.encode()
        except Exception as exc:
            log.exception("the handler failed on a %s request from %s", protocol, peer)
            return Status.ERROR, f"the handler failed ({type(exc).__name__})".encode()
        if len(response) > limits.max_response_bytes:
            log.error(
                "a %s response of %d bytes, over the %d-byte limit, not sent to %s",
                protocol,
                len(response),
                limits.max_response_bytes,
                peer,
            )
            return Status.ERROR, b"the response is over the protocol's size limit"
        self.stats.requests_in[protocol] += 1
        return Status.OK, response


async def _answer(stream: INetStream, status: Status, payload: bytes, timeout: float) -> None:
    """Write a response and close the stream; a peer that has gone is no concern of ours."""
    try:
        with trio.fail_after(timeout):
            await stream.write(encode_frame(bytes((status,)) + payload))
    except (StreamError, trio.TooSlowError):
        await end_stream(stream, graceful=False)
    else:
        await end_stream(stream, graceful=True)


def request_protocols(config: NetworkConfig) -> Mapping[TProtocol, str]:
    """Each request protocol's full id, mapped to its name."""
    return {TProtocol(config.protocol_id(name)): name for name in config.request_protocols}
