"""The `xpl_jobs{state}` gauge: how many jobs the chain holds in each state, kept per best block.

One scan of the market's jobs at start (and after a reorg or a gap); then each new best block
updates only the jobs its events name, so the cost per block follows the block, not the history.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

from prometheus_client import Gauge

from chain.storage.chain_store import ChainStore
from runtime import api as runtime_api
from runtime.block import Header
from runtime.pallets import market
from runtime.state import StateOverlay


class JobStates:
    """Counts of jobs by state at the best block, published to a gauge."""

    def __init__(
        self,
        store: ChainStore,
        block_events: Callable[[bytes], list[dict[str, Any]]],
        gauge: Gauge,
    ) -> None:
        self.store = store
        self.block_events = block_events
        """The events of a block, decoded (the node decodes each block's once for all readers)."""
        self.gauge = gauge
        self.counts: Counter[str] = Counter()
        self.states: dict[int, str] = {}
        """The open jobs' states (an ended job's never changes again)."""
        self.best: bytes | None = None

    def rescan(self, block_hash: bytes) -> None:
        """Count every job in the state after `block_hash`."""
        states = {
            int.from_bytes(market.Jobs.key_suffix(key), "big"): market.Jobs.decode(raw).state
            for key, raw in self.store.iterate_state(block_hash, market.Jobs.prefix)
        }
        self.counts = Counter(states.values())
        self.states = {i: state for i, state in states.items() if state in market.OPEN_STATES}
        self.best = block_hash
        self._publish()

    def on_best_block(self, header: Header) -> None:
        """Follow a new best block: a child of the last one is read by its events."""
        if self.best != header.parent_hash:
            self.rescan(header.hash)
            return
        read = self.store.reader(header.hash)
        named = runtime_api.events_by_job(self.block_events(header.hash))
        state = StateOverlay(read)
        for job_id in sorted(named):
            job = market.Jobs.get(state, job_id)
            old = self.states.get(job_id)
            new = None if job is None else job.state
            if old == new:
                continue
            if old is not None:
                self.counts[old] -= 1
            if new is not None:
                self.counts[new] += 1
            if new in market.OPEN_STATES:
                self.states[job_id] = new
            else:  # ended for good: nothing about it changes again
                self.states.pop(job_id, None)
        self.best = header.hash
        self._publish()

    def _publish(self) -> None:
        for name in market.JOB_STATES:
            self.gauge.labels(name).set(self.counts.get(name, 0))
