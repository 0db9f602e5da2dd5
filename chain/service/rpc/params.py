"""Reading JSON-RPC parameters: by position or by name, each parsed, with errors that name it.

Parsing is strict, so that one value has one spelling and a mistyped call fails rather than
doing something else: integers are JSON integers (not booleans or floats) or canonical strings
(decimal without sign, spaces, underscores or leading zeros; or lowercase 0x hex without leading
zeros, as Substrate writes block numbers), byte strings are 0x followed by an even number of hex
digits and nothing else, and a call that names a parameter the method does not take, or gives
more positional ones, is refused (`check_signature`). A client can still send any value of the
right kind; what it does with it is the method's to check.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
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


def check_signature(params: Params, names: Sequence[str]) -> None:
    """INVALID_PARAMS naming the culprit if `params` are not some of `names` (in order)."""
    expected = ", ".join(names) if names else "none"
    if isinstance(params, dict):
        unknown = sorted(set(params) - set(names))
        if unknown:
            raise invalid_params(f"unknown parameter {unknown[0]!r} (expected: {expected})")
    elif len(params) > len(names):
        raise invalid_params(
            f"expected at most {len(names)} parameters ({expected}), got {len(params)}"
        )


def check_arity(params: Params, count: int) -> None:
    """INVALID_PARAMS if more than `count` positional parameters were given."""
    if isinstance(params, list) and len(params) > count:
        raise invalid_params(f"expected at most {count} parameters, got {len(params)}")


# Parsers of the common parameter kinds


_DECIMAL = re.compile(r"(?:0|[1-9][0-9]*)\Z")
_HEX_NUMBER = re.compile(r"0x(?:0|[1-9a-f][0-9a-f]*)\Z")
_HEX_BYTES = re.compile(r"0x(?:[0-9a-fA-F]{2})*\Z")


def canonical_int(value: Any, what: str = "an integer") -> int:
    """A non-negative integer: a JSON integer, or a canonical decimal or 0x hex string."""
    if type(value) is int and value >= 0:
        return value
    if isinstance(value, str) and len(value) <= 80:
        if _DECIMAL.match(value):
            return int(value)
        if _HEX_NUMBER.match(value):
            return int(value, 16)
    raise ValueError(
        f"expected {what} (a JSON number, or a decimal or 0x hex string without sign, "
        f"spaces, underscores or leading zeros), got {value!r:.40}"
    )


def strict_hex(value: Any, *, length: int | None = None, what: str = "bytes") -> bytes:
    """0x followed by an even number of hex digits (no spaces), of `length` bytes if given."""
    if not isinstance(value, str) or not _HEX_BYTES.match(value):
        raise ValueError(f"{what}: expected 0x and an even number of hex digits")
    return from_hex(value, length=length, what=what)


def hash32(value: Any) -> bytes:
    """A 0x hex block hash."""
    return strict_hex(value, length=32, what="block hash")


def hex_bytes(limit: int) -> Callable[[Any], bytes]:
    """A parser of 0x hex bytes, at most `limit` of them."""

    def parse(value: Any) -> bytes:
        data = strict_hex(value)
        if len(data) > limit:
            raise ValueError(f"{len(data)} bytes, over the limit of {limit}")
        return data

    return parse


def block_number(value: Any) -> int:
    """A block number: an integer, or a canonical decimal or 0x hex string (`canonical_int`)."""
    number = canonical_int(value, "a block number")
    if not 0 <= number < 2**32:
        raise ValueError(f"expected a block number below 2^32, got {number}")
    return number


def account(value: Any) -> bytes:
    """An account's address."""
    if not isinstance(value, str):
        raise ValueError("expected an address")
    return parse_account(value)
