"""The pallet framework: storage items and their keys, events, errors, origins, calls (their
argument decoding and weights) and the common pallet contract."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from runtime import fields
from runtime.framework import (
    HASH_CODEC,
    ROOT,
    U64_CODEC,
    U128_CODEC,
    BadOrigin,
    BlockContext,
    DispatchError,
    EventDef,
    EventRecord,
    Origin,
    Pallet,
    StorageMap,
    StorageValue,
    call,
    ensure_root,
    ensure_signed,
    storage_prefix,
)
from runtime.primitives.address import encode_address
from runtime.primitives.codec import DecodeError
from runtime.primitives.hashing import ZERO_HASH, blake2b_128
from runtime.state import StateOverlay

ALICE = bytes(range(32))


def _state() -> StateOverlay:
    return StateOverlay(lambda _key: None)


def _ctx() -> BlockContext:
    return BlockContext(
        state=_state(),
        number=1,
        parent_hash=ZERO_HASH,
        timestamp=0,
        author=bytes(32),
        genesis_hash=ZERO_HASH,
    )


# Storage


def test_a_storage_prefix_is_the_hashes_of_pallet_and_item() -> None:
    assert storage_prefix("balances", "TotalIssuance") == blake2b_128(b"balances") + blake2b_128(
        b"TotalIssuance"
    )
    assert storage_prefix("a", "b") != storage_prefix("b", "a")


def test_a_storage_value_has_its_default_until_put_and_after_kill() -> None:
    item = StorageValue[int]("test", "Counter", U64_CODEC, 7)
    state = _state()
    assert item.get(state) == 7
    item.put(state, 9)
    assert item.get(state) == 9
    assert state.changes()[item.key] == U64_CODEC.encode(9)
    item.kill(state)
    assert item.get(state) == 7
    assert state.changes()[item.key] is None


def test_a_storage_value_reads_what_the_backend_holds() -> None:
    item = StorageValue[int]("test", "Total", U128_CODEC, 0)
    raw = U128_CODEC.encode(10**30)
    state = StateOverlay(lambda key: raw if key == item.key else None)
    assert item.get(state) == 10**30
    assert item.decode(raw) == 10**30


def test_a_map_entry_key_is_prefix_hash_of_key_and_key() -> None:
    item = StorageMap[bytes, bytes]("test", "Roots", lambda k: k, HASH_CODEC)
    key = item.key(ALICE)
    assert key == item.prefix + blake2b_128(ALICE) + ALICE
    assert item.key_suffix(key) == ALICE
    assert item.key(ALICE) is key  # remembered


@given(st.dictionaries(st.integers(0, 2**64 - 1), st.integers(0, 2**64 - 1), max_size=8))
def test_a_storage_map_keeps_entries_apart(entries: dict[int, int]) -> None:
    item = StorageMap[int, int]("test", "Numbers", lambda n: n.to_bytes(8, "big"), U64_CODEC)
    state = _state()
    for k, v in entries.items():
        item.insert(state, k, v)
    for k, v in entries.items():
        assert item.get(state, k) == v
    for k in entries:
        item.remove(state, k)
        assert item.get(state, k) is None


def test_a_storage_item_refuses_bytes_of_another_shape() -> None:
    with pytest.raises(DecodeError):
        U64_CODEC.decode(HASH_CODEC.encode(bytes(32)))
    with pytest.raises(DecodeError, match="hash value"):
        HASH_CODEC.decode(U64_CODEC.encode(1))


# Events

_DEPOSITED = EventDef("test", "Deposited", (("who", fields.ACCOUNT), ("amount", fields.BALANCE)))


def test_an_event_encodes_its_fields_by_type() -> None:
    assert _DEPOSITED.encode_args((ALICE, 5)) == [ALICE, (5).to_bytes(16, "big")]
    assert _DEPOSITED.to_value((ALICE, 5)) == [
        "test",
        "Deposited",
        [ALICE, (5).to_bytes(16, "big")],
    ]
    assert _DEPOSITED.to_json((ALICE, 5)) == {
        "pallet": "test",
        "event": "Deposited",
        "data": {"who": encode_address(ALICE), "amount": "5"},
    }


_FIELD_ARGS: list[tuple[fields.FieldType, st.SearchStrategy[Any]]] = [
    (fields.ACCOUNT, st.binary(min_size=32, max_size=32)),
    (fields.BALANCE, st.integers(0, 2**128 - 1)),
    (fields.U64, st.integers(0, 2**64 - 1)),
]


@st.composite
def _event_and_args(draw: st.DrawFn) -> tuple[EventDef, tuple[Any, ...]]:
    chosen = draw(st.lists(st.sampled_from(_FIELD_ARGS), max_size=5))
    event = EventDef("test", "E", tuple((f"f{i}", t) for i, (t, _) in enumerate(chosen)))
    return event, tuple(draw(s) for _, s in chosen)


@settings(max_examples=60)
@given(_event_and_args())
def test_an_event_encodes_as_each_field_types_to_value(
    drawn: tuple[EventDef, tuple[Any, ...]],
) -> None:
    """The encoder, which converts only the fields that need it, equals the plain definition:
    every field through its type's `to_value`; a wrong number of fields is refused."""
    event, args = drawn
    assert event.encode_args(args) == [
        t.to_value(a) for (_, t), a in zip(event.fields, args, strict=True)
    ]
    with pytest.raises(ValueError):
        event.encode_args((*args, 1))
    if args:
        with pytest.raises(ValueError):
            event.encode_args(args[:-1])


def test_every_runtime_event_encodes_its_fields_by_type() -> None:
    from runtime.executive import EVENTS

    for event in EVENTS.values():
        converted = {i for i, _ in event._converted}
        assert converted == {i for i, (_, t) in enumerate(event.fields) if not t.identity}


def test_an_event_record_carries_its_phase() -> None:
    record = EventRecord(2, _DEPOSITED, (ALICE, 1))
    assert record.to_value()[0] == 2
    assert record.to_json()["phase"] == 2
    assert EventRecord(None, _DEPOSITED, (ALICE, 1)).to_json()["phase"] is None


def test_deposit_event_records_the_current_phase() -> None:
    ctx = _ctx()
    ctx.deposit_event(_DEPOSITED, ALICE, 1)
    ctx.phase = 3
    ctx.deposit_event(_DEPOSITED, ALICE, 2)
    assert [(e.phase, e.args) for e in ctx.events] == [(None, (ALICE, 1)), (3, (ALICE, 2))]


# Errors and origins


class _Broke(DispatchError):
    """The account is broke.

    More words that users do not see first.
    """

    pallet = "test"


def test_a_dispatch_error_is_named_and_described_by_its_class() -> None:
    assert _Broke.error_name() == "_Broke"
    assert _Broke.describe() == "The account is broke."
    assert BadOrigin.pallet == "system"


def test_origins() -> None:
    assert ensure_signed(Origin(signer=ALICE)) == ALICE
    with pytest.raises(BadOrigin):
        ensure_signed(ROOT)
    ensure_root(ROOT)
    with pytest.raises(BadOrigin):
        ensure_root(Origin(signer=ALICE))


# Calls


class _Toy(Pallet):
    NAME = "toy"

    def __init__(self) -> None:
        self.seen: list[tuple[Any, ...]] = []

    @call(args=(("to", fields.ACCOUNT), ("amount", fields.BALANCE)), weight=1_000)
    def give(self, ctx: BlockContext, origin: Origin, to: bytes, amount: int) -> None:
        """Give an amount.

        Details.
        """
        self.seen.append((ensure_signed(origin), to, amount))

    @call(args=(("items", fields.list_type(fields.U8, 4)),), weight=lambda args: 10 * len(args[0]))
    def count(self, ctx: BlockContext, origin: Origin, items: list[int]) -> None:
        self.seen.append(tuple(items))

    def not_a_call(self) -> None:
        """Methods without @call are not dispatchable."""


def test_a_pallet_lists_its_marked_methods_as_calls() -> None:
    calls = _Toy().calls()
    assert set(calls) == {"give", "count"}
    give = calls["give"]
    assert (give.pallet, give.name, give.doc) == ("toy", "give", "Give an amount.")
    assert calls["count"].doc == ""


def test_a_call_weight_is_fixed_or_computed_from_its_arguments() -> None:
    calls = _Toy().calls()
    assert calls["give"].weight((ALICE, 1)) == 1_000
    assert calls["count"].weight(([1, 2, 3],)) == 30


def test_a_call_decodes_its_arguments_and_dispatches_to_the_method() -> None:
    toy = _Toy()
    give = toy.calls()["give"]
    args = give.decode_args(give.encode_args((ALICE, 5)))
    assert args == (ALICE, 5)
    give.function(_ctx(), Origin(signer=ALICE), *args)
    assert toy.seen == [(ALICE, ALICE, 5)]


@pytest.mark.parametrize(
    ("values", "fragment"),
    [
        ([ALICE], "toy.give: expected 2 fields, got 1"),
        ("not a list", "toy.give: expected an array"),
        ([ALICE, 5], r"toy\.give\.amount"),
        ([bytes(31), bytes(16)], r"toy\.give\.to"),
    ],
)
def test_a_call_refuses_bad_arguments_naming_the_argument(values: Any, fragment: str) -> None:
    with pytest.raises(DecodeError, match=fragment):
        _Toy().calls()["give"].decode_args(values)


def test_a_call_refuses_a_list_argument_over_its_limit() -> None:
    with pytest.raises(DecodeError, match=r"toy\.count\.items"):
        _Toy().calls()["count"].decode_args([[1, 2, 3, 4, 5]])


# The common pallet contract


def test_a_pallet_without_hooks_params_or_genesis_does_nothing() -> None:
    toy, ctx = _Toy(), _ctx()
    assert toy.PARAMS is None
    assert toy.on_initialize(ctx) == 0
    toy.on_finalize(ctx)
    toy.build_genesis(ctx, object())
    assert ctx.state.changes() == {}
    assert toy.check_invariants(lambda _k: None, lambda _p: iter(())) == []
