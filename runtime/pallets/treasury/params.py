"""The treasury's constants and parameters, declared once as a schema record."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from runtime import fields
from runtime.schema import Record, param

NAME: Final = "treasury"
PPM: Final = 1_000_000
MAX_PERIOD: Final = 100_000_000
"""The longest spend or payout period, in blocks (more than three years of 1-second blocks)."""
MAX_PENDING_SPENDS: Final = 128
"""The most spends approved and not yet paid, expired or voided: bounds every list of them."""
MAX_HISTORY: Final = 64
"""How many ended spends (paid, expired, voided) the treasury lists, newest last; every spend's
record stays readable by its index and in its events."""

SOURCES: Final = ("fees", "slashes", "inflation", "protocol", "rent", "returns", "donations")
"""Where the treasury's income comes from: its share of transaction fees; slashes and penalties
(staking, committee members, workers' missed deadlines and failed jobs, forfeited bonds and
deposits); its share of each era's inflation; the market's protocol fee; the rent of waiting
jobs; unused bounty and grant funds returned; plain transfers to it."""
PURPOSES: Final = ("spends", "bounties", "grants")
"""What the treasury pays out for: its own spends, bounties' funds, compute grants."""


@dataclass(frozen=True, slots=True)
class TreasuryParams(Record):
    """Treasury parameters (genesis; changed by Root)."""

    spend_period: int = param(fields.U32, 1, MAX_PERIOD, default=14_400)
    """Every this many blocks, `burn_ppm` of what no spend is promised is burned."""
    burn_ppm: int = param(fields.U32, 0, PPM, default=10_000, rule=f"must be 0 to {PPM}")
    """The share of the unpromised funds burned each spend period (parts per million)."""
    payout_period: int = param(fields.U32, 1, MAX_PERIOD, default=100_800)
    """Blocks after its `valid_from` that an approved spend may be claimed; then it expires."""
    inflation_share_ppm: int = param(fields.U32, 0, PPM, default=0, rule=f"must be 0 to {PPM}")
    """The share of each era's reward minted to the treasury rather than to the validators and
    their nominators (0 by default: a chain names its share in its spec)."""


DEFAULT_TREASURY_PARAMS: Final = TreasuryParams()
"""A burn of 1% of the unpromised funds every 14,400 blocks (4 hours of 1-second blocks), spends
claimable for 100,800 blocks (28 hours), no share of era inflation."""
