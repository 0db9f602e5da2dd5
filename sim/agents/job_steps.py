"""Rows of the `jobs` table: one per step of a job's lifecycle, written once, from final blocks.

Agents report the steps they see in their home node's best blocks: the requester "submitted",
"disputed", "settled", "failed" and "expired"; the worker "matched", "committed", "audit_drawn"
and "slashed"; each committee member "attested" (its verdict: what it revealed). A best block
may be abandoned (a fork, a partition that heals), and the same step may show again in the
competing block that replaces it, so a report waits in a `JobSteps` ledger, one per recorder,
until the world's first validator finalizes a block at its height: the reports of the block
finalized there are written (in lifecycle order, with the time the block was first seen and its
number) and the others are dropped. The table thus holds the steps of the finalized chain that
the run's state root is read from; a step that is still in an unfinalized block when the run
ends is not in it.

Each step is written once per job and what tells its occurrences apart (`distinct`): a job is
matched again after a decline, and then committed and possibly slashed again, by another
worker; each committee member attests each check; each challenger disputes a leaf. A step
reported again for a block already written is not written again. Accounts are written as SS58
addresses.
"""

from __future__ import annotations

import weakref
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from chain.core.actions import Action, Finalized
from runtime.pallets import market
from runtime.primitives.address import encode_address
from sim.network import SimNetwork, SimNode
from sim.world.context import AgentContext, RowRecorder

JOBS_TABLE: Final = "jobs"
WORKERS_TABLE: Final = "workers"
LIFECYCLE: Final = (
    "submitted",
    "matched",
    "committed",
    "audit_drawn",
    "disputed",
    "attested",
    "slashed",
    "settled",
    "failed",
    "expired",
)
"""The steps in the order a job goes through them (the order of one block's rows)."""
WRITTEN_KEYS: Final = 65_536
"""Written steps remembered, so that a late report of one (a requester or worker reading its
open jobs afresh reports their steps again) is not written again; far more than the steps of the
jobs open at once."""

StepKey = tuple[Any, ...]


def address(account: bytes | None) -> str | None:
    """An account as the tables write it (None stays None)."""
    return None if account is None else encode_address(account)


@dataclass(slots=True)
class _Report:
    key: StepKey
    order: tuple[int, int]
    columns: dict[str, Any] | None
    """The row to write (None: only `then`)."""
    then: Callable[[], None] | None = None
    """Run when the report's block is final (a worker books its payment or slash then)."""


class JobSteps:
    """Reported steps held by block until the reference node finalizes their height."""

    def __init__(self, recorder: RowRecorder, net: SimNetwork) -> None:
        self.recorder = recorder
        self.reference = net.nodes[next(iter(net.nodes))]
        self._pending: dict[bytes, list[_Report]] = {}
        self._heights: dict[bytes, int] = {}
        self._first_seen: dict[bytes, int] = {}
        self._written: OrderedDict[StepKey, None] = OrderedDict()
        self._final_number = max(self.reference.finalized, default=0)
        self._seq = 0
        net.add_observer(self._observe)

    def report(
        self,
        block_hash: bytes,
        number: int,
        t_ms: int,
        step: str,
        key: StepKey,
        columns: dict[str, Any] | None,
        then: Callable[[], None] | None = None,
    ) -> None:
        """A step seen in block `block_hash` (at height `number`) at `t_ms`: its row written
        and `then` run once, when that block is final, unless `key` was written before. A
        report of a block already final is written at once, at its own time."""
        if key in self._written:
            return
        self._seq += 1
        report = _Report(key, (LIFECYCLE.index(step), self._seq), columns, then)
        if number <= self._final_number:
            # Its height is final already: written now if in the finalized block.
            if self.reference.finalized.get(number) == block_hash:
                self._write([report], t_ms)
            return
        self._first_seen.setdefault(block_hash, t_ms)
        self._heights[block_hash] = number
        self._pending.setdefault(block_hash, []).append(report)

    def _observe(self, node: SimNode, action: Action) -> None:
        if node is not self.reference or not isinstance(action, Finalized):
            return
        for header in action.headers:
            if header.number <= self._final_number:
                continue
            self._final_number = header.number
            reports = self._pending.pop(header.hash, [])
            t_ms = self._first_seen.pop(header.hash, 0)
            self._heights.pop(header.hash, None)
            self._write(sorted(reports, key=lambda r: r.order), t_ms)
        # The reports of abandoned blocks at final heights go.
        for block_hash in [h for h, n in self._heights.items() if n <= self._final_number]:
            del self._heights[block_hash]
            self._pending.pop(block_hash, None)
            self._first_seen.pop(block_hash, None)

    def _write(self, reports: list[_Report], t_ms: int) -> None:
        for report in reports:
            if report.key in self._written:
                continue
            self._written[report.key] = None
            if len(self._written) > WRITTEN_KEYS:
                self._written.popitem(last=False)
            if report.columns is not None:
                self.recorder.row(JOBS_TABLE, t_ms=t_ms, **report.columns)
            if report.then is not None:
                report.then()


_LEDGERS: weakref.WeakKeyDictionary[SimNetwork, dict[int, JobSteps]] = weakref.WeakKeyDictionary()
"""Each network's ledgers, by the identity of the recorder they write to (a recorder need not
be hashable)."""


def job_steps(ctx: AgentContext) -> JobSteps:
    """The ledger of `ctx`'s network and recorder (made on first use)."""
    ledgers = _LEDGERS.setdefault(ctx.net, {})
    ledger = ledgers.get(id(ctx.recorder))
    if ledger is None:
        ledger = ledgers[id(ctx.recorder)] = JobSteps(ctx.recorder, ctx.net)
    return ledger


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
    block_hash: bytes | None = None,
    distinct: StepKey = (),
    then: Callable[[], None] | None = None,
) -> None:
    """Report one row of the `jobs` table, seen in block `block_hash` at height `block` (the
    home node's best chain's block there if None); the job's own fields (workload, requester,
    worker, price, cost) from `job` where known. `distinct`: what tells this occurrence of the
    step apart from others of the same job; `then`: run once with the row."""
    if block_hash is None:
        block_hash = ctx.core().store.hash_at(block)
        if block_hash is None:
            return
    columns = {
        "job": job_id,
        "step": step,
        "block": block,
        "workload": job.workload if job is not None else None,
        "requester": address(job.requester) if job is not None else None,
        "worker": address(
            worker if worker is not None else job.worker if job is not None else None
        ),
        "price": job.price if job is not None else 0,
        "cost_units": job.cost_units if job is not None else 0,
        "verdict": verdict,
        "amount": amount,
    }
    key = (job_id, step, *distinct)
    job_steps(ctx).report(block_hash, block, ctx.now_ms, step, key, columns, then)


def on_final(
    ctx: AgentContext, block: int, step: str, key: StepKey, then: Callable[[], None]
) -> None:
    """Run `then` once, when the home node's best block at height `block` is final (never if it
    is abandoned; once only for `key`, whichever block shows it first on the final chain);
    `step` places it among the block's rows."""
    block_hash = ctx.core().store.hash_at(block)
    if block_hash is not None:
        job_steps(ctx).report(block_hash, block, ctx.now_ms, step, key, None, then)


__all__ = [
    "JOBS_TABLE",
    "LIFECYCLE",
    "WORKERS_TABLE",
    "JobSteps",
    "address",
    "job_steps",
    "on_final",
    "record_step",
]
