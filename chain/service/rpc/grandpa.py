"""The grandpa namespace: the finality round in progress.

grandpa_roundState → the voter's round, set and votes so far, and the last finalized block
"""

from __future__ import annotations

from typing import Any

from chain.core.grandpa import GrandpaVoter
from chain.core.rounds import Round
from chain.service.rpc.context import RpcContext
from chain.service.rpc.protocol import Params
from runtime.consensus import PRECOMMIT, PREVOTE
from runtime.primitives.hashing import to_hex


def round_state(voter: GrandpaVoter) -> dict[str, object]:
    """The voter's current round as `grandpa_roundState` shows it."""
    authorities = voter.set

    def phase(round_: Round, phase_: int) -> dict[str, object]:
        return {
            "currentWeight": str(round_.voted_weight(phase_, authorities)),
            "missing": [k.hex() for k in authorities.keys if k not in round_.votes[phase_]],
        }

    r = voter.current
    return {
        "setId": authorities.set_id,
        "round": r.number,
        "totalWeight": str(authorities.total_weight),
        "thresholdWeight": str(authorities.total_weight * 2 // 3 + 1),
        "prevotes": phase(r, PREVOTE),
        "precommits": phase(r, PRECOMMIT),
        "prevoteGhost": None if r.prevote_ghost is None else r.prevote_ghost[1],
        "estimate": None if r.estimate is None else r.estimate[1],
        "completable": r.completable,
    }


def add_grandpa_methods(ctx: RpcContext) -> None:
    """Register grandpa_roundState."""
    core = ctx.node.core

    def grandpa_round_state(params: Params) -> Any:
        state = round_state(core.voter)
        state["finalized"] = {
            "number": core.finalized_header.number,
            "hash": to_hex(core.finalized_header.hash),
        }
        return state

    ctx.add("grandpa_roundState", grandpa_round_state, ())
