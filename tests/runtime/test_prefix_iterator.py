"""The test chains' `prefix_iterator` (keys sorted once, prefixes found by bisection) gives what
the plain definition gives: the state's items whose keys start with the prefix, in key order."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.runtime.conftest import prefix_iterator

keys = st.binary(max_size=4)


@settings(max_examples=100, deadline=None)
@given(
    state=st.dictionaries(keys, st.binary(max_size=2), max_size=40),
    prefixes=st.lists(keys, max_size=8),
    added=st.dictionaries(keys, st.binary(max_size=2), max_size=3),
)
def test_prefix_iterator_is_the_plain_definition(
    state: dict[bytes, bytes], prefixes: list[bytes], added: dict[bytes, bytes]
) -> None:
    def plain(prefix: bytes) -> list[tuple[bytes, bytes]]:
        return sorted((k, v) for k, v in state.items() if k.startswith(prefix))

    iterate = prefix_iterator(state)
    for prefix in [*prefixes, b""]:
        assert list(iterate(prefix)) == plain(prefix)
    # A fresh iterator sees a changed state.
    state.update(added)
    iterate = prefix_iterator(state)
    for prefix in prefixes:
        assert list(iterate(prefix)) == plain(prefix)
