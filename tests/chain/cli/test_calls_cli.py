"""`xpl tx call`, `xpl staking` and `xpl sudo`, run in this process (the entry point the `xpl`
command runs) against the package's fast dev node (see conftest).

A call that does not match the node's metadata is refused before anything is signed (exit code 2,
the signer's nonce unchanged); a call the chain refuses by its rules exits 1 with its error's
name and explanation; the staking commands take a stash from bonding to withdrawing.
"""

from __future__ import annotations

import dataclasses
import json
from typing import TYPE_CHECKING, Any

import pytest

from chain.client.chain import XplClient
from runtime.primitives.address import encode_address
from runtime.primitives.amount import parse_amount
from runtime.primitives.keys import keypair_from_suri
from tests.chain.cli.conftest import XplRun, fund

if TYPE_CHECKING:
    from tests.chain.conftest import Waiter

PAYER, STASH, NOMINATOR, IDLE = "//CliPayer", "//CliStash", "//CliNominator", "//CliIdle"
RECEIVER = keypair_from_suri("//CliReceiver")
RECEIVER_ADDRESS = encode_address(RECEIVER.public)


@pytest.fixture(scope="module")
def client(cli_client: XplClient) -> XplClient:
    """The shared fast dev node's client, with this module's accounts funded."""
    fund(cli_client, [PAYER, STASH, NOMINATOR, IDLE], "5000XPL")
    return cli_client


@pytest.fixture
def xpl(xpl_in_process: XplRun, client: XplClient) -> XplRun:
    return xpl_in_process


def events_of(outcome: dict[str, Any]) -> list[str]:
    return [e["event"] for e in outcome["events"]]


# tx call


@pytest.mark.timeout(60)
def test_tx_call_checks_the_arguments_against_the_metadata_and_makes_the_call(
    xpl: XplRun, client: XplClient
) -> None:
    ran = xpl(
        "tx", "call", "balances.transfer_keep_alive", "--args",
        json.dumps({"dest": RECEIVER_ADDRESS, "value": "2.5XPL"}), "--from", PAYER, "--json",
    )  # fmt: skip
    assert ran.code == 0, ran.err
    outcome = ran.json()
    assert outcome["success"] is True and outcome["call"] == "balances.transfer_keep_alive"
    assert "balances.Transfer" in events_of(outcome)
    transfer = next(e for e in outcome["events"] if e["event"] == "balances.Transfer")
    assert transfer["data"]["to"] == encode_address(RECEIVER.public)
    assert transfer["data"]["amount"] == str(parse_amount("2.5XPL"))

    # Arguments in order, as a list, and the human output names the events.
    ran = xpl(
        "tx", "call", "balances.transfer", "--args", json.dumps([RECEIVER_ADDRESS, "1000"]),
        "--from", PAYER,
    )  # fmt: skip
    assert ran.code == 0, ran.err
    assert "balances.Transfer" in ran.out and "success: True" in ran.out


@pytest.mark.timeout(60)
def test_a_call_that_does_not_match_the_metadata_is_refused_before_signing(
    xpl: XplRun, client: XplClient
) -> None:
    nonce = client.next_nonce(keypair_from_suri(PAYER).public)
    cases = [
        ("stakin.bond", {"value": "1XPL"}, "unknown pallet 'stakin' (the node's pallets:"),
        ("staking.bnd", {"value": "1XPL"}, "staking has no call 'bnd' (its calls: bond,"),
        ("staking.bond", {}, "staking.bond: missing argument 'value'"),
        ("staking.bond", {"value": 1, "extra": 2}, "staking.bond: unknown argument 'extra'"),
        ("staking.bond", {"value": "lots"}, "staking.bond.value: amount 'lots'"),
        ("staking.bond", [1, 2], "staking.bond: expected 1 arguments ['value'], got 2"),
        ("staking.validate", {"commission_ppm": -1, "session_key": None}, "commission_ppm"),
        ("staking.nominate", {"targets": "//Alice"}, "staking.nominate.targets: expected a list"),
        ("staking.nominate", {"targets": ["//Alice"] * 65}, "over the limit of 64"),
        ("market.cancel_job", {"job": 1, "digest": "0x12"}, "market.cancel_job.digest"),
        ("balances", {}, "'balances': expected pallet.call"),
    ]
    for name, args, message in cases:
        ran = xpl("tx", "call", name, "--args", json.dumps(args), "--from", PAYER)
        lines = ran.err.strip().splitlines()
        assert ran.code == 2 and len(lines) == 1, (name, ran.err)
        assert lines[0].startswith("error: ") and message in lines[0], (name, lines[0])
        assert ran.out == ""
    not_json = xpl("tx", "call", "staking.bond", "--args", "{value: 1}", "--from", PAYER)
    assert not_json.code == 2 and "--args is not JSON" in not_json.err
    assert client.next_nonce(keypair_from_suri(PAYER).public) == nonce  # nothing was signed or sent


@pytest.mark.timeout(60)
def test_a_call_the_chain_refuses_exits_1_with_the_errors_explanation(
    xpl: XplRun, client: XplClient
) -> None:
    ran = xpl("tx", "call", "staking.withdraw_unbonded", "--from", PAYER, "--json")
    assert ran.code == 1
    outcome = ran.json()
    assert outcome["success"] is False and outcome["error"] == "staking.NotBonded"
    assert outcome["explanation"] and parse_amount(outcome["fee"]) > 0
    assert ran.err.startswith(f"error: staking.NotBonded: {outcome['explanation']}")


# staking


def chunks_unlocked(client: XplClient, stash: bytes) -> bool | None:
    ledger = client.staking_ledger(stash)
    assert ledger is not None
    return True if all(b <= client.best_number() for b, _ in ledger.unlocking) else None


@pytest.mark.timeout(60)
def test_a_stash_bonds_validates_is_nominated_unbonds_and_withdraws(
    xpl: XplRun, client: XplClient, wait_until: Waiter
) -> None:
    dave, eve = (encode_address(keypair_from_suri(n).public) for n in (STASH, NOMINATOR))
    ran = xpl("staking", "bond", "1000XPL", "--from", STASH, "--json")
    assert ran.code == 0, ran.err
    assert ran.json()["call"] == "staking.bond" and "staking.Bonded" in events_of(ran.json())
    ran = xpl("staking", "bond", "500XPL", "--from", STASH, "--json")  # bonded: adds to it
    assert ran.code == 0 and ran.json()["call"] == "staking.bond_extra", ran.err
    ran = xpl("staking", "validate", "--commission", "5%", "--from", STASH, "--json")
    assert ran.code == 0, ran.err
    assert ran.json()["commissionPpm"] == 50_000

    assert xpl("staking", "bond", "20XPL", "--from", NOMINATOR).code == 0
    ran = xpl("staking", "nominate", dave, "--from", NOMINATOR, "--json")
    assert ran.code == 0 and "staking.Nominated" in events_of(ran.json()), ran.err

    status = xpl("staking", "status", "--from", STASH, "--json").json()
    assert status["role"] == "validator candidate" and status["active"] == "1500XPL"
    eve_status = xpl("staking", "status", eve)
    assert eve_status.code == 0 and f"nominating: {dave}" in eve_status.out

    assert xpl("staking", "chill", "--from", STASH).code == 0
    assert xpl("staking", "unbond", "1500XPL", "--from", STASH).code == 0
    status = xpl("staking", "status", dave, "--json").json()
    assert status["role"] == "bonded, idle" and status["unlocking"][0]["amount"] == "1500XPL"
    wait_until(
        lambda: chunks_unlocked(client, keypair_from_suri(STASH).public),
        timeout=20,
        what="the unlock",
    )
    ran = xpl("staking", "withdraw", "--from", STASH, "--json")
    assert ran.code == 0 and "staking.Withdrawn" in events_of(ran.json()), ran.err
    assert xpl("staking", "status", dave, "--json").json()["bonded"] is False


@pytest.mark.timeout(60)
def test_staking_input_the_chain_would_refuse_gets_one_clear_error(
    xpl: XplRun, client: XplClient
) -> None:
    idle = keypair_from_suri(IDLE).public
    nonce = client.next_nonce(idle)
    for args, message in [
        (("validate", "--commission", "120%"), "must be 0% to 100%"),
        (("validate", "--commission", "lots"), "expected a percentage such as 5%"),
        (("bond", "12"), "amount '12': no unit"),
        (("nominate", "not-an-address"), "not-an-address"),
    ]:
        ran = xpl("staking", *args, "--from", IDLE)
        assert ran.code == 1 and message in ran.err, (args, ran.err)
    assert client.next_nonce(idle) == nonce
    ran = xpl("staking", "unbond", "1XPL", "--from", IDLE)
    assert ran.code == 1 and "error: staking.NotBonded: " in ran.err
    assert xpl("staking", "status").code == 1


@pytest.mark.timeout(60)
def test_tx_calls_lists_the_nodes_calls_with_their_argument_types(xpl: XplRun) -> None:
    ran = xpl("tx", "calls", "staking")
    assert ran.code == 0, ran.err
    assert "staking.bond(value: balance)" in ran.out
    assert "staking.nominate(targets: list<account>)" in ran.out
    assert "balances." not in ran.out
    every = xpl("tx", "calls", "--json").json()
    assert {
        "call": "balances.transfer",
        "args": [["dest", "account"], ["value", "balance"]],
    }.items() <= next(c for c in every if c["call"] == "balances.transfer").items()
    unknown = xpl("tx", "calls", "stakin")
    assert unknown.code == 2 and "unknown pallet 'stakin'" in unknown.err


# sudo


@pytest.mark.timeout(60)
def test_sudo_makes_a_root_call_and_says_why_a_refused_one_failed(
    xpl: XplRun, client: XplClient
) -> None:
    _, compute = client.market_params()
    changed = {**dataclasses.asdict(compute), "audit_ppm": compute.audit_ppm + 1}
    ran = xpl("sudo", "compute.set_params", "--args", json.dumps(changed), "--from", "//Alice")
    assert ran.code == 0, ran.err
    assert "sudo.Sudid" in ran.out and "ok=true" in ran.out
    assert client.market_params()[1].audit_ppm == compute.audit_ppm + 1

    # The inner call fails its pallet's checks: the sudo call is paid, Sudid says why.
    unsafe = {**changed, "audit_ppm": 0}
    ran = xpl(
        "sudo", "compute.set_params", "--args", json.dumps(unsafe), "--from", "//Alice", "--json"
    )
    assert ran.code == 1
    sudid = next(e for e in ran.json()["events"] if e["event"] == "sudo.Sudid")
    assert sudid["data"]["ok"] is False and sudid["data"]["error"]
    assert ran.err.startswith(f"error: compute.set_params failed as Root: {sudid['data']['error']}")
    assert client.market_params()[1].audit_ppm == compute.audit_ppm + 1

    # Anyone but the key is refused; so is an inner call that does not match the metadata.
    ran = xpl("sudo", "compute.set_params", "--args", json.dumps(changed), "--from", "//Bob")
    assert ran.code == 1 and "error: sudo.RequireSudo: " in ran.err
    ran = xpl("sudo", "compute.set_params", "--args", "{}", "--from", "//Alice")
    assert ran.code == 2 and "missing argument 'audit_ppm'" in ran.err


@pytest.mark.timeout(60)
def test_the_metadata_names_the_runtime_version_and_every_call_event_and_error(
    client: XplClient,
) -> None:
    from runtime.executive import CALLS, EVENTS, PALLETS
    from runtime.version import RUNTIME_VERSION

    document = client.rpc.call("state_getMetadata")
    assert document["version"] == RUNTIME_VERSION.to_json()
    pallets = {p["name"]: p for p in document["pallets"]}
    assert list(pallets) == [p.NAME for p in PALLETS]
    calls = {(p, c["name"]): c["args"] for p, d in pallets.items() for c in d["calls"]}
    assert calls == {k: [[n, t.name] for n, t in c.args] for k, c in CALLS.items()}
    events = {(p, e["name"]) for p, d in pallets.items() for e in d["events"]}
    assert events == set(EVENTS)
    explained = [e for d in pallets.values() for e in d["errors"]]
    assert explained and all(e["doc"] for e in explained)
