"""The `xpl` commands, run as a user runs them (a subprocess), against a real dev node where they
need one: build-spec, purge-chain, tx transfer, query balance and head, benchmark import, demo."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from chain.cli.demo_market import ASKS
from chain.client.chain import XplClient
from chain.service.recomputation import select_device
from chain.spec import ChainSpec, dev_spec
from gpu_worker.worker.registration import warm_up
from runtime.primitives.address import encode_address
from runtime.primitives.amount import format_amount, parse_amount
from runtime.primitives.hashing import blake2b_256, from_hex, to_hex
from runtime.primitives.keys import Keypair, dev_keypair

if TYPE_CHECKING:
    from tests.chain.conftest import NodeFactory, NodeProcess, Waiter, XplCli

ALICE, BOB, CHARLIE = (dev_keypair(n) for n in ("Alice", "Bob", "Charlie"))


@pytest.fixture(scope="module")
def client(dev_node: NodeProcess) -> XplClient:
    return dev_node.client()


def json_line(stdout: str) -> dict[str, Any]:
    """The one JSON object a `--json` command prints."""
    lines = stdout.strip().splitlines()
    assert len(lines) == 1, stdout
    document: dict[str, Any] = json.loads(lines[0])
    return document


# build-spec


@pytest.mark.timeout(60)
def test_build_spec_dev_prints_the_dev_chain(xpl: XplCli) -> None:
    result = xpl.run("build-spec", "--chain", "dev")
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    spec = ChainSpec.from_json(document)
    assert (spec.id, spec.chain_type) == ("dev", "Development")
    assert spec.genesis.validator_keys == (ALICE.public,)
    assert spec.genesis_header().hash == dev_spec().genesis_header().hash
    assert spec.to_json() == document


@pytest.mark.timeout(60)
def test_build_spec_local_with_three_validators_writes_the_file(
    xpl: XplCli, tmp_path: Path
) -> None:
    out = tmp_path / "local.json"
    result = xpl.run("build-spec", "--chain", "local", "--validators", "3", "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    spec = ChainSpec.from_json(json.loads(out.read_text()))
    assert spec.id == "local" and spec.chain_type == "Local"
    assert spec.genesis.validator_keys == tuple(
        dev_keypair(n).public for n in ("Alice", "Bob", "Charlie")
    )
    printed = re.fullmatch(r"wrote (.+) \(genesis (0x[0-9a-f]{64})\)\n", result.stderr)
    assert printed is not None, result.stderr
    assert printed[1] == str(out)
    assert from_hex(printed[2], length=32) == spec.genesis_header().hash

    # The file is re-checked and printed the same by `--chain FILE`.
    again = xpl.run("build-spec", "--chain", str(out))
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout) == json.loads(out.read_text())


@pytest.mark.timeout(60)
def test_build_spec_refuses_validators_for_the_dev_chain(xpl: XplCli) -> None:
    line = xpl.fails("build-spec", "--chain", "dev", "--validators", "3")
    assert "--validators applies to --chain local" in line


@pytest.mark.timeout(60)
def test_node_runs_a_chain_from_a_built_spec_file(
    xpl: XplCli, node_factory: NodeFactory, tmp_path: Path
) -> None:
    out = tmp_path / "solo.json"
    result = xpl.run("build-spec", "--chain", "local", "--validators", "1", "--out", str(out))
    assert result.returncode == 0, result.stderr
    genesis = ChainSpec.from_json(json.loads(out.read_text())).genesis_header().hash
    node = node_factory.start(args=("--chain", str(out), "--validator", "--dev-key", "//Alice"))
    client = node.client()
    assert client.genesis_hash() == genesis
    assert client.rpc.call("system_chain") == "XPL Local Testnet"
    assert client.finalized_number() >= 1


# purge-chain


@pytest.fixture(scope="module")
def stopped_node_base(module_node_factory: NodeFactory) -> Path:
    """The base path of a dev node that ran for a block or two and stopped cleanly."""
    node = module_node_factory.start()
    assert node.stop() == 0
    return node.base_path


@pytest.fixture
def stopped_node(stopped_node_base: Path, node_factory: NodeFactory, tmp_path: Path) -> NodeProcess:
    """A stopped dev node with a database of its own (a copy of the one that ran)."""
    base = tmp_path / "base"
    shutil.copytree(stopped_node_base / "chains", base / "chains")
    return node_factory.create(base)


@pytest.mark.timeout(60)
def test_purge_chain_deletes_a_stopped_nodes_database(
    xpl: XplCli, stopped_node: NodeProcess
) -> None:
    node = stopped_node
    db = node.base_path / "chains" / "dev" / "db"
    assert db.is_dir()

    result = xpl.run("purge-chain", "--base-path", str(node.base_path), "--chain", "dev", "-y")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"deleted {db}"
    assert not db.exists()
    again = xpl.run("purge-chain", "--base-path", str(node.base_path), "--chain", "dev", "-y")
    assert again.returncode == 0
    assert "nothing to delete" in again.stdout

    node.start()  # a fresh chain from genesis
    assert node.client().block_hash(0) == dev_spec().genesis_header().hash


@pytest.mark.timeout(60)
def test_purge_chain_asks_first_and_keeps_the_database_unless_told_yes(
    xpl: XplCli, stopped_node: NodeProcess
) -> None:
    node = stopped_node
    db = node.base_path / "chains" / "dev" / "db"
    result = xpl.run("purge-chain", "--base-path", str(node.base_path), stdin="n\n")
    assert result.returncode == 1
    assert result.stdout.startswith(f"delete {db}? [y/N] aborted: nothing deleted")
    assert db.is_dir()


@pytest.mark.timeout(60)
def test_purge_chain_with_no_answer_gets_one_error_line(
    xpl: XplCli, stopped_node: NodeProcess
) -> None:
    node = stopped_node
    line = xpl.fails("purge-chain", "--base-path", str(node.base_path), "--chain", "dev")
    assert "-y" in line
    assert (node.base_path / "chains" / "dev" / "db").is_dir()


@pytest.mark.timeout(60)
def test_purge_chain_refuses_the_database_of_a_running_node(
    xpl: XplCli, node_factory: NodeFactory
) -> None:
    node = node_factory.start()
    line = xpl.fails("purge-chain", "--base-path", str(node.base_path), "--chain", "dev", "-y")
    assert "in use" in line or "running" in line or "lock" in line
    assert (node.base_path / "chains" / "dev" / "db").is_dir()


# tx transfer


@pytest.mark.timeout(60)
def test_tx_transfer_waits_for_finality_and_prints_json(
    xpl: XplCli, dev_node: NodeProcess, client: XplClient
) -> None:
    receiver = Keypair.generate().public
    result = xpl.run(
        "tx", "transfer", "--from", "//Bob", "--to", encode_address(receiver),
        "--amount", "2.5XPL", "--wait", "finalized", "--json", "--rpc", dev_node.url,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    outcome = json_line(result.stdout)
    assert outcome["success"] is True and outcome["error"] is None
    assert outcome["finalized"] is True
    assert outcome["from"] == encode_address(BOB.public)
    assert outcome["to"] == encode_address(receiver)
    assert outcome["amount"] == "2.5XPL"
    fee = parse_amount(outcome["fee"])
    assert fee > 0

    block = from_hex(outcome["blockHash"], length=32)
    assert client.block_hash(outcome["block"]) == block
    assert client.finalized_number() >= outcome["block"]
    parent = from_hex(client.header(block)["parentHash"], length=32)
    spent = client.account(BOB.public, at=parent).free - client.account(BOB.public, at=block).free
    assert spent == parse_amount("2.5XPL") + fee
    assert client.account(receiver, at=block).free == parse_amount("2.5XPL")
    extrinsics = client.block(block)["block"]["extrinsics"]
    assert outcome["hash"] in {to_hex(blake2b_256(from_hex(x))) for x in extrinsics}


@pytest.mark.timeout(60)
def test_tx_transfer_without_waiting_prints_the_hash(
    xpl: XplCli, dev_node: NodeProcess, client: XplClient, wait_until: Waiter
) -> None:
    nonce = client.next_nonce(CHARLIE.public)
    result = xpl.run(
        "tx", "transfer", "--from", "//Charlie", "--to", "//Bob", "--amount", "1500u",
        "--json", "--rpc", dev_node.url,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    submitted = json_line(result.stdout)
    assert submitted["status"] == "submitted"
    assert re.fullmatch(r"0x[0-9a-f]{64}", submitted["hash"])
    wait_until(
        lambda: True if client.account(CHARLIE.public).nonce == nonce + 1 else None,
        timeout=15,
        what="the submitted transfer to be included",
    )


@pytest.mark.timeout(60)
def test_tx_transfer_that_fails_by_the_rules_reports_it(
    xpl: XplCli, dev_node: NodeProcess, client: XplClient
) -> None:
    too_much = format_amount(client.account(CHARLIE.public).free + 1)
    result = xpl.run(
        "tx", "transfer", "--from", "//Charlie", "--to", "//Bob", "--amount", too_much,
        "--wait", "inBlock", "--json", "--rpc", dev_node.url,
    )  # fmt: skip
    assert result.returncode == 1
    outcome = json_line(result.stdout)
    assert outcome["success"] is False
    assert outcome["error"] == "balances.InsufficientBalance"
    assert parse_amount(outcome["fee"]) > 0


@pytest.mark.timeout(60)
def test_tx_transfer_to_an_unreachable_node_says_so(xpl: XplCli) -> None:
    line = xpl.fails(
        "tx", "transfer", "--from", "//Bob", "--to", "//Charlie", "--amount", "1XPL",
        "--rpc", "http://127.0.0.1:9",
    )  # fmt: skip
    assert "cannot reach the node" in line


# query


@pytest.mark.timeout(60)
def test_query_balance_json_matches_the_node(
    xpl: XplCli, dev_node: NodeProcess, client: XplClient
) -> None:
    address = encode_address(ALICE.public)
    finalized = client.finalized_hash()
    result = xpl.run("query", "balance", address, "--at", to_hex(finalized), "--json",
                     "--rpc", dev_node.url)  # fmt: skip
    assert result.returncode == 0, result.stderr
    answer = json_line(result.stdout)
    account = client.account(ALICE.public, at=finalized)
    assert answer == {
        "address": address,
        "free": format_amount(account.free),
        "reserved": format_amount(account.reserved),
        "total": format_amount(account.total),
        "nonce": account.nonce,
    }


@pytest.mark.timeout(60)
def test_query_balance_with_proof_checks_it_against_the_state_root(
    xpl: XplCli, dev_node: NodeProcess, client: XplClient
) -> None:
    address = encode_address(BOB.public)
    finalized = client.finalized_hash()
    result = xpl.run("query", "balance", "//Bob", "--proof", "--at", to_hex(finalized),
                     "--json", "--rpc", dev_node.url)  # fmt: skip
    assert result.returncode == 0, result.stderr
    answer = json_line(result.stdout)
    header = client.header(finalized)
    account = client.account(BOB.public, at=finalized)
    assert answer["address"] == address
    assert parse_amount(answer["free"]) == account.free
    assert answer["nonce"] == account.nonce
    number = int(header["number"], 16)
    assert answer["proven"] == f"against the state root of block #{number} {header['stateRoot']}"

    # Without --at it proves against the finalized head at that moment.
    latest = xpl.run("query", "balance", address, "--proof", "--json", "--rpc", dev_node.url)
    assert latest.returncode == 0, latest.stderr
    assert json_line(latest.stdout)["proven"].startswith("against the state root of block #")


@pytest.mark.timeout(60)
def test_query_head_json_names_best_and_finalized(
    xpl: XplCli, dev_node: NodeProcess, client: XplClient
) -> None:
    result = xpl.run("query", "head", "--json", "--rpc", dev_node.url)
    assert result.returncode == 0, result.stderr
    head = json_line(result.stdout)
    assert set(head) == {"best", "bestHash", "finalized", "finalizedHash"}
    assert 1 <= head["finalized"] <= head["best"]
    assert client.block_hash(head["best"]) == from_hex(head["bestHash"], length=32)
    assert client.block_hash(head["finalized"]) == from_hex(head["finalizedHash"], length=32)
    assert client.best_number() >= head["best"]


# benchmark and demo


@pytest.mark.timeout(120)
def test_benchmark_import_prints_positive_figures(xpl: XplCli) -> None:
    result = xpl.run(
        "benchmark", "import", "--txs", "300", "--accounts", "50", "--json", timeout=100
    )
    assert result.returncode == 0, result.stderr
    figures = json_line(result.stdout)
    assert figures["txs"] == 300
    assert figures["accounts"] == 50
    for name in ("transfers_per_s", "verify_per_s", "ratio", "transfers_per_cpu_s", "cpu_ratio"):
        assert isinstance(figures[name], int | float) and figures[name] > 0, (name, figures)


@pytest.fixture(scope="module")
def demo_kernels_cached() -> None:
    """The CPU kernels the demo's processes run, compiled into Numba's cache (or loaded from it)
    here first, by what those processes run before their first job: the device self-test of
    every validator and the warm-up of the worker's workloads. From a cold cache (a fresh
    checkout) the three validators each compiled the same kernels at once at their first audit
    (about 20 s of CPU each), and the worker, compiling under that load, could miss the demo's
    60 s to register; now they load what this compiled once."""
    assert select_device("cpu") == "cpu"
    for workload in (ask.split("=")[0] for ask in ASKS):
        warm_up(workload, "cpu")


@pytest.mark.timeout(360)
@pytest.mark.usefixtures("demo_kernels_cached")
def test_demo_runs_a_network_transfers_governance_and_the_compute_market_end_to_end(
    xpl: XplCli,
) -> None:
    result = xpl.run("demo", env={"COLUMNS": "200"}, timeout=350)
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    # Three validators, each connected to the other two, finalizing.
    for name in ("alice", "bob", "charlie"):
        assert re.search(rf"│ {name}\s+│ http://127\.0\.0\.1:\d+\s+│ \d+\s+│ 2 ", out), out
    assert "Transfers (each followed to finality)" in out
    for sender, receiver in (("Dave", "Eve"), ("Eve", "Ferdie"), ("Eve", "Dave")):
        assert re.search(rf"│ {sender}\s+│ {receiver}\s+│", out), out
    assert out.count("success") == 3
    assert "failed: balances.InsufficientBalance" in out
    # Governance: a root referendum through its states to its enactment; a treasury spend paid.
    root = "referendum 0 (root: audit 65% → 80% of jobs): "
    for state in ("submitted", "deciding", "confirming", "approved"):
        assert root + state in out, out
    # (a long line wraps at the demo's 110 columns: [^#] reaches across it, not past the next block)
    assert re.search(r"referendum 0 enacted: compute\.set_params dispatched[^#]* done", out), out
    assert "compute's audit probability is now 80%" in out, out
    assert re.search(r"referendum 1 enacted: treasury\.spend dispatched[^#]* done", out), out
    assert "//Builder 0XPL → 250XPL (+250XPL)" in out, out
    # The market: both honest jobs audited by the three validators (each commits to its
    # recomputed leaf hashes, then reveals them), passed and settled; the digits model's accuracy.
    for validator in ("Alice", "Bob", "Charlie"):
        assert out.count(f"{validator} commits to its leaf hashes") >= 2, out
        assert out.count(f"{validator} reveals") >= 2, out
    assert out.count("the worker responds") >= 2, out
    assert out.count("audit decided: pass") == 2, out
    assert out.count("settled: worker paid") == 2, out
    assert out.count("Freivalds check passed") == 1 and "Freivalds check: passed" in out, out
    accuracy = re.search(r"int8 on the worker (\d+\.\d+)%, float model (\d+\.\d+)%", out)
    assert accuracy is not None, out
    assert (
        float(accuracy.group(1)) > 90
        and abs(float(accuracy.group(1)) - float(accuracy.group(2))) <= 2
    )
    # The cheater: caught by the audit and slashed.
    assert "audit decided: fail" in out and "failed: worker slashed" in out, out
    assert "caught: the audit recomputed" in out, out
    assert "every node stopped cleanly" in out
    assert "Traceback" not in out + result.stderr


@pytest.mark.parametrize(
    ("flag", "value", "words"),
    [
        ("--reserved-nodes", "not-a-peer-id", "--reserved-nodes: peer id 'not-a-peer-id'"),
        ("--bootnodes", "/ip4/127.0.0.1/tcp/30333", "--bootnodes: peer address"),
    ],
)
def test_node_refuses_a_malformed_peer_id_or_address(
    xpl: XplCli, tmp_path: Path, flag: str, value: str, words: str
) -> None:
    base = tmp_path / "base"
    line = xpl.fails("node", "--dev", "--base-path", str(base), "--rpc-port", "0", flag, value)
    assert words in line
