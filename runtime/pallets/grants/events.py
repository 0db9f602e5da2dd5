"""Grants' events."""

from __future__ import annotations

from typing import Final

from runtime import fields
from runtime.framework import EventDef
from runtime.pallets.grants.storage import NAME

_GRANT = ("grant", fields.U64)

GrantAwarded: Final = EventDef(
    NAME,
    "GrantAwarded",
    (
        _GRANT,
        ("builder", fields.ACCOUNT),
        ("amount", fields.BALANCE),
        ("max_price", fields.BALANCE),
        ("expires_at", fields.U64),
        ("account", fields.ACCOUNT),
    ),
    "The treasury paid a compute grant into its account, for its builder's jobs.",
)
GrantCallDispatched: Final = EventDef(
    NAME,
    "GrantCallDispatched",
    (_GRANT, ("call", fields.str_type(64))),
    "The builder made a market call as the grant's account (its events follow).",
)
GrantClosed: Final = EventDef(
    NAME,
    "GrantClosed",
    (_GRANT, ("returned", fields.BALANCE), ("still_held", fields.BALANCE)),
    "A grant's free balance went back to the treasury; `still_held` is open jobs' escrow, which "
    "returns to the grant's account as they end and a later close sweeps (0: the grant ended).",
)

EVENTS: Final = (GrantAwarded, GrantCallDispatched, GrantClosed)
