"""The death rows' staged changes, made with set and dict operations in C, equal the key-by-key
definition: the same rows, index, touched rows and pruned nodes after any sequence of blocks."""

from __future__ import annotations

from collections.abc import Iterable

from hypothesis import given, settings
from hypothesis import strategies as st

from chain.storage.chain_store import _DeathRowChanges


class _PlainDeathRowChanges:
    """The definition, a key at a time (as the store did before)."""

    def __init__(self, rows: dict[int, set[bytes]], index: dict[bytes, int]) -> None:
        self._rows, self._index = rows, index
        self._added: dict[int, set[bytes]] = {}
        self._added_index: dict[bytes, int] = {}
        self._reprieved: dict[bytes, int] = {}
        self._pruned: list[int] = []

    def reinsert(self, node_keys: Iterable[bytes]) -> None:
        for node_key in node_keys:
            number = self._added_index.pop(node_key, None)
            if number is not None:
                self._added[number].discard(node_key)
            elif node_key in self._index:
                self._reprieved[node_key] = self._index[node_key]

    def schedule(self, number: int, node_keys: Iterable[bytes]) -> None:
        row = self._added.setdefault(number, set())
        for node_key in node_keys:
            row.add(node_key)
            self._added_index[node_key] = number

    def row(self, number: int) -> set[bytes]:
        old = {k for k in self._rows.get(number, ()) if k not in self._reprieved}
        return old | self._added.get(number, set())

    def prune_upto(self, limit: int) -> list[int]:
        numbers = set(self._rows) | {n for n, keys in self._added.items() if keys}
        self._pruned = sorted(n for n in numbers if n <= limit)
        return self._pruned

    def touched_rows(self) -> dict[int, set[bytes]]:
        numbers = set(self._added) | set(self._reprieved.values()) | set(self._pruned)
        return {n: self.row(n) for n in numbers}

    def apply(self) -> None:
        for node_key, number in self._reprieved.items():
            self._rows[number].discard(node_key)
            del self._index[node_key]
        for number, keys in self._added.items():
            self._rows.setdefault(number, set()).update(keys)
            for node_key in keys:
                self._index[node_key] = number
        for number in self._pruned:
            for node_key in self._rows.pop(number, set()):
                self._index.pop(node_key, None)
        for number in [n for n, keys in self._rows.items() if not keys]:
            del self._rows[number]


# Few distinct keys, so that blocks write again nodes that earlier blocks replaced.
KEYS = st.sampled_from([b"a", b"b", b"c", b"d", b"e"])
STEP = st.tuples(
    st.dictionaries(KEYS, st.just(b"node"), max_size=6),  # the nodes a block inserts
    st.lists(KEYS, max_size=6, unique=True),  # the nodes it replaces
    st.integers(0, 3),  # how many states are kept
    st.booleans(),  # whether the write fails (the staged changes are dropped)
)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.lists(STEP, min_size=1, max_size=3), max_size=6))
def test_staged_changes_equal_the_key_by_key_definition(blocks) -> None:
    fast_rows: dict[int, set[bytes]] = {}
    fast_index: dict[bytes, int] = {}
    plain_rows: dict[int, set[bytes]] = {}
    plain_index: dict[bytes, int] = {}
    for number, route in enumerate(blocks, start=1):
        fast = _DeathRowChanges(fast_rows, fast_index)
        plain = _PlainDeathRowChanges(plain_rows, plain_index)
        keep = route[-1][2]
        failed = route[-1][3]
        for offset, (inserted, deleted, _, _) in enumerate(route):
            fast.reinsert(inserted)
            plain.reinsert(inserted)
            fast.schedule(number * 4 + offset, deleted)
            plain.schedule(number * 4 + offset, deleted)
        limit = number * 4 - keep
        assert fast.prune_upto(limit) == plain.prune_upto(limit)
        pruned = [n for n in plain._pruned]
        assert [fast.row(n) for n in pruned] == [plain.row(n) for n in pruned]
        assert fast.touched_rows() == plain.touched_rows()
        if not failed:
            fast.apply()
            plain.apply()
        assert fast_rows == plain_rows
        assert fast_index == plain_index
