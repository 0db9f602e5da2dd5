"""Checking a result against its inputs: the first bad leaf is named, whatever else is wrong,
and an honest result passes (Freivalds' check for gemm_i8 and qmlp_i8, steps for sgd_fxp)."""

from __future__ import annotations

import numpy as np
import pytest

from chain.client.jobs import ResultDataError, find_bad_leaf, result_output
from gpu_worker.inputs import generate_inputs
from gpu_worker.jobs import JobSpec, compute_leaves

SPECS = [
    JobSpec("gemm_i8", (48, 40, 24, 6), seed=3),
    JobSpec("qmlp_i8", (16, 4, 12, 10, 6), seed=5),
    JobSpec("sgd_fxp", (32, 8, 3, 8, 5, 8, 6), seed=7),
]


def honest(spec: JobSpec) -> tuple[dict[str, bytes], list[bytes]]:
    inputs = generate_inputs(spec.workload, spec.params, spec.seed)
    return inputs, compute_leaves(spec, inputs, device="numpy")


def corrupt(leaves: list[bytes], index: int, at: int = 0) -> list[bytes]:
    """`leaves` with one byte of leaf `index` changed."""
    changed = bytearray(leaves[index])
    changed[at % len(changed)] ^= 0x01
    return [*leaves[:index], bytes(changed), *leaves[index + 1 :]]


def rng() -> np.random.Generator:
    return np.random.default_rng(11)


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.workload)
def test_an_honest_result_passes(spec: JobSpec) -> None:
    inputs, leaves = honest(spec)
    assert find_bad_leaf(spec, inputs, leaves, rng=rng()) is None


@pytest.mark.parametrize("spec", SPECS[:2], ids=lambda s: s.workload)
def test_each_wrong_leaf_is_found_by_freivalds(spec: JobSpec) -> None:
    inputs, leaves = honest(spec)
    for index in range(len(leaves)):
        bad = corrupt(leaves, index, at=7 * index)
        assert find_bad_leaf(spec, inputs, bad, rng=rng()) == index


@pytest.mark.parametrize("spec", SPECS[:2], ids=lambda s: s.workload)
def test_the_first_of_several_wrong_leaves_is_named(spec: JobSpec) -> None:
    inputs, leaves = honest(spec)
    last = len(leaves) - 1
    bad = corrupt(corrupt(leaves, last), 2)
    assert find_bad_leaf(spec, inputs, bad, rng=rng()) == 2


def test_a_wrong_sgd_step_is_found_by_recomputing_it() -> None:
    spec = JobSpec("sgd_fxp", (32, 8, 3, 8, 1, 8, 6), seed=7)  # one step: always the one drawn
    inputs, leaves = honest(spec)
    assert find_bad_leaf(spec, inputs, corrupt(leaves, 0), rng=rng()) == 0


def test_a_leaf_of_the_wrong_size_is_bad_before_any_arithmetic() -> None:
    spec = SPECS[0]
    inputs, leaves = honest(spec)
    short = [*leaves[:3], leaves[3][:-4], *leaves[4:]]
    assert find_bad_leaf(spec, inputs, corrupt(short, 5), rng=rng()) == 3


def test_a_result_with_the_wrong_number_of_leaves_is_not_this_jobs() -> None:
    spec = SPECS[0]
    inputs, leaves = honest(spec)
    with pytest.raises(ResultDataError, match=f"the result has {len(leaves) - 1} leaves, the job "):
        find_bad_leaf(spec, inputs, leaves[:-1])


def test_the_output_is_the_last_array_of_the_result() -> None:
    gemm, qmlp, sgd = SPECS
    inputs, leaves = honest(gemm)
    a = np.frombuffer(inputs["a"], np.int8).reshape(48, 40).astype(np.int64)
    b = np.frombuffer(inputs["b"], np.int8).reshape(40, 24).astype(np.int64)
    assert np.array_equal(result_output(gemm, leaves), a @ b)
    assert result_output(qmlp, honest(qmlp)[1]).shape == (16, 6)  # the logits
    assert result_output(sgd, honest(sgd)[1]).shape == (8, 3)  # the final weights
