"""A block's events as stored: `encode_events` (the conversions inlined) gives the bytes, or the
refusal, of its definition `encode_events_plain`, for every event the runtime declares."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from runtime.executive import EVENTS
from runtime.framework import EventRecord
from runtime.pallets.system import encode_events, encode_events_plain

DEFINITIONS = sorted(EVENTS.values(), key=lambda e: (e.pallet, e.name))

field_values = st.one_of(
    st.integers(0, 2**64 - 1),
    st.sampled_from([0, 2**128 - 1, 2**128, -1, True]),
    st.binary(max_size=40),
    st.sampled_from([bytes(32), b"\x07" * 32]),
    st.text(max_size=8),
    st.none(),
    st.tuples(st.binary(max_size=4), st.integers(0, 9)),
)


@st.composite
def records(draw: st.DrawFn) -> EventRecord:
    event = draw(st.sampled_from(DEFINITIONS))
    count = len(event.fields)
    if draw(st.integers(0, 9)) == 0:  # the wrong number of fields
        count = draw(st.integers(0, 5))
    args = tuple(draw(field_values) for _ in range(count))
    return EventRecord(draw(st.one_of(st.none(), st.integers(0, 70_000))), event, args)


def _outcome(encode: Any, events: tuple[EventRecord, ...]) -> object:
    try:
        return encode(events)
    except Exception as exc:  # the same refusal, of the same type, saying the same
        return (type(exc), str(exc))


@settings(max_examples=100, deadline=None)
@given(st.lists(records(), max_size=8).map(tuple))
def test_events_encode_as_defined(events: tuple[EventRecord, ...]) -> None:
    assert _outcome(encode_events, events) == _outcome(encode_events_plain, events)


def test_a_block_of_transfers_events() -> None:
    """The three events of a plain transfer, by the thousand, byte for byte."""
    transfer, fee_paid, success = (
        EVENTS["balances", "Transfer"],
        EVENTS["transaction_payment", "TransactionFeePaid"],
        EVENTS["system", "ExtrinsicSuccess"],
    )
    events = []
    for i in range(2_000):
        who = i.to_bytes(32, "big")
        events += [
            EventRecord(i, fee_paid, (who, 10**9 + i, i % 3)),
            EventRecord(i, transfer, (who, bytes(32), 2**100 + i)),
            EventRecord(i, success, (123_456 + i,)),
        ]
    assert encode_events(tuple(events)) == encode_events_plain(tuple(events))
