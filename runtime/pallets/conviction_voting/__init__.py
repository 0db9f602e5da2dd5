"""Conviction voting: votes on referenda weighted by how long the voter locks its funds,
delegation per track, and the locks they leave (after Substrate's pallet_conviction_voting).

Rules:

1. Votes. `vote(poll, aye, nay, abstain, conviction)` on an ongoing poll (a referendum deciding or
   waiting to): a standard vote is aye or nay with conviction 0 (counts 0.1x, no lock after the
   poll) or 1 to 6 (counts 1x to 6x); a split (aye and nay) or abstain vote has conviction 0 and
   each part counts 0.1x. Support is the aye and abstain capital. The amount (aye + nay +
   abstain) must be at most the voter's lockable balance (free plus staked: staked funds may
   vote). A new vote on the same poll replaces the old one. Each account has at most `max_votes`
   votes per class (track); ended ones count until removed.
2. Classes and locks. A poll's class is its track. Each class's lock is the largest of its
   recorded votes, its unexpired prior lock and its delegation; the account's "vote" freeze
   (balances freezes) is the largest class lock, so the same funds may vote on every poll of
   every track at once, as OpenGov allows, but cannot be transferred, held or spent on fees.
3. Removing a vote. On an ongoing poll only the voter may remove it, and it leaves the tally: it
   counts nothing and locks nothing more. On an ended poll a standard vote on the winning side
   keeps `amount` locked until the poll's end plus 2^(c-1) `vote_locking_period`s (the class's
   prior lock); before then only the voter may remove it, after then anyone
   (`remove_other_vote`). A losing, 0.1x, split or abstain vote, or one on a cancelled or killed
   poll, leaves no lock.
4. Delegation. `delegate(class, to, conviction, amount)` lends `amount` at `conviction` to `to`:
   it is added to each of `to`'s standard votes in the class on ongoing polls (and its capital to
   their support when aye), now and as `to` votes later. A delegator cannot vote in the class, an
   account with votes in a class (ended ones too) cannot delegate it, and delegation is not
   transitive: what is delegated to a delegator counts nowhere. `undelegate(class)` takes it back
   from the tallies and keeps `amount` locked for 2^(c-1) lock periods from then.
5. Unlocking. Votes and delegations only ever raise a lock; `unlock(class, target)` (anyone)
   recomputes the class's lock from what is still recorded and unexpired, and the freeze from
   every class.

The package: `constants`, `params`, `records` (votes, voting records, conviction and tally
arithmetic), `storage`, `events`, `errors`, `locks`, `voting` (casting and removing votes),
`delegation`, `invariants`, `pallet`. Other code imports it as one:
`from runtime.pallets import conviction_voting`.
"""

from __future__ import annotations

from runtime.pallets.conviction_voting.constants import (
    DELEGATE_WEIGHT,
    LOCK_ID,
    MAX_CLASSES,
    MAX_CONVICTION,
    MAX_VOTES,
    NAME,
    VOTE_WEIGHT,
)
from runtime.pallets.conviction_voting.invariants import recount
from runtime.pallets.conviction_voting.locks import class_locks
from runtime.pallets.conviction_voting.pallet import ConvictionVoting
from runtime.pallets.conviction_voting.params import (
    DEFAULT_CONVICTION_VOTING_PARAMS,
    ConvictionVotingParams,
)
from runtime.pallets.conviction_voting.records import (
    AccountVote,
    Delegating,
    Delegations,
    PriorLock,
    Voting,
    conviction_votes,
    lock_periods,
)
from runtime.pallets.conviction_voting.storage import ClassLocksFor, Params, VotingFor

__all__ = [
    "DEFAULT_CONVICTION_VOTING_PARAMS",
    "DELEGATE_WEIGHT",
    "LOCK_ID",
    "MAX_CLASSES",
    "MAX_CONVICTION",
    "MAX_VOTES",
    "NAME",
    "VOTE_WEIGHT",
    "AccountVote",
    "ClassLocksFor",
    "ConvictionVoting",
    "ConvictionVotingParams",
    "Delegating",
    "Delegations",
    "Params",
    "PriorLock",
    "Voting",
    "VotingFor",
    "class_locks",
    "conviction_votes",
    "lock_periods",
    "recount",
]
