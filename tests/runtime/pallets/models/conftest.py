"""Builders for the models tests: a market chain on which Oscar owns models, and the qmlp_i8
model every job test runs."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Final

import pytest

from runtime.pallets import models
from runtime.primitives.merkle import merkle_root
from runtime.workloads import qmlp_model_bytes
from tests.runtime.pallets.market_helpers import OUTSIDER, UNIT, MarketChain, Outcome, market_chain

OWNER: Final = OUTSIDER
DIMS: Final = (64, 64)
"""A one-layer qmlp_i8 model: 64 → 64."""
DESCRIPTOR: Final = models.encode_descriptor(DIMS)
WEIGHTS: Final = bytes(range(256)) * (qmlp_model_bytes(DIMS) // 256) + bytes(
    qmlp_model_bytes(DIMS) % 256
)
WEIGHTS_ROOT: Final = merkle_root([WEIGHTS])
FEE: Final = 2 * UNIT


def publish(
    chain: MarketChain,
    model_id: int = 1,
    version: int = 1,
    *,
    who: Any = OWNER,
    family: str = "qmlp_i8",
    descriptor: bytes = DESCRIPTOR,
    root: bytes = WEIGHTS_ROOT,
    size: int = len(WEIGHTS),
    quantization: str = "int8-symmetric",
    licence: str = "MIT",
    fee: int = FEE,
) -> Outcome:
    """Publish a version of a model (by default version 1 of model 1, the 64 → 64 MLP)."""
    args = (model_id, version, family, descriptor, root, size, quantization, licence, fee)
    return chain.call(who, "models", "publish_version", *args)


@pytest.fixture
def chain() -> Iterator[MarketChain]:
    """A market chain on which Oscar created model 1, "digits" (no version yet)."""
    made = market_chain()
    assert made.call(OWNER, "models", "create_model", "digits").error is None
    yield made
    assert made.problems() == []
