"""`xpl treasury`, `xpl bounty` and `xpl grant` on the package's fast dev node (see conftest): a
spend made with sudo and claimed once, a spend above a track's maximum refused, a bounty from
proposal to its payout, and a compute grant awarded, paying a job's escrow, refusing a dearer
job and a call that is not a requester's, and closed.
"""

from __future__ import annotations

import dataclasses
import json
from typing import TYPE_CHECKING, Any

import pytest

from chain.client.chain import XplClient, transfer_call
from runtime.accounts import TREASURY
from runtime.primitives.address import encode_address
from runtime.primitives.amount import parse_amount
from runtime.primitives.keys import dev_keypair, keypair_from_suri
from tests.chain.cli.conftest import XplRun, fund

if TYPE_CHECKING:
    from tests.chain.conftest import Waiter

BENEFICIARY, PROPOSER, CURATOR = "//TrsBeneficiary", "//TrsProposer", "//TrsCurator"
WORKER, BUILDER, WORKER_NODE = "//TrsWorker", "//TrsBuilder", "//TrsWorkerNode"


def public(name: str) -> bytes:
    return keypair_from_suri(name).public


@pytest.fixture(scope="module")
def client(cli_client: XplClient) -> XplClient:
    """The shared fast dev node's client, this module's accounts funded and 10,000 XPL donated
    to the treasury."""
    fund(cli_client, [BENEFICIARY, PROPOSER, CURATOR, WORKER, BUILDER], "100XPL")
    fund(cli_client, [WORKER_NODE], "2000XPL")
    alice = dev_keypair("Alice")
    donation = cli_client.sign(alice, transfer_call(TREASURY, parse_amount("10000XPL")))
    assert cli_client.submit_and_watch(donation, until="inBlock").success
    return cli_client


@pytest.fixture
def xpl(xpl_in_process: XplRun, client: XplClient) -> XplRun:
    return xpl_in_process


def sudo(xpl: XplRun, *args: str) -> dict[str, Any]:
    """Run a command with `--sudo --from //Alice --json`; its outcome."""
    ran = xpl(*args, "--sudo", "--from", "//Alice", "--json")
    assert ran.code == 0, ran.err
    outcome: dict[str, Any] = ran.json()
    return outcome


@pytest.mark.timeout(60)
def test_a_spend_is_paid_once_and_one_above_the_tracks_maximum_is_refused(
    xpl: XplRun, client: XplClient
) -> None:
    beneficiary = encode_address(public(BENEFICIARY))
    spend = sudo(xpl, "treasury", "propose-spend", "50XPL", "--to", beneficiary)["spend"]
    before = client.account(public(BENEFICIARY)).free
    claimed = xpl("treasury", "claim", str(spend), "--from", BENEFICIARY, "--json")
    assert claimed.code == 0 and "treasury.SpendPaid" in claimed.events(), claimed.err
    fee = parse_amount(claimed.json()["fee"])
    assert client.account(public(BENEFICIARY)).free == before + parse_amount("50XPL") - fee
    again = xpl("treasury", "claim", str(spend), "--from", BENEFICIARY)
    assert again.code == 1 and again.err.startswith("error: treasury."), again.err

    above = xpl(
        "treasury", "propose-spend", "20000XPL", "--to", beneficiary,
        "--track", "small_spender", "--from", PROPOSER,
    )  # fmt: skip
    assert above.code == 1 and "error: referenda.SpendAboveLimit: " in above.err
    proposed = xpl(
        "treasury", "propose-spend", "20XPL", "--to", beneficiary,
        "--track", "small_spender", "--from", PROPOSER, "--json",
    )  # fmt: skip
    assert proposed.code == 0 and isinstance(proposed.json()["referendum"], int), proposed.err


@pytest.mark.timeout(60)
def test_treasury_status_shows_the_funds_and_pending_spends(xpl: XplRun, client: XplClient) -> None:
    beneficiary = encode_address(public(BENEFICIARY))
    spend = sudo(xpl, "treasury", "propose-spend", "5XPL", "--to", beneficiary, "--valid-from",
                 "1000000")["spend"]  # fmt: skip
    status = xpl("treasury", "status", "--json")
    assert status.code == 0, status.err
    pending = status.json()["pendingSpends"]
    assert any(s["index"] == spend and s["beneficiary"] == beneficiary for s in pending)
    drawn = xpl("treasury", "status")
    assert drawn.code == 0 and "pending spends" in drawn.out and "available" in drawn.out


@pytest.mark.timeout(60)
def test_a_bounty_from_proposal_to_its_payout(
    xpl: XplRun, client: XplClient, wait_until: Waiter
) -> None:
    from runtime.pallets.bounties import BountiesParams

    quick = {**dataclasses.asdict(BountiesParams()), "payout_delay": 1}
    ran = xpl("sudo", "bounties.set_params", "--args", json.dumps(quick), "--from", "//Alice")
    assert ran.code == 0, ran.err

    ran = xpl(
        "bounty", "propose", "60XPL", "--description", "a faster gemm_i8 kernel",
        "--from", PROPOSER, "--json",
    )  # fmt: skip
    assert ran.code == 0, ran.err
    bounty = str(ran.json()["bounty"])
    approved = sudo(xpl, "bounty", "approve", bounty)["events"]
    assert "bounties.BountyFunded" in [e["event"] for e in approved]
    curator = encode_address(public(CURATOR))
    sudo(xpl, "bounty", "curate", bounty, "--curator", curator, "--fee", "6XPL")
    assert xpl("bounty", "accept", bounty, "--from", CURATOR).code == 0
    listed = xpl("bounty", "list", "--json").json()
    assert any(str(b["id"]) == bounty and b["status"] == "active" for b in listed)
    worker = encode_address(public(WORKER))
    assert xpl("bounty", "award", bounty, "--to", worker, "--from", CURATOR).code == 0

    before = client.account(public(WORKER)).free

    def claimed() -> bool | None:
        ran = xpl("bounty", "claim", bounty, "--from", WORKER, "--json")
        return True if ran.code == 0 else None

    wait_until(claimed, timeout=20, what="the bounty's payout")
    assert client.account(public(WORKER)).free > before + parse_amount("50XPL")


@pytest.mark.timeout(60)
def test_a_grant_pays_a_jobs_escrow_refuses_other_calls_and_is_closed(
    xpl: XplRun, client: XplClient
) -> None:
    # A worker that takes gemm_i8 jobs at 1 XPL, registered with `tx call` (lists by position).
    register = [
        "1000XPL", "cpu", 2048, ["gemm_i8"], ["1XPL"], [50], "", 4,
    ]  # fmt: skip
    ran = xpl("tx", "call", "market.register_worker", "--args", json.dumps(register),
              "--from", WORKER_NODE)  # fmt: skip
    assert ran.code == 0, ran.err

    builder = encode_address(public(BUILDER))
    grant = sudo(
        xpl, "grant", "award", builder, "--amount", "40XPL", "--max-price", "2XPL",
        "--expires-at", "100000",
    )["grant"]  # fmt: skip
    job = {
        "workload": "gemm_i8", "params": [256, 256, 256, 64], "input_names": ["a", "b"],
        "input_roots": ["0x", "0x"], "seed": 1, "max_price": "2XPL", "deadline_blocks": 100,
        "wait_blocks": 5, "mode": "always",
    }  # fmt: skip
    before = client.account(public(BUILDER)).free
    ran = xpl("grant", "call", str(grant), "market.submit_job", "--args", json.dumps(job),
              "--from", BUILDER, "--json")  # fmt: skip
    assert ran.code == 0, ran.err
    assert isinstance(ran.json()["job"], int) and "grants.GrantCallDispatched" in ran.events()
    fee = parse_amount(ran.json()["fee"])
    assert client.account(public(BUILDER)).free == before - fee  # the escrow is the grant's
    (listed,) = [g for g in xpl("grant", "list", "--json").json() if g["id"] == grant]
    assert listed["builder"] == builder and int(listed["held"]) > 0

    too_dear = {**job, "max_price": "3XPL"}
    ran = xpl("grant", "call", str(grant), "market.submit_job", "--args",
              json.dumps(too_dear), "--from", BUILDER)  # fmt: skip
    assert ran.code == 1 and "error: grants.PriceAboveGrant: " in ran.err, ran.err
    stray = xpl(
        "grant", "call", str(grant), "balances.transfer",
        "--args", json.dumps([builder, "1XPL"]), "--from", BUILDER,
    )  # fmt: skip
    assert stray.code == 1 and "error: grants.CallNotAllowed: " in stray.err, stray.err
    closed = xpl("grant", "close", str(grant), "--from", BUILDER, "--json")
    assert closed.code == 0 and "grants.GrantClosed" in closed.events(), closed.err
