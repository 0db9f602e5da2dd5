"""What a GRANDPA voter keeps of the rounds past its current one, so that it finds their votes
when it gets there (gossip drops what it has seen, so votes sent again may never reach it).

For the ROUNDS_AHEAD rounds after the current one it keeps each authority's votes (at most two
per phase and round, checked) and the round's primary proposal; beyond them, each authority's
latest vote of each phase, and the highest round it was seen voting in. Everything is bounded by
the authority set: an attacker with an authority's key fills at most its own entries.
"""

from __future__ import annotations

from typing import Final

from chain.core.voter_messages import PrimaryProposal
from runtime.consensus import SignedVote

ROUNDS_AHEAD: Final = 3
"""Votes and proposals for up to this many rounds past the current one are kept whole."""

VoteKey = tuple[int, bytes]
"""(phase, voter)"""


class VotesAhead:
    """The votes and proposals of later rounds, for a voter at some current round."""

    def __init__(self) -> None:
        self.rounds: dict[int, dict[VoteKey, list[SignedVote]]] = {}
        """round -> (phase, voter) -> its checked votes, for the kept rounds."""
        self._primaries: dict[int, PrimaryProposal] = {}
        self._latest: dict[VoteKey, SignedVote] = {}
        """(phase, voter) -> its latest vote beyond the kept rounds."""
        self._voter_rounds: dict[bytes, int] = {}
        """voter -> the highest round past the current one it was seen voting in."""

    def clear(self) -> None:
        """Forget everything (a new authority set)."""
        self.rounds.clear()
        self._primaries.clear()
        self._latest.clear()
        self._voter_rounds.clear()

    def is_new(self, vote: SignedVote, current: int) -> bool:
        """Whether `vote` (for a round past `current`) would be kept or tell something new: asked
        before its signature is checked, so that surplus votes cost no check."""
        key = (vote.phase, vote.voter)
        if vote.round <= current + ROUNDS_AHEAD:
            kept = self.rounds.get(vote.round, {}).get(key, [])
            return vote not in kept and len(kept) < 2
        latest = self._latest.get(key)
        if latest is not None and (latest.round > vote.round or latest == vote):
            return False
        return self._voter_rounds.get(vote.voter, 0) <= vote.round

    def keep(self, vote: SignedVote, current: int) -> bool:
        """Keep a checked, new vote; True if its round is one of the kept ones."""
        key = (vote.phase, vote.voter)
        if self._voter_rounds.get(vote.voter, 0) < vote.round:
            self._voter_rounds[vote.voter] = vote.round
        if vote.round <= current + ROUNDS_AHEAD:
            self.rounds.setdefault(vote.round, {}).setdefault(key, []).append(vote)
            return True
        latest = self._latest.get(key)
        if latest is None or latest.round < vote.round:
            self._latest[key] = vote
        return False

    def voters_past(self, current: int) -> list[bytes]:
        """The authorities seen voting in a round past `current`."""
        return [v for v, r in self._voter_rounds.items() if r > current]

    def has_primary(self, round_: int) -> bool:
        return round_ in self._primaries

    def keep_primary(self, proposal: PrimaryProposal) -> None:
        """Keep a checked primary proposal of a kept round."""
        self._primaries[proposal.round] = proposal

    def enter(self, number: int) -> tuple[list[SignedVote], PrimaryProposal | None]:
        """The voter enters round `number`: the votes and the proposal kept for it, taken out;
        rounds before it forgotten, and latest votes that now fall in the kept rounds moved
        there."""
        waiting = [vote for votes in self.rounds.pop(number, {}).values() for vote in votes]
        primary = self._primaries.pop(number, None)
        self.rounds = {r: votes for r, votes in self.rounds.items() if r > number}
        self._primaries = {r: p for r, p in self._primaries.items() if r > number}
        self._voter_rounds = {v: r for v, r in self._voter_rounds.items() if r > number}
        for key in [k for k, vote in self._latest.items() if vote.round <= number + ROUNDS_AHEAD]:
            vote = self._latest.pop(key)
            if vote.round == number:
                waiting.append(vote)
            elif vote.round > number:
                self.rounds.setdefault(vote.round, {}).setdefault(key, []).append(vote)
        return waiting, primary
