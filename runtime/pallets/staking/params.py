"""Staking's parameters, declared once as a schema record."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from runtime import fields
from runtime.pallets import session
from runtime.pallets.staking.constants import (
    MAX_BONDING_ERAS,
    MAX_ERA_BLOCKS,
    MAX_NOMINATIONS,
    MAX_SLASH_WINDOW_ERAS,
    PPM,
    UNIT,
)
from runtime.schema import Record, param

PPM_RULE: Final = f"must be between 0 and {PPM}"


@dataclass(frozen=True, slots=True)
class StakingParams(Record):
    """Staking parameters (genesis; changed by Root, later by governance)."""

    era_blocks: int = param(fields.U32, 1, MAX_ERA_BLOCKS, default=100)
    """Blocks per era."""
    validator_count: int = param(fields.U32, 1, session.MAX_AUTHORITIES, default=100)
    """The most validators an election picks."""
    min_validators: int = param(
        fields.U32, 1, session.MAX_AUTHORITIES, default=1, rule="must be 1 to validator_count"
    )
    """Below this many eligible candidates the current set is kept."""
    min_validator_bond: int = param(
        fields.BALANCE,
        1,
        default=100 * UNIT,
        rule="must be positive (a validator's weight is its stake)",
    )
    min_nominator_bond: int = param(fields.BALANCE, default=10 * UNIT, rule="is out of range")
    bonding_eras: int = param(fields.U32, 0, MAX_BONDING_ERAS, default=7)
    """Eras an unbonded chunk waits before it can be withdrawn."""
    era_reward: int = param(fields.BALANCE, default=100 * UNIT, rule="is out of range")
    """Minted at each era's end and shared among its validators and their nominators."""
    max_nominations: int = param(fields.U32, 1, MAX_NOMINATIONS, default=16)
    equivocation_slash_ppm: int = param(fields.U32, 0, PPM, default=100_000, rule=PPM_RULE)
    offline_slash_ppm: int = param(fields.U32, 0, PPM, default=1_000, rule=PPM_RULE)
    reporter_reward_ppm: int = param(fields.U32, 0, PPM, default=100_000, rule=PPM_RULE)
    """The reporter's share of an equivocation's slash; the treasury gets the rest."""
    slash_window_eras: int = param(fields.U32, 0, MAX_SLASH_WINDOW_ERAS, default=6)
    """Eras after its own that an offence can still be reported in (then it expires); below
    `bonding_eras`, so that a stake unbonded after an offence is still held while it can be
    reported."""

    def check(self) -> None:
        """ValueError naming the first parameter out of its range; min_validators may not exceed
        validator_count, and an unbonded chunk unlocks only after the offences of the era it was
        unbonded in have expired (slash_window_eras below bonding_eras)."""
        self.check_fields("era_blocks", "validator_count")
        if not 1 <= self.min_validators <= self.validator_count:
            raise ValueError("min_validators must be 1 to validator_count")
        self.check_fields("bonding_eras", "slash_window_eras")
        if self.slash_window_eras >= self.bonding_eras:
            raise ValueError("slash_window_eras must be below bonding_eras")
        Record.check(self)


DEFAULT_STAKING_PARAMS: Final = StakingParams()
"""100-block eras, up to 100 validators, 100 XPL to validate and 10 XPL to nominate, 7 eras to
unbond, 100 XPL minted per era; an equivocation costs 10% (a tenth of it to the reporter) and can
be reported for 6 eras after its own, being offline 0.1%."""
