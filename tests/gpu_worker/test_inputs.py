"""Generated inputs: a pure function of (seed, workload, name, size), of exactly the job's sizes."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gpu_worker.inputs import (
    BIAS_LIMIT,
    InputError,
    batch_order,
    batch_order_rows,
    check_inputs,
    encode_model,
    generate_input,
    generate_input_range,
    generate_inputs,
    parse_model,
    seed_stream,
    seed_stream_range,
)
from runtime.workloads import workload_shape

JOBS = (
    ("gemm_i8", (5, 7, 3, 2)),
    ("qmlp_i8", (4, 2, 6, 5, 3)),
    ("sgd_fxp", (9, 4, 2, 3, 5, 8, 6)),
)


@pytest.mark.parametrize("workload,params", JOBS)
def test_generated_inputs_are_deterministic_and_exactly_sized(
    workload: str, params: tuple[int, ...]
) -> None:
    inputs = generate_inputs(workload, params, 11)
    assert inputs == generate_inputs(workload, params, 11)
    expected = {spec.name: spec.size for spec in workload_shape(workload, params).inputs}
    assert {name: len(data) for name, data in inputs.items()} == expected
    check_inputs(workload, params, inputs)


@pytest.mark.parametrize("workload,params", JOBS)
def test_other_seeds_give_other_inputs(workload: str, params: tuple[int, ...]) -> None:
    first, second = generate_inputs(workload, params, 1), generate_inputs(workload, params, 2)
    assert all(first[name] != second[name] for name in first)


@settings(max_examples=50, deadline=None)
@given(seed=st.integers(0, 2**64 - 1), size=st.integers(1, 300))
def test_seed_streams_differ_by_every_part_of_their_key(seed: int, size: int) -> None:
    base = seed_stream(seed, "gemm_i8", "a", size)
    assert len(base) == size
    assert seed_stream(seed, "gemm_i8", "a", size) == base
    others = [
        seed_stream(seed, "gemm_i8", "b", size),
        seed_stream(seed, "qmlp_i8", "a", size),
        seed_stream(seed ^ 1, "gemm_i8", "a", size),
    ]
    # A few bytes can coincide by chance; whole streams of 8+ bytes essentially never do.
    if size >= 8:
        assert all(other != base for other in others)


def test_the_names_of_one_job_get_different_bytes() -> None:
    inputs = generate_inputs("gemm_i8", (16, 16, 16, 4), 3)
    assert inputs["a"] != inputs["b"]


def test_batch_order_is_in_range_and_deterministic() -> None:
    order = batch_order(5, 17, 4, 30)
    assert order.shape == (30, 4)
    assert order.min() >= 0 and order.max() < 17
    np.testing.assert_array_equal(order, batch_order(5, 17, 4, 30))
    assert not np.array_equal(order, batch_order(6, 17, 4, 30))
    assert len(np.unique(order)) > 10


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2000), st.data())
def test_a_stream_range_is_the_same_bytes_as_that_slice_of_the_stream(
    size: int, data: st.DataObject
) -> None:
    start = data.draw(st.integers(0, size))
    stop = data.draw(st.integers(start, size))
    assert (
        seed_stream_range(9, "gemm_i8", "a", size, start, stop)
        == (seed_stream(9, "gemm_i8", "a", size)[start:stop])
    )


@settings(max_examples=40, deadline=None)
@given(
    st.integers(0, 2**32),
    st.integers(1, 70),
    st.integers(1, 9),
    st.integers(1, 40),
    st.data(),
)
def test_a_batch_order_row_is_byte_identical_to_the_workers_whole_order(
    seed: int, samples: int, batch: int, steps: int, data: st.DataObject
) -> None:
    """A verifier generates one step's row on its own (odd batches start mid-word)."""
    step = data.draw(st.integers(0, steps - 1))
    whole = batch_order(seed, samples, batch, steps)
    row = batch_order_rows(seed, samples, batch, steps, step, step + 1)
    assert row.tobytes() == whole[step : step + 1].tobytes()


def test_generated_input_ranges_match_the_whole_inputs() -> None:
    for workload, params in JOBS:
        for name, data in generate_inputs(workload, params, 4).items():
            assert generate_input_range(workload, params, name, 4, 3, len(data) - 1) == data[3:-1]


def test_inputs_of_the_wrong_size_or_name_are_refused() -> None:
    inputs = generate_inputs("gemm_i8", (5, 7, 3, 2), 1)
    with pytest.raises(InputError, match="must be 35 bytes"):
        check_inputs("gemm_i8", (5, 7, 3, 2), {**inputs, "a": inputs["a"][:-1]})
    with pytest.raises(InputError, match="takes inputs"):
        check_inputs("gemm_i8", (5, 7, 3, 2), {"a": inputs["a"]})
    with pytest.raises(InputError, match="no input"):
        generate_input("gemm_i8", (5, 7, 3, 2), "c", 1)


def test_a_generated_model_parses_into_its_layers() -> None:
    dims = [6, 5, 3]
    layers = parse_model(dims, generate_input("qmlp_i8", (4, 2, *dims), "model", 9))
    assert [layer.weights.shape for layer in layers] == list(itertools.pairwise(dims))
    assert all(1 <= layer.shift <= 62 for layer in layers)
    assert all(np.abs(layer.bias).max() <= BIAS_LIMIT for layer in layers)


def test_parse_model_clamps_bias_and_shift_as_the_rules_say() -> None:
    weights = np.arange(6, dtype=np.int8).reshape(2, 3)
    bias = np.array([2**31 - 1, -(2**31), 5], np.int32)
    (layer,) = parse_model([2, 3], encode_model([(weights, bias, 7, 99)]))
    np.testing.assert_array_equal(layer.weights, weights)
    np.testing.assert_array_equal(layer.bias, [BIAS_LIMIT, -BIAS_LIMIT, 5])
    assert (layer.mult, layer.shift) == (7, 62)
    (low,) = parse_model([2, 3], encode_model([(weights, bias, 7, -4)]))
    assert low.shift == 1
    with pytest.raises(InputError, match="too short"):
        parse_model([2, 3], encode_model([(weights, bias, 7, 9)])[:-1])
