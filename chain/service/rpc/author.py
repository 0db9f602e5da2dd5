"""The author namespace: submitting transactions and watching them.

    author_submitExtrinsic(extrinsic)          → the transaction's hash
    author_submitAndWatchExtrinsic(extrinsic)  → "ready" or "future", then {"inBlock"},
                                                 {"retracted"}, {"finalized"} or a drop
                                                 (author_extrinsicUpdate; author_unwatchExtrinsic)
    author_pendingExtrinsics                   → the pool's transactions

A refused transaction is TRANSACTION_INVALID (or TRANSACTION_POOL_FULL) with `data.kind`.
"""

from __future__ import annotations

from typing import Any

from chain.core.pool import PoolError, PoolFull
from chain.service.rpc import errors
from chain.service.rpc.context import RpcContext
from chain.service.rpc.errors import RpcError
from chain.service.rpc.params import hex_bytes, param
from chain.service.rpc.protocol import Params
from chain.service.rpc.subscriptions import Subscription
from runtime.executive import InvalidTransaction
from runtime.primitives.codec import DecodeError
from runtime.primitives.hashing import to_hex
from runtime.transaction import MAX_TX_SIZE


def transaction_error(exc: Exception) -> RpcError:
    """The RPC error for a transaction that does not decode, is invalid or the pool refuses."""
    if isinstance(exc, DecodeError):
        return RpcError(
            errors.TRANSACTION_INVALID,
            f"Invalid transaction: it does not decode: {exc}",
            {"kind": "decode"},
        )
    if isinstance(exc, InvalidTransaction):
        return RpcError(
            errors.TRANSACTION_INVALID, f"Invalid transaction: {exc}", {"kind": exc.kind}
        )
    if isinstance(exc, PoolError):
        code = (
            errors.TRANSACTION_POOL_FULL
            if isinstance(exc, PoolFull)
            else errors.TRANSACTION_INVALID
        )
        return RpcError(code, f"Transaction refused: {exc}", {"kind": exc.kind})
    raise exc


def add_author_methods(ctx: RpcContext) -> None:
    """Register the author_* methods and the transaction watch subscription."""
    node = ctx.node

    def decode_submission(params: Params) -> bytes:
        return param(params, 0, "extrinsic", hex_bytes(MAX_TX_SIZE))

    def author_submit_extrinsic(params: Params) -> Any:
        raw = decode_submission(params)
        try:
            tx = node.submit(raw)
        except (DecodeError, InvalidTransaction, PoolError) as exc:
            raise transaction_error(exc) from exc
        return to_hex(tx.hash)

    def author_submit_and_watch(params: Params, subscription: Subscription) -> None:
        raw = decode_submission(params)
        try:
            tx = node.submit(raw)
        except (DecodeError, InvalidTransaction, PoolError) as exc:
            raise transaction_error(exc) from exc
        node.watch(tx, subscription)

    def author_pending_extrinsics(params: Params) -> Any:
        return [to_hex(tx.raw) for tx in node.core.pool.pending()]

    ctx.add("author_submitExtrinsic", author_submit_extrinsic, ("extrinsic",))
    ctx.add_subscription(
        "author_submitAndWatchExtrinsic",
        "author_extrinsicUpdate",
        "author_unwatchExtrinsic",
        author_submit_and_watch,
        ("extrinsic",),
    )
    ctx.add("author_pendingExtrinsics", author_pending_extrinsics, ())
