"""The models pallet's rules in blocks: creating a model, publishing and retiring versions, their
deposits, and every refusal with nothing held."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from runtime import tfm_layout
from runtime.executive_errors import InvalidCall
from runtime.framework import record_codec
from runtime.pallets import models
from runtime.pallets.models import HOLD, MAX_MODELS_PER_OWNER, MODEL_DEPOSIT
from runtime.primitives import codec
from runtime.primitives.merkle import merkle_root
from runtime.workloads import CHUNK_BYTES
from tests.runtime.pallets.market_helpers import REQUESTER, MarketChain
from tests.runtime.pallets.models.conftest import (
    DESCRIPTOR,
    FEE,
    OWNER,
    WEIGHTS,
    WEIGHTS_ROOT,
    publish,
)

OWNER_ACCOUNT = OWNER.public
VERSION_HOLD = models.record_deposit("qmlp_i8", DESCRIPTOR, "int8-symmetric", "MIT")
WEIGHTS_HOLD = models.weights_deposit(len(WEIGHTS))


def model(chain: MarketChain, model_id: int = 1) -> models.Model:
    found = models.Models.get(chain.overlay(), model_id)
    assert found is not None
    return found


def version(chain: MarketChain, model_id: int = 1, number: int = 1) -> models.ModelVersion:
    found = models.Versions.get(chain.overlay(), (model_id, number))
    assert found is not None
    return found


def test_create_holds_the_deposit_and_lists_the_model(chain: MarketChain) -> None:
    created = model(chain)
    assert (created.owner, created.name, created.deposit, created.versions) == (
        OWNER_ACCOUNT,
        "digits",
        MODEL_DEPOSIT,
        (),
    )
    assert chain.held(OWNER, HOLD) == MODEL_DEPOSIT
    out = chain.call(OWNER, "models", "create_model", "digits-large")
    assert out.events == [
        ("Held", (OWNER_ACCOUNT, HOLD, MODEL_DEPOSIT)),
        ("ModelCreated", (2, OWNER_ACCOUNT, "digits-large")),
    ]
    assert models.OwnerModels.get(chain.overlay(), OWNER_ACCOUNT) == (1, 2)
    assert models.NextModelId.get(chain.overlay()) == 3
    # Names are the owner's own: another account may use the same one.
    assert chain.call(REQUESTER, "models", "create_model", "digits").error is None


@pytest.mark.parametrize(
    ("name", "error"),
    [
        pytest.param("", "BadText", id="empty"),
        pytest.param(" digits", "BadText", id="leading-space"),
        pytest.param("digits\n", "BadText", id="control-character"),
        pytest.param("dígits", "BadText", id="not-ascii"),
        pytest.param("digits", "NameTaken", id="taken-by-the-owner"),
    ],
)
def test_create_refusals_hold_nothing(chain: MarketChain, name: str, error: str) -> None:
    out = chain.call(OWNER, "models", "create_model", name)
    assert out.error == error and out.events == []
    assert chain.held(OWNER, HOLD) == MODEL_DEPOSIT
    assert models.NextModelId.get(chain.overlay()) == 2


def test_a_squatter_holds_a_deposit_per_name_and_at_most_the_limit(chain: MarketChain) -> None:
    for i in range(MAX_MODELS_PER_OWNER - 1):
        assert chain.call(OWNER, "models", "create_model", f"name-{i}").error is None
    assert chain.held(OWNER, HOLD) == MAX_MODELS_PER_OWNER * MODEL_DEPOSIT
    assert chain.call(OWNER, "models", "create_model", "one-more").error == "TooManyModels"


def test_publish_holds_the_deposits_and_stores_the_version(chain: MarketChain) -> None:
    out = publish(chain)
    assert out.error is None
    assert out.events[-1] == (
        "VersionPublished",
        (1, 1, "qmlp_i8", WEIGHTS_ROOT, len(WEIGHTS), FEE, VERSION_HOLD + WEIGHTS_HOLD),
    )
    stored = version(chain)
    assert (stored.family, stored.descriptor, stored.weights_root) == (
        "qmlp_i8",
        DESCRIPTOR,
        WEIGHTS_ROOT,
    )
    assert (stored.weights_size, stored.fee_per_use, stored.licence) == (len(WEIGHTS), FEE, "MIT")
    assert (stored.deposit, stored.weights_deposit, stored.live) == (
        VERSION_HOLD,
        WEIGHTS_HOLD,
        True,
    )
    assert stored.registered_at == chain.head.number
    assert chain.held(OWNER, HOLD) == MODEL_DEPOSIT + VERSION_HOLD + WEIGHTS_HOLD
    assert model(chain).versions == (1,) and model(chain).next_version == 2
    assert publish(chain, version=5, fee=0).error is None  # numbers may skip; fees may be 0
    assert model(chain).versions == (1, 5)


def _noncanonical(dims: tuple[int, ...]) -> bytes:
    """The list `dims` with its first integer in a wider msgpack form than needed (uint16)."""
    body = b"\xcd" + dims[0].to_bytes(2, "big") + b"".join(codec.encode(d) for d in dims[1:])
    return bytes([0x90 + len(dims)]) + body


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        pytest.param({"who": REQUESTER}, "NotModelOwner", id="not-the-owner"),
        pytest.param({"model_id": 7}, "UnknownModel", id="unknown-model"),
        pytest.param({"version": 0}, "VersionExists", id="version-0-below-the-next"),
        pytest.param({"family": "gemm_i8"}, "UnknownFamily", id="unknown-family"),
        pytest.param({"descriptor": _noncanonical((64, 64))}, "BadDescriptor", id="not-canonical"),
        pytest.param({"descriptor": codec.encode([64])}, "BadDescriptor", id="one-width"),
        pytest.param({"descriptor": codec.encode([64, 0])}, "BadDescriptor", id="zero-width"),
        pytest.param({"descriptor": codec.encode([64, -1])}, "BadDescriptor", id="negative"),
        pytest.param({"descriptor": codec.encode(["64", 64])}, "BadDescriptor", id="a-string"),
        pytest.param({"descriptor": codec.encode([[64], 64])}, "BadDescriptor", id="nested"),
        pytest.param({"descriptor": codec.encode([64, 65_537])}, "BadDescriptor", id="too-wide"),
        pytest.param({"descriptor": codec.encode([1, 1, 4096])}, "BadDescriptor", id="skew"),
        pytest.param({"descriptor": codec.encode([8] * 18)}, "BadDescriptor", id="17-layers"),
        pytest.param({"descriptor": codec.encode([64, 64]) + b"\x00"}, "BadDescriptor", id="trail"),
        pytest.param({"descriptor": b""}, "BadDescriptor", id="empty"),
        pytest.param({"size": len(WEIGHTS) + 1}, "WeightsSizeMismatch", id="size-too-big"),
        pytest.param({"size": len(WEIGHTS) - 1}, "WeightsSizeMismatch", id="size-too-small"),
        pytest.param({"fee": models.MAX_FEE_PER_USE + 1}, "FeeTooLarge", id="fee"),
        pytest.param({"licence": ""}, "BadText", id="no-licence"),
        pytest.param({"licence": "MIT\x00"}, "BadText", id="licence-nul"),
        pytest.param({"quantization": "int8 "}, "BadText", id="quantization-space"),
        pytest.param(
            {"family": "tfm_i8", "descriptor": codec.encode([256, 64, 100, 3, 2, 256])},
            "BadDescriptor",
            id="tfm-heads-not-dividing",
        ),
        pytest.param(
            {"family": "tfm_i8", "descriptor": codec.encode([256, 5000, 128, 4, 2, 512])},
            "BadDescriptor",
            id="tfm-context-too-long",
        ),
    ],
)
def test_publish_refusals_hold_nothing(
    chain: MarketChain, kwargs: dict[str, object], error: str
) -> None:
    out = publish(chain, **kwargs)  # type: ignore[arg-type]
    assert out.error == error and out.events == []
    assert chain.held(OWNER, HOLD) == MODEL_DEPOSIT
    assert model(chain).versions == ()


def test_a_huge_descriptor_is_refused_when_the_call_is_decoded(chain: MarketChain) -> None:
    with pytest.raises(InvalidCall, match="descriptor: 274 bytes, over the limit of 256"):
        publish(chain, descriptor=codec.encode(list(range(1, 200))))


def test_a_published_version_is_immutable(chain: MarketChain) -> None:
    assert publish(chain).error is None
    before = version(chain)
    # The owner cannot publish over it, nor under it, to change its fee or weights.
    assert publish(chain, fee=100 * FEE).error == "VersionExists"
    assert publish(chain, version=2).error is None
    assert publish(chain, version=2, fee=0).error == "VersionExists"
    assert version(chain) == before


def test_retire_releases_the_weights_deposit_once(chain: MarketChain) -> None:
    assert publish(chain).error is None
    assert chain.call(REQUESTER, "models", "retire_version", 1, 1).error == "NotModelOwner"
    assert chain.call(OWNER, "models", "retire_version", 1, 2).error == "UnknownVersion"
    out = chain.call(OWNER, "models", "retire_version", 1, 1)
    assert out.events == [
        ("Released", (OWNER_ACCOUNT, HOLD, WEIGHTS_HOLD)),
        ("VersionRetired", (1, 1, WEIGHTS_HOLD)),
    ]
    assert chain.held(OWNER, HOLD) == MODEL_DEPOSIT + VERSION_HOLD
    assert not version(chain).live and version(chain).weights_deposit == 0
    assert chain.call(OWNER, "models", "retire_version", 1, 1).error == "VersionRetired"


def test_a_tfm_version_is_published_with_the_layouts_weights_size(chain: MarketChain) -> None:
    architecture = (256, 64, 128, 4, 2, 512)
    descriptor = codec.encode(list(architecture))
    size = tfm_layout.weights_size(tfm_layout.TfmDescriptor(*architecture))
    kwargs = {"family": "tfm_i8", "descriptor": descriptor, "quantization": "tfm-int8"}
    assert publish(chain, size=size - 1, **kwargs).error == "WeightsSizeMismatch"  # type: ignore[arg-type]
    assert publish(chain, size=size, **kwargs).error is None  # type: ignore[arg-type]
    stored = version(chain)
    assert (stored.family, stored.weights_size) == ("tfm_i8", size)
    assert stored.weights_deposit == models.weights_deposit(size)


def test_the_invariants_catch_a_deposit_the_models_do_not_account_for(
    chain: MarketChain,
) -> None:
    assert publish(chain).error is None
    assert chain.problems() == []
    key = models.Versions.key((1, 1))
    stored = models.Versions.decode(chain.state[key])
    encode = record_codec(models.ModelVersion).encode
    chain.state[key] = encode(replace(stored, deposit=stored.deposit - 1))
    assert any("holds" in p and "for models" in p for p in chain.problems())
    chain.state[key] = encode(stored)


def test_owners_pay_their_deposits_from_their_own_funds(chain: MarketChain) -> None:
    poor = chain.balance(OWNER) - MODEL_DEPOSIT // 2
    assert chain.call(OWNER, "balances", "transfer", REQUESTER.public, poor).error is None
    assert chain.call(OWNER, "models", "create_model", "another").error is not None
    assert chain.held(OWNER, HOLD) == MODEL_DEPOSIT


def test_the_shipped_language_model_is_published_as_a_tfm_version(chain: MarketChain) -> None:
    """The language model that ships with the project (`gpu_worker/models/lm_tfm_i8.*`) is a
    version the chain accepts: its card's descriptor implies exactly its weights' size."""
    folder = Path(__file__).parents[4] / "gpu_worker" / "models"
    weights = (folder / "lm_tfm_i8.bin").read_bytes()
    architecture = json.loads((folder / "lm_tfm_i8.json").read_text())["descriptor"]
    descriptor = models.encode_descriptor(architecture)
    root = merkle_root([weights[i : i + CHUNK_BYTES] for i in range(0, len(weights), CHUNK_BYTES)])
    out = publish(
        chain,
        family="tfm_i8",
        descriptor=descriptor,
        root=root,
        size=len(weights),
        licence="PSF-2.0",
    )
    assert out.error is None
    stored = version(chain)
    assert (stored.weights_root, stored.weights_size) == (root, len(weights))
    assert stored.weights_deposit == models.weights_deposit(len(weights)) < models.MODEL_DEPOSIT
