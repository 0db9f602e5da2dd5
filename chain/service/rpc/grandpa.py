"""The grandpa namespace: the finality round in progress.

grandpa_roundState → the voter's round, set and votes so far, and the last finalized block
"""

from __future__ import annotations

from typing import Any

from chain.service.rpc.context import RpcContext
from chain.service.rpc.protocol import Params
from runtime.primitives.hashing import to_hex


def add_grandpa_methods(ctx: RpcContext) -> None:
    """Register grandpa_roundState."""
    core = ctx.node.core

    def grandpa_round_state(params: Params) -> Any:
        state = core.voter.round_state()
        state["finalized"] = {
            "number": core.finalized_header.number,
            "hash": to_hex(core.finalized_header.hash),
        }
        return state

    ctx.add("grandpa_roundState", grandpa_round_state)
