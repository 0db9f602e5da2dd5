"""Grants' constants, records and storage items."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from runtime import fields
from runtime.accounts import pallet_sub_account
from runtime.framework import U64_CODEC, BlockContext, StorageMap, StorageValue, record_codec
from runtime.pallets.grants.errors import UnknownGrant
from runtime.schema import Record, param

NAME: Final = "grants"
GRANT_ID: Final = b"xpl/grnt"
"""The pallet id of grant accounts: `accounts.pallet_sub_account(GRANT_ID, grant)`."""
ALLOWED_CALLS: Final = frozenset({("market", "submit_job"), ("market", "cancel_job")})
"""The only calls a builder may make as its grant's account: a requester's calls on the market
(compute.dispute is left out: a failed dispute pays its bond to the job's worker, which may be
the builder's own)."""
SUBMIT: Final = ("market", "submit_job")
SUBMIT_PRICE_ARG: Final = 5
"""The position of `max_price` in market.submit_job's arguments."""
AWARD_WEIGHT: Final = 50_000_000
CALL_WEIGHT: Final = 20_000_000
"""A grant call's own weight, besides the weight of the market call it dispatches."""
CLOSE_WEIGHT: Final = 50_000_000


@dataclass(frozen=True, slots=True)
class Grant(Record):
    """A compute grant: an allowance in its own account, spendable by its builder on compute
    jobs only, at prices up to `max_price`, until `expires_at`."""

    builder: bytes = param(fields.ACCOUNT)
    awarded: int = param(fields.BALANCE)
    """What the treasury paid into the grant's account."""
    max_price: int = param(fields.BALANCE)
    """The highest `max_price` (per 10^9 cost units) a job paid by the grant may offer."""
    awarded_at: int = param(fields.U64)
    expires_at: int = param(fields.U64)
    """The block from which no job may be submitted and anyone may close the grant."""
    closed: bool = param(fields.BOOL, default=False)
    """Closed while jobs still held escrow: no job may be submitted; a later close sweeps the
    refunds and ends the grant."""


def _u64_key(k: int) -> bytes:
    return k.to_bytes(8, "big")


GrantCount: Final = StorageValue[int](NAME, "GrantCount", U64_CODEC, 0)
"""The id the next grant gets; ids are never reused."""
Grants: Final = StorageMap[int, Grant](NAME, "Grants", _u64_key, record_codec(Grant))


def grant_account(grant_id: int) -> bytes:
    """The account that holds a grant's funds and is the requester of the jobs it pays for."""
    return pallet_sub_account(GRANT_ID, grant_id)


def grant(ctx: BlockContext, grant_id: int) -> Grant:
    """The grant `grant_id`; UnknownGrant if there is none."""
    found = Grants.get(ctx.state, grant_id)
    if found is None:
        raise UnknownGrant(f"no grant {grant_id}")
    return found
