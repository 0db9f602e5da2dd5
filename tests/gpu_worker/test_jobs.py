"""A job's leaves: every device computes the same bytes, and every leaf recomputes on its own from
the inputs and the leaves it depends on."""

from __future__ import annotations

import pytest

from gpu_worker.devices import DeviceError, resolve_device
from gpu_worker.inputs import InputError, generate_inputs
from gpu_worker.jobs import (
    JobSpec,
    compute_leaves,
    leaf_dependencies,
    leaf_input_ranges,
    leaves_dependencies,
    recompute_leaf,
    result_arrays,
)

# Small jobs with ragged last row blocks; qmlp_i8 with three layers, sgd_fxp with six steps.
JOBS = (
    JobSpec("gemm_i8", (23, 37, 19, 5), seed=3),
    JobSpec("gemm_i8", (23, 37, 19, 5, 4), seed=9),
    JobSpec("gemm_i8", (1, 300, 1, 1), seed=4),
    JobSpec("qmlp_i8", (13, 4, 21, 17, 9, 10), seed=5),
    JobSpec("qmlp_i8", (1, 1, 5, 1), seed=6),
    JobSpec("sgd_fxp", (30, 11, 3, 7, 6, 12, 9), seed=7),
    JobSpec("sgd_fxp", (5, 1, 1, 5, 3, 1, 1), seed=8),
)
CPU_DEVICES = ("numpy", "cpu")


def job_id(spec: JobSpec) -> str:
    return f"{spec.workload}-{'x'.join(map(str, spec.params))}"


@pytest.mark.parametrize("spec", JOBS, ids=job_id)
def test_every_device_computes_the_same_leaves(spec: JobSpec) -> None:
    inputs = generate_inputs(spec.workload, spec.params, spec.seed)
    leaves = {device: compute_leaves(spec, inputs, device=device) for device in CPU_DEVICES}
    assert leaves["cpu"] == leaves["numpy"]
    assert [len(leaf) for leaf in leaves["cpu"]] == list(spec.shape.leaf_sizes)


@pytest.mark.parametrize("spec", JOBS, ids=job_id)
def test_every_leaf_recomputes_from_its_dependencies(spec: JobSpec) -> None:
    inputs = generate_inputs(spec.workload, spec.params, spec.seed)
    leaves = compute_leaves(spec, inputs, device="numpy")
    for index, leaf in enumerate(leaves):
        deps = {d: leaves[d] for d in leaf_dependencies(spec, index)}
        for device in CPU_DEVICES:
            assert recompute_leaf(spec, inputs, index, deps, device=device) == leaf


@pytest.mark.parametrize("spec", JOBS, ids=job_id)
def test_every_leaf_recomputes_from_generated_slices_alone(spec: JobSpec) -> None:
    """A verifier passes no inputs: each leaf generates only the slices it reads."""
    inputs = generate_inputs(spec.workload, spec.params, spec.seed)
    leaves = compute_leaves(spec, inputs, device="cpu")
    for index, leaf in enumerate(leaves):
        deps = {d: leaves[d] for d in leaf_dependencies(spec, index)}
        assert recompute_leaf(spec, {}, index, deps, device="cpu") == leaf
        for name, runs in leaf_input_ranges(spec, index).items():
            assert 0 <= runs.start <= runs.stop <= len(inputs[name])


def test_leaf_dependencies_follow_the_workload() -> None:
    """Only an sgd_fxp step builds on a committed leaf; a qmlp_i8 leaf is recomputed from x."""
    gemm, qmlp, sgd = JOBS[0], JOBS[3], JOBS[5]
    assert all(leaf_dependencies(gemm, i) == () for i in range(gemm.shape.leaves))
    assert all(leaf_dependencies(qmlp, i) == () for i in range(qmlp.shape.leaves))
    assert [leaf_dependencies(sgd, t) for t in range(3)] == [(), (0,), (1,)]
    with pytest.raises(InputError, match="out of range"):
        leaf_dependencies(gemm, gemm.shape.leaves)


@pytest.mark.parametrize("spec", [JOBS[0], JOBS[3], JOBS[5]])
def test_an_audits_dependencies_are_each_leafs_joined(spec: JobSpec) -> None:
    """`leaves_dependencies` is the sorted union of `leaf_dependencies`, with its refusals."""
    count = spec.shape.leaves
    picks = [count - 1, 0, count // 2, count // 2, 1 % count]
    expected = sorted({d for i in picks for d in leaf_dependencies(spec, i)})
    assert leaves_dependencies(spec, picks) == expected
    assert leaves_dependencies(spec, []) == []
    for bad in (count, -1):
        with pytest.raises(InputError, match="out of range"):
            leaves_dependencies(spec, [0, bad])


def test_a_leaf_recomputed_from_a_wrong_dependency_differs() -> None:
    spec = JOBS[5]
    inputs = generate_inputs(spec.workload, spec.params, spec.seed)
    leaves = compute_leaves(spec, inputs, device="cpu")
    assert recompute_leaf(spec, inputs, 3, {2: leaves[1]}, device="cpu") != leaves[3]
    with pytest.raises(InputError, match="needs leaves"):
        recompute_leaf(spec, inputs, 3, {}, device="cpu")


def test_result_arrays_are_the_leaves_reassembled() -> None:
    spec = JOBS[3]
    inputs = generate_inputs(spec.workload, spec.params, spec.seed)
    leaves = compute_leaves(spec, inputs, device="cpu")
    arrays = result_arrays(spec, leaves)
    assert [a.shape for a in arrays] == [(13, 17), (13, 9), (13, 10)]
    assert arrays[0][:4].tobytes() == leaves[0]


def test_unknown_devices_are_refused() -> None:
    with pytest.raises(DeviceError, match="unknown device"):
        resolve_device("tpu")
    assert resolve_device("auto") in ("cpu", "cuda")
