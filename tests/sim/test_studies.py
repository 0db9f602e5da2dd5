"""The supply and network studies: each command on a tiny configuration writes its plots and
its figures, and the figures show what the study is about (a supply shock delays jobs and
raises their price; more inter-region latency delays finality; a partition stalls it)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from chain.cli.main import main
from sim.sweep import runs_frame

PNG_LIMIT = 150_000
"""Bytes a study's PNG may take (the README shows them)."""

TINY_SUPPLY = [
    # 150 s; 4 workers of each price; the cheap four leave at 50 s; a spike from 100 s to 125 s.
    "duration_s=150.0",
    "workers[0].count=4",
    "workers[1].count=4",
    "workers[2].count=4",
    "workers[0].strategy.offline_after_s=50.0",
    "requesters[1].count=6",
    "requesters[1].arrival.start_s=100.0",
    "requesters[1].arrival.stop_s=125.0",
]


def _sets(overrides: list[str]) -> list[str]:
    return [arg for o in overrides for arg in ("--set", o)]


def _png_ok(path: Path) -> None:
    data = path.read_bytes()
    assert data.startswith(b"\x89PNG"), path
    assert 2_000 < len(data) <= PNG_LIMIT, (path, len(data))


@pytest.fixture(scope="module")
def supply_out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("supply")
    argv = ["sim", "study", "supply", "--out", str(out), "--no-sweep", "--window", "25"]
    assert main([*argv, *_sets(TINY_SUPPLY)]) == 0
    return out


def test_supply_study_writes_its_plots_and_figures(supply_out: Path) -> None:
    for name in ("supply_over_time.png", "supply_vs_ratio.png"):
        _png_ok(supply_out / name)
    windows = pd.read_csv(supply_out / "supply_windows.csv")
    assert len(windows) == 6  # 150 s in windows of 25 s
    assert windows["submitted"].sum() > 0
    figures = json.loads((supply_out / "supply.json").read_text())
    assert figures["shocks"] == [{"at_s": 50.0, "group": "leaving", "workers": 4}]
    spike = {"from_s": 100.0, "to_s": 125.0, "group": "spike", "requesters": 6}
    assert figures["spikes"] == [spike]
    assert [(p["from_s"], p["to_s"]) for p in figures["phases"]] == [
        (0.0, 50.0),
        (50.0, 100.0),
        (100.0, 125.0),
        (125.0, 150.0),
    ]


def test_the_supply_shock_delays_jobs_and_raises_their_price(supply_out: Path) -> None:
    before, after = json.loads((supply_out / "supply.json").read_text())["phases"][:2]
    # The cheapest third leaves: the jobs go to dearer workers ...
    assert after["mean_price_xpl"] > before["mean_price_xpl"]
    # ... and the chain still matches jobs to the departed until their deadlines pass, or the
    # jobs they held fail: the shock costs latency or settled jobs.
    lost = before["failed"] + before["expired"] + after["failed"] + after["expired"]
    assert after["latency_p95_s"] > before["latency_p95_s"] + 10.0 or lost > 0
    assert after["latency_p95_s"] > before["latency_p95_s"]


def test_the_demand_spike_shows_in_the_submissions(supply_out: Path) -> None:
    windows = pd.read_csv(supply_out / "supply_windows.csv")
    spike = windows[windows["start_s"] == 100.0].iloc[0]
    steady = windows[windows["start_s"] < 50.0]
    assert spike["jobs_per_min"] > 2.5 * steady["jobs_per_min"].max()
    assert spike["supply_demand"] < steady["supply_demand"].min()


def test_network_study_finality_lag_grows_with_latency_and_the_partition(
    tmp_path: Path,
) -> None:
    out = tmp_path / "network"
    argv = ["sim", "study", "network", "--out", str(out), "--counts", "4", "--scales", "1,4"]
    argv += ["--duration", "24", "--partition", "8,14", "--workers", "1"]
    assert main(argv) == 0
    for name in ("finality_vs_validators.png", "finality_partition.png"):
        _png_ok(out / name)
    runs = pd.read_csv(out / "network_runs.csv").sort_values("scale")
    assert list(runs["status"]) == ["ok", "ok"]
    assert list(runs["validators"]) == [4, 4]
    near, far = runs.iloc[0], runs.iloc[1]
    assert far["inter_region_ms"] == pytest.approx(4 * near["inter_region_ms"])
    # Votes cross regions before a block is final: four times the latency, a later finality.
    assert far["delay_p50_s"] > near["delay_p50_s"]
    assert far["delay_p95_s"] > near["delay_p95_s"]
    # Two regions against two: neither side finalizes while partitioned, then both catch up.
    for run in (near, far):
        assert run["partition_max_lag"] > run["lag_p95"] + 2
        assert run["catch_up_s"] >= 0
    figures = json.loads((out / "network.json").read_text())
    assert figures["partition_s"] == [8.0, 14.0]
    assert len(figures["runs"]) == 2


def test_network_study_refuses_a_bad_partition(tmp_path: Path) -> None:
    argv = ["sim", "study", "network", "--out", str(tmp_path), "--partition", "14,8"]
    assert main(argv) != 0


def test_a_sweep_table_keeps_totals_beyond_int64_exactly(tmp_path: Path) -> None:
    """A network of many validators issues more planck than int64 holds: the sweep's table
    still writes, the total as its exact digits."""
    big = 50_300_800_009_999_999_984
    frame = runs_frame([{"run": "a", "issuance": big}, {"run": "b", "issuance": 7}])
    frame.to_parquet(tmp_path / "runs.parquet", index=False)
    back = pd.read_parquet(tmp_path / "runs.parquet")
    assert [int(v) for v in back["issuance"]] == [big, 7]
