"""Staking's errors: why a staking call fails."""

from __future__ import annotations

from runtime.framework import DispatchError
from runtime.pallets.staking.constants import NAME


class StakingError(DispatchError):
    """Base of staking's errors."""

    pallet = NAME


class AlreadyBonded(StakingError):
    """This stash is already bonded; use bond_extra."""


class NotBonded(StakingError):
    """This account has no bond."""


class BondTooSmall(StakingError):
    """The bond is below the minimum for what the stash does (chill before unbonding below it)."""


class InsufficientBond(StakingError):
    """The amount is zero or more than the active bond."""


class TooManyChunks(StakingError):
    """The ledger already has the most unlocking chunks; withdraw some first."""


class NothingToWithdraw(StakingError):
    """No unbonded chunk has unlocked yet."""


class BadCommission(StakingError):
    """A commission is at most 1,000,000 parts per million."""


class SessionKeyTaken(StakingError):
    """That session key belongs to another stash."""


class TooManyCandidates(StakingError):
    """The candidate list is full."""


class TooManyNominators(StakingError):
    """The nominator list is full."""


class TooManyTargets(StakingError):
    """A nomination names at least one and at most max_nominations targets."""


class DuplicateTarget(StakingError):
    """A nomination names a target twice."""


class UnknownTarget(StakingError):
    """A nomination target is not a validator candidate."""


class NotStaking(StakingError):
    """This stash neither validates nor nominates."""


class BadParams(StakingError):
    """A staking parameter is out of its range."""


class MalformedProof(StakingError):
    """The proof does not decode as an equivocation."""


class NotOneOffence(StakingError):
    """The two messages are not by one signer in one round and phase (or one slot)."""


class SameMessage(StakingError):
    """The two messages are for the same block: they do not conflict."""


class BadProofSignature(StakingError):
    """A message's signature (or a header's seal) is invalid."""


class UnknownSet(StakingError):
    """That authority set is unknown, or too old to be kept."""


class NotAnAuthority(StakingError):
    """The signer was not an authority of the set named (or, for a slot, the author of that slot in
    the set then in force), or is no known stash's session key."""


class AlreadyPunished(StakingError):
    """The offender was already punished for an offence of this era (a validator is slashed at
    most once per era)."""


class RoundAlreadyNoted(StakingError):
    """No voter of the note earns a point: each was credited for its precommit's window of blocks
    already, or the precommits' blocks lie before the era's previous window."""


class NotAVoter(StakingError):
    """A precommit's voter is not an authority of the set named."""


class BadPrecommit(StakingError):
    """A precommit's signature is invalid."""


class NoSupermajority(StakingError):
    """The precommits for blocks of this chain do not hold more than 2/3 of the set's weight: the
    round finalized no block of this chain."""


class OffenceExpired(StakingError):
    """The offence happened before the oldest era kept: it can no longer be reported."""
