"""The state namespace: storage at a block, read proofs, the runtime's version and metadata.

state_getStorage(key, at?)      → the value, or null
state_getReadProof(keys, at?)   → {"at", "proof": [trie node]} (at most MAX_PROOF_KEYS keys)
state_getRuntimeVersion
state_getMetadata()             → {"version", "pallets": [{"name", "calls": [{"name", "args":
                                  [[name, type]], "doc"}], "events": [{"name", "fields", "doc"}],
                                  "errors": [{"name", "doc"}]}]}: every call a transaction may make
"""

from __future__ import annotations

from typing import Any

from chain.service.rpc import errors
from chain.service.rpc.context import RpcContext
from chain.service.rpc.errors import RpcError
from chain.service.rpc.params import hex_bytes, param
from chain.service.rpc.protocol import Params
from chain.storage.chain_store import StatePruned
from runtime import api as runtime_api
from runtime.primitives.hashing import to_hex
from runtime.primitives.trie import TrieError
from runtime.version import RUNTIME_VERSION

MAX_PROOF_KEYS = 1_000


def add_state_methods(ctx: RpcContext) -> None:
    """Register the state_* methods."""
    store = ctx.node.core.store

    def state_get_storage(params: Params) -> Any:
        key = param(params, 0, "key", hex_bytes(1024))
        value = ctx.reader_at(ctx.at_hash(params, 1))(key)
        return None if value is None else to_hex(value)

    def state_get_read_proof(params: Params) -> Any:

        def parse_keys(value: Any) -> list[bytes]:
            if not isinstance(value, list) or len(value) > MAX_PROOF_KEYS:
                raise ValueError(f"expected a list of at most {MAX_PROOF_KEYS} hex keys")
            return [hex_bytes(1024)(k) for k in value]

        keys = param(params, 0, "keys", parse_keys)
        block_hash = ctx.at_hash(params, 1)
        ctx.reader_at(block_hash)
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
        return {"version": RUNTIME_VERSION.to_json(), **runtime_api.metadata()}

    ctx.add("state_getStorage", state_get_storage, ("key", "at"))
    ctx.add("state_getReadProof", state_get_read_proof, ("keys", "at"))
    ctx.add("state_getRuntimeVersion", state_get_runtime_version, ())
    ctx.add("state_getMetadata", state_get_metadata, ())
