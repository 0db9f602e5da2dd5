"""Compute's disputes: the fraud bond, the committee drawn after the dispute, the limits on
checks, and what a dispute that passes, fails or stays inconclusive does with the bond, the
slash and the settlement. The jobs and figures are those of `test_compute`."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest

from runtime.accounts import TREASURY
from runtime.pallets import compute
from runtime.pallets.compute import DRAW_DELAY, fraud_bond_for
from runtime.pallets.market import PPM
from runtime.primitives.hashing import blake2b_256
from tests.runtime.pallets.market_helpers import (
    CHALLENGER,
    GEMM_LEAVES,
    LEAF_HASHES,
    OUTSIDER,
    REQUESTER,
    REQUESTER2,
    WORKER,
    MarketChain,
    hook_events,
    market_chain,
)
from tests.runtime.pallets.test_compute import (
    BOND,
    CHUCK,
    CP,
    ESCROW,
    PENALTY,
    SLASH,
    VERIFICATION_FEE,
    WINDOW,
    R,
    W,
    chain,
    commit_job,
    committee,
    draw,
    draw_committee_of,
    run,
    settle,
    stakes,
)

__all__ = ["chain"]


# Disputes


def passed_audit(chain: MarketChain, bad: tuple[int, ...] = ()) -> int:
    """A committed job whose audit (check 0) passed (leaves `bad` wrong, but none drawn)."""
    params = chain.compute_params()
    job_id = commit_job(chain, bad=bad)
    draw(chain, job_id)
    if bad:
        assert not set(bad) & set(chain.checks(job_id)[0].leaves), params
    run(chain, job_id, 0, "honest", "honest", "honest")
    assert chain.checks(job_id)[0].outcome == "pass"
    return job_id


@pytest.fixture
def few() -> Iterator[MarketChain]:
    """A chain whose audits check 4 of the 10 leaves, so that a wrong leaf can pass one."""
    made = market_chain(compute_params=replace(CP, audit_leaves=4))
    made.register(WORKER, capacity=16)
    yield made
    assert made.problems() == []


def audit_missing(chain: MarketChain, leaf: int) -> int:
    """A committed job with `leaf` wrong whose audit passed (it did not draw that leaf)."""
    while True:
        job_id = commit_job(chain, bad=(leaf,))
        draw(chain, job_id)
        passes = leaf not in chain.checks(job_id)[0].leaves
        run(chain, job_id, 0, "honest", "honest", "honest")
        if passes:
            assert chain.checks(job_id)[0].outcome == "pass"
            return job_id


def test_a_dispute_holds_the_bond_and_draws_its_committee_later(chain: MarketChain) -> None:
    job_id = passed_audit(chain)
    before = chain.balance(CHALLENGER)
    out = chain.dispute(CHALLENGER, job_id, 9)
    number = chain.head.number
    assert out.error is None
    assert out.events == [
        ("Held", (CHUCK, "bond", BOND)),
        ("DisputeOpened", (job_id, 1, CHUCK, 9, number + DRAW_DELAY)),
    ]
    assert chain.balance(CHALLENGER) == before - out.fee - BOND
    assert chain.held(CHALLENGER, "bond") == BOND
    check = chain.checks(job_id)[1]
    assert (check.kind, check.leaves, check.committee, check.challenger, check.bond) == (
        "dispute",
        (9,),
        (),
        CHUCK,
        BOND,
    )
    result = chain.advance_to(number + DRAW_DELAY)
    # Drawn from the randomness of the block it is drawn in: unknown at the dispute.
    seed = blake2b_256(
        b"xpl-compute"
        + b"check"
        + (1).to_bytes(4, "big")
        + chain.randomness_of(number + DRAW_DELAY)
        + job_id.to_bytes(8, "big")
    )
    members = draw_committee_of(seed)
    check = chain.checks(job_id)[1]
    assert check.committee == members
    d = number + DRAW_DELAY
    assert hook_events(result, "compute") == [
        (
            "ChallengeDrawn",
            (job_id, 1, True, [9], list(members), d + CP.commit_window, check.reveal_deadline),
        )
    ]


def test_the_fraud_bond_grows_with_the_recheck_cost() -> None:
    assert fraud_bond_for(CP, VERIFICATION_FEE) == CP.fraud_bond  # small jobs: the minimum
    fee = 10**13
    recheck = CP.committee_size * CP.max_rounds * fee // CP.audit_leaves
    assert fraud_bond_for(CP, fee) == compute.DISPUTE_BOND_FACTOR * recheck > CP.fraud_bond


def test_dispute_refusals(chain: MarketChain) -> None:
    job_id = passed_audit(chain)
    committed_at = chain.job(job_id).committed_at
    assert chain.dispute(CHALLENGER, job_id, GEMM_LEAVES).error == "BadLeaf"
    assert chain.dispute(CHALLENGER, 99, 0).error == "NotCommitted"
    chain.submit(REQUESTER2, deadline=50)
    assert chain.dispute(CHALLENGER, job_id + 1, 0).error == "NotCommitted"  # only matched
    # The last block of the window still takes a dispute; it keeps the job open past the end.
    chain.advance_to(committed_at + WINDOW - 2)
    assert chain.dispute(CHALLENGER, job_id, 1).error is None
    assert chain.head.number == committed_at + WINDOW - 1
    out = chain.dispute(CHALLENGER, job_id, 2)
    assert out.error == "DisputeWindowClosed"
    assert chain.job(job_id).state == "committed"
    assert chain.held(CHALLENGER, "bond") == BOND


def test_a_job_takes_at_most_four_checks_besides_the_requesters_two(chain: MarketChain) -> None:
    job_id = commit_job(chain)
    draw(chain, job_id)  # check 0: the audit
    for leaf in range(3):
        assert chain.dispute(CHALLENGER, job_id, leaf).error is None
    out = chain.dispute(CHALLENGER, job_id, 3)
    assert out.error == "TooManyChecks" and out.events == []
    assert chain.held(CHALLENGER, "bond") == 3 * BOND
    # Others cannot shut the requester out: it keeps two disputes of its own.
    assert chain.job(job_id).requester == REQUESTER.public
    for leaf in (4, 5):
        assert chain.dispute(REQUESTER, job_id, leaf).error is None
    assert chain.dispute(REQUESTER, job_id, 6).error == "TooManyChecks"
    assert len(chain.checks(job_id)) == 6


def open_dispute(chain: MarketChain, job_id: int, leaf: int, who: Any = CHALLENGER) -> int:
    """Dispute `leaf` and author blocks to its draw; the check's index."""
    assert chain.dispute(who, job_id, leaf).error is None
    index = len(chain.checks(job_id)) - 1
    chain.advance_to(chain.checks(job_id)[index].draw_at)
    assert chain.checks(job_id)[index].drawn
    return index


def test_a_dispute_the_worker_passes_costs_the_challenger_its_bond(chain: MarketChain) -> None:
    job_id = passed_audit(chain)
    index = open_dispute(chain, job_id, 4)
    members = committee(chain, job_id, index)
    before = {who: chain.total(who) for who in (W, CHUCK, *members)}
    fees = dict(chain.fees)
    events = run(chain, job_id, index, "honest", "honest", "honest")
    share = BOND // 2 // 3
    assert events == [
        ("CheckDecided", (job_id, index, "pass")),
        ("Slashed", (CHUCK, "bond", BOND)),
        *[("Deposited", (m, share)) for m in members],
        ("Deposited", (W, BOND - 3 * share)),
    ]
    after = {who: chain.total(who) for who in before}
    assert after[CHUCK] == before[CHUCK] - BOND and chain.held(CHALLENGER, "bond") == 0
    assert after[W] == before[W] + BOND - 3 * share - chain.fees_since(fees, W)
    assert all(after[m] == before[m] + share - chain.fees_since(fees, m) for m in members)
    # The job still settles; both committees share the verification fee.
    events = settle(chain, job_id)
    verifiers = list(dict.fromkeys([*committee(chain, job_id, 0), *members]))
    assert events[-1][1][3] == VERIFICATION_FEE // len(verifiers) * len(verifiers)
    transfers = [args[1] for name, args in events if name == "Transfer"]
    assert transfers == [W, TREASURY, *verifiers]


def test_a_dispute_that_fails_the_worker_returns_the_bond_and_rewards(few: MarketChain) -> None:
    chain = few
    job_id = audit_missing(chain, 4)
    index = open_dispute(chain, job_id, 4)
    members = committee(chain, job_id, index)
    audit_members = committee(chain, job_id, 0)
    before = {who: chain.total(who) for who in (W, R, CHUCK, TREASURY)}
    stake_before = stakes(chain, audit_members)
    worker_stake = chain.held(WORKER, "stake")
    treasury_fees = chain.treasury_fees
    events = run(chain, job_id, index, "honest", "honest", "honest")
    reward = SLASH * CP.challenger_share_ppm // PPM
    share = VERIFICATION_FEE // 3
    assert events[0] == ("CheckDecided", (job_id, index, "fail"))
    # The audit did not check the leaf this dispute failed: its members keep their stake.
    assert [name for name, _ in events if name == "MemberPenalized"] == []
    assert stakes(chain, audit_members) == stake_before
    bond = fraud_bond_for(chain.compute_params(), VERIFICATION_FEE)
    assert ("Released", (CHUCK, "bond", bond)) in events
    assert ("Deposited", (CHUCK, reward)) in events
    assert events[-1] == ("JobFailed", (job_id, W, SLASH, ESCROW - 3 * share))
    after = {who: chain.total(who) for who in before}
    assert after[CHUCK] == before[CHUCK] + reward and chain.held(CHALLENGER, "bond") == 0
    assert after[R] == before[R] - 3 * share
    treasury_fees = chain.treasury_fees - treasury_fees
    assert after[TREASURY] == before[TREASURY] + SLASH - reward + treasury_fees
    assert chain.held(WORKER, "stake") == worker_stake - SLASH
    assert chain.job(job_id).state == "failed"
    assert all(chain.total(m) >= 0 for m in members)


def test_a_failed_check_ends_the_open_checks_and_returns_their_bonds(chain: MarketChain) -> None:
    job_id = commit_job(chain, bad=tuple(range(GEMM_LEAVES)))
    draw(chain, job_id)  # check 0: the audit
    assert chain.dispute(CHALLENGER, job_id, 0).error is None  # check 1, drawn later
    chain.advance_to(chain.checks(job_id)[1].draw_at)
    assert chain.dispute(OUTSIDER, job_id, 1).error is None  # check 2, drawn later still
    assert [c.drawn for c in chain.checks(job_id)] == [True, True, False]
    run(chain, job_id, 0, "honest", "honest", "honest")
    outcomes = [c.outcome for c in chain.checks(job_id)]
    assert outcomes == ["fail", "void", "void"]
    assert chain.held(CHALLENGER, "bond") == 0 and chain.held(OUTSIDER, "bond") == 0
    assert chain.job(job_id).state == "failed"
    member = committee(chain, job_id, 1)[0]
    assert chain.attest_commit(member, job_id, 1, LEAF_HASHES).error == "NotCommitted"


def test_an_inconclusive_dispute_keeps_the_bond(chain: MarketChain) -> None:
    job_id = passed_audit(chain)
    index = open_dispute(chain, job_id, 4)
    before = {who: chain.total(who) for who in (CHUCK, TREASURY)}
    treasury_fees = chain.treasury_fees
    events = run(chain, job_id, index, "honest", "silent", "unavailable")
    assert events[0] == ("CheckDecided", (job_id, index, "inconclusive"))
    assert ("Slashed", (CHUCK, "bond", BOND)) in events
    after = {who: chain.total(who) for who in before}
    assert after[CHUCK] == before[CHUCK] - BOND and chain.held(CHALLENGER, "bond") == 0
    assert after[TREASURY] == before[TREASURY] + BOND + PENALTY + (
        chain.treasury_fees - treasury_fees
    )
    fresh = chain.checks(job_id)[index + 1]
    assert (fresh.kind, fresh.leaves, fresh.challenger, fresh.bond, fresh.round) == (
        "dispute",
        (4,),
        CHUCK,
        0,
        1,
    )


def test_settlement_waits_for_a_dispute_open_at_the_window_end(chain: MarketChain) -> None:
    job_id = passed_audit(chain)
    committed_at = chain.job(job_id).committed_at
    chain.advance_to(committed_at + WINDOW - 2)
    index = open_dispute(chain, job_id, 4)
    check = chain.checks(job_id)[index]
    assert chain.head.number >= committed_at + WINDOW  # the window ended while it was drawn
    assert chain.job(job_id).state == "committed"
    events = run(chain, job_id, index, "honest", "honest", "honest")
    names = [name for name, _ in events]
    assert names[0] == "CheckDecided" and names[-1] == "JobSettled"
    assert chain.head.number == check.reveal_deadline + 1
