"""A GRANDPA round's votes and what they decide: the GHOSTs, the estimate and completability.

A vote for a block supports every ancestor of that block down to the round's base (the block
that was final when the round began). The prevote-GHOST (precommit-GHOST) is the highest block
that prevotes (precommits) of more than 2/3 of the weight support; the estimate is the highest
ancestor of the prevote-GHOST that could still get more than 2/3 of the precommits. The voter
(`chain.core.grandpa`) keeps two rounds and has `decide` bring them up to date as votes arrive:
each phase's support is kept and only the votes counted since the last call are added in, and a
round whose votes and set did not change, on a chain that answers the same for every block the
count read, is not recomputed at all (`recount` is the same computation from scratch).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from runtime.block import Header
from runtime.consensus import PRECOMMIT, PREVOTE, SignedVote
from runtime.pallets.session import AuthoritySet

Target = tuple[bytes, int]
"""A block as a vote names it: (hash, number)."""
HeaderOf = Callable[[bytes], Header | None]
"""How a round reads the chain: the header of a stored block, or None."""
Support = dict[bytes, tuple[int, int]]
"""block hash -> (number, weight of the voters whose votes include it)."""
Tally = tuple[dict[Target, int], list[tuple[int, list[SignedVote]]]]
"""What `Round.tally` gives: weight by block voted for (voters with one vote), and the
equivocators' (weight, votes)."""


@dataclass
class Round:
    """The votes of one round, and what they decide."""

    number: int
    base: Target
    votes: dict[int, dict[bytes, list[SignedVote]]] = field(
        default_factory=lambda: {PREVOTE: {}, PRECOMMIT: {}}
    )
    """phase -> voter -> its votes (two for an equivocator; never more are kept)."""
    pending: dict[tuple[int, bytes], list[SignedVote]] = field(default_factory=dict)
    """(phase, voter) -> its checked votes for blocks not imported yet (with the counted ones,
    never more than two per voter and phase: at most 4 votes per authority wait here)."""
    mine: dict[int, SignedVote] = field(default_factory=dict)
    prevote_ghost: Target | None = None
    precommit_ghost: Target | None = None
    estimate: Target | None = None
    completable: bool = False
    last_broadcast_ms: int = 0
    started_ms: int = 0
    """When this voter entered the round: its prevote and precommit waits count from here."""
    primary: Target | None = None
    """The block the round's primary proposed, once its signed proposal arrived."""
    _changes: dict[int, int] = field(default_factory=dict, repr=False, compare=False)
    """phase -> votes counted so far (what `tally` was computed at)."""
    _tallies: dict[int, tuple[int, AuthoritySet, Tally]] = field(
        default_factory=dict, repr=False, compare=False
    )
    _counted: dict[int, list[SignedVote]] = field(
        default_factory=lambda: {PREVOTE: [], PRECOMMIT: []}, repr=False, compare=False
    )
    """phase -> its votes in the order they were counted (what `decide` adds in)."""
    _count: _Count | None = field(default=None, repr=False, compare=False)

    def voted_weight(self, phase: int, authorities: AuthoritySet) -> int:
        """The weight of the authorities that voted in `phase` (an equivocator counts once)."""
        count = self._count
        if count is not None and count.authorities is authorities:
            kept = count.phases[phase]  # what `decide` added up, if it has every vote in
            if kept.exact and kept.added == len(self._counted[phase]):
                return kept.voted
        single, split = self.tally(phase, authorities)
        return sum(single.values()) + sum(weight for weight, _ in split)

    def all_votes(self, phase: int) -> list[SignedVote]:
        """Every vote of `phase` in this round, both of each equivocator's."""
        return [vote for votes in self.votes[phase].values() for vote in votes]

    def votes_of(self, phase: int, voter: bytes) -> list[SignedVote]:
        """What `voter` sent in `phase` of this round, counted or waiting for its block."""
        return [*self.votes[phase].get(voter, ()), *self.pending.get((phase, voter), ())]

    def take_pending(self) -> list[SignedVote]:
        """Every vote waiting for its block, removed (the caller counts or re-queues them)."""
        waiting = [vote for votes in self.pending.values() for vote in votes]
        self.pending = {}
        return waiting

    def add_vote(self, vote: SignedVote) -> None:
        """Count `vote` (checked by the caller), unless its voter already has two in its phase."""
        votes = self.votes[vote.phase].setdefault(vote.voter, [])
        if vote not in votes and len(votes) < 2:
            votes.append(vote)
            self._changes[vote.phase] = self._changes.get(vote.phase, 0) + 1
            self._counted[vote.phase].append(vote)

    def tally(self, phase: int, authorities: AuthoritySet) -> Tally:
        """The votes of `phase` by block voted for, with their voters' weight summed (voters with
        one vote), and the equivocators' votes with their weight; kept until a vote is added."""
        kept = self._tallies.get(phase)
        changes = self._changes.get(phase, 0)
        if kept is not None and kept[0] == changes and kept[1] is authorities:
            return kept[2]
        single: dict[Target, int] = {}
        split: list[tuple[int, list[SignedVote]]] = []
        for voter, votes in self.votes[phase].items():
            weight = authorities.weight_of(voter)
            if len(votes) == 1:
                target = votes[0].target
                single[target] = single.get(target, 0) + weight
            else:
                split.append((weight, list(votes)))
        tally = (single, split)
        self._tallies[phase] = (changes, authorities, tally)
        return tally


def support(round_: Round, phase: int, authorities: AuthoritySet, header_of: HeaderOf) -> Support:
    """The weight behind each block that the votes of `phase` include, down to the base."""
    # Most voters vote for one of a few blocks: each block's ancestry is walked once, with the
    # weight of all its voters (the voter recomputes this on every vote it takes in).
    base_number = round_.base[1]
    paths: dict[Target, list[Target]] = {}

    def path(target: Target) -> list[Target]:
        walked = paths.get(target)
        if walked is None:
            walked = paths[target] = _ancestry(target, base_number, header_of)
        return walked

    single, split = round_.tally(phase, authorities)
    result: Support = {}
    for weight, votes in split:
        seen: set[bytes] = set()  # an equivocator's two votes count once below where they meet
        for vote in votes:
            for block_hash, number in path(vote.target):
                if block_hash in seen:
                    break
                seen.add(block_hash)
                if not _add(result, block_hash, number, weight):
                    return _support_per_voter(round_, phase, authorities, header_of)
    for target, weight in single.items():
        for block_hash, number in path(target):
            if not _add(result, block_hash, number, weight):
                return _support_per_voter(round_, phase, authorities, header_of)
    return result


def _ancestry(target: Target, base_number: int, header_of: HeaderOf) -> list[Target]:
    """`target` and its ancestors down to the base's height (or the first one not stored)."""
    out: list[Target] = []
    block_hash, number = target
    while number >= base_number:
        out.append((block_hash, number))
        if number == base_number:
            break
        header = header_of(block_hash)
        if header is None:
            break
        block_hash, number = header.parent_hash, number - 1
    return out


def _add(result: Support, block_hash: bytes, number: int, weight: int) -> bool:
    """Add `weight` behind a block; False if it was counted at another height before."""
    old = result.get(block_hash)
    if old is None:
        result[block_hash] = (number, weight)
        return True
    if old[0] != number:
        return False
    result[block_hash] = (number, old[1] + weight)
    return True


def _support_per_voter(
    round_: Round, phase: int, authorities: AuthoritySet, header_of: HeaderOf
) -> Support:
    """`support` voter by voter, each vote's number taken as its block's: what `support` gives
    for votes that name one block at two heights (counted votes never do)."""
    result: Support = {}
    base_number = round_.base[1]
    for voter, votes in round_.votes[phase].items():
        weight = authorities.weight_of(voter)
        seen: set[bytes] = set()
        for vote in votes:
            block_hash, number = vote.block_hash, vote.number
            while number >= base_number and block_hash not in seen:
                seen.add(block_hash)
                old = result.get(block_hash)
                result[block_hash] = (number, weight + (0 if old is None else old[1]))
                if number == base_number:
                    break
                header = header_of(block_hash)
                if header is None:
                    break
                block_hash, number = header.parent_hash, number - 1
    return result


def ghost(weights: Support, authorities: AuthoritySet) -> Target | None:
    """The highest block that more than 2/3 of the weight supports (ties: the higher hash)."""
    best: Target | None = None
    for block_hash, (number, weight) in weights.items():
        if authorities.is_supermajority(weight) and (
            best is None or (number, block_hash) > (best[1], best[0])
        ):
            best = (block_hash, number)
    return best


def decide(round_: Round, authorities: AuthoritySet, header_of: HeaderOf) -> None:
    """Bring the round's GHOSTs, estimate and completability up to date with its votes.

    The same as `recount`, at less cost: each phase's support is kept with the header of every
    block it read (by its parent; or that it was not stored), votes counted since the last call
    are added in, and the whole is counted again from scratch if the set changed or the chain
    now answers otherwise for any block read (an import, a block abandoned by finality, or any
    other change of the store). A round whose votes did not change is then left as it is.
    """
    count = round_._count
    if count is None or count.authorities is not authorities or not count.reads_same(header_of):
        count = round_._count = _Count(authorities)
    counted = round_._counted
    at = (len(counted[PREVOTE]), len(counted[PRECOMMIT]))
    if count.decided_at == at:
        return
    count.decided_at = None
    try:
        prevotes = count.phases[PREVOTE].add(round_, PREVOTE, count, header_of)
        precommits = count.phases[PRECOMMIT].add(round_, PRECOMMIT, count, header_of)
        if prevotes is None or precommits is None:
            # A block counted at two heights (no counted vote names one): the plain count decides.
            recount(round_, authorities, header_of)
            return
        voted = count.phases[PRECOMMIT].voted
        _decide(round_, authorities, header_of, prevotes, precommits, voted)
    except BaseException:
        # A read that failed (a damaged header record, a read error of the database) left votes
        # added in but not noted as added: the node logs it and carries on, and the next call
        # must count afresh, or those votes would count twice.
        round_._count = None
        raise
    count.decided_at = at


def recount(round_: Round, authorities: AuthoritySet, header_of: HeaderOf) -> None:
    """Recompute the round's GHOSTs, estimate and completability from all its votes."""
    prevotes = support(round_, PREVOTE, authorities, header_of)
    precommits = support(round_, PRECOMMIT, authorities, header_of)
    voted = round_.voted_weight(PRECOMMIT, authorities)
    _decide(round_, authorities, header_of, prevotes, precommits, voted)


@dataclass
class _PhaseCount:
    """One phase's support and voted weight, with the votes counted so far added in."""

    added: int = 0
    """How many of the phase's counted votes (`Round._counted`) are in."""
    support: Support = field(default_factory=dict)
    voted: int = 0
    exact: bool = True
    """False once a block was counted at two heights: `support` no longer holds."""

    def add(self, round_: Round, phase: int, count: _Count, header_of: HeaderOf) -> Support | None:
        """Add in the votes counted since the last call; the support, or None if not exact.

        The same sums as `support`: a voter's first vote adds its weight along its ancestry, an
        equivocator's second along its own up to where it meets the first's.
        """
        counted = round_._counted[phase]
        if self.exact and self.added < len(counted):
            votes, authorities, result = round_.votes[phase], count.authorities, self.support
            for vote in counted[self.added :]:
                first = votes[vote.voter][0]
                weight = authorities.weight_of(vote.voter)
                meets: set[bytes] = set()
                if first is vote:
                    self.voted += weight
                else:
                    meets = {block_hash for block_hash, _ in count.path(round_, first, header_of)}
                for block_hash, number in count.path(round_, vote, header_of):
                    if block_hash in meets:
                        break
                    if not _add(result, block_hash, number, weight):
                        self.exact = False
                        return None
            self.added = len(counted)
        return self.support if self.exact else None


@dataclass
class _Count:
    """What `decide` counted a round from: the set, every header read, each phase's count."""

    authorities: AuthoritySet
    reads: dict[bytes, bytes | None] = field(default_factory=dict)
    """block hash -> its parent's hash, or None if it was not stored, as the count read it."""
    paths: dict[Target, list[Target]] = field(default_factory=dict)
    """Each voted block's ancestry down to the base, walked once."""
    phases: dict[int, _PhaseCount] = field(
        default_factory=lambda: {PREVOTE: _PhaseCount(), PRECOMMIT: _PhaseCount()}
    )
    decided_at: tuple[int, int] | None = None
    """The votes counted in each phase when the round was last decided from this count."""

    def reads_same(self, header_of: HeaderOf) -> bool:
        """Whether the chain still answers as it did for every block the count read."""
        for block_hash, parent in self.reads.items():
            header = header_of(block_hash)
            if (None if header is None else header.parent_hash) != parent:
                return False
        return True

    def path(self, round_: Round, vote: SignedVote, header_of: HeaderOf) -> list[Target]:
        """`_ancestry` of the vote's block, each header it reads noted in `reads`."""
        target = vote.target
        walked = self.paths.get(target)
        if walked is not None:
            return walked
        reads = self.reads

        def noted(block_hash: bytes) -> Header | None:
            header = header_of(block_hash)
            reads[block_hash] = None if header is None else header.parent_hash
            return header

        walked = _ancestry(target, round_.base[1], noted)
        self.paths[target] = walked  # only a whole walk: a failed read leaves none kept
        return walked


def _decide(
    round_: Round,
    authorities: AuthoritySet,
    header_of: HeaderOf,
    prevotes: Support,
    precommits: Support,
    voted: int,
) -> None:
    """Decide the round from its phases' support and the weight that precommitted (the chain is
    read only at blocks whose headers the support's count read)."""
    round_.prevote_ghost = ghost(prevotes, authorities)
    round_.precommit_ghost = ghost(precommits, authorities)
    g = round_.prevote_ghost
    if g is None:
        round_.estimate, round_.completable = None, False
        return
    undecided = authorities.total_weight - voted

    def possible(block_hash: bytes) -> bool:
        entry = precommits.get(block_hash)
        return authorities.is_supermajority((0 if entry is None else entry[1]) + undecided)

    estimate: Target | None = None
    block_hash, number = g
    while number >= round_.base[1]:
        if possible(block_hash) or number == round_.base[1]:
            estimate = (block_hash, number)
            break
        header = header_of(block_hash)
        if header is None:
            break
        block_hash, number = header.parent_hash, number - 1
    round_.estimate = estimate
    if estimate is None or not authorities.is_supermajority(voted):
        round_.completable = False
    elif estimate != g:
        round_.completable = True
    else:
        # The estimate can only still move up if some child of g could get 2/3.
        children: dict[bytes, int] = {}
        for child_hash, (child_number, weight) in precommits.items():
            if child_number == g[1] + 1:
                header = header_of(child_hash)
                if header is not None and header.parent_hash == g[0]:
                    children[child_hash] = weight
        round_.completable = not any(
            authorities.is_supermajority(w + undecided) for w in children.values()
        )
