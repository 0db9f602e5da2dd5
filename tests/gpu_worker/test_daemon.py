"""The worker's parts that need no node: job records and leaves on disk, written atomically; the
leaves --cheat corrupts; the settings `xpl worker` refuses before it starts; and when and with
what it responds to a check."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest
from nacl.pwhash import argon2id

from chain.cli.main import build_parser, main
from chain.cli.worker import config_from_args
from chain.client.chain import JobView
from chain.keystore import write_key_file
from gpu_worker.devices import cuda_available
from gpu_worker.worker.cheating import cheat_indices, corrupt_leaves
from gpu_worker.worker.config import WorkerConfig, WorkerError, check_config, parse_ask
from gpu_worker.worker.job_state import (
    JobRecord,
    JobStateError,
    JobStore,
    atomic_write,
    decode_leaves,
    encode_leaves,
    locked_state_dir,
)
from gpu_worker.worker.responding import Responder
from runtime.executive import CALLS
from runtime.pallets import compute
from runtime.pallets.market import Job, job_digest
from runtime.primitives.keys import dev_keypair
from runtime.primitives.merkle import leaf_hash, merkle_root, verify_merkle_proof
from runtime.transaction import Call

UNIT = 10**12
ROOT = bytes(range(32))
LEAVES = [bytes([i]) * (100 + i) for i in range(5)]
KEY = dev_keypair("Eve")


def record(phase: str = "computed", **changes: object) -> JobRecord:
    fields: dict[str, object] = {
        "job_id": 7,
        "phase": phase,
        "workload": "gemm_i8",
        "params": (256, 256, 256, 64),
        "seed": 42,
        "matched_at": 10,
        "commit_by": 30,
        "inputs": (("a", b""), ("b", ROOT)),
        "root": merkle_root(LEAVES),
        "leaves": len(LEAVES),
        "cheated": (1, 3),
        "compute_seconds": 0.25,
        "committed_at": 0,
        "checks_logged": ("pass", ""),
        "digest": bytes(range(32, 64)),
    }
    fields.update(changes)
    return JobRecord(**fields)  # type: ignore[arg-type]


@pytest.fixture
def store(tmp_path: Path) -> JobStore:
    return JobStore(tmp_path / "state")


# Records and leaves on disk


def test_a_record_round_trips_through_json_and_disk(store: JobStore) -> None:
    original = record(committed_at=31, outcome="")
    assert JobRecord.from_json(json.loads(json.dumps(original.to_json()))) == original
    store.save(original)
    assert store.load(7) == original
    assert store.job_ids() == [7]
    assert store.load(8) is None


def test_a_record_moves_forward_only() -> None:
    computed = record("computed")
    assert computed.advance("committed", committed_at=40).committed_at == 40
    with pytest.raises(ValueError, match="cannot go back from computed to fetched"):
        computed.advance("fetched")


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (b"{not json", "is damaged"),
        (b'{"job": 7}', "field 'phase'"),
        (json.dumps({**record().to_json(), "phase": "dreaming"}).encode(), "unknown phase"),
        (json.dumps({**record().to_json(), "params": [1, "2"]}).encode(), "'params'"),
        (json.dumps({**record().to_json(), "job": 8}).encode(), "is about job 8"),
    ],
)
def test_a_damaged_record_is_refused_by_name(store: JobStore, damage: bytes, message: str) -> None:
    store.save(record())
    (store.job_dir(7) / "job.json").write_bytes(damage)
    with pytest.raises(JobStateError, match=message):
        store.load(7)


def test_leaves_round_trip_and_are_checked_against_the_root(store: JobStore) -> None:
    assert decode_leaves(b"".join(encode_leaves(LEAVES))) == LEAVES
    assert decode_leaves(b"".join(encode_leaves([b""]))) == [b""]
    store.save_leaves(7, LEAVES)
    assert store.load_leaves(7, merkle_root(LEAVES)) == LEAVES
    assert store.load_leaves(7, ROOT) is None  # other leaves than the record's root
    path = store.job_dir(7) / "leaves.bin"
    path.write_bytes(path.read_bytes()[:-1])  # cut short
    assert store.load_leaves(7, merkle_root(LEAVES)) is None
    with pytest.raises(ValueError, match="holds 509 bytes of leaves, not 510"):
        decode_leaves(path.read_bytes())
    with pytest.raises(ValueError, match="not a leaves file"):
        decode_leaves(b"XPL")


def test_an_interrupted_write_leaves_the_old_file_whole(tmp_path: Path) -> None:
    path = tmp_path / "job.json"
    atomic_write(path, [b"old"])

    def chunks() -> Iterator[bytes]:
        yield b"new, half"
        raise KeyboardInterrupt  # the process is stopped in the middle of the write

    with pytest.raises(KeyboardInterrupt):
        atomic_write(path, chunks())
    assert path.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["job.json"]  # no temporary file left
    atomic_write(path, [b"new, ", b"whole"])
    assert path.read_bytes() == b"new, whole"


def test_ending_a_job_keeps_its_record_and_deletes_its_data(store: JobStore) -> None:
    store.save(record("committed"))
    store.save_leaves(7, LEAVES)
    store.save_input(7, "b", b"input bytes")
    assert store.load_input(7, "b") == b"input bytes"
    ended = store.end(record("committed"), "settled")
    assert ended.phase == "ended" and ended.outcome == "settled"
    assert store.load(7) == ended
    assert [p.name for p in store.job_dir(7).iterdir()] == ["job.json"]
    assert store.load_input(7, "b") is None


def test_a_state_directory_has_one_worker_at_a_time(tmp_path: Path) -> None:
    with (
        locked_state_dir(tmp_path / "w"),
        pytest.raises(JobStateError, match="another worker is running"),
        locked_state_dir(tmp_path / "w"),
    ):
        pass
    with locked_state_dir(tmp_path / "w"):  # released when the first one ended
        pass


# Cheating on purpose


@pytest.mark.parametrize(
    ("leaves", "fraction", "count"),
    [(4, 0.0, 0), (4, 0.01, 1), (4, 0.5, 2), (4, 1.0, 4), (64, 0.1, 6), (1, 0.3, 1), (0, 1.0, 0)],
)
def test_cheating_corrupts_round_f_times_n_leaves_and_at_least_one(
    leaves: int, fraction: float, count: int
) -> None:
    chosen = cheat_indices(leaves, fraction, seed=5, job_id=9)
    assert len(chosen) == count
    assert len(set(chosen)) == count and all(0 <= i < leaves for i in chosen)
    assert list(chosen) == sorted(chosen)


def test_the_cheat_seed_decides_which_leaves() -> None:
    first = cheat_indices(64, 0.25, seed=1, job_id=3)
    assert cheat_indices(64, 0.25, seed=1, job_id=3) == first
    others = {cheat_indices(64, 0.25, seed=s, job_id=3) for s in range(2, 8)}
    others |= {cheat_indices(64, 0.25, seed=1, job_id=j) for j in range(4, 8)}
    assert first not in others and len(others) > 1
    with pytest.raises(ValueError, match="from 0 to 1"):
        cheat_indices(4, 1.5, seed=1, job_id=3)


def test_corrupted_leaves_differ_exactly_where_chosen() -> None:
    chosen = cheat_indices(len(LEAVES), 0.4, seed=11, job_id=2)
    corrupted = corrupt_leaves(LEAVES, chosen, seed=11, job_id=2)
    assert corrupt_leaves(LEAVES, chosen, seed=11, job_id=2) == corrupted
    for index, (honest, bad) in enumerate(zip(LEAVES, corrupted, strict=True)):
        changed = sum(a != b for a, b in zip(honest, bad, strict=True))
        assert len(bad) == len(honest)
        assert changed == (1 if index in chosen else 0)
    assert merkle_root(corrupted) != merkle_root(LEAVES)


# Settings


def test_asks_parse_and_bad_ones_are_named() -> None:
    assert parse_ask("gemm_i8=1XPL") == ("gemm_i8", UNIT)
    assert parse_ask("qmlp_i8=0.5XPL") == ("qmlp_i8", UNIT // 2)
    for text, message in [
        ("gemm_i8", "expected WORKLOAD=PRICE"),
        ("=1XPL", "expected WORKLOAD=PRICE"),
        ("gemm_f32=1XPL", "unknown workload 'gemm_f32'"),
        ("gemm_i8=1", "amount '1'"),
        ("gemm_i8=0XPL", "must be above zero"),
    ]:
        with pytest.raises(WorkerError, match=message):
            parse_ask(text)


def config(**changes: object) -> WorkerConfig:
    fields: dict[str, object] = {
        "rpc_url": "http://127.0.0.1:9944",
        "keypair": dev_keypair("Dave"),
        "stake": 1000 * UNIT,
        "asks": (("gemm_i8", UNIT),),
    }
    fields.update(changes)
    return WorkerConfig(**fields)  # type: ignore[arg-type]


def test_settings_the_worker_cannot_run_with_are_named() -> None:
    check_config(config())
    cases: list[tuple[dict[str, object], str]] = [
        ({"asks": ()}, "at least one --ask"),
        ({"asks": (("gemm_i8", UNIT), ("gemm_i8", 2 * UNIT))}, "gemm_i8 twice"),
        ({"capacity": 0}, "--capacity must be from 1 to 64"),
        ({"cheat": 1.01}, "--cheat is a fraction"),
        ({"cheat": float("nan")}, "--cheat is a fraction"),
        ({"rpc_url": "127.0.0.1:9944"}, "--rpc"),
        ({"endpoint": "x" * 300}, "--endpoint is at most 256 bytes"),
    ]
    for changes, message in cases:
        with pytest.raises(WorkerError, match=message):
            check_config(config(**changes))


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    """Run `xpl worker ARGV...`, which must refuse with one `error:` line; that line."""
    code = main(["worker", *argv])
    err = capsys.readouterr().err
    assert code != 0
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    return lines[0]


GOOD = ("--rpc", "http://127.0.0.1:9", "--device", "numpy", "--stake", "1000XPL")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ((*GOOD, "--dev-key", "//Dave", "--ask", "matmul=1XPL"), "unknown workload 'matmul'"),
        ((*GOOD, "--dev-key", "//Dave", "--ask", "gemm_i8=lots"), "amount 'lots'"),
        ((*GOOD, "--dev-key", "//Dave", "--ask", "gemm_i8=0XPL"), "must be above zero"),
        ((*GOOD, "--dev-key", "//Dave"), "at least one --ask"),
        ((*GOOD, "--ask", "gemm_i8=1XPL"), "needs its account's key"),
        ((*GOOD, "--dev-key", "Dave", "--ask", "gemm_i8=1XPL"), "expected //Name"),
        (
            (*GOOD, "--dev-key", "//Dave", "--key-file", "k.json", "--ask", "gemm_i8=1XPL"),
            "either --key-file or --dev-key",
        ),
        (
            (
                *GOOD,
                "--key-file",
                "/nonexistent/k.json",
                "--password-env",
                "XPL_TEST_PW",
                "--ask",
                "gemm_i8=1XPL",
            ),
            "XPL_TEST_PW",
        ),
        ((*GOOD, "--dev-key", "//Dave", "--ask", "gemm_i8=1XPL", "--cheat", "1.5"), "from 0 to 1"),
        ((*GOOD, "--dev-key", "//Dave", "--ask", "gemm_i8=1XPL", "--cheat", "-0.1"), "from 0 to 1"),
        ((*GOOD, "--dev-key", "//Dave", "--ask", "gemm_i8=1XPL", "--cheat", "nan"), "from 0 to 1"),
        ((*GOOD, "--dev-key", "//Dave", "--ask", "gemm_i8=1XPL", "--cheat", "half"), "a number"),
        ((*GOOD, "--dev-key", "//Dave", "--ask", "gemm_i8=1XPL", "--capacity", "0"), "--capacity"),
        ((*GOOD[:4], "--dev-key", "//Dave", "--ask", "gemm_i8=1XPL"), "--stake is required"),
        (
            (
                "--rpc",
                "localhost",
                "--dev-key",
                "//Dave",
                "--stake",
                "1XPL",
                "--ask",
                "gemm_i8=1XPL",
            ),
            "--rpc 'localhost'",
        ),
    ],
)
def test_the_command_refuses_bad_arguments_in_one_line(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    argv: tuple[str, ...],
    message: str,
) -> None:
    monkeypatch.delenv("XPL_TEST_PW", raising=False)
    assert message in run_cli(capsys, *argv)


@pytest.mark.skipif(cuda_available(), reason="this machine has a GPU")
def test_a_missing_gpu_is_refused_in_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    line = run_cli(
        capsys,
        *GOOD[:2],
        "--device",
        "cuda",
        *GOOD[4:],
        "--dev-key",
        "//Dave",
        "--ask",
        "gemm_i8=1XPL",
    )
    assert "no usable CUDA GPU" in line


def test_the_key_file_is_read_with_the_password_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    keypair = dev_keypair("Eve")
    path = tmp_path / "worker.key"
    password = b"correct horse"
    write_key_file(
        path, keypair, password, opslimit=argon2id.OPSLIMIT_MIN, memlimit=argon2id.MEMLIMIT_MIN
    )
    monkeypatch.setenv("XPL_TEST_PW", "correct horse")
    argv = [*GOOD, "--key-file", str(path), "--password-env", "XPL_TEST_PW"]
    args = build_parser().parse_args(["worker", *argv, "--ask", "gemm_i8=2XPL", "--cheat", "0.25"])
    config = config_from_args(args)
    assert config.keypair == keypair and not config.dev_key
    assert config.asks == (("gemm_i8", 2 * UNIT),) and config.cheat == 0.25
    monkeypatch.setenv("XPL_TEST_PW", "wrong horse")
    assert "wrong password" in run_cli(capsys, *argv, "--ask", "gemm_i8=1XPL")


# Responding to checks


class FakeClient:
    """The little of a node client that responding uses: the best block, the worker's committed
    jobs, signing and submitting."""

    def __init__(self, best: int, *checks: compute.Check) -> None:
        self.best = best
        self.checks = checks
        self.sent: list[tuple[str, tuple[object, ...]]] = []

    def best_number(self) -> int:
        return self.best

    def jobs(self, **_: object) -> list[JobView]:
        job = SimpleNamespace(state="committed", result_root=ROOT)
        return [JobView(id=7, job=job, checks=self.checks, settles_at=None)]  # type: ignore[arg-type]

    def finalized_number(self) -> int:
        return self.best - 2

    def sign(self, keypair: object, call: Call, *, mortal_for: int) -> Call:
        assert self.best - 2 + mortal_for == self.checks[0].reveal_deadline
        return call

    def submit(self, call: Call) -> bytes:
        self.sent.append((call.name, CALLS[(call.pallet, call.name)].decode_args(call.args)))
        return bytes(32)


def test_a_worker_responds_once_the_commit_phase_is_over_with_what_it_committed() -> None:
    check = compute.Check(
        kind="audit", leaves=(3, 1), committee=(ROOT,), drawn_at=10, commit_deadline=14,
        reveal_deadline=17,
    )  # fmt: skip
    committed = corrupt_leaves(LEAVES, (1, 3), 9, 7)  # a cheat answers with what it committed
    reads: list[tuple[int, bytes]] = []

    def leaves(job_id: int, root: bytes) -> list[bytes]:
        reads.append((job_id, root))
        return committed

    responder = Responder(KEY)
    client = FakeClient(13, check)  # the next block is still in the commit phase
    assert responder.respond_due(client, leaves) == []  # type: ignore[arg-type]
    assert client.sent == [] and reads == []

    client.best = 14
    assert responder.respond_due(client, leaves) == [(7, 0)]  # type: ignore[arg-type]
    ((name, (job_id, index, hashes, proofs)),) = client.sent
    assert (name, job_id, index, reads) == ("respond", 7, 0, [(7, ROOT)])
    assert hashes == [leaf_hash(committed[3]), leaf_hash(committed[1])]
    root = merkle_root(committed)
    for leaf, proof in zip((3, 1), proofs, strict=True):  # type: ignore[call-overload]
        verify_merkle_proof(root, committed[leaf], leaf, len(committed), proof)

    # Not sent again while it may still be on its way; again if it has not shown on chain.
    assert responder.respond_due(client, leaves) == []  # type: ignore[arg-type]
    client.best = 15
    assert responder.respond_due(client, leaves) == []  # type: ignore[arg-type]
    client.best = 16
    assert responder.respond_due(client, leaves) == [(7, 0)]  # type: ignore[arg-type]

    # Answered on chain, or the reveal phase over: nothing more.
    answered = dataclasses.replace(check, response=tuple(hashes))  # type: ignore[arg-type]
    for best, current in ((16, answered), (17, check)):
        late = FakeClient(best, current)
        assert Responder(KEY).respond_due(late, leaves) == []  # type: ignore[arg-type]
        assert late.sent == []


def chain_job(**changes: object) -> Job:
    """The chain's job that `record()` is about."""
    fields: dict[str, object] = {
        "requester": KEY.public,
        "workload": "gemm_i8",
        "params": (256, 256, 256, 64),
        "inputs": (("a", b""), ("b", ROOT)),
        "seed": 42,
        "max_price": 10**12,
        "cost_units": 1,
        "leaves": len(LEAVES),
        "escrow": 10**12,
        "mode": "sampled",
        "deadline_blocks": 20,
        "expires_at": 15,
        "submitted_at": 9,
        "state": "matched",
        "matched_at": 10,
        "commit_by": 30,
    }
    fields.update(changes)
    return Job(**fields)  # type: ignore[arg-type]


def test_a_record_names_its_job_by_digest_and_one_from_before_digests_by_its_work() -> None:
    """A worker upgraded with a job on disk keeps its leaves (its record has no digest: the
    same work is the same job to it), and a record with a digest is of that job alone."""
    job = chain_job()
    kept = record(digest=job_digest(7, job))
    assert kept.is_of(7, job)
    assert not kept.is_of(7, dataclasses.replace(job, requester=dev_keypair("Bob").public))
    assert not kept.is_of(8, job)
    data = kept.to_json()
    del data["digest"]
    before = JobRecord.from_json(data)
    assert before.digest == b""
    assert before.is_of(7, job)
    assert before.is_of(7, dataclasses.replace(job, requester=dev_keypair("Bob").public))
    assert not before.is_of(7, dataclasses.replace(job, seed=43))
    assert not before.is_of(7, dataclasses.replace(job, inputs=(("a", b""), ("b", bytes(32)))))
