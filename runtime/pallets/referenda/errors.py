"""Referenda's errors: why a referenda call fails."""

from __future__ import annotations

from runtime.framework import DispatchError
from runtime.pallets.referenda.constants import NAME


class ReferendaError(DispatchError):
    """Base of referenda's errors."""

    pallet = NAME


class UnknownTrack(ReferendaError):
    """There is no track with that number (see gov_referenda or the chain spec's tracks)."""


class BadEnactment(ReferendaError):
    """The enactment delay is too long: at most MAX_ENACTMENT_DELAY blocks after approval."""


class BadProposal(ReferendaError):
    """The proposal is not a call of this runtime, or its arguments do not match the call."""


class CallNotAllowed(ReferendaError):
    """The track's origin cannot make that call: only the root track may propose anything but a
    spending call (treasury spends, bounties, grants)."""


class SpendAboveLimit(ReferendaError):
    """The proposal would spend more than the track's maximum; propose it on a larger track."""


class CannotPayDeposit(ReferendaError):
    """The signer's free balance cannot cover the deposit (nothing was taken)."""


class UnknownReferendum(ReferendaError):
    """There is no referendum with that index."""


class NotOngoing(ReferendaError):
    """The referendum has ended."""


class StillOngoing(ReferendaError):
    """The referendum has not ended yet: its deposits stay held until it does."""


class HasDecisionDeposit(ReferendaError):
    """The referendum already has its decision deposit."""


class NoDeposit(ReferendaError):
    """There is no such deposit to refund: none was placed, or it was refunded or slashed."""


class KilledReferendum(ReferendaError):
    """The referendum was killed: its deposits went to the treasury."""


class BadTracks(ReferendaError):
    """The tracks break a rule (each track's reason is given)."""


class AlarmsFull(ReferendaError):
    """Too many referenda are due around the block this one would be: try again in a block."""
