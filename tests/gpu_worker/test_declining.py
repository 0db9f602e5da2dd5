"""The worker's decision to decline a matched job it cannot finish by its deadline."""

from __future__ import annotations

from dataclasses import replace

import pytest

from gpu_worker.worker.decline_rule import Abilities, decline_reason, may_decline
from gpu_worker.worker.declining import BlockClock
from runtime.pallets.market import DEFAULT_MARKET_PARAMS, Job
from runtime.workloads import workload_shape

P = DEFAULT_MARKET_PARAMS
PARAMS = (1000, 500, 1000, 100)  # 10^9 cost units, 4 MB of result
SHAPE = workload_shape("gemm_i8", PARAMS)
ROOT = b"\x42" * 32
ROOMY = Abilities(memory_bytes=2**34, throughput=50, seconds_per_block=6.0)


def _job(**changes: object) -> Job:
    job = Job(
        requester=b"\x01" * 32,
        workload="gemm_i8",
        params=PARAMS,
        inputs=(("a", b""), ("b", ROOT)),
        seed=7,
        max_price=10**12,
        cost_units=SHAPE.cost_units,
        leaves=SHAPE.leaves,
        escrow=10**12,
        mode="always",
        deadline_blocks=20,
        expires_at=100,
        submitted_at=1,
        state="matched",
        matched_at=10,
        commit_by=30,
    )
    return replace(job, **changes)  # type: ignore[arg-type]


def _known(root: bytes) -> bool:
    return root == ROOT


def test_a_job_the_worker_can_do_is_kept() -> None:
    assert decline_reason(_job(), 10, P, ROOMY, _known) is None


@pytest.mark.parametrize(
    ("job", "abilities", "named"),
    [
        pytest.param(
            _job(inputs=(("a", b""), ("b", b"\x07" * 32))),
            ROOMY,
            "not on the node",
            id="input-not-served",
        ),
        pytest.param(
            _job(), replace(ROOMY, memory_bytes=SHAPE.result_bytes), "memory", id="memory"
        ),
        pytest.param(_job(), replace(ROOMY, throughput=0), "no throughput", id="no-throughput"),
        pytest.param(_job(cost_units=10**15), ROOMY, "s are left", id="deadline-too-tight"),
    ],
)
def test_a_job_the_worker_cannot_do_is_declined(job: Job, abilities: Abilities, named: str) -> None:
    reason = decline_reason(job, 10, P, abilities, _known)
    assert reason is not None and named in reason


def test_without_a_block_time_the_deadline_is_left_to_the_chain() -> None:
    slow = replace(ROOMY, seconds_per_block=None)
    assert decline_reason(_job(cost_units=10**15), 10, P, slow, _known) is None


def test_a_decline_is_sent_only_while_the_chain_takes_it() -> None:
    # The chain takes a decline up to `decline_blocks` blocks after the match; a decline sent at
    # head h lands in block h + 1 at the earliest.
    job = _job(matched_at=10)
    last = 10 + P.decline_blocks
    assert may_decline(job, last - 1, P) and not may_decline(job, last, P)


def test_the_block_clock_needs_two_blocks() -> None:
    clock = BlockClock()
    assert clock.seconds_per_block() is None
    clock.observe(5)
    assert clock.seconds_per_block() is None
    clock.observe(7)
    seconds = clock.seconds_per_block()
    assert seconds is not None and seconds >= 0
