"""The tfm_i8 descriptor's rules and canonical encoding, and the weights blob's size rule."""

from __future__ import annotations

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from runtime.tfm_layout import (
    HEADER_BYTES,
    DescriptorError,
    TfmDescriptor,
    check_descriptor,
    decode_descriptor,
    encode_descriptor,
    tensor_layout,
    weights_size,
)
from runtime.workloads import MAX_INPUT_BYTES, WorkloadError


@st.composite
def descriptors(draw: st.DrawFn) -> TfmDescriptor:
    heads = draw(st.integers(1, 8))
    return TfmDescriptor(
        vocab=draw(st.integers(1, 300)),
        context=draw(st.integers(1, 130)),
        d_model=heads * draw(st.integers(1, 24)),
        heads=heads,
        layers=draw(st.integers(1, 5)),
        d_ff=draw(st.integers(1, 200)),
    )


@settings(max_examples=40)
@given(descriptors())
def test_the_size_rule_is_the_header_and_every_tensor(descriptor: TfmDescriptor) -> None:
    layout = tensor_layout(descriptor)
    assert weights_size(descriptor) == HEADER_BYTES + sum(t.size for t in layout)
    assert len({t.name for t in layout}) == len(layout)


@settings(max_examples=40)
@given(descriptors())
def test_a_descriptor_round_trips_through_its_canonical_bytes(descriptor: TfmDescriptor) -> None:
    data = encode_descriptor(descriptor)
    assert decode_descriptor(data) == descriptor
    assert check_descriptor(list(descriptor)) == descriptor


def test_the_language_model_size_is_as_written() -> None:
    d = TfmDescriptor(256, 128, 128, 4, 2, 512)
    per_layer = 88 + 10 * 128 + 4 * (128 * 128 + 4 * 128) + 2 * 128 * 512 + 4 * 512 + 4 * 128
    model = 28 + 256 * 128 + 128 * 128 + 5 * 128 + 128 * 256
    assert weights_size(d) == 28 + model + 2 * per_layer


@pytest.mark.parametrize(
    ("values", "problem"),
    [
        ((256, 64, 64, 4, 2), "six integers"),
        ((256, 64, 64, 4, 2, 128, 1), "six integers"),
        ((0, 64, 64, 4, 2, 128), "vocab"),
        ((65_537, 64, 64, 4, 2, 128), "vocab"),
        ((256, 4_097, 64, 4, 2, 128), "context"),
        ((256, 64, 8_193, 1, 2, 128), "d_model"),
        ((256, 64, 64, 0, 2, 128), "heads"),
        ((256, 64, 64, 4, 65, 128), "layers"),
        ((256, 64, 64, 4, 2, 8_193), "d_ff"),
        ((256, 64, 64, 3, 2, 128), "divisible"),
        ((256, 64, 64, 4, 2, True), "d_ff"),
        ((256, 64, 64.0, 4, 2, 128), "d_model"),
        ((65_536, 4_096, 8_192, 8, 64, 8_192), "blob"),
    ],
)
def test_bad_descriptors_are_refused_by_name(values: tuple[object, ...], problem: str) -> None:
    with pytest.raises(DescriptorError, match=problem):
        check_descriptor(values)  # type: ignore[arg-type]
    with pytest.raises(WorkloadError, match=problem):
        decode_descriptor(msgpack.packb(list(values)))


def test_the_largest_descriptors_stay_within_a_blob() -> None:
    d = check_descriptor((256, 4_096, 4_096, 8, 2, 4_096))
    assert weights_size(d) <= MAX_INPUT_BYTES


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (b"\xc1", "not msgpack"),
        (msgpack.packb({"vocab": 256}), "array"),
        (msgpack.packb([256, 64, 64, 4, 2, 128]) + b"\x00", "not msgpack"),
        # 64 as a uint16 instead of a positive fixint: the same values, other bytes.
        (b"\x96\xcd\x01\x00\xcd\x00\x40\x40\x04\x02\xcc\x80", "canonical"),
        (b"\x96" + bytes(64), "longer"),
    ],
)
def test_non_canonical_or_malformed_bytes_are_refused(data: bytes, problem: str) -> None:
    with pytest.raises(DescriptorError, match=problem):
        decode_descriptor(data)
