"""Typed fields of calls and events: how each is encoded, decoded, and shown as JSON.

A call's arguments and an event's fields are declared as `(name, FieldType)` pairs. The same
declaration decodes untrusted extrinsic bytes, encodes events into state, and renders both for RPC,
so a pallet states its interface once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from runtime.primitives import codec
from runtime.primitives.address import decode_address, encode_address
from runtime.primitives.codec import DecodeError, Value
from runtime.primitives.hashing import from_hex, to_hex


@dataclass(frozen=True, slots=True)
class FieldType:
    """One field type: value checks and conversions between Python, codec values and JSON."""

    name: str
    to_value: Callable[[Any], Value]
    from_value: Callable[[Value, str], Any]
    to_json: Callable[[Any], Any]
    from_json: Callable[[Any, str], Any]
    identity: bool = False
    """True when `to_value` returns its argument unchanged (lets encoders skip the call)."""
    bounds: tuple[int, int] | None = None
    """The least and the most value of an integer type; None for the others."""


def _json_int(lo: int, hi: int) -> Callable[[Any, str], int]:
    def parse(j: Any, what: str) -> int:
        if isinstance(j, str) and j.isdigit():
            j = int(j)
        if type(j) is not int or not lo <= j <= hi:
            raise ValueError(f"{what}: expected an integer in [{lo}, {hi}]")
        return j

    return parse


def _int_type(name: str, hi: int, lo: int = 0) -> FieldType:
    return FieldType(
        name=name,
        to_value=lambda v: v,
        from_value=lambda v, what: codec.expect_int(v, lo, hi, what),
        to_json=lambda v: v,
        from_json=_json_int(lo, hi),
        identity=True,
        bounds=(lo, hi),
    )


U8: Final = _int_type("u8", codec.U8_MAX)
U32: Final = _int_type("u32", codec.U32_MAX)
U64: Final = _int_type("u64", codec.U64_MAX)
I64: Final = _int_type("i64", 2**63 - 1, codec.I64_MIN)

BALANCE: Final = FieldType(
    name="balance",
    to_value=codec.encode_u128,
    from_value=codec.expect_u128,
    to_json=str,
    from_json=_json_int(0, codec.U128_MAX),
    bounds=(0, codec.U128_MAX),
)


def _account_from_json(j: Any, what: str) -> bytes:
    if not isinstance(j, str):
        raise ValueError(f"{what}: expected an address")
    if j.startswith("0x"):
        return from_hex(j, length=32, what=what)
    return decode_address(j)


ACCOUNT: Final = FieldType(
    name="account",
    to_value=lambda v: v,
    from_value=lambda v, what: codec.expect_bytes(v, what, length=32),
    to_json=encode_address,
    from_json=_account_from_json,
    identity=True,
)

HASH: Final = FieldType(
    name="hash",
    to_value=lambda v: v,
    from_value=lambda v, what: codec.expect_bytes(v, what, length=32),
    to_json=to_hex,
    from_json=lambda j, what: from_hex(j, length=32, what=what),
    identity=True,
)

BOOL: Final = FieldType(
    name="bool",
    to_value=lambda v: v,
    from_value=codec.expect_bool,
    to_json=lambda v: v,
    from_json=lambda j, what: j if type(j) is bool else codec.expect_bool(j, what),
    identity=True,
)


def bytes_type(max_len: int) -> FieldType:
    """Variable-length bytes of at most `max_len`."""

    def from_json(j: Any, what: str) -> bytes:
        data = from_hex(j, what=what)
        if len(data) > max_len:
            raise ValueError(f"{what}: {len(data)} bytes, over the limit of {max_len}")
        return data

    return FieldType(
        name=f"bytes<{max_len}>",
        to_value=lambda v: v,
        from_value=lambda v, what: codec.expect_bytes(v, what, max_len=max_len),
        to_json=to_hex,
        from_json=from_json,
        identity=True,
    )


def str_type(max_len: int) -> FieldType:
    """A string of at most `max_len` characters."""

    def from_json(j: Any, what: str) -> str:
        if not isinstance(j, str):
            raise ValueError(f"{what}: expected a string")
        return codec.expect_str(j, what, max_len=max_len)

    return FieldType(
        name=f"str<{max_len}>",
        to_value=lambda v: v,
        from_value=lambda v, what: codec.expect_str(v, what, max_len=max_len),
        to_json=lambda v: v,
        from_json=from_json,
        identity=True,
    )


def option_type(inner: FieldType) -> FieldType:
    """Either None or a value of `inner`."""
    return FieldType(
        name=f"option<{inner.name}>",
        to_value=(lambda v: v)
        if inner.identity
        else (lambda v: None if v is None else inner.to_value(v)),
        from_value=lambda v, what: None if v is None else inner.from_value(v, what),
        to_json=lambda v: None if v is None else inner.to_json(v),
        from_json=lambda j, what: None if j is None else inner.from_json(j, what),
        identity=inner.identity,
    )


def _decode_items(inner: FieldType, items: list[Value], what: str) -> list[Any]:
    """Each of `items` decoded as `inner`; a DecodeError names the first bad one as `what[i]`.

    Items are decoded under `what` and, only if one fails, again with their index, since
    formatting a label per item is a large share of decoding a list that is read every block."""
    try:
        return [inner.from_value(x, what) for x in items]
    except DecodeError:
        return [inner.from_value(x, f"{what}[{i}]") for i, x in enumerate(items)]


def list_type(inner: FieldType, max_len: int) -> FieldType:
    """A list of at most `max_len` values of `inner`."""

    def from_value(v: Value, what: str) -> list[Any]:
        return _decode_items(inner, codec.expect_array(v, max_len, what), what)

    def from_json(j: Any, what: str) -> list[Any]:
        if not isinstance(j, list) or len(j) > max_len:
            raise ValueError(f"{what}: expected a list of at most {max_len} items")
        return [inner.from_json(x, f"{what}[{i}]") for i, x in enumerate(j)]

    return FieldType(
        name=f"list<{inner.name}>",
        to_value=list if inner.identity else (lambda v: [inner.to_value(x) for x in v]),
        from_value=from_value,
        to_json=lambda v: [inner.to_json(x) for x in v],
        from_json=from_json,
    )


def tuple_type(inner: FieldType, max_len: int) -> FieldType:
    """Like `list_type`, but the Python value is a tuple (as in frozen records)."""
    listed = list_type(inner, max_len)

    def from_value(v: Value, what: str) -> tuple[Any, ...]:
        return tuple(_decode_items(inner, codec.expect_array(v, max_len, what), what))

    return FieldType(
        name=f"tuple<{inner.name}>",
        to_value=listed.to_value,
        from_value=from_value,
        to_json=listed.to_json,
        from_json=lambda j, what: tuple(listed.from_json(j, what)),
    )


def pair_type(first: FieldType, second: FieldType) -> FieldType:
    """A pair of values, encoded as an array of two."""

    def from_value(v: Value, what: str) -> tuple[Any, Any]:
        a, b = codec.expect_list(v, 2, what)
        try:
            return (first.from_value(a, what), second.from_value(b, what))
        except DecodeError:  # decode again to name the bad item (not worth it on every read)
            return (first.from_value(a, f"{what}[0]"), second.from_value(b, f"{what}[1]"))

    def from_json(j: Any, what: str) -> tuple[Any, Any]:
        if not isinstance(j, list) or len(j) != 2:
            raise ValueError(f"{what}: expected a pair")
        return (first.from_json(j[0], f"{what}[0]"), second.from_json(j[1], f"{what}[1]"))

    return FieldType(
        name=f"pair<{first.name},{second.name}>",
        to_value=list
        if first.identity and second.identity
        else (lambda v: [first.to_value(v[0]), second.to_value(v[1])]),
        from_value=from_value,
        to_json=lambda v: [first.to_json(v[0]), second.to_json(v[1])],
        from_json=from_json,
    )


Fields = tuple[tuple[str, FieldType], ...]


def parse_json_args(fields: Fields, j: Any, what: str) -> tuple[Any, ...]:
    """Python values of declared fields from JSON: an object by field name (every field, no
    other key) or a list in order; ValueError names the first bad or missing field."""
    names = [n for n, _ in fields]
    if isinstance(j, dict):
        unknown = sorted(set(j) - set(names))
        if unknown:
            raise ValueError(f"{what}: unknown argument {unknown[0]!r} (expected {names})")
        missing = [n for n in names if n not in j]
        if missing:
            raise ValueError(f"{what}: missing argument {missing[0]!r} (expected {names})")
        items = [j[n] for n in names]
    elif isinstance(j, list):
        if len(j) != len(names):
            raise ValueError(f"{what}: expected {len(names)} arguments {names}, got {len(j)}")
        items = j
    else:
        raise ValueError(f"{what}: expected the arguments as an object or a list")
    return tuple(t.from_json(x, f"{what}.{n}") for (n, t), x in zip(fields, items, strict=True))


def decode_fields(fields: Fields, values: Value, what: str) -> tuple[Any, ...]:
    """Decode an array of codec values against declared fields, naming the first bad field."""
    items = codec.expect_list(values, len(fields), what)
    return tuple(
        ftype.from_value(item, f"{what}.{fname}")
        for (fname, ftype), item in zip(fields, items, strict=True)
    )


def encode_fields(fields: Fields, args: tuple[Any, ...]) -> list[Value]:
    """Encode Python values of declared fields into an array of codec values."""
    return [ftype.to_value(arg) for (_, ftype), arg in zip(fields, args, strict=True)]


def fields_to_json(fields: Fields, args: tuple[Any, ...]) -> dict[str, Any]:
    """Render declared fields as a JSON object keyed by field name."""
    return {fname: ftype.to_json(arg) for (fname, ftype), arg in zip(fields, args, strict=True)}


__all__ = [
    "ACCOUNT",
    "BALANCE",
    "BOOL",
    "HASH",
    "I64",
    "U8",
    "U32",
    "U64",
    "DecodeError",
    "FieldType",
    "Fields",
    "bytes_type",
    "decode_fields",
    "encode_fields",
    "fields_to_json",
    "list_type",
    "option_type",
    "pair_type",
    "parse_json_args",
    "str_type",
    "tuple_type",
]
