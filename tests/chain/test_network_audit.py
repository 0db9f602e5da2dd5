"""An audit across nodes: the job's data lives on one node, the committee's validators run on the
others and fetch it over the blob protocol; and a result downloaded from a node that never held
it. Real validator processes on 127.0.0.1."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Final

import pytest

from chain.client.blobs import download_blob, upload_blob
from chain.client.chain import XplClient, make_call
from chain.client.checks import reveal_vote
from chain.localnet import Localnet
from chain.localnet import wait_until as poll
from chain.spec import ChainSpec, local_spec
from gpu_worker.inputs import generate_inputs
from gpu_worker.jobs import JobSpec, compute_leaves
from gpu_worker.worker.responding import response_call
from runtime.primitives.address import encode_address
from runtime.primitives.keys import Keypair, dev_keypair

EVE, FERDIE = (dev_keypair(n) for n in ("Eve", "Ferdie"))
WORKER = FERDIE
"""Not a validator: a validator's node signs its own transactions with its account."""
UNIT: Final = 10**12
PRICE: Final = 10**16
SPEC: Final = JobSpec("gemm_i8", (8, 16, 8, 2), seed=0)
"""4 leaves of 2 rows each; all four are audited."""


def audit_everything_spec() -> ChainSpec:
    data = local_spec(validators=4).to_json()
    data["genesis"]["compute"].update(
        auditPpm=1_000_000,
        auditLeaves=4,
        committeeSize=3,
        commitWindow=8,
        revealWindow=4,
        disputeWindow=20,
    )
    return ChainSpec.from_json(data)


@pytest.fixture
def net(tmp_path: Path) -> Iterator[Localnet]:
    net = Localnet(
        tmp_path / "net",
        validators=4,
        spec=audit_everything_spec(),
        node_args=("--verify-device", "numpy"),
        check_invariants=True,
    )
    net.start()
    try:
        yield net
    finally:
        net.stop()


def call(client: XplClient, who: Keypair, pallet: str, name: str, *args: Any) -> dict[str, Any]:
    outcome = client.submit_and_watch(
        client.sign(who, make_call(pallet, name, *args)), until="inBlock", timeout=60
    )
    assert outcome.success, outcome.error
    return {"block": outcome.block_number, "events": outcome.events}


def job_events(client: XplClient, job_id: int, first: int) -> list[dict[str, Any]]:
    seen = []
    for number in range(first, client.best_number() + 1):
        block_hash = client.block_hash(number)
        assert block_hash is not None
        seen += [e for e in client.events(block_hash) if e["data"].get("job") == job_id]
    return seen


@pytest.mark.timeout(240)
def test_an_audit_completes_with_the_data_on_another_node(net: Localnet) -> None:
    dave = net.node("dave")  # the node that holds the job's data
    with dave.client(timeout=30) as client:
        worker = (100 * UNIT, "cpu", 1024, ["gemm_i8"], [PRICE], [1], "", 4)
        call(client, WORKER, "market", "register_worker", *worker)
        # The requester uploads both inputs to Dave's node only.
        inputs = generate_inputs(SPEC.workload, SPEC.params, 7)
        roots = [upload_blob(client.rpc, [inputs[name]], signer=EVE).root for name in ("a", "b")]
        submitted = call(
            client, EVE, "market", "submit_job", SPEC.workload, list(SPEC.params),
            ["a", "b"], roots, 0, PRICE, 30, 30, "always",
        )  # fmt: skip
        (event,) = (e for e in submitted["events"] if e["event"] == "JobSubmitted")
        job_id = event["data"]["job"]
        # The worker computes and uploads its result to Dave's node, and commits.
        leaves = compute_leaves(JobSpec(SPEC.workload, SPEC.params, 0), inputs, device="numpy")
        result = upload_blob(client.rpc, leaves, signer=WORKER)
        view = client.job(job_id)
        assert view is not None
        digest = view.digest
        committed = call(
            client, WORKER, "compute", "commit_result", job_id, digest, result.root, len(leaves)
        )

        drawn = poll(
            lambda: next(
                (e for e in job_events(client, job_id, committed["block"])
                 if e["event"] == "ChallengeDrawn"),
                None,
            ),
            timeout=30,
            what="the audit draw",
        )  # fmt: skip
        committee = drawn["data"]["committee"]
        assert len(committee) == 3
        # The worker responds once the commit phase is over, as its daemon does.
        poll(
            lambda: True if client.best_number() >= drawn["data"]["commit_deadline"] else None,
            timeout=60,
            what="the commit phase to end",
        )
        view = client.job(job_id)
        assert view is not None
        outcome = client.submit_and_watch(
            client.sign(WORKER, response_call(job_id, 0, view.checks[0], leaves)), until="inBlock"
        )
        assert outcome.success, outcome.error
        settled = poll(
            lambda: next(
                (e for e in job_events(client, job_id, committed["block"])
                 if e["event"] == "JobSettled"),
                None,
            ),
            timeout=90,
            what="the job to settle",
        )  # fmt: skip
        view = client.job(job_id)
        assert view is not None
        assert settled["data"]["worker"] == encode_address(WORKER.public)
        events = job_events(client, job_id, committed["block"])
    assert [e["data"]["outcome"] for e in events if e["event"] == "CheckDecided"] == ["pass"]
    (check,) = view.checks
    votes = {encode_address(m): reveal_vote(check, hashes) for m, hashes in check.reveals}
    assert set(votes.values()) == {"match"}
    passes = set(votes)
    names = {
        encode_address(dev_keypair(n.title()).public): n
        for n in ("alice", "bob", "charlie", "dave")
    }
    remote = [names[m] for m in passes if names[m] != "dave"]
    assert len(remote) >= 2, f"committee {committee}, attested {passes}"
    # The committee members on other nodes got the input chunks their leaves read and the
    # leaves over the blob protocol.
    for name in remote:
        log = net.node(name).log_path.read_text()
        assert "fetched 1 of 1 chunks of input blob" in log, name
        assert "recomputed" in log

    # A node that never held the result serves it, fetched from its peers and proven.
    other = net.node(remote[0])
    with other.client(timeout=30) as client:
        downloaded = download_blob(client.rpc, result.root)
    assert downloaded == b"".join(leaves)
    assert json.dumps(settled)  # the event is plain JSON
