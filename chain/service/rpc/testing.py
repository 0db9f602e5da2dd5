"""The test namespace, served only with `--test-rpc`: a network filter for tests that split the
network.

    test_setBlockedPeers([peerId]) → how many peers are now blocked (replacing the last list)
"""

from __future__ import annotations

from typing import Any

from chain.service.rpc.context import RpcContext
from chain.service.rpc.errors import INVALID_PARAMS, RpcError
from chain.service.rpc.params import param
from chain.service.rpc.protocol import Params


def _peer_ids(value: Any) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(p, str) and p for p in value):
        raise ValueError("expected a list of peer ids")
    if len(value) > 1_000:
        raise ValueError("at most 1000 peer ids")
    return value


def add_test_methods(ctx: RpcContext) -> None:
    """Register test_setBlockedPeers."""
    node = ctx.node

    def test_set_blocked_peers(params: Params) -> Any:
        peers = param(params, 0, "peers", _peer_ids)
        if node.network is None:
            raise RpcError(INVALID_PARAMS, "this node runs without a network")
        node.network.network.set_blocked(peers)
        return len(peers)

    ctx.add("test_setBlockedPeers", test_set_blocked_peers, ("peers",), unsafe=True)
