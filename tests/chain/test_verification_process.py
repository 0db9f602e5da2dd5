"""A validator node's verification service at work, seen only through RPC and metrics.

One `xpl node` validates (//Alice) a chain whose spec audits every job (auditPpm 1000000) with
a short audit window (3 blocks) and dispute window (7 blocks). Bob registers as a worker, Charlie
submits small gemm_i8 jobs with generated inputs, Bob computes them, uploads the result to the
node's blob store and commits its root. The node's service recomputes the audited leaves and
attests: "pass" lets the job settle, "fail" ends it with Bob slashed.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import pytest

from chain.client.blobs import upload_blob
from chain.client.chain import XplClient, make_call
from gpu_worker import devices
from gpu_worker.inputs import generate_inputs
from gpu_worker.jobs import JobSpec, compute_leaves
from runtime.pallets.compute import DRAW_DELAY
from runtime.primitives.address import encode_address
from runtime.primitives.keys import Keypair, dev_keypair
from runtime.primitives.merkle import merkle_root

if TYPE_CHECKING:
    from tests.chain.conftest import NodeFactory, NodeProcess, Waiter, XplCli

ALICE, BOB, CHARLIE = (dev_keypair(n) for n in ("Alice", "Bob", "Charlie"))
UNIT: Final = 10**12
PRICE: Final = 10**16
"""Per 10^9 cost units: the small job below escrows more than the existential deposit."""
SPEC: Final = JobSpec("gemm_i8", (8, 16, 8, 2), seed=42)
"""4 leaves of 2 rows each; every one is audited."""
AUDIT_WINDOW: Final = 3
DISPUTE_WINDOW: Final = 7


@pytest.fixture(scope="module")
def node(
    module_node_factory: NodeFactory, tmp_path_factory: pytest.TempPathFactory, xpl: XplCli
) -> NodeProcess:
    built = xpl.run("build-spec", "--chain", "dev")
    assert built.returncode == 0, built.stderr
    spec = json.loads(built.stdout)
    spec["genesis"]["compute"].update(
        auditPpm=1_000_000,
        auditLeaves=4,
        auditWindow=AUDIT_WINDOW,
        disputeWindow=DISPUTE_WINDOW,
    )
    path = tmp_path_factory.mktemp("spec") / "audit-everything.json"
    path.write_text(json.dumps(spec))
    args = ("--chain", str(path), "--validator", "--dev-key", "//Alice", "--verify-device", "numpy")
    return module_node_factory.start(args=args)


@pytest.fixture(scope="module")
def client(node: NodeProcess) -> XplClient:
    client = node.client(timeout=30.0)
    # stake, device, memory, workloads, prices, throughput, endpoint, capacity
    worker = (100 * UNIT, "cpu", 1024, ["gemm_i8"], [PRICE], [1], "", 4)
    call(client, BOB, "market", "register_worker", *worker)
    return client


def call(client: XplClient, who: Keypair, pallet: str, name: str, *args: Any) -> dict[str, Any]:
    """`who` calls pallet.name and waits for its block; the call must succeed. Its events."""
    outcome = client.submit_and_watch(
        client.sign(who, make_call(pallet, name, *args)), until="inBlock", timeout=30
    )
    assert outcome.success, outcome.error
    return {"block": outcome.block_number, "events": outcome.events}


def run_job(client: XplClient, leaves: Sequence[bytes] | None = None) -> tuple[int, int]:
    """Charlie submits the job, Bob uploads `leaves` (default: the right ones) and commits their
    root; (job id, the commitment's block number)."""
    submitted = call(
        client,
        CHARLIE,
        "market",
        "submit_job",
        SPEC.workload,
        list(SPEC.params),
        ["a", "b"],
        [b"", b""],
        SPEC.seed,
        PRICE,
        20,
        20,
        "sampled",
    )
    (event,) = (e for e in submitted["events"] if e["event"] == "JobSubmitted")
    job_id: int = event["data"]["job"]
    matched = [e for e in submitted["events"] if e["event"] == "JobMatched"]
    assert [e["data"]["worker"] for e in matched] == [encode_address(BOB.public)]
    if leaves is None:
        inputs = generate_inputs(SPEC.workload, SPEC.params, SPEC.seed)
        leaves = compute_leaves(SPEC, inputs, device="numpy")
    info = upload_blob(client.rpc, leaves)
    assert info.root == merkle_root(leaves)
    committed = call(client, BOB, "compute", "commit_result", job_id, info.root, len(leaves))
    return job_id, committed["block"]


class JobEvents:
    """The events about one job, read block by block from a given block on."""

    def __init__(self, client: XplClient, job_id: int, first: int) -> None:
        self.client = client
        self.job_id = job_id
        self.next = first
        self.seen: list[dict[str, Any]] = []

    def poll(self) -> list[dict[str, Any]]:
        best = self.client.best_number()
        while self.next <= best:
            block_hash = self.client.block_hash(self.next)
            assert block_hash is not None
            for event in self.client.events(block_hash):
                if event["data"].get("job") == self.job_id:
                    self.seen.append({**event, "number": self.next})
            self.next += 1
        return self.seen

    def named(self, name: str) -> list[dict[str, Any]]:
        return [e for e in self.seen if e["event"] == name]

    def wait_for(self, name: str, wait_until: Waiter, *, timeout: float = 30.0) -> dict[str, Any]:
        """The first event called `name` about the job, once it is in a block."""
        return wait_until(
            lambda: next((e for e in self.poll() if e["event"] == name), None),
            timeout=timeout,
            what=f"{name} for job {self.job_id}",
            interval=0.2,
        )


def stake_of(client: XplClient, who: Keypair) -> int:
    return dict(client.account(who.public).holds).get("stake", 0)


def verifications(node: NodeProcess, verdict: str) -> float:
    found = re.search(
        rf'^xpl_verifications_total\{{verdict="{verdict}"\}} (\S+)$', node.metrics(), re.M
    )
    return 0.0 if found is None else float(found.group(1))


@pytest.mark.timeout(60)
def test_an_honest_result_is_attested_pass_and_the_job_settles(
    node: NodeProcess, client: XplClient, wait_until: Waiter
) -> None:
    job_id, committed_at = run_job(client)
    events = JobEvents(client, job_id, committed_at)

    drawn = events.wait_for("ChallengeDrawn", wait_until)
    assert drawn["number"] == committed_at + DRAW_DELAY
    assert drawn["data"]["audited"] is True
    assert drawn["data"]["committee"] == [encode_address(ALICE.public)]
    assert sorted(drawn["data"]["leaves"]) == [0, 1, 2, 3]

    attested = events.wait_for("Attested", wait_until)
    assert attested["data"] == {
        "job": job_id,
        "check": 0,
        "member": encode_address(ALICE.public),
        "verdict": "pass",
    }
    assert attested["number"] <= drawn["data"]["deadline"]
    decided = events.wait_for("CheckDecided", wait_until)
    assert decided["data"]["outcome"] == "pass"

    settled = events.wait_for("JobSettled", wait_until)
    assert settled["number"] == committed_at + DISPUTE_WINDOW
    assert settled["data"]["worker"] == encode_address(BOB.public)
    assert int(settled["data"]["verification_fee"]) > 0  # Alice, who attested, is paid
    assert len(events.named("Attested")) == 1
    assert verifications(node, "pass") == 1.0
    assert f"job {job_id} check 0 leaves [0, 1, 2, 3]: pass" in node.log_text()


@pytest.mark.timeout(60)
def test_a_corrupted_result_is_attested_fail_and_the_worker_is_slashed(
    node: NodeProcess, client: XplClient, wait_until: Waiter
) -> None:
    inputs = generate_inputs(SPEC.workload, SPEC.params, SPEC.seed)
    leaves = [
        bytes([leaf[0] ^ 1]) + leaf[1:] for leaf in compute_leaves(SPEC, inputs, device="numpy")
    ]
    stake_before = stake_of(client, BOB)
    job_id, committed_at = run_job(client, leaves)
    events = JobEvents(client, job_id, committed_at)

    attested = events.wait_for("Attested", wait_until)
    assert attested["data"]["verdict"] == "fail"
    assert attested["data"]["member"] == encode_address(ALICE.public)
    failed = events.wait_for("JobFailed", wait_until)
    assert failed["data"]["worker"] == encode_address(BOB.public)
    slashed = int(failed["data"]["slashed"])
    assert slashed > 0
    assert stake_of(client, BOB) == stake_before - slashed
    assert events.named("JobSettled") == []
    assert verifications(node, "fail") == 1.0


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
