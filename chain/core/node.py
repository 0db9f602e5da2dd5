"""The node core: a state machine over the chain store, driven by its caller.

Inputs: the start, a timer firing, a transaction submitted, a block received. Outputs: a list of
actions (`chain.core.actions`) for the driver. Time comes in as `now_ms` on every input; the core
reads no clock, opens no socket and starts no task, so the node process, the simulator and tests
all run exactly this code. Storage is the one dependency it calls directly, through the
key-value store protocol.
"""

from __future__ import annotations

import gc
import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Final

from chain.core import aura
from chain.core.actions import (
    Action,
    BlockImported,
    Finalized,
    Retracted,
    SetTimer,
    TxDropped,
)
from chain.core.finality import (
    InvalidJustification,
    Justification,
    single_validator_justification,
    verify_justification,
)
from chain.core.importer import (
    BlockRejected,
    ExecutedBlock,
    consensus_params,
    seal_block,
    verify_and_execute,
)
from chain.core.pool import PoolError, Removed, TransactionPool
from chain.storage.chain_store import ChainStore
from runtime.block import Block, Header
from runtime.executive import (
    BlockBuilder,
    InvalidTransaction,
    SignatureVerifier,
    validate_transaction,
)
from runtime.pallets import system
from runtime.primitives.codec import DecodeError
from runtime.primitives.hashing import blake2b_256
from runtime.primitives.keys import Keypair
from runtime.state import StateOverlay, StateReader
from runtime.transaction import SignedTransaction

log = logging.getLogger("xpl.core")

SLOT_TIMER: Final = "slot"
MAX_FULL_BLOCK_MISSES: Final = 64
"""Authoring stops after this many transactions in a row did not fit: the block is full."""
_WARM_CACHE_LIMIT: Final = 1_000_000


@contextmanager
def _collection_paused() -> Iterator[None]:
    """Hold off cyclic garbage collection while a block is executed and stored.

    A block's decoded transactions, events and state values live until the block is done, so a
    collection in the middle of it frees nothing, while each one that reaches the oldest
    generation walks the whole heap: together they took a tenth of an import. What the block
    leaves behind is freed by reference counting once it is done, and any cycles by the next
    collection after it.
    """
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


class NodeCore:
    """One node's consensus, import, authoring and transaction pool, without I/O."""

    def __init__(
        self,
        store: ChainStore,
        *,
        authority: Keypair | None = None,
        pool: TransactionPool | None = None,
        verifier: SignatureVerifier | None = None,
    ) -> None:
        self.store = store
        self.authority = authority
        self.pool = pool or TransactionPool()
        self.verifier = verifier
        # Decoded values of the best block's state, carried from block to block (see StateOverlay).
        self._warm: dict[bytes, Any] = {}
        self._warm_hash = b""

    # Reading

    @property
    def genesis_hash(self) -> bytes:
        return self.store.genesis_hash

    @property
    def best_header(self) -> Header:
        return self.store.best_header

    @property
    def finalized_header(self) -> Header:
        return self.store.finalized_header

    def reader(self, block_hash: bytes | None = None) -> StateReader:
        """Read the state after `block_hash` (default: the best block)."""
        return self.store.reader(self.store.best_hash if block_hash is None else block_hash)

    def _best_cache(self) -> dict[bytes, Any]:
        if self._warm_hash != self.store.best_hash or len(self._warm) > _WARM_CACHE_LIMIT:
            self._warm = {}
            self._warm_hash = self.store.best_hash
        return self._warm

    def slot_duration_ms(self) -> int:
        return consensus_params(self.store, self.store.best_hash)[1]

    def validators(self) -> tuple[bytes, ...]:
        return consensus_params(self.store, self.store.best_hash)[0]

    def next_nonce(self, who: bytes) -> int:
        """The nonce for a new transaction from `who`: its account nonce plus its pooled ones."""
        state = StateOverlay(self.reader(), self._best_cache())
        return self.pool.next_nonce(who, system.nonce_of_state(state, who))

    # Inputs

    def start(self, now_ms: int) -> list[Action]:
        """Resume after a (re)start: finish finalizing our own blocks and arm the slot timer."""
        actions: list[Action] = []
        if self._is_sole_validator() and self.store.best_hash != self.store.finalized_hash:
            actions.extend(self._finalize_own(self.store.best_header))
        actions.append(self._next_slot_timer(now_ms))
        return actions

    def on_timer(self, name: str, now_ms: int) -> list[Action]:
        if name != SLOT_TIMER:
            raise ValueError(f"unknown timer {name!r}")
        actions: list[Action] = []
        slot_ms = self.slot_duration_ms()
        slot = aura.slot_at(now_ms, slot_ms)
        best = self.store.best_header
        author = self.authority
        if (
            author is not None
            and slot > best.digest.slot
            and aura.slot_author(self.validators(), slot) == author.public
        ):
            actions.extend(self._author(best, slot, slot_ms, author, now_ms))
        actions.append(self._next_slot_timer(now_ms))
        return actions

    def submit_transaction(self, raw: bytes, now_ms: int) -> tuple[SignedTransaction, list[Action]]:
        """Admit a transaction to the pool; raises DecodeError, InvalidTransaction or PoolError."""
        tx = SignedTransaction.decode(raw)
        self.pool.check_admissible(tx, now_ms)
        best = self.store.best_header
        try:
            valid = validate_transaction(
                self.reader(),
                best,
                tx,
                genesis_hash=self.genesis_hash,
                cache=self._best_cache(),
            )
        except InvalidTransaction as exc:
            if exc.kind == "bad_signature":
                self.pool.ban(tx.hash, now_ms)
            raise
        removed = self.pool.add(tx, valid, now_ms)
        return tx, self._dropped(removed)

    @_collection_paused()
    def import_block(
        self, block: Block, now_ms: int, *, justification: bytes | None = None
    ) -> list[Action]:
        """Import a block from elsewhere; raises BlockRejected (or a subclass) if it is refused.

        With a justification (a block served by sync, say) the block is also made final, once
        the justification is checked against the validator set.
        """
        parent_hash = block.header.parent_hash
        if justification is not None and self.store.header(block.hash) is not None:
            return self.finalize_block(block.hash, justification, now_ms)
        cache = self._best_cache() if parent_hash == self.store.best_hash else None
        executed = verify_and_execute(
            self.store, block, now_ms=now_ms, verifier=self.verifier, cache=cache
        )
        if justification is not None:
            try:
                verify_justification(
                    Justification.decode(justification),
                    consensus_params(self.store, parent_hash)[0],
                    block_hash=block.header.hash,
                    number=block.header.number,
                )
            except (InvalidJustification, DecodeError) as exc:
                raise BlockRejected(f"bad justification: {exc}") from exc
        return self._persist(
            executed, authored=False, now_ms=now_ms, cache=cache, justification=justification
        )

    def finalize_block(self, block_hash: bytes, justification: bytes, now_ms: int) -> list[Action]:
        """Finalize a stored block given its justification; raises BlockRejected if it is bad."""
        header = self.store.require_header(block_hash)
        if header.number <= self.store.finalized_header.number:
            return []
        try:
            verify_justification(
                Justification.decode(justification),
                consensus_params(self.store, header.parent_hash)[0],
                block_hash=block_hash,
                number=header.number,
            )
        except (InvalidJustification, DecodeError) as exc:
            raise BlockRejected(f"bad justification: {exc}") from exc
        old_best = self.store.best_header
        old_segment = self._unfinalized_best_chain()
        newly_final = self.store.finalize(block_hash, justification)
        return self._follow(old_best, old_segment, newly_final, now_ms)

    # Authoring

    @_collection_paused()
    def _author(
        self, parent: Header, slot: int, slot_ms: int, author: Keypair, now_ms: int
    ) -> list[Action]:
        cache = self._best_cache()
        builder = BlockBuilder(
            self.reader(parent.hash),
            parent,
            timestamp=slot * slot_ms,
            author=author.public,
            genesis_hash=self.genesis_hash,
            cache=cache,
        )
        dropped: list[Removed] = []
        ready = self.pool.ready()
        misses = 0
        for item in ready:
            try:
                builder.push(item.tx)
                misses = 0
            except InvalidTransaction as exc:
                ready.skip_account(item.valid.signer)
                if exc.kind == "exhausts_resources":
                    misses += 1
                    if misses >= MAX_FULL_BLOCK_MISSES:
                        break
                    continue
                self.pool.remove(item.tx.hash)
                self.pool.ban(item.tx.hash, now_ms)
                dropped.append(Removed(item.tx, "invalid", str(exc)))
            except Exception:  # a runtime bug must cost one transaction, not the node
                log.exception("transaction 0x%s broke the runtime", item.tx.hash.hex())
                ready.skip_account(item.valid.signer)
                self.pool.remove(item.tx.hash)
                self.pool.ban(item.tx.hash, now_ms)
                dropped.append(Removed(item.tx, "invalid", "the runtime failed on it"))
        executed = seal_block(
            self.store, parent, builder.finish(), builder.extrinsics, slot=slot, author=author
        )
        actions = self._dropped(dropped)
        actions.extend(self._persist(executed, authored=True, now_ms=now_ms, cache=cache))
        log.info(
            "authored block #%d with %d transactions",
            executed.block.header.number,
            len(executed.block.extrinsics),
        )
        return actions

    # Persisting and what follows

    def _persist(
        self,
        executed: ExecutedBlock,
        *,
        authored: bool,
        now_ms: int,
        cache: dict[bytes, Any] | None,
        justification: bytes | None = None,
    ) -> list[Action]:
        block = executed.block
        header = block.header
        old_best = self.store.best_header
        if authored and self._is_sole_validator():
            assert self.authority is not None
            justification = single_validator_justification(
                self.authority, block_hash=header.hash, number=header.number
            ).encode()
        # Only a block off the best chain, or finality, can retract blocks: read what they held
        # now, since finality may delete abandoned blocks.
        reorg_possible = header.parent_hash != old_best.hash or justification is not None
        old_segment = self._unfinalized_best_chain() if reorg_possible else []
        newly_final = self.store.import_block(
            block,
            executed.result.changes,
            executed.commit,
            make_best=header.number > old_best.number,
            justification=justification,
        )
        return self._follow(
            old_best,
            old_segment,
            newly_final,
            now_ms,
            imported=executed,
            authored=authored,
            cache=cache,
        )

    def _follow(
        self,
        old_best: Header,
        old_segment: list[tuple[int, bytes, tuple[bytes, ...]]],
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
                enacted = [(new_best, self._extrinsics_of(new_best.hash, imported))]
            else:
                retracted, enacted = self._reorg_route(old_segment, new_best)
            if imported is not None and new_best.hash == imported.block.hash and cache is not None:
                cache.update(imported.result.context.state.committed_values())
                self._warm_hash = new_best.hash

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
            actions.extend(self._update_pool(new_best, changes, included, now_ms))
            for _, extrinsics in retracted:
                self._resubmit(extrinsics, now_ms)
        return actions

    def _extrinsics_of(
        self, block_hash: bytes, imported: ExecutedBlock | None
    ) -> tuple[bytes, ...]:
        if imported is not None and imported.block.hash == block_hash:
            return imported.block.extrinsics
        return self.store.body(block_hash) or ()

    def _unfinalized_best_chain(self) -> list[tuple[int, bytes, tuple[bytes, ...]]]:
        """(number, hash, extrinsics) of the best chain's unfinalized blocks, oldest first."""
        segment = []
        header = self.store.best_header
        finalized = self.store.finalized_hash
        while header.hash != finalized and header.number > 0:
            segment.append((header.number, header.hash, self.store.body(header.hash) or ()))
            header = self.store.require_header(header.parent_hash)
        segment.reverse()
        return segment

    def _reorg_route(
        self, old_segment: list[tuple[int, bytes, tuple[bytes, ...]]], new_best: Header
    ) -> tuple[list[tuple[bytes, tuple[bytes, ...]]], list[tuple[Header, tuple[bytes, ...]]]]:
        """Blocks that left the best chain and blocks that joined it, oldest first."""
        retracted = [(h, body) for n, h, body in old_segment if self.store.hash_at(n) != h]
        first_new = min((n for n, h, _ in old_segment if self.store.hash_at(n) != h), default=None)
        if first_new is None:
            first_new = old_segment[-1][0] + 1 if old_segment else new_best.number
        enacted = []
        for number in range(first_new, new_best.number + 1):
            h = self.store.hash_at(number)
            if h is None:
                continue
            enacted.append((self.store.require_header(h), self.store.body(h) or ()))
        return retracted, enacted

    def _resubmit(self, extrinsics: Sequence[bytes], now_ms: int) -> None:
        """Put a retracted block's transactions back in the pool, quietly skipping invalid ones."""
        for raw in extrinsics:
            try:
                tx = SignedTransaction.decode(raw)
                self.pool.check_admissible(tx, now_ms)
                valid = validate_transaction(
                    self.reader(),
                    self.store.best_header,
                    tx,
                    genesis_hash=self.genesis_hash,
                    check_signature=False,
                    cache=self._best_cache(),
                )
                self.pool.add(tx, valid, now_ms)
            except (DecodeError, InvalidTransaction, PoolError):
                continue

    def _update_pool(
        self,
        header: Header,
        changes: dict[bytes, bytes | None] | None,
        included: set[bytes],
        now_ms: int,
    ) -> list[Action]:
        """Tell the pool about a new best block; `changes` are its state changes when it simply
        extends the old best (otherwise every pooled account is revalidated)."""
        state = StateOverlay(self.reader(header.hash), self._best_cache())
        if changes is not None:
            touched = {
                signer for signer in self.pool.signers() if system.Account.key(signer) in changes
            }
        else:
            touched = set(self.pool.signers())

        def revalidate(tx: SignedTransaction) -> Any:
            try:
                return validate_transaction(
                    self.reader(header.hash),
                    header,
                    tx,
                    genesis_hash=self.genesis_hash,
                    check_signature=False,
                    cache=self._best_cache(),
                )
            except InvalidTransaction as exc:
                return str(exc)

        removed = self.pool.update_for_block(
            included=included,
            nonce_of=lambda who: system.nonce_of_state(state, who),
            next_number=header.number + 1,
            touched=touched,
            revalidate=revalidate,
            now_ms=now_ms,
        )
        return self._dropped(removed)

    def _finalize_own(self, header: Header) -> list[Action]:
        assert self.authority is not None
        justification = single_validator_justification(
            self.authority, block_hash=header.hash, number=header.number
        )
        newly = self.store.finalize(header.hash, justification.encode())
        return [Finalized(tuple(self.store.require_header(h) for h in newly))]

    def _is_sole_validator(self) -> bool:
        return self.authority is not None and self.validators() == (self.authority.public,)

    def _next_slot_timer(self, now_ms: int) -> SetTimer:
        slot_ms = self.slot_duration_ms()
        return SetTimer(SLOT_TIMER, (aura.slot_at(now_ms, slot_ms) + 1) * slot_ms)

    @staticmethod
    def _dropped(removed: Sequence[Removed]) -> list[Action]:
        return [TxDropped(r.tx.hash, r.status, r.reason) for r in removed]


__all__ = ["NodeCore", "PoolError"]
