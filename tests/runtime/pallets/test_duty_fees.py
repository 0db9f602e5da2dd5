"""Duties of the protocol are free when done: a committee member's attestations and a worker's
response to a check have their fee refunded when they succeed (the tip stays paid), and pay in
full when they fail, so that the cheapest job's audit costs none of the honest parties more than
it pays them, and nobody can spam the chain with free calls."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from functools import cache

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chain.client.chain import make_call
from runtime.accounts import TREASURY
from runtime.executive import CALLS
from runtime.pallets import transaction_payment
from runtime.pallets.balances import EXISTENTIAL_DEPOSIT
from runtime.pallets.market import DEFAULT_MARKET_PARAMS
from runtime.workloads import workload_shape
from tests.runtime.pallets.market_helpers import (
    GEMM,
    GEMM_PARAMS,
    GEMM_UNITS,
    OUTSIDER,
    REQUESTER,
    UNIT,
    VALIDATORS,
    WORKER,
    MarketChain,
    keypair_of,
    market_chain,
    outcome_of,
    records,
)
from tests.runtime.pallets.test_committee_adversaries import Ledger, drawn

LEAST_PRICE = 10**10
"""About the cheapest job there can be: 0.01 XPL for the test job (a job of the least payment,
0.005 XPL, holds an escrow below the existential deposit and is refused)."""
DUTIES = ("attest_commit", "attest_reveal", "respond")


def least_payment_job(chain: MarketChain) -> int:
    """A committed, always-audited job that pays its worker the least payment."""
    out = chain.submit(REQUESTER, max_price=LEAST_PRICE, mode="always", deadline=10, wait=10)
    assert out.error is None, out.error
    job_id = int(out.events[1][1][0])
    assert chain.job(job_id).payment == LEAST_PRICE
    shape = workload_shape(GEMM, GEMM_PARAMS)
    assert shape.cost_units == GEMM_UNITS
    assert DEFAULT_MARKET_PARAMS.escrow_for(GEMM, shape, LEAST_PRICE // 2) < EXISTENTIAL_DEPOSIT
    assert chain.commit(WORKER, job_id).error is None
    return job_id


@pytest.fixture
def chain() -> Iterator[MarketChain]:
    made = market_chain()
    made.register(WORKER, capacity=16, prices=(LEAST_PRICE,))
    yield made
    assert made.problems() == []


def test_the_duty_calls_are_declared_free() -> None:
    assert [CALLS[("compute", name)].pays for name in DUTIES] == [False] * 3
    assert CALLS[("compute", "commit_result")].pays and CALLS[("market", "submit_job")].pays


def test_an_honest_audit_of_a_least_payment_job_costs_no_honest_party(chain: MarketChain) -> None:
    """Over the whole life of the cheapest job, audited by an honest committee: the worker ends
    with at least what it started with (payment minus its commit fee; its response is free) and
    so does every member (its share of the verification fee; its attestations are free). Before
    duties were free, the response (about 0.023 XPL) and each member's two attestations (about
    0.005 XPL) cost more than the job paid them."""
    start = Ledger(chain, WORKER.public, *(v.public for v in VALIDATORS))
    job_id = least_payment_job(chain)
    members = drawn(chain, job_id)
    chain.run_check(job_id, 0, [(m, "honest") for m in members])
    chain.advance_to(chain.job(job_id).committed_at + chain.compute_params().dispute_window + 1)
    assert chain.job(job_id).state == "settled"
    worker = start.change(WORKER.public)
    gains = []
    for member in members:
        rewards = chain.rewards.get(member, 0) - start.rewards.get(member, 0)
        gains.append(start.change(member) - rewards)  # the fees it paid counted
    print(
        f"\n[duties] least-payment job: worker {worker / UNIT:+.4f} XPL, members "
        f"{[round(g / UNIT, 6) for g in gains]} XPL"
    )
    assert worker > 0, f"the worker lost {-worker}"
    for member, gain in zip(members, gains, strict=True):
        assert gain > 0, f"member lost {-gain}"
        assert chain.fees_since(start.fees, member) == 0


def test_a_failed_duty_call_pays_its_fee_in_full(chain: MarketChain) -> None:
    """A stranger's attestation or response, and a member's second attestation, fail and pay
    their whole fee; the member's first is free."""
    job_id = least_payment_job(chain)
    members = drawn(chain, job_id)
    truth = chain.truth(job_id, 0)
    member = keypair_of(members[0])
    before = chain.total(OUTSIDER), chain.total(member)
    stranger = chain.call(*_flat(chain.commitment(OUTSIDER, job_id, 0, truth)))
    first = chain.call(*_flat(chain.commitment(member, job_id, 0, truth)))
    again = chain.call(*_flat(chain.commitment(member, job_id, 0, truth)))
    assert stranger.error == "NotInCommittee" and again.error == "AlreadyAttested"
    assert first.error is None and first.fee == 0
    assert stranger.fee > transaction_payment.BASE_FEE and again.fee > transaction_payment.BASE_FEE
    assert chain.total(OUTSIDER) == before[0] - stranger.fee
    assert chain.total(member) == before[1] - again.fee
    chain.advance_to(chain.checks(job_id)[0].commit_deadline)
    respond = chain.calls(chain.response(job_id, 0), chain.response(job_id, 0))
    impostor = chain.call(*_flat(chain.response(job_id, 0, who=OUTSIDER)))
    assert respond[0].error is None and respond[0].fee == 0
    assert respond[1].error == "AlreadyResponded" and respond[1].fee > 0
    assert impostor.error == "NotMatchedWorker" and impostor.fee > 0


def _flat(
    made: tuple[object, str, str, tuple[object, ...]],
) -> tuple[object, ...]:
    keypair, pallet, name, args = made
    return (keypair, pallet, name, *args)


@cache
def _drawn_chain() -> tuple[MarketChain, int, tuple[bytes, ...]]:
    made = market_chain()
    made.register(WORKER, capacity=16, prices=(LEAST_PRICE,))
    job_id = least_payment_job(made)
    return made, job_id, drawn(made, job_id)


_SIGNERS = st.sampled_from(("member0", "member1", "member2", "worker", "outsider"))
_TX = st.tuples(_SIGNERS, st.sampled_from(DUTIES), st.sampled_from((0, 0, 10**6, 10**9)))


@given(commit_block=st.lists(_TX, max_size=6), reveal_block=st.lists(_TX, max_size=6))
@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_refunds_keep_every_fee_and_the_issuance_exact(
    commit_block: list[tuple[str, str, int]], reveal_block: list[tuple[str, str, int]]
) -> None:
    """Duty calls by anyone, with tips, in the commit and the reveal phase: a successful one
    pays exactly its tip, a failed one more than the base fee; each signer loses exactly what
    its TransactionFeePaid events say; the treasury gets exactly its share of the fees actually
    paid; and the balances add up to the total issuance after every block."""
    template, job_id, members = _drawn_chain()
    chain = copy.deepcopy(template)
    signers = {f"member{i}": keypair_of(m) for i, m in enumerate(members)}
    signers |= {"worker": WORKER, "outsider": OUTSIDER}
    truth = chain.truth(job_id, 0)
    check = chain.checks(job_id)[0]
    for block in (commit_block, reveal_block):
        txs, nonces = [], {}
        for name, duty, tip in block:
            who = signers[name]
            made = {
                "attest_commit": lambda w=who: chain.commitment(w, job_id, 0, truth),
                "attest_reveal": lambda w=who: chain.reveal(w, job_id, 0, truth),
                "respond": lambda w=who: chain.response(job_id, 0, who=w),
            }[duty]()
            nonce = nonces.get(who.public, chain.nonce(who.public))
            nonces[who.public] = nonce + 1
            call = make_call(made[1], made[2], *made[3])
            txs.append(chain.sign(who, call, nonce=nonce, tip=tip))
        before = {k.public: chain.total(k) for k in signers.values()}
        treasury = chain.total(TREASURY)
        _, result = chain.produce(txs)
        paid: dict[bytes, int] = {}
        for index, (_, _, tip) in enumerate(block):
            out = outcome_of(result, index)
            assert out.fee == tip if out.error is None else out.fee > transaction_payment.BASE_FEE
            signer = txs[index].signer
            paid[signer] = paid.get(signer, 0) + out.fee
        for account, total in before.items():
            assert chain.total(account) == total - paid.get(account, 0)
        fees = sum(
            r.args[1] - r.args[2]
            for r in records(result)
            if r.event is transaction_payment.TransactionFeePaid
        )
        share = fees - fees * transaction_payment.AUTHOR_FEE_PERCENT // 100
        assert chain.total(TREASURY) - treasury == share
        assert chain.problems() == []
        if chain.head.number < check.commit_deadline:
            chain.advance_to(check.commit_deadline)
