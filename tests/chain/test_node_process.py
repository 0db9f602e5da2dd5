"""A real `xpl node --dev` process, driven through JSON-RPC and Prometheus as a user drives it.

Transfers and their fees, nonces for back-to-back submissions, the subscriptions, the pool,
storage reads and proofs, metrics, and a restart on the same base path.
"""

from __future__ import annotations

import itertools
import re
from typing import TYPE_CHECKING, Any

import pytest

from chain.client.chain import TxOutcome, XplClient, transfer_call
from chain.client.rpc import RpcClientError, SubscriptionClosedError
from chain.service.rpc.errors import STATE_PRUNED
from runtime.accounts import TREASURY
from runtime.pallets import system
from runtime.pallets.transaction_payment import AUTHOR_FEE_PERCENT
from runtime.primitives import trie
from runtime.primitives.address import encode_address
from runtime.primitives.amount import parse_amount
from runtime.primitives.hashing import from_hex, to_hex
from runtime.primitives.keys import Keypair, dev_keypair

if TYPE_CHECKING:
    from tests.chain.conftest import NodeFactory, NodeProcess, Waiter

ALICE, BOB, CHARLIE, DAVE, EVE, FERDIE = (
    dev_keypair(n) for n in ("Alice", "Bob", "Charlie", "Dave", "Eve", "Ferdie")
)


@pytest.fixture(scope="module")
def client(dev_node: NodeProcess) -> XplClient:
    return dev_node.client()


def free_at(client: XplClient, who: bytes, block_hash: bytes) -> int:
    return client.account(who, at=block_hash).free


def parent_of(client: XplClient, block_hash: bytes) -> bytes:
    return from_hex(client.header(block_hash)["parentHash"], length=32)


def events_named(outcome: TxOutcome, pallet: str, event: str) -> list[dict[str, Any]]:
    return [e for e in outcome.events if e["pallet"] == pallet and e["event"] == event]


def fee_paid(outcome: TxOutcome) -> int:
    """The fee, tip included, from the transaction's TransactionFeePaid event."""
    (paid,) = events_named(outcome, "transaction_payment", "TransactionFeePaid")
    return int(paid["data"]["actual_fee"])


def find_in_chain(client: XplClient, raw_hex: str, first: int, last: int) -> tuple[bytes, int]:
    """The block hash and index of an extrinsic in blocks first..last of the best chain."""
    for number in range(first, last + 1):
        block_hash = client.block_hash(number)
        assert block_hash is not None
        extrinsics = client.block(block_hash)["block"]["extrinsics"]
        if raw_hex in extrinsics:
            return block_hash, extrinsics.index(raw_hex)
    raise AssertionError(f"extrinsic not found in blocks #{first}..#{last}")


# Transfers


@pytest.mark.timeout(60)
def test_transfer_finalizes_and_moves_exactly_amount_plus_fee(client: XplClient) -> None:
    amount = parse_amount("12.5XPL")
    nonce_before = client.next_nonce(BOB.public)
    tx = client.sign(BOB, transfer_call(CHARLIE.public, amount))

    outcome = client.submit_and_watch(tx, until="finalized", timeout=30)

    assert outcome.finalized and outcome.success and outcome.error is None
    fee = fee_paid(outcome)
    assert fee == outcome.fee > 0
    (transfer,) = events_named(outcome, "balances", "Transfer")
    assert int(transfer["data"]["amount"]) == amount
    block, parent = outcome.block_hash, parent_of(client, outcome.block_hash)
    assert free_at(client, BOB.public, parent) - free_at(client, BOB.public, block) == amount + fee
    assert (
        free_at(client, CHARLIE.public, block) - free_at(client, CHARLIE.public, parent) == amount
    )
    assert client.account(BOB.public, at=block).nonce == nonce_before + 1
    # The fee is not lost: it is paid out to the author (Alice) and the treasury in the block.
    gained = sum(
        free_at(client, who, block) - free_at(client, who, parent)
        for who in (ALICE.public, TREASURY)
    )
    assert gained == fee
    assert free_at(client, ALICE.public, block) - free_at(client, ALICE.public, parent) == (
        fee * AUTHOR_FEE_PERCENT // 100
    )
    assert client.finalized_number() >= outcome.block_number


@pytest.mark.timeout(60)
def test_back_to_back_transfers_from_one_account_all_land(
    client: XplClient, wait_until: Waiter
) -> None:
    first_nonce = client.next_nonce(DAVE.public)
    start = client.best_number()
    receivers = [Keypair.generate().public for _ in range(6)]
    amounts = [parse_amount(f"{i + 1}XPL") for i in range(len(receivers))]
    nonces, txs = [], []
    for receiver, amount in zip(receivers, amounts, strict=True):
        nonce = client.next_nonce(DAVE.public)  # counts Dave's transactions already pooled
        tx = client.sign(DAVE, transfer_call(receiver, amount), nonce=nonce)
        assert client.submit(tx) == tx.hash
        nonces.append(nonce)
        txs.append(tx)
    assert nonces == list(range(first_nonce, first_nonce + len(txs)))

    final_nonce = first_nonce + len(txs)
    finalized = wait_until(
        lambda: (
            h
            if client.account(DAVE.public, at=(h := client.finalized_hash())).nonce == final_nonce
            else None
        ),
        timeout=20,
        what="all of Dave's transfers to be finalized",
    )
    last = int(client.header(finalized)["number"], 16)
    for tx, receiver, amount in zip(txs, receivers, amounts, strict=True):
        block_hash, index = find_in_chain(client, to_hex(tx.raw), start, last)
        events = [e for e in client.events(block_hash) if e["phase"] == index]
        assert any(e["event"] == "ExtrinsicSuccess" for e in events), events
        assert client.account(receiver, at=finalized).free == amount
    assert client.next_nonce(DAVE.public) == final_nonce


@pytest.mark.timeout(60)
def test_query_info_matches_the_fee_actually_paid(client: XplClient) -> None:
    tip = parse_amount("0.5XPL")
    tx = client.sign(EVE, transfer_call(FERDIE.public, parse_amount("1XPL")), tip=tip)
    info = client.rpc.call("payment_queryInfo", to_hex(tx.raw))
    assert info["class"] == "normal" and info["weight"] > 0
    assert client.query_fee(tx) == int(info["partialFee"]) > 0

    outcome = client.submit_and_watch(tx, until="finalized", timeout=30)

    (paid,) = events_named(outcome, "transaction_payment", "TransactionFeePaid")
    assert int(paid["data"]["tip"]) == tip
    assert int(paid["data"]["actual_fee"]) == int(info["partialFee"]) + tip


# Subscriptions


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    ("method", "unsubscribe"),
    [
        ("chain_subscribeNewHeads", "chain_unsubscribeNewHeads"),
        ("chain_subscribeFinalizedHeads", "chain_unsubscribeFinalizedHeads"),
    ],
)
def test_head_subscriptions_deliver_consecutive_headers(
    client: XplClient, method: str, unsubscribe: str
) -> None:
    with client.rpc.subscribe(method, [], unsubscribe) as subscription:
        headers = [subscription.next(timeout=10) for _ in range(3)]
    numbers = [int(h["number"], 16) for h in headers]
    assert numbers == list(range(numbers[0], numbers[0] + 3))
    for parent, child in itertools.pairwise(headers):
        assert child["parentHash"] == parent["hash"]
    for header in headers:
        assert client.block_hash(int(header["number"], 16)) == from_hex(header["hash"])
        assert client.header(from_hex(header["hash"])) == header
    assert client.finalized_number() >= numbers[-1]


@pytest.mark.timeout(60)
def test_submit_and_watch_reports_ready_then_in_block_then_finalized(client: XplClient) -> None:
    tx = client.sign(CHARLIE, transfer_call(BOB.public, parse_amount("0.25XPL")))
    statuses: list[Any] = []
    with client.watch(tx) as subscription:
        while True:
            try:
                statuses.append(subscription.next(timeout=15))
            except SubscriptionClosedError:
                break
    assert len(statuses) == 3, statuses
    ready, in_block, finalized = statuses
    assert ready == "ready"
    assert set(in_block) == {"inBlock"} and set(finalized) == {"finalized"}
    assert in_block["inBlock"] == finalized["finalized"]
    block = client.block(from_hex(in_block["inBlock"], length=32))
    assert to_hex(tx.raw) in block["block"]["extrinsics"]


@pytest.mark.timeout(60)
def test_watched_transaction_replaced_by_a_higher_tip_is_reported_usurped(
    client: XplClient, wait_until: Waiter
) -> None:
    nonce = client.next_nonce(EVE.public)
    call = transfer_call(FERDIE.public, parse_amount("1XPL"))
    waiting = client.sign(EVE, call, nonce=nonce + 1)  # a gap before it: it stays pooled
    with client.watch(waiting) as subscription:
        assert subscription.next(timeout=10) == "future"
        client.submit(client.sign(EVE, call, nonce=nonce + 1, tip=parse_amount("0.001XPL")))
        assert set(subscription.next(timeout=10)) == {"usurped"}
        with pytest.raises(SubscriptionClosedError):
            subscription.next(timeout=10)
    client.submit(client.sign(EVE, call, nonce=nonce))
    wait_until(
        lambda: True if client.account(EVE.public).nonce == nonce + 2 else None,
        timeout=20,
        what="the gap to fill and both of Eve's transfers to be included",
    )


@pytest.mark.timeout(60)
def test_pending_extrinsics_lists_waiting_transactions(
    client: XplClient, wait_until: Waiter
) -> None:
    nonce = client.next_nonce(FERDIE.public)
    later = client.sign(FERDIE, transfer_call(EVE.public, parse_amount("1XPL")), nonce=nonce + 1)
    client.submit(later)
    # Nonce `nonce` is missing, so `later` waits in the pool, block after block.
    start = client.best_number()
    wait_until(
        lambda: True if client.best_number() > start else None, timeout=10, what="a new block"
    )
    assert to_hex(later.raw) in client.rpc.call("author_pendingExtrinsics")
    assert client.next_nonce(FERDIE.public) == nonce

    first = client.sign(FERDIE, transfer_call(EVE.public, parse_amount("1XPL")), nonce=nonce)
    client.submit(first)
    pending = client.rpc.call("author_pendingExtrinsics")
    assert set(pending) <= {to_hex(first.raw), to_hex(later.raw)}  # those two, if not yet taken

    wait_until(
        lambda: True if client.account(FERDIE.public).nonce == nonce + 2 else None,
        timeout=20,
        what="both of Ferdie's transfers to be included",
    )
    pending = client.rpc.call("author_pendingExtrinsics")
    assert to_hex(first.raw) not in pending and to_hex(later.raw) not in pending


# State


@pytest.mark.timeout(60)
def test_storage_and_read_proof_check_out_against_the_state_root(client: XplClient) -> None:
    block_hash = client.finalized_hash()
    header = client.header(block_hash)
    state_root = from_hex(header["stateRoot"], length=32)
    key = system.Account.key(BOB.public)
    absent = system.Account.key(Keypair.generate().public)

    raw = client.rpc.call("state_getStorage", to_hex(key), to_hex(block_hash))
    assert raw is not None
    info = system.Account.decode(from_hex(raw))
    account = client.account(BOB.public, at=block_hash)
    assert (info.nonce, info.free) == (account.nonce, account.free)
    assert client.rpc.call("state_getStorage", to_hex(absent), to_hex(block_hash)) is None

    answer = client.rpc.call(
        "state_getReadProof", [to_hex(key), to_hex(absent)], to_hex(block_hash)
    )
    assert answer["at"] == to_hex(block_hash)
    proof = [from_hex(node) for node in answer["proof"]]
    proven = trie.verify_proof(state_root, proof, [key, absent])
    assert proven == {key: from_hex(raw), absent: None}
    # The same proof does not check out against another block's root.
    other_root = from_hex(client.header(parent_of(client, block_hash))["stateRoot"], length=32)
    if other_root != state_root:
        with pytest.raises(trie.InvalidProof):
            trie.verify_proof(other_root, proof, [key, absent])


@pytest.mark.timeout(60)
def test_pruned_node_reports_old_states_as_pruned(node_factory: NodeFactory) -> None:
    node = node_factory.start(args=("--dev", "--pruning", "1"))
    node.wait_finalized(3)
    client = node.client()
    first = client.block_hash(1)
    assert first is not None
    old = to_hex(first)
    key = to_hex(system.Account.key(BOB.public))
    for method, params in (
        ("balances_account", [encode_address(BOB.public), old]),
        ("chain_getEvents", [old]),
        ("state_getStorage", [key, old]),
        ("state_getReadProof", [[key], old]),
    ):
        with pytest.raises(RpcClientError) as caught:
            client.rpc.call(method, *params)
        assert caught.value.code == STATE_PRUNED, (method, caught.value)
        assert "pruned" in caught.value.message
    assert client.account(BOB.public, at=client.finalized_hash()).free > 0


@pytest.mark.timeout(60)
def test_archive_node_serves_the_state_of_every_block(node_factory: NodeFactory) -> None:
    """Regression: an archive store once deleted the trie nodes each finalized block replaced,
    keeping only the latest state (older reads failed with -32603 Internal error)."""
    node = node_factory.start(args=("--dev", "--pruning", "archive"))
    last = node.wait_finalized(3)
    client = node.client()
    for number in range(last + 1):
        block_hash = client.block_hash(number)
        assert block_hash is not None
        assert client.account(BOB.public, at=block_hash).free > 0
        client.events(block_hash)


@pytest.mark.timeout(60)
def test_state_pruned_by_an_earlier_run_is_reported_as_pruned(node_factory: NodeFactory) -> None:
    node = node_factory.start(args=("--dev", "--pruning", "1"))
    node.wait_finalized(3)
    assert node.stop() == 0
    node.args = ("--dev",)  # the default window, 256 states
    node.start()
    client = node.client()
    with pytest.raises(RpcClientError) as caught:
        client.account(BOB.public, at=client.block_hash(1))
    assert caught.value.code == STATE_PRUNED, caught.value


# Metrics


def block_heights(metrics: str) -> dict[str, float]:
    found = dict(re.findall(r'^xpl_block_height\{status="(\w+)"\} (\S+)$', metrics, re.MULTILINE))
    return {status: float(value) for status, value in found.items()}


@pytest.mark.timeout(60)
def test_metrics_show_best_and_finalized_heights_rising(
    dev_node: NodeProcess, client: XplClient, wait_until: Waiter
) -> None:
    first = block_heights(dev_node.metrics())
    assert set(first) >= {"best", "finalized"}
    assert 1 <= first["finalized"] <= first["best"]
    later = wait_until(
        lambda: (
            h if (h := block_heights(dev_node.metrics()))["finalized"] > first["best"] else None
        ),
        timeout=15,
        what="the finalized height metric to rise",
    )
    assert later["best"] > first["best"]
    assert later["finalized"] <= later["best"]
    assert client.finalized_number() >= later["finalized"]


@pytest.mark.timeout(60)
def test_the_test_node_checks_every_invariant_after_each_block(
    dev_node: NodeProcess, client: XplClient
) -> None:
    assert "--check-invariants" in dev_node.command()
    dev_node.wait_finalized(client.best_number() + 2)
    assert dev_node.running
    assert "invariants broken" not in dev_node.log_text()


# Restart


@pytest.mark.timeout(90)
def test_restart_on_the_same_base_path_resumes_where_it_stopped(
    node_factory: NodeFactory, wait_until: Waiter
) -> None:
    node = node_factory.start()
    client = node.client()
    outcome = client.submit_and_watch(
        client.sign(BOB, transfer_call(CHARLIE.public, parse_amount("3XPL"))), timeout=30
    )
    assert outcome.success
    watched = (ALICE.public, BOB.public, CHARLIE.public, TREASURY)
    known = node.wait_finalized(outcome.block_number + 1)
    history = {n: client.block_hash(n) for n in range(known + 1)}
    balances = {who: client.account(who) for who in watched}

    assert node.stop() == 0
    assert "database closed" in node.log_tail(5)
    best, finalized = node.heads_on_disk()
    assert best.number >= known and finalized.hash == best.hash

    node.start()
    client = node.client()
    assert {n: client.block_hash(n) for n in range(known + 1)} == history
    assert client.block_hash(best.number) == best.hash
    assert client.finalized_number() >= finalized.number
    for who, before in balances.items():
        assert client.account(who, at=best.hash) == before
    # It keeps authoring on top of where it stopped, and finalizing.
    node.wait_finalized(best.number + 2)
    following = client.header(client.block_hash(best.number + 1))
    assert following["parentHash"] == to_hex(best.hash)
    assert following["digest"]["slot"] > best.digest.slot
    # chain_getHeader shows the author's VRF output and proof (32 and 80 bytes, hex).
    assert len(following["digest"]["vrfOutput"]) == 2 + 2 * 32
    assert len(following["digest"]["vrfProof"]) == 2 + 2 * 80
    for who, before in balances.items():
        assert client.account(who) == before  # no transaction since, no fee, nothing moved
    assert client.next_nonce(BOB.public) == balances[BOB.public].nonce
