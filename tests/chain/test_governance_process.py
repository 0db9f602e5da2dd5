"""Governance on a network of real processes: three `xpl node` validators (//Alice, //Bob,
//Charlie) on the local chain's fast referendum tracks, and //Dave's `xpl worker` attached to Bob's
node. Everything a token holder does goes through the `xpl` command (run in this process: its
entry point, without an interpreter start for each run); the tests read the outcome over RPC.

Four referenda are proposed at once, so that they run side by side in the same blocks:
- A (root): `compute.set_params` raising the audit probability to 1,000,000 ppm and auditing 2
  leaves instead of 4: enacted, the next job's audit draw shows the new values.
- B (small_spender): `treasury.spend` of 50 XPL to a builder's new account: enacted, then claimed
  (and a second claim refused: a payout cannot be replayed).
- C (small_spender): `grants.award` of a compute grant to //Eve: her job, submitted through the
  grant, is escrowed from the grant's account, computed by the worker, audited and paid.
- D (root): `compute.set_params` with an audit probability at which cheating pays: the vote passes,
  the enactment fails, and the scheduler's Dispatched event names the error and the check.
The root track decides one referendum at a time: D waits in its queue until A is done.

//Ferdie proposes A and D, //Eve B and C; both vote aye on all four with 0.1x conviction (no lock
after the end) and enough capital for the support the curves ask for at the start of the decision
period.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import io
import json
from collections.abc import Callable, Iterator
from typing import Any, Final

import pytest

from chain.cli.main import main as xpl_main
from chain.client.chain import XplClient
from chain.localnet import Localnet
from chain.localnet import wait_until as poll
from chain.spec import ChainSpec, local_spec
from runtime.accounts import TREASURY
from runtime.pallets.compute import ComputeParams
from runtime.primitives.address import encode_address
from runtime.primitives.amount import parse_amount
from runtime.primitives.keys import dev_keypair, keypair_from_suri

WORKER, EVE, FERDIE = (dev_keypair(n) for n in ("Dave", "Eve", "Ferdie"))
BUILDER: Final = keypair_from_suri("//GovBuilder")
"""The treasury spend's beneficiary: an account that holds nothing before it is paid."""
SPEND: Final = parse_amount("50XPL")
GRANT: Final = parse_amount("100XPL")
DONATION: Final = "5000XPL"
"""What //Eve gives the treasury first (a genesis treasury holds nothing): a donation."""
VOTE: Final = "600000XPL"
"""Each voter's capital: 2 × 600,000 of the 6,000,000 XPL issued is 20% support, above the 10%
the fast tracks ask for at the start of their decision periods."""
GEMM: Final = [512, 512, 512, 64]
"""8 leaves of 64 rows: an audit under the genesis parameters draws 4, under A's 2."""
GENESIS_AUDIT_LEAVES: Final = 4
NEW_AUDIT_LEAVES: Final = 2
UNSAFE_AUDIT_PPM: Final = 100_000
TIMEOUT_S: Final = 60.0


def governance_spec() -> ChainSpec:
    """The local chain (fast referendum tracks) with verification windows of a few blocks."""
    data = local_spec(validators=3).to_json()
    data["genesis"]["compute"].update(
        auditLeaves=GENESIS_AUDIT_LEAVES, commitWindow=3, revealWindow=3, disputeWindow=14
    )
    return ChainSpec.from_json(data)


class Ran:
    """One `xpl` run: its exit code, output and error lines."""

    def __init__(self, code: int, out: str, err: str) -> None:
        self.code, self.out, self.err = code, out, err

    def json(self) -> Any:
        return json.loads(self.out.strip().splitlines()[-1])


def xpl(url: str, *argv: str) -> Ran:
    """`xpl ARGV --rpc URL --json`, run in this process as the `xpl` command runs it."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = xpl_main([*argv, "--rpc", url, "--json"])
    return Ran(code, out.getvalue(), err.getvalue())


def sent(url: str, *argv: str) -> None:
    """Submit a transaction with `xpl ... --wait none` (the next nonce counts the node's pool, so
    one account's commands queue up for the same block); it must be accepted."""
    ran = xpl(url, *argv, "--wait", "none")
    assert ran.code == 0, ran.err


class Events:
    """The events of the best chain, read once per finalized block (unfinalized ones again)."""

    def __init__(self, client: XplClient) -> None:
        self.client = client
        self.final: list[tuple[int, dict[str, Any]]] = []
        self.final_upto = 0

    def all(self) -> list[tuple[int, dict[str, Any]]]:
        """(block number, event) for every event up to the best block."""
        finalized, best = self.client.finalized_number(), self.client.best_number()
        recent: list[tuple[int, dict[str, Any]]] = []
        for number in range(self.final_upto + 1, best + 1):
            block_hash = self.client.block_hash(number)
            if block_hash is None:
                break
            found = [(number, e) for e in self.client.events(block_hash)]
            if number <= finalized and number == self.final_upto + 1:
                self.final += found
                self.final_upto = number
            else:
                recent += found
        return self.final + recent

    def find(
        self, pallet: str, name: str, where: Callable[[dict[str, Any]], bool] = lambda _: True
    ) -> tuple[int, dict[str, Any]] | None:
        """The first event `pallet.name` whose data `where` accepts, with its block."""
        for number, event in self.all():
            if (event["pallet"], event["event"]) == (pallet, name) and where(event["data"]):
                return number, event["data"]
        return None

    def wait(
        self, pallet: str, name: str, where: Callable[[dict[str, Any]], bool] = lambda _: True
    ) -> tuple[int, dict[str, Any]]:
        """Wait (at most TIMEOUT_S) for the first event `pallet.name` that `where` accepts."""
        return poll(
            lambda: self.find(pallet, name, where), timeout=TIMEOUT_S, what=f"{pallet}.{name}"
        )


@dataclasses.dataclass
class Governance:
    """The running network, its RPC, and the four referenda's indices by letter."""

    net: Localnet
    url: str
    client: XplClient
    events: Events
    refs: dict[str, int]


def _params_json(params: ComputeParams) -> dict[str, int]:
    return dataclasses.asdict(params)


def _index_of(
    proposals: list[dict[str, Any]], pallet: str, call: str, test: Callable[..., bool]
) -> int:
    for ref in proposals:
        proposal = ref["proposal"]
        if (proposal["pallet"], proposal["call"]) == (pallet, call) and test(proposal["args"]):
            return int(ref["index"])
    raise AssertionError(f"no referendum proposes {pallet}.{call}: {proposals}")


@pytest.fixture(scope="module")
def gov(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Governance]:
    net = Localnet(
        tmp_path_factory.mktemp("governance") / "net",
        validators=3,
        workers=1,
        worker_args=("--stake", "1000XPL", "--ask", "gemm_i8=1XPL", "--device", "numpy"),
        spec=governance_spec(),
        node_args=("--verify-device", "numpy"),
        check_invariants=True,
    )
    net.start()
    try:
        url = net.node("alice").rpc_url
        with net.node("alice").client(timeout=30) as client:
            yield Governance(net, url, client, Events(client), _propose_and_vote(url, client))
    finally:
        codes = net.stop()
    assert all(code == 0 for code in codes.values()), codes


def _propose_and_vote(url: str, client: XplClient) -> dict[str, int]:
    """Fund the treasury, submit the four referenda, place their decision deposits and vote, all
    through `xpl`; the referenda's indices by letter."""
    poll(lambda: client.best_number() >= 1 or None, timeout=TIMEOUT_S, what="block #1")
    genesis = client.market_params()[1]
    assert (genesis.audit_ppm, genesis.audit_leaves) == (650_000, GENESIS_AUDIT_LEAVES)
    raised = dataclasses.replace(genesis, audit_ppm=1_000_000, audit_leaves=NEW_AUDIT_LEAVES)
    unsafe = dataclasses.replace(genesis, audit_ppm=UNSAFE_AUDIT_PPM)
    eve, ferdie = ("--from", "//Eve"), ("--from", "//Ferdie")
    sent(url, "tx", "transfer", "--to", encode_address(TREASURY), "--amount", DONATION, *eve)
    for params in (raised, unsafe):
        sent(url, "gov", "submit", "--track", "root", "--call", "compute.set_params",
             "--args", json.dumps(_params_json(params)), *ferdie)  # fmt: skip
    sent(url, "treasury", "propose-spend", "50XPL", "--to", "//GovBuilder",
         "--track", "small_spender", *eve)  # fmt: skip
    sent(url, "grant", "award", "//Eve", "--amount", "100XPL", "--max-price", "10XPL",
         "--expires-at", "100000", "--track", "small_spender", *eve)  # fmt: skip
    proposals = poll(
        lambda: found if len(found := client.gov_referenda()) == 4 else None,
        timeout=TIMEOUT_S,
        what="the four referenda",
    )
    refs = {
        "A": _index_of(proposals, "compute", "set_params", lambda a: a["audit_ppm"] == 1_000_000),
        "D": _index_of(proposals, "compute", "set_params", lambda a: a["audit_ppm"] != 1_000_000),
        "B": _index_of(proposals, "treasury", "spend", lambda _: True),
        "C": _index_of(proposals, "grants", "award", lambda _: True),
    }
    for letter in "ADBC":
        depositor = ferdie if letter in "AD" else eve
        sent(url, "gov", "deposit", str(refs[letter]), *depositor)
    # One vote per voter at a time: the pool counts a vote's whole amount as what it may take
    # from the voter's spendable balance, even where an earlier vote's lock covers it already.
    for letter in "ADBC":
        for voter in (eve, ferdie):
            sent(url, "gov", "vote", str(refs[letter]), "aye", "--amount", VOTE,
                 "--conviction", "0.1x", *voter)  # fmt: skip
        poll(
            functools.partial(_counted, client, refs[letter]),
            timeout=TIMEOUT_S,
            what=f"the votes on referendum {letter}",
        )
    return refs


def _counted(client: XplClient, index: int) -> bool | None:
    """True once both votes count in referendum `index`'s tally."""
    found = client.gov_referendum(index)
    return True if found and int(found["tally"]["support"]) == 2 * parse_amount(VOTE) else None


def dispatched(gov: Governance, call: str, *, ok: bool) -> dict[str, Any]:
    """Wait for the scheduler to dispatch an enacted `call` that succeeded (or failed); its
    Dispatched event."""
    _, event = gov.events.wait(
        "scheduler", "Dispatched", lambda d: d["call"] == call and d["ok"] is ok
    )
    return event


def referendum_state(gov: Governance, letter: str) -> str:
    found = gov.client.gov_referendum(gov.refs[letter])
    assert found is not None
    return str(found["state"])


def job_of(ran: Ran) -> int:
    """The job a `--json` run submitted."""
    assert ran.code == 0, ran.err
    events = ran.json()["events"]
    jobs = [e["data"]["job"] for e in events if e["event"] == "market.JobSubmitted"]
    assert len(jobs) == 1, ran.out
    return int(jobs[0])


@pytest.mark.timeout(180)
def test_a_root_referendum_changes_the_audit_probability_and_the_next_job_is_audited_so(
    gov: Governance,
) -> None:
    dispatched(gov, "compute.set_params", ok=True)
    assert referendum_state(gov, "A") == "approved"
    compute = gov.client.market_params()[1]
    assert (compute.audit_ppm, compute.audit_leaves) == (1_000_000, NEW_AUDIT_LEAVES)

    # The next job (sampled, not always audited) is audited, on the new number of leaves.
    submitted = xpl(
        gov.url, "tx", "call", "market.submit_job", "--args",
        json.dumps([
            "gemm_i8", GEMM, ["a", "b"], ["0x", "0x"], 3, "2XPL", 30, 30, "sampled"
        ]), "--from", "//Ferdie",
    )  # fmt: skip
    job = job_of(submitted)
    _, drawn = gov.events.wait("compute", "ChallengeDrawn", lambda d: d["job"] == job)
    assert drawn["audited"] is True
    assert len(drawn["leaves"]) == NEW_AUDIT_LEAVES
    assert len(drawn["committee"]) == 3


@pytest.mark.timeout(180)
def test_a_small_spender_referendum_pays_a_builder_from_the_treasury_once(
    gov: Governance,
) -> None:
    dispatched(gov, "treasury.spend", ok=True)
    assert referendum_state(gov, "B") == "approved"
    _, approved = gov.events.wait(
        "treasury", "SpendApproved", lambda d: d["beneficiary"] == encode_address(BUILDER.public)
    )
    assert int(approved["amount"]) == SPEND and approved["origin"] == "small_spender"
    assert gov.client.account(BUILDER.public).free == 0

    # Anyone may claim it for the builder (the payout pays no fee); once.
    claimed = xpl(gov.url, "treasury", "claim", str(approved["index"]), "--from", "//Eve")
    assert claimed.code == 0, claimed.err
    assert "treasury.SpendPaid" in [e["event"] for e in claimed.json()["events"]]
    assert gov.client.account(BUILDER.public).free == SPEND
    again = xpl(gov.url, "treasury", "claim", str(approved["index"]), "--from", "//Eve")
    assert again.code == 1
    assert "error: treasury." in again.err
    assert gov.client.account(BUILDER.public).free == SPEND


def treasury_rent(gov: Governance) -> int:
    """The queue rent the treasury has recorded so far, as `treasury_status` reports it."""
    return int(gov.client.rpc.call("treasury_status")["ledger"]["income"]["rent"])


@pytest.mark.timeout(180)
def test_a_compute_grant_awarded_by_referendum_pays_for_a_job_end_to_end(
    gov: Governance,
) -> None:
    dispatched(gov, "grants.award", ok=True)
    assert referendum_state(gov, "C") == "approved"
    _, awarded = gov.events.wait("grants", "GrantAwarded")
    assert awarded["builder"] == encode_address(EVE.public) and int(awarded["amount"]) == GRANT
    grant_account = awarded["account"]
    worker_before = gov.client.workers()[WORKER.public]
    eve_before = gov.client.account(EVE.public).free
    rent_before = treasury_rent(gov)

    # //Eve submits the job through the grant: the escrow is held from the grant's account.
    ran = xpl(
        gov.url, "grant", "call", str(awarded["grant"]), "market.submit_job", "--args",
        json.dumps(["gemm_i8", GEMM, ["a", "b"], ["0x", "0x"], 5, "2XPL", 30, 30, "sampled"]),
        "--from", "//Eve",
    )  # fmt: skip
    job = job_of(ran)
    view = gov.client.job(job)
    assert view is not None and encode_address(view.job.requester) == grant_account
    # //Eve paid the transaction's fee and nothing else.
    assert eve_before - gov.client.account(EVE.public).free == parse_amount(ran.json()["fee"])

    # //Dave's worker computes it, the validators audit it, and it settles: paid from the grant.
    _, settled = gov.events.wait("market", "JobSettled", lambda d: d["job"] == job)
    assert settled["worker"] == encode_address(WORKER.public)
    payment = int(settled["payment"])
    assert payment > 0
    grant_free = gov.client.account(bytes(view.job.requester)).free
    spent = GRANT - grant_free
    paid = payment + int(settled["verification_fee"]) + int(settled["protocol_fee"])
    # ... and the rent of the blocks it waited for the worker, which the treasury records.
    rent = treasury_rent(gov) - rent_before
    assert spent == paid + rent, (spent, settled, rent)
    worker_after = gov.client.workers()[WORKER.public]
    assert worker_after.stake == worker_before.stake


@pytest.mark.timeout(180)
def test_an_unsafe_parameter_change_passes_its_vote_and_fails_at_enactment_saying_why(
    gov: Governance,
) -> None:
    failed = dispatched(gov, "compute.set_params", ok=False)
    assert referendum_state(gov, "D") == "approved"
    assert failed["error"] == "compute.BadParams"
    assert "faking results pays" in failed["reason"]
    assert f"audit_ppm {UNSAFE_AUDIT_PPM}" in failed["reason"]
    # Its writes were undone: the parameters are still those referendum A set.
    assert gov.client.market_params()[1].audit_ppm == 1_000_000
