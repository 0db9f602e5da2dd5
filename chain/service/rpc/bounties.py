"""The bounties and grants namespace: what the treasury funds beyond its spends.

    treasury_bounties(at?) → [{"id", "status", "value", "description", "proposer", "bond",
                             "account", "balance", "curator", "fee", "curatorDeposit",
                             "updateDue", "beneficiary", "unlockAt", "children": [{"id",
                             "status", "value", "description", "account", "balance", "curator",
                             "fee", "curatorDeposit", "beneficiary", "unlockAt"}]}], newest
                             first, at most MAX_LISTED
    grants_list(at?)       → [{"id", "builder", "awarded", "maxPrice", "awardedAt",
                             "expiresAt", "closed", "account", "free", "held"}], newest first,
                             at most MAX_LISTED

A description is shown as text when it is UTF-8, else as 0x hex. Amounts are decimal strings,
accounts addresses, as in the rest of the RPC; a status is one of `proposed`, `funded`,
`curator_proposed`, `active`, `pending_payout` (children: `added` instead of the first two).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Final

from chain.service.rpc.context import RpcContext
from chain.service.rpc.protocol import Params
from runtime.pallets import bounties, grants, system
from runtime.primitives.address import encode_address
from runtime.primitives.hashing import to_hex
from runtime.state import StateOverlay

MAX_LISTED: Final = 500
"""The most bounties or grants one answer lists (the newest)."""

Entries = Callable[[bytes], Iterable[tuple[bytes, bytes]]]
"""The stored (key, value) pairs under a prefix, of the state being read."""


def _address(who: bytes | None) -> str | None:
    return None if who is None else encode_address(who)


def _text(description: bytes) -> str:
    try:
        return description.decode("utf-8")
    except UnicodeDecodeError:
        return to_hex(description)


def _funds(state: StateOverlay, account: bytes) -> tuple[int, int]:
    """An account's free and held balance (0, 0 for none)."""
    info = system.Account.get(state, account)
    return (0, 0) if info is None else (info.free, info.total - info.free)


def child_json(state: StateOverlay, child_id: int, child: bounties.ChildBounty) -> dict[str, Any]:
    """A child bounty as treasury_bounties lists it."""
    account = bounties.child_account(child_id)
    return {
        "id": child_id,
        "status": child.status,
        "value": str(child.value),
        "description": _text(child.description),
        "account": encode_address(account),
        "balance": str(_funds(state, account)[0]),
        "curator": _address(child.curator),
        "fee": str(child.fee),
        "curatorDeposit": str(child.curator_deposit),
        "beneficiary": _address(child.beneficiary),
        "unlockAt": child.unlock_at,
    }


def bounty_json(state: StateOverlay, bounty_id: int, bounty: bounties.Bounty) -> dict[str, Any]:
    """A bounty with its open children, as treasury_bounties lists it."""
    account = bounties.bounty_account(bounty_id)
    children = []
    for child_id in bounties.Children.get(state, bounty_id) or ():
        child = bounties.ChildBounties.get(state, child_id)
        if child is not None:
            children.append(child_json(state, child_id, child))
    return {
        "id": bounty_id,
        "status": bounty.status,
        "value": str(bounty.value),
        "description": _text(bounty.description),
        "proposer": encode_address(bounty.proposer),
        "bond": str(bounty.bond),
        "account": encode_address(account),
        "balance": str(_funds(state, account)[0]),
        "curator": _address(bounty.curator),
        "fee": str(bounty.fee),
        "curatorDeposit": str(bounty.curator_deposit),
        "updateDue": bounty.update_due,
        "beneficiary": _address(bounty.beneficiary),
        "unlockAt": bounty.unlock_at,
        "children": children,
    }


def _newest(entries: Iterable[tuple[bytes, bytes]], suffix: Callable[[bytes], bytes]) -> list[int]:
    ids = sorted((int.from_bytes(suffix(key), "big") for key, _ in entries), reverse=True)
    return ids[:MAX_LISTED]


def bounties_json(state: StateOverlay, entries: Entries) -> list[dict[str, Any]]:
    """Every bounty (the newest MAX_LISTED) with its children, as treasury_bounties answers."""
    out = []
    for bounty_id in _newest(entries(bounties.Bounties.prefix), bounties.Bounties.key_suffix):
        bounty = bounties.Bounties.get(state, bounty_id)
        if bounty is not None:
            out.append(bounty_json(state, bounty_id, bounty))
    return out


def grants_json(state: StateOverlay, entries: Entries) -> list[dict[str, Any]]:
    """Every grant (the newest MAX_LISTED) with its account's funds, as grants_list answers."""
    out = []
    for grant_id in _newest(entries(grants.Grants.prefix), grants.Grants.key_suffix):
        grant = grants.Grants.get(state, grant_id)
        if grant is None:
            continue
        account = grants.grant_account(grant_id)
        free, held = _funds(state, account)
        out.append(
            {
                "id": grant_id,
                "builder": encode_address(grant.builder),
                "awarded": str(grant.awarded),
                "maxPrice": str(grant.max_price),
                "awardedAt": grant.awarded_at,
                "expiresAt": grant.expires_at,
                "closed": grant.closed,
                "account": encode_address(account),
                "free": str(free),
                "held": str(held),
            }
        )
    return out


def add_bounty_methods(ctx: RpcContext) -> None:
    """Register treasury_bounties and grants_list."""
    store = ctx.node.core.store

    def read(params: Params, index: int) -> tuple[StateOverlay, Entries]:
        block_hash = ctx.at_hash(params, index)
        return (
            StateOverlay(ctx.reader_at(block_hash)),
            lambda prefix: store.iterate_state(block_hash, prefix),
        )

    def treasury_bounties(params: Params) -> Any:
        return bounties_json(*read(params, 0))

    def grants_list(params: Params) -> Any:
        return grants_json(*read(params, 0))

    ctx.add("treasury_bounties", treasury_bounties, ("at",))
    ctx.add("grants_list", grants_list, ("at",))


__all__ = ["MAX_LISTED", "add_bounty_methods", "bounties_json", "bounty_json", "grants_json"]
