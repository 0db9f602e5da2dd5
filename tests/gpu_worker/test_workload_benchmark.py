"""`xpl benchmark workload`: one JSON object whose figures agree with each other, and one clear
error line (exit code 2) for bad arguments. Timings themselves are not asserted."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from chain.benchmarks.workload_bench import AUDIT_LEAVES, exact_blas_gemm, job_for
from chain.cli.main import main
from gpu_worker import reference
from gpu_worker.devices import cuda_available
from runtime.workloads import MAX_K, WorkloadError

ROOT = Path(__file__).resolve().parents[2]
FIELDS = {
    "workload",
    "device",
    "n",
    "params",
    "cost_units",
    "leaves",
    "compute_s",
    "gops",
    "blas_gops",
    "blas_ratio",
    "commit_share",
    "committed_s",
    "overlapped_commit_share",
    "commit_copy_share",
    "audit_share",
    "audit_leaves",
    "answer_share",
    "freivalds_share",
}


def run_json(*argv: str) -> dict[str, object]:
    result = subprocess.run(
        [sys.executable, "-m", "chain.cli.main", "benchmark", "workload", *argv, "--json"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=240,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1, result.stdout
    document: dict[str, object] = json.loads(lines[0])
    return document


def close(a: object, b: float) -> bool:
    assert isinstance(a, float | int)
    return abs(a - b) <= 0.01 * abs(b) + 1e-3


@pytest.mark.timeout(300)
def test_gemm_figures_are_present_and_consistent() -> None:
    figures = run_json("gemm_i8", "--n", "40", "--device", "cpu", "--repeat", "1")
    assert set(figures) >= FIELDS
    spec = job_for("gemm_i8", 40)
    assert (figures["workload"], figures["device"], figures["n"]) == ("gemm_i8", "cpu", 40)
    assert figures["params"] == list(spec.params)
    assert figures["cost_units"] == 2 * 40**3
    assert figures["leaves"] == spec.shape.leaves
    assert figures["audit_leaves"] == min(AUDIT_LEAVES, spec.shape.leaves)
    compute_s = figures["compute_s"]
    assert isinstance(compute_s, float) and compute_s > 0
    assert close(figures["gops"], 2 * 40**3 / compute_s / 1e9)
    blas_gops, gops = figures["blas_gops"], figures["gops"]
    assert isinstance(blas_gops, float) and isinstance(gops, float) and blas_gops > 0
    assert close(figures["blas_ratio"], gops / blas_gops)
    for share in (
        "commit_share",
        "commit_copy_share",
        "audit_share",
        "answer_share",
        "freivalds_share",
    ):
        seconds = figures[share.replace("share", "s")]
        assert isinstance(seconds, float) and seconds > 0
        assert close(figures[share], seconds / compute_s)
    committed_s = figures["committed_s"]
    assert isinstance(committed_s, float) and committed_s > 0
    assert close(figures["overlapped_commit_share"], (committed_s - compute_s) / compute_s)


@pytest.mark.timeout(300)
@pytest.mark.parametrize("workload", ["qmlp_i8", "sgd_fxp"])
def test_other_workloads_have_no_blas_figures(workload: str) -> None:
    figures = run_json(workload, "--n", "8", "--device", "cpu", "--repeat", "1")
    assert set(figures) >= FIELDS
    assert figures["blas_gops"] is None and figures["blas_ratio"] is None
    assert figures["cost_units"] == job_for(workload, 8).shape.cost_units
    assert isinstance(figures["gops"], float) and figures["gops"] > 0


@pytest.mark.parametrize(
    "argv,message",
    [
        (["matmul"], "unknown workload 'matmul'"),
        (["gemm_i8", "--n", "0"], "--n must be from 1"),
        (["sgd_fxp", "--n", "5000"], "--n must be from 1 to 4096"),
        (["gemm_i8", "--device", "tpu"], "unknown device 'tpu'"),
        (["gemm_i8", "--repeat", "0"], "--repeat must be at least 1"),
    ],
)
def test_bad_arguments_give_one_error_line_and_exit_code_2(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["benchmark", "workload", *argv]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], err


@pytest.mark.skipif(cuda_available(), reason="this machine has a CUDA device")
def test_cuda_without_a_gpu_is_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["benchmark", "workload", "gemm_i8", "--n", "8", "--device", "cuda"]) == 2
    _, err = capsys.readouterr()
    assert err.strip() == "error: device cuda asked for, but no usable CUDA GPU was found"


@pytest.mark.parametrize("k", [1, 1024, 1025, 3001, MAX_K])
def test_the_float32_blas_path_is_exact(k: int) -> None:
    """Crafted sums: 1,024 products of 2^14 reach 2^24, then an odd tail makes the total a number
    float32 cannot hold, which one float32 product over all of K would round."""
    a = np.full((2, k), 1, np.int8)
    b = np.full((k, 3), 1, np.int8)
    a[:, :1024] = -128
    b[:1024, :] = -128
    b[:, 1] = 127
    expected = reference.gemm(a, b)
    np.testing.assert_array_equal(exact_blas_gemm(a, b), expected)
    if k > 1024:
        assert expected[0, 0] == 2**24 + k - 1024
        naive = (a.astype(np.float32) @ b.astype(np.float32)).astype(np.int64)
        assert not np.array_equal(naive, expected)


def test_the_benchmark_jobs_take_the_default_leaf_layouts() -> None:
    """gemm_i8 in the client's default tiles, qmlp_i8 a leaf per row; --row-block alone keeps
    bands of whole rows."""
    assert job_for("gemm_i8", 2048).params == (2048, 2048, 2048, 8, 128)
    assert job_for("gemm_i8", 2048, row_block=4).params == (2048, 2048, 2048, 4)
    assert job_for("gemm_i8", 64, col_block=16).params == (64, 64, 64, 8, 16)
    assert job_for("qmlp_i8", 64).params[:2] == (64, 1)
    with pytest.raises(WorkloadError, match="--col-block is for gemm_i8"):
        job_for("qmlp_i8", 64, col_block=8)
