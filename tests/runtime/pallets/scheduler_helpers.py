"""Builders for the scheduler and sudo tests: a dev chain's state driven block by block through
the scheduler's hook, and the real calls the tasks are made of.

`Blocks` keeps a genesis state in a dict and opens one BlockContext per block over it (the
system pallet's block number set, as its hook would), runs the scheduler's hook, and commits the
block's changes, checking the scheduler's invariants after each. Tasks are real calls:
`compute.set_params` (light; Root may make it; checked against the market's parameters) and
`staking.report_equivocation` (heavy, a fifth of the scheduler's budget; it needs a signer, so
a task with any other origin fails with BadOrigin after its weight is counted).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import fields, replace
from typing import Any, Final

from runtime import dispatch, executive
from runtime.framework import BlockContext, DispatchError, EventRecord, Origin
from runtime.genesis import build_genesis_state
from runtime.pallets import compute, scheduler, system
from runtime.pallets.compute import DEFAULT_COMPUTE_PARAMS, ComputeParams
from runtime.primitives.hashing import ZERO_HASH
from runtime.state import StateOverlay
from tests.runtime.conftest import apply_changes, dev_genesis_config, prefix_iterator

assert executive.CALLS  # the runtime's calls are registered with dispatch on import

SAFE_PARAMS: Final = replace(DEFAULT_COMPUTE_PARAMS, audit_ppm=700_000)
"""Compute parameters that keep cheating unprofitable, other than the genesis ones."""
UNSAFE_PARAMS: Final = replace(DEFAULT_COMPUTE_PARAMS, audit_ppm=1_000)
"""Compute parameters under which faking results pays: compute refuses them."""


def set_params_call(params: ComputeParams) -> bytes:
    """An encoded `compute.set_params` to `params`."""
    return dispatch.encode_call(
        "compute", "set_params", tuple(getattr(params, f.name) for f in fields(params))
    )


HEAVY_CALL: Final = dispatch.encode_call("staking", "report_equivocation", (b"\x01" * 64,))
HEAVY_WEIGHT: Final = scheduler.TASK_WEIGHT + dispatch.weight_of(HEAVY_CALL)
LIGHT_CALL: Final = set_params_call(SAFE_PARAMS)
LIGHT_WEIGHT: Final = scheduler.TASK_WEIGHT + dispatch.weight_of(LIGHT_CALL)


class Blocks:
    """A dev chain's state advanced one block at a time through the scheduler's hook."""

    def __init__(self) -> None:
        self.state: dict[bytes, bytes] = build_genesis_state(dev_genesis_config())
        self.number = 0

    def open(self) -> BlockContext:
        """A context for the next block, its number recorded as the system hook would."""
        ctx = BlockContext(
            state=StateOverlay(self.state.get),
            number=self.number + 1,
            parent_hash=ZERO_HASH,
            timestamp=0,
            author=bytes(32),
            genesis_hash=ZERO_HASH,
        )
        system.Number.put(ctx.state, ctx.number)
        return ctx

    def commit(self, ctx: BlockContext) -> None:
        """Make the block's changes the state, and check the scheduler's invariants there."""
        apply_changes(self.state, ctx.state.changes())
        self.number = ctx.number
        problems = scheduler.Scheduler().check_invariants(
            self.state.get, prefix_iterator(self.state)
        )
        assert problems == [], problems

    def run(self, transactions: Callable[[BlockContext], object] | None = None) -> BlockContext:
        """Author the next block: the scheduler's hook runs, then `transactions` (calls made in
        the block, after its hooks, as a block's extrinsics are); the block is committed."""
        ctx = self.open()
        ctx.mandatory_weight += scheduler.Scheduler().on_initialize(ctx)
        if transactions is not None:
            transactions(ctx)
        self.commit(ctx)
        return ctx

    def run_to(self, number: int) -> list[BlockContext]:
        """Run blocks up to `number`; their contexts."""
        return [self.run() for _ in range(number - self.number)]

    def overlay(self) -> StateOverlay:
        return StateOverlay(self.state.get)

    def compute_params(self) -> ComputeParams:
        return compute.Params.get(self.overlay())


def dispatched(ctx: BlockContext) -> list[tuple[Any, ...]]:
    """The Dispatched events of a block, as their fields."""
    return [r.args for r in ctx.events if r.event is scheduler.Dispatched]


def named(records: list[EventRecord]) -> list[tuple[str, tuple[Any, ...]]]:
    return [(f"{r.event.pallet}.{r.event.name}", r.args) for r in records]


def make(ctx: BlockContext, origin: Origin, pallet: str, name: str, *args: Any) -> str | None:
    """Make a call with `origin` as a transaction would (reverted if it fails); the name of the
    error it failed with (`pallet.Error`), or None if it succeeded."""
    try:
        dispatch.dispatch(ctx, origin, dispatch.encode_call(pallet, name, args))
    except DispatchError as exc:
        return f"{exc.pallet}.{exc.error_name()}"
    return None
