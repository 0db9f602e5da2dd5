"""`xpl gov`: a referendum from submission to enactment through the CLI alone, on the package's
fast dev node (see conftest): submitted, its decision deposit placed, voted on with conviction,
split and delegated votes, followed with `gov show` and `gov list`, enacted (the compute parameter
it proposes changes), its deposits refunded; and bad input refused with one clear error, before
signing where the CLI can tell, by the chain's rules otherwise.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from chain.client.chain import XplClient
from runtime.primitives import codec
from runtime.primitives.address import encode_address
from runtime.primitives.amount import parse_amount
from runtime.primitives.hashing import to_hex
from runtime.primitives.keys import keypair_from_suri
from tests.chain.cli.conftest import XplRun, fund

if TYPE_CHECKING:
    from tests.chain.conftest import Waiter

PROPOSER, DEPOSITOR, VOTER = "//GovProposer", "//GovDepositor", "//GovVoter"
SPLITTER, DELEGATOR, PAUPER = "//GovSplitter", "//GovDelegator", "//GovPauper"


@pytest.fixture(scope="module")
def client(cli_client: XplClient) -> XplClient:
    """The shared fast dev node's client, with this module's accounts funded (the depositor
    with the root track's decision deposit, 100,000 XPL)."""
    fund(cli_client, [DEPOSITOR], "120000XPL")
    fund(cli_client, [PROPOSER, VOTER, SPLITTER, DELEGATOR], "5000XPL")
    fund(cli_client, [PAUPER], "1XPL")
    return cli_client


@pytest.fixture
def xpl(xpl_in_process: XplRun, client: XplClient) -> XplRun:
    return xpl_in_process


def public(name: str) -> bytes:
    return keypair_from_suri(name).public


def audit_change(client: XplClient, by: int) -> dict[str, Any]:
    """compute.set_params's arguments: the parameters in force, the audit probability raised."""
    _, compute = client.market_params()
    return {**dataclasses.asdict(compute), "audit_ppm": compute.audit_ppm + by}


@pytest.mark.timeout(90)
def test_a_referendum_from_submission_to_enactment_through_the_cli(
    xpl: XplRun, client: XplClient, wait_until: Waiter
) -> None:
    change = audit_change(client, 7)
    ran = xpl(
        "gov", "submit", "--track", "root", "--call", "compute.set_params",
        "--args", json.dumps(change), "--from", PROPOSER, "--json",
    )  # fmt: skip
    assert ran.code == 0, ran.err
    submitted = ran.json()
    ref = submitted["referendum"]
    assert submitted["track"] == "root" and "referenda.Submitted" in ran.events()
    assert str(ref) in xpl("gov", "list").out

    assert xpl("gov", "deposit", str(ref), "--from", DEPOSITOR).code == 0
    ran = xpl(
        "gov", "vote", str(ref), "aye", "--amount", "1000XPL", "--conviction", "3x",
        "--from", VOTER, "--json",
    )  # fmt: skip
    assert ran.code == 0, ran.err
    assert ran.json()["conviction"] == "3x"
    ran = xpl(
        "gov", "vote", str(ref), "split", "--aye", "10XPL", "--nay", "5XPL", "--from", SPLITTER
    )
    assert ran.code == 0, ran.err
    ran = xpl(
        "gov", "delegate", "--track", "root", "--to", VOTER, "--amount", "100XPL",
        "--conviction", "1x", "--from", DELEGATOR,
    )  # fmt: skip
    assert ran.code == 0, ran.err

    shown = xpl("gov", "show", str(ref), "--json").json()
    ayes = int(shown["tally"]["ayes"])
    # 3x 1000 XPL, 1x the 100 XPL delegated to the voter, a tenth of the split's 10 XPL aye.
    assert ayes == parse_amount("3000XPL") + parse_amount("100XPL") + parse_amount("1XPL")
    assert int(shown["tally"]["nays"]) == parse_amount("0.5XPL")
    votes = xpl("gov", "votes", "--from", VOTER, "--json").json()
    (root,) = [c for c in votes["classes"] if c["class"] == 0]
    assert [(v["poll"], v["conviction"]) for v in root["votes"]] == [(ref, 3)]
    assert int(root["delegated"]["capital"]) == parse_amount("100XPL")
    listed = xpl("gov", "votes", encode_address(public(DELEGATOR)))
    assert listed.code == 0 and "delegating 100XPL at 1x to" in listed.out, listed.out
    drawn = xpl("gov", "show", str(ref))
    assert drawn.code == 0 and f"Referendum {ref}" in drawn.out
    assert "approval" in drawn.out and "needed" in drawn.out and "thresholds" in drawn.out

    def enacted() -> bool | None:
        return True if client.market_params()[1].audit_ppm == change["audit_ppm"] else None

    wait_until(enacted, timeout=60, what="the referendum's enactment")
    assert xpl("gov", "show", str(ref), "--json").json()["state"] == "approved"

    refunded = xpl("gov", "refund", str(ref), "--from", PROPOSER, "--json")
    assert refunded.code == 0 and "referenda.SubmissionDepositRefunded" in refunded.events()
    assert xpl("gov", "refund", str(ref), "--which", "decision", "--from", PROPOSER).code == 0
    again = xpl("gov", "refund", str(ref), "--from", PROPOSER)
    assert again.code == 1 and "error: referenda.NoDeposit: " in again.err

    assert xpl("gov", "undelegate", "--track", "root", "--from", DELEGATOR).code == 0
    removed = xpl("gov", "remove-vote", str(ref), "--from", SPLITTER)
    assert removed.code == 0, removed.err
    unlocked = xpl("gov", "unlock", "--track", "root", "--from", SPLITTER, "--json")
    assert unlocked.code == 0 and "conviction_voting.Unlocked" in unlocked.events()


@pytest.mark.timeout(60)
def test_a_proposal_from_a_preimage_file_is_checked_before_it_is_submitted(
    xpl: XplRun, client: XplClient, tmp_path: Path
) -> None:
    spend = client.metadata().encode_call(
        "treasury", "spend", {"amount": "5XPL", "beneficiary": VOTER, "valid_from": 0}
    )
    as_hex, as_bytes = tmp_path / "spend.hex", tmp_path / "spend.call"
    as_hex.write_text(to_hex(spend) + "\n")
    as_bytes.write_bytes(spend)
    for path in (as_hex, as_bytes):
        ran = xpl(
            "gov", "submit", "--track", "small_spender", "--preimage-file", str(path),
            "--from", PROPOSER, "--json",
        )  # fmt: skip
        assert ran.code == 0 and "referenda.Submitted" in ran.events(), ran.err
        shown = xpl("gov", "show", str(ran.json()["referendum"]), "--json").json()
        assert (shown["proposal"]["pallet"], shown["proposal"]["call"]) == ("treasury", "spend")

    nonce = client.next_nonce(public(PROPOSER))
    (tmp_path / "junk").write_bytes(b"not a call")
    (tmp_path / "unknown").write_text(to_hex(codec.encode(["treasury", "steal", []])))
    for name, message in [
        ("junk", "is not an encoded call"),
        ("unknown", "treasury has no call 'steal'"),
        ("missing", "cannot read"),
    ]:
        ran = xpl(
            "gov", "submit", "--track", "small_spender", "--preimage-file",
            str(tmp_path / name), "--from", PROPOSER,
        )  # fmt: skip
        assert ran.code == 2 and message in ran.err, (name, ran.err)
    assert client.next_nonce(public(PROPOSER)) == nonce


@pytest.mark.timeout(60)
def test_bad_governance_input_gets_one_clear_error_and_costs_nothing_when_caught_early(
    xpl: XplRun, client: XplClient
) -> None:
    nonce = client.next_nonce(public(VOTER))
    early = [
        (("vote", "0", "aye", "--amount", "1XPL", "--conviction", "7x"), 1, "1x to 6x"),
        (("vote", "0", "abstain", "--amount", "1XPL", "--conviction", "2x"), 1, "no conviction"),
        (("vote", "0", "aye"), 1, "needs --amount"),
        (("vote", "0", "split", "--amount", "1XPL"), 1, "--aye, --nay and --abstain"),
        (("submit", "--track", "root", "--call", "compute.set_params", "--args", "{}"), 2,
         "missing argument 'audit_ppm'"),
        (("submit", "--track", "root", "--call", "compute.steal"), 2, "compute has no call"),
        (("delegate", "--track", "nope", "--to", VOTER, "--amount", "1XPL"), 2,
         "no track 'nope' on this chain (its tracks: root (0), treasurer (1), small_spender (2))"),
    ]  # fmt: skip
    for args, code, message in early:
        ran = xpl("gov", *args, "--from", VOTER)
        lines = ran.err.strip().splitlines()
        assert ran.code == code and len(lines) == 1 and message in lines[0], (args, ran.err)
    assert client.next_nonce(public(VOTER)) == nonce  # nothing was signed

    # Refused by the chain's rules: the fee is paid, the error named and explained.
    on_chain = [
        (("vote", "9999", "aye", "--amount", "1XPL", "--from", VOTER), "error: "),
        (("deposit", "9999", "--from", VOTER), "error: referenda.UnknownReferendum: "),
        (
            ("submit", "--track", "root", "--call", "compute.set_params",
             "--args", json.dumps(audit_change(client, 1)), "--from", PAUPER),
            "error: referenda.CannotPayDeposit: ",
        ),
    ]  # fmt: skip
    for args, message in on_chain:
        ran = xpl("gov", *args)
        assert ran.code == 1 and message in ran.err, (args, ran.err)
    assert "no referendum 9999" in xpl("gov", "show", "9999").err
