"""`xpl benchmark pool`: the admission rate, and an honest transfer against a flood of sybils."""

from __future__ import annotations

import pytest

from chain.benchmarks.pool_bench import run_pool_benchmark
from chain.core.pool import DEFAULT_MAX_PER_ACCOUNT


def test_the_flood_leaves_one_ready_transaction_per_sybil_and_the_honest_one_gets_in():
    f = run_pool_benchmark(txs=40, sybils=2)
    assert f.txs == 40 and f.admitted_per_s > 0
    assert f.flood_sent == 2 * DEFAULT_MAX_PER_ACCOUNT
    assert f.flood_ready == 2
    assert f.honest_admitted and f.honest_included
    assert f.emptying_sent == 2 * DEFAULT_MAX_PER_ACCOUNT
    assert f.emptying_ready == 2
    assert f.emptying_honest_admitted and f.emptying_honest_included


def test_a_benchmark_of_no_transfers_is_refused():
    with pytest.raises(ValueError):
        run_pool_benchmark(txs=0)
