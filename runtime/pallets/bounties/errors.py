"""Bounties' errors: why a bounty call fails."""

from __future__ import annotations

from typing import Final

from runtime.framework import DispatchError
from runtime.pallets.bounties.params import NAME


class BountiesError(DispatchError):
    """Base of the bounties' errors."""

    pallet = NAME


class UnknownBounty(BountiesError):
    """No bounty has this id (it never existed, or was claimed or closed)."""


class UnknownChildBounty(BountiesError):
    """No child bounty of this bounty has this id."""


class UnexpectedStatus(BountiesError):
    """The bounty is not in a state that allows this call (see `treasury_bounties`)."""


class ValueTooLow(BountiesError):
    """The value is below the least a bounty (or child bounty) may have."""


class DescriptionTooLong(BountiesError):
    """The description is longer than a bounty's may be."""


class InvalidFee(BountiesError):
    """A curator's fee must be below the bounty's value."""


class RequireCurator(BountiesError):
    """Only the bounty's curator may do this."""


class NotProposedCurator(BountiesError):
    """Only the curator proposed for this bounty may accept it."""


class Premature(BountiesError):
    """It is too early: the payout delay, the curator's update period or the proposal period
    has not passed."""


class PendingPayout(BountiesError):
    """The bounty is awarded and waits for its claim; unassign the curator first."""


class HasActiveChildBounty(BountiesError):
    """The bounty has open child bounties; award, claim or close them first."""


class TooManyChildBounties(BountiesError):
    """The bounty already has the most child bounties open at once."""


class InsufficientBountyBalance(BountiesError):
    """The bounty's account cannot fund this child bounty (and keep its existential deposit)."""


class SpendTooLarge(BountiesError):
    """The origin may not spend this bounty's value (its track's max_spend is below it)."""


class BadParams(BountiesError):
    """The proposed bounty parameters are out of range."""


ERRORS: Final = (
    UnknownBounty,
    UnknownChildBounty,
    UnexpectedStatus,
    ValueTooLow,
    DescriptionTooLong,
    InvalidFee,
    RequireCurator,
    NotProposedCurator,
    Premature,
    PendingPayout,
    HasActiveChildBounty,
    TooManyChildBounties,
    InsufficientBountyBalance,
    SpendTooLarge,
    BadParams,
)
