"""The state each bounties and grants test starts from; its invariants are checked after every
test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.runtime.pallets.bounty_helpers import Env


@pytest.fixture
def env() -> Iterator[Env]:
    """A fresh state; its invariants must hold when the test ends."""
    made = Env()
    yield made
    assert made.problems() == []
