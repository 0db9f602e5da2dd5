"""The market over RPC: jobs, workers and parameters as a requester and a worker see them."""

from __future__ import annotations

import json
import re

import pytest

from chain.client.chain import XplClient, job_from_json, make_call
from chain.client.rpc import RpcClientError
from chain.service.rpc import errors
from chain.service.rpc.market import job_json
from runtime.pallets.compute import DEFAULT_COMPUTE_PARAMS
from runtime.pallets.market import DEFAULT_MARKET_PARAMS, Job, PastMatch, job_digest
from runtime.primitives.address import encode_address
from runtime.primitives.keys import dev_keypair
from runtime.workloads import workload_shape
from tests.chain.conftest import NodeProcess

UNIT = 10**12
BOB = dev_keypair("Bob")
CHARLIE = dev_keypair("Charlie")
DAVE = dev_keypair("Dave")
PARAMS = [256, 256, 256, 64]


def register(client: XplClient, price: int) -> None:
    call = make_call(
        "market",
        "register_worker",
        1000 * UNIT,
        "cpu",
        2048,
        ["gemm_i8"],
        [price],
        [50],
        "",
        2,
    )
    outcome = client.submit_and_watch(client.sign(BOB, call), until="inBlock")
    assert outcome.success, outcome.error


def busy_cheap_worker(client: XplClient) -> None:
    """//Dave asks half a unit with one slot, which a job of //Charlie's takes; then it retires:
    a later job at that price waits (the chain refuses one that no worker could take)."""
    call = make_call(
        "market", "register_worker", 1000 * UNIT, "cpu", 2048, ["gemm_i8"], [UNIT // 2], [50], "", 1
    )
    outcome = client.submit_and_watch(client.sign(DAVE, call), until="inBlock")
    assert outcome.success, outcome.error
    submit(client, max_price=UNIT // 2)


def submit(client: XplClient, max_price: int) -> int:
    inputs = (["a", "b"], [b"", b""])
    args = (*inputs, 7, max_price, 20, 5, "sampled")
    call = make_call("market", "submit_job", "gemm_i8", PARAMS, *args)
    outcome = client.submit_and_watch(client.sign(CHARLIE, call), until="inBlock")
    assert outcome.success, outcome.error
    (submitted,) = [e for e in outcome.events if e["event"] == "JobSubmitted"]
    return int(submitted["data"]["job"])


def test_jobs_and_workers_are_reported_as_the_chain_holds_them(dev_node: NodeProcess) -> None:
    with dev_node.client() as client:
        register(client, price=UNIT)
        workers = client.workers()
        assert workers[BOB.public].asks == (("gemm_i8", UNIT),)
        job_id = submit(client, max_price=2 * UNIT)
        view = client.job(job_id)
        assert view is not None
        assert view.job.requester == CHARLIE.public and view.job.worker == BOB.public
        assert view.state == "matched" and view.job.price == UNIT
        assert view.job.leaves == workload_shape("gemm_i8", PARAMS).leaves
        assert view.job.inputs == (("a", b""), ("b", b""))
        mine = client.jobs(worker=BOB.public, states=["matched"])
        assert [j.id for j in mine] == [job_id]
        assert client.jobs(requester=BOB.public) == []
        assert client.job(10**9) is None
        market_params, compute_params = client.market_params()
        assert market_params == DEFAULT_MARKET_PARAMS and compute_params == DEFAULT_COMPUTE_PARAMS


def test_a_job_subscription_starts_with_the_job_then_follows_its_events(
    dev_node: NodeProcess,
) -> None:
    with dev_node.client() as client:
        if BOB.public not in client.workers():
            register(client, price=UNIT)
        # Only //Dave asks as little, and it is busy: the job waits, then expires after its
        # 5 blocks.
        busy_cheap_worker(client)
        job_id = submit(client, max_price=UNIT // 2)
        retired = make_call("market", "retire_worker")
        outcome = client.submit_and_watch(client.sign(DAVE, retired), until="inBlock")
        assert outcome.success, outcome.error
        with client.subscribe_job(job_id) as subscription:
            first = subscription.next(timeout=10)
            assert first["job"]["id"] == job_id and first["job"]["state"] == "pending"
            update = subscription.next(timeout=20)
        (event,) = update["events"]
        assert event["event"] == "JobExpired" and event["data"]["job"] == job_id
        assert client.job(job_id).state == "expired"  # type: ignore[union-attr]


def test_bad_filters_and_ids_are_refused_by_name(dev_node: NodeProcess) -> None:
    with dev_node.client() as client:
        cases = [
            ("market_jobs", [{"state": "lost"}], "state must be one or more of"),
            ("market_jobs", [{"limit": 0}], "limit must be an integer"),
            ("market_jobs", [{"colour": "red"}], "unknown filter field 'colour'"),
            ("market_jobs", [{"worker": "nope"}], "worker: address 'nope'"),
            ("market_job", ["7"], "expected a job id"),
            ("market_job", [], "missing parameter 'id'"),
        ]
        for method, params, message in cases:
            with pytest.raises(RpcClientError) as caught:
                client.rpc.call(method, *params)
            assert caught.value.code == errors.INVALID_PARAMS, method
            assert message in caught.value.message, caught.value.message
        assert client.rpc.call("market_jobs", {"requester": encode_address(BOB.public)}) == []


def test_the_node_counts_jobs_by_state_in_its_metrics(dev_node: NodeProcess) -> None:
    with dev_node.client() as client:
        if BOB.public not in client.workers():
            register(client, price=UNIT)
        submit(client, max_price=2 * UNIT)
        states = {j.id: j.state for j in client.jobs(limit=1000)}
    text = dev_node.metrics()
    counted = {
        m.group(1): float(m.group(2))
        for m in re.finditer(r'^xpl_jobs\{state="(\w+)"\} ([0-9.e+]+)$', text, re.MULTILINE)
    }
    assert set(counted) >= {"pending", "matched", "committed", "settled", "expired"}
    assert sum(counted.values()) == len(states)
    for state in set(states.values()):
        # A job may move on in the block between the two reads, never more than one.
        assert abs(counted[state] - list(states.values()).count(state)) <= 1, (state, counted)


def test_a_job_is_served_with_every_match_in_order_and_read_back_by_the_client() -> None:
    """A job given back once and matched again: `matches` lists the given-back match (its
    outcome, end and penalty) then the current one, and the client reads the history back."""
    past = PastMatch(DAVE.public, 5, 11, 12, "missed", 3 * UNIT // 10)
    job = Job(
        requester=CHARLIE.public,
        workload="gemm_i8",
        params=tuple(PARAMS),
        inputs=(("a", b""), ("b", b"")),
        seed=7,
        max_price=2 * UNIT,
        cost_units=workload_shape("gemm_i8", PARAMS).cost_units,
        leaves=4,
        escrow=UNIT,
        mode="sampled",
        deadline_blocks=6,
        expires_at=14,
        submitted_at=5,
        state="matched",
        worker=BOB.public,
        price=UNIT,
        slash=UNIT,
        matched_at=12,
        commit_by=18,
        past_matches=(past,),
    )
    served = json.loads(json.dumps(job_json(3, job)))
    assert served["matches"] == [
        {
            "worker": encode_address(DAVE.public),
            "matchedAt": 5,
            "commitBy": 11,
            "endedAt": 12,
            "outcome": "missed",
            "penalty": str(3 * UNIT // 10),
        },
        {
            "worker": encode_address(BOB.public),
            "matchedAt": 12,
            "commitBy": 18,
            "endedAt": None,
            "outcome": None,
            "penalty": None,
        },
    ]
    assert served["excluded"] == [encode_address(DAVE.public)]
    assert job_from_json(served).job == job
    # The digest served is the runtime's, and the one the client computes from what it read.
    assert served["digest"] == "0x" + job_from_json(served).digest.hex()
    assert served["digest"] == "0x" + job_digest(3, job).hex()
