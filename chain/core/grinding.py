"""A grinding author (test and research only, `xpl node --author-behaviour grind`): in each of
its slots it builds up to `variants` blocks and publishes the one that audits a chosen worker's
jobs least.

The variants are what an author controls in its block: which of the pool's ready transactions
it includes and in what order, and a transaction of its own (a transfer to itself, a different
amount in each variant, so that every variant is a different block). The timestamp is not a
choice: a block's must be the start of its slot (`chain.core.aura`). Each variant is executed
in full (the block's hooks draw the audits due in it) with a stand-in next block on top of it,
the audits of the target's jobs drawn in both are counted, and the first variant with the fewest
is sealed and published.

It gains nothing: the audits drawn in a block follow from the chain randomness, which mixes the
author's VRF output on the parent's randomness and the slot (`runtime.pallets.randomness`), and
no variant moves that. Every variant draws the same audits, so the first (the honest block) is
kept. What an author can still do is forfeit its slot (one bit, bought with the block), which
this behaviour does not try. `tests/chain/test_author_grinding.py` runs it on a localnet.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Final

from runtime.api import make_call
from runtime.block import Digest, Header, extrinsics_root
from runtime.executive import BlockBuilder, BlockResult, InvalidTransaction
from runtime.pallets import market, system
from runtime.primitives.hashing import ZERO_HASH, blake2b_256
from runtime.primitives.keys import Keypair
from runtime.state import StateOverlay, StateReader
from runtime.transaction import SignedTransaction, sign_transaction

AUTHOR_BEHAVIOURS: Final = ("honest", "grind")
"""How a validator authors: honestly, or grinding block variants against a worker's audits."""
MAX_GRIND_VARIANTS: Final = 1000
"""Variants a grinding author may build per block: each is a whole block executed in its slot."""


@dataclass(frozen=True, slots=True)
class Grinding:
    """A grinding author's aim: the worker whose jobs' audits it tries to avoid, and how many
    variants of each of its blocks it builds."""

    target: bytes
    variants: int

    def __post_init__(self) -> None:
        if not 1 <= self.variants <= MAX_GRIND_VARIANTS:
            raise ValueError(f"variants must be 1 to {MAX_GRIND_VARIANTS}, not {self.variants}")


@dataclass(frozen=True, slots=True)
class GroundBlock:
    """What grinding one block found: the target's audits each variant drew, and the one kept."""

    number: int
    audits: tuple[int, ...]
    """Audits of the target's jobs drawn in each variant, in the order they were built."""
    distinct_bodies: int
    kept: int


def target_audits(result: BlockResult, parent_state: StateOverlay, target: bytes) -> int:
    """Audits of `target`'s jobs that a block's hooks drew (ChallengeDrawn with audited)."""
    count = 0
    for record in result.context.events:
        if record.phase is not None or record.event.name != "ChallengeDrawn":
            continue
        job_id, _check, audited = record.args[:3]
        job = market.Jobs.get(parent_state, job_id)
        if audited and job is not None and job.worker == target:
            count += 1
    return count


def grind(
    grinding: Grinding,
    honest: tuple[BlockBuilder, BlockResult],
    ready: Sequence[SignedTransaction],
    *,
    new_builder: Callable[[], BlockBuilder],
    parent: Header,
    read: StateReader,
    author: Keypair,
    genesis_hash: bytes,
    slot: int,
    slot_ms: int,
) -> tuple[BlockBuilder, BlockResult, GroundBlock]:
    """The variant to publish (its builder and result) and what grinding found. `honest` is the
    block the author would publish (variant 0), built and finished; the others include a subset
    of `ready` in an order of their own (`_variant_of`), then a transfer of the author's to
    itself. A variant
    scores the audits of the target's jobs drawn in it and in the next block built on it (the
    author's own stand-in for it: it cannot know the next author's VRF output), so that a draw
    seeded by anything in the variant (its hash, its transactions) would show."""
    parent_state = StateOverlay(read)
    builders: list[BlockBuilder] = []
    results: list[BlockResult] = []
    audits: list[int] = []
    for amount in range(grinding.variants):
        if amount == 0:
            builder, result = honest
        else:
            builder = new_builder()
            for tx in _variant_of(ready, slot, amount):
                _push(builder, tx)
            nonce = system.nonce_of_state(builder.context.state, author.public)
            own = make_call("balances", "transfer", author.public, amount)
            _push(builder, sign_transaction(author, own, nonce=nonce, genesis_hash=genesis_hash))
            result = builder.finish()
        following = _next_block(parent, builder, result, read, author, genesis_hash, slot, slot_ms)
        builders.append(builder)
        results.append(result)
        audits.append(
            target_audits(result, parent_state, grinding.target)
            + target_audits(following, parent_state, grinding.target)
        )
    kept = audits.index(min(audits))
    bodies = len({result.tx_hashes for result in results})
    found = GroundBlock(parent.number + 1, tuple(audits), bodies, kept)
    return builders[kept], results[kept], found


def _variant_of(
    ready: Sequence[SignedTransaction], slot: int, variant: int
) -> list[SignedTransaction]:
    """A subset of `ready` in an order, both chosen by BLAKE2b of (slot, variant, index): the
    node core draws nothing from the process's randomness, so a grinding node stays
    reproducible."""

    def rank(index: int) -> bytes:
        tag = slot.to_bytes(8, "big") + variant.to_bytes(4, "big") + index.to_bytes(4, "big")
        return blake2b_256(b"xpl-grind" + tag)

    order = sorted(range(len(ready)), key=rank)
    keep = int.from_bytes(blake2b_256(b"xpl-grind-count" + rank(len(ready)))[:4], "big")
    return [ready[i] for i in order[: keep % (len(ready) + 1)]]


def _next_block(
    parent: Header,
    builder: BlockBuilder,
    result: BlockResult,
    read: StateReader,
    author: Keypair,
    genesis_hash: bytes,
    slot: int,
    slot_ms: int,
) -> BlockResult:
    """An empty block by `author` in the next slot on top of the variant (its header unsealed,
    its state root left zero: the runtime reads neither)."""
    ctx = result.context
    variant = Header(
        parent_hash=parent.hash,
        number=parent.number + 1,
        state_root=ZERO_HASH,
        extrinsics_root=extrinsics_root(builder.extrinsics),
        timestamp=ctx.timestamp,
        digest=Digest(slot, author.public, b"", ctx.vrf_output, ctx.vrf_proof),
    )
    changes = result.changes

    def read_variant(key: bytes) -> bytes | None:
        return changes[key] if key in changes else read(key)

    return BlockBuilder(
        read_variant,
        variant,
        timestamp=(slot + 1) * slot_ms,
        slot=slot + 1,
        author=author,
        genesis_hash=genesis_hash,
    ).finish()


def _push(builder: BlockBuilder, tx: SignedTransaction) -> None:
    """Include `tx` if it is valid in this variant (a subset may miss a nonce before it)."""
    with contextlib.suppress(InvalidTransaction):
        builder.push(tx)


__all__ = [
    "AUTHOR_BEHAVIOURS",
    "MAX_GRIND_VARIANTS",
    "Grinding",
    "GroundBlock",
    "grind",
    "target_audits",
]
