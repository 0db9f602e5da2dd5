"""`xpl sim study NAME`: the studies the simulator ships (`sim.studies`)."""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

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


__all__ = ["economics_command", "print_measured", "register_study"]
