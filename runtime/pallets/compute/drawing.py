"""Challenge randomness: the seeds of the draws, and drawing committees and leaves from them."""

from __future__ import annotations

from collections.abc import Collection
from typing import Final

from runtime.framework import BlockContext
from runtime.pallets import randomness, session
from runtime.pallets.market import PPM
from runtime.primitives.hashing import blake2b_256

DRAW_DELAY: Final = 3
"""Blocks between what opens a check (a commitment, a dispute, an inconclusive round) and the
block whose chain randomness draws it: the draw mixes the VRF outputs of the DRAW_DELAY blocks
after the opening, so nothing known when the check is opened decides it."""


DRAW_JITTER: Final = 4
"""An audit's roll happens DRAW_DELAY + j blocks after the commitment, j < DRAW_JITTER taken from
the chain randomness of the block after the commitment. A worker that is also a validator knows
the slot schedule, so with a fixed delay it could time its commitment to author the block that
completes its own draw and forfeit that slot whenever the draw would audit it; with j unknown at
the commitment it authors that block only about as often as it authors any block (its share of
the slots), and twice that counting its one-bit choice of j when it authors the block after the
commitment. The incentive guard counts that share (`guard.forfeit_share`)."""


def roll_delay(ctx: BlockContext) -> int:
    """DRAW_DELAY + j for a commitment in the parent block: j from this block's randomness."""
    j = int.from_bytes(blake2b_256(b"xpl-draw-delay" + randomness.current(ctx.state))[:8], "big")
    return DRAW_DELAY + j % DRAW_JITTER


def _seed(ctx: BlockContext, job_id: int, purpose: bytes) -> bytes:
    """A draw's seed: the chain randomness of this block (`randomness.current`) with the job.

    Drawn DRAW_DELAY blocks after what it checks was opened, the chain randomness mixes the VRF
    outputs of the blocks after it: nobody knows it at the opening, and no block content
    (extrinsics, their order, the timestamp) moves it. Only the author of the last of those
    blocks knows the draw before it is published; it can forfeit its slot (and its reward) to get
    the next author's draw instead: one bit, which moves an audit probability q to at most
    1 − (1 − q)² or down to q². An operator holding several slots of the window gets one such bit
    per slot, each bought with a forfeited block (see `runtime.pallets.randomness`).
    """
    return blake2b_256(
        b"xpl-compute" + purpose + randomness.current(ctx.state) + job_id.to_bytes(8, "big")
    )


def audit_seed(ctx: BlockContext, job_id: int) -> bytes:
    """The seed of a job's audit roll in this block: it rolls the audit (`rolls_audit`) and
    draws its leaves (`draw_leaves`) and committee."""
    return _seed(ctx, job_id, b"audit")


def rolls_audit(seed: bytes, audit_ppm: int) -> bool:
    """Whether an audit seed audits its job, which happens with probability audit_ppm / PPM."""
    return int.from_bytes(seed[:8], "big") % PPM < audit_ppm


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


WITNESS_MASK_BITS: Final = 32
"""Bits of a check's witness mask (`gpu_worker.witness`: every product term is XORed with it)."""

WITNESS_MASK_SET: Final = 1 << 4
"""A bit every mask has: with mask 0 the witness would be the plain sum, which the published
result gives, and a mask that flips none of bits 3..14 of the products lets the witness be
assembled from a few dozen small binary matrix products instead of forming every term."""


def witness_mask(ctx: BlockContext, job_id: int, index: int) -> int:
    """The witness mask of check `index` of a job, drawn with its committee from this block's
    chain randomness: unknown before the draw, so nobody (the worker included) can compute and
    hand out a round's witnesses before its committee is drawn, and new for each round, so a
    fresh round cannot copy the witnesses the round before it revealed."""
    seed = _seed(ctx, job_id, b"witness" + index.to_bytes(4, "big"))
    return int.from_bytes(seed[:4], "big") % (1 << WITNESS_MASK_BITS) | WITNESS_MASK_SET
