"""The `xpl` command: one entry point, one module per subcommand.

Each subcommand module exposes `register(subparsers)`, which adds its parser and sets `run` (a
function taking the parsed arguments and returning an exit code). Errors meant for the user are
raised as `CliError` or as the specific ValueError subclasses of the primitives, and printed here
as one line; anything else is a bug and keeps its traceback.

`xpl` starts fast: `COMMANDS` lists every subcommand with its module and one-line help, and a run
imports only the module of the subcommand it names (the node's networking, the simulator, the
benchmarks and the rest stay unloaded). The others appear in `xpl --help` from the table alone;
tests/chain/cli/test_startup.py checks that the table matches what the modules register.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from typing import Final

from chain.cli.errors import CliError

COMMANDS: Final[tuple[tuple[str, str, str], ...]] = (
    ("node", "chain.cli.node", "run a node"),
    ("key", "chain.cli.key", "generate and inspect account keys"),
    ("build-spec", "chain.cli.chain_ops", "print or write a chain spec"),
    ("purge-chain", "chain.cli.chain_ops", "delete a node's database"),
    (
        "localnet",
        "chain.cli.localnet",
        "run a local network of validators (and workers) until Ctrl-C",
    ),
    ("tx", "chain.cli.tx", "sign and submit transactions"),
    ("staking", "chain.cli.staking", "bond, validate, nominate and see a stash's staking"),
    (
        "sudo",
        "chain.cli.sudo",
        "make any call as Root with the sudo key (development chains only)",
    ),
    ("gov", "chain.cli.gov", "referenda: propose, vote, delegate, unlock, follow"),
    ("treasury", "chain.cli.treasury", "the treasury's funds, spends and payouts"),
    ("bounty", "chain.cli.treasury", "bounties: funded work with a curator"),
    ("grant", "chain.cli.treasury", "compute grants: treasury funds for a builder's jobs"),
    ("query", "chain.cli.query", "read the chain's state"),
    ("job", "chain.cli.job", "submit compute jobs, follow them, fetch their results"),
    ("model", "chain.cli.model", "upload models once, list them, show their versions"),
    ("worker", "chain.cli.worker", "run a GPU worker: take matched jobs, compute and commit them"),
    ("benchmark", "chain.cli.benchmark", "measure this machine"),
    ("sim", "chain.cli.sim", "run the deterministic network simulator"),
    ("demo", "chain.cli.demo", "watch a local validator network work, end to end"),
)
"""Every subcommand in `xpl --help`'s order: its name, the module that registers it, its help.
A module that registers several (chain_ops, treasury) registers them together, in this order."""

_ALL: Final = "*"
"""`build_parser`'s marker for: register every subcommand's real parser."""


def build_parser(command: str | None = _ALL) -> argparse.ArgumentParser:
    """The `xpl` parser: with every subcommand's real parser by default; given a `command`, with
    only that one's (its module imported, the others listed from `COMMANDS`); given None, with
    none (enough for `xpl --help` and for naming an unknown command)."""
    parser = argparse.ArgumentParser(
        prog="xpl", description="XPL: an open market for GPU compute on its own chain."
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    wanted = {module for name, module, _ in COMMANDS if command in (_ALL, name)}
    registered: set[str] = set()
    for name, module, help_text in COMMANDS:
        if module not in wanted:
            sub.add_parser(name, help=help_text)
        elif module not in registered:
            importlib.import_module(module).register(sub)
            registered.add(module)
    return parser


def command_of(argv: Sequence[str]) -> str | None:
    """The subcommand `argv` names (its first word that is not an option), or None when it names
    none (`xpl`, `xpl --help`) or when the top-level parse has to see every command (`--`)."""
    for word in argv:
        if word == "--":
            return _ALL
        if not word.startswith("-"):
            return word
    return None


def main(argv: Sequence[str] | None = None) -> int:
    """Run the `xpl` command line; returns the process exit code."""
    words = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(command_of(words))
    args = parser.parse_args(words)
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
