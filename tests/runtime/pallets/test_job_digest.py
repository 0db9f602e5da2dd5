"""Calls name a job by its digest: two forks (a partition's two sides) that gave the same id to
different jobs never take a call signed on one for the other's job, whoever includes it.

Each test grows two chains from one genesis, in step, as the two sides of a partition; a
transaction signed on side A is then included, byte for byte, in a block of side B (what a block
author, or a node resubmitting the transactions of retracted blocks, can do)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from runtime.api import make_call
from runtime.pallets import compute, market
from runtime.pallets.market import Job
from runtime.primitives.keys import Keypair
from runtime.primitives.merkle import leaf_hash, root_of_hashes
from tests.runtime.pallets.market_helpers import (
    CHALLENGER,
    GEMM_LEAVES,
    LEAF_HASHES,
    REQUESTER,
    REQUESTER2,
    UNIT,
    WORKER,
    MarketChain,
    Outcome,
    keypair_of,
    market_chain,
    outcome_of,
)

W = WORKER.public
OTHER_WORK = tuple(leaf_hash(b"side A's job, leaf %d" % i) for i in range(GEMM_LEAVES))
"""The right result of side A's job 1, which is other work than side B's job 1."""


def forks(capacity: int = 4) -> tuple[MarketChain, MarketChain]:
    """Two chains from one genesis with Wendy registered on each (the partition's two sides)."""
    sides = market_chain(), market_chain()
    for side in sides:
        assert side.register(WORKER, capacity=capacity).error is None
    return sides


def replayed(a: MarketChain, b: MarketChain, who: Keypair, name: str, *args: object) -> Outcome:
    """Sign a call on side A, include it there (it must succeed), then include the very same
    transaction on side B; B's outcome."""
    pallet = "market" if name in ("decline_job", "cancel_job") else "compute"
    tx = a.sign(who, make_call(pallet, name, *args))
    _, on_a = a.produce([tx])
    assert outcome_of(on_a, 0).error is None
    assert a.nonce(who.public) == b.nonce(who.public) + 1  # B takes the same nonce
    _, on_b = b.produce([tx])
    return outcome_of(on_b, 0)


def two_jobs_1(a: MarketChain, b: MarketChain) -> None:
    """Each side's job 1, submitted at the same height by different requesters, matched to
    Wendy."""
    assert a.submit(REQUESTER, seed=1).error is None
    assert b.submit(REQUESTER2, seed=2).error is None
    assert a.job(1).worker == b.job(1).worker == W
    assert a.digest(1) != b.digest(1)


# The digest


def test_the_digest_covers_what_the_submission_fixed_and_nothing_later() -> None:
    (chain, _) = forks()
    assert chain.submit(REQUESTER).error is None
    job = chain.job(1)
    digest = market.job_digest(1, job)
    assert len(digest) == 32 and market.job_digest(1, job) == digest
    assert market.job_digest(2, job) != digest
    for changed in (
        {"requester": REQUESTER2.public},
        {"workload": "other"},
        {"params": (*job.params[:-1], job.params[-1] + 1)},
        {"inputs": (("a", bytes(32)), job.inputs[1])},
        {"seed": job.seed + 1},
        {"max_price": job.max_price + 1},
        {"mode": "sampled"},
        {"deadline_blocks": job.deadline_blocks + 1},
        {"submitted_at": job.submitted_at + 1},
    ):
        assert market.job_digest(1, replace(job, **changed)) != digest, changed  # type: ignore[arg-type]
    later: Job = replace(
        job,
        state="committed",
        escrow=1,
        expires_at=job.expires_at + 5,
        result_root=bytes(32),
        committed_at=9,
        rent=0,
    )
    assert market.job_digest(1, later) == digest


# The worker's commitment


def test_a_commitment_for_another_forks_job_1_is_refused_and_changes_nothing() -> None:
    """The bug: Wendy computed side A's job 1 and committed it there; a block author of side B
    includes that signed commitment in B, whose job 1 is other work. It is refused: B's job 1
    stays matched with no root, Wendy's stake and bond untouched (she pays the fee, as for any
    transaction of hers included); her own commitment on B then goes in and passes its audit."""
    a, b = forks()
    two_jobs_1(a, b)
    a.results[1] = OTHER_WORK
    root_a = root_of_hashes(OTHER_WORK)
    job_b, worker_b = b.job(1), b.worker(W)
    stake_b, free_b = b.held(W, "stake"), b.free(W)
    out = replayed(a, b, WORKER, "commit_result", 1, a.digest(1), root_a, GEMM_LEAVES)
    assert out.error == "WrongJob"
    assert (b.job(1), b.worker(W), b.held(W, "stake")) == (job_b, worker_b, stake_b)
    assert b.checks(1) == () and b.free(W) == free_b - out.fee
    assert b.problems() == []
    # Her commitment of side B's job goes in (her next nonce) and passes an honest audit.
    assert b.commit(WORKER, 1).error is None
    b.advance_to(b.audit_roll_at(1))
    members = b.checks(1)[0].committee
    b.run_check(1, 0, [(m, "honest") for m in members])
    assert b.checks(1)[0].outcome == "pass"
    b.advance_to(b.job(1).committed_at + b.compute_params().dispute_window)
    assert b.job(1).state == "settled" and b.held(W, "stake") == stake_b
    assert b.problems() == []


# Every other call that names a job's content


def test_a_decline_signed_on_one_side_costs_nothing_on_the_other() -> None:
    a, b = forks()
    two_jobs_1(a, b)
    stake_b = b.held(W, "stake")
    out = replayed(a, b, WORKER, "decline_job", 1, a.digest(1))
    assert out.error == "WrongJob"
    assert b.job(1).state == "matched" and b.job(1).worker == W and b.job(1).past_matches == ()
    assert b.held(W, "stake") == stake_b and b.problems() == []


def test_a_cancel_signed_on_one_side_leaves_the_other_sides_job_waiting() -> None:
    a, b = forks(capacity=1)
    for side in (a, b):  # one job alike on both sides takes Wendy's only slot
        assert side.submit(REQUESTER, seed=1).error is None
    assert a.submit(REQUESTER, seed=2).error is None  # job 2 waits, other work on each side
    assert b.submit(REQUESTER, seed=3).error is None
    assert a.job(2).state == b.job(2).state == "pending" and a.digest(1) == b.digest(1)
    escrow_b = b.held(REQUESTER, "escrow")
    out = replayed(a, b, REQUESTER, "cancel_job", 2, a.digest(2))
    assert out.error == "WrongJob"
    assert b.job(2).state == "pending" and b.held(REQUESTER, "escrow") == escrow_b
    assert b.problems() == []


@pytest.mark.parametrize("duty", ["dispute", "attest_commit"])
def test_a_dispute_or_attestation_signed_on_one_side_is_no_vote_or_bond_on_the_other(
    duty: str,
) -> None:
    a, b = forks()
    two_jobs_1(a, b)
    for side in (a, b):
        assert side.commit(WORKER, 1).error is None
    if duty == "dispute":
        out = replayed(a, b, CHALLENGER, "dispute", 1, a.result_digest(1), 0)
        assert out.error == "WrongJob"
        assert b.checks(1) == () and b.held(CHALLENGER, "bond") == 0
    else:
        for side in (a, b):
            side.advance_to(side.audit_roll_at(1))
        assert a.head.number == b.head.number
        (member, *_) = [m for m in a.checks(1)[0].committee if m in b.checks(1)[0].committee]
        who, _, _, args = a.commitment(member, 1, 0, a.truth(1, 0))
        out = replayed(a, b, keypair_of(who), "attest_commit", *args)
        assert out.error == "WrongJob"
        assert b.checks(1)[0].commits == ()
    assert b.problems() == []


def test_an_identical_job_on_both_sides_takes_the_same_commitment() -> None:
    """Same requester, same content, same height: the same work, one digest; a commitment
    signed on one side is right on the other too."""
    a, b = forks()
    for side in (a, b):
        assert side.submit(REQUESTER, seed=1, max_price=2 * UNIT).error is None
    assert a.digest(1) == b.digest(1)
    out = replayed(a, b, WORKER, "commit_result", 1, a.digest(1), root_of_hashes(LEAF_HASHES), 10)
    assert out.error is None and b.job(1).state == "committed"
    assert compute.Checks.get(b.overlay(), 1) is None


# One job alike on both sides, checked or committed differently


def alike_committed_apart(a: MarketChain, b: MarketChain) -> None:
    """Job 1 is the same work on both sides (one digest), committed by Wendy with the same root
    two blocks later on B: its audit is rolled in another block there, from other randomness,
    so check 0 of the same job is drawn with another mask on each side; both then stand in their
    commit phase at the same height."""
    for side in (a, b):
        assert side.submit(REQUESTER, seed=1).error is None
    assert a.digest(1) == b.digest(1)
    assert a.commit(WORKER, 1).error is None
    b.advance(2)
    assert b.commit(WORKER, 1).error is None
    for side in (a, b):
        side.advance_to(side.audit_roll_at(1))
    height = max(a.head.number, b.head.number)
    for side in (a, b):
        if side.head.number < height:
            side.advance_to(height)
        assert side.checks(1)[0].phase(height + 1) == "commit"
    drawn_a, drawn_b = a.checks(1)[0], b.checks(1)[0]
    assert drawn_a.mask != drawn_b.mask and drawn_a.drawn_at != drawn_b.drawn_at


def test_a_commitment_to_one_sides_draw_of_a_check_is_refused_on_the_others() -> None:
    """The same job, but its check 0 drawn with another mask (and leaves) on B: a member's
    commitment over A's draw would open on B to hashes and a witness that are not B's, a vote
    against the outcome that costs it its penalty, and would keep it from committing B's own.
    The commitment names the draw (`check_digest`), so B refuses it (as it does one naming the
    job alone) and the member's own commitment on B goes in and is with the outcome."""
    a, b = forks()
    alike_committed_apart(a, b)
    assert a.result_digest(1) == b.result_digest(1)
    assert a.check_digest(1, 0) != b.check_digest(1, 0)
    committee_b = b.checks(1)[0].committee
    member = next(m for m in a.checks(1)[0].committee if m in committee_b)
    who, _, _, args = a.commitment(member, 1, 0, a.truth(1, 0))
    out = replayed(a, b, keypair_of(who), "attest_commit", *args)
    assert out.error == "WrongJob" and b.checks(1)[0].commits == ()
    job_named = (args[0], b.digest(1), *args[2:])
    assert b.call(keypair_of(who), "compute", "attest_commit", *job_named).error == "WrongJob"
    penalties = dict(b.staking_slashes)
    b.run_check(1, 0, [(m, "honest") for m in committee_b])
    assert b.checks(1)[0].outcome == "pass"
    assert b.staking_slashes == penalties  # nobody was penalized
    assert b.problems() == []


def test_a_dispute_of_one_sides_result_puts_no_bond_on_the_others() -> None:
    """The same job, committed with another root on each side (Wendy's honest result on B, a
    wrong one on A): a challenger that found a wrong leaf in A's result and disputed it there
    would, replayed on B, bond against B's honest result and lose its bond. The dispute names
    the result (`result_digest`), so B refuses it."""
    a, b = forks()
    for side in (a, b):
        assert side.submit(REQUESTER, seed=1).error is None
    assert a.digest(1) == b.digest(1)
    assert a.commit(WORKER, 1, hashes=OTHER_WORK).error is None
    assert b.commit(WORKER, 1).error is None
    assert a.result_digest(1) != b.result_digest(1)
    out = replayed(a, b, CHALLENGER, "dispute", 1, a.result_digest(1), 0)
    assert out.error == "WrongJob"
    assert b.checks(1) == () and b.held(CHALLENGER, "bond") == 0
    assert b.call(CHALLENGER, "compute", "dispute", 1, b.digest(1), 0).error == "WrongJob"
    assert b.problems() == []


def test_the_check_digest_covers_the_draw_and_the_result() -> None:
    a, b = forks()
    alike_committed_apart(a, b)
    job, check = a.job(1), a.checks(1)[0]
    digest = compute.check_digest(1, job, 0, check)
    assert digest == a.check_digest(1, 0)
    assert compute.check_digest(1, job, 1, check) != digest
    assert compute.check_digest(1, replace(job, result_root=bytes(32)), 0, check) != digest
    for changed in (
        {"mask": check.mask ^ 1},
        {"leaves": tuple(reversed(check.leaves))},
        {"drawn_at": check.drawn_at + 1},
        {"round": check.round + 1},
    ):
        assert compute.check_digest(1, job, 0, replace(check, **changed)) != digest, changed  # type: ignore[arg-type]
    # What the round gathers later does not change it.
    assert compute.check_digest(1, job, 0, replace(check, commits=((W, bytes(32)),))) == digest
