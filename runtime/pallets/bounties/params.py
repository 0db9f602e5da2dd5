"""Bounties' constants and parameters, declared once as a schema record."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from runtime import fields
from runtime.pallets import balances
from runtime.schema import Record, param

NAME: Final = "bounties"
HOLD: Final = "bounties"
"""The hold reason of proposal bonds and curator deposits."""
BOUNTY_ID: Final = b"xpl/bnty"
"""The pallet id of bounty accounts: `accounts.pallet_sub_account(BOUNTY_ID, bounty)`."""
CHILD_ID: Final = b"xpl/cbty"
"""The pallet id of child bounty accounts: `accounts.pallet_sub_account(CHILD_ID, child)`."""
UNIT: Final = 10**12
PPM: Final = 1_000_000
DAY: Final = 86_400
"""In blocks of one second."""
MAX_DESCRIPTION: Final = 1_024
"""The longest description a bounty or child bounty may have, in bytes."""
MAX_CHILDREN: Final = 16
"""The most child bounties (milestones) one bounty may have open at once: bounds every loop over
a bounty's children."""
MAX_PERIOD: Final = 100_000_000
CALL_WEIGHT: Final = 50_000_000
"""A bounty call's weight: a few records and at most three balance moves."""
CLOSE_WEIGHT: Final = 80_000_000


@dataclass(frozen=True, slots=True)
class BountiesParams(Record):
    """The bounties' deposits and periods (genesis; changed by Root)."""

    bond_base: int = param(fields.BALANCE, default=UNIT)
    """Held from a proposer for every proposal."""
    bond_per_byte: int = param(fields.BALANCE, default=UNIT // 100)
    """Held from a proposer for each byte of its description."""
    value_minimum: int = param(
        fields.BALANCE,
        balances.EXISTENTIAL_DEPOSIT,
        default=10 * UNIT,
        rule="must be at least the existential deposit (a bounty's account must exist)",
    )
    """The least value a bounty may ask for."""
    child_value_minimum: int = param(
        fields.BALANCE,
        balances.EXISTENTIAL_DEPOSIT,
        default=UNIT,
        rule="must be at least the existential deposit (a child bounty's account must exist)",
    )
    """The least value of a child bounty (a milestone)."""
    curator_deposit_ppm: int = param(fields.U32, 0, PPM, default=500_000)
    """A curator's deposit, in parts per million of its fee, clamped to the bounds below."""
    curator_deposit_min: int = param(fields.BALANCE, default=UNIT)
    curator_deposit_max: int = param(fields.BALANCE, default=1_000 * UNIT)
    payout_delay: int = param(fields.U32, 0, MAX_PERIOD, default=DAY)
    """Blocks between an award and its claim, in which governance may still unassign a
    curator that awarded wrongly."""
    update_period: int = param(fields.U32, 1, MAX_PERIOD, default=30 * DAY)
    """Blocks a curator may stay silent before anyone may unassign it (its deposit slashed);
    `extend_bounty_expiry` restarts it."""
    proposal_period: int = param(fields.U32, 1, MAX_PERIOD, default=30 * DAY)
    """Blocks after which a proposal nobody approved or rejected may be withdrawn, its bond
    refunded, so that no bond waits on governance forever."""

    def check(self) -> None:
        """ValueError naming the first parameter out of its range; the curator deposit's bounds
        must be ordered."""
        Record.check(self)
        if self.curator_deposit_min > self.curator_deposit_max:
            raise ValueError("curator_deposit_min must be at most curator_deposit_max")

    def bond_for(self, description: bytes) -> int:
        """The bond a proposal with `description` holds."""
        return self.bond_base + self.bond_per_byte * len(description)

    def curator_deposit(self, fee: int) -> int:
        """The deposit a curator of fee `fee` holds while it curates."""
        return min(
            self.curator_deposit_max,
            max(self.curator_deposit_min, fee * self.curator_deposit_ppm // PPM),
        )


DEFAULT_BOUNTIES_PARAMS: Final = BountiesParams()
"""A 1 XPL bond plus 0.01 XPL a byte; bounties of at least 10 XPL; a curator deposits half its
fee (1 to 1,000 XPL); a day's payout delay; a curator silent for 30 days may be unassigned."""
