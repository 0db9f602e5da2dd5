"""A worker compiles its commitment's kernels before it registers, not under its first job's
deadline: the warm-up jobs are jobs the runtime accepts, and computing and committing them runs
the paths a job takes (bands of rows, tiles, a leaf per row) to the root of `merkle_root`."""

from __future__ import annotations

import pytest

from gpu_worker.committing import compute_committed
from gpu_worker.inputs import generate_inputs
from gpu_worker.jobs import JobSpec, compute_leaves
from gpu_worker.worker.registration import MEASURE_PARAMS, WARM_PARAMS, warm_up
from runtime.primitives.merkle import merkle_root
from runtime.workloads import workload_shape


def test_every_workload_has_warm_up_jobs_the_runtime_accepts() -> None:
    assert set(WARM_PARAMS) == set(MEASURE_PARAMS)
    for workload, jobs in WARM_PARAMS.items():
        for params in jobs:
            assert workload_shape(workload, params).leaves > 1


@pytest.mark.parametrize("workload", ["gemm_i8", "qmlp_i8"])
def test_the_warm_up_commits_what_a_job_commits(workload: str) -> None:
    warm_up(workload, "cpu")
    for params in WARM_PARAMS[workload]:
        spec = JobSpec(workload, params, seed=1)
        inputs = generate_inputs(spec.workload, spec.params, spec.seed)
        committed = compute_committed(spec, inputs, device="cpu")
        assert committed.root == merkle_root(compute_leaves(spec, inputs, device="cpu"))
