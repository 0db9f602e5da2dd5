"""The treasury namespace: its funds, promises, spends, next burn and ledger.

    treasury_status(at?) → {
        "balance", "available", "promised": the treasury's free balance; what it may still
            pay or burn (the balance less the existential deposit and the promised); what
            approved spends are promised,
        "pendingSpends": [spend], "recentSpends": [spend]: the spends still to be paid, oldest
            first, and the latest ended ones (paid, expired, voided), newest last, each
            {"index", "amount", "beneficiary", "validFrom", "expireAt", "approvedAt", "origin",
            "status", "endedAt"},
        "spendCount": spends approved since genesis,
        "block", "spendPeriod", "nextSpendPeriodAt", "nextBurn": the block read, the spend
            period, the block of the next burn and what it would burn now,
        "params": {"spendPeriod", "burnPpm", "payoutPeriod", "inflationSharePpm"},
        "ledger": {"genesis", "income": {source: amount}, "paid": {purpose: amount}, "burned",
            "expectedBalance"}
    }
    treasury_spend(index, at?) → a spend as above, or null if no spend has that index

Amounts are decimal strings, accounts addresses, as in the rest of the RPC.
"""

from __future__ import annotations

from typing import Any

from chain.service.rpc.context import RpcContext
from chain.service.rpc.params import param
from chain.service.rpc.protocol import Params
from runtime.pallets import system, treasury
from runtime.primitives.address import encode_address
from runtime.schema import record_to_json
from runtime.state import StateOverlay


def spend_json(index: int, spend: treasury.Spend) -> dict[str, Any]:
    """One spend's record as RPC JSON."""
    return {
        "index": index,
        "amount": str(spend.amount),
        "beneficiary": encode_address(spend.beneficiary),
        "validFrom": spend.valid_from,
        "expireAt": spend.expire_at,
        "approvedAt": spend.approved_at,
        "origin": spend.origin,
        "status": spend.status,
        "endedAt": spend.ended_at,
    }


def _spends_json(state: StateOverlay, indices: tuple[int, ...]) -> list[dict[str, Any]]:
    found = []
    for index in indices:
        spend = treasury.Spends.get(state, index)
        if spend is not None:
            found.append(spend_json(index, spend))
    return found


def status_json(state: StateOverlay) -> dict[str, Any]:
    """The treasury as `treasury_status` reports it."""
    p = treasury.Params.get(state)
    ledger = treasury.Ledgers.get(state)
    number = system.Number.get(state)
    return {
        "balance": str(treasury.balance(state)),
        "available": str(treasury.available(state)),
        "promised": str(treasury.Promised.get(state)),
        "pendingSpends": _spends_json(state, treasury.Pending.get(state)),
        "recentSpends": _spends_json(state, treasury.History.get(state)),
        "spendCount": treasury.SpendCount.get(state),
        "block": number,
        "spendPeriod": p.spend_period,
        "nextSpendPeriodAt": (number // p.spend_period + 1) * p.spend_period,
        "nextBurn": str(treasury.next_burn(state)),
        "params": record_to_json(p),
        "ledger": {
            "genesis": str(ledger.genesis),
            "income": {source: str(getattr(ledger, source)) for source in treasury.SOURCES},
            "paid": {purpose: str(getattr(ledger, purpose)) for purpose in treasury.PURPOSES},
            "burned": str(ledger.burned),
            "expectedBalance": str(ledger.expected_balance()),
        },
    }


def _index(value: Any) -> int:
    if type(value) is not int or not 0 <= value < 2**32:
        raise ValueError("expected a spend index (an integer from 0 to 2^32 - 1)")
    return value


def add_treasury_methods(ctx: RpcContext) -> None:
    """Register the treasury_* methods."""

    def state_at(params: Params, index: int) -> StateOverlay:
        return StateOverlay(ctx.reader_at(ctx.at_hash(params, index)))

    def treasury_status(params: Params) -> Any:
        return status_json(state_at(params, 0))

    def treasury_spend(params: Params) -> Any:
        index = param(params, 0, "index", _index)
        spend = treasury.Spends.get(state_at(params, 1), index)
        return None if spend is None else spend_json(index, spend)

    ctx.add("treasury_status", treasury_status, ("at",))
    ctx.add("treasury_spend", treasury_spend, ("index", "at"))


__all__ = ["add_treasury_methods", "spend_json", "status_json"]
