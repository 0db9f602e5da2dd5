"""Conviction voting's errors: why a voting call fails."""

from __future__ import annotations

from runtime.framework import DispatchError
from runtime.pallets.conviction_voting.constants import NAME


class VotingError(DispatchError):
    """Base of conviction voting's errors."""

    pallet = NAME


class UnknownPoll(VotingError):
    """There is no such poll (or it was cancelled or killed)."""


class NotOngoing(VotingError):
    """The poll has ended: votes are taken only while it is ongoing."""


class BadConviction(VotingError):
    """Conviction must be 0 (0.1x, no lock) to 6 (6x, locked 32 periods)."""


class BadVote(VotingError):
    """A vote needs a positive amount; a split or abstain vote has conviction 0."""


class InsufficientFunds(VotingError):
    """The amount is more than the account's lockable balance (free plus staked)."""


class AlreadyDelegating(VotingError):
    """The account delegates its votes in this class: undelegate before voting in it."""


class AlreadyVoting(VotingError):
    """The account has votes in this class: remove them before delegating it."""


class NotDelegating(VotingError):
    """The account does not delegate in this class."""


class NotVoter(VotingError):
    """The account has no vote on that poll in that class."""


class WrongClass(VotingError):
    """The poll is on another track than the class named."""


class UnknownClass(VotingError):
    """There is no track with that number."""


class SelfDelegation(VotingError):
    """An account cannot delegate to itself."""


class MaxVotesReached(VotingError):
    """The account votes on max_votes polls in this class already: remove ended votes first."""


class NoPermission(VotingError):
    """Only the voter may remove its vote on an ongoing poll."""


class NoPermissionYet(VotingError):
    """The vote's conviction lock has not expired: only the voter may remove it before then."""


class BadParams(VotingError):
    """A conviction voting parameter is out of its range."""
