"""`xpl benchmark intake`: a reshuffled flood of unpayable transactions, measured and charged."""

from __future__ import annotations

import pytest

from chain.benchmarks.intake_bench import run_intake_benchmark
from chain.core.tx_gossip import COST_USELESS_BATCH


def test_every_batch_of_the_flood_is_charged_and_the_figures_are_measured():
    figures = run_intake_benchmark(txs=120, rounds=3)
    assert (figures.txs, figures.rounds) == (120, 3)
    assert figures.first_batch_ms >= 0 and figures.repeat_batch_ms >= 0
    assert figures.charged == 3 * (COST_USELESS_BATCH + 1)  # 120 refused: one point each batch


def test_a_benchmark_of_one_round_is_refused():
    with pytest.raises(ValueError):
        run_intake_benchmark(txs=10, rounds=1)
