"""`xpl benchmark`: measured figures of this machine, printed side by side."""

from __future__ import annotations

import argparse
import json
import sys

from chain.benchmarks.import_bench import run_import_benchmark


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    b = sub.add_parser("benchmark", help="measure this machine")
    b_sub = b.add_subparsers(dest="benchmark", metavar="WHAT", required=True)
    i = b_sub.add_parser("import", help="block import rate against the raw signature rate")
    i.add_argument("--txs", type=int, default=20_000, help="signed transfers to import")
    i.add_argument("--accounts", type=int, default=10_000, help="accounts they move between")
    i.add_argument("--verify-workers", type=int, default=0, help="processes checking signatures")
    i.add_argument("--json", action="store_true", help="print one JSON object")
    i.set_defaults(run=import_benchmark)


def import_benchmark(args: argparse.Namespace) -> int:
    def progress(message: str) -> None:
        if not args.json:
            print(f"  {message}", file=sys.stderr)

    figures = run_import_benchmark(
        txs=args.txs,
        accounts=args.accounts,
        verify_workers=args.verify_workers,
        progress=progress,
    )
    if args.json:
        print(json.dumps(figures.to_json()))
        return 0
    print(
        f"imported {figures.txs} transfers among {figures.accounts} accounts "
        f"in {figures.blocks} blocks ({figures.import_seconds} s)"
    )
    print(
        f"  import:          {figures.transfers_per_s:>10.0f} transfers/s"
        f"  ({figures.verify_workers or 'no'} verification workers)"
    )
    print(f"  raw Ed25519:     {figures.verify_per_s:>10.0f} verifications/s (one core)")
    print(f"  ratio:           {figures.ratio:>10.3f}")
    return 0
