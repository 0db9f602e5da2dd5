"""Fault schedules drawn over a scenario: a function of the seed, valid scenarios, and in
liveness mode more than 2/3 of the stake healthy and connected after the heal; the liveness
judgement on a finality table; and a fixed handful of seeds run end to end in both modes.
"""

from __future__ import annotations

import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import sim
from chain.cli.main import main
from sim.scenario import Scenario, scenario_from_dict
from sim.scenario_fuzz import (
    LIVENESS_BOUND_SLOTS,
    DrawnFaults,
    FuzzError,
    FuzzMode,
    draw_faults,
    fuzz_scenario,
    fuzzed,
    liveness_problem,
    max_down,
)

ROOT = Path(__file__).resolve().parents[2]
QUICK = ROOT / "sim" / "scenarios" / "quick.toml"

END_TO_END_SEEDS = (0, 1)
"""Seeds run with the whole simulator in each mode: none may break an invariant or stall."""
END_TO_END_SET = ("duration_s=40", "faults.schedule=[]", "outputs.plots=false")
"""The quick scenario shortened (its own partition falls after 40 s) and without plots."""
END_TO_END_BOUND_SLOTS = 15
"""Liveness: the heal falls at 20 s; finality must advance by 35 s."""


def scenario(count: int = 4, *, equivocating: int = 0, stake: Any = 100_000.0) -> Scenario:
    return scenario_from_dict(
        {
            "name": "fuzz-test",
            "duration_s": 60,
            "validators": {"count": count, "equivocating": equivocating, "stake": stake},
        }
    )


@pytest.mark.parametrize("mode", list(FuzzMode))
def test_the_schedule_is_a_function_of_the_seed(mode: FuzzMode) -> None:
    s = scenario(7)
    assert [draw_faults(s, seed, mode) for seed in range(20)] == [
        draw_faults(s, seed, mode) for seed in range(20)
    ]
    assert len({repr(draw_faults(s, seed, mode).events) for seed in range(20)}) == 20
    assert fuzzed(s, draw_faults(s, 3, mode)) == fuzzed(s, draw_faults(s, 3, mode))


def _end(event: dict[str, Any]) -> float | None:
    return event.get("until_s")


@settings(max_examples=60, deadline=None)
@given(
    count=st.integers(1, 40),
    equivocating_share=st.integers(0, 2),
    seed=st.integers(0, 2**32),
)
def test_liveness_keeps_more_than_two_thirds_healthy_after_the_heal(
    count: int, equivocating_share: int, seed: int
) -> None:
    equivocating = min(equivocating_share, (count - 1) // 3)
    s = scenario(count, equivocating=equivocating)
    drawn = draw_faults(s, seed, FuzzMode.LIVENESS)
    run = fuzzed(s, drawn)  # a valid scenario

    assert 3 * (len(drawn.down) + equivocating) < count
    assert not set(drawn.down) & set(range(equivocating))
    assert run.duration_s >= drawn.heal_s + drawn.bound_s
    assert drawn.bound_s == LIVENESS_BOUND_SLOTS * s.slot_ms / 1000
    assert [e.model_dump(exclude_none=True) for e in run.faults.schedule] == [
        {k: v for k, v in e.items()} | _defaults(e) for e in drawn.events
    ]
    for event in drawn.events:
        assert event["kind"] in ("crash", "partition", "skew", "loss")
        assert event["at_s"] <= drawn.heal_s
        if event["kind"] == "crash" and event["nodes"][0] in drawn.down:
            assert _end(event) is None  # down for good, within the third allowed
            continue
        assert not set(event.get("nodes", ())) & set(drawn.down)
        end = _end(event)
        assert end is not None and event["at_s"] < end <= drawn.heal_s
    assert run.faults.random.crash_per_hour == run.faults.random.partition_per_hour == 0


def _defaults(event: dict[str, Any]) -> dict[str, Any]:
    return {"nodes": event.get("nodes", []), "groups": event.get("groups", [])}


def test_liveness_keeps_everyone_up_where_stakes_differ() -> None:
    s = scenario(10, stake={"kind": "uniform", "low": 100_000.0, "high": 200_000.0})
    assert max_down(s) == 0
    assert all(draw_faults(s, seed, FuzzMode.LIVENESS).down == () for seed in range(30))
    assert max_down(scenario(10)) == 3
    assert any(draw_faults(scenario(10), seed, FuzzMode.LIVENESS).down for seed in range(30))


def test_liveness_is_refused_with_a_third_equivocating() -> None:
    with pytest.raises(FuzzError, match=r"validators\.equivocating: 2 of 6"):
        draw_faults(scenario(6, equivocating=2), 0, FuzzMode.LIVENESS)


@settings(max_examples=40, deadline=None)
@given(count=st.integers(1, 20), seed=st.integers(0, 2**32))
def test_safety_schedules_are_valid_and_fall_within_the_run(count: int, seed: int) -> None:
    s = scenario(count)
    drawn = draw_faults(s, seed, FuzzMode.SAFETY)
    run = fuzzed(s, drawn)
    assert run.duration_s == s.duration_s
    assert len(run.faults.schedule) == len(drawn.events)
    assert all(0 <= e["at_s"] <= s.duration_s for e in drawn.events)


def test_safety_schedules_draw_every_kind_and_an_equivocator() -> None:
    kinds = {
        e["kind"]
        for seed in range(40)
        for e in draw_faults(scenario(), seed, FuzzMode.SAFETY).events
    }
    assert kinds == {"crash", "restart", "partition", "heal", "skew", "loss", "equivocate"}


def _drawn(heal_s: float = 10.0, bound_s: float = 5.0, validators: int = 3) -> DrawnFaults:
    return DrawnFaults(0, FuzzMode.LIVENESS, (), heal_s, bound_s, 30.0, validators, (2,))


def _finality(rows: list[tuple[int, str, int]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["t_ms", "node", "finalized"])


def test_liveness_requires_every_validator_up_to_finalize_past_the_heal_in_time() -> None:
    before = [(9_000, "a", 4), (9_500, "b", 5)]
    advanced = _finality([*before, (12_000, "a", 6), (14_000, "b", 6)])
    assert liveness_problem(advanced, _drawn()) is None

    one_only = _finality([*before, (12_000, "a", 6), (14_000, "b", 5)])
    assert liveness_problem(one_only, _drawn()) == (
        "1 of the 2 validators up finalized above #5 within 5 s of the heal at 10 s"
    )
    too_late = _finality([*before, (12_000, "a", 6), (15_001, "b", 6)])
    assert liveness_problem(too_late, _drawn()) is not None
    assert liveness_problem(_finality([]), _drawn()) is not None


def test_the_command_prints_the_scenario_a_seed_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "s.toml"
    path.write_text('name = "s"\nduration_s = 60\n[validators]\ncount = 4\n')
    assert main(["sim", "fuzz", str(path), "--mode", "liveness", "--replay", "5"]) == 0
    printed = tomllib.loads(capsys.readouterr().out)
    expected = draw_faults(
        scenario_from_dict(tomllib.loads(path.read_text())), 5, FuzzMode.LIVENESS
    )
    assert len(printed["faults"]["schedule"]) == len(expected.events)
    assert printed["duration_s"] == expected.duration_s


def test_the_command_refuses_options_of_the_other_fuzz(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["sim", "fuzz", str(tmp_path / "s.toml"), "--schedules", "5"]) == 2
    assert "--schedules: not for a scenario fuzz" in capsys.readouterr().err
    assert main(["sim", "fuzz", "--mode", "liveness"]) == 2
    assert "--mode: only with a SCENARIO.toml" in capsys.readouterr().err


@dataclass
class FakeResult:
    summary: dict[str, Any]
    violation: Any
    finality: pd.DataFrame


def fake_run(scenario: Scenario, *, seed: int, out: Path) -> FakeResult:
    """Finality that advances after the heal for even seeds and stalls for odd ones."""
    heal_ms = draw_faults(scenario_for_fake(), seed, FuzzMode.LIVENESS).heal_s * 1000
    rows = [(int(heal_ms) - 500, str(n), 3) for n in range(scenario.validators.count)]
    if seed % 2 == 0:
        rows += [(int(heal_ms) + 2_000, str(n), 4) for n in range(scenario.validators.count)]
    return FakeResult({"blocks": 10 + seed}, None, _finality(rows))


def scenario_for_fake() -> Scenario:
    return scenario(4, stake={"kind": "uniform", "low": 100_000.0, "high": 200_000.0})


def test_a_stalled_seed_is_reported_with_a_command_that_replays_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_api = SimpleNamespace(run=fake_run)
    monkeypatch.setitem(sys.modules, "sim.api", fake_api)
    monkeypatch.setattr(sim, "api", fake_api, raising=False)  # `from sim import api` reads this
    frame = fuzz_scenario(
        scenario_for_fake(), (0, 1), tmp_path, mode=FuzzMode.LIVENESS, workers=0, progress=False
    )
    assert list(frame["status"]) == ["ok", "violation"]
    assert list(frame["blocks"]) == [10, 11]
    stalled = frame.iloc[1]
    drawn = draw_faults(scenario_for_fake(), 1, FuzzMode.LIVENESS)
    assert "finality stalled" in stalled["error"] and "0 of the 4 validators" in stalled["error"]
    file = tmp_path / "runs" / "liveness-seed=1" / "scenario.toml"
    deadline = round((drawn.heal_s + drawn.bound_s) * 1000)
    assert stalled["replay"] == f"xpl sim run {file} --seed 1 --until-ms {deadline}"
    replayed = scenario_from_dict(tomllib.loads(file.read_text()))
    assert replayed == fuzzed(scenario_for_fake(), drawn)


@pytest.mark.parametrize("mode", list(FuzzMode))
def test_fuzz_seeds_run_end_to_end(mode: FuzzMode, tmp_path: Path) -> None:
    """The whole simulator (`sim.api.run`) over a few drawn schedules: safety holds, and in
    liveness mode finality advances after the heal."""
    from sim.scenario import load_scenario

    frame = fuzz_scenario(
        load_scenario(QUICK, END_TO_END_SET),
        END_TO_END_SEEDS,
        tmp_path,
        mode=mode,
        bound_slots=END_TO_END_BOUND_SLOTS,
        workers=0,
        progress=False,
    )
    assert list(frame["seed"]) == list(END_TO_END_SEEDS)
    problems = frame[frame["status"] != "ok"]
    assert problems.empty, problems[["run", "status", "error", "replay"]].to_string()


SAFETY_REORG_SEED = 15
"""A safety schedule over the quick scenario under which, before commits named their job by its
digest, a worker's commit made for the job of its id on a competing fork landed on a job with
leaves of another size (at 93 s), and the requester's check of it once crashed."""


def test_a_commit_made_on_a_competing_fork_no_longer_lands_on_another_job() -> None:
    import sim
    from sim.scenario import load_scenario

    base = load_scenario(QUICK)
    drawn = draw_faults(base, SAFETY_REORG_SEED, FuzzMode.SAFETY)
    result = sim.run(fuzzed(base, drawn), seed=SAFETY_REORG_SEED, until_ms=94_000)
    assert result.violation is None
    jobs = result.jobs
    # the run went past the moment the check once crashed at, with jobs committed then
    assert ((jobs["step"] == "committed") & (jobs["t_ms"] >= 93_000)).any()
    # no committed result was disputed by a requester's Freivalds check: the commit from the
    # other fork is refused as another job's, so nothing of another size is ever committed
    disputed = jobs[(jobs["step"] == "disputed") & (jobs["verdict"] == "freivalds")]
    assert not (disputed["t_ms"] >= 80_000).any()
