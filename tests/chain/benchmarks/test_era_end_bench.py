"""`xpl benchmark era-end`: staking's era end timed beside the weight it declares."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from chain.benchmarks.era_end_bench import run_era_end_benchmark
from chain.cli.main import main
from runtime.framework import WEIGHT_PER_MICROS
from runtime.pallets import staking
from runtime.pallets.staking.eras import era_end_weight


def test_a_small_era_end_is_measured_and_its_declared_weight_follows_the_counts() -> None:
    f = run_era_end_benchmark(5, 4, candidates=30, nominators=40, repeat=1)
    assert (f.seats, f.nominations, f.candidates, f.nominators) == (5, 4, 30, 40)
    assert f.measured_ms > 0 and 5 < f.payouts <= 5 + 40 * 4
    p = replace(staking.DEFAULT_STAKING_PARAMS, validator_count=5, max_nominations=4)
    least = era_end_weight(p, (30, 40), 5, 0) / WEIGHT_PER_MICROS / 1_000
    assert least < f.declared_ms


def test_the_command_prints_its_figures_and_refuses_bad_sizes(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["benchmark", "era-end", "--seats", "0"]) == 2
    assert main(["benchmark", "era-end", "--seats", "3", "--nominations", "1", "--json"]) == 0
    figures = json.loads(capsys.readouterr().out)
    assert figures["seats"] == 3 and figures["candidates"] == staking.MAX_CANDIDATES
    assert figures["declared_ms"] > 0 and figures["measured_ms"] > 0
