"""Authoring: in each Aura slot that is this node's, build a block from the pool, seal it and
import it."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Final

from chain.core import aura
from chain.core.actions import Action, Gossip, SetTimer
from chain.core.boundary import SLOT_TIMER
from chain.core.chain_updates import ChainUpdates
from chain.core.gc_pause import collection_paused
from chain.core.grinding import Grinding, grind
from chain.core.importer import consensus_params, seal_block
from chain.core.messages import TOPIC_BLOCKS, BlockAnnounce
from chain.core.offences import Offences
from chain.core.pool import Removed, TransactionPool
from chain.core.pool_upkeep import dropped
from chain.core.view import CoreView
from runtime.block import Header
from runtime.executive import BlockBuilder, ExhaustsResources, InvalidTransaction
from runtime.primitives.keys import Keypair

log = logging.getLogger("xpl.core")

MAX_FULL_BLOCK_MISSES: Final = 64
"""Authoring stops after this many transactions in a row did not fit: the block is full."""


class Authoring:
    """Authors this node's blocks in its slots and arms the timer of the next slot."""

    def __init__(
        self,
        view: CoreView,
        pool: TransactionPool,
        authority: Keypair | None,
        *,
        updates: ChainUpdates,
        offences: Offences,
        after_import: Callable[[int], list[Action]],
        grinding: Grinding | None = None,
    ) -> None:
        self.view = view
        self.pool = pool
        self.authority = authority
        self.updates = updates
        self.offences = offences
        self._after_import = after_import
        """What the voter makes of a newly imported block, given the time."""
        self.grinding = grinding
        """Test and research only: build block variants against a worker's audits."""

    def slot_duration_ms(self) -> int:
        """The Aura slot length (ms) that the best block's state sets for its children."""
        return consensus_params(self.view.store, self.view.store.best_hash).slot_duration_ms

    def next_slot_timer(self, now_ms: int) -> SetTimer:
        """The timer of the slot after the one at `now_ms`."""
        slot_ms = self.slot_duration_ms()
        return SetTimer(SLOT_TIMER, (aura.slot_at(now_ms, slot_ms) + 1) * slot_ms)

    def on_slot(self, now_ms: int) -> list[Action]:
        """A slot began: author if it is this node's (and it is not disabled), then wait for the
        next one."""
        actions: list[Action] = []
        slot_ms = self.slot_duration_ms()
        slot = aura.slot_at(now_ms, slot_ms)
        best = self.view.best_header
        author = self.authority
        params = consensus_params(self.view.store, best.hash)
        if (
            author is not None
            and slot > best.digest.slot
            and aura.slot_author(params.authorities.keys, slot) == author.public
            and author.public not in params.disabled
        ):
            actions.extend(self.author(best, slot, slot_ms, author, now_ms))
        actions.append(self.next_slot_timer(now_ms))
        return actions

    @collection_paused()
    def author(
        self, parent: Header, slot: int, slot_ms: int, author: Keypair, now_ms: int
    ) -> list[Action]:
        """Build a block on `parent` from the pool's ready transactions, seal and import it."""
        cache = self.view.best_cache()

        def new_builder() -> BlockBuilder:
            return BlockBuilder(
                self.view.reader(parent.hash),
                parent,
                timestamp=slot * slot_ms,
                slot=slot,
                author=author,
                genesis_hash=self.view.genesis_hash,
                cache=cache,
            )

        builder = new_builder()
        ready_txs = [item.tx for item in self.pool.ready()] if self.grinding else []
        removed: list[Removed] = []
        ready = self.pool.ready()
        misses = 0
        for item in ready:
            try:
                builder.push(item.tx, born=item.valid.birth_hash)
                misses = 0
            except InvalidTransaction as exc:
                ready.skip_account(item.valid.signer)
                if isinstance(exc, ExhaustsResources):
                    misses += 1
                    if misses >= MAX_FULL_BLOCK_MISSES:
                        break
                    continue
                self.pool.remove(item.tx.hash)
                self.pool.ban(item.tx.hash, now_ms)
                removed.append(Removed(item.tx, "invalid", str(exc)))
            except Exception:  # a runtime bug must cost one transaction, not the node
                log.exception("transaction 0x%s broke the runtime", item.tx.hash.hex())
                ready.skip_account(item.valid.signer)
                self.pool.remove(item.tx.hash)
                self.pool.ban(item.tx.hash, now_ms)
                removed.append(Removed(item.tx, "invalid", "the runtime failed on it"))
        result = builder.finish()
        if self.grinding is not None:
            builder, result, found = grind(
                self.grinding,
                (builder, result),
                ready_txs,
                new_builder=new_builder,
                parent=parent,
                read=self.view.reader(parent.hash),
                author=author,
                genesis_hash=self.view.genesis_hash,
                slot=slot,
                slot_ms=slot_ms,
            )
            log.info(
                "grinding block #%d: %d variants (%d distinct bodies), audits of the target's "
                "jobs in each and the next: %s; kept variant %d",
                found.number,
                len(found.audits),
                found.distinct_bodies,
                list(found.audits),
                found.kept,
                extra={"grind_block": found.number, "grind_audits": list(found.audits)},
            )
        executed = seal_block(
            self.view.store, parent, result, builder.extrinsics, slot=slot, author=author
        )
        actions = dropped(removed)
        actions.append(Gossip(TOPIC_BLOCKS, BlockAnnounce.of(executed.block).encode()))
        self.offences.note_slot(executed.block.header)
        actions.extend(self.updates.persist(executed, authored=True, now_ms=now_ms, cache=cache))
        actions.extend(self._after_import(now_ms))
        log.info(
            "authored block #%d with %d transactions",
            executed.block.header.number,
            len(executed.block.extrinsics),
        )
        return actions
