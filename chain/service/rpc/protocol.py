"""JSON-RPC 2.0 messages: parsing and checking requests, batches, and result and error objects.

`answer` turns one HTTP body or WebSocket message into the text to send back: a single request
or a batch (within `max_batch` requests and `max_response_bytes` of answers), notifications
answered with nothing, and the standard error codes (see `chain.service.rpc.errors`). What a request
does is the caller's `execute`; the transport (`chain.service.rpc.transport`) supplies it.
"""

from __future__ import annotations

import inspect
import json
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Final, Protocol, TypeVar, cast

from chain.service.rpc.errors import (
    BATCH_TOO_LARGE,
    INTERNAL_ERROR,
    INVALID_REQUEST,
    OVERSIZED_RESPONSE,
    PARSE_ERROR,
    RpcError,
    invalid_params,
    storage_failure,
)

logger = logging.getLogger("xpl.rpc")

Params = list[Any] | dict[str, Any]
RequestId = str | int | None


class Opened(Protocol):
    """A subscription a call opened, held back until the call's answer is sent."""

    def finish(self) -> None:
        """End it without a word to the client (its answer was never sent)."""


S = TypeVar("S", bound=Opened)


def dumps(value: object) -> str:
    """Compact JSON; raises TypeError or ValueError for what JSON cannot carry."""
    # ensure_ascii (the default) keeps len(text) equal to its size in bytes.
    return json.dumps(value, separators=(",", ":"), allow_nan=False)


def _reject_constant(name: str) -> object:
    raise ValueError(f"{name} is not valid JSON")


_SURROGATE_ESCAPE: Final = re.compile(r"\\u[dD][89a-fA-F]")
"""A JSON escape of a UTF-16 surrogate: paired, it is one character; alone, it is not text."""


def _object(pairs: list[tuple[str, object]]) -> dict[str, object]:
    """A JSON object, refusing a key given twice (which of the two counts is left to chance in
    other parsers, so a proxy and the node could read different requests)."""
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise ValueError(f"the key {key!r} appears twice in one object")
            seen.add(key)
    return obj


def _check_text(document: object) -> None:
    """Refuse strings (and keys) holding a lone surrogate, which `\\uD800` escapes can make:
    they are not Unicode text, and would fail wherever the node encodes them."""
    stack = [document]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                raise ValueError("a string holds a lone UTF-16 surrogate escape") from None
        elif isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())


def _valid_id(value: object) -> bool:
    return value is None or isinstance(value, str) or type(value) is int


@dataclass(frozen=True)
class Request:
    """One well-formed request object."""

    method: str
    params: Params
    id: RequestId
    is_notification: bool


class InvalidRequest(Exception):
    """A request object of the wrong shape, with the id to answer it under."""

    def __init__(self, request_id: RequestId, reason: str) -> None:
        super().__init__(reason)
        self.request_id = request_id
        self.reason = reason


def parse_request(item: object) -> Request:
    """Check one request object's shape (JSON-RPC 2.0 section 4)."""
    if not isinstance(item, dict):
        raise InvalidRequest(None, "a request must be a JSON object")
    raw_id = item.get("id")
    if not _valid_id(raw_id):
        raise InvalidRequest(None, '"id" must be a string, an integer or null')
    request_id = cast(RequestId, raw_id)
    if item.get("jsonrpc") != "2.0":
        raise InvalidRequest(request_id, '"jsonrpc" must be "2.0"')
    method = item.get("method")
    if not isinstance(method, str):
        raise InvalidRequest(request_id, '"method" must be a string')
    params = item.get("params", [])
    if not isinstance(params, list | dict):
        raise InvalidRequest(request_id, '"params" must be an array or an object')
    return Request(method, params, request_id, "id" not in item)


def error_text(request_id: RequestId, error: RpcError) -> str:
    """The response object for an error, as JSON text."""
    response = {"jsonrpc": "2.0", "error": error.to_json(), "id": request_id}
    try:
        return dumps(response)
    except (TypeError, ValueError, RecursionError):
        logger.exception("RPC error data for %s cannot be encoded as JSON", error.message)
        bare = {"code": error.code, "message": error.message}
        return dumps({"jsonrpc": "2.0", "error": bare, "id": request_id})


def result_text(request_id: RequestId, result: object) -> str:
    """The response object for a result, as JSON text (INTERNAL_ERROR if it is not JSON)."""
    try:
        return dumps({"jsonrpc": "2.0", "result": result, "id": request_id})
    except (TypeError, ValueError, RecursionError):
        logger.exception("RPC result cannot be encoded as JSON")
        return error_text(request_id, RpcError(INTERNAL_ERROR, "Internal error"))


async def invoke(name: str, handler: Callable[..., object], *args: object) -> object:
    """Call a handler, awaiting it if async, and turn what it raises into an RpcError."""
    try:
        result = handler(*args)
        if inspect.isawaitable(result):
            result = await result
    except RpcError:
        raise
    except (ValueError, TypeError) as exc:
        raise invalid_params(str(exc)) from None
    except Exception as exc:
        failure = storage_failure(exc)
        if failure is not None:
            raise failure from None
        logger.exception("RPC method %s failed", name)
        raise RpcError(INTERNAL_ERROR, "Internal error") from None
    return result


Execute = Callable[[Request], Awaitable[tuple[object, S | None]]]
"""Carries out one request: its result, and the subscription it opened if any; raises RpcError."""


def structure_count(payload: bytes | str) -> int:
    """JSON punctuation characters in `payload` (an upper bound on its values, counted in C
    without parsing; those inside strings count too, which only overcharges)."""
    if isinstance(payload, str):
        return sum(payload.count(c) for c in "[{,:")
    return sum(payload.count(c) for c in (b"[", b"{", b",", b":"))


def parse(payload: bytes | str) -> tuple[object, str | None]:
    """The JSON document of one HTTP body or WebSocket message, or the parse error's text."""
    try:
        if isinstance(payload, bytes):
            # Strict UTF-8: json.loads would guess UTF-16 or UTF-32 from the first bytes and
            # let encoded surrogates through.
            payload = payload.decode("utf-8")
        document = json.loads(payload, parse_constant=_reject_constant, object_pairs_hook=_object)
        if _SURROGATE_ESCAPE.search(payload):
            _check_text(document)
    except (ValueError, RecursionError) as exc:
        return None, error_text(None, RpcError(PARSE_ERROR, f"Parse error: {exc}"))
    return document, None


async def answer(
    payload: bytes | str, execute: Execute[S], *, max_batch: int, max_response_bytes: int
) -> tuple[str | None, list[S]]:
    """The response text to one HTTP body or WebSocket message (None: nothing to send).

    Also the subscriptions it opened, to be activated once the response is queued.
    """
    document, error = parse(payload)
    if error is not None:
        return error, []
    return await answer_document(
        document, execute, max_batch=max_batch, max_response_bytes=max_response_bytes
    )


async def answer_document(
    document: object, execute: Execute[S], *, max_batch: int, max_response_bytes: int
) -> tuple[str | None, list[S]]:
    """The response text to one parsed message (see `answer`)."""
    if not isinstance(document, list):
        text, subscription = await _answer_one(document, execute, max_response_bytes)
        return text, [subscription] if subscription is not None else []
    if not document:
        error = RpcError(INVALID_REQUEST, "Invalid request: empty batch")
        return error_text(None, error), []
    if len(document) > max_batch:
        error = RpcError(
            BATCH_TOO_LARGE,
            f"Batch too large: {len(document)} requests, the limit is {max_batch}",
        )
        return error_text(None, error), []
    texts: list[str] = []
    subscriptions: list[S] = []
    size = 2
    for item in document:
        text, subscription = await _answer_one(item, execute, max_response_bytes)
        if text is not None:
            texts.append(text)
            size += len(text) + 1
        if subscription is not None:
            subscriptions.append(subscription)
    if not texts:
        return None, subscriptions
    if size > max_response_bytes:
        for subscription in subscriptions:
            subscription.finish()
        error = RpcError(
            OVERSIZED_RESPONSE,
            f"Response too large: the batch's answers exceed {max_response_bytes} bytes",
        )
        return error_text(None, error), []
    return "[" + ",".join(texts) + "]", subscriptions


async def _answer_one(
    item: object, execute: Execute[S], max_response_bytes: int
) -> tuple[str | None, S | None]:
    try:
        request = parse_request(item)
    except InvalidRequest as exc:
        error = RpcError(INVALID_REQUEST, f"Invalid request: {exc.reason}")
        return error_text(exc.request_id, error), None
    subscription: S | None = None
    try:
        result, subscription = await execute(request)
    except RpcError as error:
        text = None if request.is_notification else error_text(request.id, error)
        return text, None
    if request.is_notification:
        return None, None
    text = result_text(request.id, result)
    if len(text) > max_response_bytes:
        if subscription is not None:
            subscription.finish()
        too_large = RpcError(
            OVERSIZED_RESPONSE,
            f"Response too large: {len(text)} bytes, the limit is {max_response_bytes}",
        )
        return error_text(request.id, too_large), None
    return text, subscription
