"""Jobs that name a registered model (`market.submit_model_job`): the weights root filled in, the
params checked against the descriptor, the fee per use held with the escrow, paid to the owner
on settlement and returned on every other end; refusals hold nothing."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import Any, Final

import pytest

from runtime.accounts import TREASURY
from runtime.executive import CALLS
from runtime.pallets import grants, market, models
from runtime.pallets.compute import DEFAULT_COMPUTE_PARAMS
from runtime.pallets.market import DEFAULT_MARKET_PARAMS
from runtime.workloads import workload_shape
from tests.runtime.pallets.market_helpers import (
    REQUESTER,
    WORKER,
    MarketChain,
    Outcome,
    hook_events,
    market_chain,
    wrong_hashes,
)
from tests.runtime.pallets.models.conftest import (
    DESCRIPTOR,
    DIMS,
    FEE,
    OWNER,
    WEIGHTS,
    WEIGHTS_ROOT,
    publish,
)

QMLP: Final = "qmlp_i8"
PARAMS: Final = (10, 1, *DIMS)
"""A batch of 10 rows, a leaf a row: 10 leaves, as the market tests' results have."""
MAX_PRICE: Final = 10**15
ESCROW: Final = DEFAULT_MARKET_PARAMS.escrow_for(QMLP, workload_shape(QMLP, PARAMS), MAX_PRICE)
X_ROOT: Final = b""
"""The batch x, generated from the job's seed."""
W, R, OWN = WORKER.public, REQUESTER.public, OWNER.public
WINDOW: Final = DEFAULT_COMPUTE_PARAMS.dispute_window


@pytest.fixture
def chain() -> Iterator[MarketChain]:
    """Model 1 version 1 (64 → 64, fee FEE) by Oscar; Wendy works qmlp_i8 jobs."""
    made = market_chain()
    assert made.call(OWNER, "models", "create_model", "digits").error is None
    assert publish(made).error is None
    assert made.register(WORKER, workloads=[QMLP], capacity=1).error is None
    yield made
    assert made.problems() == []


def submit_model_job(
    chain: MarketChain,
    model_id: int = 1,
    version: int = 1,
    *,
    params: Any = PARAMS,
    names: Any = ("x",),
    roots: Any = (X_ROOT,),
    mode: str = "always",
) -> Outcome:
    args = (list(params), list(names), list(roots), 7, MAX_PRICE, 10, 5, mode)
    return chain.call(REQUESTER, "market", "submit_model_job", model_id, version, *args)


def test_a_model_job_runs_the_versions_weights_and_holds_its_fee(chain: MarketChain) -> None:
    before = chain.balance(REQUESTER)
    out = submit_model_job(chain)
    assert out.error is None
    job = chain.job(1)
    assert job.workload == QMLP and job.params == PARAMS
    assert job.inputs == (("x", X_ROOT), ("model", WEIGHTS_ROOT))
    assert job.model == market.ModelUse(1, 1, OWN, FEE)
    assert job.escrow == ESCROW + FEE and chain.held(REQUESTER, "escrow") == ESCROW + FEE
    assert ("ModelJobSubmitted", (1, 1, 1, FEE)) in out.events
    assert chain.balance(REQUESTER) == before - out.fee - ESCROW - FEE
    assert job.worker == W  # matched at once, as any job


def test_settlement_pays_the_owner_its_fee_and_nothing_else_changes(chain: MarketChain) -> None:
    submit_model_job(chain)
    assert chain.commit(WORKER, 1).error is None
    chain.advance_to(chain.audit_roll_at(1))
    members = chain.checks(1)[0].committee
    chain.run_check(1, 0, [(m, "honest") for m in members])
    chain.advance_to(chain.job(1).committed_at + WINDOW - 1)
    job = chain.job(1)
    before = {who: chain.balance(who) for who in (W, R, OWN, TREASURY)}
    events = hook_events(chain.advance_to(job.committed_at + WINDOW), "market")
    payment = job.payment
    protocol, verification = DEFAULT_MARKET_PARAMS.fees_for(payment)
    share = verification // len(members)
    refund = ESCROW + FEE - payment - protocol - FEE - share * len(members)
    assert ("ModelFeePaid", (1, 1, 1, OWN, FEE)) in events
    assert events[-1] == ("JobSettled", (1, W, payment, share * len(members), protocol, refund))
    assert chain.balance(OWNER) == before[OWN] + FEE
    assert chain.balance(WORKER) == before[W] + payment
    assert chain.balance(REQUESTER) == before[R] + refund
    assert chain.held(REQUESTER, "escrow") == 0


def test_a_failed_job_returns_the_fee_to_the_requester(chain: MarketChain) -> None:
    submit_model_job(chain)
    assert chain.commit(WORKER, 1, hashes=wrong_hashes(3)).error is None
    chain.advance_to(chain.audit_roll_at(1))
    members = chain.checks(1)[0].committee
    owner_before, requester_before = chain.balance(OWNER), chain.total(REQUESTER)
    events = hook_events(chain.run_check(1, 0, [(m, "honest") for m in members]), "market")
    share = DEFAULT_MARKET_PARAMS.fees_for(chain.job(1).payment)[1] // len(members)
    assert events[-1][0] == "JobFailed" and events[-1][1][3] == ESCROW + FEE - share * len(members)
    assert chain.balance(OWNER) == owner_before  # the owner is paid for settled jobs only
    assert chain.total(REQUESTER) == requester_before - share * len(members)
    assert chain.held(REQUESTER, "escrow") == 0


def test_a_cancelled_job_returns_the_fee(chain: MarketChain) -> None:
    submit_model_job(chain)  # takes Wendy's only slot
    submit_model_job(chain)  # waits
    assert chain.job(2).worker is None
    held = chain.held(REQUESTER, "escrow")
    out = chain.call(REQUESTER, "market", "cancel_job", 2, chain.digest(2))
    assert out.error is None
    refund = out.events[-1][1][1]
    assert refund == ESCROW + FEE  # the job's escrow back, its fee in it
    assert chain.held(REQUESTER, "escrow") < held - ESCROW


def test_the_job_keeps_the_fee_it_was_submitted_with(chain: MarketChain) -> None:
    """An owner cannot raise the fee of jobs that name its model: a version's fee never changes,
    a new version is another name, and retiring a version leaves its jobs' terms."""
    submit_model_job(chain)
    assert publish(chain, version=2, fee=100 * FEE).error is None
    assert chain.call(OWNER, "models", "retire_version", 1, 1).error is None
    assert chain.job(1).model == market.ModelUse(1, 1, OWN, FEE)
    assert submit_model_job(chain).error == "VersionRetired"
    assert chain.job(1).escrow == ESCROW + FEE


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        pytest.param({"model_id": 9}, "UnknownModel", id="unknown-model"),
        pytest.param({"version": 2}, "UnknownVersion", id="unknown-version"),
        pytest.param({"params": (10, 1, 64, 10)}, "ParamsMismatch", id="other-widths"),
        pytest.param({"params": (10, 1, 64)}, "ParamsMismatch", id="no-layer"),
        pytest.param({"params": (0, 1, *DIMS)}, "BadJob", id="zero-batch"),
        pytest.param({"names": ("x", "model"), "roots": (b"", b"")}, "BadJob", id="model-given"),
        pytest.param({"names": (), "roots": ()}, "BadJob", id="no-x"),
        pytest.param({"roots": (b"\x01" * 31,)}, "BadJob", id="short-root"),
        pytest.param({"roots": ()}, "BadJob", id="roots-count"),
    ],
)
def test_model_job_refusals_hold_nothing(
    chain: MarketChain, kwargs: dict[str, Any], error: str
) -> None:
    before = chain.balance(REQUESTER)
    out = submit_model_job(chain, **kwargs)
    assert out.error == error
    assert chain.balance(REQUESTER) == before - out.fee
    assert chain.held(REQUESTER, "escrow") == 0 and chain.jobs() == {}


def test_a_grant_cannot_pay_a_models_fee() -> None:
    """A builder who owns a model would otherwise move its grant's funds to itself as fees."""
    assert ("market", "submit_model_job") not in grants.ALLOWED_CALLS


def test_the_digest_names_the_model_a_job_runs(chain: MarketChain) -> None:
    submit_model_job(chain)
    job = chain.job(1)
    other = market.ModelUse(1, 1, OWN, FEE + 1)
    assert market.job_digest(1, job) != market.job_digest(1, replace(job, model=other))
    assert market.job_digest(1, job) != market.job_digest(1, replace(job, model=None))


def test_the_pool_counts_the_fee_and_the_deposits_a_call_holds(chain: MarketChain) -> None:
    """The pool charges a signer's pooled calls against its balance by what each declares it
    holds: a model job declares its fee besides its escrow, a publication its deposits."""
    ctx = chain.builder().context
    args = (1, 1, list(PARAMS), ["x"], [X_ROOT], 7, MAX_PRICE, 10, 5, "always")
    declared = CALLS[("market", "submit_model_job")].outflow(ctx, args)
    plain = CALLS[("market", "submit_job")].outflow(
        ctx, (QMLP, list(PARAMS), ["x", "model"], [X_ROOT, WEIGHTS_ROOT], *args[5:])
    )
    assert plain is not None and declared == plain + FEE
    assert CALLS[("market", "submit_model_job")].outflow(ctx, (9, *args[1:])) is None
    submit_model_job(chain)
    assert chain.held(REQUESTER, "escrow") <= declared  # what it held, within what it declared
    publish_args = (1, 2, "qmlp_i8", DESCRIPTOR, WEIGHTS_ROOT, len(WEIGHTS), "int8", "MIT", 0)
    deposits = models.record_deposit("qmlp_i8", DESCRIPTOR, "int8", "MIT") + models.weights_deposit(
        len(WEIGHTS)
    )
    assert CALLS[("models", "publish_version")].outflow(ctx, publish_args) == deposits
    assert CALLS[("models", "create_model")].outflow(ctx, ("x",)) == models.MODEL_DEPOSIT


def test_an_expired_job_returns_the_fee(chain: MarketChain) -> None:
    submit_model_job(chain)  # takes Wendy's only slot
    submit_model_job(chain)  # waits 5 blocks, then expires
    owner_before = chain.balance(OWNER)
    expired = [
        args
        for result in chain.advance(6)
        for name, args in hook_events(result, "market")
        if name == "JobExpired"
    ]
    assert expired == [(2, ESCROW + FEE)]  # the escrow back, the fee in it (rent aside)
    assert chain.job(2).state == "expired" and chain.balance(OWNER) == owner_before
