"""The economic-security study: the analytic model against hand-computed cases, the chain's
defaults strictly inside the region where every cheat loses (with the guard's margin), the
runtime's audit draw detecting faked leaves at 1 − (1 − f)^k within binomial bounds, and the
study's files."""

from __future__ import annotations

import json
from dataclasses import replace
from fractions import Fraction
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from chain.cli.main import main
from runtime.pallets.compute import DEFAULT_COMPUTE_PARAMS, check_incentives
from runtime.pallets.market import DEFAULT_MARKET_PARAMS
from sim.scenario import load_scenario
from sim.studies.detection import measure_detection, wilson_interval
from sim.studies.economics import (
    Terms,
    break_even_slash,
    caught_probability,
    cheat_gain,
    cheat_profit,
    defaults_margin,
    drawn_probability_exact,
    least_loss_ratio,
    naive_terms,
    saved_share,
    terms_from_params,
)
from sim.studies.economics_plots import write_heatmap
from sim.studies.measured_profit import predicted_net, strategy_profits

CP = DEFAULT_COMPUTE_PARAMS
MP = DEFAULT_MARKET_PARAMS
DEFAULTS = terms_from_params()

# The analytic model against hand-computed cases


def test_naive_case_by_hand() -> None:
    """q = 1/2, m = 1, k = 2, faking half: drawn 3/4, caught 3/8, each caught job loses
    2 payments: gain 1/2 − 3/4 at C = R; at C = R/2 the cheat earns 1/2 − 1/4 − 3/4 + 1/2."""
    t = naive_terms(0.5, 1.0, 2)
    assert caught_probability(0.5, t) == pytest.approx(0.375)
    assert cheat_gain(0.5, 1.0, t) == pytest.approx(-0.25)
    assert cheat_profit(0.5, 1.0, t) == pytest.approx(-0.25)
    assert cheat_gain(0.5, 0.5, t) == pytest.approx(0.25 - 0.75)
    assert cheat_profit(0.5, 0.5, t) == pytest.approx(0.0)  # honest would earn 0.5


def test_every_term_of_the_runtime_model_by_hand() -> None:
    """q = 1/2, P_conv = 1/2, k = 1, F = 1/2, σ = 1/2, m = 2, D = 2, f = 1/4: saves 1/2; one
    draw convicts with x = 1/16, the forfeiting cheater is caught with x/2 + x²/2 = 17/512, and
    loses 1 + m·(1 − σ) = 2 payments each time."""
    t = Terms(q=0.5, m=2.0, k=1, p_conv=0.5, forfeit=0.5, challenger_share=0.5, dependency=2.0)
    assert saved_share(0.25, t.dependency) == 0.5
    assert saved_share(0.75, t.dependency) == 1.0
    assert caught_probability(0.25, t) == pytest.approx(17 / 512)
    assert cheat_gain(0.25, 1.0, t) == pytest.approx(0.5 - 2 * 17 / 512)
    with_disputes = replace(t, dispute=0.5)  # half the requesters check: + (1 − c)·δ·P_conv
    assert caught_probability(0.25, with_disputes) == pytest.approx(
        17 / 512 + (1 - 17 / 512) * 0.25
    )


def test_the_defaults_terms_are_the_guards() -> None:
    """q 0.65, m 3, k 16; a committee of 3 with a 25% colluding party has an honest majority
    with 27/64 + 27/64; that party decides half its draws; it takes back a quarter of a slash."""
    assert (DEFAULTS.q, DEFAULTS.m, DEFAULTS.k) == (0.65, 3.0, 16)
    assert DEFAULTS.p_conv == pytest.approx(54 / 64)
    assert DEFAULTS.forfeit == 0.5
    assert DEFAULTS.m_eff == pytest.approx(2.25)
    assert DEFAULTS.dependency == 1.5


def test_drawing_without_replacement_by_hand() -> None:
    assert drawn_probability_exact(1, 4, 2) == pytest.approx(0.5)  # 1 − C(3,2)/C(4,2)
    assert drawn_probability_exact(2, 10, 3) == pytest.approx(1 - 56 / 120)
    assert drawn_probability_exact(1, 4, 4) == 1.0  # every leaf is drawn
    assert drawn_probability_exact(0, 4, 2) == 0.0


@given(
    q=st.floats(0.01, 1.0),
    f=st.floats(0.001, 1.0),
    ratio=st.floats(0.0, 1.0),
)
def test_cheating_breaks_even_on_the_drawn_boundary(q: float, f: float, ratio: float) -> None:
    """At the break-even slash the gain is 0; above it the cheat loses."""
    m = break_even_slash(q, f, ratio, DEFAULTS)
    if m < 0 or m > 1e6:
        return
    assert cheat_gain(f, ratio, DEFAULTS.at(q, m)) == pytest.approx(0.0, abs=1e-9)
    assert cheat_gain(f, ratio, DEFAULTS.at(q, m + 0.01)) < 0


def test_the_naive_least_ratio_is_q_times_one_plus_m() -> None:
    """With an honest committee, no forfeits and a leaf saving one leaf, the loss ratio falls
    with f: the least is q·(1 + m), at f = 1."""
    least, worst_f = least_loss_ratio(naive_terms(0.25, 3.0, 16))
    assert least == pytest.approx(1.0)
    assert worst_f == 1.0


# The chain's defaults lie strictly inside the losing region, with the margin


def test_the_defaults_are_inside_with_the_guards_margin() -> None:
    """The least expected loss per unit saved at the defaults (C = R, every f) is at least
    1 + margin_ppm, by the guard's exact bound and by an independent scan of f; lowering
    audit_ppm or slash_ppm below the bound this finds puts them outside."""
    check_incentives(MP, CP)
    margin = defaults_margin()
    assert margin.required == 1 + Fraction(CP.margin_ppm, 10**6) == Fraction(5, 4)
    assert margin.inside
    assert margin.guard_bound >= margin.required
    assert margin.least_ratio >= float(margin.required)
    # the guard's bound is from below and tight: the scan finds it within its grid
    assert float(margin.guard_bound) <= margin.least_ratio <= float(margin.guard_bound) + 1e-6
    assert margin.worst_f == pytest.approx(2 / 3)
    assert CP.audit_ppm > margin.least_audit_ppm
    assert MP.slash_ppm > margin.least_slash_ppm
    below_q = defaults_margin(MP, replace(CP, audit_ppm=margin.least_audit_ppm - 1))
    below_m = defaults_margin(replace(MP, slash_ppm=margin.least_slash_ppm - 1), CP)
    assert not below_q.inside
    assert not below_m.inside
    assert defaults_margin(MP, replace(CP, audit_ppm=margin.least_audit_ppm)).inside


def test_at_q_times_one_plus_m_of_one_cheating_pays() -> None:
    """q = 0.25, m = 3: the naive model breaks even at f = 1; with the runtime's rules (collusion,
    forfeits, the challenger share, D = 3/2) faking 2/3 of a job costing its payment gains more
    than half the payment."""
    naive = naive_terms(0.25, 3.0, 16)
    assert cheat_gain(1.0, 1.0, naive) == pytest.approx(0.0)
    assert cheat_gain(2 / 3, 1.0, DEFAULTS.at(0.25, 3.0)) > 0.5
    assert not defaults_margin(MP, replace(CP, audit_ppm=250_000)).inside


@given(f=st.floats(1e-6, 1.0), ratio=st.floats(0.0, 1.0))
def test_every_cheat_loses_at_the_defaults(f: float, ratio: float) -> None:
    """For every share f and cost ratio C/R, a cheater at the defaults expects to lose at least
    margin × what it saves, against honest work (strictly less profit, also at C = 0)."""
    saving = ratio * saved_share(f, DEFAULTS.dependency)
    gain = cheat_gain(f, ratio, DEFAULTS)
    assert gain < 0
    assert gain <= -DEFAULTS.margin * saving
    assert cheat_profit(f, ratio, DEFAULTS) < 1 - ratio


# The runtime's audit draw detects at 1 − (1 − f)^k


def test_measured_detection_matches_within_binomial_bounds() -> None:
    """Over 3,000 rolls of the runtime's draw, each (f, k)'s detection among audited jobs has
    the exact probability of drawing a faked leaf, and the guard's 1 − (1 − f)^k, within its
    99.9% bounds; the audit rate has q; a detection half as likely lies outside them."""
    rows = measure_detection((0.05, 0.1, 0.25), (4, 16), jobs=3_000, audit_ppm=CP.audit_ppm)
    assert len(rows) == 6
    first = rows[0]
    assert first.audit_low <= CP.audit_ppm / 10**6 <= first.audit_high
    assert first.audited > 1_800
    for row in rows:
        assert row.low <= row.exact <= row.high, row
        assert row.low <= row.expected <= row.high, row
        assert row.exact >= row.expected - 1e-12  # drawing without replacement only raises it
    (f10k16,) = [r for r in rows if (r.fraction, r.audit_leaves) == (0.1, 16)]
    assert not f10k16.low <= 1 - (1 - 0.05) ** 16 <= f10k16.high


def test_measured_detection_is_deterministic_per_seed() -> None:
    one = measure_detection((0.1,), (8,), jobs=400, audit_ppm=500_000, seed=1)
    again = measure_detection((0.1,), (8,), jobs=400, audit_ppm=500_000, seed=1)
    other = measure_detection((0.1,), (8,), jobs=400, audit_ppm=500_000, seed=2)
    assert one == again
    assert (one[0].audited, one[0].detected) != (other[0].audited, other[0].detected)


def test_wilson_interval_by_hand() -> None:
    low, high = wilson_interval(50, 100, 1.96)
    assert (low, high) == (pytest.approx(0.4038, abs=1e-4), pytest.approx(0.5962, abs=1e-4))
    assert wilson_interval(0, 0) == (0.0, 1.0)


# The study's files


def _png(path: Path) -> bool:
    return path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_heatmap_is_written(tmp_path: Path) -> None:
    path = write_heatmap(tmp_path / "heat.png", DEFAULTS, panels=((0.5, 1.0),))
    assert _png(path) and path.stat().st_size > 10_000


def test_study_command_writes_its_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`xpl sim study economics` prints the margin and writes the plots, the table and the JSON;
    it exits 0 at the defaults."""
    out = tmp_path / "econ"
    assert main(["sim", "study", "economics", "--out", str(out), "--jobs", "300"]) == 0
    printed = capsys.readouterr().out
    assert "required 1.2500" in printed and "inside the losing region" in printed
    assert _png(out / "economic_security.png") and _png(out / "detection.png")
    summary = json.loads((out / "economics.json").read_text())
    assert summary["defaults"]["inside"] is True
    assert summary["defaults"]["least_audit_ppm"] < CP.audit_ppm
    assert len(summary["detection"]) == len((out / "detection.csv").read_text().splitlines()) - 1


def test_study_command_refuses_no_jobs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sim", "study", "economics", "--out", str(tmp_path), "--jobs", "0"]) == 1
    assert "--jobs must be at least 1" in capsys.readouterr().err


# The measured part's reading of a run's tables (the runs themselves need the whole simulator)


def test_predicted_net_by_hand() -> None:
    """2 of 32 leaves faked, 16 drawn: caught with 0.65·(1 − (16·15)/(32·31)), losing 4
    payments each time."""
    caught = 0.65 * (1 - 240 / 992)
    assert predicted_net(0.05, 32, MP, CP) == pytest.approx(1 - 4 * caught)
    assert predicted_net(0.0, 32, MP, CP) == 1.0
    assert predicted_net(1.0, 32, MP, CP) == pytest.approx(1 - 4 * 0.65)


def _group(name: str, kind: str, fraction: float = 0.0) -> SimpleNamespace:
    return SimpleNamespace(name=name, strategy=SimpleNamespace(kind=kind, fraction=fraction))


def test_strategy_profits_reads_the_tables() -> None:
    """Per group: the last sample's earnings and slashes over the payments of its jobs that
    ended by then (a job settled after the last sample is left out)."""
    gemm = SimpleNamespace(workload="gemm_i8", params=[128, 64, 32, 4])
    scenario = SimpleNamespace(
        chain=SimpleNamespace(market_params=lambda: MP, compute_params=lambda: CP),
        workers=[_group("honest", "honest"), _group("lazy", "lazy")],
        requesters=[SimpleNamespace(jobs=[gemm])],
    )
    price, units = 2_000 * 10**12, 524_288  # 1.048576 XPL a job
    payment = price * units // 10**9
    workers = pd.DataFrame(
        {
            "t_ms": [1_000, 1_000, 9_000, 9_000],
            "worker": ["h", "z", "h", "z"],
            "group": ["honest", "lazy", "honest", "lazy"],
            "earnings": [0, 0, 2 * payment, 0],
            "slashed": [0, 0, 0, 3 * payment],
        }
    )
    jobs = pd.DataFrame(
        {
            "t_ms": [100, 100, 200, 5_000, 6_000, 7_000, 9_500],
            "job": [1, 2, 3, 1, 2, 3, 4],
            "step": ["committed"] * 3 + ["settled", "settled", "slashed", "settled"],
            "worker": ["h", "h", "z", "h", "h", "z", "h"],
            "price": [price] * 7,
            "cost_units": [units] * 7,
        }
    )
    jobs = pd.concat([jobs, jobs.iloc[[6]].assign(step="committed", t_ms=300)])
    result = SimpleNamespace(scenario=scenario, workers=workers, jobs=jobs)
    honest, lazy = strategy_profits(result, seed=5)
    assert (honest.jobs, honest.payments, honest.net_per_payment) == (2, 2 * payment, 1.0)
    assert (lazy.jobs, lazy.net_per_payment, lazy.fraction) == (1, -3.0, 1.0)  # unpaid, −3
    assert lazy.gain_at_full_cost == pytest.approx(1 - (1 - -3.0))
    assert lazy.predicted_net == pytest.approx(1 - 4 * 0.65)


SCENARIOS = Path(__file__).resolve().parents[2] / "sim" / "scenarios"


@pytest.mark.parametrize("name", ["economic_security", "supply_latency", "network_finality"])
def test_study_scenarios_load(name: str) -> None:
    """The studies' scenario files pass the scenario schema (once it is there)."""
    loaded = load_scenario(SCENARIOS / f"{name}.toml")
    assert loaded.name == name
