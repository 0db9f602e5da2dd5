"""Which authority of a set does what for a GRANDPA round, besides voting: the round's primary,
the one that gossips the round's commit, and the one that notes a finalization's precommits on
chain. Each is decided by every node alike from the set and the round (or the finalized block)."""

from __future__ import annotations

from runtime.pallets.session import AuthoritySet
from runtime.pallets.staking import NOTE_VOTES_EVERY


def primary_of(authorities: AuthoritySet, round_: int) -> bytes:
    """The authority that proposes a block for round `round_`: (set id + round) mod n."""
    keys = authorities.keys
    return keys[(authorities.set_id + round_) % len(keys)]


def announces_commit(authorities: AuthoritySet, round_: int, voter: bytes) -> bool:
    """Whether `voter` gossips round `round_`'s commit (one authority per round, so that nodes
    that missed the votes still learn)."""
    keys = authorities.keys
    return keys[round_ % len(keys)] == voter


def notes_votes(authorities: AuthoritySet, was_final: int, now_final: int, voter: bytes) -> bool:
    """Whether `voter` notes on chain the precommits of the round that moved finality from
    `was_final` to `now_final`. A finalization of a block numbered a multiple of NOTE_VOTES_EVERY
    (or past one) is noted, by the authorities in turn: a sample of who votes, for era points, at
    the cost of one transaction per NOTE_VOTES_EVERY blocks. Counted in blocks, not rounds, since
    rounds that finalize nothing come and go with the chain's pace. A sole authority has nothing
    to share its points with and notes nothing."""
    keys = authorities.keys
    if len(keys) < 2:
        return False
    mark = now_final - now_final % NOTE_VOTES_EVERY
    if mark <= was_final:
        return False
    return keys[(mark // NOTE_VOTES_EVERY) % len(keys)] == voter
