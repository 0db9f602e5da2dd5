"""A block's transactions decoded together (`decode_transactions`, `DecodedTransactions.
decode_all`) give what decoding each one gives: the same transactions, the same refusal."""

from __future__ import annotations

import contextlib
from typing import Any

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chain.client.chain import transfer_call
from runtime.primitives.codec import DecodeError
from runtime.primitives.hashing import blake2b_256
from runtime.primitives.keys import dev_keypair
from runtime.transaction import (
    MAX_TX_SIZE,
    DecodedTransactions,
    Mortality,
    SignedTransaction,
    decode_transactions,
    sign_transaction,
)

ALICE = dev_keypair("Alice")
GENESIS = blake2b_256(b"batch genesis")


def _outcome(decode: Any, raws: list[Any]) -> object:
    try:
        return decode(raws)
    except DecodeError as exc:
        return ("refused", str(exc))


def _one_by_one(raws: list[Any]) -> list[SignedTransaction]:
    return [SignedTransaction.decode(raw) for raw in raws]


ints = st.one_of(
    st.integers(0, 3),
    st.integers(0, 300),
    st.sampled_from([-1, 127, 128, 255, 256, 2**16, 2**32 - 1, 2**32, 2**63]),
)
blobs = st.one_of(st.binary(max_size=70), st.sampled_from([bytes(32), bytes(64), bytes(16)]))
names = st.one_of(st.text(max_size=4), st.sampled_from(["balances", "transfer", "x" * 33]))
leaves = st.one_of(ints, blobs, names, st.none(), st.booleans(), st.floats(allow_nan=False))
args = st.lists(leaves, max_size=18)


GOOD_MORTALITIES = [[0, 0], [64, 9], [256, 2**32 - 1], [1, 0]]
BAD_FIELDS: list[list[Any]] = [
    [0, 2, True, 1.0, b"\x01"],
    [bytes(31), bytes(33), "k" * 32, None],
    [bytes(63), bytes(65), 5],
    [-1, 2**32, True, b"\x00", 2**63],
    [bytes(15), bytes(17), 0, "t" * 16],
    [[0, 1], [257, 0], [1], [0, 0, 0], [1, -1], [1, 2**32], [True, 0], 0, [b"", 0]],
    [
        ["p" * 33, "t", []],
        ["p", "t" * 33, []],
        ["p", "t", [0] * 17],
        ["p", "t"],
        [1, "t", []],
        ["p", b"t", []],
        ["p", "t", 0],
        None,
    ],
]


@st.composite
def transaction_values(draw: st.DrawFn) -> Any:
    """Transaction-shaped values: well formed, or with one field just off (its type, size or
    range), or another count or nesting."""
    fields: list[Any] = [
        1,
        draw(st.sampled_from([bytes(32), b"\x01" * 32])),
        draw(st.sampled_from([bytes(64), b"\x02" * 64])),
        draw(st.one_of(st.integers(0, 2**32 - 1), st.sampled_from([0, 127, 128, 2**16]))),
        draw(st.sampled_from([bytes(16), (7).to_bytes(16, "big")])),
        draw(st.sampled_from(GOOD_MORTALITIES)),
        [draw(names), draw(names), draw(args)],
    ]
    shape = draw(st.integers(0, 9))
    if shape < 6:
        at = draw(st.integers(0, 6))
        fields[at] = draw(st.sampled_from(BAD_FIELDS[at]))
    elif shape == 6:
        fields = fields[: draw(st.integers(0, 6))]
    elif shape == 7:
        fields.append(draw(leaves))
    elif shape == 8:
        return draw(leaves)
    return fields


@st.composite
def raw_transactions(draw: st.DrawFn) -> Any:
    kind = draw(st.integers(0, 8))
    if kind == 0:  # a signed transaction as users send them
        mortality = draw(st.sampled_from([Mortality(0, 0), Mortality(64, 9), Mortality(256, 0)]))
        tx = sign_transaction(
            ALICE,
            transfer_call(bytes(32), draw(st.integers(0, 2**70))),
            nonce=draw(st.integers(0, 2**32 - 1)),
            genesis_hash=GENESIS,
            tip=draw(st.integers(0, 2**20)),
            mortality=mortality,
            birth_hash=None if mortality.immortal else GENESIS,
        )
        return tx.raw
    raw = msgpack.packb(draw(transaction_values()), use_bin_type=True)
    if kind == 1 and raw:  # a byte changed: a header widened, a length off, a type changed
        at = draw(st.integers(0, len(raw) - 1))
        raw = raw[:at] + bytes([draw(st.integers(0, 255))]) + raw[at + 1 :]
    elif kind == 2:  # truncated, or with trailing bytes
        raw = raw[: draw(st.integers(0, len(raw)))] + draw(st.binary(max_size=2))
    elif kind == 3:
        return draw(st.sampled_from([bytearray(raw), memoryview(raw), b""]))
    return raw


@settings(max_examples=100, deadline=None)
@given(st.lists(raw_transactions(), max_size=6))
def test_decoded_together_as_one_by_one(raws: list[Any]) -> None:
    assert _outcome(decode_transactions, raws) == _outcome(_one_by_one, raws)


@settings(max_examples=60, deadline=None)
@given(st.lists(raw_transactions(), max_size=6), st.lists(st.booleans(), max_size=6))
def test_decode_all_as_one_by_one(raws: list[Any], cached: list[bool]) -> None:
    """With some of them remembered from the pool: the same transactions, the same refusal."""
    decoded = DecodedTransactions()
    for raw, remember in zip(raws, cached, strict=False):
        if remember and type(raw) is bytes:
            with contextlib.suppress(DecodeError):
                decoded.add(SignedTransaction.decode(raw))
    assert _outcome(decoded.decode_all, raws) == _outcome(_one_by_one, raws)


def test_non_canonical_transfer_is_refused() -> None:
    """A transfer whose nonce is written wider than it needs (the same fields, other bytes, so
    another hash) is refused as decoding it alone refuses it."""
    tx = sign_transaction(ALICE, transfer_call(bytes(32), 5), nonce=3, genesis_hash=GENESIS)
    value = msgpack.unpackb(tx.raw)
    wide = msgpack.packb(value[:3], use_bin_type=True)[1:]  # without the array header
    wide = b"\x97" + wide + b"\xce" + (3).to_bytes(4, "big")
    wide += b"".join(msgpack.packb(v, use_bin_type=True) for v in value[4:])
    assert msgpack.unpackb(wide) == value
    with pytest.raises(DecodeError, match="not a canonical encoding"):
        decode_transactions([tx.raw, wide])
    assert decode_transactions([tx.raw]) == [tx]


def test_oversized_is_refused() -> None:
    raw = msgpack.packb([1, bytes(MAX_TX_SIZE)], use_bin_type=True)
    with pytest.raises(DecodeError, match="over the limit"):
        decode_transactions([raw])


def test_each_field_just_off_as_one_by_one() -> None:
    """Every field of a well-formed transfer replaced, one at a time, by each of its near misses
    (a size, a range, a type): each refused, or accepted, as decoding it alone does."""
    good = [1, bytes(32), bytes(64), 5, bytes(16), [64, 9], ["balances", "transfer", []]]
    raws = [msgpack.packb(good, use_bin_type=True)]
    for at, variants in enumerate(BAD_FIELDS):
        for variant in variants:
            fields = list(good)
            fields[at] = variant
            raws.append(msgpack.packb(fields, use_bin_type=True))
    for raw in raws:
        assert _outcome(decode_transactions, [raw]) == _outcome(_one_by_one, [raw])
