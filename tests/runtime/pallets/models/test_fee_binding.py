"""A model's fee per use binds every on-chain use of its published weights: a plain job (or a
grant's) may not name a published weights root as an input, a model job may not feed one to
another model as data, and no other account may publish the root under its own model (at a
lower fee). Its owner may publish the root again; honest jobs and publications are unchanged.
Version numbers may skip at most MAX_VERSION_SKIP, so no owner can take the last number."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Final

import pytest

from runtime import dispatch
from runtime.framework import record_codec
from runtime.pallets import models
from runtime.pallets.models.errors import VersionTooFar
from tests.runtime.pallets.market_helpers import (
    GEMM,
    GEMM_PARAMS,
    REQUESTER,
    WORKER,
    MarketChain,
    Outcome,
    market_chain,
)
from tests.runtime.pallets.models.conftest import FEE, OWNER, WEIGHTS_ROOT, publish
from tests.runtime.pallets.test_grants import CAP, awarded, grant_chain, through
from tests.runtime.pallets.test_grants import submit_job as grant_job

QMLP: Final = "qmlp_i8"
PARAMS: Final = (10, 1, 64, 64)
MAX_PRICE: Final = 10**15
OTHER_ROOT: Final = b"\x07" * 32
"""A root no version publishes."""


@pytest.fixture
def chain() -> Iterator[MarketChain]:
    """Oscar's model 1 has version 1 (WEIGHTS_ROOT, fee FEE); Wendy works qmlp_i8 jobs."""
    made = market_chain()
    assert made.call(OWNER, "models", "create_model", "digits").error is None
    assert publish(made).error is None
    assert made.register(WORKER, workloads=[QMLP], capacity=4).error is None
    yield made
    assert made.problems() == []


def plain_job(chain: MarketChain, x: bytes, model: bytes) -> Outcome:
    args = (QMLP, list(PARAMS), ["x", "model"], [x, model], 7, MAX_PRICE, 10, 5, "always")
    return chain.call(REQUESTER, "market", "submit_job", *args)


def model_job(chain: MarketChain, model_id: int, x: bytes) -> Outcome:
    args = (list(PARAMS), ["x"], [x], 7, MAX_PRICE, 10, 5, "always")
    return chain.call(REQUESTER, "market", "submit_model_job", model_id, 1, *args)


def refused_holding_nothing(chain: MarketChain, out: Outcome, error: str) -> None:
    assert out.error == error and out.events == []
    assert chain.held(REQUESTER, "escrow") == 0 and chain.jobs() == {}


def test_a_plain_job_cannot_run_published_weights(chain: MarketChain) -> None:
    """The reviewer's attack: ("model", the version's root) in a plain submit_job ran Oscar's
    weights and paid him nothing. Refused as a model input, as any other input, and after the
    version is retired."""
    refused_holding_nothing(chain, plain_job(chain, b"", WEIGHTS_ROOT), "ModelWeightsInput")
    refused_holding_nothing(chain, plain_job(chain, WEIGHTS_ROOT, b""), "ModelWeightsInput")
    assert chain.call(OWNER, "models", "retire_version", 1, 1).error is None
    refused_holding_nothing(chain, plain_job(chain, b"", WEIGHTS_ROOT), "ModelWeightsInput")


def test_a_model_job_cannot_feed_published_weights_to_another_model(chain: MarketChain) -> None:
    """Requester's own model at fee 0, Oscar's weights as its batch x: refused (the product of
    someone's weights with the requester's 'model' is that model's layer, run without its fee)."""
    assert chain.call(REQUESTER, "models", "create_model", "mine").error is None
    assert publish(chain, model_id=2, who=REQUESTER, root=OTHER_ROOT, fee=0).error is None
    refused_holding_nothing(chain, model_job(chain, 2, WEIGHTS_ROOT), "ModelWeightsInput")
    assert model_job(chain, 2, b"").error is None  # its own weights, as its "model" input


def test_honest_jobs_are_unchanged(chain: MarketChain) -> None:
    assert plain_job(chain, b"", OTHER_ROOT).error is None  # weights nobody published
    assert model_job(chain, 1, b"").error is None  # Oscar's model, its fee held
    job = chain.job(2)
    assert job.inputs[1] == ("model", WEIGHTS_ROOT) and job.model is not None
    assert job.model.fee == FEE


def test_a_grant_cannot_run_published_weights() -> None:
    """A grant pays for plain jobs only; those may not name a model's weights either, so a
    grant neither pays a model's fee nor dodges it."""
    chain = grant_chain()
    assert chain.call(OWNER, "models", "create_model", "digits").error is None
    assert publish(chain).error is None
    grant_id = awarded(chain)
    out = through(chain, grant_id, grant_job())
    assert out.error is None, out.error  # a plain gemm job through the grant
    args = (GEMM, list(GEMM_PARAMS), ["a", "b"], [WEIGHTS_ROOT, b""], 7, CAP, 10, 5, "always")
    raw = dispatch.encode_call("market", "submit_job", args)
    assert through(chain, grant_id, raw).error == "ModelWeightsInput"
    assert len(chain.jobs()) == 1


def test_another_account_cannot_republish_the_weights(chain: MarketChain) -> None:
    """The reviewer's second attack: the same root under Rita's model at fee 0. Refused, also
    once Oscar retired the version (its first publication is kept)."""
    assert chain.call(REQUESTER, "models", "create_model", "copy").error is None
    out = publish(chain, model_id=2, who=REQUESTER, fee=0, licence="public domain")
    assert out.error == "WeightsTaken" and out.events == []
    assert chain.held(REQUESTER, models.HOLD) == models.MODEL_DEPOSIT
    assert chain.call(OWNER, "models", "retire_version", 1, 1).error is None
    assert publish(chain, model_id=2, who=REQUESTER, fee=0).error == "WeightsTaken"
    assert models.Versions.get(chain.overlay(), (2, 1)) is None
    assert publish(chain, model_id=2, who=REQUESTER, root=OTHER_ROOT, fee=0).error is None


def test_the_owner_may_publish_its_weights_again(chain: MarketChain) -> None:
    assert publish(chain, version=2, fee=0).error is None  # another version of its model
    assert chain.call(OWNER, "models", "create_model", "digits-free").error is None
    assert publish(chain, model_id=2, fee=0).error is None  # another of its models
    first = models.first_publication(chain.overlay(), WEIGHTS_ROOT)
    assert first == models.Publication(1, 1)  # the first publication stays the record
    assert models.first_publication(chain.overlay(), OTHER_ROOT) is None


def test_the_invariants_catch_an_unrecorded_or_foreign_root(chain: MarketChain) -> None:
    key = models.WeightsRoots.key(WEIGHTS_ROOT)
    recorded = chain.state.pop(key)
    assert any("weights are not recorded" in p for p in chain.problems())
    chain.state[key] = record_codec(models.Publication).encode(models.Publication(1, 9))
    assert any("first publication" in p for p in chain.problems())
    chain.state[key] = recorded
    assert chain.problems() == []


def test_a_version_may_skip_at_most_max_version_skip_numbers(chain: MarketChain) -> None:
    """The reviewer's probe: version 2^32 - 1 left no number for any later version."""
    assert publish(chain, version=2**32 - 1).error == "VersionTooFar"
    top = 2 + models.MAX_VERSION_SKIP  # the next is 2
    assert publish(chain, version=top + 1).error == "VersionTooFar"
    assert publish(chain, version=top).error is None
    assert publish(chain, version=top + 1).error is None  # a later number is always left
    assert publish(chain, version=top).error == "VersionExists"
    assert models.MAX_VERSION_SKIP == 1_000 and "1,000" in VersionTooFar.describe()
