"""The `xpl_jobs{state}` gauge: how many jobs the chain holds in each state, kept per best block.

One scan of the market's jobs at start (and after a reorg or a gap); then each new best block
updates only the jobs its events name, so the cost per block follows the block, not the history.
"""

from __future__ import annotations

from collections import Counter

from prometheus_client import Gauge

from chain.storage.chain_store import ChainStore
from runtime import api as runtime_api
from runtime.block import Header
from runtime.pallets import market
from runtime.pallets.system import EVENTS_KEY
from runtime.state import StateOverlay

JOB_PALLETS = ("market", "compute")


class JobStates:
    """Counts of jobs by state at the best block, published to a gauge."""

    def __init__(self, store: ChainStore, gauge: Gauge) -> None:
        self.store = store
        self.gauge = gauge
        self.counts: Counter[str] = Counter()
        self.states: dict[int, str] = {}
        self.best: bytes | None = None

    def rescan(self, block_hash: bytes) -> None:
        """Count every job in the state after `block_hash`."""
        self.states = {
            int.from_bytes(market.Jobs.key_suffix(key), "big"): market.Jobs.decode(raw).state
            for key, raw in self.store.iterate_state(block_hash, market.Jobs.prefix)
        }
        self.counts = Counter(self.states.values())
        self.best = block_hash
        self._publish()

    def on_best_block(self, header: Header) -> None:
        """Follow a new best block: a child of the last one is read by its events."""
        if self.best != header.parent_hash:
            self.rescan(header.hash)
            return
        read = self.store.reader(header.hash)
        raw = read(EVENTS_KEY)
        events = [] if raw is None else runtime_api.decode_events(raw)
        named = {
            e["data"]["job"]
            for e in events
            if e.get("pallet") in JOB_PALLETS
            and isinstance(e.get("data"), dict)
            and isinstance(e["data"].get("job"), int)
        }
        state = StateOverlay(read)
        for job_id in sorted(named):
            job = market.Jobs.get(state, job_id)
            old = self.states.get(job_id)
            new = None if job is None else job.state
            if old == new:
                continue
            if old is not None:
                self.counts[old] -= 1
            if new is None:
                self.states.pop(job_id, None)
            else:
                self.counts[new] += 1
                self.states[job_id] = new
        self.best = header.hash
        self._publish()

    def _publish(self) -> None:
        for name in market.JOB_STATES:
            self.gauge.labels(name).set(self.counts.get(name, 0))
