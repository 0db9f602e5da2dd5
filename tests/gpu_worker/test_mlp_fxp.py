"""mlp_fxp training: the CPU kernel gives the NumPy reference's bits, every checkpoint recomputes
from the one before, a cheater that corrupts one step is caught by the audit of its checkpoint
(and only by that one: why an audit draws every checkpoint), and the digits MLP learns."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from gpu_worker import freivalds, mlp_fxp
from gpu_worker.inputs import generate_inputs
from gpu_worker.jobs import (
    JobSpec,
    compute_leaves,
    leaf_dependencies,
    recompute_leaf,
    recompute_leaf_hashes,
    result_arrays,
)
from gpu_worker.kernels import mlp_cpu
from gpu_worker.mlp_checkpoints import checkpoint_from
from gpu_worker.models import digits_training
from gpu_worker.witness import recompute_leaves_witness
from runtime.primitives.merkle import leaf_hash
from runtime.workloads import audited_leaves

SPEC = JobSpec("mlp_fxp", (40, 8, 12, 3, 8, 10, 6, 5, 3), seed=4)
"""Four checkpoints of three steps of a batch of 8 through 6 → 5 → 3."""
EXTREMES_I8 = st.sampled_from([-128, -127, -1, 0, 1, 126, 127])
EXTREMES_I16 = st.sampled_from([-32768, -32767, -1, 0, 1, 32766, 32767])


@st.composite
def training_cases(draw: st.DrawFn) -> tuple[object, ...]:
    dims = tuple(draw(st.lists(st.integers(1, 6), min_size=2, max_size=4)))
    samples = draw(st.integers(1, 10))
    x = np.array(
        draw(
            st.lists(
                st.one_of(EXTREMES_I8, st.integers(-128, 127)),
                min_size=samples * dims[0],
                max_size=samples * dims[0],
            )
        ),
        np.int8,
    ).reshape(samples, dims[0])
    y = np.array(
        draw(
            st.lists(
                st.one_of(EXTREMES_I16, st.integers(-300, 300)),
                min_size=samples * dims[-1],
                max_size=samples * dims[-1],
            )
        ),
        np.int16,
    ).reshape(samples, dims[-1])
    every, checkpoints = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    batch = draw(st.integers(1, 6))
    order = np.array(
        draw(
            st.lists(
                st.integers(0, samples - 1),
                min_size=every * checkpoints * batch,
                max_size=every * checkpoints * batch,
            )
        ),
        np.int64,
    ).reshape(every * checkpoints, batch)
    frac_bits, lr_shift = draw(st.integers(1, 20)), draw(st.integers(1, 30))
    words = mlp_fxp.parameter_count(dims)
    if draw(st.booleans()):
        start = mlp_fxp.initial_parameters(draw(st.integers(0, 3)), dims, frac_bits)
    else:  # anywhere in range, the clamps' edges included
        limit = mlp_fxp.WEIGHT_LIMIT
        values = st.one_of(st.sampled_from([-limit, limit, 0]), st.integers(-limit, limit))
        start = np.array(draw(st.lists(values, min_size=words, max_size=words)), np.int32)
    return x, y, order, every, frac_bits, lr_shift, start, dims


@settings(max_examples=40)
@given(case=training_cases(), mask=st.integers(0, 2**32 - 1))
def test_the_cpu_kernel_trains_to_the_references_bits(case: tuple[object, ...], mask: int) -> None:
    expected, expected_witness = mlp_fxp.train(*case, witness_mask=mask)  # type: ignore[arg-type]
    got, witness = mlp_cpu.train(*case, witness_mask=mask)  # type: ignore[arg-type]
    np.testing.assert_array_equal(got, expected)
    assert len(witness) == len(expected_witness)
    for w, e in zip(witness, expected_witness, strict=True):
        np.testing.assert_array_equal(w, e)


def test_saturating_steps_clamp_alike() -> None:
    """Targets at the int16 edges and a learning rate of 1/2: errors, weights and biases all hit
    their clamps, on both paths alike."""
    dims = (3, 4, 2)
    x = np.full((2, 3), 127, np.int8)
    y = np.array([[32767, -32768], [32767, -32768]], np.int16)
    order = np.array([[0, 1]] * 4, np.int64)
    start = mlp_fxp.initial_parameters(1, dims, 20)
    expected, _ = mlp_fxp.train(x, y, order, 2, 20, 1, start, dims)
    got, _ = mlp_cpu.train(x, y, order, 2, 20, 1, start, dims)
    np.testing.assert_array_equal(got, expected)
    assert np.abs(expected).max() == mlp_fxp.WEIGHT_LIMIT


def test_initial_weights_come_from_the_seed_alone() -> None:
    dims = (64, 32, 10)
    first = mlp_fxp.initial_parameters(5, dims, 16)
    np.testing.assert_array_equal(first, mlp_fxp.initial_parameters(5, dims, 16))
    assert not np.array_equal(first, mlp_fxp.initial_parameters(6, dims, 16))
    (w0, b0), (w1, b1) = mlp_fxp.split_parameters(first, dims)
    bits0, bits1 = mlp_fxp.init_bits(16, 64), mlp_fxp.init_bits(16, 32)
    assert (bits0, bits1) == (14, 15)
    assert -(2**bits0) <= w0.min() < 0 < w0.max() < 2**bits0
    assert -(2**bits1) <= w1.min() < 0 < w1.max() < 2**bits1
    assert not b0.any() and not b1.any()


def test_every_checkpoint_recomputes_from_the_one_before_on_every_device() -> None:
    inputs = generate_inputs(SPEC.workload, SPEC.params, SPEC.seed)
    leaves = compute_leaves(SPEC, inputs, device="cpu")
    assert leaves == compute_leaves(SPEC, inputs, device="numpy")
    assert [a.shape for a in result_arrays(SPEC, leaves)] == [(1, 53)] * 4
    for index in range(4):
        deps = {d: leaves[d] for d in leaf_dependencies(SPEC, index)}
        assert list(deps) == ([index - 1] if index else [])
        assert recompute_leaf(SPEC, {}, index, deps, device="cpu") == leaves[index]
    deps = dict(enumerate(leaves))
    hashes = recompute_leaf_hashes(SPEC, inputs, [3, 1], deps, device="cpu")
    assert hashes == [leaf_hash(leaves[3]), leaf_hash(leaves[1])]
    cpu = recompute_leaves_witness(SPEC, inputs, [0, 2], deps, 99, device="cpu")
    plain = recompute_leaves_witness(SPEC, inputs, [0, 2], deps, 99, device="numpy")
    assert cpu == plain and cpu[0] == [leaves[0], leaves[2]]
    other = recompute_leaves_witness(SPEC, inputs, [0, 2], deps, 98, device="cpu")
    assert other[0] == cpu[0] and other[1] != cpu[1]  # the mask changes the witness only


def _cheated(inputs: dict[str, bytes], faked: int, fake: bytes) -> list[bytes]:
    """A result whose checkpoint `faked` is `fake` and whose later checkpoints are computed
    honestly from it: what a cheater commits so that only `faked` is wrong."""
    x = np.frombuffer(inputs["x"], np.int8).reshape(40, 6)
    y = np.frombuffer(inputs["y"], "<i2").astype(np.int16).reshape(40, 3)
    leaves = [*compute_leaves(SPEC, inputs, device="cpu")[:faked], fake]
    for index in range(faked + 1, 4):
        leaf, _ = checkpoint_from(SPEC.params, SPEC.seed, x, y, index, leaves[-1], "cpu")
        leaves.append(leaf)
    return leaves


def _failing_audits(inputs: dict[str, bytes], leaves: list[bytes]) -> list[int]:
    """The checkpoints whose audit (recomputed from the committed one before) fails."""
    deps = dict(enumerate(leaves))
    got = recompute_leaf_hashes(SPEC, inputs, range(4), deps, device="cpu")
    return [i for i in range(4) if got[i] != leaf_hash(leaves[i])]


def test_a_cheater_that_corrupts_one_step_is_caught_by_that_checkpoints_audit() -> None:
    inputs = generate_inputs(SPEC.workload, SPEC.params, SPEC.seed)
    honest = compute_leaves(SPEC, inputs, device="cpu")
    # One step's update off by one in one weight: the checkpoint after it is wrong.
    words = np.frombuffer(honest[1], "<i4").copy()
    words[7] += 1
    leaves = _cheated(inputs, 1, words.astype("<i4").tobytes())
    assert leaves[2:] != honest[2:]
    assert _failing_audits(inputs, leaves) == [1]
    assert audited_leaves("mlp_fxp", 1, 4) == 4  # so every audit draws it
    assert freivalds.check_result(SPEC, inputs, leaves) == 1  # the requester finds it too


def test_a_zeroed_checkpoint_makes_every_later_one_free_and_only_its_own_audit_fails() -> None:
    """The all-zero network is a fixed point of SGD: from it no weight moves (only the last
    layer's bias learns), so a cheater fakes checkpoint 0 as zeros and writes the rest without
    computing them. Each later checkpoint then passes its audit: an audit of k < L leaves
    would miss the fake with probability 1 − k/L while the cheater saved the whole job."""
    inputs = generate_inputs(SPEC.workload, SPEC.params, SPEC.seed)
    zero = bytes(len(compute_leaves(SPEC, inputs, device="cpu")[0]))
    leaves = _cheated(inputs, 0, zero)
    for leaf in leaves[1:]:
        (w0, _), (w1, _) = mlp_fxp.split_parameters(np.frombuffer(leaf, "<i4").copy(), (6, 5, 3))
        assert not w0.any() and not w1.any()
    assert _failing_audits(inputs, leaves) == [0]
    assert freivalds.check_result(SPEC, inputs, leaves) == 0


def test_the_digits_mlp_learns_in_fixed_point_as_in_float() -> None:
    """A short run (200 steps of the 1,600 the full job trains): the fixed-point net's held-out
    accuracy is that of the same net trained in float, within two points."""
    params, inputs = digits_training.digits_training_job(steps=200, every=100)
    spec = JobSpec("mlp_fxp", params, digits_training.SEED)
    leaves = compute_leaves(spec, inputs, device="cpu")
    fixed = digits_training.fixed_point_accuracy(leaves[-1])
    floating = digits_training.float_accuracy(steps=200)
    assert fixed > 0.85
    assert abs(fixed - floating) < 0.02


def test_the_benchmark_job_is_accepted_at_every_size() -> None:
    from chain.benchmarks.workload_bench import MAX_N, job_for

    for n in (1, 64, 300, MAX_N["mlp_fxp"]):
        shape = job_for("mlp_fxp", n).shape
        assert shape.leaves == 16
        assert audited_leaves("mlp_fxp", 16, shape.leaves) == 16


def test_a_checkpoint_out_of_the_clamps_is_read_clamped_on_every_device() -> None:
    """A cheater's checkpoint may hold any int32 words; the next one is trained from them
    clamped, so every sum stays exact and every device agrees."""
    inputs = generate_inputs(SPEC.workload, SPEC.params, SPEC.seed)
    words = np.frombuffer(compute_leaves(SPEC, inputs, device="cpu")[0], "<i4").copy()
    words[::2] = np.iinfo(np.int32).max
    words[1::2] = np.iinfo(np.int32).min
    wild = words.astype("<i4").tobytes()
    clamped = np.clip(words, -mlp_fxp.WEIGHT_LIMIT, mlp_fxp.WEIGHT_LIMIT).astype("<i4").tobytes()
    got = {
        device: recompute_leaf(SPEC, inputs, 1, {0: wild}, device=device)
        for device in ("cpu", "numpy")
    }
    assert got["cpu"] == got["numpy"] == recompute_leaf(SPEC, inputs, 1, {0: clamped})
