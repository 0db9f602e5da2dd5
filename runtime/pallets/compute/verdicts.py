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

Witnesses. The worker publishes its result, so leaf hashes alone prove nothing: a member could
hash the published leaves instead of recomputing them, and would be paid whenever the worker was
honest. So a member also reveals a witness digest (`gpu_worker.witness`): values formed inside
the recomputation (every product term XORed with the round's mask, summed), which the published
result does not give and which cost as much as the recomputation itself. A vote is the pair
(leaf hashes, witness): members that copied the leaf hashes and made up a witness are not with
the outcome that honest recomputations reach, and are penalized as any member revealing other
hashes. In an earlier inconclusive round, whose witnesses the deciding round (with its own mask)
cannot confirm, a member is with the outcome if it revealed the deciding hashes with a witness
that another member of its round revealed too; alone, it is neither paid nor penalized.
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
from runtime.pallets.compute.records import NO_WITNESS, Check, Checks, Draws
from runtime.primitives.hashing import blake2b_256

WITNESSES_DOMAIN: Final = b"xpl-witnesses"
"""Prefix of a reveal's witness digest over its leaves' witness digests."""
ATTEST_DOMAIN: Final = b"xpl-attest"
"""Prefix of every attestation commitment's preimage."""
RESULT_WITHHELD: Final = (blake2b_256(b"xpl-result-withheld"),)
"""The reveal of a member that could not obtain the committed leaves the checked ones build on
(from the worker, whose duty it is to serve them): one hash no leaf has."""


def witness_digest(leaf_witnesses: Sequence[bytes]) -> bytes:
    """A reveal's witness: BLAKE2b-256("xpl-witnesses" ‖ the witness digest of each of the
    check's leaves, in the check's order) (`gpu_worker.witness` computes each leaf's)."""
    return blake2b_256(WITNESSES_DOMAIN + b"".join(leaf_witnesses))


def attestation_commitment(
    job_id: int,
    check_index: int,
    member: bytes,
    leaf_hashes: Sequence[bytes],
    witness: bytes,
    salt: bytes,
) -> bytes:
    """What a member commits to: BLAKE2b-256("xpl-attest" ‖ job u64 BE ‖ check u32 BE ‖ member ‖
    salt ‖ witness ‖ its recomputed leaf hashes), none for "unavailable" (whose witness is
    NO_WITNESS).

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
        + witness
        + b"".join(leaf_hashes)
    )


CHECK_DIGEST_DOMAIN: Final = b"xpl-check"
"""Prefix of a check digest's preimage (`check_digest`)."""
RESULT_DIGEST_DOMAIN: Final = b"xpl-result"
"""Prefix of a result digest's preimage (`result_digest`)."""


def result_digest(job_id: int, job: market.Job) -> bytes:
    """What names a job's committed result: BLAKE2b-256("xpl-result" ‖ `market.job_digest` ‖
    result root). A dispute carries it: the same job may be committed by another worker, or with
    another root, on another fork, and a challenger's bond is on the result it checked."""
    return blake2b_256(RESULT_DIGEST_DOMAIN + market.job_digest(job_id, job) + job.result_root)


def check_digest(job_id: int, job: market.Job, index: int, check: Check) -> bytes:
    """What names one drawn round of a check: BLAKE2b-256("xpl-check" ‖ `result_digest` ‖ check
    u32 BE ‖ round u32 BE ‖ drawn_at u32 BE ‖ mask u32 BE ‖ each leaf u32 BE). A commitment
    carries it: a member's hashes are over these leaves (some building on the committed result)
    and its witness under this mask, so a commitment made for one fork's draw of check `index`
    never counts on another fork that drew the same job's check with other leaves or mask,
    where it would open to a vote against the outcome and cost the member its penalty."""
    return blake2b_256(
        CHECK_DIGEST_DOMAIN
        + result_digest(job_id, job)
        + index.to_bytes(4, "big")
        + check.round.to_bytes(4, "big")
        + check.drawn_at.to_bytes(4, "big")
        + check.mask.to_bytes(4, "big")
        + b"".join(leaf.to_bytes(4, "big") for leaf in check.leaves)
    )


def attestation_salt(secret: bytes, job_id: int, check_index: int) -> bytes:
    """A member's salt for one check, derived from a secret of its own (its key's seed), so that
    a restarted node finds it again; any 32 secret bytes would do."""
    return blake2b_256(
        b"xpl-attest-salt" + secret + job_id.to_bytes(8, "big") + check_index.to_bytes(4, "big")
    )


@dataclass(frozen=True, slots=True)
class Verdict:
    """A check's outcome and the vote (leaf hashes and witness) that decided it (empty hashes
    when none did)."""

    outcome: str
    hashes: tuple[bytes, ...] = ()
    witness: bytes = NO_WITNESS

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
    tally: dict[tuple[tuple[bytes, ...], bytes], int] = {}
    for _, hashes, witness in check.votes():
        tally[(hashes, witness)] = tally.get((hashes, witness), 0) + 1
    for (hashes, witness), count in tally.items():
        if 2 * count > len(check.reveals) and 2 * count > len(check.committee) and hashes:
            passed = hashes == check.response and hashes != RESULT_WITHHELD
            return Verdict("pass" if passed else "fail", hashes, witness)
    return Verdict("inconclusive")


def backed(check: Check, hashes: tuple[bytes, ...]) -> list[bytes]:
    """Members of an inconclusive round whose reveal of `hashes` another member's confirms: it
    revealed the same hashes with the same witness (two recomputations agree)."""
    votes = [(m, w) for m, h, w in check.votes() if h == hashes]
    return [m for m, w in votes if sum(1 for _, other in votes if other == w) >= 2]


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
        if not check.response:
            continue
        if check.outcome == "pass":
            decided = verdict(check)
            vote = (decided.hashes, decided.witness)
            with_it = [m for m, h, w in check.votes() if (h, w) == vote]
        elif check.outcome == "inconclusive":
            with_it = backed(check, check.response)
        else:
            continue
        found.extend(m for m in with_it if m not in found)
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
    worker's hashes, in a round that stays undecided does not go free. On a withheld fail, or
    one decided by RESULT_WITHHELD, nobody is with the outcome or penalized for revealing (nothing
    shows who recomputed; a claim of withholding is not paid, so lazy members gain nothing by
    making it): the verification fee goes back to the requester.
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
    if not result.withheld and not result.result_withheld:
        for j in rounds:
            earlier = checks[j]
            confirmed = backed(earlier, result.hashes) if j != index else []
            for member, hashes, witness in earlier.votes():
                if j == index:
                    agrees = (hashes, witness) == (result.hashes, result.witness)
                else:
                    agrees = member in confirmed
                    if hashes == result.hashes and not agrees:
                        continue  # unconfirmed: neither paid nor penalized
                if agrees:
                    if member not in with_outcome:
                        with_outcome.append(member)
                    staking.note_attestation(ctx, member)
                else:
                    penalize_member(ctx, job_id, j, member, p)
    if result.outcome == "pass":
        if check.kind == "dispute":
            current = [m for m, h, w in check.votes() if (h, w) == (result.hashes, result.witness)]
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
        if other.outcome == "pass":
            # Those with the pass (what `decide` paid them the bond to); the others that revealed
            # the worker's hashes were penalized when it was decided.
            decided = verdict(other)
            passed = [m for m, h, w in other.votes() if (h, w) == (decided.hashes, decided.witness)]
            paid = other.bond // 2 // len(passed) if passed else 0
        else:
            passed, paid = [m for m, h in other.reveals if h == other.response], 0
        for member in passed:
            penalize_member(ctx, job_id, j, member, p, paid)


def _next_round(ctx: BlockContext, job_id: int, index: int, p: ComputeParams) -> None:
    """After an inconclusive round: append a fresh round, or void the job after the last."""
    checks = Checks.get(ctx.state, job_id) or ()
    check = checks[index]
    if check.round + 1 >= p.max_rounds or len(checks) >= MAX_CHECKS_PER_JOB:
        _penalize_unavailable(ctx, job_id, checks, [*earlier_rounds(checks, index), index], p)
        _end_open_checks(ctx, job_id)
        if data_unavailable(check):
            # The worker did not serve the data its result is checked against: it fails.
            market.settle_failure(ctx, job_id, [])
            return
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


def data_unavailable(check: Check) -> bool:
    """Whether every member that revealed, and more than half the committee, revealed
    "unavailable": the job's data could not be had from anyone, the worker included (one member
    that recomputed shows it could).

    The last round of a check that ends so fails the worker instead of voiding the job. The
    worker holds every input it computed on (its node fetched them into its blob store) and its
    result, and serving them until the job ends is its duty as much as the requester's: a
    requester that serves its inputs to the worker alone cannot void its job any more (the
    worker's node serves them), and a worker that serves nobody fails after max_rounds rounds,
    each a data-availability challenge a fresh committee puts to it (DRAW_DELAY blocks, then a
    commit window, to serve them). Those that revealed "unavailable" are still penalized, and
    nobody is paid the verification fee: revealing "unavailable" earns nothing even when it
    convicts, so a lazy majority has nothing to gain from it; an honest member that the worker
    kept its data from loses `member_penalty`, while the worker loses its slash.
    """
    unavailable = sum(1 for _, hashes in check.reveals if not hashes)
    return unavailable == len(check.reveals) and 2 * unavailable > len(check.committee)


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
