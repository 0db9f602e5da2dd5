"""The node's JSON-RPC methods, with Substrate's names where one exists.

Hashes, keys and byte strings are 0x hex; block numbers in headers are hex (as Substrate's);
balances are decimal strings (they exceed JSON's safe integers); addresses are SS58-style.
Parameters may be given by position or by name.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib import metadata as importlib_metadata
from typing import Any

from chain.core.pool import PoolError
from chain.rpc import errors
from chain.rpc.blob_api import add_blob_methods
from chain.rpc.errors import RpcError
from chain.rpc.market_api import add_market_methods
from chain.rpc.network_api import add_network_methods, health
from chain.rpc.params import check_arity as _check_arity
from chain.rpc.params import param as _param
from chain.rpc.server import Params, RpcMethods, Subscription
from chain.rpc.staking_api import add_staking_methods
from chain.service import NodeService
from chain.storage.chain_store import StatePruned, UnknownBlock
from runtime import api as runtime_api
from runtime.block import Header
from runtime.executive import InvalidTransaction
from runtime.pallets.system import EVENTS_KEY
from runtime.primitives.address import parse_account
from runtime.primitives.codec import DecodeError
from runtime.primitives.hashing import from_hex, to_hex
from runtime.primitives.trie import TrieError
from runtime.transaction import MAX_TX_SIZE, SignedTransaction
from runtime.version import RUNTIME_VERSION

MAX_PROOF_KEYS = 1_000


def _hash32(value: Any) -> bytes:
    return from_hex(value, length=32, what="block hash")


def _hex_bytes(limit: int) -> Callable[[Any], bytes]:
    def parse(value: Any) -> bytes:
        data = from_hex(value, what="bytes")
        if len(data) > limit:
            raise ValueError(f"{len(data)} bytes, over the limit of {limit}")
        return data

    return parse


def _block_number(value: Any) -> int:
    if isinstance(value, str):
        value = int(value, 16) if value.startswith("0x") else int(value)
    if type(value) is not int or not 0 <= value < 2**32:
        raise ValueError("expected a block number")
    return value


def _account(value: Any) -> bytes:
    if not isinstance(value, str):
        raise ValueError("expected an address")
    return parse_account(value)


def _unknown_block(block_hash: bytes) -> RpcError:
    return RpcError(errors.UNKNOWN_BLOCK, f"Unknown block 0x{block_hash.hex()}")


def _tx_error(exc: Exception) -> RpcError:
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
        code = errors.TRANSACTION_POOL_FULL if exc.kind == "full" else errors.TRANSACTION_INVALID
        return RpcError(code, f"Transaction refused: {exc}", {"kind": exc.kind})
    raise exc


def build_methods(service: NodeService, *, test_rpc: bool = False) -> RpcMethods:
    """Every RPC method of the node, bound to `service` (the test-only ones with `test_rpc`)."""
    core = service.core
    store = core.store
    methods = RpcMethods()
    metrics = service.metrics

    def add(name: str, handler: Callable[[Params], Any]) -> None:
        def counted(params: Params) -> Any:
            metrics.rpc_calls.labels(name).inc()
            try:
                return handler(params)
            except Exception:
                metrics.rpc_errors.labels(name).inc()
                raise

        methods.add(name, counted)

    def at_hash(params: Params, index: int) -> bytes:
        block_hash = _param(params, index, "at", _hash32, default=store.best_hash)
        if store.header(block_hash) is None:
            raise _unknown_block(block_hash)
        return block_hash

    def reader_at(block_hash: bytes) -> Any:
        try:
            read = store.reader(block_hash)
        except StatePruned as exc:
            raise RpcError(errors.STATE_PRUNED, str(exc)) from exc
        except UnknownBlock as exc:
            raise _unknown_block(block_hash) from exc

        def guarded(key: bytes) -> bytes | None:
            try:
                return read(key)
            except TrieError as exc:  # a state gone from the database: pruned or damaged
                raise RpcError(errors.STATE_PRUNED, f"state unavailable: {exc}") from exc

        return guarded

    # system

    def system_health(params: Params) -> Any:
        return health(service)

    def system_chain(params: Params) -> Any:
        return service.spec.name

    def system_chain_type(params: Params) -> Any:
        return service.spec.chain_type

    def system_name(params: Params) -> Any:
        return "xpl-node"

    def system_version(params: Params) -> Any:
        try:
            return importlib_metadata.version("xpl")
        except importlib_metadata.PackageNotFoundError:
            return "0.0.0-dev"

    def system_properties(params: Params) -> Any:
        return service.spec.properties

    def system_account_next_index(params: Params) -> Any:
        _check_arity(params, 1)
        who = _param(params, 0, "account", _account)
        return core.next_nonce(who)

    add("system_health", system_health)
    add("system_chain", system_chain)
    add("system_chainType", system_chain_type)
    add("system_name", system_name)
    add("system_version", system_version)
    add("system_properties", system_properties)
    add("system_accountNextIndex", system_account_next_index)

    # chain

    def header_json(block_hash: bytes) -> Any:
        header = store.header(block_hash)
        return None if header is None else header.to_json()

    def chain_get_header(params: Params) -> Any:
        _check_arity(params, 1)
        return header_json(_param(params, 0, "hash", _hash32, default=store.best_hash))

    def chain_get_block(params: Params) -> Any:
        _check_arity(params, 1)
        block_hash = _param(params, 0, "hash", _hash32, default=store.best_hash)
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
        _check_arity(params, 1)
        number = _param(params, 0, "number", _block_number, default=None)
        if number is None:
            return to_hex(store.best_hash)
        found = store.hash_at(number)
        return None if found is None else to_hex(found)

    def chain_get_finalized_head(params: Params) -> Any:
        return to_hex(store.finalized_hash)

    def chain_get_events(params: Params) -> Any:
        _check_arity(params, 1)
        block_hash = at_hash(params, 0)
        raw = reader_at(block_hash)(EVENTS_KEY)
        return [] if raw is None else runtime_api.decode_events(raw)

    add("chain_getHeader", chain_get_header)
    add("chain_getBlock", chain_get_block)
    add("chain_getBlockHash", chain_get_block_hash)
    add("chain_getFinalizedHead", chain_get_finalized_head)
    add("chain_getFinalisedHead", chain_get_finalized_head)
    add("chain_getEvents", chain_get_events)

    def subscribe_heads(target: set[Subscription], latest: Callable[[], Header]) -> Any:
        def handler(params: Params, subscription: Subscription) -> None:
            target.add(subscription)
            subscription.on_close(lambda: target.discard(subscription))
            subscription.send(latest().to_json())

        return handler

    methods.add_subscription(
        "chain_subscribeNewHeads",
        "chain_newHead",
        "chain_unsubscribeNewHeads",
        subscribe_heads(service.head_subscribers, lambda: store.best_header),
    )
    methods.add_subscription(
        "chain_subscribeFinalizedHeads",
        "chain_finalizedHead",
        "chain_unsubscribeFinalizedHeads",
        subscribe_heads(service.finalized_subscribers, lambda: store.finalized_header),
    )

    # state

    def state_get_storage(params: Params) -> Any:
        _check_arity(params, 2)
        key = _param(params, 0, "key", _hex_bytes(1024))
        value = reader_at(at_hash(params, 1))(key)
        return None if value is None else to_hex(value)

    def state_get_read_proof(params: Params) -> Any:
        _check_arity(params, 2)

        def parse_keys(value: Any) -> list[bytes]:
            if not isinstance(value, list) or len(value) > MAX_PROOF_KEYS:
                raise ValueError(f"expected a list of at most {MAX_PROOF_KEYS} hex keys")
            return [_hex_bytes(1024)(k) for k in value]

        keys = _param(params, 0, "keys", parse_keys)
        block_hash = at_hash(params, 1)
        reader_at(block_hash)
        try:
            proof = store.read_proof(block_hash, keys)
        except StatePruned as exc:
            raise RpcError(errors.STATE_PRUNED, str(exc)) from exc
        except TrieError as exc:
            raise RpcError(errors.STATE_PRUNED, f"state unavailable: {exc}") from exc
        return {"at": to_hex(block_hash), "proof": [to_hex(node) for node in proof]}

    def state_get_runtime_version(params: Params) -> Any:
        return RUNTIME_VERSION.to_json()

    def state_get_metadata(params: Params) -> Any:
        return runtime_api.metadata()

    add("state_getStorage", state_get_storage)
    add("state_getReadProof", state_get_read_proof)
    add("state_getRuntimeVersion", state_get_runtime_version)
    add("state_getMetadata", state_get_metadata)

    # author

    def decode_submission(params: Params) -> bytes:
        _check_arity(params, 1)
        return _param(params, 0, "extrinsic", _hex_bytes(MAX_TX_SIZE))

    def author_submit_extrinsic(params: Params) -> Any:
        raw = decode_submission(params)
        try:
            tx = service.submit(raw)
        except (DecodeError, InvalidTransaction, PoolError) as exc:
            raise _tx_error(exc) from exc
        return to_hex(tx.hash)

    def author_submit_and_watch(params: Params, subscription: Subscription) -> None:
        raw = decode_submission(params)
        try:
            tx = service.submit(raw)
        except (DecodeError, InvalidTransaction, PoolError) as exc:
            raise _tx_error(exc) from exc
        service.watch(tx, subscription)

    def author_pending_extrinsics(params: Params) -> Any:
        return [to_hex(tx.raw) for tx in core.pool.pending()]

    add("author_submitExtrinsic", author_submit_extrinsic)
    methods.add_subscription(
        "author_submitAndWatchExtrinsic",
        "author_extrinsicUpdate",
        "author_unwatchExtrinsic",
        author_submit_and_watch,
    )
    add("author_pendingExtrinsics", author_pending_extrinsics)

    # payment and balances

    def payment_query_info(params: Params) -> Any:
        _check_arity(params, 2)
        raw = _param(params, 0, "extrinsic", _hex_bytes(MAX_TX_SIZE))
        block_hash = at_hash(params, 1)
        try:
            tx = SignedTransaction.decode(raw)
            info = runtime_api.query_fee(reader_at(block_hash), tx)
        except (DecodeError, InvalidTransaction) as exc:
            raise _tx_error(exc) from exc
        return {"weight": info.weight, "class": "normal", "partialFee": str(info.partial_fee)}

    def balances_account(params: Params) -> Any:
        _check_arity(params, 2)
        who = _param(params, 0, "account", _account)
        info = runtime_api.account_info(reader_at(at_hash(params, 1)), who)
        return {
            "nonce": info.nonce,
            "free": str(info.free),
            "reserved": str(info.reserved),
            "total": str(info.total),
            "holds": [{"reason": r, "amount": str(a)} for r, a in info.holds],
        }

    add("payment_queryInfo", payment_query_info)
    add("balances_account", balances_account)
    network = service.network
    add_blob_methods(
        methods, service.blobs, service.clock, None if network is None else network.fetch_blob
    )
    add_market_methods(methods, service, add, at_hash, reader_at)
    add_staking_methods(add, at_hash, reader_at)
    add_network_methods(service, add, test_rpc=test_rpc)
    return methods


__all__ = ["build_methods", "health"]
