"""The market's queues: jobs waiting for a worker (counted per requester), and the jobs to look
at in a given block."""

from __future__ import annotations

from runtime.framework import BlockContext, StorageMap
from runtime.pallets.market.storage import PendingCount, PendingJobs


def schedule(
    queue: StorageMap[int, tuple[int, ...]], ctx: BlockContext, number: int, job_id: int
) -> None:
    """Queue `job_id` in `queue` for block `number` (once)."""
    queued = queue.get(ctx.state, number) or ()
    if job_id not in queued:
        queue.insert(ctx.state, number, (*queued, job_id))


def enqueue(ctx: BlockContext, job_id: int, requester: bytes) -> None:
    """Put a job at the end of the queue of waiting jobs, counted for its requester."""
    PendingJobs.put(ctx.state, (*PendingJobs.get(ctx.state), job_id))
    PendingCount.insert(ctx.state, requester, pending_of(ctx, requester) + 1)


def dequeue(ctx: BlockContext, job_id: int, requester: bytes) -> None:
    """Take a job out of the queue of waiting jobs (it was matched or it ended)."""
    PendingJobs.put(ctx.state, tuple(i for i in PendingJobs.get(ctx.state) if i != job_id))
    left = pending_of(ctx, requester) - 1
    if left > 0:
        PendingCount.insert(ctx.state, requester, left)
    else:
        PendingCount.remove(ctx.state, requester)


def pending_of(ctx: BlockContext, requester: bytes) -> int:
    """How many of the requester's jobs wait for a worker."""
    return PendingCount.get(ctx.state, requester) or 0
