"""Descriptors: one architecture has exactly one descriptor (any bytes that decode re-encode to
themselves), each family's bounds, and the sizes and job params they imply."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from runtime import tfm_layout
from runtime.pallets.models import families
from runtime.pallets.models.families import DescriptorError, FamilyNotReady
from runtime.primitives import codec
from runtime.workloads import qmlp_model_bytes, qmlp_shape


@settings(max_examples=60)
@given(st.binary(max_size=40), st.sampled_from(families.FAMILIES))
def test_any_bytes_that_decode_are_the_canonical_descriptor(raw: bytes, family: str) -> None:
    try:
        values = families.decode_descriptor(family, raw)
    except DescriptorError:
        return
    assert families.encode_descriptor(values) == raw


@settings(max_examples=40)
@given(st.lists(st.integers(1, 300), min_size=2, max_size=5))
def test_a_qmlp_descriptor_is_accepted_exactly_when_a_job_could_run_it(dims: list[int]) -> None:
    raw = families.encode_descriptor(dims)
    try:
        qmlp_shape([1, 1, *dims])
    except ValueError:
        with pytest.raises(DescriptorError):
            families.decode_descriptor("qmlp_i8", raw)
        return
    assert families.decode_descriptor("qmlp_i8", raw) == tuple(dims)
    assert families.weights_size("qmlp_i8", dims) == qmlp_model_bytes(dims)
    families.check_job_params("qmlp_i8", dims, [7, 3, *dims])
    with pytest.raises(DescriptorError, match="layer widths"):
        families.check_job_params("qmlp_i8", dims, [7, 3, *dims, 10])


@settings(max_examples=40)
@given(
    st.lists(st.integers(-2, 70_000), min_size=6, max_size=6)
    | st.tuples(
        st.sampled_from([256, 65_536, 65_537]),
        st.sampled_from([64, 4_096, 4_097]),
        st.sampled_from([96, 128, 8_192]),
        st.sampled_from([3, 4, 0]),
        st.sampled_from([1, 2, 64, 65]),
        st.sampled_from([256, 8_192, 8_193]),
    ).map(list)
)
def test_a_tfm_descriptor_is_accepted_exactly_when_the_layout_accepts_it(
    values: list[int],
) -> None:
    raw = codec.encode(values)
    try:
        descriptor = tfm_layout.check_descriptor(values)
    except ValueError:
        with pytest.raises(DescriptorError):
            families.decode_descriptor("tfm_i8", raw)
        return
    assert families.decode_descriptor("tfm_i8", raw) == tuple(values)
    assert tfm_layout.decode_descriptor(raw) == descriptor  # one encoding, both readers
    assert families.weights_size("tfm_i8", values) == tfm_layout.weights_size(descriptor)
    with pytest.raises(FamilyNotReady):
        families.check_job_params("tfm_i8", values, [1, 2, 3])


def test_an_unknown_family_is_named() -> None:
    with pytest.raises(DescriptorError, match="unknown family 'gemm_i8'"):
        families.decode_descriptor("gemm_i8", codec.encode([1, 2]))
