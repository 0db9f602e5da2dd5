"""Which blocks a GRANDPA voter's votes may name: walks down the chain it reads through
`ChainView`, the prevote target (the best chain containing the last round's estimate, or the
primary's block), and the cap at the block that changes the authority set."""

from __future__ import annotations

from chain.core.boundary import ChainView
from chain.core.rounds import Target


def ancestor_at(chain: ChainView, target: Target, number: int) -> bytes | None:
    """The hash of `target`'s ancestor (or itself) at height `number`, if known."""
    block_hash, height = target
    if height < number:
        return None
    while height > number:
        header = chain.header(block_hash)
        if header is None:
            return None
        block_hash, height = header.parent_hash, height - 1
    return block_hash


def contains(chain: ChainView, target: Target, ancestor: Target) -> bool:
    """Whether the chain ending in `target` contains `ancestor` (or is it)."""
    return ancestor_at(chain, target, ancestor[1]) == ancestor[0]


def prevote_target(
    chain: ChainView,
    set_id: int,
    *,
    estimate: Target,
    primary: Target | None,
    previous_ghost: Target | None,
) -> Target:
    """The best chain containing the primary's block (if it lies between the last round's
    `estimate` and its prevote-GHOST) or else the estimate, capped at a set change."""
    anchor = estimate
    if (
        primary is not None
        and previous_ghost is not None
        and primary[1] > estimate[1]
        and contains(chain, primary, estimate)
        and contains(chain, previous_ghost, primary)
    ):
        anchor = primary
    best = chain.best_header
    target: Target = (best.hash, best.number)
    if not contains(chain, target, anchor):
        target = anchor
    return cap_at_set_change(chain, set_id, target)


def cap_at_set_change(chain: ChainView, set_id: int, target: Target) -> Target:
    """The lowest block on the way to `target` after which the authority set `set_id` ends."""
    finalized = chain.finalized_header
    path: list[Target] = []
    block_hash, number = target
    while number > finalized.number:
        path.append((block_hash, number))
        header = chain.header(block_hash)
        if header is None:
            return target
        block_hash, number = header.parent_hash, number - 1
    for candidate in reversed(path):
        if chain.authority_set_after(candidate[0]).set_id != set_id:
            return candidate
    return target
