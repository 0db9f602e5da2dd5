"""The staking chain the tests of each staking module start from; its invariants are checked after
every test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.runtime.pallets.staking_helpers import StakingChain, staking_chain


@pytest.fixture
def chain() -> Iterator[StakingChain]:
    made = staking_chain()
    yield made
    assert made.problems() == []
