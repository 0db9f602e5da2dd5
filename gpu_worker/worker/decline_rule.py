"""The worker's decision to decline a matched job, as plain functions: whether it can finish the
job by its deadline, and whether the chain still takes the job back (`gpu_worker.worker.declining`
sends the decline; the simulator's workers decide theirs with the same functions)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from chain.client.blob_info import MAX_BLOB_BYTES
from runtime.pallets.market import PPM, Job, MarketParams
from runtime.primitives.hashing import to_hex
from runtime.workloads import GOP, workload_shape

MEMORY_SHARE_PPM: Final = 800_000
"""The share of the device's memory that a job's inputs and result may take."""


@dataclass(frozen=True, slots=True)
class Abilities:
    """What the worker can do: its device's memory, its registered throughput for the job's
    workload, and how long a block takes (None while not yet measured)."""

    memory_bytes: int
    throughput: int
    """10^9 cost units per second, as registered (0: none registered)."""
    seconds_per_block: float | None


def decline_reason(
    job: Job,
    head: int,
    params: MarketParams,
    abilities: Abilities,
    blob_known: Callable[[bytes], bool],
) -> str | None:
    """Why the worker cannot finish `job` by its deadline (None: it can)."""
    shape = workload_shape(job.workload, job.params)
    if shape.result_bytes > MAX_BLOB_BYTES:
        return f"its result of {shape.result_bytes} B is more than a node stores"
    needed = sum(spec.size for spec in shape.inputs) + shape.result_bytes
    if abilities.memory_bytes and needed > abilities.memory_bytes * MEMORY_SHARE_PPM // PPM:
        return f"its inputs and result ({needed} B) do not fit the device's memory"
    for name, root in job.inputs:
        if root and not blob_known(root):
            return f"its input {name} (blob {to_hex(root)[:12]}…) is not on the node"
    if abilities.throughput <= 0:
        return "this worker registered no throughput for its workload"
    if abilities.seconds_per_block:
        seconds = job.cost_units * params.deadline_safety_ppm / PPM / (abilities.throughput * GOP)
        left = (job.commit_by - head - params.deadline_margin_blocks) * abilities.seconds_per_block
        if seconds > left:
            return f"it needs about {seconds:.0f} s and {max(left, 0):.0f} s are left"
    return None


def may_decline(job: Job, head: int, params: MarketParams) -> bool:
    """Whether a decline sent now lands within the job's decline window (in the block after
    `head`, which the chain takes up to `decline_blocks` after the match)."""
    return head < job.matched_at + params.decline_blocks


__all__ = ["MEMORY_SHARE_PPM", "Abilities", "decline_reason", "may_decline"]
