"""Cheating on purpose (`--cheat`): corrupting a share of a result's leaves before committing,
to test, demonstrate and study the audits that catch such workers. Never used otherwise."""

from __future__ import annotations

import random
from collections.abc import Sequence


def _cheat_rng(seed: int, job_id: int, purpose: str) -> random.Random:
    # A str seed goes through SHA-512: the same on every run and machine.
    return random.Random(f"xpl-cheat:{seed}:{job_id}:{purpose}")


def cheat_indices(leaf_count: int, fraction: float, seed: int, job_id: int) -> tuple[int, ...]:
    """The leaves a cheating worker corrupts in a job: round(fraction·count) of them, at least
    one when fraction > 0, drawn from (seed, job id), in ascending order."""
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"the cheat fraction must be from 0 to 1, not {fraction}")
    if fraction == 0.0 or leaf_count == 0:
        return ()
    count = min(leaf_count, max(1, round(fraction * leaf_count)))
    return tuple(sorted(_cheat_rng(seed, job_id, "leaves").sample(range(leaf_count), count)))


def corrupt_leaves(
    leaves: Sequence[bytes], indices: Sequence[int], seed: int, job_id: int
) -> list[bytes]:
    """`leaves` with each leaf in `indices` changed: one byte, drawn from the seed, inverted."""
    rng = _cheat_rng(seed, job_id, "bytes")
    out = list(leaves)
    for index in indices:
        leaf = bytearray(out[index]) or bytearray(1)
        leaf[rng.randrange(len(leaf))] ^= 0xFF
        out[index] = bytes(leaf)
    return out
