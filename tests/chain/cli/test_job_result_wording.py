"""`xpl job result` checks a result before it asks for anything, and `xpl job status` words a
job's matches: run in this process against a stand-in for the node (what the node serves is
`test_job_cli`'s business), so that each wording is pinned exactly and fast.

A result was refused up front without `--from`, with words that read as if it were wrong; now a
right result is saved with no account, and only a result found wrong asks for one.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from chain.cli import job as job_cli
from chain.cli.main import main as xpl_main
from chain.client import jobs as jc
from chain.client.chain import JobView
from runtime.pallets.market import Job, PastMatch
from runtime.primitives.keys import dev_keypair

BOB, FERDIE, CHARLIE = (dev_keypair(n) for n in ("Bob", "Ferdie", "Charlie"))
UNIT = 10**12


def _job(state: str = "committed", **changes: Any) -> Job:
    base: dict[str, Any] = {
        "requester": CHARLIE.public,
        "workload": "gemm_i8",
        "params": (256, 256, 256, 64),
        "inputs": (("a", b""), ("b", b"")),
        "seed": 3,
        "max_price": 2 * UNIT,
        "cost_units": 2 * 256**3,
        "leaves": 4,
        "escrow": UNIT,
        "mode": "sampled",
        "deadline_blocks": 12,
        "expires_at": 30,
        "submitted_at": 10,
        "state": state,
        "worker": BOB.public,
        "price": UNIT,
        "slash": UNIT,
        "matched_at": 23,
        "commit_by": 35,
        "result_root": b"\x01" * 32,
        "committed_at": 27,
    }
    base.update(changes)
    return Job(**base)


class FakeNode:
    """What `xpl job result` and `xpl job status` read, with the result's check outcome set by
    the test; records the disputes filed."""

    def __init__(self, job: Job, bad: int | None) -> None:
        self.view = JobView(id=7, job=job, checks=(), settles_at=None)
        self.bad = bad
        self.disputes: list[tuple[bytes, int]] = []

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        @contextmanager
        def connect(_: Any) -> Iterator[FakeNode]:
            yield self

        monkeypatch.setattr(job_cli, "connect", connect)
        monkeypatch.setattr(jc, "fetch_result", lambda *_, **__: jc.JobResult(self.view, []))
        monkeypatch.setattr(jc, "fetch_inputs", lambda *_: {})
        monkeypatch.setattr(jc, "find_bad_leaf", lambda *_: self.bad)
        monkeypatch.setattr(jc, "result_output", lambda *_: np.zeros((2, 2), np.int32))
        monkeypatch.setattr(jc, "require_job", lambda *_: self.view)
        monkeypatch.setattr(jc, "dispute_window", lambda *_: 24)
        monkeypatch.setattr(jc, "ended_at", lambda *_: None)

        def dispute(_: Any, keypair: Any, job_id: int, leaf: int) -> jc.Dispute:
            self.disputes.append((keypair.public, leaf))
            return jc.Dispute(job_id, 0, leaf, UNIT // 10, 40, 30, filed=True)

        monkeypatch.setattr(jc, "dispute_leaf", dispute)

    def best_number(self) -> int:
        return 40


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = xpl_main([*argv, "--rpc", "http://127.0.0.1:1"])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_a_right_result_is_saved_without_an_account(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    node = FakeNode(_job(), bad=None)
    node.install(monkeypatch)
    out = tmp_path / "c.npy"
    code, stdout, stderr = _run(capsys, "job", "result", "7", "--out", str(out))
    assert (code, stderr) == (0, "")
    assert "the result of job 7 checks out against its inputs" in stdout and out.exists()
    assert node.disputes == []


def test_a_wrong_result_without_an_account_says_it_was_found_wrong_and_how_to_dispute(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    node = FakeNode(_job(), bad=2)
    node.install(monkeypatch)
    out = tmp_path / "c.npy"
    code, _, stderr = _run(capsys, "job", "result", "7", "--out", str(out))
    assert code == 1 and not out.exists() and node.disputes == []
    assert stderr.strip() == (
        "error: the result of job 7 was checked and is wrong: leaf 2 does not match the inputs; "
        "not saved. To dispute it (a fraud proof naming leaf 2, which bonds the fraud bond; a "
        "recheck that finds the leaf wrong returns it with a share of the worker's slash), run "
        f"again with the account that files it: xpl job result 7 --out {out} --from //NAME (or "
        "--key-file FILE), within the job's dispute window"
    )


@pytest.mark.parametrize(
    ("state", "ending"),
    [
        ("failed", "Its check already failed it: the worker was slashed"),
        ("settled", "The job is settled: its dispute window is over"),
    ],
)
def test_a_wrong_result_past_its_disputes_says_why_it_cannot_be_disputed(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    state: str,
    ending: str,
) -> None:
    FakeNode(_job(state), bad=2).install(monkeypatch)
    code, _, stderr = _run(capsys, "job", "result", "7", "--out", str(tmp_path / "c.npy"))
    assert code == 1 and stderr.strip().endswith(f"not saved. {ending}")


def test_a_wrong_result_with_an_account_is_disputed_by_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    node = FakeNode(_job(), bad=2)
    node.install(monkeypatch)
    args = ("job", "result", "7", "--out", str(tmp_path / "c.npy"), "--from", "//Charlie")
    code, _, stderr = _run(capsys, *args)
    assert code == 1 and node.disputes == [(CHARLIE.public, 2)]
    assert "was checked and is wrong: leaf 2" in stderr and "Dispute filed: check 0" in stderr
    no_dispute = ("job", "result", "7", "--out", str(tmp_path / "c.npy"), "--no-dispute")
    code, _, stderr = _run(capsys, *no_dispute)
    assert code == 1 and stderr.strip().endswith("not saved, no dispute filed (--no-dispute)")


def test_status_lists_every_match_in_order_and_the_current_worker(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The job of the scenario: Ferdie matched at #10 and missed (taken back at #23), Bob
    matched at #23 and committed at #27."""
    missed = PastMatch(FERDIE.public, 10, 22, 23, "missed", 166_094_438_400)
    FakeNode(_job(past_matches=(missed,)), bad=None).install(monkeypatch)
    code, stdout, _ = _run(capsys, "job", "status", "7")
    assert code == 0
    lines = [line.strip() for line in stdout.splitlines()]
    (worker,) = [line for line in lines if line.startswith("worker ")]
    assert worker.split()[1].startswith("5") and "-" not in worker
    (first,) = [line for line in lines if line.startswith("matches ")]
    assert first.split(None, 1)[1] == (
        f"1. {job_cli._who(FERDIE.public)} matched #10, commit by #22: missed its deadline, "
        "taken back at #23, penalty 0.1660944384XPL"
    )
    second = lines[lines.index(first) + 1]
    assert second == f"2. {job_cli._who(BOB.public)} matched #23, commit by #35: committed at #27"
    (submitted,) = [line for line in lines if line.startswith("submitted ")]
    assert submitted.endswith(
        "waits for a worker until #30 (extended by the 13 blocks it was matched to workers "
        "that gave it back)"
    )
    assert "commits by #0" not in stdout


def test_status_of_a_job_expired_after_its_worker_declined_names_no_current_worker(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    declined = PastMatch(FERDIE.public, 10, 22, 12, "declined", 5 * 10**9)
    job = _job(
        "expired",
        past_matches=(declined,),
        worker=None,
        price=0,
        slash=0,
        matched_at=0,
        commit_by=0,
        result_root=b"",
        committed_at=0,
        expires_at=12,
    )
    FakeNode(job, bad=None).install(monkeypatch)
    code, stdout, _ = _run(capsys, "job", "status", "7")
    assert code == 0
    assert "none now (1 gave it back: see matches)" in stdout
    assert "declined at #12, penalty 0.005XPL" in stdout and "expired at #12" in stdout
    assert "2. " not in stdout
