"""Descriptors: one architecture has exactly one descriptor (any bytes that decode re-encode to
themselves), each family's bounds, and the sizes and job params they imply."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

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
@given(st.lists(st.integers(-2, 70_000), min_size=6, max_size=6))
def test_tfm_bounds(values: list[int]) -> None:
    bounds = families.TFM_BOUNDS
    ok = all(1 <= v <= bounds[n] for n, v in zip(families.TFM_FIELDS, values, strict=True))
    ok = ok and values[2] % values[3] == 0
    raw = codec.encode(values)
    if ok:
        assert families.decode_descriptor("tfm_i8", raw) == tuple(values)
    else:
        with pytest.raises(DescriptorError):
            families.decode_descriptor("tfm_i8", raw)


def test_the_tfm_family_has_no_weights_size_yet() -> None:
    with pytest.raises(FamilyNotReady):
        families.weights_size("tfm_i8", (256, 64, 128, 4, 2, 512))


def test_an_unknown_family_is_named() -> None:
    with pytest.raises(DescriptorError, match="unknown family 'gemm_i8'"):
        families.decode_descriptor("gemm_i8", codec.encode([1, 2]))
