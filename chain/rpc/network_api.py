"""The node's network and finality over RPC: peers, health and sync state, the GRANDPA round,
and (only with `--test-rpc`) a network filter for tests that split the network."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from chain.rpc.errors import INVALID_PARAMS, RpcError
from chain.rpc.params import check_arity, param
from chain.rpc.server import Params
from chain.service import NodeService
from runtime.primitives.hashing import to_hex


def health(service: NodeService) -> dict[str, Any]:
    """`system_health`: peers, whether the node is syncing, and whether it should have peers."""
    network = service.network
    peers = 0 if network is None else len(network.network.peers())
    best = service.core.best_header.number
    return {
        "peers": peers,
        "isSyncing": service.core.sync.is_syncing(best),
        "shouldHavePeers": network is not None and service.spec.chain_type != "Development",
    }


def _peer_ids(value: Any) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(p, str) and p for p in value):
        raise ValueError("expected a list of peer ids")
    if len(value) > 1_000:
        raise ValueError("at most 1000 peer ids")
    return value


def add_network_methods(
    service: NodeService,
    add: Callable[[str, Callable[[Params], Any]], None],
    *,
    test_rpc: bool,
) -> None:
    """Register system_peers, system_syncState, system_local*, grandpa_roundState and, with
    `test_rpc`, test_setBlockedPeers."""
    core = service.core

    def system_peers(params: Params) -> Any:
        network = service.network
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
        return None if service.network is None else service.network.peer_id

    def system_local_listen_addresses(params: Params) -> Any:
        return [] if service.network is None else list(service.network.network.listen_addresses)

    def system_sync_state(params: Params) -> Any:
        best = core.best_header.number
        return {
            "startingBlock": 0,
            "currentBlock": best,
            "highestBlock": max(best, core.sync.highest_peer_block()),
            "finalizedBlock": core.finalized_header.number,
        }

    def grandpa_round_state(params: Params) -> Any:
        state = core.voter.round_state()
        state["finalized"] = {
            "number": core.finalized_header.number,
            "hash": to_hex(core.finalized_header.hash),
        }
        return state

    add("system_peers", system_peers)
    add("system_localPeerId", system_local_peer_id)
    add("system_localListenAddresses", system_local_listen_addresses)
    add("system_syncState", system_sync_state)
    add("grandpa_roundState", grandpa_round_state)

    if test_rpc:

        def test_set_blocked_peers(params: Params) -> Any:
            check_arity(params, 1)
            peers = param(params, 0, "peers", _peer_ids)
            if service.network is None:
                raise RpcError(INVALID_PARAMS, "this node runs without a network")
            service.network.network.set_blocked(peers)
            return len(peers)

        add("test_setBlockedPeers", test_set_blocked_peers)
