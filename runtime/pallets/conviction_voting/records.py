"""Conviction voting's records: a vote, an account's voting in one class, and the arithmetic of
convictions and tallies (after Substrate's pallet_conviction_voting `vote` and `types`).

A vote is `(aye, nay, abstain, conviction)`, amounts of the voter's balance:
- standard: exactly one of aye and nay, no abstain; conviction 0 counts 0.1x and locks nothing
  once its poll has ended, conviction c in 1..6 counts c times and, on the winning side, stays
  locked 2^(c-1) lock periods after its poll ends;
- split (aye and nay) or abstain (abstain, with any aye and nay): conviction 0, each part counts
  0.1x; aye and abstain capital count as support.
A delegate's standard votes also carry what is delegated to it in the class (the delegators'
conviction-weighted votes, and their capital as support when it votes aye).
"""

from __future__ import annotations

from typing import Final, NamedTuple

from runtime.pallets.conviction_voting.constants import MAX_CONVICTION, MAX_VOTES
from runtime.pallets.governance.tally import Tally
from runtime.primitives import codec
from runtime.primitives.codec import Value

NONE_DIVISOR: Final = 10
"""Conviction 0 counts a tenth of the capital (Substrate's `Conviction::None`)."""


def conviction_votes(conviction: int, capital: int) -> int:
    """The votes `capital` counts for at `conviction`: a tenth at 0, else `conviction` times."""
    return capital // NONE_DIVISOR if conviction == 0 else capital * conviction


def lock_periods(conviction: int) -> int:
    """Lock periods a winning vote of `conviction` stays locked after its poll: 0, 1, 2, 4, ...
    32."""
    return 0 if conviction == 0 else 1 << (conviction - 1)


class AccountVote(NamedTuple):
    """One account's vote on one poll."""

    aye: int
    nay: int
    abstain: int
    conviction: int

    @property
    def balance(self) -> int:
        """The capital the vote uses (what it locks while recorded)."""
        return self.aye + self.nay + self.abstain

    def standard_aye(self) -> bool | None:
        """True or False for a standard aye or nay vote; None for a split or abstain vote."""
        if self.abstain == 0 and (self.aye == 0) != (self.nay == 0):
            return self.aye > 0
        return None

    def locked_if(self, approved: bool) -> tuple[int, int] | None:
        """(lock periods, amount) the vote keeps locked after its poll ended with `approved`:
        only a standard vote on the winning side, with conviction above 0."""
        side = self.standard_aye()
        if side is None or side != approved or self.conviction == 0:
            return None
        return lock_periods(self.conviction), self.balance

    def to_value(self) -> Value:
        """`[aye, nay, abstain, conviction]`."""
        return [
            codec.encode_u128(self.aye),
            codec.encode_u128(self.nay),
            codec.encode_u128(self.abstain),
            self.conviction,
        ]

    @classmethod
    def from_value(cls, value: Value) -> AccountVote:
        """The vote `to_value` gave; DecodeError if malformed."""
        f = codec.expect_list(value, 4, "vote")
        return cls(
            codec.expect_u128(f[0], "vote.aye"),
            codec.expect_u128(f[1], "vote.nay"),
            codec.expect_u128(f[2], "vote.abstain"),
            codec.expect_int(f[3], 0, MAX_CONVICTION, "vote.conviction"),
        )


class Delegations(NamedTuple):
    """What is delegated to an account in a class: conviction-weighted votes and capital."""

    votes: int = 0
    capital: int = 0

    def plus(self, other: Delegations) -> Delegations:
        return Delegations(self.votes + other.votes, self.capital + other.capital)

    def minus(self, other: Delegations) -> Delegations:
        return Delegations(max(0, self.votes - other.votes), max(0, self.capital - other.capital))


def delegated(conviction: int, balance: int) -> Delegations:
    """What delegating `balance` at `conviction` gives the delegate."""
    return Delegations(conviction_votes(conviction, balance), balance)


class PriorLock(NamedTuple):
    """A lock left by removed votes or an ended delegation: `amount` until block `until`."""

    until: int = 0
    amount: int = 0

    def accumulate(self, until: int, amount: int) -> PriorLock:
        """The lock that covers both this one and `amount` until `until` (the larger of each,
        as Substrate's: never shorter or smaller than either)."""
        return PriorLock(max(self.until, until), max(self.amount, amount))

    def rejig(self, now: int) -> PriorLock:
        """This lock at block `now`: gone once expired."""
        return PriorLock() if now >= self.until else self


class Delegating(NamedTuple):
    """A delegation of a class: `balance` at `conviction` to `target`."""

    target: bytes
    conviction: int
    balance: int


class Voting(NamedTuple):
    """An account's voting in one class: its votes by poll (sorted; empty while delegating),
    what others delegate to it, its prior lock, and its own delegation if it delegates."""

    votes: tuple[tuple[int, AccountVote], ...] = ()
    delegations: Delegations = Delegations()
    prior: PriorLock = PriorLock()
    delegating: Delegating | None = None

    def is_empty(self) -> bool:
        """Nothing recorded: the record can be removed."""
        return self == Voting()

    def vote_on(self, poll: int) -> AccountVote | None:
        """The vote on `poll`, if there is one."""
        return next((v for p, v in self.votes if p == poll), None)

    def with_vote(self, poll: int, vote: AccountVote | None) -> Voting:
        """This voting with the vote on `poll` replaced (None: removed), kept sorted."""
        kept = [(p, v) for p, v in self.votes if p != poll]
        if vote is not None:
            kept.append((poll, vote))
        return self._replace(votes=tuple(sorted(kept)))

    def locked_balance(self) -> int:
        """The lock the class needs: the largest vote recorded, the prior lock, the delegation."""
        most = max((v.balance for _, v in self.votes), default=0)
        delegating = 0 if self.delegating is None else self.delegating.balance
        return max(most, self.prior.amount, delegating)

    def to_value(self) -> Value:
        """`[[[poll, vote] ...], [votes, capital], [until, amount], null | [target, c, bal]]`."""
        d = self.delegating
        return [
            [[p, v.to_value()] for p, v in self.votes],
            [
                codec.encode_u128(self.delegations.votes),
                codec.encode_u128(self.delegations.capital),
            ],
            [self.prior.until, codec.encode_u128(self.prior.amount)],
            None if d is None else [d.target, d.conviction, codec.encode_u128(d.balance)],
        ]

    @classmethod
    def from_value(cls, value: Value) -> Voting:
        """The voting `to_value` gave; DecodeError if malformed."""
        f = codec.expect_list(value, 4, "voting")
        votes = []
        for item in codec.expect_array(f[0], MAX_VOTES, "voting.votes"):
            pair = codec.expect_list(item, 2, "voting.vote")
            votes.append(
                (
                    codec.expect_int(pair[0], 0, codec.U32_MAX, "voting.poll"),
                    AccountVote.from_value(pair[1]),
                )
            )
        d = codec.expect_list(f[1], 2, "voting.delegations")
        p = codec.expect_list(f[2], 2, "voting.prior")
        delegating = None
        if f[3] is not None:
            g = codec.expect_list(f[3], 3, "voting.delegating")
            delegating = Delegating(
                codec.expect_bytes(g[0], "voting.delegating.target", length=32),
                codec.expect_int(g[1], 0, MAX_CONVICTION, "voting.delegating.conviction"),
                codec.expect_u128(g[2], "voting.delegating.balance"),
            )
        return cls(
            tuple(votes),
            Delegations(
                codec.expect_u128(d[0], "voting.delegations.votes"),
                codec.expect_u128(d[1], "voting.delegations.capital"),
            ),
            PriorLock(
                codec.expect_int(p[0], 0, codec.U64_MAX, "voting.prior.until"),
                codec.expect_u128(p[1], "voting.prior.amount"),
            ),
            delegating,
        )


# Tallies


def _sub(a: int, b: int) -> int:
    return max(0, a - b)


def tally_add(tally: Tally, vote: AccountVote) -> Tally:
    """`tally` with `vote` counted (its own capital; delegations apart, `tally_delegations`)."""
    side = vote.standard_aye()
    if side is not None:
        votes = conviction_votes(vote.conviction, vote.balance)
        if side:
            return Tally(tally.ayes + votes, tally.nays, tally.support + vote.balance)
        return Tally(tally.ayes, tally.nays + votes, tally.support)
    return Tally(
        tally.ayes + vote.aye // NONE_DIVISOR,
        tally.nays + vote.nay // NONE_DIVISOR,
        tally.support + vote.aye + vote.abstain,
    )


def tally_remove(tally: Tally, vote: AccountVote) -> Tally:
    """`tally` without `vote` (the inverse of `tally_add`)."""
    added = tally_add(Tally(), vote)
    return Tally(
        _sub(tally.ayes, added.ayes),
        _sub(tally.nays, added.nays),
        _sub(tally.support, added.support),
    )


def tally_delegations(tally: Tally, aye: bool, delegations: Delegations, *, add: bool) -> Tally:
    """`tally` with `delegations` added to (or, `add` False, taken from) the aye or nay side."""
    if delegations == Delegations():
        return tally
    sign = 1 if add else -1
    if aye:
        return Tally(
            max(0, tally.ayes + sign * delegations.votes),
            tally.nays,
            max(0, tally.support + sign * delegations.capital),
        )
    return Tally(tally.ayes, max(0, tally.nays + sign * delegations.votes), tally.support)
