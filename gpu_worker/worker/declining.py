"""Declining matched jobs the worker cannot finish, while declining is still cheap.

The market lets a worker give a matched job back within `decline_blocks` blocks of the match for
`decline_penalty_ppm` of the job's slash and a point of reputation; after that the worker must
commit by the deadline or lose `miss_penalty_ppm` of it (twenty times more at the defaults) and two
points. So the worker looks at each newly matched job before it fetches anything, and declines it
at once if it cannot do it: an input its node cannot serve, a result larger than a node stores,
inputs and result beyond the device's memory, or more time than is left before the deadline at the
throughput the worker registered (with the same safety factor the chain applies). A job whose
inputs turn out to be unobtainable or malformed while they are fetched is declined too, if the
window is still open. The decision itself is `gpu_worker.worker.decline_rule`.
"""

from __future__ import annotations

import logging
import time

from chain.client.chain import XplClient, make_call
from gpu_worker.worker.config import COMMIT_TIMEOUT_S
from gpu_worker.worker.decline_rule import Abilities, decline_reason, may_decline
from runtime.pallets.market import Job, job_digest
from runtime.primitives.hashing import to_hex
from runtime.primitives.keys import Keypair

log = logging.getLogger("xpl.worker")


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
        if not may_decline(job, head, params):
            return False  # the next block would be past the window
        tx = client.sign(
            self.keypair, make_call("market", "decline_job", job_id, job_digest(job_id, job))
        )
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
