"""Conviction voting's parameters, declared once as a schema record."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from runtime import fields
from runtime.pallets.conviction_voting.constants import MAX_VOTES
from runtime.pallets.governance.tracks import DAY, MAX_PERIOD
from runtime.schema import Record, param


@dataclass(frozen=True, slots=True)
class ConvictionVotingParams(Record):
    """Conviction voting parameters (changed by Root through the root track)."""

    vote_locking_period: int = param(fields.U32, 0, MAX_PERIOD, default=7 * DAY)
    """Blocks of one lock period: a winning vote of conviction c stays locked 2^(c-1) of them
    after its poll ends."""
    max_votes: int = param(fields.U32, 1, MAX_VOTES, default=100)
    """The most polls an account may vote on in one class (ended ones count until removed)."""


DEFAULT_CONVICTION_VOTING_PARAMS: Final = ConvictionVotingParams()
"""Lock periods of 7 days (a 6x vote locks for 32 weeks), 100 votes per account per class."""
