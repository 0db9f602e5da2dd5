"""Challenge randomness: the seeds of the draws, and drawing committees and leaves from them."""

from __future__ import annotations

from collections.abc import Collection
from typing import Final

from runtime.framework import BlockContext
from runtime.pallets import session
from runtime.primitives.hashing import blake2b_256

DRAW_DELAY: Final = 2
"""Blocks between what opens a check (a commitment, a dispute, an inconclusive round) and the
block whose randomness draws it: nothing known when the check is opened decides the draw."""


def _seed(ctx: BlockContext, job_id: int, purpose: bytes) -> bytes:
    """The randomness of the block being executed for one draw of one job."""
    return blake2b_256(b"xpl-compute" + purpose + ctx.parent_hash + job_id.to_bytes(8, "big"))


def check_purpose(index: int) -> bytes:
    """The `_seed` purpose of the committee draw of a job's check `index` (audits other than the
    first round, disputes and fresh rounds)."""
    return b"check" + index.to_bytes(4, "big")


def draw_committee(
    ctx: BlockContext, seed: bytes, size: int, avoid: Collection[bytes] = ()
) -> tuple[bytes, ...]:
    """`size` distinct authorities (session keys) drawn by stake with `seed`, in drawing order.

    Each draw picks an authority with probability its weight over the weight still undrawn:
    draw i takes BLAKE2b-256(seed ‖ "committee" ‖ i) modulo that weight and walks the cumulative
    weights. Disabled authorities are left out, and those in `avoid` (members that did not vote
    in the previous round) are drawn only when the others are too few. Integers only, so every
    node draws the same.
    """
    disabled = session.disabled_keys(ctx.state)
    enabled = [
        (key, weight)
        for key, weight in session.authority_set(ctx.state).authorities
        if key not in disabled
    ]
    chosen: list[bytes] = []
    i = 0
    for pool in (
        [(k, w) for k, w in enabled if k not in avoid],
        [(k, w) for k, w in enabled if k in avoid],
    ):
        while pool and len(chosen) < size:
            total = sum(weight for _, weight in pool)
            digest = blake2b_256(seed + b"committee" + i.to_bytes(4, "big"))
            point = int.from_bytes(digest, "big") % total
            for index, (key, weight) in enumerate(pool):
                if point < weight:
                    chosen.append(key)
                    del pool[index]
                    break
                point -= weight
            i += 1
    return tuple(chosen)


def draw_leaves(seed: bytes, count: int, leaves: int) -> tuple[int, ...]:
    """`count` distinct leaf indices below `leaves`, drawn by `seed`, in drawing order."""
    if count >= leaves:
        return tuple(range(leaves))
    chosen: list[int] = []
    taken: set[int] = set()
    i = 0
    while len(chosen) < count:
        index = int.from_bytes(blake2b_256(seed + b"leaf" + i.to_bytes(4, "big"))[:8], "big")
        index %= leaves
        if index not in taken:
            taken.add(index)
            chosen.append(index)
        i += 1
    return tuple(chosen)
