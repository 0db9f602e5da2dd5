"""The bounties' and grants' stored records round-trip through their codecs, and a record that is
not one is refused with the field named."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from runtime.framework import record_codec
from runtime.pallets import bounties, grants
from runtime.primitives import codec

accounts = st.binary(min_size=32, max_size=32)
balances = st.integers(0, 2**128 - 1)
blocks = st.integers(0, 2**64 - 1)
descriptions = st.binary(max_size=bounties.MAX_DESCRIPTION)

bounty_records = st.builds(
    bounties.Bounty,
    proposer=accounts,
    value=balances,
    bond=balances,
    status=st.sampled_from(["proposed", "funded", "curator_proposed", "active", "pending_payout"]),
    description=descriptions,
    proposed_at=blocks,
    fee=balances,
    curator=st.none() | accounts,
    curator_deposit=balances,
    update_due=blocks,
    beneficiary=st.none() | accounts,
    unlock_at=blocks,
)
child_records = st.builds(
    bounties.ChildBounty,
    parent=blocks,
    value=balances,
    status=st.sampled_from(["added", "curator_proposed", "active", "pending_payout"]),
    description=descriptions,
    fee=balances,
    curator=st.none() | accounts,
    curator_deposit=balances,
    beneficiary=st.none() | accounts,
    unlock_at=blocks,
)
grant_records = st.builds(
    grants.Grant,
    builder=accounts,
    awarded=balances,
    max_price=balances,
    awarded_at=blocks,
    expires_at=blocks,
    closed=st.booleans(),
)


@settings(max_examples=60)
@given(record=st.one_of(bounty_records, child_records, grant_records))
def test_records_round_trip(record: bounties.Bounty | bounties.ChildBounty | grants.Grant) -> None:
    vcodec = record_codec(type(record))
    assert vcodec.decode(vcodec.encode(record)) == record


@settings(max_examples=30)
@given(ids=st.lists(blocks, max_size=bounties.MAX_CHILDREN))
def test_a_bounty_list_of_children_round_trips(ids: list[int]) -> None:
    stored = bounties.Children
    raw = codec.encode(list(ids))
    assert stored.decode(raw) == tuple(ids)


def test_too_many_children_or_a_short_record_are_refused() -> None:
    with pytest.raises(codec.DecodeError, match="children"):
        bounties.Children.decode(codec.encode(list(range(bounties.MAX_CHILDREN + 1))))
    with pytest.raises(codec.DecodeError):
        record_codec(grants.Grant).decode(codec.encode([bytes(32), 1]))
