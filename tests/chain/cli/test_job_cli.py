"""`xpl job` as a requester runs it (a subprocess), against a dev node on a fast chain spec.

The test plays the worker: //Bob registers, computes a job's leaves with the NumPy reference,
uploads them as a blob and commits their root, honestly or with one leaf corrupted. The spec
audits 6% of the jobs (with a slash of 99× the payment, so cheating still does not pay) on one
leaf, so a corrupted leaf is left for the requester's check and fraud proof to catch.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pytest

from chain.cli.main import main as xpl_main
from chain.client.blobs import chunk_file, download_blob, upload_blob
from chain.client.chain import XplClient, make_call
from chain.spec import dev_spec
from gpu_worker.inputs import generate_input
from gpu_worker.jobs import JobSpec, compute_leaves, result_arrays
from gpu_worker.worker.responding import Responder
from runtime.primitives.address import encode_address
from runtime.primitives.hashing import to_hex
from runtime.primitives.keys import Keypair, dev_keypair, keypair_from_suri
from runtime.primitives.merkle import merkle_root
from tests.chain.conftest import XPL_COMMAND

if TYPE_CHECKING:
    from tests.chain.conftest import NodeFactory, NodeProcess, XplCli

UNIT = 10**12
BOB, CHARLIE = dev_keypair("Bob"), dev_keypair("Charlie")
DAVE, EVE, FERDIE = dev_keypair("Dave"), dev_keypair("Eve"), dev_keypair("Ferdie")
PARAMS = "256,256,256,64"
SLOT_MS = 500
DISPUTE_WINDOW = 24
SUBMITTED = re.compile(r"job (\d+) submitted in block #(\d+)")


@pytest.fixture(scope="module")
def node(module_node_factory: NodeFactory, tmp_path_factory: pytest.TempPathFactory) -> NodeProcess:
    """A dev chain with half-second blocks, short verification windows and a rare audit."""
    document = dev_spec().to_json()
    genesis = document["genesis"]
    genesis["slotDurationMs"] = SLOT_MS
    genesis["market"]["slashPpm"] = 99_000_000
    genesis["compute"].update(
        auditPpm=60_000, auditLeaves=1, commitWindow=5, disputeWindow=DISPUTE_WINDOW
    )
    path = tmp_path_factory.mktemp("spec") / "fast.json"
    path.write_text(json.dumps(document))
    return module_node_factory.start(
        args=("--chain", str(path), "--validator", "--dev-key", "//Alice")
    )


COMMITTED: dict[int, list[bytes]] = {}
"""The leaves //Bob committed, by job: what it answers the checks on them with."""
RESPOND_EVERY_S = SLOT_MS / 4_000


@pytest.fixture(scope="module", autouse=True)
def responding(node: NodeProcess) -> Iterator[None]:
    """//Bob answers the checks on the jobs it committed, from a thread, as the worker daemon
    does: an audit (rare here) that it left unanswered would fail the job."""
    stop = threading.Event()

    def respond() -> None:
        responder = Responder(BOB)
        with XplClient(node.url, timeout=10.0) as client:
            while not stop.wait(RESPOND_EVERY_S):
                try:
                    responder.respond_due(client, lambda job, _root: COMMITTED.get(job))
                except Exception:  # the node restarting or stopping: try again
                    continue

    thread = threading.Thread(target=respond, name="bob-responds", daemon=True)
    thread.start()
    yield
    stop.set()
    thread.join(timeout=15)


@pytest.fixture(scope="module")
def client(node: NodeProcess) -> XplClient:
    """A client of the node, with //Bob registered as a worker asking 1 XPL per 10^9 units."""
    client = node.client(timeout=20.0)
    call = make_call(
        "market",
        "register_worker",
        1000 * UNIT,
        "cpu",
        2048,
        ["gemm_i8", "qmlp_i8"],
        [UNIT, UNIT],
        [50, 50],
        "",
        8,
    )
    outcome = client.submit_and_watch(client.sign(BOB, call), until="inBlock")
    assert outcome.success, outcome.error
    return client


def busy_cheap_worker(client: XplClient, worker: Keypair) -> None:
    """`worker` asks 0.5 XPL per 10^9 units with one slot, which a job of //Charlie's takes:
    a later job at that price waits for it (the chain refuses a job no worker could take)."""
    args = (1000 * UNIT, "cpu", 2048, ["gemm_i8"], [UNIT // 2], [50], "", 1)
    outcome = client.submit_and_watch(
        client.sign(worker, make_call("market", "register_worker", *args)), until="inBlock"
    )
    assert outcome.success, outcome.error
    job = ("gemm_i8", [256, 256, 256, 64], ["a", "b"], [b"", b""], 1, UNIT // 2, 100, 5, "always")
    call = make_call("market", "submit_job", *job)
    outcome = client.submit_and_watch(client.sign(CHARLIE, call), until="inBlock")
    assert outcome.success, outcome.error


def retire(client: XplClient, worker: Keypair) -> None:
    """`worker` takes no new job (it leaves once its job has missed its deadline)."""
    call = make_call("market", "retire_worker")
    outcome = client.submit_and_watch(client.sign(worker, call), until="inBlock")
    assert outcome.success, outcome.error


def on(node: NodeProcess, command: str) -> list[str]:
    """`xpl` arguments from `command` (split on spaces), talking to `node`."""
    return [*command.split(), "--rpc", node.url]


def play_worker(client: XplClient, job_id: int, *, corrupt: int | None = None) -> list[bytes]:
    """Compute the job as //Bob, upload its leaves, commit their root; the leaves committed."""
    view = client.job(job_id)
    assert view is not None and view.state == "matched" and view.job.worker == BOB.public
    job = view.job
    inputs = {
        name: download_blob(client.rpc, root)
        if root
        else generate_input(job.workload, job.params, name, job.seed)
        for name, root in job.inputs
    }
    leaves = compute_leaves(JobSpec(job.workload, job.params, job.seed), inputs, device="numpy")
    if corrupt is not None:
        wrong = bytearray(leaves[corrupt])
        wrong[7] ^= 0x10
        leaves[corrupt] = bytes(wrong)
    upload_blob(client.rpc, leaves, signer=BOB)
    call = make_call(
        "compute", "commit_result", job_id, view.digest, merkle_root(leaves), len(leaves)
    )
    COMMITTED[job_id] = leaves
    outcome = client.submit_and_watch(client.sign(BOB, call), until="inBlock")
    assert outcome.success, outcome.error
    return leaves


def json_of(result: subprocess.CompletedProcess[str]) -> Any:
    """The one JSON document a successful `--json` command printed."""
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1, result.stdout
    return json.loads(lines[0])


def generated_matrix(name: str, seed: int) -> np.ndarray[Any, Any]:
    """Input `name` of a gemm_i8 job [256, 256, 256, 64] generated from `seed`, as int64."""
    raw = generate_input("gemm_i8", (256, 256, 256, 64), name, seed)
    return np.frombuffer(raw, np.int8).reshape(256, 256).astype(np.int64)


@pytest.mark.timeout(90)
def test_a_job_with_generated_inputs_is_followed_to_settlement_and_its_result_saved(
    node: NodeProcess, client: XplClient, xpl: XplCli, tmp_path: Path
) -> None:
    command = f"job submit --workload gemm_i8 --params {PARAMS} --seed 7 --max-price 2XPL"
    errors = tmp_path / "stderr"
    # stdout is read through one reader only: `communicate` after `readline` would lose what the
    # reader had already buffered past the first line.
    with errors.open("w") as stderr_file:
        submit = subprocess.Popen(
            [*XPL_COMMAND, *on(node, f"{command} --from //Charlie --wait")],
            stdout=subprocess.PIPE,
            stderr=stderr_file,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
    try:
        assert submit.stdout is not None
        first = submit.stdout.readline()
        found = SUBMITTED.search(first)
        assert found is not None, first + submit.stdout.read() + errors.read_text()
        job_id = int(found[1])
        play_worker(client, job_id)

        # While the dispute window is open: the result is fetched, checked and saved; a right
        # result needs no account to dispute it with.
        out = tmp_path / "c.npy"
        fetched = xpl.run(*on(node, f"job result {job_id} --out {out}"))
        assert fetched.returncode == 0, fetched.stderr
        assert f"the result of job {job_id} checks out" in fetched.stdout
        saved = np.load(out)
        assert saved.dtype == np.int32 and saved.shape == (256, 256)
        assert np.array_equal(saved, generated_matrix("a", 7) @ generated_matrix("b", 7))

        status = json_of(xpl.run(*on(node, f"job status {job_id} --json")))
        assert status["state"] == "committed" and status["params"] == [256, 256, 256, 64]
        assert status["worker"] == encode_address(BOB.public)
        assert status["requester"] == encode_address(CHARLIE.public)
        assert status["inputs"] == {"a": None, "b": None} and status["seed"] == 7
        assert status["payment"] == "0.033554432XPL" and status["price"] == "1XPL"
        assert status["settlesAt"] == status["committedAt"] + DISPUTE_WINDOW

        stdout = submit.stdout.read()  # until the command exits (the test's timeout bounds it)
        submit.wait(timeout=10)
    finally:
        if submit.poll() is None:
            submit.kill()
            submit.wait()
    stderr = errors.read_text()
    assert submit.returncode == 0, stderr
    assert "Traceback" not in stderr
    output = first + stdout
    assert "worker  Bob" in output and "commits by #" in output, output
    assert "result committed: root" in output and "4 leaves" in output, output
    assert re.search(rf"job {job_id} settled in block #\d+; worker paid 0\.033554432XPL", output)
    assert "refunded to the requester" in output

    shown = xpl.run(*on(node, f"job status {job_id}"))
    assert shown.returncode == 0, shown.stderr
    assert re.search(r"state\s+settled in block #\d+", shown.stdout), shown.stdout


@pytest.mark.timeout(90)
def test_npy_inputs_are_uploaded_and_a_corrupted_leaf_is_disputed(
    node: NodeProcess, client: XplClient, xpl: XplCli, tmp_path: Path
) -> None:
    rng = np.random.default_rng(5)
    a = rng.integers(-128, 128, size=(256, 256), dtype=np.int8)
    b = rng.integers(-128, 128, size=(256, 192), dtype=np.int8)
    np.save(tmp_path / "A.npy", a)
    np.save(tmp_path / "B.npy", b)
    inputs = f"--input a={tmp_path / 'A.npy'} --input b={tmp_path / 'B.npy'}"
    command = f"job submit --workload gemm_i8 {inputs} --max-price 2XPL --from //Charlie --json"
    submitted = json_of(xpl.run(*on(node, command)))
    job_id = submitted["job"]
    # m, k, n come from the arrays; the default tiles cut C into 32 × 3 leaves of 8 × 64.
    assert submitted["params"] == [256, 256, 192, 8, 64]
    a_root, b_root = merkle_root(chunk_file(a.tobytes())), merkle_root(chunk_file(b.tobytes()))
    assert submitted["inputs"] == {"a": to_hex(a_root), "b": to_hex(b_root)}
    view = client.job(job_id)
    assert view is not None and view.job.inputs == (("a", a_root), ("b", b_root))
    assert submitted["worker"] == encode_address(BOB.public)

    play_worker(client, job_id, corrupt=37)
    committed_at = client.job(job_id).job.committed_at  # type: ignore[union-attr]
    out = tmp_path / "c.npy"
    line = xpl.fails(*on(node, f"job result {job_id} --out {out} --from //Charlie"), timeout=60)
    wrong = f"the result of job {job_id} was checked and is wrong: leaf 37 does not match"
    assert f"{wrong} the inputs" in line
    found = re.search(r"Dispute filed: check (\d+) of job \d+ on leaf 37", line)
    assert found is not None, line
    assert not out.exists()

    # The fraud proof is on chain: a DisputeOpened event by //Charlie naming leaf 37.
    opened = []
    for number in range(committed_at, client.best_number() + 1):
        block_hash = client.block_hash(number)
        assert block_hash is not None
        opened += [
            e["data"]
            for e in client.events(block_hash)
            if (e["pallet"], e["event"]) == ("compute", "DisputeOpened")
            and e["data"]["job"] == job_id
        ]
    assert [(d["leaf"], d["check"], d["challenger"]) for d in opened] == [
        (37, int(found[1]), encode_address(CHARLIE.public))
    ]
    status = json_of(xpl.run(*on(node, f"job status {job_id} --json")))
    dispute = status["checks"][int(found[1])]
    assert dispute["kind"] == "dispute" and dispute["leaves"] == [37]
    assert dispute["challenger"] == encode_address(CHARLIE.public) and dispute["bond"] == "0.1XPL"


@pytest.mark.timeout(60)
def test_a_qmlp_result_is_saved_as_its_logits(
    node: NodeProcess, client: XplClient, xpl: XplCli, tmp_path: Path
) -> None:
    command = "job submit --workload qmlp_i8 --params 64,16,256,128,10 --seed 3 --max-price 4XPL"
    submitted = json_of(xpl.run(*on(node, f"{command} --from //Charlie --json")))
    leaves = play_worker(client, submitted["job"])
    out = tmp_path / "logits.npy"
    result = xpl.run(*on(node, f"job result {submitted['job']} --out {out} --no-dispute"))
    assert result.returncode == 0, result.stderr
    expected = result_arrays(JobSpec("qmlp_i8", (64, 16, 256, 128, 10), 3), leaves)[-1]
    logits = np.load(out)
    assert logits.shape == (64, 10) and np.array_equal(logits, expected)


@pytest.mark.timeout(60)
def test_a_job_below_every_ask_is_refused_and_a_waiting_job_listed_and_cancelled(
    node: NodeProcess, client: XplClient, xpl: XplCli, tmp_path: Path
) -> None:
    # waits long enough (400 blocks, 200 s) that the commands below run before it expires, on a
    # machine however busy
    command = (
        f"job submit --workload gemm_i8 --params {PARAMS} --max-price 0.5XPL --wait-blocks 400"
    )
    line = xpl.fails(*on(node, f"{command} --from //Charlie"))
    assert "no worker asks as little as 0.5XPL" in line, line
    assert line.endswith("the chain refuses a job that no worker could take"), line
    busy_cheap_worker(client, DAVE)
    submitted = xpl.run(*on(node, f"{command} --from //Charlie"))
    retire(client, DAVE)
    assert submitted.returncode == 0, submitted.stderr
    assert submitted.stderr.strip() == "", submitted.stderr
    found = SUBMITTED.search(submitted.stdout)
    assert found is not None, submitted.stdout
    job_id = int(found[1])
    assert "escrow  0.01811276032XPL held" in submitted.stdout

    mine = json_of(xpl.run(*on(node, "job list --mine --from //Charlie --state pending --json")))
    assert job_id in [j["id"] for j in mine]
    assert {j["state"] for j in mine} == {"pending"}
    assert {j["requester"] for j in mine} == {encode_address(CHARLIE.public)}
    assert json_of(xpl.run(*on(node, "job list --requester //Bob --json"))) == []
    taken = json_of(xpl.run(*on(node, "job list --worker //Bob --json")))
    assert all(j["worker"] == encode_address(BOB.public) for j in taken)
    assert job_id not in [j["id"] for j in taken]
    table = xpl.run(*on(node, "job list --mine --from //Charlie"))
    assert table.returncode == 0, table.stderr
    assert re.search(rf"│ {job_id}\s+│ pending\s+│ gemm_i8", table.stdout), table.stdout

    line = xpl.fails(*on(node, f"job result {job_id} --out {tmp_path / 'x.npy'} --no-dispute"))
    assert f"job {job_id} has no result yet: it is waiting for a worker" in line
    line = xpl.fails(*on(node, f"job cancel {job_id} --from //Bob"))
    assert "only its requester may cancel it" in line

    cancelled = xpl.run(*on(node, f"job cancel {job_id} --from //Charlie"))
    assert cancelled.returncode == 0, cancelled.stderr
    assert cancelled.stdout.strip() == f"job {job_id} cancelled; 0.01811276032XPL refunded"
    assert client.job(job_id).state == "cancelled"  # type: ignore[union-attr]
    line = xpl.fails(*on(node, f"job cancel {job_id} --from //Charlie"))
    assert f"job {job_id} is cancelled: only a job still waiting" in line


@pytest.mark.timeout(60)
def test_a_followed_job_that_no_worker_takes_expires(
    node: NodeProcess, client: XplClient, xpl: XplCli
) -> None:
    busy_cheap_worker(client, EVE)
    command = f"job submit --workload gemm_i8 --params {PARAMS} --max-price 0.5XPL"
    result = xpl.run(*on(node, f"{command} --wait-blocks 2 --wait --from //Charlie"))
    retire(client, EVE)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    (error,) = result.stderr.strip().splitlines()
    assert re.fullmatch(
        r"error: job \d+ expired: no worker took it within 2 blocks at 0\.5XPL per 10\^9 units; "
        r"0\.01811276032XPL refunded",
        error,
    ), error
    assert re.search(r"job \d+ expired in block #\d+; refunded to the requester", result.stdout)


def refused(capsys: pytest.CaptureFixture[str], argv: list[str]) -> str:
    """Run `xpl ARGV` in this process; it must fail with one `error:` line: that line."""
    code = xpl_main(argv)
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert code != 0 and len(lines) == 1 and lines[0].startswith("error: "), captured
    return lines[0]


@pytest.mark.timeout(60)
def test_bad_job_requests_are_refused_before_anything_is_sent(
    node: NodeProcess, client: XplClient, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Refused on this side before the node is asked anything, so these run in this process:
    # the same entry point as the `xpl` command, without an interpreter start for each.
    np.save(tmp_path / "A.npy", np.ones((256, 128), np.int8))
    np.save(tmp_path / "B.npy", np.ones((128, 200), np.int8))
    np.save(tmp_path / "F.npy", np.ones((256, 128)))
    (tmp_path / "model.bin").write_bytes(b"\x01" * 100)
    a, b, f = (f"{n}={tmp_path / m}" for n, m in (("a", "A.npy"), ("b", "B.npy"), ("a", "F.npy")))
    model = f"model={tmp_path / 'model.bin'}"
    submit = "job submit --from //Charlie --max-price 2XPL --workload"
    cases = [
        (f"{submit} gemm_f32 --params {PARAMS}", "unknown workload 'gemm_f32' (known: gemm_i8,"),
        (f"{submit} gemm_i8 --params 256,256", "gemm_i8 takes params [m, k, n, row_block]"),
        (f"{submit} gemm_i8 --params 256,0,256,64", "parameter k must be an integer from 1 to"),
        (f"{submit} gemm_i8 --params 256,x", "params '256,x': expected whole numbers"),
        (f"{submit} sgd_fxp --seed 1", "--params is needed: sgd_fxp takes params [samples,"),
        (
            f"{submit} gemm_i8 --input {f} --input {b}",
            "F.npy): the array is float64, gemm_i8 needs",
        ),
        (
            f"{submit} gemm_i8 --params 256,128,100,64 --input {a} --input {b}",
            "B.npy): the array is 128×200; gemm_i8 [256, 128, 100, 64] needs k×n = 128×100",
        ),
        (
            f"{submit} qmlp_i8 --params 8,8,16,4 --input {model}",
            "model.bin) is 100 bytes; qmlp_i8 [8, 8, 16, 4] needs 88 bytes",
        ),
        (f"{submit} gemm_i8 --input {a} --input b={tmp_path}/none.npy", "cannot read input b"),
        (f"{submit} gemm_i8 --input c={tmp_path}/A.npy", "gemm_i8 has no input 'c'"),
        (f"{submit} gemm_i8 --params {PARAMS} --deadline 0", "the deadline must be 1 to"),
        (f"{submit} gemm_i8 --params {PARAMS} --max-price 2", "amount '2': no unit"),
    ]
    jobs_before = len(client.jobs(limit=1000))
    for command, message in cases:
        assert message in refused(capsys, on(node, command)), command
    assert len(client.jobs(limit=1000)) == jobs_before


@pytest.mark.timeout(60)
def test_jobs_the_chain_would_refuse_and_unknown_jobs_get_one_clear_error(
    node: NodeProcess, client: XplClient, xpl: XplCli, tmp_path: Path
) -> None:
    submit = "job submit --workload gemm_i8"
    jobs_before = len(client.jobs(limit=1000))
    free_before = client.account(CHARLIE.public).free
    # An escrow below the least one (the existential deposit): the price that would do is named.
    line = xpl.fails(*on(node, f"{submit} --params 64,64,64,64 --max-price 2XPL --from //Charlie"))
    assert "is below the least escrow of 0.01XPL: this job needs a maximum price of at least" in (
        line
    )
    # An escrow beyond the free balance: a huge job, and a key with nothing at all.
    huge = "--params 4096,4096,4096,4 --max-price 100000XPL"
    line = xpl.fails(*on(node, f"{submit} {huge} --from //Charlie"))
    assert f"is more than the free balance of {encode_address(CHARLIE.public)}" in line
    line = xpl.fails(*on(node, f"{submit} --params {PARAMS} --max-price 2XPL --from //Nobody"))
    nobody = encode_address(keypair_from_suri("//Nobody").public)
    assert f"is more than the free balance of {nobody}, 0XPL" in line
    # Nothing was submitted, uploaded or paid for.
    assert len(client.jobs(limit=1000)) == jobs_before
    assert client.account(CHARLIE.public).free == free_before

    for command in (
        "job status 999999",
        f"job result 999999 --out {tmp_path / 'x.npy'} --from //Charlie",
        "job cancel 999999 --from //Charlie",
    ):
        assert xpl.fails(*on(node, command)) == "error: there is no job 999999 on this chain"


@pytest.mark.timeout(90)
def test_a_job_whose_worker_went_away_runs_on_the_next_worker_and_status_shows_each_match(
    node: NodeProcess, client: XplClient, xpl: XplCli, tmp_path: Path
) -> None:
    """//Ferdie asks less than //Bob, takes the job, retires and never commits: at the missed
    deadline the job goes to //Bob at once, though its two-block wait had passed. `xpl job
    status` shows both matches in order and //Bob as the worker; //Bob's right result is saved
    without an account to dispute it with."""
    # Two slots: a cheap job of an earlier test whose worker missed its deadline is offered again
    # and may take one the moment //Ferdie registers; this job must still find one free.
    args = (1000 * UNIT, "cpu", 2048, ["gemm_i8"], [UNIT // 2], [50], "", 2)
    register = make_call("market", "register_worker", *args)
    outcome = client.submit_and_watch(client.sign(FERDIE, register), until="inBlock")
    assert outcome.success, outcome.error
    command = f"job submit --workload gemm_i8 --params {PARAMS} --seed 3 --max-price 2XPL"
    submitted = json_of(
        xpl.run(*on(node, f"{command} --deadline 12 --wait-blocks 2 --from //Charlie --json"))
    )
    job_id = submitted["job"]
    retire(client, FERDIE)
    assert submitted["worker"] == encode_address(FERDIE.public)
    first = client.job(job_id)
    assert first is not None
    deadline = time.monotonic() + 30
    while (view := client.job(job_id)) is not None and view.job.worker != BOB.public:
        assert view.state == "matched" and time.monotonic() < deadline, view.state
        time.sleep(SLOT_MS / 1000)
    assert view is not None and view.job.past_matches[0].worker == FERDIE.public
    missed_at = view.job.past_matches[0].ended_at
    assert missed_at == first.job.commit_by + 1 > first.job.expires_at
    assert view.job.matched_at == missed_at and view.job.commit_by == missed_at + 12
    play_worker(client, job_id)  # at once: the node's blocks come every half second
    committed = client.job(job_id)
    assert committed is not None and committed.state == "committed"

    status = json_of(xpl.run(*on(node, f"job status {job_id} --json")))
    assert status["worker"] == encode_address(BOB.public) and status["state"] == "committed"
    assert [(m["worker"], m["outcome"]) for m in status["matches"]] == [
        (encode_address(FERDIE.public), "missed"),
        (encode_address(BOB.public), None),
    ]
    shown = xpl.run(*on(node, f"job status {job_id}"))
    assert shown.returncode == 0, shown.stderr
    text = shown.stdout
    assert re.search(rf"worker\s+{encode_address(BOB.public)}", text), text
    assert re.search(
        rf"matches\s+1\. Ferdie \(\S+\) matched #{first.job.matched_at}, commit by "
        rf"#{first.job.commit_by}: missed its deadline, taken back at #{missed_at}, penalty "
        r"0\.\d+XPL",
        text,
    ), text
    assert re.search(
        rf"2\. Bob \(\S+\) matched #{missed_at}, commit by #{missed_at + 12}: committed at "
        rf"#{committed.job.committed_at}",
        text,
    ), text
    assert "commits by #0" not in text and "worker  -" not in text
    out = tmp_path / "c.npy"
    fetched = xpl.run(*on(node, f"job result {job_id} --out {out}"))
    assert fetched.returncode == 0, fetched.stderr
    assert np.array_equal(np.load(out), generated_matrix("a", 3) @ generated_matrix("b", 3))
