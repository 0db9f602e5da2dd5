"""The tfm_i8 weights blob: decode(encode(w)) == w, the size rule, and malformed blobs refused."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gpu_worker.tfm.spec import (
    Requant,
    TfmLayer,
    TfmWeights,
    WeightsError,
    decode_weights,
    encode_weights,
)
from runtime.tfm_layout import MODEL_REQUANT_STEPS, REQUANT_STEPS, TfmDescriptor, weights_size
from tests.gpu_worker.tfm.models import small_model


@st.composite
def weights(draw: st.DrawFn) -> TfmWeights:
    """Any model of a small drawn descriptor, every tensor and constant over its whole range."""
    heads = draw(st.integers(1, 3))
    desc = TfmDescriptor(
        draw(st.integers(1, 9)),
        draw(st.integers(1, 5)),
        heads * draw(st.integers(1, 3)),
        heads,
        draw(st.integers(1, 2)),
        draw(st.integers(1, 7)),
    )
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    v, c, d, _, n_layers, f = desc

    def i8(*shape: int) -> np.ndarray:
        return rng.integers(-128, 128, shape, dtype=np.int8)

    def i32(*shape: int) -> np.ndarray:
        return rng.integers(-(2**31), 2**31, shape, dtype=np.int32)

    def rq(names: tuple[str, ...]) -> dict[str, Requant]:
        return {
            n: Requant(int(a), int(b)) for n, (a, b) in zip(names, i32(len(names), 2), strict=True)
        }

    layers = tuple(
        TfmLayer(
            i8(d),
            i32(d),
            i8(d, d),
            i32(d),
            i8(d, d),
            i32(d),
            i8(d, d),
            i32(d),
            i8(d, d),
            i32(d),
            i8(d),
            i32(d),
            i8(d, f),
            i32(f),
            i8(f, d),
            i32(d),
            rq(REQUANT_STEPS),
        )
        for _ in range(n_layers)
    )
    return TfmWeights(
        desc,
        int(i32(1)[0]),
        i8(v, d),
        i8(c, d),
        layers,
        i8(d),
        i32(d),
        i8(d, v),
        rq(MODEL_REQUANT_STEPS),
    )


@settings(max_examples=40)
@given(weights())
def test_decoding_an_encoded_model_gives_it_back(w: TfmWeights) -> None:
    blob = encode_weights(w)
    assert len(blob) == weights_size(w.descriptor)
    back = decode_weights(blob, w.descriptor)
    assert back == w
    assert encode_weights(back) == blob
    assert np.array_equal(back.layers[-1].w2, w.layers[-1].w2)
    assert back.layers[0].rq == w.layers[0].rq and back.ln_eps == w.ln_eps


def test_a_changed_byte_is_a_different_model() -> None:
    w = small_model()[1].weights
    blob = bytearray(encode_weights(w))
    blob[-1] ^= 1
    assert decode_weights(bytes(blob)) != w


def _blob() -> bytes:
    return encode_weights(small_model()[1].weights)


@pytest.mark.parametrize(
    ("mangle", "problem"),
    [
        (lambda b: b[:-1], "takes"),
        (lambda b: b + b"\x00", "takes"),
        (lambda b: b[:10], "XTF1"),
        (lambda b: b"XTF2" + b[4:], "XTF1"),
        (lambda b: b[:4] + (3).to_bytes(4, "little") + b[8:], "takes"),
        (lambda b: b[:16] + (3).to_bytes(4, "little") + b[20:], "divisible"),
        (lambda b: b[:4] + (0).to_bytes(4, "little") + b[8:], "vocab"),
        (lambda b: b[:4] + (2**32 - 1).to_bytes(4, "little") + b[8:], "vocab"),
    ],
)
def test_malformed_blobs_are_refused_by_what_is_wrong(mangle: object, problem: str) -> None:
    with pytest.raises(WeightsError, match=problem):
        decode_weights(mangle(_blob()))  # type: ignore[operator]


def test_a_blob_of_another_descriptor_than_named_is_refused() -> None:
    w = small_model()[1].weights
    other = w.descriptor._replace(heads=1)
    with pytest.raises(WeightsError, match="not the"):
        decode_weights(_blob(), other)


def test_encoding_refuses_a_tensor_that_does_not_fit() -> None:
    w = small_model()[1].weights
    wrong = dataclasses.replace(w, w_out=np.zeros((1, 1), np.int8))
    with pytest.raises(ValueError, match="w_out has shape"):
        encode_weights(wrong)
    big = dataclasses.replace(w, rq={**w.rq, "tok": Requant(2**31, 3)})
    with pytest.raises(ValueError, match="outside int32"):
        encode_weights(big)
