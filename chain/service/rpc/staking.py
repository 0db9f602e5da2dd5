"""The staking namespace: the validators and candidates, the era, and a stash's ledger.

    staking_validators(at?)   → {"seats", "active": [...], "candidates": [...]}: the seats an
                                election fills (validator_count); the era's validators with
                                their session keys, stashes, total and own backing and each
                                nominator's share of it (as sequential Phragmén split it),
                                commission, era points so far and whether they are disabled; and
                                every candidate with its session key, active bond, commission and
                                pending commission raise ({"commissionPpm", "fromBlock"} or null)
    staking_era(at?)          → {"era", "start", "eraBlocks", "nextEraAt", "forced"}
    staking_ledger(stash, at?) → {"stash", "active", "total", "unlocking": [{"block", "amount"}],
                                "sessionKey", "validating", "nominating"}, or null if not bonded

Amounts are decimal strings, accounts addresses, as in the rest of the RPC.
"""

from __future__ import annotations

from typing import Any

from chain.service.rpc.context import RpcContext
from chain.service.rpc.params import account, param
from chain.service.rpc.protocol import Params
from runtime.pallets import session, staking
from runtime.primitives.address import encode_address
from runtime.state import StateOverlay


def _optional_address(who: bytes | None) -> str | None:
    return None if who is None else encode_address(who)


def validators_json(state: StateOverlay) -> dict[str, Any]:
    """The era's validators and the candidates, as staking_validators answers."""
    disabled = set(session.Disabled.get(state))
    active = []
    for stash, key in staking.Active.get(state):
        exposure = staking.Exposures.get(state, stash)
        activity = staking.EraActivity.get(state, stash) or staking.Activity()
        active.append(
            {
                "stash": encode_address(stash),
                "sessionKey": encode_address(key),
                "total": str(0 if exposure is None else exposure.total),
                "own": str(0 if exposure is None else exposure.own),
                "nominators": []
                if exposure is None
                else [{"stash": encode_address(n), "amount": str(a)} for n, a in exposure.others],
                "commissionPpm": 0 if exposure is None else exposure.commission_ppm,
                "points": activity.points,
                "blocks": activity.blocks,
                "disabled": key in disabled,
            }
        )
    candidates = []
    for stash in staking.Candidates.get(state):
        ledger = staking.Ledgers.get(state, stash)
        candidates.append(
            {
                "stash": encode_address(stash),
                "sessionKey": _optional_address(staking.SessionKeys.get(state, stash)),
                "bond": str(0 if ledger is None else ledger.active),
                "commissionPpm": staking.Validators.get(state, stash) or 0,
                "pendingCommission": _raise_json(staking.PendingCommission.get(state, stash)),
            }
        )
    seats = staking.Params.get(state).validator_count
    return {"seats": seats, "active": active, "candidates": candidates}


def _raise_json(pending: staking.CommissionRaise | None) -> dict[str, int] | None:
    if pending is None:
        return None
    return {"commissionPpm": pending.commission_ppm, "fromBlock": pending.from_block}


def era_json(state: StateOverlay) -> dict[str, Any]:
    """The current era, when it began and when the next one starts, as staking_era answers."""
    p = staking.Params.get(state)
    start = staking.EraStart.get(state)
    forced = staking.ForceEra.get(state)
    return {
        "era": staking.CurrentEra.get(state),
        "start": start,
        "eraBlocks": p.era_blocks,
        "nextEraAt": start + 1 if forced else (start // p.era_blocks + 1) * p.era_blocks,
        "forced": forced,
    }


def ledger_json(state: StateOverlay, stash: bytes) -> dict[str, Any] | None:
    """A stash's bond, unlocking amounts, session key and roles, as staking_ledger answers; None if
    it is not bonded."""
    ledger = staking.Ledgers.get(state, stash)
    if ledger is None:
        return None
    targets = staking.Nominations.get(state, stash)
    return {
        "stash": encode_address(stash),
        "active": str(ledger.active),
        "total": str(ledger.total),
        "unlocking": [{"block": b, "amount": str(amount)} for b, amount in ledger.unlocking],
        "sessionKey": _optional_address(staking.SessionKeys.get(state, stash)),
        "validating": staking.Validators.get(state, stash) is not None,
        "nominating": None if targets is None else [encode_address(t) for t in targets],
    }


def add_staking_methods(ctx: RpcContext) -> None:
    """Register the staking_* methods."""

    def state_at(params: Params, index: int) -> StateOverlay:
        return StateOverlay(ctx.reader_at(ctx.at_hash(params, index)))

    def staking_validators(params: Params) -> Any:
        return validators_json(state_at(params, 0))

    def staking_era(params: Params) -> Any:
        return era_json(state_at(params, 0))

    def staking_ledger(params: Params) -> Any:
        stash = param(params, 0, "stash", account)
        return ledger_json(state_at(params, 1), stash)

    ctx.add("staking_validators", staking_validators, ("at",))
    ctx.add("staking_era", staking_era, ("at",))
    ctx.add("staking_ledger", staking_ledger, ("stash", "at"))


__all__ = ["add_staking_methods", "era_json", "ledger_json", "validators_json"]
