"""Rows of the `jobs` table: one per step of a job's lifecycle, written by the agent that saw it.

Each step is written once: the requester writes "submitted", "disputed", "settled", "failed" and
"expired"; the worker "matched", "committed", "audit_drawn" and "slashed"; each committee member
"attested" (its verdict: what it revealed). Accounts are written as SS58 addresses.
"""

from __future__ import annotations

from typing import Final

from runtime.pallets import market
from runtime.primitives.address import encode_address
from sim.world.context import AgentContext

JOBS_TABLE: Final = "jobs"
WORKERS_TABLE: Final = "workers"


def address(account: bytes | None) -> str | None:
    """An account as the tables write it (None stays None)."""
    return None if account is None else encode_address(account)


def record_step(
    ctx: AgentContext,
    step: str,
    job_id: int,
    block: int,
    job: market.Job | None,
    *,
    worker: bytes | None = None,
    verdict: str | None = None,
    amount: int = 0,
) -> None:
    """Write one row of the `jobs` table; the job's own fields (workload, requester, worker,
    price, cost) from `job` where known."""
    ctx.recorder.row(
        JOBS_TABLE,
        t_ms=ctx.now_ms,
        job=job_id,
        step=step,
        block=block,
        workload=job.workload if job is not None else None,
        requester=address(job.requester) if job is not None else None,
        worker=address(worker if worker is not None else job.worker if job is not None else None),
        price=job.price if job is not None else 0,
        cost_units=job.cost_units if job is not None else 0,
        verdict=verdict,
        amount=amount,
    )


__all__ = ["JOBS_TABLE", "WORKERS_TABLE", "address", "record_step"]
