"""Compute: commitments, audit draws, committees and attestations, disputes, verdicts,
settlement and the verification parameters.

Jobs are GEMM jobs of 10^9 cost units matched to Wendy at one unit per 10^9 units: the payment is
one unit, the slash three, the protocol fee 2% and the verification fee 5% of the payment. With
the default parameters a commitment in block c is drawn for audit in block c + 2, the audit's
committee has until block c + 12, and the job settles in block c + 20 (the end of the dispute
window) unless a check fails it first.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest

from chain.client.chain import transfer_call
from runtime import api
from runtime.accounts import TREASURY
from runtime.pallets import staking
from runtime.pallets.balances import EXISTENTIAL_DEPOSIT as ED
from runtime.pallets.compute import (
    DEFAULT_COMPUTE_PARAMS,
    DRAW_DELAY,
    check_incentives,
    draw_leaves,
)
from runtime.pallets.market import DEFAULT_MARKET_PARAMS, PPM
from runtime.primitives.hashing import blake2b_256
from tests.runtime.pallets.market_helpers import (
    CHALLENGER,
    DAVE,
    GEMM_LEAVES,
    OUTSIDER,
    REQUESTER,
    REQUESTER2,
    STAKE,
    UNIT,
    VALIDATOR_BOND,
    VALIDATORS,
    WORKER,
    Event,
    MarketChain,
    escrow_for,
    hook_events,
    market_chain,
    treasury_fee_share,
)

CP = DEFAULT_COMPUTE_PARAMS
MP = DEFAULT_MARKET_PARAMS
W, R, CHUCK = WORKER.public, REQUESTER.public, CHALLENGER.public
ESCROW = escrow_for(2 * UNIT)
PAYMENT = UNIT
PROTOCOL_FEE = 20_000_000_000
VERIFICATION_FEE = 50_000_000_000
SLASH = 3 * UNIT
BOND = CP.fraud_bond
WINDOW = CP.dispute_window


@pytest.fixture
def chain() -> Iterator[MarketChain]:
    made = market_chain()
    made.register(WORKER, capacity=8)
    yield made
    assert made.problems() == []


def commit_job(chain: MarketChain, who: Any = REQUESTER, mode: str = "always") -> int:
    """Submit a job that Wendy takes and commits at once; its id."""
    out = chain.submit(who, mode=mode, deadline=10, wait=10)
    job_id = out.events[1][1][0]
    assert chain.job(job_id).worker == W
    assert chain.commit(WORKER, job_id).error is None
    return int(job_id)


def audit_seed(chain: MarketChain, job_id: int) -> bytes:
    """The audit's randomness: the chain randomness of the draw block, with the job."""
    drawn_in = chain.headers[chain.job(job_id).committed_at + DRAW_DELAY].hash
    return blake2b_256(
        b"xpl-compute" + b"audit" + chain.randomness[drawn_in] + job_id.to_bytes(8, "big")
    )


def draw(chain: MarketChain, job_id: int) -> tuple[Any, ...]:
    """Author blocks up to the job's audit draw; the ChallengeDrawn event's fields."""
    committed_at = chain.job(job_id).committed_at
    assert chain.head.number < committed_at + DRAW_DELAY
    result = chain.advance_to(committed_at + DRAW_DELAY)
    (drawn,) = [args for name, args in hook_events(result, "compute") if args[0] == job_id]
    return drawn


def committee(chain: MarketChain, job_id: int, check: int = 0) -> tuple[bytes, ...]:
    return chain.checks(job_id)[check].committee


def vote(chain: MarketChain, job_id: int, check: int, verdicts: list[str]) -> list[Event]:
    """The committee attests in order, one block each; the last attestation's events."""
    members = committee(chain, job_id, check)
    events: list[Event] = []
    for member, verdict in zip(members, verdicts, strict=False):
        out = chain.attest(member, job_id, check, verdict)
        assert out.error is None
        events = out.events
    return events


def settle(chain: MarketChain, job_id: int) -> list[Event]:
    """Author blocks to the end of the job's dispute window; that block's hook events."""
    return hook_events(chain.advance_to(chain.job(job_id).committed_at + WINDOW))


# The draw


def test_the_audit_is_drawn_two_blocks_after_the_commitment(chain: MarketChain) -> None:
    job_id = commit_job(chain)
    committed_at = chain.head.number
    assert hook_events(chain.advance()[0], "compute") == []
    drawn = draw(chain, job_id)
    seed = audit_seed(chain, job_id)
    members = draw_committee_of(seed)
    deadline = committed_at + DRAW_DELAY + CP.audit_window
    assert drawn == (job_id, 0, True, list(range(GEMM_LEAVES)), list(members), deadline)
    assert len(set(members)) == CP.committee_size
    assert set(members) <= {v.public for v in VALIDATORS}
    (check,) = chain.checks(job_id)
    assert (check.kind, check.leaves, check.committee) == ("audit", tuple(range(10)), members)
    assert (check.votes, check.outcome, check.challenger) == ((), "", None)


def draw_committee_of(seed: bytes) -> tuple[bytes, ...]:
    """The committee the rule draws from the four equally bonded validators (in genesis order)."""
    remaining = [v.public for v in VALIDATORS]
    chosen = []
    for i in range(CP.committee_size):
        digest = blake2b_256(seed + b"committee" + i.to_bytes(4, "big"))
        point = int.from_bytes(digest, "big") % (len(remaining) * VALIDATOR_BOND)
        chosen.append(remaining.pop(point // VALIDATOR_BOND))
    return tuple(chosen)


def test_an_audit_names_k_distinct_leaves_in_range() -> None:
    chain = market_chain(compute_params=replace(CP, audit_leaves=4))
    chain.register(WORKER, capacity=8)
    for _ in range(3):
        job_id = commit_job(chain)
        drawn = draw(chain, job_id)
        leaves = drawn[3]
        assert len(leaves) == 4 == len(set(leaves))
        assert all(0 <= leaf < GEMM_LEAVES for leaf in leaves)
        assert tuple(leaves) == draw_leaves(audit_seed(chain, job_id), 4, GEMM_LEAVES)
    assert chain.problems() == []


def test_drawn_leaves_follow_the_seed() -> None:
    seed = blake2b_256(b"seed")
    assert draw_leaves(seed, 16, 10) == tuple(range(10))
    assert draw_leaves(seed, 3, 1000) == draw_leaves(seed, 3, 1000)
    assert draw_leaves(seed, 3, 1000) != draw_leaves(blake2b_256(b"other"), 3, 1000)
    assert sorted(draw_leaves(seed, 999, 1000)) == sorted(set(draw_leaves(seed, 999, 1000)))


def test_sampled_jobs_are_audited_with_probability_q(chain: MarketChain) -> None:
    seen = set()
    for _ in range(12):
        job_id = commit_job(chain, mode="sampled")
        drawn = draw(chain, job_id)
        roll = int.from_bytes(audit_seed(chain, job_id)[:8], "big") % PPM
        audited = roll < CP.audit_ppm
        assert drawn[2] is audited
        if not audited:
            assert drawn == (job_id, 0, False, [], [], 0) and chain.checks(job_id) == ()
        seen.add(audited)
    assert seen == {True, False}


def test_an_unaudited_job_settles_with_the_verification_fee_refunded(chain: MarketChain) -> None:
    while True:
        job_id = commit_job(chain, mode="sampled")
        if not draw(chain, job_id)[2]:
            break
    chain.advance_to(chain.job(job_id).committed_at + WINDOW - 1)
    before = chain.balance(REQUESTER)
    refund = ESCROW - PAYMENT - PROTOCOL_FEE
    assert settle(chain, job_id) == [
        ("Transfer", (R, W, PAYMENT)),
        ("Transfer", (R, TREASURY, PROTOCOL_FEE)),
        ("Released", (R, "escrow", refund)),
        ("JobSettled", (job_id, W, PAYMENT, 0, PROTOCOL_FEE, refund)),
    ]
    assert chain.balance(REQUESTER) == before + refund


# Attesting


def test_each_attestation_earns_its_validator_an_era_point(chain: MarketChain) -> None:
    job_id = commit_job(chain)
    draw(chain, job_id)
    members = committee(chain, job_id)
    before = {m: _points(chain, m) for m in members}
    assert chain.attest(members[0], job_id, 0, "pass").error is None
    assert _points(chain, members[0]) == before[members[0]] + staking.ATTESTATION_POINTS
    assert _points(chain, members[1]) == before[members[1]]  # Ferdie authors: no block points


def _points(chain: MarketChain, validator: bytes) -> int:
    activity = staking.EraActivity.get(chain.overlay(), validator)
    return 0 if activity is None else activity.points


def test_attest_refusals(chain: MarketChain) -> None:
    job_id = commit_job(chain)
    member = VALIDATORS[0]
    assert chain.attest(member, job_id, 0, "pass").error == "UnknownCheck"  # not drawn yet
    draw(chain, job_id)
    assert chain.attest(member, 99, 0, "pass").error == "NotCommitted"
    members = committee(chain, job_id)
    (outside,) = [v for v in VALIDATORS if v.public not in members]
    assert chain.attest(OUTSIDER, job_id, 0, "pass").error == "NotInCommittee"
    assert chain.attest(outside, job_id, 0, "pass").error == "NotInCommittee"
    assert chain.attest(members[0], job_id, 0, "maybe").error == "BadVerdict"
    assert chain.attest(members[0], job_id, 1, "pass").error == "UnknownCheck"
    assert chain.attest(members[0], job_id, 0, "pass").error is None
    assert chain.attest(members[0], job_id, 0, "fail").error == "AlreadyAttested"
    assert chain.checks(job_id)[0].votes == ((members[0], "pass"),)
    vote_rest = [chain.attest(m, job_id, 0, "pass") for m in members[1:]]
    assert [o.error for o in vote_rest] == [None, None]
    assert chain.attest(members[0], job_id, 0, "pass").error == "UnknownCheck"  # decided


def test_a_passed_audit_pays_the_worker_treasury_and_verifiers_once(chain: MarketChain) -> None:
    job_id = commit_job(chain)
    committed_at = chain.head.number
    draw(chain, job_id)
    members = committee(chain, job_id)
    events = vote(chain, job_id, 0, ["pass", "pass"])
    assert events == [("Attested", (job_id, 0, members[1], "pass"))]  # 2 of 3: not decided
    events = vote_last(chain, job_id, 0, members[2], "pass")
    assert events == [
        ("Attested", (job_id, 0, members[2], "pass")),
        ("CheckDecided", (job_id, 0, "pass")),
    ]
    assert chain.job(job_id).state == "committed"  # payment waits for the dispute window
    chain.advance_to(committed_at + WINDOW - 1)
    assert chain.job(job_id).state == "committed"
    before = {who: chain.balance(who) for who in (W, R, TREASURY, *members)}
    share = VERIFICATION_FEE // 3
    refund = ESCROW - PAYMENT - PROTOCOL_FEE - 3 * share
    assert settle(chain, job_id) == [
        ("Transfer", (R, W, PAYMENT)),
        ("Transfer", (R, TREASURY, PROTOCOL_FEE)),
        *[("Transfer", (R, m, share)) for m in members],
        ("Released", (R, "escrow", refund)),
        ("JobSettled", (job_id, W, PAYMENT, 3 * share, PROTOCOL_FEE, refund)),
    ]
    after = {who: chain.balance(who) for who in before}
    assert after[W] == before[W] + PAYMENT
    assert after[TREASURY] == before[TREASURY] + PROTOCOL_FEE
    assert all(after[m] == before[m] + share for m in members)
    assert after[R] == before[R] + refund and chain.held(REQUESTER, "escrow") == 0
    worker = chain.worker(WORKER)
    assert worker is not None
    assert (worker.stake, worker.bonded, worker.active, worker.reputation) == (STAKE, 0, 0, 1)
    assert chain.job(job_id).state == "settled"
    # Exactly once: nothing more happens to it, and no check or dispute can reopen it.
    for result in chain.advance(WINDOW):
        assert hook_events(result) == []
    assert chain.attest(members[0], job_id, 0, "pass").error == "NotCommitted"
    assert chain.dispute(CHALLENGER, job_id, 0).error == "NotCommitted"


def vote_last(chain: MarketChain, job_id: int, check: int, member: bytes, v: str) -> list[Event]:
    out = chain.attest(member, job_id, check, v)
    assert out.error is None
    return out.events


@pytest.mark.parametrize(
    "verdicts",
    [
        pytest.param(["fail", "fail", "fail"], id="fail"),
        pytest.param(["fail", "unavailable", "unavailable"], id="unavailable-counts-as-fail"),
    ],
)
def test_a_failed_audit_slashes_the_worker_and_refunds_the_requester(
    chain: MarketChain, verdicts: list[str]
) -> None:
    job_id = commit_job(chain)
    draw(chain, job_id)
    members = committee(chain, job_id)
    vote(chain, job_id, 0, verdicts[:2])
    assert chain.job(job_id).state == "committed"
    before = {who: chain.balance(who) for who in (W, R, TREASURY, *members)}
    out = chain.attest(members[2], job_id, 0, verdicts[2])
    reward = SLASH // 2 // 3
    assert out.events == [
        ("Attested", (job_id, 0, members[2], verdicts[2])),
        ("CheckDecided", (job_id, 0, "fail")),
        ("Slashed", (W, "stake", SLASH)),
        *[("Deposited", (m, reward)) for m in members],
        ("Deposited", (TREASURY, SLASH - 3 * reward)),
        ("Released", (R, "escrow", ESCROW)),
        ("JobFailed", (job_id, W, SLASH, ESCROW)),
    ]
    after = {who: chain.balance(who) for who in before}
    assert after[R] == before[R] + ESCROW and chain.held(REQUESTER, "escrow") == 0
    assert after[members[2]] == before[members[2]] + reward - out.fee
    assert all(after[m] == before[m] + reward for m in members[:2])
    fee_share = treasury_fee_share(out.block)
    assert fee_share == out.fee - out.fee * 20 // 100
    assert after[TREASURY] == before[TREASURY] + SLASH - 3 * reward + fee_share
    assert after[W] == before[W]
    assert chain.held(WORKER, "stake") == STAKE - SLASH
    worker = chain.worker(WORKER)
    assert worker is not None
    assert (worker.stake, worker.bonded, worker.active, worker.reputation) == (
        STAKE - SLASH,
        0,
        0,
        -10,
    )
    assert chain.job(job_id).state == "failed"
    # The window's end passes without a second verdict or a payment.
    assert settle(chain, job_id) == []
    assert chain.job(job_id).state == "failed"


@pytest.mark.parametrize(
    ("verdicts", "verifiers"),
    [
        pytest.param([], 0, id="no-vote"),
        pytest.param(["pass", "pass"], 2, id="two-of-three"),
        pytest.param(["pass", "fail", "pass"], 2, id="split"),
        pytest.param(["fail", "fail", "pass"], 1, id="split-against"),
    ],
)
def test_an_audit_without_a_two_thirds_verdict_is_inconclusive(
    chain: MarketChain, verdicts: list[str], verifiers: int
) -> None:
    job_id = commit_job(chain)
    committed_at = chain.head.number
    draw(chain, job_id)
    members = committee(chain, job_id)
    vote(chain, job_id, 0, verdicts)
    result = chain.advance_to(committed_at + DRAW_DELAY + CP.audit_window)
    assert hook_events(result) == []  # the deadline block itself still counts
    result = chain.advance()[0]
    assert hook_events(result) == [("CheckDecided", (job_id, 0, "inconclusive"))]
    assert chain.job(job_id).state == "committed"  # nobody is convicted
    paid = [m for m, v in zip(members, verdicts, strict=False) if v == "pass"]
    assert len(paid) == verifiers
    share = VERIFICATION_FEE // verifiers if verifiers else 0
    refund = ESCROW - PAYMENT - PROTOCOL_FEE - share * verifiers
    events = settle(chain, job_id)
    assert events[-1] == (
        "JobSettled",
        (job_id, W, PAYMENT, share * verifiers, PROTOCOL_FEE, refund),
    )
    assert [args[1] for name, args in events if name == "Transfer"][2:] == paid


# Disputes


def passed_audit(chain: MarketChain) -> int:
    """A committed job whose audit (check 0) passed."""
    job_id = commit_job(chain)
    draw(chain, job_id)
    vote(chain, job_id, 0, ["pass"] * 3)
    assert chain.checks(job_id)[0].outcome == "pass"
    return job_id


def test_a_dispute_holds_the_bond_and_draws_a_committee(chain: MarketChain) -> None:
    job_id = passed_audit(chain)
    before = chain.balance(CHALLENGER)
    out = chain.dispute(CHALLENGER, job_id, 9)
    number = chain.head.number
    seed = blake2b_256(
        b"xpl-compute"
        + b"dispute"
        + chain.randomness[chain.headers[number].hash]
        + job_id.to_bytes(8, "big")
    )
    members = draw_committee_of(seed)
    assert out.error is None
    assert out.events == [
        ("Held", (CHUCK, "bond", BOND)),
        ("DisputeOpened", (job_id, 1, CHUCK, 9, list(members), number + CP.audit_window)),
    ]
    assert chain.balance(CHALLENGER) == before - out.fee - BOND
    assert chain.held(CHALLENGER, "bond") == BOND
    check = chain.checks(job_id)[1]
    assert (check.kind, check.leaves, check.committee, check.challenger, check.bond) == (
        "dispute",
        (9,),
        members,
        CHUCK,
        BOND,
    )


def test_dispute_refusals(chain: MarketChain) -> None:
    job_id = commit_job(chain)
    committed_at = chain.head.number
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


def test_a_dispute_the_worker_passes_costs_the_challenger_its_bond(chain: MarketChain) -> None:
    job_id = passed_audit(chain)
    chain.dispute(CHALLENGER, job_id, 4)
    members = committee(chain, job_id, 1)
    vote(chain, job_id, 1, ["pass", "pass"])
    before = {who: chain.balance(who) for who in (W, CHUCK, *members)}
    out = chain.attest(members[2], job_id, 1, "pass")
    share = BOND // 2 // 3
    assert out.events == [
        ("Attested", (job_id, 1, members[2], "pass")),
        ("CheckDecided", (job_id, 1, "pass")),
        ("Slashed", (CHUCK, "bond", BOND)),
        *[("Deposited", (m, share)) for m in members],
        ("Deposited", (W, BOND - 3 * share)),
    ]
    after = {who: chain.balance(who) for who in before}
    assert after[CHUCK] == before[CHUCK] and chain.held(CHALLENGER, "bond") == 0
    assert after[W] == before[W] + BOND - 3 * share
    assert after[members[2]] == before[members[2]] + share - out.fee
    assert all(after[m] == before[m] + share for m in members[:2])
    # The job still settles; only the audit's committee shares the verification fee.
    events = settle(chain, job_id)
    audit_members = committee(chain, job_id, 0)
    assert events[-1][1][3] == VERIFICATION_FEE // 3 * 3
    transfers = [args[1] for name, args in events if name == "Transfer"]
    assert transfers == [W, TREASURY, *audit_members]


def test_a_dispute_that_fails_the_worker_returns_the_bond_and_rewards(chain: MarketChain) -> None:
    job_id = passed_audit(chain)
    chain.dispute(CHALLENGER, job_id, 4)
    members = committee(chain, job_id, 1)
    vote(chain, job_id, 1, ["fail", "fail"])
    before = {who: chain.balance(who) for who in (W, R, CHUCK, TREASURY, *members)}
    out = chain.attest(members[2], job_id, 1, "fail")
    reward = SLASH // 2 // 4  # three members and the challenger
    assert out.events == [
        ("Attested", (job_id, 1, members[2], "fail")),
        ("CheckDecided", (job_id, 1, "fail")),
        ("Released", (CHUCK, "bond", BOND)),
        ("Slashed", (W, "stake", SLASH)),
        *[("Deposited", (m, reward)) for m in (*members, CHUCK)],
        ("Deposited", (TREASURY, SLASH - 4 * reward)),
        ("Released", (R, "escrow", ESCROW)),
        ("JobFailed", (job_id, W, SLASH, ESCROW)),
    ]
    after = {who: chain.balance(who) for who in before}
    assert after[CHUCK] == before[CHUCK] + BOND + reward and chain.held(CHALLENGER, "bond") == 0
    assert after[R] == before[R] + ESCROW
    assert chain.held(WORKER, "stake") == STAKE - SLASH
    assert chain.job(job_id).state == "failed"


def test_a_failed_dispute_ends_the_open_audit_and_returns_other_bonds(
    chain: MarketChain,
) -> None:
    job_id = commit_job(chain)
    assert chain.dispute(CHALLENGER, job_id, 0).error is None  # check 0, before the draw
    draw(chain, job_id)  # check 1: the audit
    assert chain.dispute(OUTSIDER, job_id, 1).error is None  # check 2
    vote(chain, job_id, 0, ["fail"] * 3)
    assert [c.outcome for c in chain.checks(job_id)] == ["fail", "inconclusive", "inconclusive"]
    assert chain.held(CHALLENGER, "bond") == 0 and chain.held(OUTSIDER, "bond") == 0
    assert chain.job(job_id).state == "failed"
    assert chain.attest(committee(chain, job_id, 1)[0], job_id, 1, "pass").error == "NotCommitted"


def test_an_undecided_dispute_returns_the_bond_and_the_job_settles(chain: MarketChain) -> None:
    job_id = passed_audit(chain)
    chain.dispute(CHALLENGER, job_id, 4)
    deadline = chain.checks(job_id)[1].deadline
    before = chain.balance(CHALLENGER)
    result = chain.advance_to(deadline + 1)
    assert hook_events(result) == [
        ("CheckDecided", (job_id, 1, "inconclusive")),
        ("Released", (CHUCK, "bond", BOND)),
    ]
    assert chain.balance(CHALLENGER) == before + BOND
    assert settle(chain, job_id)[-1][0] == "JobSettled"


def test_settlement_waits_for_a_dispute_open_at_the_window_end(chain: MarketChain) -> None:
    job_id = passed_audit(chain)
    committed_at = chain.job(job_id).committed_at
    chain.advance_to(committed_at + WINDOW - 2)
    chain.dispute(CHALLENGER, job_id, 4)
    deadline = chain.checks(job_id)[1].deadline
    assert settle(chain, job_id) == []
    assert chain.job(job_id).state == "committed"
    result = chain.advance_to(deadline + 1)
    names = [name for name, _ in hook_events(result)]
    assert names[:2] == ["CheckDecided", "Released"] and names[-1] == "JobSettled"


# Requesters at the edge of the existential deposit


def test_a_requester_left_with_only_its_escrow_is_paid_out_in_full() -> None:
    """The payments of a requester whose escrow is all it has reap it; they must all be made
    (they once reaped it at the first payment and then failed the block's hook)."""
    chain = market_chain()
    price = 10**10
    chain.register(WORKER, prices=[price])
    job_id = commit_job_for(chain, REQUESTER2, price)
    escrow = escrow_for(price)
    assert escrow == price + price // 50 + MP.min_verification_fee
    # Ralph moves all its free balance away: its escrow is all it has.
    probe = chain.sign(REQUESTER2, transfer_call(OUTSIDER.public, 1))
    fee = api.query_fee(chain.read, probe).partial_fee
    chain.produce(
        [chain.sign(REQUESTER2, transfer_call(OUTSIDER.public, chain.balance(REQUESTER2) - fee))]
    )
    assert chain.balance(REQUESTER2) == 0 and chain.total(REQUESTER2) == escrow
    draw(chain, job_id)
    members = committee(chain, job_id)
    vote(chain, job_id, 0, ["pass"] * 3)
    before = {who: chain.balance(who) for who in (W, TREASURY, *members)}
    issuance = chain.issuance()
    protocol_fee = price // 50
    share = MP.min_verification_fee // 3
    dust = escrow - price - protocol_fee - 3 * share
    assert dust < ED
    paid = price + protocol_fee + 3 * share
    assert settle(chain, job_id) == [
        ("Slashed", (REQUESTER2.public, "escrow", paid)),
        ("DustLost", (REQUESTER2.public, dust)),
        ("Deposited", (W, price)),
        ("Deposited", (TREASURY, protocol_fee)),
        *[("Deposited", (m, share)) for m in members],
        ("JobSettled", (job_id, W, price, 3 * share, protocol_fee, 0)),
    ]
    after = {who: chain.balance(who) for who in before}
    assert after[W] == before[W] + price
    assert after[TREASURY] == before[TREASURY] + protocol_fee
    assert all(after[m] == before[m] + share for m in members)
    assert chain.account(REQUESTER2.public) is None
    assert chain.issuance() == issuance - dust
    assert chain.job(job_id).state == "settled"
    assert chain.problems() == []


def commit_job_for(chain: MarketChain, who: Any, price: int) -> int:
    out = chain.submit(who, max_price=price, deadline=10, wait=10)
    job_id = int(out.events[1][1][0])
    assert chain.commit(WORKER, job_id).error is None
    return job_id


# Parameters


def cp_args(**changes: int) -> tuple[int, ...]:
    """`compute.set_params`'s arguments: the default parameters with `changes`."""
    params = replace(CP, **changes)
    return tuple(getattr(params, f.name) for f in params.schema().fields)


def test_set_params_needs_root(chain: MarketChain) -> None:
    out = chain.call(
        DAVE,
        "compute",
        "set_params",
        *cp_args(
            audit_ppm=500_000,
            audit_leaves=8,
            committee_size=3,
            audit_window=10,
            dispute_window=20,
            fraud_bond=UNIT,
        ),
    )
    assert out.error == "BadOrigin"
    assert chain.compute_params() == CP


def least_audit_ppm(committee_size: int, audit_leaves: int) -> int:
    """The least q (ppm) the guard should take at the default slash, collusion, challenger share
    and margin, from its formula evaluated here in floats (a check of the exact integer one)."""
    alpha = CP.collusion_ppm / PPM
    p_conv = sum(
        math.comb(committee_size, h) * (1 - alpha) ** h * alpha ** (committee_size - h)
        for h in range(committee_size // 2 + 1, committee_size + 1)
    )
    worst = 1 - (1 / 3) ** audit_leaves  # sgd's dependency factor 3/2: f = 2/3
    m_eff = MP.slash_ppm / PPM * (1 - CP.challenger_share_ppm / PPM)
    return math.ceil(PPM * (1 + CP.margin_ppm / PPM) / (p_conv * worst * (1 + m_eff)))


def test_set_params_takes_parameters_that_keep_cheating_unprofitable(chain: MarketChain) -> None:
    # Slash 3x the payment, committee of 5, 8 leaves: the guard needs q·P_conv·worst·3.25 ≥ 1.25.
    least = least_audit_ppm(5, 8)
    assert 420_000 < least < 440_000
    changes = {
        "audit_leaves": 8,
        "committee_size": 5,
        "audit_window": 12,
        "dispute_window": 30,
        "fraud_bond": 2 * UNIT,
    }
    assert (
        chain.root_call("compute", "set_params", *cp_args(audit_ppm=least + 1, **changes)) is None
    )
    assert chain.compute_params() == replace(CP, audit_ppm=least + 1, **changes)
    refused = cp_args(audit_ppm=least - 2, **{**changes, "fraud_bond": UNIT})
    assert chain.root_call("compute", "set_params", *refused) == "BadParams"
    assert chain.compute_params() == replace(CP, audit_ppm=least + 1, **changes)


@pytest.mark.parametrize(
    "args",
    [
        pytest.param(
            cp_args(
                audit_ppm=250_000,
                audit_leaves=16,
                committee_size=3,
                audit_window=10,
                dispute_window=20,
                fraud_bond=UNIT,
            ),
            id="the-old-default-q-of-one-quarter",
        ),
        pytest.param(
            cp_args(audit_ppm=PPM, audit_leaves=16, committee_size=3, margin_ppm=3 * PPM),
            id="a-margin-full-audits-cannot-meet",
        ),
        pytest.param(
            cp_args(audit_ppm=600_000, audit_leaves=16, committee_size=1, collusion_ppm=500_000),
            id="a-committee-of-one-half-colluding",
        ),
        pytest.param(
            cp_args(audit_ppm=PPM, audit_leaves=256, audit_window=2, dispute_window=20),
            id="an-audit-that-cannot-recompute-within-its-window",
        ),
        pytest.param(
            cp_args(
                audit_ppm=0,
                audit_leaves=16,
                committee_size=3,
                audit_window=10,
                dispute_window=20,
                fraud_bond=UNIT,
            ),
            id="no-audits",
        ),
        pytest.param(
            cp_args(
                audit_ppm=PPM + 1,
                audit_leaves=16,
                committee_size=3,
                audit_window=10,
                dispute_window=20,
                fraud_bond=UNIT,
            ),
            id="q-above-one",
        ),
        pytest.param(
            cp_args(
                audit_ppm=2**32 - 1,
                audit_leaves=16,
                committee_size=3,
                audit_window=10,
                dispute_window=20,
                fraud_bond=UNIT,
            ),
            id="q-far-above-one",
        ),
        pytest.param(
            cp_args(
                audit_ppm=PPM,
                audit_leaves=0,
                committee_size=3,
                audit_window=10,
                dispute_window=20,
                fraud_bond=UNIT,
            ),
            id="no-leaves",
        ),
        pytest.param(
            cp_args(
                audit_ppm=PPM,
                audit_leaves=257,
                committee_size=3,
                audit_window=10,
                dispute_window=20,
                fraud_bond=UNIT,
            ),
            id="too-many-leaves",
        ),
        pytest.param(
            cp_args(
                audit_ppm=PPM,
                audit_leaves=16,
                committee_size=0,
                audit_window=10,
                dispute_window=20,
                fraud_bond=UNIT,
            ),
            id="no-committee",
        ),
        pytest.param(
            cp_args(
                audit_ppm=PPM,
                audit_leaves=16,
                committee_size=65,
                audit_window=10,
                dispute_window=20,
                fraud_bond=UNIT,
            ),
            id="committee-too-big",
        ),
        pytest.param(
            cp_args(
                audit_ppm=PPM,
                audit_leaves=16,
                committee_size=3,
                audit_window=0,
                dispute_window=20,
                fraud_bond=UNIT,
            ),
            id="no-audit-window",
        ),
        pytest.param(
            cp_args(
                audit_ppm=PPM,
                audit_leaves=16,
                committee_size=3,
                audit_window=10,
                dispute_window=12,
                fraud_bond=UNIT,
            ),
            id="dispute-window-too-short",
        ),
    ],
)
def test_set_params_refusals(chain: MarketChain, args: tuple[int, ...]) -> None:
    assert chain.root_call("compute", "set_params", *args) == "BadParams"
    assert chain.compute_params() == CP
    chain.advance()  # the chain goes on with the parameters it had


def test_check_incentives_needs_the_margin_at_the_formulas_least_q() -> None:
    for committee_size, audit_leaves in [(3, 16), (5, 8), (7, 1), (1, 4)]:
        least = least_audit_ppm(committee_size, audit_leaves)
        params = replace(CP, committee_size=committee_size, audit_leaves=audit_leaves)
        if least <= PPM:
            check_incentives(MP, replace(params, audit_ppm=least + 1))
        with pytest.raises(ValueError, match="audit_ppm"):
            check_incentives(MP, replace(params, audit_ppm=min(PPM, least - 2)))


def test_a_longer_dispute_window_still_settles_a_committed_job(chain: MarketChain) -> None:
    """A job committed under a window of W settles at the end of the window in force when W
    ends (it once stayed committed for ever, its escrow and bond held)."""
    job_id = passed_audit(chain)
    committed_at = chain.job(job_id).committed_at
    assert (
        chain.root_call(
            "compute",
            "set_params",
            *cp_args(
                audit_ppm=500_000,
                audit_leaves=16,
                committee_size=3,
                audit_window=10,
                dispute_window=40,
                fraud_bond=UNIT,
            ),
        )
        is None
    )
    assert settle(chain, job_id) == []
    result = chain.advance_to(committed_at + 40)
    assert hook_events(result)[-1][0] == "JobSettled"
    assert chain.job(job_id).state == "settled"


def test_a_genesis_with_bad_compute_parameters_is_refused() -> None:
    with pytest.raises(ValueError):
        market_chain(compute_params=replace(CP, audit_ppm=PPM + 1))
    with pytest.raises(ValueError):
        market_chain(compute_params=replace(CP, audit_ppm=200_000))
