"""The worker's answer to a check, as plain functions: when it is due, and the leaf hashes and
Merkle proofs it holds (`gpu_worker.worker.responding` sends it; the simulator's workers build
theirs with the same functions)."""

from __future__ import annotations

from collections.abc import Sequence

from runtime.api import make_call
from runtime.pallets import compute
from runtime.primitives.merkle import leaf_hash, proof_from_hashes
from runtime.transaction import Call


def awaits_response(check: compute.Check, best_number: int) -> bool:
    """Whether the worker should respond to `check` in the block after `best_number`: it is
    open, has no response yet, and that block lies in its reveal phase."""
    following = best_number + 1
    return (
        not check.outcome
        and not check.response
        and bool(check.commit_deadline)
        and check.commit_deadline < following <= check.reveal_deadline
    )


def due_responses(
    checks: Sequence[compute.Check], best_number: int
) -> list[tuple[int, compute.Check]]:
    """The (index, check) of a job's checks that await the worker's response now."""
    return [(i, c) for i, c in enumerate(checks) if awaits_response(c, best_number)]


def response(
    leaves: Sequence[bytes], named: Sequence[int]
) -> tuple[list[bytes], list[list[bytes]]]:
    """The leaf hashes of the `named` leaves of `leaves` and their Merkle proofs."""
    hashes = [leaf_hash(leaf) for leaf in leaves]
    return [hashes[i] for i in named], [proof_from_hashes(hashes, i) for i in named]


def response_call(job_id: int, index: int, check: compute.Check, leaves: Sequence[bytes]) -> Call:
    """`compute.respond` for check `index` of job `job_id` from the worker's committed leaves."""
    hashes, proofs = response(leaves, check.leaves)
    return make_call("compute", "respond", job_id, index, hashes, proofs)


__all__ = ["awaits_response", "due_responses", "response", "response_call"]
