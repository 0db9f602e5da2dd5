"""The market end to end with processes: a node that verifies, `xpl worker`, a requester.

- A worker corrupting a fraction f of its leaves is caught by audits of k leaves about as often as
  the sampling predicts: it escapes one audit with probability C(n−b, k)/C(n, k) for b corrupted
  leaves of n (leaves are drawn without repeats), which (1 − f)^k approximates.
- A registered worker that never answers misses its deadline and pays the penalty to the
  treasury; with no other worker that could take the job, it expires.
- A requester's fraud proof catches corruption that no audit looked at: `xpl job result` checks
  the whole output with Freivalds, files a dispute naming the first bad leaf, and the committee's
  recomputation fails the job.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

import pytest

from chain.client.chain import XplClient, make_call, transfer_call
from chain.spec import builtin_spec
from runtime.primitives.keys import dev_keypair
from tests.chain.conftest import NodeFactory, XplCli, poll_until
from tests.gpu_worker.test_worker_process import WorkerProcess

UNIT = 10**12
CHARLIE = dev_keypair("Charlie")
SLOT_MS = 300
END_STATES = ("settled", "failed", "expired", "cancelled")


def start_node(tmp: Path, market: dict[str, Any], compute: dict[str, Any]) -> NodeFactory:
    spec = builtin_spec("dev").to_json()
    spec["genesis"]["slotDurationMs"] = SLOT_MS
    spec["genesis"]["market"].update(market)
    spec["genesis"]["compute"].update(compute)
    path = tmp / "spec.json"
    path.write_text(json.dumps(spec))
    factory = NodeFactory(tmp)
    factory.start(
        args=(
            "--chain",
            str(path),
            "--validator",
            "--dev-key",
            "//Alice",
            "--verify-device",
            "numpy",
        )
    )
    return factory


def submit_jobs(
    client: XplClient,
    count: int,
    params: list[int],
    max_price: int,
    *,
    mode: str = "always",
    deadline: int = 60,
) -> list[int]:
    """Submit `count` gemm_i8 jobs with generated inputs (seeds 1..count) at once; their ids."""
    nonce = client.next_nonce(CHARLIE.public)
    txs = []
    for i in range(count):
        call = make_call(
            "market", "submit_job", "gemm_i8", params, ["a", "b"], [b"", b""], i + 1, max_price,
            deadline, 60, mode,
        )  # fmt: skip
        txs.append(client.sign(CHARLIE, call, nonce=nonce + i))
    for tx in txs[:-1]:
        client.submit(tx)
    last = client.submit_and_watch(txs[-1], until="inBlock")
    assert last.success, last.error
    ids = [j.id for j in client.jobs(requester=CHARLIE.public, limit=1000)]
    return sorted(ids)[-count:]


def wait_ended(client: XplClient, ids: list[int], timeout: float) -> dict[int, str]:
    def probe() -> dict[int, str] | None:
        views = {j.id: j.state for j in client.jobs(requester=CHARLIE.public, limit=1000)}
        states = {i: views.get(i, "") for i in ids}
        return states if all(s in END_STATES for s in states.values()) else None

    return poll_until(probe, timeout=timeout, what=f"jobs {ids[0]}..{ids[-1]} to end")


def escape_probability(leaves: int, bad: int, k: int) -> float:
    """P(an audit of k distinct leaves misses all `bad` of `leaves`)."""
    return math.comb(leaves - bad, k) / math.comb(leaves, k)


@pytest.mark.timeout(240)
def test_audits_catch_a_cheating_worker_at_the_rate_sampling_predicts(tmp_path: Path) -> None:
    jobs, leaves, k, fraction = 48, 16, 2, 0.25
    bad = round(fraction * leaves)
    factory = start_node(
        tmp_path,
        {},
        {
            "auditPpm": 1_000_000,
            "auditLeaves": k,
            "commitWindow": 8,  # an mlp_fxp audit's 16 checkpoints fit (check_verification_window)
            "revealWindow": 3,
            "disputeWindow": 18,
        },
    )
    worker = WorkerProcess(
        factory.nodes[0].url, "//Eve", tmp_path / "eve", "--cheat", str(fraction), "--capacity",
        str(jobs),
    )  # fmt: skip
    worker.argv[worker.argv.index("gemm_i8=1XPL")] = "gemm_i8=400XPL"
    try:
        worker.start()
        with XplClient(factory.nodes[0].url, timeout=10.0) as client:
            poll_until(
                lambda: True if dev_keypair("Eve").public in client.workers() else None,
                timeout=60,
                what="Eve's registration",
            )
            # 64×16×16 in row blocks of 4: 16 leaves; 32,768 cost units at 400 XPL per 10^9.
            ids = submit_jobs(client, jobs, [64, 16, 16, 4], 400 * UNIT)
            states = wait_ended(client, ids, timeout=180)
    finally:
        worker.stop()
        factory.stop_all()
    assert set(states.values()) <= {"settled", "failed"}, states
    caught = sum(1 for s in states.values() if s == "failed")
    p_catch = 1 - escape_probability(leaves, bad, k)
    expected = jobs * p_catch
    spread = math.sqrt(jobs * p_catch * (1 - p_catch))
    # (1 − f)^k = 0.5625 approximates the exact escape probability 0.55 for these sizes.
    assert abs(caught - expected) <= 3.5 * spread, (caught, expected, spread)


@pytest.mark.timeout(180)
def test_a_silent_worker_misses_its_deadline_and_a_fraud_proof_catches_a_cheat(
    tmp_path: Path,
) -> None:
    xpl = XplCli()
    # Audits are rare here (6%, on one leaf) and the slash is 99× the payment, which the
    # incentive guard accepts: corruption is left to the requester's own check and fraud proof.
    factory = start_node(
        tmp_path,
        {"slashPpm": 99_000_000},
        {
            "auditPpm": 60_000,
            "auditLeaves": 1,
            "commitWindow": 8,
            "revealWindow": 2,
            "disputeWindow": 30,
        },
    )
    url = factory.nodes[0].url
    dave = dev_keypair("Dave")
    try:
        with XplClient(url, timeout=10.0) as client:
            # //Dave registers and never runs a worker.
            register = make_call(
                "market", "register_worker", 1000 * UNIT, "cpu", 1024, ["gemm_i8"], [UNIT], [1],
                "", 1,
            )  # fmt: skip
            dave_before = client.account(dave.public).total
            registered = client.submit_and_watch(client.sign(dave, register), until="inBlock")
            assert registered.success, registered.error
            (silent,) = submit_jobs(client, 1, [256, 256, 256, 64], 2 * UNIT, deadline=6)
            matched = client.job(silent)
            assert matched is not None and matched.job.worker == dave.public
            slash = matched.job.slash
            # Retiring now: Dave leaves once the job is off his hands, and is not matched again.
            retire = make_call("market", "retire_worker")
            retired = client.submit_and_watch(client.sign(dave, retire), until="inBlock")
            assert retired.success, retired.error
            missed = poll_until(
                lambda: _event(client, "DeadlineMissed", silent),
                timeout=30,
                what="the silent worker's missed deadline",
            )
            penalty = int(missed["data"]["penalty"])
            assert penalty == slash // 10 and slash > 0
            poll_until(
                lambda: True if dave.public not in client.workers() else None,
                timeout=10,
                what="Dave's retirement",
            )
            fees = registered.fee + retired.fee
            assert client.account(dave.public).total == dave_before - fees - penalty
            view = client.job(silent)
            assert view is not None and view.state == "expired"  # no worker left to take it

            # //Eve corrupts 2 of 64 leaves; the audit (6%, one leaf) almost surely misses.
            eve = dev_keypair("Eve")
            client.submit_and_watch(
                client.sign(CHARLIE, transfer_call(eve.public, 10 * UNIT)), until="inBlock"
            )
            worker = WorkerProcess(url, "//Eve", tmp_path / "eve", "--cheat", "0.03")
            worker.argv[worker.argv.index("gemm_i8=1XPL")] = "gemm_i8=0.5XPL"
            worker.start()
            try:
                poll_until(
                    lambda: True if eve.public in client.workers() else None,
                    timeout=60,
                    what="Eve's registration",
                )
                (cheated,) = submit_jobs(
                    client, 1, [256, 256, 256, 4], UNIT, mode="sampled", deadline=40
                )
                poll_until(
                    lambda: True if (v := client.job(cheated)) and v.state == "committed" else None,
                    timeout=60,
                    what="the cheated job's commitment",
                )
                stake_before = client.workers()[eve.public].stake
                result = xpl.run(
                    "job", "result", str(cheated), "--out", str(tmp_path / "c.npy"),
                    "--from", "//Charlie", "--rpc", url,
                )  # fmt: skip
                assert result.returncode != 0, result.stdout
                named = re.search(r"leaf (\d+)", result.stdout + result.stderr)
                assert named is not None, result.stdout + result.stderr
                opened = _event(client, "DisputeOpened", cheated)
                assert opened is not None and opened["data"]["leaf"] == int(named.group(1))
                failed = poll_until(
                    lambda: _event(client, "JobFailed", cheated),
                    timeout=30,
                    what="the disputed job to fail",
                )
                assert int(failed["data"]["slashed"]) > 0
                assert client.workers()[eve.public].stake < stake_before
                assert not (tmp_path / "c.npy").exists()
            finally:
                worker.stop()
    finally:
        factory.stop_all()


def _event(client: XplClient, name: str, job_id: int) -> dict[str, Any] | None:
    """The first event `name` about job `job_id` in the chain so far."""
    best = client.best_number()
    for number in range(1, best + 1):
        block_hash = client.block_hash(number)
        if block_hash is None:
            continue
        for event in client.events(block_hash):
            if event["event"] == name and event["data"].get("job") == job_id:
                return event
    return None
