"""`xpl benchmark sim --network-only`: the simulator's speed and memory, measured on tiny sizes."""

from __future__ import annotations

import json

import pytest

from chain.benchmarks.sim_bench import run_sim_benchmark, standard_scenario
from chain.cli.main import main


def test_the_network_only_benchmark_prints_its_figures_as_json(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code = main(
        [
            "benchmark", "sim", "--network-only", "--validators", "4", "--duration", "3",
            "--memory-durations", "3", "--json",
        ]
    )  # fmt: skip
    assert code == 0
    figures = json.loads(capsys.readouterr().out)
    assert figures["mode"] == "network-only"
    (point,) = figures["speed"]
    assert point["validators"] == 4 and point["workers"] is None
    assert point["simulated_s"] == 3 and point["speed"] > 0
    assert point["transfers"] >= 6 and point["finalized"] >= 3 and point["messages"] > 0
    # Network-only: the network's memory alone, its databases in LevelDB by default.
    (memory,) = figures["memory"]
    assert (memory["mode"], memory["store"], memory["simulated_s"]) == ("network", "leveldb", 3)
    assert memory["workers"] is None
    assert memory["peak_mib"] > 0 and memory["disk_mib"] > 0 and memory["cpu_s"] > 0


def test_bad_sizes_are_refused_naming_the_option(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["benchmark", "sim", "--network-only", "--validators", "4,x"]) == 2
    assert "--validators" in capsys.readouterr().err
    with pytest.raises(ValueError, match="--validators"):
        run_sim_benchmark(validators=[0], network_only=True)
    with pytest.raises(ValueError, match="--duration"):
        run_sim_benchmark(validators=[4], network_only=True, duration_s=0)
    with pytest.raises(ValueError, match="--memory-stores: 'disk'"):
        run_sim_benchmark(validators=[4], network_only=True, memory_stores=["disk"])


def test_the_standard_scenario_names_its_sizes() -> None:
    scenario = standard_scenario(16, 200, 60.0)
    assert scenario["validators"]["count"] == 16
    assert scenario["workers"][0]["count"] == 200
    # Ten requesters at a tenth of a job a second each: one job a second in all.
    (requesters,) = scenario["requesters"]
    assert requesters["count"] * requesters["arrival"]["rate_per_s"] == pytest.approx(1.0)
