"""The bench the conviction voting tests start from, with the tests' own polls registered; its
invariants are checked after every test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.runtime.pallets.voting_helpers import Bench, bench_polls


@pytest.fixture
def bench() -> Iterator[Bench]:
    with bench_polls():
        made = Bench()
        yield made
        assert made.problems() == []
