"""Sweeps on a 2-process LocalCluster: one row per run with the grid's parameters as columns, a
rerun that skips finished runs, a failing run recorded while the others complete, and a grid
that is no scenario refused before anything runs.

The runner here stands in for the simulator: its figures are a function of the scenario's fields
and the seed, it raises for one point of the grid and reports a violation for another.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import cloudpickle
import pandas as pd
import pytest

from chain.cli.main import main
from sim.scenario import Scenario, scenario_from_dict
from sim.sweep import (
    DATASET_FILE,
    RESULT_FILE,
    SweepError,
    dask_client,
    headline_figures,
    parse_grid,
    sweep,
)

# The cluster's worker processes load this module's runner by value, not by its import name.
cloudpickle.register_pickle_by_value(sys.modules[__name__])

GRID: dict[str, list[Any]] = {"duration_s": [10, 20], "validators.equivocating": [0, 1]}
SEEDS = (0, 1)
CALLS = "calls.log"
"""A line per runner call, in the sweep's directory: what a rerun ran."""


def scenario() -> Scenario:
    return scenario_from_dict({"name": "sweep-test", "duration_s": 5, "validators": {"count": 4}})


def figures(scenario: Scenario, seed: int, out: Path) -> Mapping[str, Any]:
    """Figures read off the scenario; an error at duration 20 with an equivocator, and a
    violation at duration 10 with an equivocator and seed 1."""
    with (out.parent.parent / CALLS).open("a") as f:
        f.write(f"{out.name}\n")
    if scenario.duration_s == 20 and scenario.validators.equivocating == 1:
        raise RuntimeError("the planted failure")
    summary: dict[str, Any] = {
        "blocks": int(scenario.duration_s * 1000 // scenario.slot_ms) + seed,
        "finality": {"lag_p50": 2.0 + seed},
        "validators": scenario.validators.count,
    }
    if scenario.validators.equivocating == 1 and seed == 1:
        summary["violation"] = {
            "name": "conflicting finality",
            "node": "1",
            "block": 7,
            "t_ms": 7_000,
            "detail": "two blocks at #7",
        }
    return summary


@pytest.fixture(scope="module")
def scheduler() -> Iterator[str]:
    with dask_client(2, None) as client:
        yield str(client.scheduler.address)


def calls(out: Path) -> list[str]:
    path = out / CALLS
    return path.read_text().split() if path.exists() else []


def test_one_row_per_run_with_the_parameters_as_columns(scheduler: str, tmp_path: Path) -> None:
    frame = sweep(scenario(), GRID, SEEDS, tmp_path, scheduler=scheduler, runner=figures)

    stored = pd.read_parquet(tmp_path / DATASET_FILE)
    assert len(stored) == len(frame) == 8
    assert {
        "run",
        "duration_s",
        "validators.equivocating",
        "seed",
        "status",
        "error",
        "replay",
        "blocks",
        "finality.lag_p50",
    } <= set(stored.columns)
    runs = set(
        zip(stored["duration_s"], stored["validators.equivocating"], stored["seed"], strict=True)
    )
    assert runs == {(d, e, s) for d in (10.0, 20.0) for e in (0, 1) for s in SEEDS}
    ok = stored[stored["status"] == "ok"]
    assert list(ok["blocks"]) == [
        int(d) + s for d, s in zip(ok["duration_s"], ok["seed"], strict=True)
    ]
    assert ok["error"].isna().all() and ok["replay"].isna().all()
    assert len(set(stored["run"])) == 8
    assert all((tmp_path / "runs" / run / RESULT_FILE).exists() for run in stored["run"])


def test_a_failing_run_is_recorded_while_the_others_complete(
    scheduler: str, tmp_path: Path
) -> None:
    frame = sweep(scenario(), GRID, SEEDS, tmp_path, scheduler=scheduler, runner=figures)

    assert frame["status"].value_counts().to_dict() == {"ok": 5, "failed": 2, "violation": 1}
    failed = frame[frame["status"] == "failed"]
    assert set(failed["duration_s"]) == {20.0}
    assert failed["error"].str.contains("RuntimeError: the planted failure").all()
    assert all(
        r.startswith("xpl sim run ") and f"--seed {s}" in r and "duration_s=20" in r
        for r, s in zip(failed["replay"], failed["seed"], strict=True)
    )
    violation = frame[frame["status"] == "violation"].iloc[0]
    assert "conflicting finality on 1 at #7" in violation["error"]
    assert violation["replay"].endswith("--seed 1 --until-ms 7000")
    assert (tmp_path / "runs" / violation["run"] / "scenario.toml").exists()


def test_a_replay_starts_from_the_file_with_every_override(scheduler: str, tmp_path: Path) -> None:
    path = tmp_path / "s.toml"
    path.write_text('name = "s"\nduration_s = 5\n[validators]\ncount = 4\n')
    frame = sweep(
        path,
        {"validators.equivocating": [1]},
        (3,),
        tmp_path / "out",
        scheduler=scheduler,
        runner=figures,
        overrides=["duration_s=20"],
    )
    assert list(frame["status"]) == ["failed"]
    assert frame["replay"][0] == (
        f"xpl sim run {path} --seed 3 --set duration_s=20 --set validators.equivocating=1"
    )


def test_a_rerun_skips_finished_runs(scheduler: str, tmp_path: Path) -> None:
    first = sweep(scenario(), GRID, SEEDS, tmp_path, scheduler=scheduler, runner=figures)
    assert len(calls(tmp_path)) == 8

    again = sweep(scenario(), GRID, SEEDS, tmp_path, scheduler=scheduler, runner=figures)
    assert len(calls(tmp_path)) == 8
    pd.testing.assert_frame_equal(first, again)

    # An interrupted run has no result: only it runs again.
    unfinished = str(first["run"].iloc[3])
    os.remove(tmp_path / "runs" / unfinished / RESULT_FILE)
    resumed = sweep(scenario(), GRID, SEEDS, tmp_path, scheduler=scheduler, runner=figures)
    assert calls(tmp_path)[8:] == [unfinished]
    pd.testing.assert_frame_equal(first.drop(columns="wall_s"), resumed.drop(columns="wall_s"))


def test_a_rerun_over_another_scenario_is_refused(scheduler: str, tmp_path: Path) -> None:
    sweep(scenario(), {"duration_s": [10]}, (0,), tmp_path, scheduler=scheduler, runner=figures)
    other = scenario().model_copy(update={"slot_ms": 2_000})
    with pytest.raises(SweepError, match="another scenario"):
        sweep(other, {"duration_s": [10]}, (0,), tmp_path, scheduler=scheduler, runner=figures)


@pytest.mark.parametrize(
    ("grid", "message"),
    [
        ({"validators.colour": [1, 2]}, r"grid key 'validators.colour': no such scenario field"),
        ({"duration_s": [10, -1]}, r"grid duration_s=-1: .*duration_s"),
        ({"validators.equivocating": [1, 9]}, r"validators.equivocating=9: .*equivocating"),
        ({"duration_s": []}, r"'duration_s': no values"),
        (
            {"chain.compute.audit_ppm": [650_000, 50_000]},
            r"grid chain.compute.audit_ppm=50000: the chain refuses it: faking results pays",
        ),
    ],
)
def test_a_grid_that_is_no_scenario_is_refused_before_anything_runs(
    tmp_path: Path, grid: dict[str, list[Any]], message: str
) -> None:
    # No cluster is needed: the grid is refused before one is started.
    with pytest.raises(SweepError, match=message):
        sweep(scenario(), grid, SEEDS, tmp_path, scheduler="tcp://127.0.0.1:1", runner=figures)
    assert not (tmp_path / "runs").exists()
    assert calls(tmp_path) == []


def test_headline_figures_flatten_the_summary_without_its_breakdowns() -> None:
    summary = {
        "digest": "ab",
        "finality": {"lag_blocks": {"p50": 1.0}, "per_node": {"v0": {"finalized": 3}}},
        "blocks": {"height": 7, "by_author": {"5abc": 2}},
        "jobs": {"latency_s": [1.0, 2.0], "settled": None},
    }
    assert headline_figures(summary) == {
        "digest": "ab",
        "finality.lag_blocks.p50": 1.0,
        "blocks.height": 7,
        "jobs.settled": None,
    }


def test_grid_arguments() -> None:
    assert parse_grid(["a.b=1,2", 'c=["x", "y"],"p,q"']) == {
        "a.b": ["1", "2"],
        "c": ['["x", "y"]', '"p,q"'],
    }
    for bad in ("a.b", "=1", "a=1,,2"):
        with pytest.raises(SweepError):
            parse_grid([bad])
    with pytest.raises(SweepError, match="twice"):
        parse_grid(["a=1", "a=2"])


def test_the_command_refuses_an_unknown_grid_key(tmp_path: Path, capsys: Any) -> None:
    path = tmp_path / "s.toml"
    path.write_text('name = "s"\nduration_s = 5\n[validators]\ncount = 4\n')
    code = main(
        [
            "sim",
            "sweep",
            str(path),
            "--grid",
            "network.colour=1,2",
            "--seeds",
            "2",
            "--out",
            str(tmp_path / "out"),
        ]
    )
    assert code == 2
    assert "network.colour" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
