"""The chain namespace: headers, blocks, their hashes and events, and head subscriptions.

chain_getHeader(hash?)          → a header, or null
chain_getBlock(hash?)           → {"block": {"header", "extrinsics"}, "justifications"}, or null
chain_getBlockHash(number?)     → the hash at `number` on the best chain (the best's if none)
chain_getFinalizedHead          → (also chain_getFinalisedHead)
chain_getEvents(at?)            → the block's events, decoded
chain_subscribeNewHeads         → each new best block's header (chain_newHead)
chain_subscribeFinalizedHeads   → each newly finalized header (chain_finalizedHead)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from chain.service.rpc.context import RpcContext
from chain.service.rpc.params import block_number, hash32, param
from chain.service.rpc.protocol import Params
from chain.service.rpc.registry import SubscriptionHandler
from chain.service.rpc.subscriptions import Subscription
from runtime import api as runtime_api
from runtime.block import Header
from runtime.pallets.system import EVENTS_KEY
from runtime.primitives.hashing import to_hex


def _subscribe_heads(
    target: set[Subscription], latest: Callable[[], Header]
) -> SubscriptionHandler:
    def handler(params: Params, subscription: Subscription) -> None:
        target.add(subscription)
        subscription.on_close(lambda: target.discard(subscription))
        subscription.send(latest().to_json())

    return handler


def add_chain_methods(ctx: RpcContext) -> None:
    """Register the chain_* methods and head subscriptions."""
    node = ctx.node
    store = node.core.store

    def header_json(block_hash: bytes) -> Any:
        header = store.header(block_hash)
        return None if header is None else header.to_json()

    def chain_get_header(params: Params) -> Any:
        return header_json(param(params, 0, "hash", hash32, default=store.best_hash))

    def chain_get_block(params: Params) -> Any:
        block_hash = param(params, 0, "hash", hash32, default=store.best_hash)
        block = store.block(block_hash)
        if block is None:
            return None
        justification = store.justification(block_hash)
        return {
            "block": {
                "header": block.header.to_json(),
                "extrinsics": [to_hex(x) for x in block.extrinsics],
            },
            "justifications": None if justification is None else [to_hex(justification)],
        }

    def chain_get_block_hash(params: Params) -> Any:
        number = param(params, 0, "number", block_number, default=None)
        if number is None:
            return to_hex(store.best_hash)
        found = store.hash_at(number)
        return None if found is None else to_hex(found)

    def chain_get_finalized_head(params: Params) -> Any:
        return to_hex(store.finalized_hash)

    def chain_get_events(params: Params) -> Any:
        block_hash = ctx.at_hash(params, 0)
        raw = ctx.reader_at(block_hash)(EVENTS_KEY)
        return [] if raw is None else runtime_api.decode_events(raw)

    ctx.add("chain_getHeader", chain_get_header, ("hash",))
    ctx.add("chain_getBlock", chain_get_block, ("hash",))
    ctx.add("chain_getBlockHash", chain_get_block_hash, ("number",))
    ctx.add("chain_getFinalizedHead", chain_get_finalized_head, ())
    ctx.add("chain_getFinalisedHead", chain_get_finalized_head, ())
    ctx.add("chain_getEvents", chain_get_events, ("at",))
    ctx.add_subscription(
        "chain_subscribeNewHeads",
        "chain_newHead",
        "chain_unsubscribeNewHeads",
        _subscribe_heads(node.head_subscribers, lambda: store.best_header),
        (),
    )
    ctx.add_subscription(
        "chain_subscribeFinalizedHeads",
        "chain_finalizedHead",
        "chain_unsubscribeFinalizedHeads",
        _subscribe_heads(node.finalized_subscribers, lambda: store.finalized_header),
        (),
    )
