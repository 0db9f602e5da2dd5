"""The payment namespace: what a transaction would pay.

payment_queryInfo(extrinsic, at?) → {"weight", "class", "partialFee"}
"""

from __future__ import annotations

from typing import Any

from chain.service.rpc.author import transaction_error
from chain.service.rpc.context import RpcContext
from chain.service.rpc.params import hex_bytes, param
from chain.service.rpc.protocol import Params
from runtime import api as runtime_api
from runtime.executive import InvalidTransaction
from runtime.primitives.codec import DecodeError
from runtime.transaction import MAX_TX_SIZE, SignedTransaction


def add_payment_methods(ctx: RpcContext) -> None:
    """Register payment_queryInfo."""

    def payment_query_info(params: Params) -> Any:
        raw = param(params, 0, "extrinsic", hex_bytes(MAX_TX_SIZE))
        block_hash = ctx.at_hash(params, 1)
        try:
            tx = SignedTransaction.decode(raw)
            info = runtime_api.query_fee(ctx.reader_at(block_hash), tx)
        except (DecodeError, InvalidTransaction) as exc:
            raise transaction_error(exc) from exc
        return {"weight": info.weight, "class": "normal", "partialFee": str(info.partial_fee)}

    ctx.add("payment_queryInfo", payment_query_info, ("extrinsic", "at"))
