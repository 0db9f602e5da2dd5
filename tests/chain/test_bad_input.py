"""Bad input to a running node and to the `xpl` command: each gets a clear error, and nothing is
lost. After every bad request the node must still answer, finalize new blocks, and hold the same
balances (and the same total issuance) as before, except for fees that a rule says are paid.

CLI errors must be one line starting with `error:`, with a nonzero exit code and no traceback.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from nacl.pwhash import argon2id
from websockets.sync.client import connect

from chain.client.chain import XplClient, transfer_call
from chain.client.rpc import RpcClientError
from chain.keystore import write_key_file
from chain.service.rpc.errors import (
    INVALID_PARAMS,
    INVALID_REQUEST,
    METHOD_NOT_FOUND,
    OVERSIZED_REQUEST,
    PARSE_ERROR,
    TRANSACTION_INVALID,
)
from chain.spec import dev_spec
from runtime.accounts import TREASURY
from runtime.pallets.balances import TotalIssuance
from runtime.pallets.transaction_payment import AUTHOR_FEE_PERCENT
from runtime.primitives.address import encode_address
from runtime.primitives.amount import parse_amount
from runtime.primitives.hashing import from_hex, to_hex
from runtime.primitives.keys import Keypair, dev_keypair
from runtime.transaction import MAX_TX_SIZE, Call, sign_transaction

if TYPE_CHECKING:
    from tests.chain.conftest import NodeFactory, NodeProcess, Waiter, XplCli

pytestmark = pytest.mark.timeout(60)

ALICE, BOB, CHARLIE, DAVE, EVE, FERDIE = (
    dev_keypair(n) for n in ("Alice", "Bob", "Charlie", "Dave", "Eve", "Ferdie")
)
# Accounts that no test here moves money from or to without accounting for it.
BYSTANDERS = (BOB.public, CHARLIE.public, DAVE.public, EVE.public, FERDIE.public, TREASURY)
PASSWORD = "correct horse battery staple"
MISTYPED = encode_address(BOB.public)[:-1] + ("X" if encode_address(BOB.public)[-1] != "X" else "Y")
OTHER_NETWORK = encode_address(BOB.public, prefix=42)


@pytest.fixture(scope="module")
def client(dev_node: NodeProcess) -> XplClient:
    return dev_node.client()


class NothingLost:
    """A snapshot taken before bad input; `check` afterwards asserts the node took no harm."""

    def __init__(self, client: XplClient, wait_until: Waiter) -> None:
        self.client = client
        self.wait_until = wait_until
        self.finalized = client.finalized_number()
        self.balances = self._balances(client.finalized_hash())
        self.issuance = self._issuance(client.finalized_hash())

    def _balances(self, at: bytes) -> dict[bytes, int]:
        return {who: self.client.account(who, at=at).free for who in BYSTANDERS}

    def _issuance(self, at: bytes) -> int:
        raw = self.client.rpc.call("state_getStorage", to_hex(TotalIssuance.key), to_hex(at))
        return TotalIssuance.decode(from_hex(raw))

    def check(self, *, paid: dict[bytes, int] | None = None, wait: bool = True) -> None:
        """The node answers and keeps finalizing; balances moved only by `paid` (spent).

        With `wait`, a block finalized after the bad input is waited for; without, the finalized
        head must be recent (a node that stopped authoring fails the next check).
        """
        assert self.client.health() == {"peers": 0, "isSyncing": False, "shouldHavePeers": False}
        if wait:
            self.wait_until(
                lambda: True if self.client.finalized_number() > self.finalized else None,
                timeout=15,
                what="a new finalized block after the bad input",
            )
        final = self.client.finalized_hash()
        age_ms = time.time() * 1000 - self.client.header(final)["timestamp"]
        assert age_ms < MAX_FINALIZED_AGE_MS, f"the finalized head is {age_ms:.0f} ms old"
        expected = dict(self.balances)
        for who, amount in (paid or {}).items():
            expected[who] -= amount
        actual = self._balances(final)
        if paid:  # fees paid go to the treasury (80%); that is accounted for elsewhere
            actual[TREASURY] = expected[TREASURY] = 0
        assert actual == expected
        assert self._issuance(final) == self.issuance + self._era_rewards_until(final)

    def _era_rewards_until(self, final: bytes) -> int:
        """What the ends of eras minted since the snapshot (the one way issuance may grow)."""
        minted = 0
        last = int(self.client.header(final)["number"], 16)
        for number in range(self.finalized + 1, last + 1):
            block_hash = self.client.block_hash(number)
            assert block_hash is not None
            for event in self.client.events(block_hash):
                if (event["pallet"], event["event"]) == ("staking", "EraPaid"):
                    minted += int(event["data"]["minted"])
        return minted


@pytest.fixture
def nothing_lost(client: XplClient, wait_until: Waiter) -> NothingLost:
    return NothingLost(client, wait_until)


def post(node: NodeProcess, body: bytes) -> httpx.Response:
    return httpx.post(
        node.url,
        content=body,
        headers={"content-type": "application/json"},
        timeout=30,
        trust_env=False,
    )


def rpc_error(node: NodeProcess, body: bytes) -> dict[str, Any]:
    response = post(node, body)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert "result" not in answer, answer
    error: dict[str, Any] = answer["error"]
    return error


def submit_error(client: XplClient, raw: bytes) -> RpcClientError:
    with pytest.raises(RpcClientError) as caught:
        client.rpc.call("author_submitExtrinsic", to_hex(raw))
    return caught.value


def request(method: str, params: object) -> bytes:
    return json.dumps({"jsonrpc": "2.0", "id": 7, "method": method, "params": params}).encode()


ZERO_HASH = "0x" + "00" * 32
MAX_FINALIZED_AGE_MS = 5_000
"""A dev node authors and finalizes a block every second (slot); allow for a slow machine."""

# ---------------------------------------------------------------------------------------------
# Malformed JSON-RPC


MALFORMED_REQUESTS = [
    pytest.param(b'{"jsonrpc":"2.0","id":1,"method":', PARSE_ERROR, "Parse error", id="cut"),
    pytest.param(b"\xff\xfe\x00garbage", PARSE_ERROR, "Parse error", id="binary"),
    pytest.param(b"[" * 100_000, PARSE_ERROR, "Parse error", id="deep-nesting"),
    pytest.param(
        b'{"jsonrpc":"2.0","id":1,"method":"x","params":[NaN]}',
        PARSE_ERROR,
        "NaN",
        id="nan",
    ),
    pytest.param(b"[]", INVALID_REQUEST, "empty batch", id="empty-batch"),
    pytest.param(b'"hello"', INVALID_REQUEST, "JSON object", id="not-an-object"),
    pytest.param(
        b'{"jsonrpc":"1.0","id":1,"method":"system_health"}',
        INVALID_REQUEST,
        "jsonrpc",
        id="wrong-version",
    ),
    pytest.param(
        request("chain_getHeader", "0x00"), INVALID_REQUEST, "params", id="params-not-a-list"
    ),
    pytest.param(
        request("chain_getHead", []), METHOD_NOT_FOUND, "chain_getHead", id="unknown-method"
    ),
    pytest.param(
        request("chain_subscribeNewHeads", []),
        METHOD_NOT_FOUND,
        "WebSocket",
        id="subscription-over-http",
    ),
]


@pytest.mark.parametrize(("body", "code", "words"), MALFORMED_REQUESTS)
def test_malformed_request_is_refused(
    dev_node: NodeProcess, nothing_lost: NothingLost, body: bytes, code: int, words: str
) -> None:
    error = rpc_error(dev_node, body)
    assert error["code"] == code
    assert words in error["message"]
    nothing_lost.check(wait=False)


WRONG_PARAMETERS = [
    pytest.param("chain_getHeader", [123], "hash", id="header-int-hash"),
    pytest.param("chain_getHeader", ["0x1234"], "32 bytes", id="header-short-hash"),
    pytest.param("chain_getHeader", [ZERO_HASH, ZERO_HASH], "at most 1", id="header-2-args"),
    pytest.param("chain_getBlockHash", ["abc"], "number", id="block-hash-text"),
    pytest.param("chain_getBlockHash", [-1], "block number", id="block-hash-negative"),
    pytest.param("chain_getBlockHash", [True], "block number", id="block-hash-bool"),
    pytest.param("system_accountNextIndex", [], "missing parameter", id="next-index-none"),
    pytest.param("system_accountNextIndex", [5], "address", id="next-index-int"),
    pytest.param("balances_account", [{"a": 1}], "address", id="account-object"),
    pytest.param("balances_account", [MISTYPED], "checksum", id="account-mistyped"),
    pytest.param("balances_account", [OTHER_NETWORK], "network", id="account-other-net"),
    pytest.param("balances_account", ["Alice"], "//Alice", id="account-bare-name"),
    pytest.param("state_getStorage", [7], "hex", id="storage-int-key"),
    pytest.param("state_getReadProof", ["0x00"], "list", id="proof-not-a-list"),
    pytest.param("author_submitExtrinsic", [], "missing parameter", id="submit-none"),
    pytest.param("author_submitExtrinsic", ["0x00", "0x00"], "at most 1", id="submit-2-args"),
    pytest.param("author_submitExtrinsic", ["beef"], "0x", id="submit-no-0x"),
    pytest.param("author_submitExtrinsic", ["0xabc"], "hex", id="submit-odd-hex"),
    pytest.param("payment_queryInfo", [None], "extrinsic", id="query-info-null"),
]


@pytest.mark.parametrize(("method", "params", "words"), WRONG_PARAMETERS)
def test_wrong_parameters_are_refused_with_invalid_params(
    dev_node: NodeProcess, nothing_lost: NothingLost, method: str, params: list[Any], words: str
) -> None:
    error = rpc_error(dev_node, request(method, params))
    assert error["code"] == INVALID_PARAMS, error
    assert error["message"].startswith("Invalid params")
    assert words in error["message"], error
    nothing_lost.check(wait=False)


def test_unknown_block_is_refused_with_its_code(
    client: XplClient, nothing_lost: NothingLost
) -> None:
    with pytest.raises(RpcClientError) as caught:
        client.rpc.call("balances_account", encode_address(BOB.public), ZERO_HASH)
    assert caught.value.code == -32012
    assert "Unknown block" in caught.value.message
    nothing_lost.check(wait=False)


def test_oversized_request_body_is_refused(
    dev_node: NodeProcess, nothing_lost: NothingLost
) -> None:
    body = request("system_health", ["x" * (16 * 1024 * 1024)])
    response = post(dev_node, body)
    assert response.status_code == 413
    error = response.json()["error"]
    assert error["code"] == OVERSIZED_REQUEST
    assert "too large" in error["message"]
    nothing_lost.check()


def test_malformed_websocket_message_is_answered_and_the_socket_stays_usable(
    dev_node: NodeProcess, nothing_lost: NothingLost
) -> None:
    ws_url = dev_node.url.replace("http://", "ws://") + "/"
    with connect(ws_url, proxy=None, open_timeout=10) as socket:
        socket.send('{"jsonrpc":"2.0","id":1,"method":')
        parse = json.loads(socket.recv(10))
        assert parse["error"]["code"] == PARSE_ERROR
        socket.send(request("author_submitAndWatchExtrinsic", ["0x00"]).decode())
        refused = json.loads(socket.recv(10))
        assert refused["error"]["code"] == TRANSACTION_INVALID
        assert "does not decode" in refused["error"]["message"]
        socket.send(request("chain_getHeader", []).decode())
        assert int(json.loads(socket.recv(10))["result"]["number"], 16) >= 1
    nothing_lost.check()


# ---------------------------------------------------------------------------------------------
# Bad extrinsics and transactions


def transfer_from(client: XplClient, sender: Keypair, amount: str, **kwargs: Any) -> Any:
    return client.sign(sender, transfer_call(ALICE.public, parse_amount(amount)), **kwargs)


UNDECODABLE = [
    pytest.param(lambda raw: b"\x00", id="one-byte"),
    pytest.param(lambda raw: os.urandom(200), id="random"),
    pytest.param(lambda raw: raw[:-7], id="truncated"),
    pytest.param(lambda raw: raw[: len(raw) // 2], id="halved"),
    pytest.param(lambda raw: raw + b"\x00", id="trailing-byte"),
    pytest.param(lambda raw: b"\x01" + raw[1:], id="not-an-array"),
]


@pytest.mark.parametrize("make_raw", UNDECODABLE)
def test_undecodable_extrinsic_is_refused(
    client: XplClient, nothing_lost: NothingLost, make_raw: Any
) -> None:
    raw = make_raw(transfer_from(client, BOB, "1XPL").raw)
    error = submit_error(client, raw)
    assert error.code == TRANSACTION_INVALID
    assert "does not decode" in error.message
    assert error.data == {"kind": "decode"}
    with pytest.raises(RpcClientError) as caught:
        client.rpc.call("payment_queryInfo", to_hex(raw))
    assert caught.value.code == TRANSACTION_INVALID
    nothing_lost.check(wait=False)


def values_of(cases: list[Any]) -> list[tuple[Any, ...]]:
    """The argument values of a list of pytest.param cases."""
    return [tuple(case.values) for case in cases]


def test_node_keeps_finalizing_after_every_malformed_request(
    dev_node: NodeProcess, client: XplClient, nothing_lost: NothingLost
) -> None:
    for body, *_ in values_of(MALFORMED_REQUESTS):
        assert "error" in post(dev_node, body).json()
    for method, params, _ in values_of(WRONG_PARAMETERS):
        assert "error" in post(dev_node, request(method, params)).json()
    raw = transfer_from(client, BOB, "1XPL").raw
    for (make_raw,) in values_of(UNDECODABLE):
        with pytest.raises(RpcClientError):
            client.rpc.call("author_submitExtrinsic", to_hex(make_raw(raw)))
    nothing_lost.check()


def test_oversized_extrinsic_is_refused(client: XplClient, nothing_lost: NothingLost) -> None:
    with pytest.raises(RpcClientError) as caught:
        client.rpc.call("author_submitExtrinsic", "0x" + "00" * (MAX_TX_SIZE + 1))
    assert caught.value.code == INVALID_PARAMS
    assert "over the limit" in caught.value.message
    nothing_lost.check()


def test_bad_signature_is_refused_and_then_banned(
    client: XplClient, nothing_lost: NothingLost
) -> None:
    raw = bytearray(transfer_from(client, BOB, "1XPL").raw)
    raw[40] ^= 0x01  # inside the signature
    error = submit_error(client, bytes(raw))
    assert error.code == TRANSACTION_INVALID
    assert "signature" in error.message
    assert error.data == {"kind": "bad_signature"}
    again = submit_error(client, bytes(raw))
    assert again.code == TRANSACTION_INVALID and again.data == {"kind": "banned"}
    assert "banned" in again.message
    nothing_lost.check()


def test_transaction_signed_for_another_chain_is_refused(
    client: XplClient, nothing_lost: NothingLost
) -> None:
    tx = sign_transaction(
        BOB,
        transfer_call(ALICE.public, parse_amount("1XPL")),
        nonce=client.next_nonce(BOB.public),
        genesis_hash=os.urandom(32),
    )
    error = submit_error(client, tx.raw)
    assert error.code == TRANSACTION_INVALID
    assert error.data == {"kind": "bad_signature"}
    assert "signature" in error.message
    nothing_lost.check()


def test_amount_out_of_the_u128_range_is_refused(
    client: XplClient, nothing_lost: NothingLost
) -> None:
    too_big = (2**128).to_bytes(17, "big")  # a balance is 16 bytes
    call = Call("balances", "transfer", [ALICE.public, too_big])
    tx = sign_transaction(
        BOB, call, nonce=client.next_nonce(BOB.public), genesis_hash=client.genesis_hash()
    )
    error = submit_error(client, tx.raw)
    assert error.code == TRANSACTION_INVALID
    assert error.data == {"kind": "call"}
    assert "bad arguments" in error.message
    nothing_lost.check()


def test_stale_nonce_and_duplicate_submissions_are_refused(
    client: XplClient, wait_until: Waiter
) -> None:
    guard = NothingLost(client, wait_until)
    nonce = client.next_nonce(CHARLIE.public)
    # A transaction waiting for a missing nonce stays pooled, so its duplicate is seen as one.
    later = transfer_from(client, CHARLIE, "1XPL", nonce=nonce + 1)
    client.submit(later)
    duplicate = submit_error(client, later.raw)
    assert duplicate.code == TRANSACTION_INVALID and duplicate.data == {"kind": "duplicate"}
    assert "already in the pool" in duplicate.message
    same_nonce = transfer_from(client, CHARLIE, "2XPL", nonce=nonce + 1)
    replacement = submit_error(client, same_nonce.raw)
    assert replacement.data == {"kind": "replacement"}
    assert "tip" in replacement.message

    first = transfer_from(client, CHARLIE, "1XPL", nonce=nonce)
    outcome = client.submit_and_watch(first, timeout=30)
    assert outcome.success
    wait_until(
        lambda: True if client.account(CHARLIE.public).nonce == nonce + 2 else None,
        timeout=15,
        what="the transaction after the gap to be included",
    )
    for replayed in (first, later):
        stale = submit_error(client, replayed.raw)
        assert stale.code == TRANSACTION_INVALID and stale.data == {"kind": "stale"}
        assert "already used" in stale.message
    fees = outcome.fee + client.query_fee(later)
    guard.check(paid={CHARLIE.public: 2 * parse_amount("1XPL") + fees})


def test_immortal_transaction_of_a_reaped_account_cannot_be_replayed(client: XplClient) -> None:
    owner, payee = Keypair.generate(), Keypair.generate().public
    funded = client.sign(FERDIE, transfer_call(owner.public, parse_amount("1XPL")))
    assert client.submit_and_watch(funded, until="inBlock", timeout=30).success
    probe = client.sign(owner, transfer_call(payee, 1), nonce=0, mortal_for=None)
    everything = client.account(owner.public).free - client.query_fee(probe)
    drain = client.sign(owner, transfer_call(payee, everything), nonce=0, mortal_for=None)
    assert client.submit_and_watch(drain, until="inBlock", timeout=30).success
    assert client.account(owner.public).free == 0  # reaped: its record, nonce included, is gone
    refund = client.sign(FERDIE, transfer_call(owner.public, parse_amount("2XPL")))
    assert client.submit_and_watch(refund, until="inBlock", timeout=30).success

    with pytest.raises(RpcClientError) as caught:  # if the node takes it, it lands, and pays
        client.submit_and_watch(drain, until="finalized", timeout=30)
    assert caught.value.data == {"kind": "stale"}


def test_transfer_beyond_the_balance_fails_and_costs_only_the_fee(
    client: XplClient, wait_until: Waiter
) -> None:
    guard = NothingLost(client, wait_until)
    balance = client.account(EVE.public).free
    tx = client.sign(EVE, transfer_call(ALICE.public, balance + 1))
    outcome = client.submit_and_watch(tx, timeout=30)
    # The node admits it (the fee can be paid), and the transfer fails by the rules.
    assert not outcome.success
    assert outcome.error == "balances.InsufficientBalance"
    assert outcome.fee > 0
    parent = from_hex(client.header(outcome.block_hash)["parentHash"], length=32)
    author_share = outcome.fee * AUTHOR_FEE_PERCENT // 100
    for who, change in ((EVE.public, -outcome.fee), (ALICE.public, author_share)):
        before = client.account(who, at=parent).free
        assert client.account(who, at=outcome.block_hash).free - before == change
    guard.check(paid={EVE.public: outcome.fee})


def test_account_that_cannot_pay_the_fee_is_refused_at_the_pool(
    client: XplClient, nothing_lost: NothingLost
) -> None:
    pauper = Keypair.generate()
    tx = client.sign(pauper, transfer_call(BOB.public, parse_amount("1XPL")))
    error = submit_error(client, tx.raw)
    assert error.code == TRANSACTION_INVALID
    assert error.data == {"kind": "payment"}
    assert "fee" in error.message
    nothing_lost.check()


# ---------------------------------------------------------------------------------------------
# The CLI: amounts and addresses


@pytest.mark.parametrize(
    ("amount", "words"),
    [
        pytest.param("1.0000000000001XPL", "more than 12 decimals", id="13-decimals"),
        pytest.param("-5XPL", "cannot be negative", id="negative"),
        pytest.param("340282366920938463463374607431768211456u", "above the largest", id="2^128"),
        pytest.param("5", "no unit", id="bare-number"),
    ],
)
def test_cli_transfer_refuses_an_amount_out_of_range(
    xpl: XplCli, dev_node: NodeProcess, nothing_lost: NothingLost, amount: str, words: str
) -> None:
    line = xpl.fails(
        "tx", "transfer", "--from", "//Bob", "--to", "//Charlie", f"--amount={amount}",
        "--rpc", dev_node.url,
    )  # fmt: skip
    assert words in line
    nothing_lost.check(wait=False)


def test_cli_negative_amount_written_with_a_space_gets_one_error_line(
    xpl: XplCli, dev_node: NodeProcess
) -> None:
    line = xpl.fails(
        "tx", "transfer", "--from", "//Bob", "--to", "//Charlie", "--amount", "-5XPL",
        "--rpc", dev_node.url,
    )  # fmt: skip
    assert "negative" in line


@pytest.mark.parametrize(
    ("address", "words"),
    [
        pytest.param(MISTYPED, "checksum mismatch", id="mistyped"),
        pytest.param(OTHER_NETWORK, "network prefix", id="other-network"),
        pytest.param("5l" + encode_address(BOB.public)[2:], "base58", id="not-base58"),
        pytest.param("Bob", "//Bob", id="bare-name"),
    ],
)
def test_cli_refuses_a_mistyped_address(
    xpl: XplCli, dev_node: NodeProcess, nothing_lost: NothingLost, address: str, words: str
) -> None:
    line = xpl.fails(
        "tx", "transfer", "--from", "//Alice", "--to", address, "--amount", "1XPL",
        "--rpc", dev_node.url,
    )  # fmt: skip
    assert words in line
    line = xpl.fails("query", "balance", address, "--rpc", dev_node.url)
    assert words in line
    nothing_lost.check(wait=False)


# ---------------------------------------------------------------------------------------------
# The CLI: chain spec files


def write_spec(path: Path, change: Any) -> Path:
    """The dev spec as JSON, changed by `change(document)` (which may return a replacement)."""
    document = dev_spec().to_json()
    document = change(document) or document
    path.write_text(json.dumps(document))
    return path


def set_field(*path_and_value: Any) -> Any:
    *keys, value = path_and_value

    def change(document: dict[str, Any]) -> None:
        target = document
        for key in keys[:-1]:
            target = target[key]
        target[keys[-1]] = value

    return change


CORRUPT_SPECS = [
    pytest.param(lambda p: p.write_text('{"name": "x", "id"'), "not valid JSON", id="truncated"),
    pytest.param(lambda p: p.write_bytes(b"\xff\xfe\x00\x01"), "cannot read", id="binary"),
    pytest.param(lambda p: p.write_text("[1, 2]"), "chain spec field", id="array"),
    pytest.param(
        lambda p: write_spec(p, set_field("genesis", "slotDurationMs", "fast")),
        "slotDurationMs",
        id="slot-text",
    ),
    pytest.param(
        lambda p: write_spec(p, set_field("genesis", "validators", [MISTYPED])),
        "checksum",
        id="validator-mistyped",
    ),
    pytest.param(
        lambda p: write_spec(
            p, set_field("genesis", "balances", [[encode_address(BOB.public), "-5XPL"]])
        ),
        "negative",
        id="negative-balance",
    ),
    pytest.param(
        lambda p: write_spec(
            p, set_field("genesis", "balances", [[encode_address(BOB.public), "0.001XPL"]])
        ),
        "existential deposit",
        id="below-deposit",
    ),
    pytest.param(lambda p: None, "does not exist", id="missing"),
]


@pytest.mark.parametrize(("make", "words"), CORRUPT_SPECS)
def test_build_spec_refuses_a_corrupt_chain_spec(
    xpl: XplCli, tmp_path: Path, make: Any, words: str
) -> None:
    path = tmp_path / "spec.json"
    make(path)
    line = xpl.fails("build-spec", "--chain", str(path))
    assert words in line


@pytest.mark.parametrize(("make", "words"), [CORRUPT_SPECS[i] for i in (0, 2, 4)])
def test_node_refuses_a_corrupt_chain_spec(
    xpl: XplCli, tmp_path: Path, make: Any, words: str
) -> None:
    path = tmp_path / "spec.json"
    make(path)
    base = tmp_path / "base"
    line = xpl.fails("node", "--chain", str(path), "--base-path", str(base), "--rpc-port", "0")
    assert words in line
    assert not (base / "chains").exists()


def deep_spec(path: Path) -> None:
    path.write_text("[" * 5_000 + "]" * 5_000)


def huge_number_spec(path: Path) -> None:
    write_spec(path, set_field("genesis", "slotDurationMs", 1))
    # json.dumps refuses integers this long, so the number is put into the text directly.
    text = path.read_text().replace('"slotDurationMs": 1', '"slotDurationMs": 1' + "0" * 5_000)
    path.write_text(text)


@pytest.mark.parametrize("command", ["build-spec", "node"])
def test_deeply_nested_chain_spec_gets_one_error_line(
    xpl: XplCli, tmp_path: Path, command: str
) -> None:
    path = tmp_path / "spec.json"
    deep_spec(path)
    extra = ["--base-path", str(tmp_path / "base"), "--rpc-port", "0"] if command == "node" else []
    line = xpl.fails(command, "--chain", str(path), *extra)
    assert "chain spec" in line


def test_chain_spec_with_a_huge_number_names_the_spec(xpl: XplCli, tmp_path: Path) -> None:
    path = tmp_path / "spec.json"
    huge_number_spec(path)
    line = xpl.fails("build-spec", "--chain", str(path))
    assert "chain spec" in line


def test_node_refuses_a_database_of_another_chain(
    xpl: XplCli, node_factory: NodeFactory, tmp_path: Path
) -> None:
    node = node_factory.start()
    assert node.stop() == 0
    other = write_spec(
        tmp_path / "other.json",
        set_field(
            "genesis",
            "balances",
            [[encode_address(ALICE.public), "100000XPL"], [encode_address(BOB.public), "5XPL"]],
        ),
    )  # same id "dev", another genesis (//Alice still bonds her 100,000 XPL)
    line = xpl.fails(
        "node", "--chain", str(other), "--base-path", str(node.base_path), "--rpc-port", "0",
        "--no-prometheus",
    )  # fmt: skip
    assert "holds another chain" in line
    node.start()  # the database is still the dev chain's, and still opens
    assert node.client().finalized_number() >= 1


def test_second_node_on_the_same_base_path_is_refused(
    xpl: XplCli, dev_node: NodeProcess, nothing_lost: NothingLost
) -> None:
    line = xpl.fails(
        "node", "--dev", "--base-path", str(dev_node.base_path), "--rpc-port", "0",
        "--no-prometheus",
    )  # fmt: skip
    assert "cannot open the database" in line and "lock" in line
    assert dev_node.running
    nothing_lost.check()


# ---------------------------------------------------------------------------------------------
# The CLI: key files


def write_fast_key_file(path: Path, keypair: Keypair, password: str = PASSWORD) -> Path:
    write_key_file(
        path,
        keypair,
        password.encode(),
        opslimit=argon2id.OPSLIMIT_MIN,
        memlimit=argon2id.MEMLIMIT_MIN,
    )
    return path


def private_file(path: Path, content: bytes) -> Path:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(content)
    return path


def flipped_ciphertext(path: Path, keypair: Keypair) -> Path:
    write_fast_key_file(path, keypair)
    document = json.loads(path.read_text())
    ciphertext = document["crypto"]["ciphertext"]
    last = "00" if ciphertext[-2:] != "00" else "11"
    document["crypto"]["ciphertext"] = ciphertext[:-2] + last
    return private_file(path, json.dumps(document).encode())


def truncated(path: Path, keypair: Keypair) -> Path:
    write_fast_key_file(path, keypair)
    return private_file(path, path.read_bytes()[:60])


def edited_public_key(path: Path, keypair: Keypair) -> Path:
    write_fast_key_file(path, keypair)
    document = json.loads(path.read_text())
    document["publicKey"] = to_hex(CHARLIE.public)
    return private_file(path, json.dumps(document).encode())


def world_readable(path: Path, keypair: Keypair) -> Path:
    write_fast_key_file(path, keypair)
    path.chmod(0o644)
    return path


KEY_FILE_CASES = [
    pytest.param(truncated, PASSWORD, "not valid JSON", id="truncated"),
    pytest.param(flipped_ciphertext, PASSWORD, "cannot decrypt", id="corrupted-ciphertext"),
    pytest.param(edited_public_key, PASSWORD, "address and publicKey", id="edited-public-key"),
    pytest.param(world_readable, PASSWORD, "chmod 600", id="world-readable"),
    pytest.param(write_fast_key_file, "not the password", "wrong password", id="wrong-password"),
    pytest.param(lambda p, k: p, PASSWORD, "does not exist", id="missing"),
]


@pytest.mark.parametrize(("make", "password", "words"), KEY_FILE_CASES)
def test_cli_transfer_refuses_a_bad_key_file(
    xpl: XplCli,
    dev_node: NodeProcess,
    nothing_lost: NothingLost,
    tmp_path: Path,
    make: Any,
    password: str,
    words: str,
) -> None:
    key_file = make(tmp_path / "bob.json", BOB)
    line = xpl.fails(
        "tx", "transfer", "--key-file", str(key_file), "--password-env", "XPL_TEST_PW",
        "--to", "//Charlie", "--amount", "1XPL", "--rpc", dev_node.url,
        env={"XPL_TEST_PW": password},
    )  # fmt: skip
    assert words in line
    nothing_lost.check(wait=False)


@pytest.mark.parametrize(("make", "password", "words"), [KEY_FILE_CASES[i] for i in (0, 1, 4)])
def test_validator_node_refuses_a_bad_key_file(
    xpl: XplCli, tmp_path: Path, make: Any, password: str, words: str
) -> None:
    key_file = make(tmp_path / "alice.json", ALICE)
    base = tmp_path / "base"
    line = xpl.fails(
        "node", "--chain", "dev", "--validator", "--key-file", str(key_file),
        "--password-env", "XPL_TEST_PW", "--base-path", str(base), "--rpc-port", "0",
        "--no-prometheus",
        env={"XPL_TEST_PW": password},
    )  # fmt: skip
    assert words in line
    assert not (base / "chains").exists()


def test_validator_node_refuses_a_key_outside_the_validator_set(
    xpl: XplCli, tmp_path: Path
) -> None:
    key_file = write_fast_key_file(tmp_path / "bob.json", BOB)
    line = xpl.fails(
        "node", "--chain", "dev", "--validator", "--key-file", str(key_file),
        "--password-env", "XPL_TEST_PW", "--base-path", str(tmp_path / "base"),
        "--rpc-port", "0", "--no-prometheus",
        env={"XPL_TEST_PW": PASSWORD},
    )  # fmt: skip
    assert "not in this chain's validator set" in line


def test_unset_password_variable_is_named(
    xpl: XplCli, dev_node: NodeProcess, tmp_path: Path
) -> None:
    key_file = write_fast_key_file(tmp_path / "bob.json", BOB)
    line = xpl.fails(
        "tx", "transfer", "--key-file", str(key_file), "--password-env", "XPL_UNSET_TEST_PW",
        "--to", "//Charlie", "--amount", "1XPL", "--rpc", dev_node.url,
    )  # fmt: skip
    assert "XPL_UNSET_TEST_PW" in line and "not set" in line


@pytest.mark.parametrize("command", ["tx", "node"])
def test_deeply_nested_key_file_gets_one_error_line(
    xpl: XplCli, dev_node: NodeProcess, tmp_path: Path, command: str
) -> None:
    key_file = private_file(tmp_path / "deep.json", b"[" * 5_000)
    if command == "tx":
        argv = ["tx", "transfer", "--to", "//Charlie", "--amount", "1XPL", "--rpc", dev_node.url]
    else:
        base = str(tmp_path / "base")
        argv = ["node", "--chain", "dev", "--validator", "--base-path", base, "--rpc-port", "0"]
    argv += ["--key-file", str(key_file)]
    line = xpl.fails(*argv, "--password-env", "XPL_TEST_PW", env={"XPL_TEST_PW": PASSWORD})
    assert "key file" in line
