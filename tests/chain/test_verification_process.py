"""Committees of real validator processes that do not verify honestly, seen only through RPC.

Three `xpl node` validators (//Alice, //Bob, //Charlie) run a local chain whose spec audits every
job on all its leaves by a committee of all three, in short phases. //Ferdie is the worker: the
test computes its result, uploads it, commits it and responds to each check with the worker
daemon's own call (`gpu_worker.worker.responding`); //Eve submits the jobs.

1. Alice runs `--verifier-behaviour lazy` (commits and reveals made-up leaf hashes): the honest
   job still passes by Bob's and Charlie's reveals and settles, they are paid the verification
   fee, and Alice is penalized from her stash.
2. Alice and Bob are restarted `--verifier-behaviour unavailable`: no strict majority of the
   reveals names leaf hashes, so each round is inconclusive, both are penalized, and after the
   last round the job is voided (the requester refunded, the worker neither paid nor slashed).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import pytest

from chain.client.blobs import upload_blob
from chain.client.chain import XplClient, make_call
from chain.client.checks import reveal_vote
from chain.localnet import Localnet
from chain.localnet import wait_until as poll
from chain.spec import ChainSpec, local_spec
from gpu_worker import devices
from gpu_worker.inputs import generate_inputs
from gpu_worker.jobs import JobSpec, compute_leaves
from gpu_worker.worker.responding import due_responses, response_call
from runtime.primitives.address import encode_address
from runtime.primitives.keys import Keypair, dev_keypair
from runtime.transaction import Call

if TYPE_CHECKING:
    from tests.chain.conftest import XplCli

ALICE, BOB, CHARLIE, EVE, FERDIE = (
    dev_keypair(n) for n in ("Alice", "Bob", "Charlie", "Eve", "Ferdie")
)
UNIT: Final = 10**12
PRICE: Final = 10**16
"""Per 10^9 cost units: the small job below escrows more than the existential deposit."""
SPEC: Final = JobSpec("gemm_i8", (8, 16, 8, 2), seed=42)
"""4 leaves of 2 rows each; every one is audited."""
COMMIT_WINDOW: Final = 3
REVEAL_WINDOW: Final = 3
MAX_ROUNDS: Final = 2
DISPUTE_WINDOW: Final = 14
PENALTY: Final = 10**10


def committee_spec() -> ChainSpec:
    data = local_spec(validators=3).to_json()
    data["genesis"]["compute"].update(
        auditPpm=1_000_000,
        auditLeaves=4,
        committeeSize=3,
        commitWindow=COMMIT_WINDOW,
        revealWindow=REVEAL_WINDOW,
        maxRounds=MAX_ROUNDS,
        disputeWindow=DISPUTE_WINDOW,
        memberPenalty=f"{PENALTY}u",
    )
    return ChainSpec.from_json(data)


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Localnet]:
    net = Localnet(
        tmp_path_factory.mktemp("committee") / "net",
        validators=3,
        spec=committee_spec(),
        node_args=("--verify-device", "numpy"),
        check_invariants=True,
    )
    net.node("alice").extra_args = ("--verifier-behaviour", "lazy")
    net.start()
    try:
        yield net
    finally:
        net.stop()


@pytest.fixture(scope="module")
def client(net: Localnet) -> Iterator[XplClient]:
    with net.node("charlie").client(timeout=30) as client:
        # stake, device, memory, workloads, prices, throughput, endpoint, capacity
        worker = (100 * UNIT, "cpu", 1024, ["gemm_i8"], [PRICE], [1], "", 4)
        call(client, FERDIE, "market", "register_worker", *worker)
        yield client


def call(client: XplClient, who: Keypair, pallet: str, name: str, *args: Any) -> dict[str, Any]:
    """`who` calls pallet.name and waits for its block; the call must succeed."""
    return include(client, who, make_call(pallet, name, *args))


def include(client: XplClient, who: Keypair, made: Call) -> dict[str, Any]:
    """`who` makes `made` and waits for its block; the call must succeed."""
    outcome = client.submit_and_watch(client.sign(who, made), until="inBlock", timeout=60)
    assert outcome.success, outcome.error
    return {"block": outcome.block_number, "events": outcome.events}


def run_job(client: XplClient) -> tuple[int, int, list[bytes]]:
    """Eve submits the job; Ferdie uploads the right result and commits its root; (job id, the
    commitment's block, the leaves)."""
    submitted = call(
        client, EVE, "market", "submit_job", SPEC.workload, list(SPEC.params), ["a", "b"],
        [b"", b""], SPEC.seed, PRICE, 20, 20, "always",
    )  # fmt: skip
    (event,) = (e for e in submitted["events"] if e["event"] == "JobSubmitted")
    job_id: int = event["data"]["job"]
    leaves = compute_leaves(
        SPEC, generate_inputs(SPEC.workload, SPEC.params, SPEC.seed), device="numpy"
    )
    info = upload_blob(client.rpc, leaves, signer=FERDIE)
    view = client.job(job_id)
    assert view is not None
    committed = call(
        client, FERDIE, "compute", "commit_result", job_id, view.digest, info.root, len(leaves)
    )
    return job_id, committed["block"], leaves


class Job:
    """One job's events read block by block, with the worker responding to its checks."""

    def __init__(self, client: XplClient, job_id: int, first: int, leaves: Sequence[bytes]):
        self.client = client
        self.job_id = job_id
        self.next = first
        self.leaves = leaves
        self.seen: list[dict[str, Any]] = []

    def poll(self) -> list[dict[str, Any]]:
        """Read the new blocks' events about the job; respond to each check now due."""
        best = self.client.best_number()
        while self.next <= best:
            block_hash = self.client.block_hash(self.next)
            assert block_hash is not None
            for event in self.client.events(block_hash):
                if event["data"].get("job") == self.job_id:
                    self.seen.append({**event, "number": self.next})
            self.next += 1
        view = self.client.job(self.job_id)
        if view is not None and view.state == "committed":
            for index, check in due_responses(view.checks, best):
                include(self.client, FERDIE, response_call(self.job_id, index, check, self.leaves))
        return self.seen

    def named(self, name: str) -> list[dict[str, Any]]:
        return [e for e in self.seen if e["event"] == name]

    def wait_for(self, name: str, *, timeout: float = 60.0) -> dict[str, Any]:
        """The first event called `name` about the job, once it is in a block."""
        return poll(
            lambda: next((e for e in self.poll() if e["event"] == name), None),
            timeout=timeout,
            what=f"{name} for job {self.job_id}",
            interval=0.2,
        )


def stash_bond(client: XplClient, who: Keypair) -> int:
    return dict(client.account(who.public).holds).get("staking", 0)


def address(who: Keypair) -> str:
    return encode_address(who.public)


@pytest.mark.timeout(120)
def test_a_lazy_member_is_penalized_while_the_honest_majority_passes_the_job(
    client: XplClient,
) -> None:
    bonds = {who: stash_bond(client, who) for who in (ALICE, BOB, CHARLIE)}
    job_id, committed_at, leaves = run_job(client)
    job = Job(client, job_id, committed_at, leaves)

    drawn = job.wait_for("ChallengeDrawn")
    assert sorted(drawn["data"]["committee"]) == sorted(map(address, (ALICE, BOB, CHARLIE)))
    decided = job.wait_for("CheckDecided")
    assert decided["data"]["outcome"] == "pass"
    # Alice, lazy, copied the worker's published result: her leaf hashes match its response,
    # but her made-up witness is not the one Bob's and Charlie's recomputations reached.
    view = client.job(job_id)
    assert view is not None
    (check,) = view.checks
    votes = {encode_address(m): reveal_vote(check, hashes) for m, hashes in check.reveals}
    assert votes == {address(ALICE): "match", address(BOB): "match", address(CHARLIE): "match"}
    witnesses = dict(check.witnesses)
    assert witnesses[BOB.public] == witnesses[CHARLIE.public] != witnesses[ALICE.public]
    assert len(job.named("AttestationRevealed")) == 3
    assert len(job.named("AttestationCommitted")) == 3
    (penalized,) = job.named("MemberPenalized")
    assert penalized["data"]["member"] == address(ALICE)
    assert int(penalized["data"]["amount"]) == PENALTY

    settled = job.wait_for("JobSettled")
    assert settled["number"] == committed_at + DISPUTE_WINDOW
    market_params, _ = client.market_params()
    fee = market_params.fees_for(int(settled["data"]["payment"]))[1]
    paid = int(settled["data"]["verification_fee"])
    assert paid == fee // 2 * 2  # one share each to Bob and Charlie, none to Alice
    assert stash_bond(client, BOB) == bonds[BOB]
    assert stash_bond(client, CHARLIE) == bonds[CHARLIE]
    # What each strategy earned on this check, measured: the lazy member saved its
    # recomputation (worth less than the fee share it would have earned) and lost the penalty.
    honest_profit = fee // 2
    lazy_profit = stash_bond(client, ALICE) - bonds[ALICE] + (paid - fee // 2 * 2)
    assert lazy_profit == -PENALTY
    assert lazy_profit < 0 < honest_profit


@pytest.mark.timeout(180)
def test_a_majority_voting_unavailable_leaves_the_job_void_and_is_penalized(
    net: Localnet, client: XplClient
) -> None:
    for name in ("alice", "bob"):
        net.stop_node(name)
        net.node(name).extra_args = ("--verifier-behaviour", "unavailable")
        net.restart(name)
    bonds = {who: stash_bond(client, who) for who in (ALICE, BOB, CHARLIE)}
    escrow_before = client.account(EVE.public).free
    job_id, committed_at, leaves = run_job(client)
    job = Job(client, job_id, committed_at, leaves)

    job.wait_for("JobVoided", timeout=120)
    # Every round undecided (the last one's record may say "void"), never a pass.
    outcomes = [e["data"]["outcome"] for e in job.named("CheckDecided")]
    assert len(outcomes) == MAX_ROUNDS and set(outcomes) <= {"inconclusive", "void"}, outcomes
    assert job.named("JobSettled") == [] and job.named("JobFailed") == []
    view = client.job(job_id)
    assert view is not None and view.state != "settled"
    # The members that voted "unavailable" paid for it; the one that recomputed did not.
    penalties = {
        who: sum(
            int(e["data"]["amount"])
            for e in job.named("MemberPenalized")
            if e["data"]["member"] == address(who)
        )
        for who in (ALICE, BOB, CHARLIE)
    }
    assert penalties[ALICE] >= PENALTY and penalties[BOB] >= PENALTY, penalties
    assert penalties[CHARLIE] == 0
    for who in (ALICE, BOB, CHARLIE):
        assert stash_bond(client, who) == bonds[who] - penalties[who]
    # The requester got its escrow back (it paid only transaction fees).
    assert client.account(EVE.public).free > escrow_before - UNIT // 100


@pytest.mark.skipif(devices.cuda_available(), reason="this machine has a GPU")
def test_a_validator_asking_for_cuda_without_a_gpu_is_refused(xpl: XplCli, tmp_path: Path) -> None:
    line = xpl.fails(
        "node",
        "--dev",
        "--verify-device",
        "cuda",
        "--base-path",
        str(tmp_path),
        "--rpc-port",
        "0",
        "--no-prometheus",
    )
    assert "--verify-device cuda" in line
