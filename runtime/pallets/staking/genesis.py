"""Staking's part of the genesis config: validators and nominators bonded from genesis."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from runtime.framework import BlockContext
from runtime.pallets import balances
from runtime.pallets.staking.constants import HOLD
from runtime.pallets.staking.params import StakingParams
from runtime.pallets.staking.storage import Ledger, Ledgers
from runtime.primitives.address import encode_address
from runtime.primitives.amount import format_amount


@dataclass(frozen=True, slots=True)
class GenesisValidator:
    """A validator bonded at genesis: its stash, bond, session key (None: the stash) and
    commission."""

    stash: bytes
    bond: int
    session_key: bytes | None = None
    commission_ppm: int = 0

    @property
    def key(self) -> bytes:
        return self.stash if self.session_key is None else self.session_key


@dataclass(frozen=True, slots=True)
class GenesisNominator:
    """A nominator bonded at genesis."""

    stash: bytes
    bond: int
    targets: tuple[bytes, ...]


def genesis_bond(ctx: BlockContext, stash: bytes, bond: int, role: str) -> None:
    """Hold a genesis bond out of the stash's genesis balance; ValueError if it cannot."""
    try:
        balances.hold(ctx, stash, HOLD, bond)
    except balances.BalancesError as exc:
        raise ValueError(
            f"genesis {role} {encode_address(stash)} cannot bond {format_amount(bond)}: its "
            f"genesis balance is {format_amount(balances.free_balance(ctx, stash))}"
        ) from exc
    Ledgers.insert(ctx.state, stash, Ledger(active=bond))


class StakingGenesis(Protocol):
    """The part of the genesis config that staking builds from."""

    @property
    def staking(self) -> StakingParams: ...

    @property
    def validators(self) -> Sequence[GenesisValidator]: ...

    @property
    def nominators(self) -> Sequence[GenesisNominator]: ...
