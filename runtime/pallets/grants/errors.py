"""Grants' errors: why a grant call fails."""

from __future__ import annotations

from typing import Final

from runtime.framework import DispatchError


class GrantsError(DispatchError):
    """Base of the grants' errors."""

    pallet = "grants"


class UnknownGrant(GrantsError):
    """No grant has this id (it never existed, or was closed)."""


class NotBuilder(GrantsError):
    """Only the grant's builder may do this (or, after it expires, anyone may close it)."""


class CallNotAllowed(GrantsError):
    """A grant pays for compute jobs only: market.submit_job and market.cancel_job."""


class PriceAboveGrant(GrantsError):
    """The job's max_price is above the highest price the grant pays."""


class GrantExpired(GrantsError):
    """The grant has expired or been closed: it pays for no new job."""


class BadGrant(GrantsError):
    """A grant needs an amount of at least the existential deposit, a price above zero and an
    expiry in the future."""


class SpendTooLarge(GrantsError):
    """The origin may not spend this much (its track's max_spend is below the amount)."""


ERRORS: Final = (
    UnknownGrant,
    NotBuilder,
    CallNotAllowed,
    PriceAboveGrant,
    GrantExpired,
    BadGrant,
    SpendTooLarge,
)
