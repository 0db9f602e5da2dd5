"""Turning a check's reveals and the worker's response into an outcome, and carrying it out.

The chain, not the member, turns each reveal into a vote: the leaf hashes revealed by a strict
majority of the members that revealed, and by more than half the committee (a quorum, so that
one member whose fellows stay silent cannot decide alone), decide (equal to the worker's
response: "pass"; different: "fail"); no such majority, a majority of "unavailable" (an empty
reveal) or no reveal at all: "inconclusive", and a fresh round of the check is appended (its
committee drawn DRAW_DELAY blocks later, avoiding the members that did not reveal) up to
`max_rounds`, after which the job is void and the members of its rounds that revealed
"unavailable" are penalized (those that did not reveal were, round by round).
A worker that did not respond fails the check: it withheld its result. So does a worker whose
committed leaves that the checked ones build on (an sgd_fxp step's previous step) a majority of
the members could not obtain: they reveal RESULT_WITHHELD, and serving its result is the
worker's duty (a colluding majority could convict with any hashes anyway, so this gives it
nothing new).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Final

from runtime.framework import BlockContext
from runtime.pallets import market, staking
from runtime.pallets.compute.drawing import DRAW_DELAY
from runtime.pallets.compute.events import CheckDecided, JobVoided
from runtime.pallets.compute.params import MAX_CHECKS_PER_JOB, ComputeParams
from runtime.pallets.compute.payments import (
    forfeit_bond,
    keep_bond,
    penalize_member,
    release_bond,
)
from runtime.pallets.compute.records import Check, Checks, Draws
from runtime.primitives.hashing import blake2b_256

ATTEST_DOMAIN: Final = b"xpl-attest"
"""Prefix of every attestation commitment's preimage."""
RESULT_WITHHELD: Final = (blake2b_256(b"xpl-result-withheld"),)
"""The reveal of a member that could not obtain the committed leaves the checked ones build on
(from the worker, whose duty it is to serve them): one hash no leaf has."""


def attestation_commitment(
    job_id: int, check_index: int, member: bytes, leaf_hashes: Sequence[bytes], salt: bytes
) -> bytes:
    """What a member commits to: BLAKE2b-256("xpl-attest" ‖ job u64 BE ‖ check u32 BE ‖ member ‖
    salt ‖ its recomputed leaf hashes), none for "unavailable".

    Bound to the member, so one member cannot commit another's commitment; revealed only after
    every commitment is in, and the worker's leaf hashes are taken only after that, so a member
    that did not recompute the leaves cannot commit to hashes that will match. The member's
    secret salt (revealed with the hashes) hides its vote until the reveal: without it, anyone
    holding the worker's leaf hashes could test each commitment against them during the commit
    phase, and a member committing last could copy the others' votes only when that is safe.
    """
    return blake2b_256(
        ATTEST_DOMAIN
        + job_id.to_bytes(8, "big")
        + check_index.to_bytes(4, "big")
        + member
        + salt
        + b"".join(leaf_hashes)
    )


def attestation_salt(secret: bytes, job_id: int, check_index: int) -> bytes:
    """A member's salt for one check, derived from a secret of its own (its key's seed), so that
    a restarted node finds it again; any 32 secret bytes would do."""
    return blake2b_256(
        b"xpl-attest-salt" + secret + job_id.to_bytes(8, "big") + check_index.to_bytes(4, "big")
    )


@dataclass(frozen=True, slots=True)
class Verdict:
    """A check's outcome and the leaf hashes that decided it (empty when none did)."""

    outcome: str
    hashes: tuple[bytes, ...] = ()

    @property
    def withheld(self) -> bool:
        """A fail because the worker did not respond (no leaf hashes decided it)."""
        return self.outcome == "fail" and not self.hashes

    @property
    def result_withheld(self) -> bool:
        """A fail because a majority could not obtain the worker's committed leaves."""
        return self.outcome == "fail" and self.hashes == RESULT_WITHHELD


def verdict(check: Check) -> Verdict:
    """The outcome of a check whose reveal phase is over."""
    if not check.response:
        return Verdict("fail")
    tally: dict[tuple[bytes, ...], int] = {}
    for _, hashes in check.reveals:
        tally[hashes] = tally.get(hashes, 0) + 1
    for hashes, count in tally.items():
        if 2 * count > len(check.reveals) and 2 * count > len(check.committee) and hashes:
            passed = hashes == check.response and hashes != RESULT_WITHHELD
            return Verdict("pass" if passed else "fail", hashes)
    return Verdict("inconclusive")


def earlier_rounds(checks: Sequence[Check], index: int) -> list[int]:
    """The indices of the inconclusive rounds before check `index`, first round first."""
    found: list[int] = []
    check = checks[index]
    want = check.round - 1
    for j in range(index - 1, -1, -1):
        if want < 0:
            break
        other = checks[j]
        if other.round == want and other.outcome == "inconclusive" and other.same_check(check):
            found.insert(0, j)
            want -= 1
    return found


def verifiers(checks: Sequence[Check]) -> list[bytes]:
    """Who shares a settled job's verification fee: every member that revealed the worker's
    leaf hashes in a check that passed or in an inconclusive round of one (a job settles only
    when each of its checks passed in its last round), once each."""
    found: list[bytes] = []
    for check in checks:
        if check.outcome in ("pass", "inconclusive") and check.response:
            found.extend(m for m, h in check.reveals if h == check.response and m not in found)
    return found


def decide(ctx: BlockContext, job_id: int, index: int, p: ComputeParams) -> None:
    """Decide check `index` of a committed job whose reveal phase is over, and carry it out.

    Members that did not reveal (they did not commit, or their reveal never opened their
    commitment) are penalized whatever the outcome. On a pass or fail decided by revealed
    hashes, the members of this round and of the check's earlier inconclusive rounds that
    revealed them are with the outcome (an era point each; they share the verification fee when
    the job ends); members of this round and of the earlier rounds that revealed anything else
    (other hashes, "unavailable": the data was there for the committee that decided) voted
    against the outcome that stands and are penalized, so that guessing, or passing a colluding
    worker's hashes, in a round that stays undecided does not go free. On a withheld fail nobody
    is with the outcome (nothing shows who recomputed): the verification fee goes back to the
    requester.
    """
    checks = list(Checks.get(ctx.state, job_id) or ())
    check = checks[index]
    result = verdict(check)
    checks[index] = replace(check, outcome=result.outcome)
    Checks.insert(ctx.state, job_id, tuple(checks))
    ctx.deposit_event(CheckDecided, job_id, index, result.outcome)
    for member in check.committee:
        if check.reveal_of(member) is None:
            penalize_member(ctx, job_id, index, member, p)
    if result.outcome == "inconclusive":
        if check.kind == "dispute":
            keep_bond(ctx, check)
        _next_round(ctx, job_id, index, p)
        return
    rounds = [*earlier_rounds(checks, index), index]
    with_outcome: list[bytes] = []
    if not result.withheld:
        for j in rounds:
            for member, hashes in checks[j].reveals:
                if hashes == result.hashes:
                    if member not in with_outcome:
                        with_outcome.append(member)
                    staking.note_attestation(ctx, member)
                else:
                    penalize_member(ctx, job_id, j, member, p)
    if result.outcome == "pass":
        if check.kind == "dispute":
            current = [m for m, h in check.reveals if h == result.hashes]
            forfeit_bond(ctx, job_id, check, current)
        return
    if not result.withheld and not result.result_withheld:
        _penalize_overturned(ctx, job_id, checks, rounds, check, result.hashes, p)
    release_bond(ctx, check)
    _end_open_checks(ctx, job_id)
    market.settle_failure(ctx, job_id, with_outcome, check.challenger, p.challenger_share_ppm)


def _penalize_overturned(
    ctx: BlockContext,
    job_id: int,
    checks: Sequence[Check],
    rounds: Sequence[int],
    failed: Check,
    hashes: tuple[bytes, ...],
    p: ComputeParams,
) -> None:
    """Members of the job's other decided checks that revealed the worker's hashes of a leaf
    this check failed: their pass is overturned, and they are penalized, on top of
    `member_penalty`, what a dispute they passed paid them of its bond."""
    bad = {
        leaf for leaf, h, r in zip(failed.leaves, hashes, failed.response, strict=True) if h != r
    }
    for j, other in enumerate(checks):
        if j in rounds or other.outcome not in ("pass", "inconclusive") or not other.response:
            continue
        if not bad.intersection(other.leaves):
            continue
        passed = [m for m, revealed in other.reveals if revealed == other.response]
        paid = other.bond // 2 // len(passed) if other.outcome == "pass" and passed else 0
        for member in passed:
            penalize_member(ctx, job_id, j, member, p, paid)


def _next_round(ctx: BlockContext, job_id: int, index: int, p: ComputeParams) -> None:
    """After an inconclusive round: append a fresh round, or void the job after the last."""
    checks = Checks.get(ctx.state, job_id) or ()
    check = checks[index]
    if check.round + 1 >= p.max_rounds or len(checks) >= MAX_CHECKS_PER_JOB:
        _penalize_unavailable(ctx, job_id, checks, [*earlier_rounds(checks, index), index], p)
        _end_open_checks(ctx, job_id)
        market.settle_void(ctx, job_id)
        ctx.deposit_event(JobVoided, job_id)
        return
    fresh = Check(
        kind=check.kind,
        leaves=check.leaves,
        draw_at=ctx.number + DRAW_DELAY,
        round=check.round + 1,
        challenger=check.challenger,
        bond=0,
    )
    Checks.insert(ctx.state, job_id, (*checks, fresh))
    market.schedule(Draws, ctx, fresh.draw_at, job_id)


def _penalize_unavailable(
    ctx: BlockContext, job_id: int, checks: Sequence[Check], rounds: Sequence[int], p: ComputeParams
) -> None:
    """A check void after its last round: every member of its rounds that revealed "unavailable"
    is penalized (the silent ones were, as each round was decided).

    No later round will decide, so this is the only place such a reveal costs anything; were it
    free, two colluding members could void any job by revealing "unavailable" round after round.
    What remains: members whose data truly was unavailable pay the penalty as well; a requester
    who withholds its inputs makes every member pay, but its job is void and earns it nothing.
    """
    for j in rounds:
        for member, hashes in checks[j].reveals:
            if not hashes:
                penalize_member(ctx, job_id, j, member, p)


def _end_open_checks(ctx: BlockContext, job_id: int) -> None:
    """A job that ended: its other open checks are void; disputes get their bonds back."""
    checks = list(Checks.get(ctx.state, job_id) or ())
    for i, check in enumerate(checks):
        if not check.outcome:
            release_bond(ctx, check)
            checks[i] = replace(check, outcome="void")
    Checks.insert(ctx.state, job_id, tuple(checks))
