"""Declining matched jobs the worker cannot finish, while declining is still cheap.

The market lets a worker give a matched job back within `decline_blocks` blocks of the match for
`decline_penalty_ppm` of the job's slash and a point of reputation; after that the worker must
commit by the deadline or lose `miss_penalty_ppm` of it (twenty times more at the defaults) and two
points. So the worker looks at each newly matched job before it fetches anything, and declines it
at once if it cannot do it: an input its node cannot serve, a result larger than a node stores,
inputs and result beyond the device's memory, or more time than is left before the deadline at the
throughput the worker registered (with the same safety factor the chain applies). A job whose
inputs turn out to be unobtainable or malformed while they are fetched is declined too, if the
window is still open.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from chain.client.blob_info import MAX_BLOB_BYTES
from chain.client.chain import XplClient, make_call
from gpu_worker.worker.config import COMMIT_TIMEOUT_S
from runtime.pallets.market import PPM, Job, MarketParams
from runtime.primitives.hashing import to_hex
from runtime.primitives.keys import Keypair
from runtime.workloads import GOP, workload_shape

log = logging.getLogger("xpl.worker")

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


class BlockClock:
    """The time a block takes, as seen from the blocks the worker follows."""

    def __init__(self) -> None:
        self._first: tuple[int, float] | None = None
        self._last: tuple[int, float] | None = None

    def observe(self, head: int) -> None:
        """Note that the best block is `head` now."""
        now = time.monotonic()
        if self._first is None:
            self._first = (head, now)
        self._last = (head, now)

    def seconds_per_block(self) -> float | None:
        """The mean time between the blocks seen so far (None before two)."""
        if self._first is None or self._last is None or self._last[0] <= self._first[0]:
            return None
        return (self._last[1] - self._first[1]) / (self._last[0] - self._first[0])


class Decliner:
    """Decides, and sends, the declines of one worker's matched jobs."""

    def __init__(self, keypair: Keypair, memory_bytes: int) -> None:
        self.keypair = keypair
        self.memory_bytes = memory_bytes
        self.clock = BlockClock()

    def reason(self, client: XplClient, job: Job, head: int) -> str | None:
        """Why this worker cannot finish the matched `job` (None: it can)."""
        params, _ = client.market_params()
        worker = client.workers().get(self.keypair.public)
        throughput = 0 if worker is None else worker.throughput_for(job.workload)
        abilities = Abilities(self.memory_bytes, throughput, self.clock.seconds_per_block())
        return decline_reason(
            job,
            head,
            params,
            abilities,
            lambda root: client.rpc.call("blob_info", to_hex(root)) is not None,
        )

    def decline(self, client: XplClient, job_id: int, job: Job, head: int, reason: str) -> bool:
        """Give the job back if its decline window is still open; whether it was declined."""
        params, _ = client.market_params()
        if head >= job.matched_at + params.decline_blocks:
            return False  # the next block would be past the window
        tx = client.sign(self.keypair, make_call("market", "decline_job", job_id))
        outcome = client.submit_and_watch(tx, until="inBlock", timeout=COMMIT_TIMEOUT_S)
        if not outcome.success:
            log.warning("job #%d: the chain refused to take it back: %s", job_id, outcome.error)
            return False
        log.info(
            "job #%d declined: %s",
            job_id,
            reason,
            extra={"job": job_id, "step": "declined", "reason": reason},
        )
        return True
