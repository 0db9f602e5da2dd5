"""A bounded set of expiring hashes: adding many at once is adding them one by one."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from chain.core.expiring_hashes import ExpiringHashes

hashes = st.lists(st.sampled_from([bytes([i]) * 32 for i in range(12)]), max_size=20)
steps = st.lists(st.tuples(hashes, st.integers(0, 50)), max_size=8)


@settings(max_examples=100, deadline=None)
@given(steps, st.integers(-5, 30), st.integers(0, 15))
def test_adding_all_at_once_is_adding_one_by_one(
    batches: list[tuple[list[bytes], int]], ttl_ms: int, capacity: int
) -> None:
    together, one_by_one = ExpiringHashes(ttl_ms, capacity), ExpiringHashes(ttl_ms, capacity)
    now = 0
    for batch, step in batches:
        now += step
        together.add_all(batch, now)
        for tx_hash in batch:
            one_by_one.add(tx_hash, now)
        assert list(together._until.items()) == list(one_by_one._until.items())
