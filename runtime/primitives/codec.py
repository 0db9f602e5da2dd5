"""The canonical msgpack codec used for every byte on the wire and in storage.

Profile (DESIGN 3): a struct is an array of its fields in a fixed order; only ints, bytes, str,
bool, None and arrays appear. Maps and floats are refused. Decoding is strict: limits are enforced
before allocation, trailing bytes and truncation are errors, and the bytes must be exactly what
`encode` would produce for the decoded value (minimal integer widths, minimal headers), so every
value has exactly one encoding.

Typed structs decode in two steps: `decode_raw` (bytes to plain values, canonical check) and a
`from_value` classmethod on the struct that checks field count, types and ranges with the `expect_*`
functions below, naming the offending field in the error.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any, Final, TypeAlias

import msgpack

Value: TypeAlias = Any
"""A plain codec value: int, bytes, str, bool, None, or a list of values."""

MAX_DECODE_SIZE: Final = 16 * 1024 * 1024
MAX_BIN_LEN: Final = 16 * 1024 * 1024
MAX_STR_LEN: Final = 64 * 1024
MAX_ARRAY_LEN: Final = 1_000_000

U8_MAX: Final = 2**8 - 1
U32_MAX: Final = 2**32 - 1
U64_MAX: Final = 2**64 - 1
U128_MAX: Final = 2**128 - 1
I64_MIN: Final = -(2**63)


# One packer, reused: building a Packer per call costs as much as the packing itself. The node
# runs its core on one thread; worker processes have their own module state.
_packer = msgpack.Packer(use_bin_type=True)


class CodecError(ValueError):
    """A value cannot be encoded or some bytes are not a canonical encoding."""


class DecodeError(CodecError):
    """Bytes that are truncated, oversized, non-canonical or of the wrong shape."""


def _check_encodable(value: Value, depth: int = 0) -> None:
    if depth > 64:
        raise CodecError("value nested too deeply")
    if value is None or isinstance(value, (bool, bytes, str)):
        return
    if isinstance(value, int):
        if not I64_MIN <= value <= U64_MAX:
            raise CodecError(f"integer {value} is outside the 64-bit range msgpack can carry")
        return
    if isinstance(value, (list, tuple)) and not isinstance(value, msgpack.ExtType):
        for item in value:
            _check_encodable(item, depth + 1)
        return
    raise CodecError(f"type {type(value).__name__} is not allowed in canonical encoding")


def encode(value: Value) -> bytes:
    """Encode a plain value canonically; refuse floats, maps and other types."""
    _check_encodable(value)
    try:
        return _packer.pack(value)  # type: ignore[no-any-return]
    except (UnicodeEncodeError, ValueError, OverflowError) as exc:
        _packer.reset()
        raise CodecError(f"cannot encode: {exc}") from exc


def encode_trusted(value: Value) -> bytes:
    """Encode a value built by this code base's own structs, skipping the type walk.

    Only for hot paths whose values are constructed from already-checked fields.
    """
    return _packer.pack(value)  # type: ignore[no-any-return]


_UNPACK_LIMITS: dict[int, dict[str, Any]] = {}
"""msgpack's decoding options for each `max_size` asked for (a handful: they are constants)."""


def _unpack_options(max_size: int) -> dict[str, Any]:
    options = _UNPACK_LIMITS.get(max_size)
    if options is None:
        options = {
            "raw": False,
            "use_list": True,
            "strict_map_key": True,
            "max_bin_len": min(MAX_BIN_LEN, max_size),
            "max_str_len": min(MAX_STR_LEN, max_size),
            "max_array_len": min(MAX_ARRAY_LEN, max_size),
            "max_map_len": 0,
            "max_ext_len": 0,
        }
        if len(_UNPACK_LIMITS) < 64:
            _UNPACK_LIMITS[max_size] = options
    return options


def raw_unpacker(max_size: int) -> Callable[[bytes], Value]:
    """msgpack's unpacking with `decode_raw`'s limits for `max_size`, and none of its other
    checks: for a hot path that re-packs what it unpacked to check the canonical form itself (and
    calls `decode_raw` for the error wherever anything differs)."""
    return partial(msgpack.unpackb, **_unpack_options(max_size))


def decode_raw(data: bytes, *, max_size: int = MAX_DECODE_SIZE) -> Value:
    """Decode bytes into plain values and check that the encoding is canonical.

    Types inside are not walked: a typed `from_value` checks them. Use `decode` for untyped data.
    """
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise DecodeError(f"expected bytes, got {type(data).__name__}")
    size = len(data)
    if size > max_size:
        raise DecodeError(f"encoded value is {size} bytes, over the limit of {max_size}")
    if size == 0:
        raise DecodeError("empty input")
    try:
        value = msgpack.unpackb(data, **_unpack_options(max_size))
    except msgpack.ExtraData as exc:
        raise DecodeError("trailing bytes after the encoded value") from exc
    except (ValueError, TypeError, msgpack.UnpackException) as exc:
        raise DecodeError(f"malformed encoding: {exc}") from exc
    except RecursionError as exc:
        raise DecodeError("value nested too deeply") from exc
    try:
        again = _packer.pack(value)
    except (TypeError, ValueError, OverflowError) as exc:
        _packer.reset()
        raise DecodeError(f"not a canonical encoding: {exc}") from exc
    if again != data:
        raise DecodeError("not a canonical encoding (non-minimal header or width)")
    return value


def _check_decoded(value: Value, depth: int = 0) -> None:
    if depth > 64:
        raise DecodeError("value nested too deeply")
    if value is None or isinstance(value, (bool, int, bytes, str)):
        return
    if isinstance(value, list):
        for item in value:
            _check_decoded(item, depth + 1)
        return
    raise DecodeError(f"type {type(value).__name__} is not allowed in canonical encoding")


def decode(data: bytes, *, max_size: int = MAX_DECODE_SIZE) -> Value:
    """Decode canonical bytes into plain values, refusing floats, maps and extension types."""
    value = decode_raw(data, max_size=max_size)
    _check_decoded(value)
    return value


# Field checks used by typed `from_value` decoders. Each names the field it checks.


def expect_list(value: Value, length: int, what: str) -> list[Value]:
    """Check that `value` is an array of exactly `length` fields."""
    if type(value) is not list:
        raise DecodeError(f"{what}: expected an array, got {type(value).__name__}")
    if len(value) != length:
        raise DecodeError(f"{what}: expected {length} fields, got {len(value)}")
    return value


def expect_array(value: Value, max_len: int, what: str) -> list[Value]:
    """Check that `value` is an array of at most `max_len` items."""
    if type(value) is not list:
        raise DecodeError(f"{what}: expected an array, got {type(value).__name__}")
    if len(value) > max_len:
        raise DecodeError(f"{what}: {len(value)} items, over the limit of {max_len}")
    return value


def expect_int(value: Value, lo: int, hi: int, what: str) -> int:
    """Check that `value` is an integer in [lo, hi] (bools are not integers here)."""
    if type(value) is not int:
        raise DecodeError(f"{what}: expected an integer, got {type(value).__name__}")
    if not lo <= value <= hi:
        raise DecodeError(f"{what}: {value} is outside [{lo}, {hi}]")
    return value


def expect_u32(value: Value, what: str) -> int:
    """Check that `value` is an integer in [0, 2^32 - 1]; DecodeError otherwise."""
    return expect_int(value, 0, U32_MAX, what)


def expect_u64(value: Value, what: str) -> int:
    """Check that `value` is an integer in [0, 2^64 - 1]; DecodeError otherwise."""
    return expect_int(value, 0, U64_MAX, what)


def expect_bytes(value: Value, what: str, *, length: int | None = None, max_len: int = 0) -> bytes:
    """Check that `value` is a byte string of exactly `length` bytes, or at most `max_len`."""
    if type(value) is not bytes:
        raise DecodeError(f"{what}: expected bytes, got {type(value).__name__}")
    if length is not None and len(value) != length:
        raise DecodeError(f"{what}: expected {length} bytes, got {len(value)}")
    if length is None and len(value) > max_len:
        raise DecodeError(f"{what}: {len(value)} bytes, over the limit of {max_len}")
    return value


def expect_str(value: Value, what: str, *, max_len: int) -> str:
    """Check that `value` is a string of at most `max_len` characters."""
    if type(value) is not str:
        raise DecodeError(f"{what}: expected a string, got {type(value).__name__}")
    if len(value) > max_len:
        raise DecodeError(f"{what}: {len(value)} characters, over the limit of {max_len}")
    return value


def expect_bool(value: Value, what: str) -> bool:
    """Check that `value` is a bool; DecodeError otherwise."""
    if type(value) is not bool:
        raise DecodeError(f"{what}: expected a bool, got {type(value).__name__}")
    return value


# 128-bit amounts do not fit msgpack's 64-bit integers; they travel as 16-byte big-endian bytes.


def encode_u128(amount: int) -> bytes:
    """Encode an unsigned 128-bit integer as 16 big-endian bytes."""
    if not 0 <= amount <= U128_MAX:
        raise CodecError(f"amount {amount} is outside the unsigned 128-bit range")
    return amount.to_bytes(16, "big")


def expect_u128(value: Value, what: str) -> int:
    """Decode a 16-byte big-endian unsigned 128-bit integer."""
    if type(value) is not bytes or len(value) != 16:
        raise DecodeError(f"{what}: expected a 16-byte unsigned 128-bit integer")
    return int.from_bytes(value, "big")
