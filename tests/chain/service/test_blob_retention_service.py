"""The sweep as the node runs it: the roots that open jobs on chain name (inputs and committed
results) are kept however long; an ended job's blobs go one retention period after it ends;
blobs no job names go after the period; sweeps come at most every SWEEP_INTERVAL_MS."""

from __future__ import annotations

from dataclasses import dataclass, replace

from chain.service.blob_retention import SWEEP_INTERVAL_MS, BlobRetention, referenced_roots
from chain.storage.blobs import BlobStore
from chain.storage.kv import MemoryStore
from runtime.pallets import market
from runtime.state import StateOverlay

RETENTION = 60_000
INPUT, MODEL, RESULT, LOOSE = ([bytes([i]) * 8] for i in range(1, 5))


def job(state: str, inputs: tuple[tuple[str, bytes], ...], result_root: bytes = b"") -> market.Job:
    return market.Job(
        requester=b"\x01" * 32, workload="qmlp_i8", params=(1, 2), inputs=inputs, seed=0,
        max_price=1, cost_units=1, leaves=1, escrow=1, mode="always", deadline_blocks=5,
        expires_at=9, submitted_at=1, state=state, result_root=result_root,
    )  # fmt: skip


@dataclass
class Header:
    hash: bytes


class Chain:
    """A chain store's reader over a state of jobs, as the sweep reads it."""

    def __init__(self) -> None:
        self.jobs: dict[int, market.Job] = {}

    def reader(self, block_hash: bytes) -> object:
        overlay = StateOverlay(lambda key: None)
        for job_id, record in self.jobs.items():
            market.Jobs.insert(overlay, job_id, record)
        return overlay.changes().get


def test_open_jobs_keep_their_inputs_and_results_and_ended_ones_let_go() -> None:
    blobs = BlobStore(MemoryStore(), retention_ms=RETENTION)
    stored = {"input": INPUT, "model": MODEL, "result": RESULT, "loose": LOOSE}
    roots = {name: blobs.store_leaves(leaves).root for name, leaves in stored.items()}
    chain = Chain()
    chain.jobs[1] = job("pending", (("x", roots["input"]), ("model", roots["model"])))
    chain.jobs[2] = job("committed", (("a", b""),), result_root=roots["result"])
    open_jobs = {1, 2}
    now = [1_000]
    retention = BlobRetention(blobs, chain, lambda: open_jobs, lambda: now[0])
    assert referenced_roots(chain, b"", open_jobs) == {
        roots["input"],
        roots["model"],
        roots["result"],
    }
    retention.on_best_block(Header(b"1"))
    now[0] = 1_000 + SWEEP_INTERVAL_MS - 1
    retention.on_best_block(Header(b"2"))  # too soon: no sweep
    assert blobs.info(roots["loose"]) is not None
    now[0] = 1_000 + 100 * RETENTION
    retention.on_best_block(Header(b"3"))
    assert blobs.info(roots["loose"]) is None  # nobody named it
    assert all(blobs.info(roots[n]) is not None for n in ("input", "model", "result"))
    # Job 1 is cancelled: its inputs stay one more retention period, then go.
    chain.jobs[1] = replace(chain.jobs[1], state="cancelled")
    open_jobs.discard(1)
    ended = now[0] + SWEEP_INTERVAL_MS
    now[0] = ended
    retention.on_best_block(Header(b"4"))
    now[0] = ended + RETENTION + SWEEP_INTERVAL_MS
    retention.on_best_block(Header(b"5"))
    assert blobs.info(roots["input"]) is None and blobs.info(roots["model"]) is None
    assert blobs.info(roots["result"]) is not None  # job 2 is still open
