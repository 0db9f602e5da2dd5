"""Reading JSON-RPC parameters: by position or by name, each parsed, with errors that name it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from chain.service.rpc.errors import invalid_params
from chain.service.rpc.protocol import Params
from runtime.primitives.address import parse_account
from runtime.primitives.hashing import from_hex

T = TypeVar("T")
_MISSING = object()


def param(
    params: Params, index: int, name: str, parse: Callable[[Any], T], default: Any = _MISSING
) -> T:
    """Parameter `name` (position `index`), parsed; a clear INVALID_PARAMS error otherwise."""
    if isinstance(params, dict):
        value = params.get(name, _MISSING)
    else:
        value = params[index] if index < len(params) else _MISSING
    if value is _MISSING or (value is None and default is not _MISSING):
        if default is _MISSING:
            raise invalid_params(f"missing parameter {name!r}")
        return default  # type: ignore[no-any-return]
    try:
        return parse(value)
    except (ValueError, TypeError) as exc:
        raise invalid_params(f"{name}: {exc}") from exc


def check_arity(params: Params, count: int) -> None:
    """INVALID_PARAMS if more than `count` positional parameters were given."""
    if isinstance(params, list) and len(params) > count:
        raise invalid_params(f"expected at most {count} parameters, got {len(params)}")


# Parsers of the common parameter kinds


def hash32(value: Any) -> bytes:
    """A 0x hex block hash."""
    return from_hex(value, length=32, what="block hash")


def hex_bytes(limit: int) -> Callable[[Any], bytes]:
    """A parser of 0x hex bytes, at most `limit` of them."""

    def parse(value: Any) -> bytes:
        data = from_hex(value, what="bytes")
        if len(data) > limit:
            raise ValueError(f"{len(data)} bytes, over the limit of {limit}")
        return data

    return parse


def block_number(value: Any) -> int:
    """A block number: an integer, or a decimal or 0x hex string."""
    if isinstance(value, str):
        value = int(value, 16) if value.startswith("0x") else int(value)
    if type(value) is not int or not 0 <= value < 2**32:
        raise ValueError("expected a block number")
    return value


def account(value: Any) -> bytes:
    """An account's address."""
    if not isinstance(value, str):
        raise ValueError("expected an address")
    return parse_account(value)
