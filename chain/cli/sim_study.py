"""`xpl sim study NAME`: the studies the simulator ships (`sim.studies`)."""

from __future__ import annotations

import argparse
import csv
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sim.studies import finality, supply
from sim.studies.economics_study import STUDY_JOBS, run_economics_study
from sim.studies.measured_profit import DEFAULT_SCENARIO, measure_strategy_profits, summarize


def register_study(s_sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `xpl sim study` and its studies under `xpl sim`."""
    study = s_sub.add_parser("study", help="run one of the studies the simulator ships")
    studies = study.add_subparsers(dest="study", metavar="NAME", required=True)
    econ = studies.add_parser(
        "economics",
        help="a cheater's expected profit over audit probability and slash, and the audit "
        "draw's measured detection",
        description="Checks that the chain's default parameters lie inside the region where every "
        "cheat loses money, with the guard's margin; writes economic_security.png (a cheater's "
        "expected gain over (q, m) with the break-even line, the guard's bound and the "
        "defaults), detection.png and detection.csv (the runtime's audit draw over JOBS jobs "
        "against 1 - (1 - f)^k) and economics.json. Exits 1 if the defaults are outside.",
    )
    econ.add_argument("--out", type=Path, required=True, help="directory to write to")
    econ.add_argument(
        "--jobs", type=int, default=STUDY_JOBS, help=f"audit rolls (default {STUDY_JOBS})"
    )
    econ.add_argument("--seed", type=int, default=0, help="seed of the rolls' randomness")
    econ.add_argument(
        "--runs",
        type=int,
        default=0,
        metavar="N",
        help="also run the economic_security scenario with seeds 1..N and measure each worker "
        "group's net per unit of payment (measured_profit.csv; default 0: none)",
    )
    econ.add_argument(
        "--scenario",
        type=Path,
        default=DEFAULT_SCENARIO,
        help="the scenario --runs runs (default sim/scenarios/economic_security.toml)",
    )
    econ.set_defaults(run=economics_command)
    register_supply(studies)
    register_network(studies)


def economics_command(args: argparse.Namespace) -> int:
    """`xpl sim study economics`: the figures printed, the files written; 1 if cheating pays."""
    if args.jobs < 1:
        raise ValueError(f"--jobs must be at least 1, not {args.jobs}")
    if args.runs < 0:
        raise ValueError(f"--runs must be 0 or more, not {args.runs}")
    study = run_economics_study(args.out, jobs=args.jobs, seed=args.seed)
    m = study.margin
    print(
        f"defaults: audit_ppm {m.audit_ppm}, slash_ppm {m.slash_ppm}, audit_leaves "
        f"{m.audit_leaves}; q·(1+m) = {m.naive_product:.3f} (honest committee, nothing else)"
    )
    print(
        f"least expected loss per unit saved: {float(m.guard_bound):.4f} (guard, exact bound), "
        f"{m.least_ratio:.4f} (scan, at f = {m.worst_f:.4f}); required {float(m.required):.4f}"
    )
    print(
        f"least the guard accepts: audit_ppm {m.least_audit_ppm} (with slash_ppm {m.slash_ppm}), "
        f"slash_ppm {m.least_slash_ppm} (with audit_ppm {m.audit_ppm})"
    )
    print(f"detection over {args.jobs} rolls ({study.detection[0].audited} audited):")
    print("      f    k   measured  [99.9% bounds]      1-(1-f)^k  exact")
    for row in study.detection:
        print(
            f"  {row.fraction:5.2f} {row.audit_leaves:4d}   {row.rate:.4f}  "
            f"[{row.low:.4f}, {row.high:.4f}]   {row.expected:.4f}     {row.exact:.4f}"
        )
    for path in study.files:
        print(f"wrote {path}")
    if args.runs > 0:
        print_measured(args.out, args.runs, args.scenario)
    print("inside the losing region with the margin" if m.inside else "CHEATING PAYS")
    return 0 if m.inside else 1


def print_measured(out: Path, runs: int, scenario: Path) -> None:
    """Run `scenario` with seeds 1..runs, print each group's measured and predicted net, and
    write them to measured_profit.csv under `out`."""
    rows = measure_strategy_profits(range(1, runs + 1), scenario=scenario, out=out / "runs")
    path = out / "measured_profit.csv"
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0].as_dict()) if rows else [])
        writer.writeheader()
        writer.writerows(row.as_dict() for row in rows)
    print(f"measured over {runs} run(s) of {scenario}: net per unit of payment (C = R: gain)")
    print("  group          f      jobs  measured  predicted   gain  predicted")
    for group, figures in summarize(rows).items():
        print(
            f"  {group:12s} {figures['fraction']:5.3f} {int(figures['jobs']):7d}  "
            f"{figures['net_per_payment']:8.3f}  {figures['predicted_net']:8.3f}  "
            f"{figures['gain_at_full_cost']:6.3f}  {figures['predicted_gain_at_full_cost']:8.3f}"
        )
    print(f"wrote {path}")


def _numbers(text: str, kind: type[int] | type[float], flag: str) -> list[Any]:
    """A comma-separated list of positive numbers; ValueError naming the flag otherwise."""
    try:
        values = [kind(part) for part in text.split(",") if part.strip()]
    except ValueError as exc:
        raise ValueError(f"{flag} {text!r}: expected numbers separated by commas") from exc
    if not values or any(v <= 0 for v in values):
        raise ValueError(f"{flag} {text!r}: expected one or more positive numbers")
    return values


def register_supply(studies: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `xpl sim study supply`."""
    p = studies.add_parser(
        "supply",
        help="job latency and price against worker supply and demand, through a supply shock "
        "and a demand spike",
        description="Runs the supply_latency scenario (a third of the workers leave at 300 s, "
        "a demand spike from 600 s to 660 s) into OUT/run and a sweep of its steady form over "
        "the count of one worker group times the steady arrival rate into OUT/sweep (a "
        "LocalCluster); writes "
        "supply_over_time.png (latency and price over time, the shock and the spike marked), "
        "supply_vs_ratio.png (latency and price against worker slots per job a minute), "
        "supply_windows.csv, supply_sweep.csv and supply.json.",
    )
    _scenario_options(p, supply.DEFAULT_SCENARIO)
    p.add_argument(
        "--window",
        type=float,
        default=supply.WINDOW_S,
        help=f"seconds per window of the time series (default {supply.WINDOW_S:g})",
    )
    p.add_argument(
        "--sweep-counts",
        default=",".join(str(c) for c in supply.SWEEP_COUNTS),
        help=f"counts of worker group {supply.SWEEP_GROUP} the sweep runs "
        f"(default {','.join(str(c) for c in supply.SWEEP_COUNTS)})",
    )
    p.add_argument(
        "--sweep-rates",
        default=",".join(f"{r:g}" for r in supply.SWEEP_RATES),
        help="jobs a second per steady requester the sweep runs "
        f"(default {','.join(f'{r:g}' for r in supply.SWEEP_RATES)})",
    )
    p.add_argument(
        "--sweep-duration",
        type=float,
        default=supply.SWEEP_DURATION_S,
        help=f"simulated seconds per sweep run (default {supply.SWEEP_DURATION_S:g})",
    )
    p.add_argument("--no-sweep", action="store_true", help="the one run only")
    p.add_argument("--workers", type=int, default=2, help="sweep processes (default 2)")
    p.set_defaults(run=supply_command)


def supply_command(args: argparse.Namespace) -> int:
    """`xpl sim study supply`: the phases' figures printed, the files written."""
    if args.window <= 0:
        raise ValueError(f"--window must be positive, not {args.window}")
    counts = [] if args.no_sweep else _numbers(args.sweep_counts, int, "--sweep-counts")
    rates = [] if args.no_sweep else _numbers(args.sweep_rates, float, "--sweep-rates")
    study = supply.run_supply_study(
        args.out,
        scenario=args.scenario,
        overrides=args.overrides,
        seed=args.seed,
        window_s=args.window,
        sweep_counts=counts,
        sweep_rates=rates,
        sweep_duration_s=args.sweep_duration,
        workers=args.workers,
    )
    print(f"{study.scenario.name}, seed {study.seed}, {study.scenario.duration_s:g} s")
    for at, group, count in study.events.shocks:
        print(f"  shock: {count} '{group}' workers leave at {at:g} s")
    for start, stop, group, count in study.events.spikes:
        print(f"  spike: {count} '{group}' requesters from {start:g} s to {stop:g} s")
    print("  jobs submitted in     n  settled failed expired  latency p50   p95  price (XPL/gunit)")
    for ph in study.phases:
        print(
            f"  {ph['from_s']:5.0f}-{ph['to_s']:<5.0f} s  {ph['submitted']:6d} {ph['settled']:7d}"
            f" {ph['failed']:6d} {ph['expired']:7d}  {_text(ph['latency_p50_s'], 9)} "
            f"{_text(ph['latency_p95_s'], 6)}  {_text(ph['mean_price_xpl'], 9, 0)}"
        )
    if study.sweep is not None:
        print("  sweep: rate workers slots jobs/min  slots per job/min  p50    p95   price")
        for row in study.sweep.to_dict("records"):
            print(
                f"  {row['rate_per_s']:11g} {row['workers']:7d} {row['slots']:5d} "
                f"{_text(row['jobs_per_min'], 8)} {_text(row['supply_demand'], 18, 2)}"
                f" {_text(row['latency_p50_s'], 6)} {_text(row['latency_p95_s'], 6)}"
                f" {_text(row['mean_price_xpl'], 7, 0)}  {row['status']}"
            )
    for path in study.files:
        print(f"wrote {path}")
    return 0


def register_network(studies: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `xpl sim study network`."""
    p = studies.add_parser(
        "network",
        help="finality lag against validator count and inter-region latency, through a "
        "partition that heals",
        description="Sweeps the network_finality scenario (shortened to --duration with its "
        "partition at --partition) over validator counts times latency levels (the scenario's "
        "matrix times each factor) on a LocalCluster into OUT/sweep; writes "
        "finality_vs_validators.png (finality delay and lag p50/p95 against validators, one "
        "line per latency level), finality_partition.png (lag over time through the partition), "
        "network_runs.csv and network.json. --full adds 64 validators and a third level: "
        "64 validators simulate at about a tenth of real time.",
    )
    _scenario_options(p, finality.DEFAULT_SCENARIO)
    p.add_argument(
        "--counts",
        default=None,
        help=f"validator counts (default {_joined(finality.COUNTS)}; "
        f"--full: {_joined(finality.FULL_COUNTS)})",
    )
    p.add_argument(
        "--scales",
        default=None,
        help=f"factors on the latency matrix (default {_joined(finality.SCALES)}; "
        f"--full: {_joined(finality.FULL_SCALES)})",
    )
    p.add_argument(
        "--duration",
        type=float,
        default=finality.DURATION_S,
        help=f"simulated seconds per run (default {finality.DURATION_S:g}; "
        "0: the scenario's own duration and partition)",
    )
    p.add_argument(
        "--partition",
        default=_joined(finality.PARTITION_S),
        help="when the partition starts and heals, in seconds "
        f"(default {_joined(finality.PARTITION_S)})",
    )
    p.add_argument("--full", action="store_true", help="64 validators and three latency levels")
    p.add_argument("--workers", type=int, default=2, help="sweep processes (default 2)")
    p.set_defaults(run=network_command)


def network_command(args: argparse.Namespace) -> int:
    """`xpl sim study network`: each run's figures printed, the files written."""
    counts = (
        _numbers(args.counts, int, "--counts")
        if args.counts
        else list(finality.FULL_COUNTS if args.full else finality.COUNTS)
    )
    scales = (
        _numbers(args.scales, float, "--scales")
        if args.scales
        else list(finality.FULL_SCALES if args.full else finality.SCALES)
    )
    partition = _numbers(args.partition, float, "--partition")
    if len(partition) != 2 or partition[0] >= partition[1]:
        raise ValueError(f"--partition {args.partition!r}: expected START,HEAL with START < HEAL")
    if args.duration < 0:
        raise ValueError(f"--duration must be 0 or more, not {args.duration}")
    study = finality.run_network_study(
        args.out,
        scenario=args.scenario,
        counts=counts,
        scales=scales,
        duration_s=args.duration or None,
        partition_s=(partition[0], partition[1]),
        overrides=args.overrides,
        seed=args.seed,
        workers=args.workers,
        progress=True,
    )
    print(
        "  validators  latency  between regions  delay p50   p95 (s)  lag p50  p95  "
        "partition: max lag  catch-up (s)"
    )
    for row in study.runs.to_dict("records"):
        if row["status"] != "ok":
            print(f"  {row['validators']:10d}  ×{row['scale']:<6g} {row['status']}: {row['error']}")
            continue
        print(
            f"  {row['validators']:10d}  ×{row['scale']:<6g} {row['inter_region_ms']:11.0f} ms"
            f"  {_text(row['delay_p50_s'], 9, 3)} {_text(row['delay_p95_s'], 7, 3)}"
            f"  {_text(row['lag_p50'], 7, 1)} {_text(row['lag_p95'], 4, 1)}"
            f"  {_text(row.get('partition_max_lag'), 18, 0)} {_text(row.get('catch_up_s'), 13, 1)}"
        )
    for path in study.files:
        print(f"wrote {path}")
    return 0 if (study.runs["status"] == "ok").all() else 1


def _scenario_options(p: argparse.ArgumentParser, scenario: Path) -> None:
    """--out, --scenario (default `scenario`), --set and --seed, which every study run takes."""
    p.add_argument("--out", type=Path, required=True, help="directory to write to")
    p.add_argument(
        "--scenario",
        type=Path,
        default=scenario,
        help=f"the scenario (default {scenario.relative_to(scenario.parents[2])})",
    )
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a scenario field (repeatable)",
    )
    p.add_argument("--seed", type=int, default=None, help="seed (default: the scenario's)")


def _joined(values: Sequence[float]) -> str:
    return ",".join(f"{v:g}" for v in values)


def _text(value: Any, width: int, digits: int = 1) -> str:
    """A figure right-aligned in `width`, or a dash where there is none."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-".rjust(width)
    return f"{float(value):{width}.{digits}f}"


__all__ = [
    "economics_command",
    "network_command",
    "print_measured",
    "register_network",
    "register_study",
    "register_supply",
    "supply_command",
]
