"""The worker's answer to a check on its job: its committed leaf hashes with Merkle proofs.

Once a check's commit phase is over (the committee has committed to its recomputed leaf hashes,
so none can copy the worker's), and before its reveal phase ends, the worker submits
`compute.respond(job, check, leaf_hashes, proofs)`: the Merkle leaf hash of each leaf the check
names, in its order, each with its proof against the committed result root. The chain checks
the proofs and compares the committee's reveals with them; a worker that does not respond in
time fails the check. A worker that cheated (`gpu_worker.worker.cheating`) responds with what it
committed all the same: anything else would not prove against its root.

What a worker can still do: withhold its response, which fails the check as surely as a wrong
leaf (it is slashed); or respond late, which the chain refuses. It cannot answer with leaf hashes
it did not commit (the proofs bind them to its root), and it sees the members' reveals only
after every member has committed, so it cannot tailor anything to them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Final

from chain.client.chain import JobView, XplClient
from chain.client.rpc import RpcClientError
from gpu_worker.worker.response import awaits_response, due_responses, response, response_call
from runtime.pallets import compute
from runtime.primitives.keys import Keypair
from runtime.transaction import MAX_MORTAL_PERIOD

log = logging.getLogger("xpl.worker")


RESEND_AFTER_BLOCKS: Final = 2
"""Blocks a sent response may take to show on chain before it is sent again (while still due)."""
JOB_LIST_LIMIT: Final = 1_000


class Responder:
    """Responds, as `keypair`, to the checks on its committed jobs, at most once per new best
    block and without waiting for inclusion, so that a worker busy committing other jobs answers
    every check within its reveal phase."""

    def __init__(self, keypair: Keypair) -> None:
        self.keypair = keypair
        self._best = -1
        self._sent: dict[tuple[int, int, int], int] = {}
        """(job, check, round) → the best block number when its response was sent."""

    def respond_due(
        self, client: XplClient, leaves_of: Callable[[int, bytes], Sequence[bytes] | None]
    ) -> list[tuple[int, int]]:
        """Send a response to each check now due on the worker's committed jobs, with the leaves
        `leaves_of(job, result root)` gives (None: not this worker's to answer now); the (job,
        check) answered."""
        best = client.best_number()
        if best == self._best:
            return []
        self._best = best
        views = client.jobs(worker=self.keypair.public, states=["committed"], limit=JOB_LIST_LIMIT)
        answered: list[tuple[int, int]] = []
        for view in views:
            for index, check in due_responses(view.checks, best):
                key = (view.id, index, check.round)
                sent = self._sent.get(key)
                if sent is not None and best < sent + RESEND_AFTER_BLOCKS:
                    continue
                leaves = leaves_of(view.id, view.job.result_root)
                if leaves is not None and self._send(client, view, index, check, leaves):
                    self._sent[key] = best
                    answered.append((view.id, index))
        open_ids = {view.id for view in views}
        for key in [k for k in self._sent if k[0] not in open_ids]:
            del self._sent[key]
        return answered

    def _send(
        self,
        client: XplClient,
        view: JobView,
        index: int,
        check: compute.Check,
        leaves: Sequence[bytes],
    ) -> bool:
        # Mortal until the reveal phase ends (give or take finality moving meanwhile): a
        # response that lingers in a pool must not land late and cost a fee for nothing.
        lasts = check.reveal_deadline - client.finalized_number()
        tx = client.sign(
            self.keypair,
            response_call(view.id, index, check, leaves),
            mortal_for=min(max(lasts, 1), MAX_MORTAL_PERIOD),
        )
        try:
            client.submit(tx)
        except RpcClientError as exc:
            log.warning(
                "job #%d: the response to check %d was refused: %s",
                view.id,
                index,
                exc,
                extra={"job": view.id, "step": "respond", "check": index},
            )
            return False
        log.info(
            "job #%d responded to check %d (round %d): %d leaf hashes",
            view.id,
            index,
            check.round,
            len(check.leaves),
            extra={"job": view.id, "step": "respond", "check": index},
        )
        return True


__all__ = [
    "RESEND_AFTER_BLOCKS",
    "Responder",
    "awaits_response",
    "due_responses",
    "response",
    "response_call",
]
