"""Spending calls: the calls a spending track's origin may make, and what each would pay.

A referendum on a track other than `root` is enacted with that track's origin, which may only
make the calls registered here (the treasury's `spend`, bounties' `approve_bounty`, grants'
`award`, ...), and only for at most the track's `max_spend`. Each pallet that spends the
treasury's funds registers its spending calls when it is imported, with a function giving the
amount a call would pay from its arguments, so that referenda refuses a proposal above its
track's limit at submission rather than at enactment.

Referenda reads the registry; it imports none of the spending pallets.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeAlias

from runtime.state import StateOverlay

SpendAmount: TypeAlias = Callable[[StateOverlay, tuple[Any, ...]], int]
"""What a spending call would pay, from the state and the call's decoded arguments."""

SPENDING_CALLS: dict[tuple[str, str], SpendAmount] = {}
"""Every spending call, by (pallet, call name): the amount it would pay."""


def register_spending_call(pallet: str, name: str, amount: SpendAmount) -> None:
    """Declare `pallet.name` a spending call that a spending track may make, paying
    `amount(state, args)`."""
    SPENDING_CALLS[(pallet, name)] = amount


def spending_calls() -> Mapping[tuple[str, str], SpendAmount]:
    """The registered spending calls."""
    return SPENDING_CALLS


def spend_amount(state: StateOverlay, pallet: str, name: str, args: tuple[Any, ...]) -> int | None:
    """What the call `pallet.name(args)` would pay, or None if it is not a spending call."""
    amount = SPENDING_CALLS.get((pallet, name))
    return None if amount is None else amount(state, args)
