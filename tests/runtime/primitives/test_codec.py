"""The canonical msgpack codec: round trips, one encoding per value, strictness and limits.

The non-canonical encodings come from a small msgpack encoder written here from the msgpack spec,
independent of the library the codec uses: for every value it may pick a wider header than needed,
and `decode` must accept its output exactly when it is the canonical encoding.
"""

from __future__ import annotations

import struct
import time
from typing import Any

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from runtime.primitives import codec
from runtime.primitives.codec import (
    I64_MIN,
    MAX_ARRAY_LEN,
    MAX_STR_LEN,
    U64_MAX,
    U128_MAX,
    CodecError,
    DecodeError,
    decode,
    decode_raw,
    encode,
)

BOUNDARY_INTS = [
    0,
    1,
    127,
    128,
    255,
    256,
    65_535,
    65_536,
    2**31 - 1,
    2**31,
    2**32 - 1,
    2**32,
    2**63 - 1,
    2**63,
    U64_MAX,
    -1,
    -32,
    -33,
    -128,
    -129,
    -32_768,
    -32_769,
    -(2**31),
    -(2**31) - 1,
    I64_MIN,
]

ints = st.integers(I64_MIN, U64_MAX) | st.sampled_from(BOUNDARY_INTS)
scalars = (
    st.none()
    | st.booleans()
    | ints
    | st.binary(max_size=40)
    | st.text(max_size=40)
    # Lengths across the fixstr / str8 / bin8 / bin16 boundaries.
    | st.sampled_from([31, 32, 255, 256]).map(lambda n: "s" * n)
    | st.sampled_from([255, 256]).map(lambda n: b"b" * n)
)
values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=5) | st.lists(children, min_size=15, max_size=17)
    ),  # across the fixarray / array16 boundary
    max_leaves=30,
)


def same(a: Any, b: Any) -> bool:
    """Equality that tells True from 1 and a list from a tuple."""
    if type(a) is not type(b):
        return False
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


# An independent msgpack encoder that may choose any header wide enough for the value.


def _int_headers(v: int) -> list[bytes]:
    """Every msgpack encoding of the integer `v`, narrowest first."""
    out: list[bytes] = []
    if 0 <= v <= 0x7F:
        out.append(bytes([v]))
    if -32 <= v < 0:
        out.append(struct.pack(">b", v))
    if v >= 0:
        for tag, fmt, hi in ((0xCC, ">B", 2**8), (0xCD, ">H", 2**16), (0xCE, ">I", 2**32)):
            if v < hi:
                out.append(bytes([tag]) + struct.pack(fmt, v))
        out.append(b"\xcf" + struct.pack(">Q", v))
    for tag, fmt, bits in ((0xD0, ">b", 8), (0xD1, ">h", 16), (0xD2, ">i", 32), (0xD3, ">q", 64)):
        if -(2 ** (bits - 1)) <= v < 2 ** (bits - 1):
            out.append(bytes([tag]) + struct.pack(fmt, v))
    return out


def _len_headers(n: int, fix: tuple[int, int] | None, tags: tuple[int, int, int]) -> list[bytes]:
    """Headers for a str, bin or array of length `n`: fix form (base, max), then 8/16/32 bits."""
    out: list[bytes] = []
    if fix is not None and n <= fix[1]:
        out.append(bytes([fix[0] | n]))
    t8, t16, t32 = tags
    if t8 and n < 2**8:
        out.append(bytes([t8, n]))
    if n < 2**16:
        out.append(bytes([t16]) + struct.pack(">H", n))
    out.append(bytes([t32]) + struct.pack(">I", n))
    return out


def _headers(value: Any) -> tuple[list[bytes], bytes]:
    """The possible headers of a value (narrowest first) and the payload after them."""
    if value is None:
        return [b"\xc0"], b""
    if value is True:
        return [b"\xc3"], b""
    if value is False:
        return [b"\xc2"], b""
    if isinstance(value, int):
        return _int_headers(value), b""
    if isinstance(value, bytes):
        return _len_headers(len(value), None, (0xC4, 0xC5, 0xC6)), value
    if isinstance(value, str):
        data = value.encode()
        return _len_headers(len(data), (0xA0, 31), (0xD9, 0xDA, 0xDB)), data
    raise TypeError(type(value))


def alt_encode(value: Any, draw: Any) -> bytes:
    """Encode `value`, at each node choosing the minimal header or (sometimes) a wider one."""
    if isinstance(value, list):
        headers = _len_headers(len(value), (0x90, 15), (0, 0xDC, 0xDD))
        payload = b"".join(alt_encode(item, draw) for item in value)
    else:
        headers, payload = _headers(value)
    header = headers[0]
    if len(headers) > 1 and draw(st.booleans()):
        header = draw(st.sampled_from(headers[1:]))
    return header + payload


def test_alt_encoder_minimal_choice_is_the_canonical_encoding() -> None:
    # The test's own encoder agrees with the codec when it never widens, so the
    # accept-iff-canonical property below compares like with like.
    for value in [*BOUNDARY_INTS, "", "s" * 31, "s" * 32, b"", b"b" * 256, [], [None] * 16, True]:
        assert alt_encode(value, lambda _s: False) == encode(value)


# Round trips


@settings(max_examples=200, deadline=None)
@given(values)
def test_decode_inverts_encode(value: Any) -> None:
    data = encode(value)
    decoded = decode(data)
    assert same(decoded, value)
    assert encode(decoded) == data


@settings(max_examples=200, deadline=None)
@given(values, st.data())
def test_decode_accepts_exactly_the_canonical_encoding(value: Any, data: st.DataObject) -> None:
    candidate = alt_encode(value, data.draw)
    canonical = encode(value)
    if candidate == canonical:
        assert same(decode(candidate), value)
    else:
        with pytest.raises(DecodeError):
            decode(candidate)


@pytest.mark.parametrize(
    ("wide", "value"),
    [
        (b"\xcd\x00\x05", 5),  # uint16 for 5
        (b"\xcc\x05", 5),  # uint8 for a fixint
        (b"\xd0\x05", 5),  # int8 for a positive value
        (b"\xd3" + struct.pack(">q", -3), -3),  # int64 for a small negative
        (b"\xd9\x03abc", "abc"),  # str8 for a 3-character string
        (b"\xda\x00\x03abc", "abc"),  # str16
        (b"\xdc\x00\x02\x01\x02", [1, 2]),  # array16 for 2 elements
        (b"\xc5\x00\x02hi", b"hi"),  # bin16 for short bytes
        (b"\xc6\x00\x00\x00\x02hi", b"hi"),  # bin32
    ],
)
def test_known_wide_headers_are_refused(wide: bytes, value: Any) -> None:
    assert same(decode(encode(value)), value)
    with pytest.raises(DecodeError, match="canonical"):
        decode(wide)


# Truncation and trailing bytes


@settings(max_examples=80, deadline=None)
@given(values)
def test_every_truncation_is_refused(value: Any) -> None:
    data = encode(value)
    for cut in range(len(data)):
        with pytest.raises(DecodeError):
            decode(data[:cut])


@settings(max_examples=80, deadline=None)
@given(values, st.binary(min_size=1, max_size=8))
def test_trailing_bytes_are_refused(value: Any, extra: bytes) -> None:
    with pytest.raises(DecodeError, match="trailing"):
        decode(encode(value) + extra)


# What decode refuses


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(b"\xca" + struct.pack(">f", 1.5), id="float32"),
        pytest.param(b"\xcb" + struct.pack(">d", 1.5), id="float64"),
        pytest.param(b"\xcb" + bytes(8), id="float64-zero"),
        pytest.param(msgpack.packb([1, 2.5]), id="float-in-array"),
        pytest.param(b"\x80", id="empty-map"),
        pytest.param(msgpack.packb({"a": 1}), id="map"),
        pytest.param(msgpack.packb({1: [2]}), id="int-keyed-map"),
        pytest.param(msgpack.packb([[{}]]), id="empty-map-nested"),
        pytest.param(msgpack.packb(msgpack.ExtType(5, b"abcd")), id="fixext4"),
        pytest.param(b"\xc7\x00\x05", id="empty-ext8"),
        pytest.param(msgpack.packb([msgpack.ExtType(1, b"")]), id="ext-in-array"),
        pytest.param(b"\xd6\xff" + bytes(4), id="timestamp-ext"),
        pytest.param(b"\xc1", id="never-used-byte"),
        pytest.param(b"\xa2\xff\xfe", id="invalid-utf8"),
        pytest.param(b"", id="empty-input"),
    ],
)
def test_decode_refuses_types_outside_the_profile(data: bytes) -> None:
    with pytest.raises(DecodeError):
        decode(data)


def test_decode_refuses_non_bytes_input() -> None:
    with pytest.raises(DecodeError, match="expected bytes"):
        decode("\x01")  # type: ignore[arg-type]


def test_decode_refuses_values_nested_too_deeply() -> None:
    assert decode(encode(nest(64))) == nest(64)
    with pytest.raises(DecodeError, match="deep"):
        decode(b"\x91" * 100 + b"\xc0")


def nest(depth: int) -> Any:
    value: Any = None
    for _ in range(depth):
        value = [value]
    return value


# Size limits


def test_max_size_bounds_the_whole_input() -> None:
    data = encode([b"x" * 100, "y" * 10])
    assert decode(data, max_size=len(data)) == [b"x" * 100, "y" * 10]
    with pytest.raises(DecodeError, match="over the limit"):
        decode(data, max_size=len(data) - 1)
    with pytest.raises(DecodeError, match="over the limit"):
        decode_raw(data, max_size=len(data) - 1)


@pytest.mark.parametrize(
    "header",
    [
        pytest.param(b"\xc6\x80\x00\x00\x00", id="bin32-2^31"),
        pytest.param(b"\xc6\xff\xff\xff\xff", id="bin32-max"),
        pytest.param(b"\xdb\x80\x00\x00\x00", id="str32-2^31"),
        pytest.param(b"\xdd\x80\x00\x00\x00", id="array32-2^31"),
        pytest.param(b"\xdd\xff\xff\xff\xff", id="array32-max"),
        pytest.param(b"\xc5\xff\xff", id="bin16-max"),
        pytest.param(b"\xdc\xff\xff", id="array16-max"),
    ],
)
def test_over_long_headers_fail_fast(header: bytes) -> None:
    data = header + bytes(10 - len(header))
    start = time.perf_counter()
    for _ in range(100):
        with pytest.raises(DecodeError):
            decode(data)
    # A hundred refusals of a 10-byte input: far below what allocating 2 GiB once would take.
    assert time.perf_counter() - start < 0.5


def test_strings_and_arrays_over_the_limits_are_refused() -> None:
    with pytest.raises(DecodeError):
        decode(encode("a" * (MAX_STR_LEN + 1)))
    assert decode(encode("a" * MAX_STR_LEN)) == "a" * MAX_STR_LEN
    with pytest.raises(DecodeError):
        decode(encode([0] * (MAX_ARRAY_LEN + 1)))


# What encode refuses


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(1.5, id="float"),
        pytest.param(0.0, id="float-zero"),
        pytest.param({}, id="empty-dict"),
        pytest.param({"a": 1}, id="dict"),
        pytest.param([1, [2, {"a": 1}]], id="nested-dict"),
        pytest.param([1, 2.0], id="nested-float"),
        pytest.param(U64_MAX + 1, id="2^64"),
        pytest.param(I64_MIN - 1, id="-2^63-1"),
        pytest.param(2**128, id="2^128"),
        pytest.param({1, 2}, id="set"),
        pytest.param(bytearray(b"ab"), id="bytearray"),
        pytest.param(nest(66), id="too-deep"),
    ],
)
def test_encode_refuses_values_outside_the_profile(value: Any) -> None:
    with pytest.raises(CodecError):
        encode(value)


def test_encode_accepts_the_64_bit_range_ends() -> None:
    assert decode(encode(U64_MAX)) == U64_MAX
    assert decode(encode(I64_MIN)) == I64_MIN


@pytest.mark.parametrize("value", [msgpack.ExtType(1, b""), [0, msgpack.ExtType(7, b"abcd")]])
def test_encode_refuses_ext_types(value: Any) -> None:
    with pytest.raises(CodecError):
        encode(value)


def test_encode_refuses_a_string_that_is_not_unicode_text_with_codec_error() -> None:
    with pytest.raises(CodecError):
        encode(["ok", "\ud800"])


# Field checks name the field


@pytest.mark.parametrize(
    ("check", "value"),
    [
        (lambda v: codec.expect_list(v, 2, "tx.body"), [1]),
        (lambda v: codec.expect_list(v, 2, "tx.body"), (1, 2)),
        (lambda v: codec.expect_list(v, 2, "tx.body"), b"ab"),
        (lambda v: codec.expect_array(v, 2, "tx.body"), [1, 2, 3]),
        (lambda v: codec.expect_array(v, 2, "tx.body"), "ab"),
        (lambda v: codec.expect_int(v, 0, 10, "tx.body"), 11),
        (lambda v: codec.expect_int(v, 0, 10, "tx.body"), -1),
        (lambda v: codec.expect_int(v, 0, 10, "tx.body"), True),
        (lambda v: codec.expect_int(v, 0, 10, "tx.body"), b"\x01"),
        (lambda v: codec.expect_u32(v, "tx.body"), 2**32),
        (lambda v: codec.expect_u64(v, "tx.body"), -1),
        (lambda v: codec.expect_bytes(v, "tx.body", length=4), b"abc"),
        (lambda v: codec.expect_bytes(v, "tx.body", max_len=2), b"abc"),
        (lambda v: codec.expect_bytes(v, "tx.body", length=3), "abc"),
        (lambda v: codec.expect_str(v, "tx.body", max_len=2), "abc"),
        (lambda v: codec.expect_str(v, "tx.body", max_len=5), b"abc"),
        (lambda v: codec.expect_bool(v, "tx.body"), 1),
        (lambda v: codec.expect_bool(v, "tx.body"), None),
        (lambda v: codec.expect_u128(v, "tx.body"), bytes(15)),
        (lambda v: codec.expect_u128(v, "tx.body"), 5),
    ],
)
def test_field_checks_name_the_field(check: Any, value: Any) -> None:
    with pytest.raises(DecodeError, match=r"tx\.body"):
        check(value)


def test_field_checks_pass_good_values_through() -> None:
    assert codec.expect_list([1, 2], 2, "f") == [1, 2]
    assert codec.expect_array([], 2, "f") == []
    assert codec.expect_int(10, 0, 10, "f") == 10
    assert codec.expect_u32(2**32 - 1, "f") == 2**32 - 1
    assert codec.expect_u64(U64_MAX, "f") == U64_MAX
    assert codec.expect_bytes(b"abc", "f", length=3) == b"abc"
    assert codec.expect_bytes(b"ab", "f", max_len=2) == b"ab"
    assert codec.expect_str("ab", "f", max_len=2) == "ab"
    assert codec.expect_bool(False, "f") is False


# 128-bit amounts


@given(st.integers(0, U128_MAX) | st.sampled_from([0, 1, 2**64, U128_MAX]))
def test_u128_round_trips_through_the_codec(amount: int) -> None:
    raw = codec.encode_u128(amount)
    assert len(raw) == 16
    assert raw == amount.to_bytes(16, "big")
    assert codec.expect_u128(decode(encode(raw)), "amount") == amount


@pytest.mark.parametrize("amount", [-1, U128_MAX + 1, 2**200])
def test_encode_u128_refuses_out_of_range(amount: int) -> None:
    with pytest.raises(CodecError):
        codec.encode_u128(amount)


@given(st.binary().filter(lambda b: len(b) != 16))
def test_expect_u128_refuses_wrong_lengths(raw: bytes) -> None:
    with pytest.raises(DecodeError, match="amount"):
        codec.expect_u128(raw, "amount")


def _plain_decode_raw(data: bytes, max_size: int) -> Any:
    """decode_raw's definition: msgpack with the size's limits, then the canonical check."""
    if len(data) > max_size or not data:
        raise DecodeError("size")
    value = msgpack.unpackb(
        data,
        raw=False,
        use_list=True,
        strict_map_key=True,
        max_bin_len=min(codec.MAX_BIN_LEN, max_size),
        max_str_len=min(codec.MAX_STR_LEN, max_size),
        max_array_len=min(codec.MAX_ARRAY_LEN, max_size),
        max_map_len=0,
        max_ext_len=0,
    )
    if msgpack.packb(value, use_bin_type=True) != data:
        raise DecodeError("not canonical")
    return value


@settings(max_examples=60)
@given(values, st.integers(1, 300), st.binary(max_size=3))
def test_decode_raw_with_remembered_limits_is_the_plain_decoding(
    value: Any, max_size: int, tail: bytes
) -> None:
    """decode_raw keeps msgpack's options per size limit; for any size and any bytes (canonical,
    truncated or with trailing bytes) it decodes or refuses exactly as the plain definition."""
    data = codec.encode(value)
    for candidate in (data, data + tail, data[:-1]):
        try:
            expected = _plain_decode_raw(candidate, max_size)
        except (DecodeError, ValueError, msgpack.UnpackException):
            with pytest.raises(DecodeError):
                codec.decode_raw(candidate, max_size=max_size)
        else:
            assert codec.decode_raw(candidate, max_size=max_size) == expected
