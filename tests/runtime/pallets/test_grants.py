"""Compute grants with the real market: a job submitted through a grant holds its escrow on the
grant's account, pays its worker from it when it settles and returns refunds to it; the builder
cannot move the grant's funds anywhere but into compute jobs; closing returns the rest to the
treasury."""

from __future__ import annotations

from typing import Any, Final

import pytest

from runtime import dispatch
from runtime.accounts import TREASURY
from runtime.framework import ROOT
from runtime.pallets import grants
from runtime.pallets.balances import EXISTENTIAL_DEPOSIT as ED
from runtime.pallets.market import DEFAULT_MARKET_PARAMS
from runtime.primitives import codec
from tests.runtime.pallets.bounty_helpers import ALICE, BOB, SMALL, TREASURER, Env
from tests.runtime.pallets.market_helpers import (
    ACCOUNTS,
    AUTHOR,
    ENDOWMENT,
    GEMM,
    GEMM_LEAVES,
    GEMM_PARAMS,
    OUTSIDER,
    REQUESTER,
    REQUESTER2,
    UNIT,
    WORKER,
    MarketChain,
    Outcome,
    escrow_for,
    market_config,
    wrong_hashes,
)

BUILDER: Final = REQUESTER
AWARD: Final = 50 * UNIT
CAP: Final = 2 * UNIT
"""The grant's price cap: a job through it may offer at most 2 XPL per 10^9 cost units."""
EXPIRY: Final = 1_000


def grant_chain() -> MarketChain:
    """The market test chain with a treasury of 1,000,000 XPL; WORKER registered (ask 1 XPL)."""
    endowed = [(k.public, ENDOWMENT) for k in ACCOUNTS] + [(TREASURY, 1_000_000 * UNIT)]
    chain = MarketChain(market_config(endowed=endowed), AUTHOR)
    assert chain.register(WORKER).error is None
    return chain


def awarded(chain: MarketChain, expiry: int = EXPIRY) -> int:
    grant_id = grants.GrantCount.get(chain.overlay())
    error = chain.root_call("grants", "award", BUILDER.public, AWARD, CAP, expiry)
    assert error is None, error
    return grant_id


def submit_job(max_price: int = CAP, wait: int = 5) -> bytes:
    args = (GEMM, list(GEMM_PARAMS), ["a", "b"], [b"", b""], 7, max_price, 10, wait, "always")
    return dispatch.encode_call("market", "submit_job", args)


def through(chain: MarketChain, grant_id: int, raw: bytes, who: Any = BUILDER) -> Outcome:
    return chain.call(who, "grants", "call", grant_id, raw)


def settle(chain: MarketChain, job_id: int) -> None:
    """Commit the correct result, run its audit with an honest committee and author blocks to
    the end of its dispute window."""
    assert chain.commit(WORKER, job_id).error is None
    committed_at = chain.job(job_id).committed_at
    chain.advance_to(chain.audit_roll_at(job_id))
    plan = [(m, "honest") for m in chain.checks(job_id)[0].committee]
    chain.run_check(job_id, 0, plan)
    chain.advance_to(committed_at + chain.compute_params().dispute_window)


def test_a_job_through_a_grant_is_paid_from_the_grant_and_refunds_to_it() -> None:
    chain = grant_chain()
    grant_id = awarded(chain)
    account = grants.grant_account(grant_id)
    assert chain.balance(account) == AWARD
    builder, worker = chain.total(BUILDER), chain.total(WORKER)
    fees = dict(chain.fees)
    out = through(chain, grant_id, submit_job())
    assert out.error is None, out.error
    escrow = escrow_for(CAP)
    job = chain.job(1)
    assert job.requester == account and job.state == "matched"
    assert chain.held(account, "escrow") == escrow
    assert chain.balance(account) == AWARD - escrow
    settle(chain, 1)
    assert chain.job(1).state == "settled"
    payment = UNIT  # the worker's ask, for 10^9 cost units
    protocol, verification = DEFAULT_MARKET_PARAMS.fees_for(payment)
    assert chain.held(account, "escrow") == 0
    assert chain.total(account) >= AWARD - payment - protocol - verification
    assert chain.total(account) <= AWARD - payment - protocol
    assert chain.total(WORKER) == worker + payment - chain.fees_since(fees, WORKER)
    # The builder paid its own transaction fees and nothing else.
    assert chain.total(BUILDER) == builder - chain.fees_since(fees, BUILDER)


def test_a_cancelled_job_refunds_the_grant() -> None:
    """The grant's job waits (the only worker is busy with two others) and is cancelled: its
    escrow returns to the grant, less the rent of the block it waited (to the treasury)."""
    chain = grant_chain()
    grant_id = awarded(chain)
    account = grants.grant_account(grant_id)
    assert chain.submit(REQUESTER2, seed=1).error is None
    assert chain.submit(REQUESTER2, seed=2).error is None
    assert through(chain, grant_id, submit_job(wait=20)).error is None
    job = chain.job(3)
    assert job.state == "pending" and job.requester == account
    held = chain.held(account, "escrow")
    assert held >= escrow_for(CAP)
    cancel = dispatch.encode_call("market", "cancel_job", (3, chain.digest(3)))
    out = through(chain, grant_id, cancel)
    assert out.error is None
    assert chain.held(account, "escrow") == 0
    rent = AWARD - chain.balance(account)  # the rent of the block it waited
    assert 0 < rent <= 2 * DEFAULT_MARKET_PARAMS.wait_rent


def test_an_expired_job_refunds_the_grant() -> None:
    chain = grant_chain()
    grant_id = awarded(chain)
    account = grants.grant_account(grant_id)
    assert chain.submit(REQUESTER2, seed=1).error is None
    assert chain.submit(REQUESTER2, seed=2).error is None
    assert through(chain, grant_id, submit_job(wait=2)).error is None
    chain.advance(3)
    assert chain.job(3).state == "expired"
    assert chain.held(account, "escrow") == 0
    assert 0 < AWARD - chain.balance(account) <= 3 * DEFAULT_MARKET_PARAMS.wait_rent


def test_a_failed_job_refunds_the_grant_and_slashes_the_worker() -> None:
    chain = grant_chain()
    grant_id = awarded(chain)
    account = grants.grant_account(grant_id)
    assert through(chain, grant_id, submit_job()).error is None
    treasury = chain.total(TREASURY)
    assert chain.commit(WORKER, 1, hashes=wrong_hashes(*range(GEMM_LEAVES))).error is None
    chain.advance_to(chain.audit_roll_at(1))
    chain.run_check(1, 0, [(m, "honest") for m in chain.checks(1)[0].committee])
    assert chain.job(1).state == "failed"
    _, verification = DEFAULT_MARKET_PARAMS.fees_for(UNIT)
    assert chain.held(account, "escrow") == 0
    assert AWARD - chain.balance(account) <= verification  # only the committee's fee was paid
    assert chain.total(TREASURY) > treasury  # the worker's slash


@pytest.mark.parametrize(
    ("raw", "error"),
    [
        (
            lambda: dispatch.encode_call("balances", "transfer", (BUILDER.public, UNIT)),
            "CallNotAllowed",
        ),
        (
            lambda: dispatch.encode_call("balances", "transfer_keep_alive", (BUILDER.public, UNIT)),
            "CallNotAllowed",
        ),
        (lambda: dispatch.encode_call("grants", "call", (0, submit_job())), "CallNotAllowed"),
        (lambda: dispatch.encode_call("grants", "close", (0,)), "CallNotAllowed"),
        (lambda: dispatch.encode_call("compute", "dispute", (1, bytes(32), 0)), "CallNotAllowed"),
        (
            lambda: dispatch.encode_call(
                "market",
                "register_worker",
                (ED, "gpu", 1, [GEMM], [UNIT], [50], "https://x", 1),
            ),
            "CallNotAllowed",
        ),
        (lambda: dispatch.encode_call("staking", "bond", (UNIT,)), "CallNotAllowed"),
        (lambda: submit_job(max_price=CAP + 1), "PriceAboveGrant"),
        (lambda: codec.encode(["market", "no_such_call", []]), "CallNotAllowed"),
        (lambda: codec.encode([1, 2, 3]), "BadCall"),
    ],
)
def test_the_builder_moves_grant_funds_only_into_compute_jobs(raw: Any, error: str) -> None:
    chain = grant_chain()
    grant_id = awarded(chain)
    account = grants.grant_account(grant_id)
    out = through(chain, grant_id, raw())
    assert out.error == error
    assert chain.balance(account) == AWARD and chain.held(account, "escrow") == 0


def test_only_the_builder_spends_its_grant() -> None:
    chain = grant_chain()
    grant_id = awarded(chain)
    assert through(chain, grant_id, submit_job(), who=OUTSIDER).error == "NotBuilder"
    assert through(chain, 7, submit_job()).error == "UnknownGrant"


def test_a_builder_that_is_also_a_worker_is_paid_at_most_the_grants_price() -> None:
    """The builder registers a worker asking more than the grant's cap: no job the grant pays
    for may offer its ask (refused), and a job within the cap goes to the cheaper worker."""
    chain = grant_chain()
    grant_id = awarded(chain)
    assert chain.register(BUILDER, prices=[10 * UNIT]).error is None
    assert through(chain, grant_id, submit_job(max_price=10 * UNIT)).error == "PriceAboveGrant"
    assert through(chain, grant_id, submit_job()).error is None
    assert chain.job(1).worker == WORKER.public


def test_an_expired_grant_pays_for_no_new_job_and_anyone_closes_it() -> None:
    chain = grant_chain()
    expiry = chain.head.number + 10
    grant_id = awarded(chain, expiry)
    account = grants.grant_account(grant_id)
    assert chain.call(OUTSIDER, "grants", "close", grant_id).error == "NotBuilder"
    chain.advance_to(expiry)
    assert through(chain, grant_id, submit_job()).error == "GrantExpired"
    treasury = chain.total(TREASURY)
    out = chain.call(OUTSIDER, "grants", "close", grant_id)
    assert out.error is None
    assert ("GrantClosed", (grant_id, AWARD, 0)) in out.events
    assert chain.total(account) == 0 and grants.Grants.get(chain.overlay(), grant_id) is None
    assert chain.total(TREASURY) >= treasury + AWARD


def test_closing_with_a_job_open_sweeps_its_refund_later() -> None:
    chain = grant_chain()
    grant_id = awarded(chain)
    account = grants.grant_account(grant_id)
    assert through(chain, grant_id, submit_job()).error is None
    escrow = escrow_for(CAP)
    out = chain.call(BUILDER, "grants", "close", grant_id)
    assert ("GrantClosed", (grant_id, AWARD - escrow, escrow)) in out.events
    record = grants.Grants.get(chain.overlay(), grant_id)
    assert record is not None and record.closed
    assert through(chain, grant_id, submit_job()).error == "GrantExpired"
    settle(chain, 1)
    refund = chain.balance(account)
    assert refund > 0 and chain.held(account, "escrow") == 0
    out = chain.call(OUTSIDER, "grants", "close", grant_id)  # anyone sweeps a closed grant
    assert ("GrantClosed", (grant_id, refund, 0)) in out.events
    assert chain.total(account) == 0 and grants.Grants.get(chain.overlay(), grant_id) is None


# Awards, on a plain state


def test_awards_need_a_spending_origin_within_its_limit() -> None:
    env = Env()
    assert env.call(ALICE, "grants", "award", BOB, AWARD, CAP, EXPIRY) == "BadOrigin"
    assert env.call(SMALL, "grants", "award", BOB, 20_000 * UNIT, CAP, EXPIRY) == "SpendTooLarge"
    env.ok(TREASURER, "grants", "award", BOB, 20_000 * UNIT, CAP, EXPIRY)
    assert env.free(grants.grant_account(0)) == 20_000 * UNIT
    assert env.problems() == []


@pytest.mark.parametrize(
    ("amount", "cap", "expiry"),
    [(ED - 1, CAP, EXPIRY), (AWARD, 0, EXPIRY), (AWARD, CAP, 1)],
)
def test_bad_awards_are_refused(amount: int, cap: int, expiry: int) -> None:
    env = Env()
    assert env.call(ROOT, "grants", "award", BOB, amount, cap, expiry) == "BadGrant"


def test_governance_may_close_a_grant_early() -> None:
    env = Env()
    env.ok(ROOT, "grants", "award", BOB, AWARD, CAP, EXPIRY)
    assert env.call(ALICE, "grants", "close", 0) == "NotBuilder"
    env.ok(SMALL, "grants", "close", 0)
    assert env.total(grants.grant_account(0)) == 0
    assert env.problems() == []


def test_anyone_sweeps_what_reaches_an_ended_grants_account() -> None:
    env = Env()
    env.ok(ROOT, "grants", "award", BOB, AWARD, CAP, EXPIRY)
    env.ok(BOB, "grants", "close", 0)
    env.ok(ALICE, "balances", "transfer", grants.grant_account(0), UNIT)
    env.ok(ALICE, "grants", "close", 0)
    assert env.total(grants.grant_account(0)) == 0
    assert env.call(ALICE, "grants", "close", 1) == "UnknownGrant"
    assert env.problems() == []


def test_no_runtime_call_but_the_requesters_goes_through_a_grant() -> None:
    """Every call of the runtime, whatever its arguments, is refused through `grants.call`,
    except market.submit_job and market.cancel_job."""
    env = Env()
    env.ok(ROOT, "grants", "award", BOB, AWARD, CAP, EXPIRY)
    for pallet, name in dispatch.calls():
        raw = codec.encode([pallet, name, []])
        error = env.call(BOB, "grants", "call", 0, raw)
        if (pallet, name) in grants.ALLOWED_CALLS:
            assert error == "BadCall"  # no arguments: refused by the market's own decoding
        else:
            assert error == "CallNotAllowed", (pallet, name, error)
    assert {("market", "submit_job"), ("market", "cancel_job")} == grants.ALLOWED_CALLS
    assert env.free(grants.grant_account(0)) == AWARD
