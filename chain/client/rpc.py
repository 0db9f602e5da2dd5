"""A synchronous JSON-RPC 2.0 client for an XPL node: calls and batches over HTTP, subscriptions
over WebSocket (one socket per subscription). The CLI, the tools and the tests all use it.

Proxy settings in the environment are ignored: a node's RPC port is normally on this machine.
"""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Iterator, Sequence
from types import TracebackType
from typing import Any, Self
from urllib.parse import urlsplit, urlunsplit

import httpx
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI
from websockets.sync.client import ClientConnection, connect

MAX_MESSAGE_BYTES = 16 * 1024 * 1024
# How long closing a subscription waits for the unsubscribe answer.
UNSUBSCRIBE_TIMEOUT_S = 5.0


class RpcClientError(Exception):
    """An error answer from the node."""

    def __init__(self, code: int, message: str, data: object = None) -> None:
        super().__init__(f"{message} (code {code})")
        self.code = code
        self.message = message
        self.data = data


class RpcConnectionError(Exception):
    """The node cannot be reached, dropped the connection, or answered something that is not
    JSON-RPC; the message names the URL."""


class SubscriptionClosedError(RpcConnectionError):
    """The node ended the subscription (for example after a final status)."""


class RpcClient:
    """A client for one node; reuses its HTTP connection. Not for use by several threads at once."""

    def __init__(self, url: str = "http://127.0.0.1:9944", *, timeout: float = 30.0) -> None:
        parts = urlsplit(url)
        http_scheme = {"http": "http", "https": "https", "ws": "http", "wss": "https"}
        if parts.scheme not in http_scheme or not parts.netloc:
            raise ValueError(f"node URL must be http://, https://, ws:// or wss://HOST:PORT: {url}")
        ws_scheme = "wss" if http_scheme[parts.scheme] == "https" else "ws"
        path = parts.path or "/"
        self.url = url
        self.http_url = urlunsplit((http_scheme[parts.scheme], parts.netloc, path, parts.query, ""))
        self.ws_url = urlunsplit((ws_scheme, parts.netloc, path, parts.query, ""))
        self.timeout = timeout
        self._ids = itertools.count(1)
        self._http = httpx.Client(timeout=timeout, trust_env=False)

    def call(self, method: str, *params: object) -> Any:
        """Call `method` with positional params; its result, or RpcClientError."""
        request_id = next(self._ids)
        answer = self._post(
            {"jsonrpc": "2.0", "id": request_id, "method": method, "params": params}
        )
        if not isinstance(answer, dict):
            raise RpcConnectionError(f"{self.http_url} answered {method} with a non-object")
        outcome = _outcome(answer, self.http_url)
        if answer.get("id") != request_id:
            if isinstance(outcome, RpcClientError):
                raise outcome  # an error the node could not tie to the request (id null)
            raise RpcConnectionError(f"{self.http_url} answered {method} with another id")
        if isinstance(outcome, RpcClientError):
            raise outcome
        return outcome

    def batch(self, calls: Sequence[tuple[str, Sequence[object]]]) -> list[Any | RpcClientError]:
        """Send several calls in one request; their results or errors, in request order.

        An error about the batch as a whole (too large, ...) is raised as RpcClientError.
        """
        if not calls:
            return []
        ids = [next(self._ids) for _ in calls]
        requests = [
            {"jsonrpc": "2.0", "id": request_id, "method": method, "params": list(params)}
            for request_id, (method, params) in zip(ids, calls, strict=True)
        ]
        answer = self._post(requests)
        if isinstance(answer, dict):
            outcome = _outcome(answer, self.http_url)
            if isinstance(outcome, RpcClientError):
                raise outcome
            raise RpcConnectionError(f"{self.http_url} answered a batch with a single result")
        if not isinstance(answer, list):
            raise RpcConnectionError(f"{self.http_url} answered a batch with a non-array")
        by_id: dict[object, Any] = {}
        for item in answer:
            if not isinstance(item, dict):
                raise RpcConnectionError(f"{self.http_url} answered a batch with a non-object")
            by_id[item.get("id")] = _outcome(item, self.http_url)
        missing = [request_id for request_id in ids if request_id not in by_id]
        if missing:
            raise RpcConnectionError(f"{self.http_url} left {len(missing)} calls unanswered")
        return [by_id[request_id] for request_id in ids]

    def subscribe(
        self, method: str, params: Sequence[object], unsubscribe: str
    ) -> ClientSubscription:
        """Open a WebSocket and subscribe; the subscription yields notification results."""
        try:
            socket = connect(
                self.ws_url,
                open_timeout=self.timeout,
                close_timeout=UNSUBSCRIBE_TIMEOUT_S,
                max_size=MAX_MESSAGE_BYTES,
                proxy=None,
                legacy=True,
            )
        except (OSError, TimeoutError, InvalidHandshake, InvalidURI, ConnectionClosed) as exc:
            # ConnectionClosed: a node that went down while the handshake was being sent
            raise RpcConnectionError(f"cannot open a WebSocket to {self.ws_url}: {exc}") from exc
        try:
            request_id = next(self._ids)
            request = {"jsonrpc": "2.0", "id": request_id, "method": method, "params": list(params)}
            socket.send(json.dumps(request))
            deadline = time.monotonic() + self.timeout
            while True:
                message = _receive(socket, self.ws_url, deadline)
                if message.get("id") == request_id and "method" not in message:
                    break
            outcome = _outcome(message, self.ws_url)
            if isinstance(outcome, RpcClientError):
                raise outcome
            if not isinstance(outcome, str):
                raise RpcConnectionError(f"{self.ws_url} answered {method} without an id string")
        except BaseException:
            socket.close()
            raise
        return ClientSubscription(socket, outcome, unsubscribe, self.ws_url, request_id + 1)

    def close(self) -> None:
        """Close the HTTP connection (subscriptions have their own and close themselves)."""
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def _post(self, document: object) -> Any:
        try:
            response = self._http.post(
                self.http_url,
                content=json.dumps(document, separators=(",", ":")),
                headers={"content-type": "application/json"},
            )
        except httpx.TimeoutException as exc:
            raise RpcConnectionError(
                f"no answer from {self.http_url} within {self.timeout} s"
            ) from exc
        except httpx.HTTPError as exc:
            raise RpcConnectionError(f"cannot reach {self.http_url}: {exc}") from exc
        try:
            answer = response.json() if response.content else None
        except ValueError:
            answer = None
        if response.status_code != 200:
            if isinstance(answer, dict) and isinstance(answer.get("error"), dict):
                error = _outcome(answer, self.http_url)
                if isinstance(error, RpcClientError):
                    raise error
            raise RpcConnectionError(
                f"{self.http_url} answered HTTP {response.status_code}: {response.text[:200]}"
            )
        if answer is None:
            raise RpcConnectionError(f"{self.http_url} answered with no JSON")
        return answer


class ClientSubscription:
    """A subscription over its own WebSocket: `next()` or iterate for notification results."""

    def __init__(
        self, socket: ClientConnection, sub_id: str, unsubscribe: str, url: str, next_id: int
    ) -> None:
        self.id = sub_id
        self._socket = socket
        self._unsubscribe = unsubscribe
        self._url = url
        self._next_id = next_id
        self._ended = False
        self._closed = False

    def next(self, timeout: float | None = None) -> Any:
        """The next notification's result.

        Raises TimeoutError if none comes within `timeout` seconds, SubscriptionClosedError if the
        node ended the subscription, RpcConnectionError if the socket closed.
        """
        if self._ended:
            raise SubscriptionClosedError(f"subscription {self.id} at {self._url} has ended")
        if self._closed:
            raise RpcConnectionError(f"subscription {self.id} at {self._url} was closed")
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            message = _receive(self._socket, self._url, deadline)
            params = message.get("params")
            if not isinstance(params, dict) or params.get("subscription") != self.id:
                continue  # not ours: an answer to unsubscribe, say
            if params.get("closed") is True:
                self._ended = True
                raise SubscriptionClosedError(f"{self._url} ended subscription {self.id}")
            return params.get("result")

    def __iter__(self) -> Iterator[Any]:
        """Notification results until the node ends the subscription."""
        while True:
            try:
                yield self.next()
            except SubscriptionClosedError:
                return

    def close(self) -> None:
        """Unsubscribe (if the node has not ended the subscription) and close the socket."""
        if self._closed:
            return
        self._closed = True
        try:
            if not self._ended:
                request_id = self._next_id
                request = {
                    "jsonrpc": "2.0",
                    "id": request_id,
                    "method": self._unsubscribe,
                    "params": [self.id],
                }
                self._socket.send(json.dumps(request))
                deadline = time.monotonic() + UNSUBSCRIBE_TIMEOUT_S
                while _receive(self._socket, self._url, deadline).get("id") != request_id:
                    pass
        except (RpcConnectionError, TimeoutError, ConnectionClosed):
            pass  # the node is gone or slow: closing the socket is all that is left
        finally:
            self._socket.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


def _outcome(answer: dict[str, Any], url: str) -> Any:
    """A response object's result, or its error as an RpcClientError (returned, not raised)."""
    error = answer.get("error")
    if error is None:
        if "result" not in answer:
            raise RpcConnectionError(f"{url} answered with neither a result nor an error")
        return answer["result"]
    if not isinstance(error, dict):
        raise RpcConnectionError(f"{url} answered with a malformed error: {error!r}")
    code = error.get("code")
    message = error.get("message")
    return RpcClientError(
        code if isinstance(code, int) else 0,
        message if isinstance(message, str) else repr(message),
        error.get("data"),
    )


def _receive(socket: ClientConnection, url: str, deadline: float | None) -> dict[str, Any]:
    """The next JSON object from the socket, by `deadline` (time.monotonic()) or TimeoutError."""
    timeout = None if deadline is None else max(0.0, deadline - time.monotonic())
    try:
        data = socket.recv(timeout)
    except ConnectionClosed as exc:
        raise RpcConnectionError(f"{url} closed the WebSocket: {_close_description(exc)}") from exc
    try:
        message = json.loads(data)
    except ValueError as exc:
        raise RpcConnectionError(f"{url} sent a message that is not JSON") from exc
    if not isinstance(message, dict):
        raise RpcConnectionError(f"{url} sent a message that is not a JSON object")
    return message


def _close_description(exc: ConnectionClosed) -> str:
    frame = exc.rcvd
    if frame is None:
        return "connection lost without a close frame"
    return f"code {frame.code}" + (f" ({frame.reason})" if frame.reason else "")
