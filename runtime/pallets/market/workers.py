"""Workers' records: asks, reputation, the end of a job for its worker, and retiring."""

from __future__ import annotations

from dataclasses import replace

from runtime.framework import BlockContext
from runtime.pallets import balances
from runtime.pallets.market.constants import MAX_REPUTATION, MIN_REPUTATION, STAKE
from runtime.pallets.market.errors import BadAsk
from runtime.pallets.market.escrow import release_held
from runtime.pallets.market.events import WorkerRetired
from runtime.pallets.market.storage import Job, Worker, WorkerList, Workers
from runtime.workloads import WORKLOADS


def _set_reputation(worker: Worker, delta: int) -> Worker:
    value = max(MIN_REPUTATION, min(MAX_REPUTATION, worker.reputation + delta))
    return replace(worker, reputation=value)


def end_for_worker(ctx: BlockContext, current: Job, reputation: int) -> Worker | None:
    """The worker of an ending job, with the job's slot and bond freed (None if it is gone)."""
    assert current.worker is not None
    worker = Workers.get(ctx.state, current.worker)
    if worker is None:
        return None
    worker = replace(
        worker, active=max(0, worker.active - 1), bonded=max(0, worker.bonded - current.slash)
    )
    return _set_reputation(worker, reputation)


def store_worker(ctx: BlockContext, account: bytes, worker: Worker | None) -> None:
    """Write back a worker after a job: dropped if a slash reaped it, retired if it asked to be and
    is idle."""
    if worker is None:
        return
    if not balances.exists(ctx, account):  # reaped by a slash: it cannot stay
        Workers.remove(ctx.state, account)
        WorkerList.put(ctx.state, tuple(a for a in WorkerList.get(ctx.state) if a != account))
        return
    if worker.retiring and worker.active == 0:
        _retire(ctx, account, worker)
    else:
        Workers.insert(ctx.state, account, worker)


def _retire(ctx: BlockContext, account: bytes, worker: Worker) -> None:
    """Release a worker's stake and remove it from the market."""
    held = release_held(ctx, account, STAKE, balances.held(ctx, account, STAKE))
    Workers.remove(ctx.state, account)
    WorkerList.put(ctx.state, tuple(a for a in WorkerList.get(ctx.state) if a != account))
    ctx.deposit_event(WorkerRetired, account, held)


def checked_asks(workloads: list[str], prices: list[int]) -> tuple[tuple[str, int], ...]:
    """Checked (workload, price) pairs."""
    if len(workloads) != len(prices) or not workloads:
        raise BadAsk()
    if len(set(workloads)) != len(workloads) or any(w not in WORKLOADS for w in workloads):
        raise BadAsk()
    if any(price == 0 for price in prices):
        raise BadAsk()
    return tuple(zip(workloads, prices, strict=True))
