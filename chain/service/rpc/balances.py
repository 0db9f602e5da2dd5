"""The balances namespace: an account's balance.

balances_account(account, at?) → {"nonce", "free", "reserved", "total",
                                  "holds": [{"reason", "amount"}],
                                  "frozen", "freezes": [{"id", "amount"}]}

"frozen" is the largest freeze (a vote's lock): it keeps that much of the free balance and the
staking hold in the account (the free balance beyond it may be spent).
"""

from __future__ import annotations

from typing import Any

from chain.service.rpc.context import RpcContext
from chain.service.rpc.params import account, param
from chain.service.rpc.protocol import Params
from runtime import api as runtime_api


def add_balances_methods(ctx: RpcContext) -> None:
    """Register balances_account."""

    def balances_account(params: Params) -> Any:
        who = param(params, 0, "account", account)
        read = ctx.reader_at(ctx.at_hash(params, 1))
        info = runtime_api.account_info(read, who)
        freezes = runtime_api.freezes(read, who)
        return {
            "nonce": info.nonce,
            "free": str(info.free),
            "reserved": str(info.reserved),
            "total": str(info.total),
            "holds": [{"reason": r, "amount": str(a)} for r, a in info.holds],
            "frozen": str(max((a for _, a in freezes), default=0)),
            "freezes": [{"id": i, "amount": str(a)} for i, a in freezes],
        }

    ctx.add("balances_account", balances_account, ("account", "at"))
