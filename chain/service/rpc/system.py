"""The system namespace: the node, its chain, its peers and its sync state.

system_health                 → {"peers", "isSyncing", "shouldHavePeers"}, and "storage"
                                 ({"healthy": false, "error", "failures", "faultedForMs"}) only
                                 while the database fails its writes
system_chain, system_chainType, system_name, system_version, system_properties
system_accountNextIndex(account) → the next nonce, counting the pool's transactions
system_peers                  → the connected peers with what they last told of their chain
system_localPeerId, system_localListenAddresses
system_syncState              → {"startingBlock", "currentBlock", "highestBlock",
                                 "finalizedBlock"}
"""

from __future__ import annotations

from importlib import metadata as importlib_metadata
from typing import Any

from chain.service.rpc.context import RpcContext, RpcNode
from chain.service.rpc.params import account, param
from chain.service.rpc.protocol import Params
from runtime.primitives.hashing import to_hex


def health(node: RpcNode) -> dict[str, Any]:
    """`system_health`: peers, whether the node is syncing, whether it should have peers, and
    (only while it lasts) a storage fault."""
    network = node.network
    peers = 0 if network is None else len(network.network.peers())
    best = node.core.best_header.number
    answer: dict[str, Any] = {
        "peers": peers,
        "isSyncing": node.core.sync.is_syncing(best),
        "shouldHavePeers": network is not None and node.spec.chain_type != "Development",
    }
    storage = node.storage.to_json()
    if storage is not None:
        answer["storage"] = storage
    return answer


def add_system_methods(ctx: RpcContext) -> None:
    """Register the system_* methods."""
    node = ctx.node
    core = node.core

    def system_health(params: Params) -> Any:
        return health(node)

    def system_chain(params: Params) -> Any:
        return node.spec.name

    def system_chain_type(params: Params) -> Any:
        return node.spec.chain_type

    def system_name(params: Params) -> Any:
        return "xpl-node"

    def system_version(params: Params) -> Any:
        try:
            return importlib_metadata.version("xpl")
        except importlib_metadata.PackageNotFoundError:
            return "0.0.0-dev"

    def system_properties(params: Params) -> Any:
        return node.spec.properties

    def system_account_next_index(params: Params) -> Any:
        who = param(params, 0, "account", account)
        return core.next_nonce(who)

    def system_peers(params: Params) -> Any:
        network = node.network
        if network is None:
            return []
        peers = core.sync.peers
        out = []
        for info in network.network.peers():
            known = peers.get(info.peer)
            out.append(
                {
                    "peerId": info.peer,
                    "address": info.address,
                    "direction": info.direction,
                    "score": round(info.score, 3),
                    "roles": "AUTHORITY" if known is not None and known.authority else "FULL",
                    "bestNumber": None if known is None else known.best_number,
                    "bestHash": None
                    if known is None or not known.best_hash
                    else to_hex(known.best_hash),
                    "finalizedNumber": None if known is None else known.finalized_number,
                }
            )
        return out

    def system_local_peer_id(params: Params) -> Any:
        return None if node.network is None else node.network.peer_id

    def system_local_listen_addresses(params: Params) -> Any:
        return [] if node.network is None else list(node.network.network.listen_addresses)

    def system_sync_state(params: Params) -> Any:
        best = core.best_header.number
        return {
            "startingBlock": 0,
            "currentBlock": best,
            "highestBlock": max(best, core.sync.highest_peer_block()),
            "finalizedBlock": core.finalized_header.number,
        }

    ctx.add("system_health", system_health, ())
    ctx.add("system_chain", system_chain, ())
    ctx.add("system_chainType", system_chain_type, ())
    ctx.add("system_name", system_name, ())
    ctx.add("system_version", system_version, ())
    ctx.add("system_properties", system_properties, ())
    ctx.add("system_accountNextIndex", system_account_next_index, ("account",))
    ctx.add("system_peers", system_peers, (), unsafe=True)
    ctx.add("system_localPeerId", system_local_peer_id, ())
    ctx.add("system_localListenAddresses", system_local_listen_addresses, ())
    ctx.add("system_syncState", system_sync_state, ())
