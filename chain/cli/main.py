"""The `xpl` command: one entry point, one module per subcommand.

Each subcommand module exposes `register(subparsers)`, which adds its parser and sets `run` (a
function taking the parsed arguments and returning an exit code). Errors meant for the user are
raised as `CliError` or as the specific ValueError subclasses of the primitives, and printed here
as one line; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from chain.cli.errors import CliError


def build_parser() -> argparse.ArgumentParser:
    """The parser of every subcommand."""
    from chain.cli import (
        benchmark,
        chain_ops,
        demo,
        gov,
        job,
        key,
        localnet,
        node,
        query,
        sim,
        staking,
        sudo,
        treasury,
        tx,
        worker,
    )

    parser = argparse.ArgumentParser(
        prog="xpl", description="XPL: an open market for GPU compute on its own chain."
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    commands = (node, key, chain_ops, localnet, tx, staking, sudo, gov, treasury, query, job)
    for module in (*commands, worker, benchmark, sim, demo):
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the `xpl` command line; returns the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        code: int = args.run(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except CliError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return code


if __name__ == "__main__":
    sys.exit(main())
