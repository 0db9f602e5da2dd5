"""Quotes: a job's escrow and the least price, as the runtime computes and enforces them.

The chain here is the real runtime in memory (`tests.runtime.pallets.market_helpers`); the quote
reads its parameters, balances and workers through the same three reads `XplClient` offers, and
each figure is checked against what the runtime then does with the job.
"""

from __future__ import annotations

import re
from typing import cast

import pytest

from chain.client.chain import Account, XplClient
from chain.client.jobs import JobRequest, JobRequestError, Quote, least_price, quote_job
from runtime.pallets import balances, compute, market
from runtime.primitives.amount import format_amount
from runtime.state import StateOverlay
from runtime.workloads import workload_shape
from tests.runtime.pallets.market_helpers import (
    GEMM,
    GEMM_PARAMS,
    GEMM_UNITS,
    REQUESTER,
    UNIT,
    WORKER,
    WORKER2,
    MarketChain,
    market_chain,
)


class RuntimeView:
    """The reads a quote makes, answered from the runtime's state as the node's RPC does."""

    def __init__(self, chain: MarketChain) -> None:
        self.chain = chain

    def market_params(self) -> tuple[market.MarketParams, compute.ComputeParams]:
        state = StateOverlay(self.chain.read)
        return market.Params.get(state), compute.Params.get(state)

    def account(self, who: bytes) -> Account:
        info = self.chain.account(who)
        if info is None:
            return Account(0, 0, 0, ())
        frozen = max(
            (a for _, a in balances.freezes(StateOverlay(self.chain.read), who)), default=0
        )
        return Account(info.nonce, info.free, info.total - info.free, info.holds, frozen)

    def workers(self) -> dict[bytes, market.Worker]:
        found = {who: self.chain.worker(who) for who in self.chain.worker_list()}
        return {who: worker for who, worker in found.items() if worker is not None}

    def best_number(self) -> int:
        return self.chain.head.number


def quote(chain: MarketChain, max_price: int, params: tuple[int, ...] = GEMM_PARAMS) -> Quote:
    job = JobRequest(GEMM, params, seed=7, max_price=max_price, inputs={})
    return quote_job(cast(XplClient, RuntimeView(chain)), REQUESTER.public, job)


def submit(chain: MarketChain, max_price: int, params: tuple[int, ...] = GEMM_PARAMS) -> str | None:
    return chain.submit(params=params, max_price=max_price, mode="sampled").error


def test_the_quoted_escrow_is_what_the_runtime_holds() -> None:
    chain = market_chain()
    assert chain.register(WORKER, prices=(UNIT,)).error is None
    assert chain.register(WORKER2, prices=(3 * UNIT,)).error is None
    free = chain.balance(REQUESTER)
    found = quote(chain, 2 * UNIT)
    assert found.cost_units == GEMM_UNITS
    assert found.leaves == workload_shape(GEMM, GEMM_PARAMS).leaves
    assert found.free == free
    assert (found.cheapest_ask, found.within_price, found.unmatchable) == (UNIT, 1, False)

    held = chain.held(REQUESTER, "escrow")
    assert submit(chain, 2 * UNIT) is None
    assert chain.held(REQUESTER, "escrow") - held == found.escrow
    # 2 XPL per 10^9 units on 10^9 units, plus 2% protocol and 5% verification fees.
    assert found.escrow == 2 * UNIT * 107 // 100


def test_a_raised_ask_is_quoted_once_it_is_in_force() -> None:
    chain = market_chain()
    assert chain.register(WORKER, prices=(UNIT,)).error is None
    update = ([GEMM], [3 * UNIT], 2, 0)
    assert chain.call(WORKER, "market", "update_worker", *update).error is None
    assert quote(chain, 2 * UNIT).cheapest_ask == UNIT  # the raise is not in force yet
    chain.advance(market.DEFAULT_MARKET_PARAMS.ask_delay)
    assert quote(chain, 2 * UNIT).cheapest_ask == 3 * UNIT


def test_a_price_no_worker_asks_as_little_as_is_quoted_as_unmatchable() -> None:
    chain = market_chain()
    assert chain.register(WORKER, prices=(5 * UNIT,)).error is None
    found = quote(chain, UNIT)
    assert (found.cheapest_ask, found.within_price, found.unmatchable) == (5 * UNIT, 0, True)
    empty = market_chain()
    assert quote(empty, UNIT).cheapest_ask is None


@pytest.mark.parametrize("params", [GEMM_PARAMS, (8, 8, 8, 2), (64, 64, 64, 16)])
def test_the_least_price_is_the_runtimes_boundary(params: tuple[int, ...]) -> None:
    shape = workload_shape(GEMM, params)
    rules = market.DEFAULT_MARKET_PARAMS
    lowest = least_price(GEMM, shape, rules)
    assert rules.escrow_for(GEMM, shape, lowest) >= balances.EXISTENTIAL_DEPOSIT
    assert lowest == 1 or rules.escrow_for(GEMM, shape, lowest - 1) < balances.EXISTENTIAL_DEPOSIT

    chain = market_chain()
    assert chain.register(WORKER, prices=(1,)).error is None
    if lowest > 1:
        least = (
            f"below the least escrow of {format_amount(balances.EXISTENTIAL_DEPOSIT)}: this job "
            f"needs a maximum price of at least {format_amount(lowest)} per 10^9 units"
        )
        with pytest.raises(JobRequestError, match=re.escape(least)):
            quote(chain, lowest - 1, params)
        assert submit(chain, lowest - 1, params) == "PriceTooLow"
    assert quote(chain, lowest, params).escrow >= balances.EXISTENTIAL_DEPOSIT
    assert submit(chain, lowest, params) is None


def test_an_escrow_over_the_free_balance_is_refused_before_submitting() -> None:
    chain = market_chain()
    free = chain.balance(REQUESTER)
    price = free  # 10^9 units at `free` per 10^9 units: the payment alone is the whole balance
    with pytest.raises(JobRequestError, match="is more than the free balance of"):
        quote(chain, price)
    assert submit(chain, price) == "InsufficientBalance"


def test_an_escrow_over_what_votes_leave_unlocked_is_refused_before_submitting() -> None:
    """The quote counts only what the requester's locks leave usable, as the runtime does."""
    chain = market_chain()
    assert chain.register(WORKER, prices=(UNIT,)).error is None
    escrow = quote(chain, 2 * UNIT).escrow
    builder = chain.builder()
    locked = chain.balance(REQUESTER) - escrow // 2
    balances.set_freeze(builder.context, REQUESTER.public, "vote", locked)
    chain.seal(builder)
    with pytest.raises(JobRequestError, match="locked by votes"):
        quote(chain, 2 * UNIT)
    assert submit(chain, 2 * UNIT) == "Frozen"
