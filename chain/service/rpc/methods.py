"""The node's JSON-RPC method table, with Substrate's names where one exists.

One module per namespace registers its methods: `system`, `chain`, `state`, `author`, `payment`,
`balances`, `grandpa`, `market`, `models`, `staking`, `gov` (`referenda`, `votes`), `treasury`,
`bounties` (treasury_bounties, grants_list), `blob` and (only with `--test-rpc`) `testing`.
Hashes, keys and byte strings are 0x hex; block numbers in headers are hex (as Substrate's);
balances are decimal strings (they exceed JSON's safe integers); addresses are SS58-style.
Parameters may be given by position or by name.
"""

from __future__ import annotations

from chain.service.blob_grants import UploadGate
from chain.service.rpc.author import add_author_methods
from chain.service.rpc.balances import add_balances_methods
from chain.service.rpc.blob import add_blob_methods
from chain.service.rpc.bounties import add_bounty_methods
from chain.service.rpc.chain import add_chain_methods
from chain.service.rpc.context import RpcContext, RpcNode
from chain.service.rpc.grandpa import add_grandpa_methods
from chain.service.rpc.market import add_market_methods
from chain.service.rpc.models import add_models_methods
from chain.service.rpc.payment import add_payment_methods
from chain.service.rpc.referenda import add_referenda_methods
from chain.service.rpc.registry import RpcMethods
from chain.service.rpc.staking import add_staking_methods
from chain.service.rpc.state import add_state_methods
from chain.service.rpc.system import add_system_methods
from chain.service.rpc.testing import add_test_methods
from chain.service.rpc.treasury import add_treasury_methods
from chain.service.rpc.votes import add_vote_methods


def build_methods(node: RpcNode, *, test_rpc: bool = False) -> RpcMethods:
    """Every RPC method of the node, bound to `node` (the test-only ones with `test_rpc`)."""
    ctx = RpcContext(node, RpcMethods())
    add_system_methods(ctx)
    add_chain_methods(ctx)
    add_state_methods(ctx)
    add_author_methods(ctx)
    add_payment_methods(ctx)
    add_balances_methods(ctx)
    network = node.network
    add_blob_methods(
        ctx.methods,
        node.blobs,
        node.clock,
        UploadGate(node.core.store),
        None if network is None else network.fetch_blob_leaf,
    )
    add_market_methods(ctx)
    add_models_methods(ctx)
    add_staking_methods(ctx)
    add_referenda_methods(ctx)
    add_vote_methods(ctx)
    add_bounty_methods(ctx)
    add_treasury_methods(ctx)
    add_grandpa_methods(ctx)
    if test_rpc:
        add_test_methods(ctx)
    return ctx.methods
