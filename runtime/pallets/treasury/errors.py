"""The treasury's errors: why a treasury call or payment fails."""

from __future__ import annotations

from runtime.framework import DispatchError
from runtime.pallets.treasury.params import NAME


class TreasuryError(DispatchError):
    """Base of the treasury's errors."""

    pallet = NAME


class InsufficientFunds(TreasuryError):
    """The treasury's funds not promised to approved spends do not cover the amount."""


class SpendAboveLimit(TreasuryError):
    """The amount is above what this origin may spend at once (its track's max_spend)."""


class ZeroSpend(TreasuryError):
    """A spend must pay something."""


class BadBeneficiary(TreasuryError):
    """The treasury cannot pay itself."""


class TooManySpends(TreasuryError):
    """Too many approved spends are waiting to be paid; wait for one to be paid or expire."""


class UnknownSpend(TreasuryError):
    """No spend has this index."""


class AlreadyPaid(TreasuryError):
    """This spend was paid already; a spend pays once."""


class SpendEnded(TreasuryError):
    """This spend expired unclaimed or was voided; it pays nothing."""


class EarlyPayout(TreasuryError):
    """This spend may not be claimed before its valid_from block."""


class SpendExpired(TreasuryError):
    """This spend's payout period is over; it can no longer be claimed."""


class SpendNotExpired(TreasuryError):
    """This spend may still be claimed: only a paid or expired spend can be closed."""


class StartTooLate(TreasuryError):
    """A spend's valid_from may be at most MAX_PERIOD blocks ahead: its promise locks funds."""


class BadParams(TreasuryError):
    """The treasury parameters are out of range."""


ERRORS = (
    InsufficientFunds,
    SpendAboveLimit,
    ZeroSpend,
    BadBeneficiary,
    TooManySpends,
    UnknownSpend,
    AlreadyPaid,
    SpendEnded,
    EarlyPayout,
    SpendExpired,
    SpendNotExpired,
    StartTooLate,
    BadParams,
)
