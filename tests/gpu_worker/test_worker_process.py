"""`xpl worker` beside a dev node on a fast chain spec, with a requester submitting jobs.

The spec makes blocks every 300 ms and audits every job (auditPpm 1000000) in phases of 2 blocks
within a dispute window of 11 blocks (it must outlast the longest draw delay, 6, and both phases),
so a job settles a few seconds after it is committed. Each test runs its own worker account
(funded by the requester), which retires at the end of the test so the next test's jobs go to the
next test's worker.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

import gpu_worker.worker.pipeline
from chain.client.blobs import fetch_leaf, upload_file
from chain.client.chain import TxOutcome, XplClient, make_call, transfer_call
from chain.spec import builtin_spec
from gpu_worker.inputs import generate_inputs
from gpu_worker.jobs import JobSpec, compute_leaves
from gpu_worker.worker.config import WorkerConfig
from gpu_worker.worker.daemon import WorkerDaemon
from gpu_worker.worker.job_state import JobRecord
from runtime.pallets import market
from runtime.pallets.market import Job
from runtime.primitives.address import encode_address
from runtime.primitives.keys import Keypair, dev_keypair, keypair_from_suri
from runtime.primitives.merkle import merkle_root
from tests.chain.conftest import XPL_COMMAND, NodeFactory, NodeProcess, poll_until

UNIT = 10**12
PARAMS = (256, 256, 256, 64)
REQUESTER = dev_keypair("Charlie")
STOP_TIMEOUT_S = 20.0
SLOT_MS = 300
DISPUTE_WINDOW = 17


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeProcess]:
    """A dev chain (//Alice validates) that audits every job and settles it within 11 blocks."""
    tmp = tmp_path_factory.mktemp("worker-chain")
    spec = builtin_spec("dev").to_json()
    spec["genesis"]["slotDurationMs"] = SLOT_MS
    spec["genesis"]["compute"].update(
        auditPpm=1_000_000,
        auditLeaves=2,
        commitWindow=8,  # an mlp_fxp audit's 16 checkpoints fit (check_verification_window)
        revealWindow=2,
        disputeWindow=DISPUTE_WINDOW,
    )
    spec_path = tmp / "spec.json"
    spec_path.write_text(json.dumps(spec))
    factory = NodeFactory(tmp)
    try:
        yield factory.start(args=("--chain", str(spec_path), "--validator", "--dev-key", "//Alice"))
    finally:
        factory.stop_all()


@pytest.fixture
def client(node: NodeProcess) -> Iterator[XplClient]:
    with XplClient(node.url, timeout=10.0) as c:
        yield c


class WorkerProcess:
    """One `xpl worker` process; `start` again after `stop` or `kill` is a restart."""

    def __init__(self, url: str, suri: str, state_dir: Path, *extra: str) -> None:
        self.argv = [
            *XPL_COMMAND,
            "worker",
            "--rpc",
            url,
            "--dev-key",
            suri,
            "--device",
            "numpy",
            "--stake",
            "1000XPL",
            "--ask",
            "gemm_i8=1XPL",
            "--state-dir",
            str(state_dir),
            "--skip-measure",
            *extra,
        ]
        self.log_path = state_dir.parent / f"{state_dir.name}.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> WorkerProcess:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                self.argv,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )
        return self

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def signal(self, signum: int) -> None:
        assert self.process is not None
        self.process.send_signal(signum)

    def stop(self) -> int | None:
        """SIGINT and wait (SIGKILL if it does not stop in time); the exit code."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.kill()
        return self.process.returncode

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def wait_log(self, text: str, *, timeout: float = 20.0) -> None:
        poll_until(
            lambda: True if text in self.log() else None,
            timeout=timeout,
            what=f"{text!r} in the worker's log:\n{self.log()[-3000:]}",
        )


class Workers:
    """Starts workers for a test; at its end stops every process and retires every account."""

    def __init__(self, node: NodeProcess, tmp: Path) -> None:
        self.node = node
        self.tmp = tmp
        self.processes: list[WorkerProcess] = []
        self.accounts: list[Keypair] = []

    def account(self, name: str) -> Keypair:
        """A fresh worker account, funded by the requester."""
        keypair = keypair_from_suri(f"//{name}")
        with XplClient(self.node.url, timeout=10.0) as client:
            submit(client, REQUESTER, transfer_call(keypair.public, 2_000 * UNIT))
        self.accounts.append(keypair)
        return keypair

    def process(self, name: str, *extra: str) -> WorkerProcess:
        self.account(name)
        worker = WorkerProcess(self.node.url, f"//{name}", self.tmp / name, *extra)
        self.processes.append(worker)
        return worker

    def close(self) -> None:
        for worker in self.processes:
            worker.stop()
        if not self.node.running:
            return
        with XplClient(self.node.url, timeout=10.0) as client:
            registered = client.workers()
            for keypair in self.accounts:
                if keypair.public in registered and not registered[keypair.public].retiring:
                    submit(client, keypair, make_call("market", "retire_worker"))


@pytest.fixture
def workers(node: NodeProcess, tmp_path: Path) -> Iterator[Workers]:
    started = Workers(node, tmp_path)
    try:
        yield started
    finally:
        started.close()


def submit(client: XplClient, keypair: Keypair, call: Any) -> TxOutcome:
    outcome = client.submit_and_watch(client.sign(keypair, call), until="inBlock")
    assert outcome.success, outcome.error
    return outcome


def submit_job(
    client: XplClient,
    seed: int,
    roots: tuple[bytes, bytes] = (b"", b""),
    *,
    deadline: int = 40,
    wait: int = 40,
) -> int:
    """Submit the test job (inputs generated from `seed`, or the blobs `roots`); its id."""
    call = make_call(
        "market",
        "submit_job",
        "gemm_i8",
        list(PARAMS),
        ["a", "b"],
        list(roots),
        seed,
        UNIT,  # max price: 1 XPL per 10^9 cost units
        deadline,  # blocks the worker has to commit
        wait,  # blocks the job may wait for a worker
        "sampled",
    )
    outcome = submit(client, REQUESTER, call)
    (event,) = [e for e in outcome.events if e["event"] == "JobSubmitted"]
    return int(event["data"]["job"])


def wait_registered(client: XplClient, keypair: Keypair) -> None:
    poll_until(
        lambda: True if keypair.public in client.workers() else None,
        timeout=30,
        what="the worker's registration",
    )


def wait_state(client: XplClient, job_id: int, *states: str, timeout: float = 30.0) -> Any:
    def probe() -> Any:
        view = client.job(job_id)
        return view if view is not None and view.state in states else None

    return poll_until(probe, timeout=timeout, what=f"job {job_id} to be {' or '.join(states)}")


def honest_leaves(seed: int) -> list[bytes]:
    """The right result of the test job with `seed`, computed here."""
    inputs = generate_inputs("gemm_i8", PARAMS, seed)
    return compute_leaves(JobSpec("gemm_i8", PARAMS, seed), inputs, device="numpy")


def honest_root(seed: int) -> bytes:
    return merkle_root(honest_leaves(seed))


def events_between(client: XplClient, first: int, last: int) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for number in range(first, last + 1):
        block_hash = client.block_hash(number)
        assert block_hash is not None
        found.extend({**e, "block": number} for e in client.events(block_hash))
    return found


def test_a_stake_below_the_chain_minimum_is_refused(node: NodeProcess, tmp_path: Path) -> None:
    argv = [*XPL_COMMAND, "worker", "--rpc", node.url, "--dev-key", "//Dave", "--device", "numpy"]
    argv += ["--stake", "50XPL", "--ask", "gemm_i8=1XPL", "--state-dir", str(tmp_path / "w")]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert "Traceback" not in result.stderr
    assert lines[-1] == "error: --stake 50XPL is below the chain's minimum stake of 100XPL"


def test_an_honest_job_is_committed_and_settles_and_the_worker_is_paid(
    client: XplClient, workers: Workers
) -> None:
    worker = workers.process("Honest", "--log-format", "json").start()
    me = workers.accounts[-1].public
    wait_registered(client, workers.accounts[-1])
    start = client.best_number()
    before = client.account(me, at=client.block_hash(start))
    job_id = submit_job(client, seed=1)
    view = wait_state(client, job_id, "settled", "failed")
    assert view.state == "settled"
    assert view.job.worker == me
    assert view.job.result_root == honest_root(1)
    end = client.best_number()
    after = client.account(me, at=client.block_hash(end))
    events = events_between(client, start + 1, end)
    (settled,) = [e for e in events if e["event"] == "JobSettled"]
    assert settled["data"]["job"] == job_id
    assert settled["data"]["worker"] == encode_address(me)
    assert int(settled["data"]["payment"]) == view.job.payment > 0
    fees = sum(
        int(e["data"]["actual_fee"])
        for e in events
        if e["event"] == "TransactionFeePaid" and e["data"]["who"] == encode_address(me)
    )
    assert after.total - before.total == view.job.payment - fees
    assert worker.stop() == 0
    steps = [json.loads(line) for line in worker.log().splitlines() if line.startswith("{")]
    mine = [entry["step"] for entry in steps if entry.get("job") == job_id]
    assert mine[:6] == ["matched", "fetched", "computed", "uploaded", "committed", "audit"]
    assert mine[-1] == "settled"
    assert steps[-1]["step"] == "stopped"
    (job_dir,) = (workers.tmp / "Honest").glob(f"chain-*/jobs/{job_id}")
    assert [p.name for p in job_dir.iterdir()] == ["job.json"]  # the leaves are gone
    assert json.loads((job_dir / "job.json").read_text())["outcome"] == "settled"


def test_a_cheating_worker_commits_a_wrong_root(client: XplClient, workers: Workers) -> None:
    worker = workers.process("Cheat", "--cheat", "1.0", "--cheat-seed", "3").start()
    me = workers.accounts[-1].public
    wait_registered(client, workers.accounts[-1])
    stake = client.workers()[me].stake
    job_id = submit_job(client, seed=2)
    view = wait_state(client, job_id, "committed", "settled", "failed")
    assert view.job.worker == me
    assert view.job.result_root != honest_root(2)
    for index, leaf in enumerate(honest_leaves(2)):  # every leaf it uploaded is wrong
        assert fetch_leaf(client.rpc, view.job.result_root, index) != leaf
    worker.wait_log(f"job #{job_id}: corrupted 4 of 4 leaves on purpose")
    # The node's validator recomputes the audited leaves; the worker responds with what it
    # committed: the two differ, the job fails, the worker pays.
    view = wait_state(client, job_id, "failed", "settled")
    assert view.state == "failed"
    assert view.checks[0].response  # it responded, with its (wrong) committed leaf hashes
    assert client.workers()[me].stake == stake - view.job.slash
    worker.wait_log(f"job #{job_id} responded to check 0")
    worker.wait_log(f"job #{job_id} failed: slashed")


def test_a_worker_killed_after_the_match_commits_when_restarted(
    client: XplClient, workers: Workers
) -> None:
    worker = workers.process("Killed").start()
    wait_registered(client, workers.accounts[-1])
    worker.signal(signal.SIGSTOP)  # frozen: the job is matched to it but not worked on
    job_id = submit_job(client, seed=3)
    assert wait_state(client, job_id, "matched").job.worker == workers.accounts[-1].public
    worker.kill()
    assert "matched" not in worker.log()
    worker.start()
    view = wait_state(client, job_id, "settled", "failed")
    assert view.state == "settled" and view.job.result_root == honest_root(3)
    worker.wait_log(f"job #{job_id} settled: paid")
    assert worker.stop() == 0


def test_inputs_uploaded_as_blobs_are_downloaded_and_their_sizes_checked(
    client: XplClient, workers: Workers
) -> None:
    worker = workers.process("Blobs", "--capacity", "2").start()
    wait_registered(client, workers.accounts[-1])
    a, b = (generate_inputs("gemm_i8", PARAMS, 99)[name][::-1] for name in ("a", "b"))
    roots = (
        upload_file(client.rpc, a, signer=REQUESTER).root,
        upload_file(client.rpc, b, signer=REQUESTER).root,
    )
    short = upload_file(client.rpc, a[:1000], signer=REQUESTER).root
    bad_id = submit_job(client, seed=6, roots=(short, roots[1]))
    job_id = submit_job(client, seed=6, roots=roots)
    view = wait_state(client, job_id, "settled", "failed")
    assert view.state == "settled"
    right = compute_leaves(JobSpec("gemm_i8", PARAMS, 6), {"a": a, "b": b}, device="numpy")
    assert view.job.result_root == merkle_root(right)
    # Inputs it cannot use: the worker declines the job (a small penalty) instead of missing it.
    worker.wait_log(f"job #{bad_id} declined: its inputs: cannot be computed: input 'a' of gemm_i8")
    view = client.job(bad_id)
    assert view is not None and view.state != "matched" and view.job.excluded
    worker.wait_log(f"job #{job_id} settled: paid")
    assert worker.log().count(f"job #{bad_id} matched") == 1  # reported once, not every block


def in_process_config(node: NodeProcess, keypair: Keypair, state_dir: Path) -> WorkerConfig:
    return WorkerConfig(
        node.url,
        keypair,
        1000 * UNIT,
        (("gemm_i8", UNIT),),
        device="numpy",
        state_dir=state_dir,
        measure=False,
        dev_key=True,
    )


def started_record(job_id: int, job: Job, phase: str, **fields: Any) -> JobRecord:
    """The record a worker writes for `job` at `phase`."""
    return JobRecord(
        job_id=job_id,
        phase=phase,
        workload=job.workload,
        params=job.params,
        seed=job.seed,
        matched_at=job.matched_at,
        commit_by=job.commit_by,
        inputs=job.inputs,
        digest=market.job_digest(job_id, job),
        **fields,
    )


@pytest.mark.parametrize("before_digests", [False, True], ids=["digest", "before-digests"])
def test_a_restarted_worker_resumes_from_leaves_on_disk_without_computing(
    node: NodeProcess,
    client: XplClient,
    workers: Workers,
    monkeypatch: pytest.MonkeyPatch,
    before_digests: bool,
) -> None:
    """Also from a record written before records kept the job's digest (an upgraded worker):
    the same work is the same job to it, so its leaves on disk are committed, not computed."""
    name = "ResumedOld" if before_digests else "Resumed"
    keypair = workers.account(name)
    config = in_process_config(node, keypair, workers.tmp / name)
    first = WorkerDaemon(config)
    first.connect()  # registers
    first.close()
    job_id = submit_job(client, seed=4)
    job = wait_state(client, job_id, "matched").job
    assert job.worker == keypair.public
    # What a worker killed right after computing leaves behind: the record and the leaves.
    leaves = honest_leaves(4)
    first.store.save_leaves(job_id, leaves)
    started = started_record(job_id, job, "computed", root=merkle_root(leaves), leaves=len(leaves))
    first.store.save(replace(started, digest=b"") if before_digests else started)

    def no_computing(*args: object, **kwargs: object) -> list[bytes]:
        raise AssertionError("the leaves on disk were computed again")

    monkeypatch.setattr(gpu_worker.worker.pipeline, "compute_leaves", no_computing)
    restarted = WorkerDaemon(config)
    restarted.connect()
    try:
        restarted.step()
        record = restarted.store.load(job_id)
        assert record is not None and record.phase == "committed"
        assert record.digest == market.job_digest(job_id, job)
        view = client.job(job_id)
        assert view is not None and view.state == "committed"
        assert view.job.result_root == merkle_root(leaves) == honest_root(4)

        def settled() -> bool | None:
            restarted.step()
            current = restarted.store.load(job_id)
            return True if current is not None and current.phase == "ended" else None

        poll_until(settled, timeout=30, what="the worker to see its job end", interval=0.3)
        ended = restarted.store.load(job_id)
        assert ended is not None and ended.outcome == "settled"
        assert restarted.store.load_leaves(job_id, record.root) is None
    finally:
        restarted.close()


def test_a_job_taken_back_after_its_deadline_is_closed_as_lost(
    node: NodeProcess, client: XplClient, workers: Workers
) -> None:
    keypair = workers.account("Late")
    config = in_process_config(node, keypair, workers.tmp / "Late")
    first = WorkerDaemon(config)
    first.connect()  # registers
    first.close()
    job_id = submit_job(client, seed=7, deadline=6, wait=2)
    job = wait_state(client, job_id, "matched").job
    assert job.worker == keypair.public
    # A worker that fetched the inputs, then stopped until long after the deadline.
    first.store.save(started_record(job_id, job, "fetched"))
    wait_state(client, job_id, "expired")
    restarted = WorkerDaemon(config)
    restarted.connect()
    try:
        restarted.step()
    finally:
        restarted.close()
    ended = restarted.store.load(job_id)
    assert ended is not None and ended.phase == "ended" and ended.outcome == "lost"


def test_the_worker_waits_for_a_restarted_node_and_carries_on(
    node: NodeProcess, workers: Workers
) -> None:
    worker = workers.process("Patient").start()
    me = workers.accounts[-1].public
    with XplClient(node.url, timeout=10.0) as client:
        wait_registered(client, workers.accounts[-1])
    node.stop()
    worker.wait_log("node unreachable")
    node.start()
    with XplClient(node.url, timeout=10.0) as client:
        job_id = submit_job(client, seed=5)
        view = wait_state(client, job_id, "settled", "failed")
    assert view.state == "settled" and view.job.worker == me
    assert view.job.result_root == honest_root(5)
    assert worker.running
    assert worker.stop() == 0
    assert "Traceback" not in worker.log()
    assert worker.log().count("registered already") >= 1
