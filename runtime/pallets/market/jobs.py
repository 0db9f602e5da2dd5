"""Reading the market: its parameters and jobs (the interface the compute pallet and RPC use)."""

from __future__ import annotations

from runtime.framework import BlockContext
from runtime.pallets.market.errors import UnknownJob
from runtime.pallets.market.params import MarketParams
from runtime.pallets.market.storage import Job, Jobs, Params
from runtime.state import StateOverlay


def params_in(state: StateOverlay) -> MarketParams:
    """The market's parameters in a state (outside a block, as at genesis)."""
    return Params.get(state)


def find_job(ctx: BlockContext, job_id: int) -> Job | None:
    """The job with this id, or None if there is none."""
    return Jobs.get(ctx.state, job_id)


def job(ctx: BlockContext, job_id: int) -> Job:
    """The job with this id; UnknownJob if there is none."""
    found = Jobs.get(ctx.state, job_id)
    if found is None:
        raise UnknownJob()
    return found
