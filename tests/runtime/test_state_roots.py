"""The test chains' `StateRoots` (each root committed from the changes since the state before)
gives what the plain definition gives: the root of a trie built from scratch of exactly that
state, for any sequence of states (the next block's, a fork's, one a test wrote into)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from runtime.primitives.trie import root_of
from tests.runtime.conftest import StateRoots

keys = st.binary(max_size=3)
states = st.dictionaries(keys, st.binary(min_size=1, max_size=2), max_size=30)


@settings(max_examples=60, deadline=None)
@given(
    first=states,
    edits=st.lists(
        st.dictionaries(keys, st.none() | st.binary(max_size=2), max_size=6), max_size=6
    ),
    back=st.booleans(),
)
def test_state_roots_are_the_roots_built_from_scratch(
    first: dict[bytes, bytes], edits: list[dict[bytes, bytes | None]], back: bool
) -> None:
    roots = StateRoots()
    state = dict(first)
    seen = [dict(state)]
    assert roots.root_of(state) == root_of(state)
    for edit in edits:
        for key, value in edit.items():
            if value is None:
                state.pop(key, None)
            else:
                state[key] = value
        assert roots.root_of(state) == root_of(state)
        seen.append(dict(state))
    # A state from before (a fork from an earlier block) and the empty state.
    for earlier in (seen[0] if back else seen[-1], {}):
        assert roots.root_of(earlier) == root_of(earlier)
