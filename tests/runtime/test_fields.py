"""Field types: each encodes, decodes and renders as JSON consistently, and refuses what does not
fit, naming the field."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from runtime import fields
from runtime.fields import FieldType, decode_fields, encode_fields, fields_to_json
from runtime.primitives import codec
from runtime.primitives.address import encode_address
from runtime.primitives.codec import DecodeError

accounts = st.binary(min_size=32, max_size=32)


def _round_trip(ftype: FieldType, value: Any) -> Any:
    """Encode to bytes and back, and through JSON and back; both must give `value`."""
    raw = codec.encode(ftype.to_value(value))
    decoded = ftype.from_value(codec.decode(raw), "field")
    assert decoded == value
    assert ftype.from_json(ftype.to_json(value), "field") == value
    return decoded


@given(st.integers(0, codec.U8_MAX))
def test_u8_round_trips(value: int) -> None:
    _round_trip(fields.U8, value)


@given(st.integers(0, codec.U32_MAX))
def test_u32_round_trips(value: int) -> None:
    _round_trip(fields.U32, value)


@given(st.integers(codec.I64_MIN, 2**63 - 1))
def test_i64_round_trips(value: int) -> None:
    _round_trip(fields.I64, value)


@given(st.integers(0, codec.U128_MAX))
def test_balance_is_16_big_endian_bytes_and_a_decimal_string_in_json(value: int) -> None:
    assert fields.BALANCE.to_value(value) == value.to_bytes(16, "big")
    assert fields.BALANCE.to_json(value) == str(value)
    _round_trip(fields.BALANCE, value)


@given(accounts)
def test_account_is_an_address_in_json(value: bytes) -> None:
    assert fields.ACCOUNT.to_json(value) == encode_address(value)
    assert fields.ACCOUNT.from_json("0x" + value.hex(), "who") == value
    _round_trip(fields.ACCOUNT, value)


@given(st.lists(st.tuples(st.text(max_size=8), st.integers(0, codec.U128_MAX)), max_size=4))
def test_a_tuple_of_pairs_round_trips_as_an_array_of_arrays(
    value: list[tuple[str, int]],
) -> None:
    ftype = fields.tuple_type(fields.pair_type(fields.str_type(32), fields.BALANCE), 4)
    as_tuple = tuple(value)
    assert ftype.to_value(as_tuple) == [[w, p.to_bytes(16, "big")] for w, p in value]
    _round_trip(ftype, as_tuple)


@given(st.one_of(st.none(), accounts))
def test_an_option_round_trips(value: bytes | None) -> None:
    _round_trip(fields.option_type(fields.ACCOUNT), value)


@given(st.lists(st.integers(0, codec.U64_MAX), max_size=5))
def test_a_list_round_trips(value: list[int]) -> None:
    _round_trip(fields.list_type(fields.U64, 5), value)


@pytest.mark.parametrize(
    ("ftype", "value", "fragment"),
    [
        (fields.U32, -1, r"amount: -1 is outside \[0, 4294967295\]"),
        (fields.U32, codec.U32_MAX + 1, "is outside"),
        (fields.U32, True, "expected an integer, got bool"),
        (fields.U8, "7", "expected an integer, got str"),
        (fields.BALANCE, 5, "expected a 16-byte"),
        (fields.BALANCE, bytes(15), "expected a 16-byte"),
        (fields.ACCOUNT, bytes(31), "amount"),
        (fields.BOOL, 1, "amount"),
        (fields.str_type(3), "abcd", "amount"),
        (fields.bytes_type(2), b"abc", "amount"),
        (fields.list_type(fields.U8, 2), [1, 2, 3], "amount"),
        (fields.list_type(fields.U8, 2), [1, 256], r"amount\[1\]"),
        (fields.tuple_type(fields.U8, 2), [1, -1], r"amount\[1\]"),
        (fields.pair_type(fields.U8, fields.U8), [1], "amount: expected 2 fields"),
        (fields.pair_type(fields.U8, fields.BOOL), [1, 2], r"amount\[1\]"),
    ],
)
def test_a_bad_value_is_refused_naming_the_field(
    ftype: FieldType, value: Any, fragment: str
) -> None:
    with pytest.raises(DecodeError, match=fragment):
        ftype.from_value(value, "amount")


@pytest.mark.parametrize(
    ("ftype", "value"),
    [
        (fields.U32, -1),
        (fields.U32, 1.5),
        (fields.U8, 256),
        (fields.BALANCE, str(2**128)),
        (fields.ACCOUNT, 5),
        (fields.str_type(2), "abc"),
        (fields.bytes_type(1), "0x0102"),
        (fields.list_type(fields.U8, 1), [1, 2]),
        (fields.pair_type(fields.U8, fields.U8), [1]),
    ],
)
def test_bad_json_is_refused_naming_the_field(ftype: FieldType, value: Any) -> None:
    with pytest.raises(ValueError, match=r"^amount"):
        ftype.from_json(value, "amount")


def test_integer_types_know_their_bounds() -> None:
    assert fields.U8.bounds == (0, codec.U8_MAX)
    assert fields.U64.bounds == (0, codec.U64_MAX)
    assert fields.BALANCE.bounds == (0, codec.U128_MAX)
    assert fields.I64.bounds == (codec.I64_MIN, 2**63 - 1)
    assert fields.ACCOUNT.bounds is None


def test_identity_types_encode_as_they_are() -> None:
    for ftype, value in [
        (fields.U32, 7),
        (fields.ACCOUNT, bytes(32)),
        (fields.str_type(4), "ab"),
        (fields.option_type(fields.U8), None),
    ]:
        assert ftype.identity
        assert ftype.to_value(value) is value
    assert not fields.BALANCE.identity
    assert not fields.option_type(fields.BALANCE).identity


_FIELDS = (("to", fields.ACCOUNT), ("amount", fields.BALANCE), ("memo", fields.str_type(8)))


def test_declared_fields_encode_decode_and_render_together() -> None:
    args = (bytes(range(32)), 5, "hi")
    values = encode_fields(_FIELDS, args)
    assert values == [bytes(range(32)), (5).to_bytes(16, "big"), "hi"]
    assert decode_fields(_FIELDS, values, "transfer") == args
    assert fields_to_json(_FIELDS, args) == {
        "to": encode_address(bytes(range(32))),
        "amount": "5",
        "memo": "hi",
    }


def test_declared_fields_refuse_a_wrong_count_or_name_the_bad_field() -> None:
    with pytest.raises(DecodeError, match="transfer: expected 3 fields, got 2"):
        decode_fields(_FIELDS, [bytes(32), bytes(16)], "transfer")
    with pytest.raises(DecodeError, match=r"transfer\.memo"):
        decode_fields(_FIELDS, [bytes(32), bytes(16), "far too long"], "transfer")
