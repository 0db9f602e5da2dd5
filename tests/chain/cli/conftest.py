"""One fast dev node shared by the CLI tests that make transactions (`test_calls_cli`,
`test_governance_cli`), and `xpl` run in this process against it.

The node starts once for the package (half-second blocks, four-block eras, one era to unbond,
the dev chain's fast referendum tracks and its sudo key //Alice), so each module's tests add only
their transactions' time. Each module uses accounts of its own (`//Name`s it funds from //Alice),
so that the modules do not depend on each other's order.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from chain.cli.main import main as xpl_main
from chain.client.chain import XplClient, transfer_call
from chain.spec import dev_spec
from runtime.primitives.amount import parse_amount
from runtime.primitives.keys import dev_keypair, keypair_from_suri
from tests.chain.conftest import NodeFactory, NodeProcess


@pytest.fixture(scope="package")
def cli_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeProcess]:
    """A dev chain with half-second blocks, four-block eras and one era to unbond."""
    document = dev_spec().to_json()
    genesis = document["genesis"]
    genesis["slotDurationMs"] = 500
    # One seat: a stash the tests make a candidate is never elected, so that no slot waits for
    # a validator that this node cannot author for.
    genesis["staking"] = {
        "eraBlocks": 4,
        "bondingEras": 1,
        "slashWindowEras": 0,
        "validatorCount": 1,
    }
    path = tmp_path_factory.mktemp("spec") / "fast.json"
    path.write_text(json.dumps(document))
    factory = NodeFactory(tmp_path_factory.mktemp("cli-nodes"))
    try:
        yield factory.start(args=("--chain", str(path), "--validator", "--dev-key", "//Alice"))
    finally:
        factory.stop_all()


@pytest.fixture(scope="package")
def cli_client(cli_node: NodeProcess) -> XplClient:
    return cli_node.client(timeout=20.0)


def fund(client: XplClient, names: list[str], amount: str) -> None:
    """Give each `//Name` `amount` from //Alice, all in one block or two."""
    alice = dev_keypair("Alice")
    nonce = client.next_nonce(alice.public)
    txs = [
        client.sign(
            alice, transfer_call(keypair_from_suri(n).public, parse_amount(amount)), nonce=nonce + i
        )
        for i, n in enumerate(names)
    ]
    for tx in txs[:-1]:
        client.submit(tx)
    outcome = client.submit_and_watch(txs[-1], until="inBlock")
    assert outcome.success, outcome.error
    for name in names:
        assert client.account(keypair_from_suri(name).public).free >= parse_amount(amount)


class Ran:
    """What one `xpl` run in this process did: its exit code, its output and its error lines."""

    def __init__(self, code: int, out: str, err: str) -> None:
        self.code, self.out, self.err = code, out, err

    def json(self) -> Any:
        lines = self.out.strip().splitlines()
        assert len(lines) == 1, self.out
        return json.loads(lines[0])

    def events(self) -> list[str]:
        """The events a `--json` run's transaction deposited, as `pallet.Event`."""
        return [e["event"] for e in self.json()["events"]]


XplRun = Callable[..., Ran]


@pytest.fixture
def xpl_in_process(cli_node: NodeProcess, capsys: pytest.CaptureFixture[str]) -> XplRun:
    """Run `xpl ARGS --rpc NODE` in this process: the entry point of the `xpl` command, without
    an interpreter start for each run."""

    def run(*args: str) -> Ran:
        code = xpl_main([*args, "--rpc", cli_node.url])
        captured = capsys.readouterr()
        return Ran(code, captured.out, captured.err)

    return run
