"""Verification as a validator runs it: in a separate, memory-capped process, within its window.

- The costliest job of each workload the bounds accept (scaled down 16 times here; the full-size
  figures come from `xpl benchmark audit-bounds`) verifies in the verifying process within the
  guard's bound and well under 1 GiB.
- A check that runs out of memory or time dies in that process and is an error, not a verdict;
  the next check starts a fresh process.
- The qmlp_i8 layer cheat (zeroed layer-0 leaves, later layers computed on from them, 16 layers)
  now fails on every leaf of every layer, so the cheater's expected profit is negative; it used to
  fail on the 8 layer-0 leaves of 128 only (detection 0.167 a job at q = 1/4).
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from fractions import Fraction
from math import comb

import numpy as np
import pytest

from chain.benchmarks.audit_bounds_bench import audit_largest, largest_jobs
from chain.cli.main import main
from chain.service.recomputation import Material, recompute_hashes
from chain.service.verify_process import IsolatedProcess, IsolatedRunFailed, IsolatedRunTimedOut
from gpu_worker import reference
from gpu_worker.inputs import generate_inputs, parse_model
from gpu_worker.jobs import JobSpec, compute_leaves
from runtime.pallets.compute import DEFAULT_COMPUTE_PARAMS
from runtime.pallets.compute.guard import conviction_probability
from runtime.pallets.market import DEFAULT_MARKET_PARAMS, PPM
from runtime.primitives.merkle import leaf_hash

SHRINK = 16
MEMORY_GOAL = 1 << 30
"""The most a check may take: 1 GiB."""


@pytest.fixture(scope="module")
def verifier() -> Iterator[IsolatedProcess]:
    process = IsolatedProcess()
    yield process
    process.close()


@pytest.mark.parametrize("workload", ["gemm_i8", "qmlp_i8", "sgd_fxp"])
def test_the_costliest_accepted_job_verifies_within_its_bound(
    workload: str, verifier: IsolatedProcess
) -> None:
    figures = audit_largest(workload, shrink=SHRINK, slot_ms=300, process=verifier)
    assert figures.verdict == "pass"
    assert len(figures.leaves) == min(
        DEFAULT_COMPUTE_PARAMS.audit_leaves, largest_jobs(SHRINK)[workload].shape.leaves
    )
    assert figures.audit_s * 1000 < figures.bound_ms <= figures.window_ms
    assert 0 < figures.peak_rss_bytes < MEMORY_GOAL
    assert figures.witness_verdict == "pass"
    assert figures.witness_audit_s * 1000 < figures.bound_ms
    assert 0 < figures.witness_peak_rss_bytes < MEMORY_GOAL


def test_a_wrong_leaf_fails_in_the_verifying_process(verifier: IsolatedProcess) -> None:
    spec = JobSpec("gemm_i8", (16, 64, 8, 4), seed=3)
    leaves = compute_leaves(spec, generate_inputs(spec.workload, spec.params, 3), device="cpu")
    committed = (leaf_hash(leaves[0]), leaf_hash(leaves[1]))  # leaf 2 claimed to be leaf 1
    hashes = verifier.run(recompute_hashes, Material(spec, {}, (0, 2), {}), device="cpu").value
    assert hashes[0] == committed[0]
    assert hashes[1] != committed[1]


def test_a_runaway_check_dies_in_its_process_and_is_an_error() -> None:
    process = IsolatedProcess(memory_bytes=1 << 30)
    try:
        with pytest.raises(IsolatedRunFailed, match="MemoryError"):
            process.run(np.ones, (1 << 28,))  # 2 GiB of float64, over the cap
        with pytest.raises(IsolatedRunTimedOut):
            process.run(time.sleep, 30, timeout_s=0.5)
        assert process.starts == 1  # the MemoryError left it running; the timeout killed it
        assert process.run(sum, (1, 2, 3)).value == 6
        assert process.starts == 2
    finally:
        process.close()


def _layer_cheat(spec: JobSpec) -> tuple[list[bytes], list[bytes], Fraction]:
    """The honest leaves, the cheat's (layer 0 zeroed, every later layer computed on from its
    fake) and the share of the honest work the cheat does."""
    inputs = generate_inputs(spec.workload, spec.params, spec.seed)
    honest = compute_leaves(spec, inputs, device="numpy")
    batch, row_block, *dims = spec.params
    layers = parse_model(dims, inputs["model"])
    fake: list[np.ndarray] = [np.zeros((batch, dims[1]), np.int32)]
    for j in range(1, len(layers)):
        fake.append(reference.qmlp_layer(reference.requantize(fake[-1], layers[j - 1]), layers[j]))
    cheat = [
        np.ascontiguousarray(acc[start : start + row_block], dtype="<i4").tobytes()
        for acc in fake
        for start in range(0, batch, row_block)
    ]
    # Layers on a zero input are bias only; the worker computes nothing but the biases.
    work_done = Fraction(
        sum(batch * d for d in dims[1:]),
        sum(2 * batch * a * b for a, b in itertools.pairwise(dims)),
    )
    return honest, cheat, work_done


def test_the_zeroed_layer_cheat_fails_on_every_leaf_and_loses() -> None:
    spec = JobSpec("qmlp_i8", (16, 2, *[64] * 17), seed=9)  # 16 layers × 8 row blocks
    honest, cheat, work_done = _layer_cheat(spec)
    assert len(cheat) == 128
    recomputed = recompute_hashes(Material(spec, {}, tuple(range(len(cheat))), {}), device="cpu")
    verdicts = [
        "pass" if again == leaf_hash(leaf) else "fail"
        for again, leaf in zip(recomputed, cheat, strict=True)
    ]
    assert recomputed == tuple(leaf_hash(leaf) for leaf in honest)
    failing = Fraction(verdicts.count("fail"), len(verdicts))
    assert failing == 1  # the old rule failed only the 8 layer-0 leaves: 1/16

    # The cheater's expected profit against honest work, per unit of payment R, at the defaults,
    # its cost C taken as the whole payment (what makes cheating most tempting):
    cp, mp = DEFAULT_COMPUTE_PARAMS, DEFAULT_MARKET_PARAMS
    bad = int(failing * len(cheat))
    clean_draws = Fraction(
        comb(len(cheat) - bad, cp.audit_leaves), comb(len(cheat), cp.audit_leaves)
    )
    detection = (
        Fraction(cp.audit_ppm, PPM)
        * conviction_probability(cp.committee_size, cp.collusion_ppm)
        * (1 - clean_draws)
    )
    slash = Fraction(mp.slash_ppm, PPM) * Fraction(PPM - cp.challenger_share_ppm, PPM)
    saving = 1 - work_done
    profit = saving - detection * (1 + slash)
    assert detection == Fraction(cp.audit_ppm, PPM) * conviction_probability(3, 250_000)
    assert profit < 0


def test_the_audit_bounds_benchmark_runs_from_the_command_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["benchmark", "audit-bounds", "--shrink", "32", "--slot-ms", "300"]) == 0
    out = capsys.readouterr().out
    for workload in ("gemm_i8", "qmlp_i8", "sgd_fxp"):
        assert workload in out
    assert "peak RSS" in out
