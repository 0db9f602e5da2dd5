"""The core's writes to the chain store (its one side effect), and what follows each one.

A block imported (or authored) and a block made final are written in one atomic store write
each; then the core works out what changed: the new best block, the blocks a reorg retracted and
enacted, the blocks that became final, and the pool's repair (`chain.core.pool_upkeep`).
"""

from __future__ import annotations

from typing import Any

from chain.core.actions import Action, BlockImported, Finalized, Retracted
from chain.core.boundary import ChainStoreWrites
from chain.core.importer import ExecutedBlock
from chain.core.pool_upkeep import PoolUpkeep
from chain.core.view import CoreView
from runtime.block import Header
from runtime.primitives.hashing import blake2b_256

Segment = list[tuple[int, bytes, tuple[bytes, ...]]]
"""(number, hash, extrinsics) of blocks on the best chain, oldest first."""


class ChainUpdates:
    """Writes blocks and finality to the store and returns the actions that follow."""

    def __init__(self, view: CoreView, store: ChainStoreWrites, upkeep: PoolUpkeep) -> None:
        self.view = view
        self.store = store
        self.upkeep = upkeep

    def persist(
        self,
        executed: ExecutedBlock,
        *,
        authored: bool,
        now_ms: int,
        cache: dict[bytes, Any] | None,
        justification: bytes | None = None,
    ) -> list[Action]:
        """Store an executed block (final too with a justification), then follow the change."""
        block = executed.block
        header = block.header
        old_best = self.store.best_header
        # Only a block off the best chain, or finality, can retract blocks: read what they held
        # now, since finality may delete abandoned blocks.
        reorg_possible = header.parent_hash != old_best.hash or justification is not None
        old_segment = self.unfinalized_best_chain() if reorg_possible else []
        newly_final = self.store.import_block(
            block,
            executed.result.changes,
            executed.commit,
            make_best=header.number > old_best.number,
            justification=justification,
        )
        return self.follow(
            old_best,
            old_segment,
            newly_final,
            now_ms,
            imported=executed,
            authored=authored,
            cache=cache,
        )

    def finalize_stored(self, header: Header, justification: bytes, now_ms: int) -> list[Action]:
        """Make a stored block final (unless it already is), then follow the change."""
        if header.number <= self.store.finalized_header.number:
            return []
        old_best = self.store.best_header
        old_segment = self.unfinalized_best_chain()
        newly_final = self.store.finalize(header.hash, justification)
        return self.follow(old_best, old_segment, newly_final, now_ms)

    def follow(
        self,
        old_best: Header,
        old_segment: Segment,
        newly_final: list[bytes],
        now_ms: int,
        *,
        imported: ExecutedBlock | None = None,
        authored: bool = False,
        cache: dict[bytes, Any] | None = None,
    ) -> list[Action]:
        """The actions after the store changed: new best, reorg, finality, pool upkeep."""
        new_best = self.store.best_header
        actions: list[Action] = []
        retracted: list[tuple[bytes, tuple[bytes, ...]]] = []
        enacted: list[tuple[Header, tuple[bytes, ...]]] = []
        if new_best.hash != old_best.hash:
            if new_best.parent_hash == old_best.hash:
                enacted = [(new_best, self.extrinsics_of(new_best.hash, imported))]
            else:
                retracted, enacted = self.reorg_route(old_segment, new_best)
            if imported is not None and new_best.hash == imported.block.hash and cache is not None:
                self.view.carry_cache(cache, imported.result.context.state, new_best.hash)

        def hashes_of(block_hash: bytes, extrinsics: tuple[bytes, ...]) -> tuple[bytes, ...]:
            if imported is not None and imported.block.hash == block_hash:
                return imported.result.tx_hashes
            return tuple(blake2b_256(raw) for raw in extrinsics)

        if imported is not None and all(h.hash != imported.block.hash for h, _ in enacted):
            header = imported.block.header
            hashes = imported.result.tx_hashes
            actions.append(BlockImported(header, hashes, best=False, authored=authored))
        for retracted_hash, extrinsics in retracted:
            actions.append(Retracted(retracted_hash, hashes_of(retracted_hash, extrinsics)))
        included: set[bytes] = set()
        for enacted_header, extrinsics in enacted:
            hashes = hashes_of(enacted_header.hash, extrinsics)
            included.update(hashes)
            mine = authored and imported is not None and enacted_header.hash == imported.block.hash
            actions.append(BlockImported(enacted_header, hashes, best=True, authored=mine))
        if newly_final:
            actions.append(Finalized(tuple(self.store.require_header(h) for h in newly_final)))
        if new_best.hash != old_best.hash:
            simple = (
                imported is not None
                and new_best.hash == imported.block.hash
                and new_best.parent_hash == old_best.hash
            )
            changes = imported.result.changes if simple and imported is not None else None
            actions.extend(self.upkeep.update_pool(new_best, changes, included, now_ms))
            for _, extrinsics in retracted:
                self.upkeep.resubmit(extrinsics, now_ms)
        return actions

    def extrinsics_of(self, block_hash: bytes, imported: ExecutedBlock | None) -> tuple[bytes, ...]:
        """A block's extrinsics: the imported block's own, else the stored body."""
        if imported is not None and imported.block.hash == block_hash:
            return imported.block.extrinsics
        return self.store.body(block_hash) or ()

    def unfinalized_best_chain(self) -> Segment:
        """(number, hash, extrinsics) of the best chain's unfinalized blocks, oldest first."""
        segment = []
        header = self.store.best_header
        finalized = self.store.finalized_hash
        while header.hash != finalized and header.number > 0:
            segment.append((header.number, header.hash, self.store.body(header.hash) or ()))
            header = self.store.require_header(header.parent_hash)
        segment.reverse()
        return segment

    def reorg_route(
        self, old_segment: Segment, new_best: Header
    ) -> tuple[list[tuple[bytes, tuple[bytes, ...]]], list[tuple[Header, tuple[bytes, ...]]]]:
        """Blocks that left the best chain and blocks that joined it, oldest first."""
        store = self.store
        retracted = [(h, body) for n, h, body in old_segment if store.hash_at(n) != h]
        first_new = min((n for n, h, _ in old_segment if store.hash_at(n) != h), default=None)
        if first_new is None:
            first_new = old_segment[-1][0] + 1 if old_segment else new_best.number
        enacted = []
        for number in range(first_new, new_best.number + 1):
            h = store.hash_at(number)
            if h is None:
                continue
            enacted.append((store.require_header(h), store.body(h) or ()))
        return retracted, enacted
