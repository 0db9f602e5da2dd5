"""`xpl` starts fast: a run imports only its own subcommand's module, and the table that lists
the others in `xpl --help` says exactly what their modules register."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import pytest

from chain.cli.main import COMMANDS, build_parser, command_of

REPO_ROOT = Path(__file__).resolve().parents[3]

HEAVY = ("libp2p", "numba", "pandas", "dask", "sim")
"""Packages that a transfer's argument checking has no use for, and that cost seconds to load."""

CHILD = """
import json, sys
from chain.cli.main import main
code = main(sys.argv[1:])
heavy = sorted(m for m in sys.modules if m.split(".")[0] in {heavy!r})
cli = sorted(m for m in sys.modules if m.startswith("chain.cli."))
print(json.dumps({{"code": code, "heavy": heavy, "cli": cli}}))
"""


def _subcommands(
    parser: argparse.ArgumentParser,
) -> argparse._SubParsersAction[argparse.ArgumentParser]:
    (action,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return action


def _run_child(*argv: str) -> dict[str, object]:
    """Run `xpl argv` in a fresh interpreter; its exit code and what it imported."""
    done = subprocess.run(
        [sys.executable, "-c", CHILD.format(heavy=set(HEAVY)), *argv],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    result: dict[str, object] = json.loads(done.stdout.splitlines()[-1])
    return result


def test_a_bad_transfer_amount_is_refused_without_loading_the_heavy_packages() -> None:
    argv = ("tx", "transfer", "--from", "//Bob", "--to", "//Charlie", "--amount", "-5XPL")
    result = _run_child(*argv, "--rpc", "http://127.0.0.1:9")
    assert result["code"] == 1
    assert result["heavy"] == []
    # Only tx and the helpers it shares with other commands: no other subcommand's module.
    assert "chain.cli.tx" in result["cli"]
    others = {module for _, module, _ in COMMANDS} - {"chain.cli.tx"}
    assert others.isdisjoint(result["cli"])


def test_the_table_lists_every_command_as_its_module_registers_it() -> None:
    full = build_parser()
    real = _subcommands(full)
    assert [(name, help_text) for name, _, help_text in COMMANDS] == [
        (a.dest, a.help) for a in real._choices_actions
    ]
    for name, module, _ in COMMANDS:
        run = real.choices[name].get_default("run")
        if run is not None:  # commands with subcommands set `run` on those
            assert run.__module__ == module


def test_the_top_level_help_and_errors_do_not_change() -> None:
    assert build_parser(None).format_help() == build_parser().format_help()
    assert build_parser("no-such-command").format_usage() == build_parser().format_usage()


@pytest.mark.parametrize("name", [name for name, _, _ in COMMANDS])
def test_each_command_parses_as_with_every_command_loaded(name: str) -> None:
    lazy = _subcommands(build_parser(name)).choices[name]
    full = _subcommands(build_parser()).choices[name]
    assert lazy.format_help() == full.format_help()


@pytest.mark.parametrize(
    ("argv", "command"),
    [
        ([], None),
        (["--help"], None),
        (["-h", "tx"], "tx"),
        (["tx", "transfer", "--amount", "1"], "tx"),
        (["no-such-command"], "no-such-command"),
    ],
)
def test_the_command_is_the_first_word_that_is_not_an_option(
    argv: list[str], command: str | None
) -> None:
    assert command_of(argv) == command


def test_a_double_dash_loads_every_command() -> None:
    assert command_of(["--", "tx"]) == "*"
