"""Sequential Phragmén in integer arithmetic: who is elected, and how each voter's stake is split.

After Substrate's `sp-npos-elections` `seq_phragmen` (without its optional balancing). Every voter
has a budget (its bond) and approves some candidates; a validator candidate is a voter approving
only itself with its own bond. Electing a candidate costs one unit of "load", shared by the voters
approving it in proportion to their budgets. Round by round, the candidate whose election would
leave its voters with the lowest load is elected, and its voters' loads rise to that level:

    score(c) = (1 + Σ budget(v) · load(v) over the voters v approving c) / approval(c)

where approval(c) is the sum of those voters' budgets. The winner's score becomes the load of each
of its voters; what a voter's load rose by in the round is its edge's load to the winner. At the
end each voter's budget is split over its elected candidates in proportion to its edge loads, so
no stake is ever counted twice: a voter's shares add up to its whole budget if any candidate it
approves is elected, and to nothing otherwise.

Guarantee: sequential Phragmén satisfies proportional justified representation (PJR; Brill,
Freeman, Janson and Lackner, "Phragmén's voting methods and justified representation", 2017):
for every ℓ ≤ seats, a group of voters whose budgets add up to at least ℓ · (total budget / seats)
and who all approve ℓ common candidates gets at least ℓ seats among the candidates its members
approve. What an attacker can still do: stand as several candidates and nominate them all, but
its bond is split over those of them elected, so each seat it takes costs it the stake a seat
costs anyone (about total stake / seats); a coalition with that much stake is owed its seat by the
guarantee above. Sequential Phragmén does not maximise the least-backed winner (no balancing), so
a winner's backing can fall short of what a rebalanced split would give it.

Arithmetic: the winner of a round is found by comparing scores exactly (cross-multiplied
integers); loads are fixed point with LOAD_BITS fractional bits, rounded down. The cost is bounded
by MAX_ELECTION_STEPS (constants).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final

LOAD_BITS: Final = 192
"""Fractional bits of a load. A load is at least 2**LOAD_BITS / (total stake); with stakes below
2**128 (a u128 balance) that is at least 2**64 units, so rounding down loses less than 2**-64 of
any load, and at most one unit of balance per share when a budget is split."""
LOAD_ONE: Final = 1 << LOAD_BITS


@dataclass(frozen=True, slots=True)
class Voter:
    """A voter: its account, its budget (bond) and the candidates it approves."""

    who: bytes
    budget: int
    targets: tuple[bytes, ...]


@dataclass(frozen=True, slots=True)
class ElectionResult:
    """The winners in the order they were elected, and each voter's split of its budget."""

    winners: tuple[bytes, ...]
    assignments: Mapping[bytes, tuple[tuple[bytes, int], ...]]
    """A voter's (winner, share) pairs, sorted by winner; voters with no elected target absent."""


def seq_phragmen(
    seats: int, candidates: Mapping[bytes, int], voters: Sequence[Voter]
) -> ElectionResult:
    """Elect up to `seats` of `candidates` (stash → own stake, each voting for itself) with the
    nominating `voters`; the same inputs in any order give the same result.

    Targets that are not candidates are ignored; ties in score go to the lower account bytes.
    Candidates with no approval are never elected. Each voter appears once.
    """
    # Self-votes first, then nominators, each sorted: the result never depends on input order.
    all_voters = [Voter(c, own, (c,)) for c, own in sorted(candidates.items()) if own > 0]
    self_votes = len(all_voters)
    all_voters.extend(
        Voter(v.who, v.budget, tuple(sorted(set(t for t in v.targets if t in candidates))))
        for v in sorted(voters, key=lambda v: v.who)
        if v.budget > 0
    )
    approval = dict.fromkeys(candidates, 0)
    backers: dict[bytes, list[int]] = {c: [] for c in candidates}
    for i, voter in enumerate(all_voters):
        for target in voter.targets:
            approval[target] += voter.budget
            backers[target].append(i)
    # numerator[c] = LOAD_ONE · (1 + Σ budget · load): c's score is numerator[c] / approval[c].
    numerator = dict.fromkeys(candidates, LOAD_ONE)
    load = [0] * len(all_voters)
    edge_load: list[dict[bytes, int]] = [{} for _ in all_voters]
    open_ = sorted(c for c in candidates if approval[c] > 0)
    winners: list[bytes] = []
    while len(winners) < seats and open_:
        best = open_[0]
        for c in open_[1:]:
            lower = numerator[c] * approval[best] - numerator[best] * approval[c]
            if lower < 0:  # open_ is sorted: on a tie the lower account stays best
                best = c
        score = numerator[best] // approval[best]
        open_.remove(best)
        winners.append(best)
        for i in backers[best]:
            voter, raised = all_voters[i], score - load[i]
            # Scores never fall below an earlier winner's, so loads only rise (raised >= 0).
            edge_load[i][best] = raised
            load[i] = score
            for target in voter.targets:
                if target not in edge_load[i]:
                    numerator[target] += voter.budget * raised
    assignments: dict[bytes, tuple[tuple[bytes, int], ...]] = {}
    # Self-votes are left out: a winner's own stake backs only itself, whole.
    for i in range(self_votes, len(all_voters)):
        if edge_load[i]:
            assignments[all_voters[i].who] = split_budget(
                all_voters[i].budget, edge_load[i], load[i]
            )
    return ElectionResult(tuple(winners), assignments)


def split_budget(
    budget: int, edge_load: Mapping[bytes, int], total_load: int
) -> tuple[tuple[bytes, int], ...]:
    """`budget` split over the winners in proportion to their edge loads (which add up to
    `total_load`): shares rounded down, the few units left over to the largest edge load (the
    lowest account on a tie), zero shares dropped; sorted by winner. The shares add up to
    `budget` exactly."""
    shares = {w: budget * edge // total_load if total_load else 0 for w, edge in edge_load.items()}
    heaviest = min(edge_load, key=lambda w: (-edge_load[w], w))
    shares[heaviest] += budget - sum(shares.values())
    return tuple((w, s) for w, s in sorted(shares.items()) if s > 0)
