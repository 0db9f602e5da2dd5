"""The chain's BLAKE2b-256 is hashlib's, whatever the input and however many calls share the
state it copies."""

from __future__ import annotations

from hashlib import blake2b

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from runtime.primitives.hashing import blake2b_256


@settings(max_examples=100, deadline=None)
@given(st.lists(st.binary(max_size=300), min_size=1, max_size=4))
def test_blake2b_256_is_hashlibs(inputs: list[bytes]) -> None:
    for data in inputs:  # several in a row: no call leaves anything in the next one's state
        assert blake2b_256(data) == blake2b(data, digest_size=32).digest()
    assert blake2b_256(memoryview(inputs[0])) == blake2b(inputs[0], digest_size=32).digest()


def test_blake2b_256_refuses_text() -> None:
    with pytest.raises(TypeError):
        blake2b_256("not bytes")  # type: ignore[arg-type]
