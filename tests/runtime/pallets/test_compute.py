"""Compute: commitments, audit draws, committees and their commit and reveal phases, the worker's
response, verdicts and settlement (disputes and parameters are tested in modules of their own).

Jobs are GEMM jobs of 10^9 cost units matched to Wendy at one unit per 10^9 units: the payment is
one unit, the slash three, the protocol fee 2% and the verification fee 5% of the payment. With
the default parameters a commitment in block c is drawn for audit in block d = c + DRAW_DELAY + j
(j < DRAW_JITTER, from the randomness of block c + 1); its
committee commits in blocks d + 1 .. d + 8, reveals (and the worker responds) in d + 9 .. d + 12;
the check is decided in d + 13, and the job settles in block c + 40 (the end of the dispute
window) unless a check fails it first.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest

from chain.client.chain import transfer_call
from runtime import api
from runtime.accounts import TREASURY
from runtime.pallets import compute, market, staking
from runtime.pallets.balances import EXISTENTIAL_DEPOSIT as ED
from runtime.pallets.compute import (
    DEFAULT_COMPUTE_PARAMS,
    DRAW_DELAY,
    DRAW_JITTER,
    attestation_commitment,
    attestation_salt,
    draw_leaves,
    fraud_bond_for,
)
from runtime.pallets.compute.drawing import WITNESS_MASK_SET
from runtime.pallets.market import DEFAULT_MARKET_PARAMS, PPM
from runtime.primitives.hashing import blake2b_256
from tests.runtime.pallets.market_helpers import (
    CHALLENGER,
    GEMM_LEAVES,
    GUESS,
    LEAF_HASHES,
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
    wrong_hashes,
)

CP = DEFAULT_COMPUTE_PARAMS
MP = DEFAULT_MARKET_PARAMS
W, R, CHUCK = WORKER.public, REQUESTER.public, CHALLENGER.public
ESCROW = escrow_for(2 * UNIT)
PAYMENT = UNIT
PROTOCOL_FEE = 20_000_000_000
VERIFICATION_FEE = 50_000_000_000
SLASH = 3 * UNIT
BOND = fraud_bond_for(CP, VERIFICATION_FEE)
WINDOW = CP.dispute_window
PENALTY = CP.member_penalty


@pytest.fixture
def chain() -> Iterator[MarketChain]:
    made = market_chain()
    made.register(WORKER, capacity=16)
    yield made
    assert made.problems() == []


def commit_job(
    chain: MarketChain, who: Any = REQUESTER, mode: str = "always", bad: tuple[int, ...] = ()
) -> int:
    """Submit a job that Wendy takes and commits at once (leaves `bad` wrong); its id."""
    out = chain.submit(who, mode=mode, deadline=10, wait=10)
    job_id = out.events[1][1][0]
    assert chain.job(job_id).worker == W
    assert chain.commit(WORKER, job_id, hashes=wrong_hashes(*bad)).error is None
    return int(job_id)


def audit_seed(chain: MarketChain, job_id: int, roll_at: int) -> bytes:
    """The audit's seed: the chain randomness of the block that rolls it, with the job."""
    return blake2b_256(
        b"xpl-compute" + b"audit" + chain.randomness_of(roll_at) + job_id.to_bytes(8, "big")
    )


def draw(chain: MarketChain, job_id: int) -> tuple[Any, ...]:
    """Author blocks up to the job's audit roll; the ChallengeDrawn event's fields."""
    roll_at = chain.audit_roll_at(job_id)
    assert chain.head.number < roll_at
    result = chain.advance_to(roll_at)
    (drawn,) = [
        args
        for name, args in hook_events(result, "compute")
        if name == "ChallengeDrawn" and args[0] == job_id
    ]
    return drawn


def committee(chain: MarketChain, job_id: int, check: int = 0) -> tuple[bytes, ...]:
    return chain.checks(job_id)[check].committee


def run(
    chain: MarketChain, job_id: int, check: int, *strategies: str, respond: bool = True
) -> list[Event]:
    """Run check `check` with its committee following `strategies` in committee order; the
    deciding block's hook events."""
    members = committee(chain, job_id, check)
    plan = list(zip(members, strategies, strict=True))
    return hook_events(chain.run_check(job_id, check, plan, respond=respond))


def settle(chain: MarketChain, job_id: int) -> list[Event]:
    """Author blocks to the end of the job's dispute window; that block's hook events."""
    return hook_events(chain.advance_to(chain.job(job_id).committed_at + WINDOW))


def stakes(chain: MarketChain, members: tuple[bytes, ...]) -> dict[bytes, int]:
    return {m: chain.held(m, staking.HOLD) for m in members}


# The draw


def test_the_audit_is_rolled_a_random_delay_after_the_commitment(chain: MarketChain) -> None:
    job_id = commit_job(chain)
    committed_at = chain.head.number
    roll_at = chain.audit_roll_at(job_id)  # set by the randomness of the block after it
    delay = roll_at - committed_at
    assert DRAW_DELAY <= delay < DRAW_DELAY + DRAW_JITTER
    j = int.from_bytes(
        blake2b_256(b"xpl-draw-delay" + chain.randomness_of(committed_at + 1))[:8], "big"
    )
    assert delay == DRAW_DELAY + j % DRAW_JITTER
    for result in chain.advance(roll_at - chain.head.number - 1):
        assert hook_events(result, "compute") == []
    drawn = draw(chain, job_id)
    seed = audit_seed(chain, job_id, roll_at)
    members = draw_committee_of(seed)
    d = roll_at
    commit_deadline, reveal_deadline = d + CP.commit_window, d + CP.commit_window + CP.reveal_window
    assert drawn == (
        job_id,
        0,
        True,
        list(range(GEMM_LEAVES)),
        list(members),
        commit_deadline,
        reveal_deadline,
    )
    assert len(set(members)) == CP.committee_size
    assert set(members) <= {v.public for v in VALIDATORS}
    (check,) = chain.checks(job_id)
    assert (check.kind, check.leaves, check.committee) == ("audit", tuple(range(10)), members)
    assert (check.draw_at, check.drawn_at, check.commit_deadline, check.reveal_deadline) == (
        d,
        d,
        commit_deadline,
        reveal_deadline,
    )
    assert (check.commits, check.reveals, check.response, check.round) == ((), (), (), 0)
    assert (check.outcome, check.challenger) == ("", None)


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
    chain = market_chain(compute_params=replace(CP, audit_leaves=4, audit_ppm=PPM))
    chain.register(WORKER, capacity=16)
    for _ in range(3):
        job_id = commit_job(chain)
        drawn = draw(chain, job_id)
        leaves = drawn[3]
        assert len(leaves) == 4 == len(set(leaves))
        assert all(0 <= leaf < GEMM_LEAVES for leaf in leaves)
        seed = audit_seed(chain, job_id, chain.head.number)
        assert tuple(leaves) == draw_leaves(seed, 4, GEMM_LEAVES)
    assert chain.problems() == []


def test_drawn_leaves_follow_the_seed() -> None:
    seed = blake2b_256(b"seed")
    assert draw_leaves(seed, 16, 10) == tuple(range(10))
    assert draw_leaves(seed, 3, 1000) == draw_leaves(seed, 3, 1000)
    assert draw_leaves(seed, 3, 1000) != draw_leaves(blake2b_256(b"other"), 3, 1000)
    assert sorted(draw_leaves(seed, 999, 1000)) == sorted(set(draw_leaves(seed, 999, 1000)))


def test_sampled_jobs_are_audited_with_probability_q() -> None:
    # Nobody runs the audits here, so the worker fails each audited job (it never responds);
    # the reputation gate would soon stop matching it, so it is off.
    chain = market_chain(replace(market.DEFAULT_MARKET_PARAMS, min_match_reputation=-1000))
    chain.register(WORKER, capacity=16)
    seen = set()
    for _ in range(12):
        job_id = commit_job(chain, mode="sampled")
        drawn = draw(chain, job_id)
        roll = int.from_bytes(audit_seed(chain, job_id, chain.head.number)[:8], "big") % PPM
        audited = roll < CP.audit_ppm
        assert drawn[2] is audited
        if not audited:
            assert drawn == (job_id, 0, False, [], [], 0, 0) and chain.checks(job_id) == ()
        seen.add(audited)
    assert seen == {True, False}


def test_an_unaudited_job_settles_with_the_verification_fee_refunded() -> None:
    for delay in range(64):  # a fresh chain each try, the job a block later each time
        chain = market_chain()
        chain.register(WORKER, capacity=16)
        chain.advance(delay)
        job_id = commit_job(chain, mode="sampled")
        if not draw(chain, job_id)[2]:
            break
    else:
        pytest.fail("every job was audited")
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
    assert chain.problems() == []


# Committing, revealing and responding


def test_the_commitment_binds_job_check_member_salt_witness_and_hashes() -> None:
    member = VALIDATORS[0].public
    hashes = LEAF_HASHES[:2]
    salt = attestation_salt(VALIDATORS[0].seed, 5, 1)
    witness = compute.witness_digest([GUESS, LEAF_HASHES[3]])
    expected = blake2b_256(
        b"xpl-attest"
        + (5).to_bytes(8, "big")
        + (1).to_bytes(4, "big")
        + member
        + salt
        + witness
        + b"".join(hashes)
    )
    assert attestation_commitment(5, 1, member, hashes, witness, salt) == expected
    others = [
        attestation_commitment(6, 1, member, hashes, witness, salt),
        attestation_commitment(5, 2, member, hashes, witness, salt),
        attestation_commitment(5, 1, VALIDATORS[1].public, hashes, witness, salt),
        attestation_commitment(5, 1, member, LEAF_HASHES[1:3], witness, salt),
        attestation_commitment(5, 1, member, (), witness, salt),
        # A copier of the published leaves cannot reach it without the recomputation's witness.
        attestation_commitment(5, 1, member, hashes, compute.NO_WITNESS, salt),
        # Without the salt, whoever knows the worker's hashes could test the vote.
        attestation_commitment(5, 1, member, hashes, witness, attestation_salt(b"guess", 5, 1)),
    ]
    assert expected not in others and len(set(others)) == len(others)


def test_commit_reveal_and_respond_refusals() -> None:
    chain = market_chain(compute_params=replace(CP, reveal_window=10))
    chain.register(WORKER, capacity=16)
    job_id = commit_job(chain)
    member = VALIDATORS[0]
    truth = LEAF_HASHES
    assert chain.attest_commit(member, job_id, 0, truth).error == "UnknownCheck"  # not drawn yet
    draw(chain, job_id)
    members = committee(chain, job_id)
    (outside,) = [v for v in VALIDATORS if v.public not in members]
    refused = chain.calls(
        chain.commitment(member, 99, 0, truth),
        chain.commitment(OUTSIDER, job_id, 0, truth),
        chain.commitment(outside, job_id, 0, truth),
        chain.commitment(members[0], job_id, 1, truth),
    )
    assert [o.error for o in refused] == [
        "NotCommitted",
        "NotInCommittee",
        "NotInCommittee",
        "UnknownCheck",
    ]
    # The commit phase: no reveal, and no response that a lazy member could copy.
    assert chain.attest_reveal(members[0], job_id, 0, truth).error == "WrongPhase"
    assert chain.respond(job_id, 0).error == "WrongPhase"
    assert chain.attest_commit(members[0], job_id, 0, truth).error is None
    assert chain.attest_commit(members[0], job_id, 0, truth).error == "AlreadyAttested"
    assert chain.attest_commit(members[1], job_id, 0, ()).error is None
    check = chain.checks(job_id)[0]
    assert [m for m, _ in check.commits] == [members[0], members[1]]
    chain.advance_to(check.commit_deadline - 1)
    assert chain.attest_commit(members[2], job_id, 0, truth).error is None  # the last block
    # The reveal phase: no more commitments; reveals must open them.
    assert chain.attest_commit(members[2], job_id, 0, truth).error == "WrongPhase"
    worker_call = chain.response(job_id, 0)
    hashes, proofs = worker_call[3][2], worker_call[3][3]
    forged = [GUESS, *hashes[1:]]
    refused = chain.calls(
        chain.reveal(members[0], job_id, 0, truth[:3]),
        chain.reveal(members[0], job_id, 0, (GUESS,) * 10),
        chain.reveal(members[0], job_id, 0, ()),
        chain.reveal(members[0], job_id, 0, truth, GUESS),  # another witness than committed
        chain.reveal(members[1], job_id, 0, truth),
        chain.reveal(members[1], job_id, 0, (), GUESS),  # "unavailable" has no witness
        (REQUESTER, "compute", "respond", (job_id, 0, hashes, proofs)),
        (WORKER, "compute", "respond", (job_id, 0, forged, proofs)),
        (WORKER, "compute", "respond", (job_id, 0, hashes[:9], proofs[:9])),
    )
    assert [o.error for o in refused] == ["BadReveal"] * 6 + [
        "NotMatchedWorker",
        "BadResponse",
        "BadResponse",
    ]
    assert chain.problems() == []
    out = chain.attest_reveal(members[0], job_id, 0, truth)
    assert out.error is None
    assert out.events == [("AttestationRevealed", (job_id, 0, members[0], False))]
    assert chain.attest_reveal(members[0], job_id, 0, truth).error == "AlreadyAttested"
    out = chain.respond(job_id, 0)
    assert out.error is None and out.events == [("WorkerResponded", (job_id, 0))]
    assert chain.respond(job_id, 0).error == "AlreadyResponded"
    out = chain.attest_reveal(members[1], job_id, 0, ())
    assert out.events == [("AttestationRevealed", (job_id, 0, members[1], False))]
    out = chain.attest_reveal(members[2], job_id, 0, truth)
    assert out.events == [("AttestationRevealed", (job_id, 0, members[2], True))]
    check = chain.checks(job_id)[0]
    assert check.reveals == ((members[0], truth), (members[1], ()), (members[2], truth))
    assert check.response == truth
    chain.advance_to(check.reveal_deadline - 1)
    late = chain.calls(chain.reveal(members[1], job_id, 0, ()), chain.response(job_id, 0))
    assert [o.error for o in late] == ["AlreadyAttested", "AlreadyResponded"]
    result = chain.advance()[0]
    assert ("CheckDecided", (job_id, 0, "pass")) in hook_events(result)
    assert chain.attest_commit(members[0], job_id, 0, truth).error == "UnknownCheck"  # decided


def test_only_votes_with_the_outcome_earn_an_era_point(chain: MarketChain) -> None:
    job_id = commit_job(chain)
    draw(chain, job_id)
    members = committee(chain, job_id)
    before = {m: _points(chain, m) for m in members}
    run(chain, job_id, 0, "honest", "honest", "lazy")
    assert _points(chain, members[0]) == before[members[0]] + staking.ATTESTATION_POINTS
    assert _points(chain, members[1]) == before[members[1]] + staking.ATTESTATION_POINTS
    assert _points(chain, members[2]) == before[members[2]]  # Ferdie authors: no block points


def _points(chain: MarketChain, validator: bytes) -> int:
    activity = staking.EraActivity.get(chain.overlay(), validator)
    return 0 if activity is None else activity.points


# Verdicts


def test_a_passed_audit_pays_the_worker_treasury_and_verifiers_once(chain: MarketChain) -> None:
    job_id = commit_job(chain)
    committed_at = chain.head.number
    draw(chain, job_id)
    members = committee(chain, job_id)
    events = run(chain, job_id, 0, "honest", "honest", "honest")
    assert events == [("CheckDecided", (job_id, 0, "pass"))]
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
    assert chain.attest_commit(members[0], job_id, 0, LEAF_HASHES).error == "NotCommitted"
    assert chain.dispute(CHALLENGER, job_id, 0).error == "NotCommitted"


@pytest.mark.parametrize(
    "strategies",
    [
        pytest.param(("honest", "honest", "honest"), id="unanimous"),
        pytest.param(("honest", "honest", "lazy"), id="one-guess"),
        pytest.param(("honest", "unavailable", "honest"), id="one-unavailable"),
        pytest.param(("honest", "honest", "silent"), id="one-silent"),
    ],
)
def test_a_failed_audit_slashes_the_worker_and_pays_the_verifiers(
    chain: MarketChain, strategies: tuple[str, ...]
) -> None:
    job_id = commit_job(chain, bad=(3,))
    draw(chain, job_id)
    members = committee(chain, job_id)
    before = {who: chain.total(who) for who in (W, R, TREASURY, *members)}
    fees, treasury_fees = dict(chain.fees), chain.treasury_fees
    events = run(chain, job_id, 0, *strategies)
    with_outcome = [m for m, s in zip(members, strategies, strict=True) if s == "honest"]
    out_of_line = [m for m in members if m not in with_outcome]
    share = VERIFICATION_FEE // len(with_outcome)
    refund = ESCROW - share * len(with_outcome)
    assert events[0] == ("CheckDecided", (job_id, 0, "fail"))
    assert [args[2:] for name, args in events if name == "MemberPenalized"] == [
        (m, PENALTY)
        for m in members
        if m in out_of_line and strategies[members.index(m)] == "silent"
    ] + [
        (m, PENALTY)
        for m in members
        if m in out_of_line and strategies[members.index(m)] != "silent"
    ]
    assert events[-1] == ("JobFailed", (job_id, W, SLASH, refund))
    after = {who: chain.total(who) for who in before}
    assert after[R] == before[R] - share * len(with_outcome)
    assert chain.held(REQUESTER, "escrow") == 0
    for m in with_outcome:
        assert after[m] == before[m] + share - chain.fees_since(fees, m)
    for m in out_of_line:
        assert after[m] == before[m] - PENALTY - chain.fees_since(fees, m)
    penalties = PENALTY * len(out_of_line)
    assert after[TREASURY] == (
        before[TREASURY] + SLASH + penalties + chain.treasury_fees - treasury_fees
    )
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


def test_a_worker_that_does_not_respond_fails_the_check(chain: MarketChain) -> None:
    job_id = commit_job(chain)  # a correct result, withheld
    draw(chain, job_id)
    events = run(chain, job_id, 0, "honest", "honest", "honest", respond=False)
    assert events[0] == ("CheckDecided", (job_id, 0, "fail"))
    assert events[-1][0] == "JobFailed" and chain.job(job_id).state == "failed"
    assert chain.held(WORKER, "stake") == STAKE - SLASH


@pytest.mark.parametrize(
    "strategies",
    [
        pytest.param(("silent", "silent", "silent"), id="nobody-reveals"),
        pytest.param(("honest", "lazy", "unavailable"), id="no-majority"),
        pytest.param(("unavailable", "unavailable", "honest"), id="unavailable-majority"),
    ],
)
def test_an_inconclusive_round_draws_a_fresh_committee_and_never_settles(
    strategies: tuple[str, ...],
) -> None:
    # The dispute window ends no later than the block that decides the first round.
    window = DRAW_DELAY + DRAW_JITTER + CP.commit_window + CP.reveal_window
    chain = market_chain(compute_params=replace(CP, dispute_window=window))
    chain.register(WORKER, capacity=16)
    job_id = commit_job(chain)
    draw(chain, job_id)
    members = committee(chain, job_id)
    events = run(chain, job_id, 0, *strategies)
    assert events[0] == ("CheckDecided", (job_id, 0, "inconclusive"))
    silent = [m for m, s in zip(members, strategies, strict=True) if s == "silent"]
    assert [args[2] for name, args in events if name == "MemberPenalized"] == silent
    decided_at = chain.head.number
    first, fresh = chain.checks(job_id)
    assert first.outcome == "inconclusive"
    assert (fresh.kind, fresh.leaves, fresh.round, fresh.committee, fresh.outcome) == (
        "audit",
        first.leaves,
        1,
        (),
        "",
    )
    assert fresh.draw_at == decided_at + DRAW_DELAY
    result = chain.advance_to(fresh.draw_at)
    assert chain.head.number >= chain.job(job_id).committed_at + window
    assert chain.job(job_id).state == "committed"  # the window is over, but a round is open
    drawn = [args for name, args in hook_events(result, "compute") if name == "ChallengeDrawn"]
    fresh = chain.checks(job_id)[1]
    assert drawn == [
        (
            job_id,
            1,
            True,
            list(fresh.leaves),
            list(fresh.committee),
            fresh.commit_deadline,
            fresh.reveal_deadline,
        )
    ]
    if silent:  # members that did not vote are left out where there are enough others
        assert not set(silent) & set(fresh.committee) or len(silent) > 1
    # The fresh round has a mask of its own, drawn with its committee, so its members cannot
    # reuse the witnesses round 0 revealed; no mask lacks the bit that keeps it from being 0.
    assert fresh.mask != first.mask
    assert all(m & WITNESS_MASK_SET for m in (first.mask, fresh.mask))
    events = run(chain, job_id, 1, "honest", "honest", "honest")
    assert events[0] == ("CheckDecided", (job_id, 1, "pass"))
    assert events[-1][0] == "JobSettled"
    # Round 0's honest revealers share the fee with round 1's when two of them confirm each
    # other's witness (a lone one is unconfirmed: neither paid nor penalized for round 0).
    paid = {args[1]: args[2] for name, args in events if name == "Transfer"}
    honest0 = [m for m, s in zip(members, strategies, strict=True) if s == "honest"]
    confirmed0 = honest0 if len(honest0) >= 2 else []
    verifiers = list(dict.fromkeys([*confirmed0, *fresh.committee]))
    unconfirmed = [m for m in honest0 if m not in verifiers]
    assert not set(unconfirmed) & set(paid)
    share = VERIFICATION_FEE // len(verifiers)
    assert all(paid[m] == share for m in verifiers)
    # Round 0's "unavailable" revealers (the data was there) and its guessers revealed against
    # the outcome that stands: both are penalized.
    wrong0 = [m for m, s in zip(members, strategies, strict=True) if s in ("unavailable", "lazy")]
    penalized = [(args[1], args[2]) for name, args in events if name == "MemberPenalized"]
    assert penalized == [(0, m) for m in members if m in wrong0]
    assert chain.problems() == []


def test_the_job_is_void_after_max_rounds_inconclusive(chain: MarketChain) -> None:
    job_id = commit_job(chain)
    draw(chain, job_id)
    before = {who: chain.total(who) for who in (W, R)}
    fees = dict(chain.fees)
    for index in range(CP.max_rounds):
        check = chain.checks(job_id)[index]
        if not check.drawn:
            chain.advance_to(check.draw_at)
        # One member recomputed, so the data was there: not a data-availability failure.
        events = run(chain, job_id, index, "unavailable", "unavailable", "honest")
        assert events[0] == ("CheckDecided", (job_id, index, "inconclusive"))
    assert events[-1] == ("JobVoided", (job_id,))
    assert chain.job(job_id).state == "cancelled"
    assert len(chain.checks(job_id)) == CP.max_rounds
    after = {who: chain.total(who) for who in before}
    assert after[R] == before[R]  # refunded in full
    assert chain.held(REQUESTER, "escrow") == 0
    assert after[W] == before[W] - chain.fees_since(fees, W)  # neither paid nor slashed
    worker = chain.worker(WORKER)
    assert worker is not None
    assert (worker.stake, worker.bonded, worker.active) == (STAKE, 0, 0)
    assert all(hook_events(result) == [] for result in chain.advance(3))


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
    run(chain, job_id, 0, "honest", "honest", "honest")
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


def test_a_fresh_round_leaves_out_the_members_that_did_not_reveal(chain: MarketChain) -> None:
    job_id = commit_job(chain)
    draw(chain, job_id)
    members = committee(chain, job_id)
    run(chain, job_id, 0, "silent", "unavailable", "unavailable")
    fresh = chain.checks(job_id)[1]
    chain.advance_to(fresh.draw_at)
    others = {v.public for v in VALIDATORS} - {members[0]}
    assert set(committee(chain, job_id, 1)) == others  # three others: the silent one is left out
