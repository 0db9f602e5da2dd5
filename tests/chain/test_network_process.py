"""Real validator processes on 127.0.0.1, talking libp2p: finality, transactions on every node,
crashes and restarts, finality with one and two of four down, a fresh node syncing from genesis,
and a 2|2 partition that heals. Every process is stopped at the end, whatever the test did."""

from __future__ import annotations

import os
import re
import signal
import subprocess
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest

from chain.client.chain import XplClient, transfer_call
from chain.client.rpc import RpcClientError
from chain.core.finality import Justification
from chain.localnet import XPL_COMMAND, Localnet, LocalnetNode
from chain.localnet import wait_until as poll
from runtime.primitives.address import encode_address
from runtime.primitives.hashing import from_hex
from runtime.primitives.keys import Keypair, keypair_from_suri

XPL = 10**12


def finalized_voters(node: LocalnetNode) -> set[bytes]:
    with node.client(timeout=5.0) as client:
        head = client.finalized_hash()
        raw = client.block(head)["justifications"]
    if not raw:
        return set()
    return set(Justification.decode(from_hex(raw[0])).voters)


def author_blocks(nodes: Sequence[LocalnetNode], count: int, *, timeout: float = 40) -> None:
    """Wait until the best block of each of `nodes` is `count` past where it is now: the chain
    is live, so finality had blocks to finalize meanwhile."""
    marks = {node.name: node.best_number() for node in nodes}
    for node in nodes:
        poll(
            lambda n=node: True if n.best_number() >= marks[n.name] + count else None,
            timeout=timeout,
            what=f"{node.name} to import {count} more blocks",
        )


@pytest.fixture
def localnet(tmp_path: Path) -> Iterator[Callable[..., Localnet]]:
    started: list[Localnet] = []

    def make(*, equivocators: tuple[str, ...] = (), **kwargs: object) -> Localnet:
        net = Localnet(tmp_path / f"net{len(started)}", check_invariants=True, **kwargs)  # type: ignore[arg-type]
        for name in equivocators:
            net.node(name).extra_args = ("--test-equivocate",)
        started.append(net)
        net.start()
        return net

    yield make
    for net in started:
        codes = net.stop()
        assert all(code in (0, None, -9) for code in codes.values()), codes


@pytest.mark.timeout(240)
def test_validators_finalize_survive_crashes_and_a_fresh_node_syncs(localnet, tmp_path):
    net = localnet(validators=4, full_nodes=1)
    alice, bob, charlie, dave, full = net.nodes
    validators = [alice, bob, charlie, dave]
    net.stop_node(full.name)  # it joins later, from genesis
    net.wait_finalized(3, nodes=validators, timeout=60)

    # A transfer sent to one node is included and finalized on all.
    receiver = Keypair.generate().public
    with dave.client() as client:
        tx = client.sign(keypair_from_suri("//Eve"), transfer_call(receiver, 3 * XPL))
        outcome = client.submit_and_watch(tx, until="finalized", timeout=60)
    assert outcome.finalized and outcome.success
    for node in validators:
        poll(
            lambda n=node: True if n.finalized_number() >= outcome.block_number else None,
            timeout=30,
            what=f"{node.name} to finalize the transfer",
        )
        with node.client() as client:
            assert client.account(receiver, at=client.finalized_hash()).free == 3 * XPL

    # One of four down (SIGKILL): finality goes on.
    net.kill("bob")
    mark = alice.finalized_number()
    net.wait_finalized(mark + 5, nodes=[alice, charlie, dave], timeout=45)

    # Two of four down: blocks go on (Alice and Dave author in their slots), finality stops.
    # (tests/sim asserts the same stall over many more slots.)
    net.kill("charlie")
    author_blocks([alice, dave], 2)  # a round in flight lands meanwhile, if one was
    stalled = max(n.finalized_number() for n in (alice, dave))
    author_blocks([alice, dave], 3)
    assert max(n.finalized_number() for n in (alice, dave)) == stalled

    # One comes back: finality resumes past the stall; then the other, which catches up and
    # takes part in finality again.
    net.restart("charlie")
    net.wait_finalized(stalled + 6, nodes=[alice, charlie, dave], timeout=60)
    net.restart("bob")
    target = alice.best_number() + 2
    net.wait_finalized(target, nodes=[bob], timeout=60)
    poll(
        lambda: (
            True
            if keypair_from_suri("//Bob").public in finalized_voters(alice) | finalized_voters(dave)
            else None
        ),
        timeout=45,
        what="Bob's precommits in a justification",
        interval=0.5,
    )

    # A fresh full node syncs from genesis to the finalized head, with the same state root.
    net.restart(full.name)
    head = alice.finalized_number()
    net.wait_finalized(head, nodes=[full], timeout=90)
    with full.client() as a, alice.client() as b:
        block_hash = a.block_hash(head)
        assert block_hash == b.block_hash(head)
        assert a.header(block_hash)["stateRoot"] == b.header(block_hash)["stateRoot"]
        health = a.health()
        assert health["peers"] >= 3 and health["shouldHavePeers"]
        peers = a.rpc.call("system_peers")
        assert {p["peerId"] for p in peers} >= {alice.peer_id, dave.peer_id}
        state = b.rpc.call("grandpa_roundState")
        assert state["setId"] == 0 and state["round"] >= 1


@pytest.mark.timeout(180)
def test_a_two_two_partition_stalls_finality_without_conflict_and_heals(localnet):
    net = localnet(validators=4, node_args=("--test-rpc",))
    alice, bob, charlie, dave = net.nodes
    net.wait_finalized(3, timeout=60)

    def block(nodes: list[LocalnetNode], others: list[LocalnetNode]) -> None:
        for node in nodes:
            with node.client() as client:
                client.rpc.call("test_setBlockedPeers", [o.peer_id for o in others])

    block([alice, bob], [charlie, dave])
    block([charlie, dave], [alice, bob])
    poll(
        lambda: True if all(_peer_count(n) <= 1 for n in net.nodes) else None,
        timeout=20,
        what="the partition",
    )
    # Each side authors in its own slots; finality, which needs three of four, stops.
    author_blocks([alice, charlie], 2)  # a round in flight lands meanwhile, if one was
    stalled = max(n.finalized_number() for n in net.nodes)
    author_blocks([alice, charlie], 3)
    assert max(n.finalized_number() for n in net.nodes) == stalled
    with alice.client() as a, charlie.client() as c:
        assert a.header()["hash"] != c.header()["hash"]  # each side builds its own fork

    block(net.nodes, [])
    net.wait_finalized(stalled + 5, timeout=60)
    # No two nodes finalized different blocks at any height.
    head = min(n.finalized_number() for n in net.nodes)
    clients = [n.client() for n in net.nodes]
    try:
        for number in range(1, head + 1):
            assert len({c.block_hash(number) for c in clients}) == 1, f"#{number}"
    finally:
        for c in clients:
            c.close()


def _peer_count(node: LocalnetNode) -> int:
    with node.client() as client:
        return int(client.health()["peers"])


def test_test_rpc_is_off_unless_asked_for(localnet):
    net = localnet(validators=1)
    with net.nodes[0].client() as client, pytest.raises(RpcClientError, match="not found"):
        client.rpc.call("test_setBlockedPeers", [])
    assert isinstance(XplClient, type)


@pytest.mark.timeout(180)
def test_a_validator_that_equivocates_is_reported_slashed_and_disabled(localnet):
    built = localnet(validators=4, equivocators=("dave",))
    alice = built.nodes[0]
    dave_key = keypair_from_suri("//Dave").public
    with alice.client() as client:
        bond_before = client.staking_ledger(dave_key)
    assert bond_before is not None

    def punished() -> bool | None:
        with alice.client() as client:
            validators = client.staking_validators()
            ledger = client.staking_ledger(dave_key)
        entry = next(
            (v for v in validators["active"] if v["stash"] == encode_address(dave_key)), None
        )
        disabled = entry is None or entry["disabled"]
        chilled = all(c["stash"] != encode_address(dave_key) for c in validators["candidates"])
        slashed = ledger is not None and ledger.active < bond_before.active
        return True if disabled and chilled and slashed else None

    poll(punished, timeout=60, what="Dave to be reported, slashed, disabled and chilled")
    # Its blocks are refused from now on, and finality goes on without it.
    mark = alice.finalized_number()
    built.wait_finalized(mark + 4, nodes=[alice], timeout=45)
    assert "equivocated" in alice.log_path.read_text() or "equivocated" in (
        built.node("bob").log_path.read_text()
    )


@pytest.mark.timeout(120)
def test_xpl_localnet_prints_its_nodes_and_stops_them_all_on_ctrl_c(tmp_path):
    base = tmp_path / "net"
    process = subprocess.Popen(
        [*XPL_COMMAND, "localnet", "--validators", "2", "--base-path", str(base)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert process.stdout is not None
        lines = []
        for line in process.stdout:
            lines.append(line)
            if line.startswith("running"):
                break
        text = "".join(lines)
        urls = re.findall(r"^(?:alice|bob)\s+(http://127\.0\.0\.1:\d+)", text, re.M)
        assert len(urls) == 2, text
        assert (base / "alice" / "node.log").exists() and "p2p /ip4/127.0.0.1/tcp/" in text
        for url in urls:
            with XplClient(url, timeout=5.0) as client:
                poll(
                    lambda c=client: True if c.finalized_number() >= 2 else None,
                    timeout=40,
                    what=f"{url} to finalize",
                )
                assert client.health()["peers"] == 1
        process.send_signal(signal.SIGINT)
        rest = process.stdout.read()  # the same reader as the lines above, until the exit
        process.wait(timeout=40)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, rest
    assert re.search(r"stopped: alice \(0\), bob \(0\)", rest), rest
    # The folder is kept (it was given), so the same network can be started again.
    assert (base / "spec.json").exists()
