"""`xpl node --check-invariants`: every invariant is checked after each block, and a broken one
stops the node with an error that names it and the block."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
import trio

from chain.cli import node as node_cli
from chain.cli.main import main
from chain.service.node import NodeConfig, run_node
from chain.spec import dev_spec
from chain.storage.chain_store import ChainStore
from runtime.invariants import InvariantsBroken
from runtime.pallets.balances import Balances
from runtime.primitives.keys import keypair_from_suri
from runtime.state import PrefixIterator, StateReader
from tests.chain.conftest import read_heads


def config(base_path: Path, *, check_invariants: bool) -> NodeConfig:
    """A dev node on its own: no network, no metrics, any free RPC port."""
    return NodeConfig(
        spec=dev_spec(),
        base_path=base_path,
        validator_key=keypair_from_suri("//Alice"),
        rpc_port=0,
        prometheus_port=None,
        check_invariants=check_invariants,
    )


def break_issuance(monkeypatch: pytest.MonkeyPatch) -> None:
    """From now on, balances reports total issuance as broken in every state."""

    def broken(self: Balances, read: StateReader, iterate: PrefixIterator) -> list[str]:
        return ["sum of balances 1 != total issuance 2"]

    monkeypatch.setattr(Balances, "check_invariants", broken)


def run_for(seconds: float, node: NodeConfig) -> None:
    """Run the node for `seconds`, then stop it as Ctrl-C does."""

    async def run() -> None:
        async with trio.open_nursery() as nursery:
            await nursery.start(run_node, node)
            await trio.sleep(seconds)
            nursery.cancel_scope.cancel()

    trio.run(run)


async def stopped_within(seconds: float, node: NodeConfig) -> None:
    """Run the node until it stops by itself, which it must within `seconds`."""
    with trio.fail_after(seconds):
        await run_node(node)


def test_a_node_checking_invariants_checks_each_block_once_and_authors_while_they_hold(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    checked: list[bytes] = []
    real = ChainStore.check_invariants

    def counted(store: ChainStore, block_hash: bytes) -> None:
        checked.append(block_hash)
        real(store, block_hash)

    monkeypatch.setattr(ChainStore, "check_invariants", counted)
    run_for(2.5, config(tmp_path, check_invariants=True))  # the dev chain's slots are 1 s
    best, _ = read_heads(tmp_path)
    assert best.number >= 1
    assert best.hash in checked
    assert len(checked) == len(set(checked)) >= best.number


def test_a_broken_invariant_is_logged_with_the_block_and_stops_the_node(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    break_issuance(monkeypatch)
    with (
        caplog.at_level(logging.ERROR, logger="xpl.node"),
        pytest.raises(InvariantsBroken) as broken,
    ):
        trio.run(stopped_within, 30.0, config(tmp_path, check_invariants=True))
    assert broken.value.problems == ("balances: sum of balances 1 != total issuance 2",)
    assert broken.value.where.startswith("block #1 0x")
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1
    assert "block #1 0x" in errors[0]
    assert "balances: sum of balances 1 != total issuance 2" in errors[0]


def test_without_the_flag_nothing_is_checked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    break_issuance(monkeypatch)
    run_for(2.5, config(tmp_path, check_invariants=False))
    best, _ = read_heads(tmp_path)
    assert best.number >= 1


def test_the_command_exits_with_an_error_when_invariants_break(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    seen: list[NodeConfig] = []

    async def stopped_by_a_violation(config: NodeConfig, **kwargs: Any) -> None:
        seen.append(config)
        raise InvariantsBroken(["balances: broken"], "block #3 0x00")

    monkeypatch.setattr(node_cli, "setup_logging", lambda *args: None)
    monkeypatch.setattr(node_cli, "run_node", stopped_by_a_violation)
    code = main(["node", "--dev", "--base-path", str(tmp_path), "--check-invariants"])
    assert code == 1
    assert seen[0].check_invariants
    error = capsys.readouterr().err
    assert error == "error: invariants broken at block #3 0x00: balances: broken\n"
