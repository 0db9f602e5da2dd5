"""The transaction pool kept in step with the chain: what it admits, and its repair after each
new best block (transactions included, accounts revalidated, a reorg's transactions put back)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

from chain.core.actions import Action, TxDropped
from chain.core.pool import PoolError, Removed, TransactionPool
from chain.core.view import CoreView
from runtime.block import Header
from runtime.executive import (
    BadMortality,
    CheckedSignatures,
    InvalidTransaction,
    check_transaction_signature,
    validate_transaction,
)
from runtime.pallets import balances, system
from runtime.primitives.codec import DecodeError
from runtime.primitives.hashing import blake2b_256
from runtime.state import StateOverlay
from runtime.transaction import DecodedTransactions, SignedTransaction

NOT_BANNED: Final[tuple[type[InvalidTransaction], ...]] = (BadMortality,)
"""Refusals that may not hold a moment later, so are not banned: a birth block this node has not
imported yet. (They come before the signature, so a flood of them costs the cheap checks only.)"""


def dropped(removed: Sequence[Removed]) -> list[Action]:
    """The notifications for transactions that left the pool without being included."""
    return [TxDropped(r.tx.hash, r.status, r.reason) for r in removed]


class PoolUpkeep:
    """Admits transactions to the pool against the best state, and repairs the pool after it."""

    def __init__(
        self,
        view: CoreView,
        pool: TransactionPool,
        checked: CheckedSignatures | None = None,
        decoded: DecodedTransactions | None = None,
    ) -> None:
        self.view = view
        self.pool = pool
        self.checked = checked
        """Where the signatures found valid are remembered (block import skips them)."""
        self.decoded = decoded
        """Where the pooled transactions are remembered decoded (block import skips decoding)."""

    def admit(
        self, raw: bytes, now_ms: int, *, tx_hash: bytes | None = None
    ) -> tuple[SignedTransaction, list[Action]]:
        """Decode, check and pool a transaction (`tx_hash`: its hash, if the caller has it);
        raises DecodeError, InvalidTransaction or PoolError.

        A pooled or banned transaction is refused on its hash, before it is decoded. The rest is
        checked cheapest first: the runtime's checks of call, mortality, nonce and fee, then
        whether the pool has a place for it, and the signature last. One found invalid (a bad
        signature, a fee it cannot pay, a used nonce, ...) is banned for a while, so that resending
        it costs a hash lookup; one the pool has no place for is not (it is not invalid), but it
        costs no signature check either.
        """
        self.pool.check_admissible(blake2b_256(raw) if tx_hash is None else tx_hash, now_ms)
        tx = SignedTransaction.decode(raw)
        view = self.view
        best, genesis_hash, cache = view.best_header, view.genesis_hash, view.best_cache()

        def check_signature() -> None:
            check_transaction_signature(
                view.reader(),
                best,
                tx,
                genesis_hash=genesis_hash,
                cache=cache,
                checked=self.checked,
            )

        try:
            valid = validate_transaction(
                view.reader(),
                best,
                tx,
                genesis_hash=genesis_hash,
                check_signature=False,
                cache=cache,
                # Further ahead, the gap alone would take more than the account's share of the pool.
                max_nonce_ahead=self.pool.max_per_account - 1,
            )
            removed = self.pool.add(tx, valid, now_ms, check=check_signature)
        except InvalidTransaction as exc:
            if not isinstance(exc, NOT_BANNED):
                self.pool.ban(tx.hash, now_ms)
            raise
        if self.decoded is not None:
            self.decoded.add(tx)
        return tx, dropped(removed)

    def resubmit(self, extrinsics: Sequence[bytes], now_ms: int) -> None:
        """Put a retracted block's transactions back in the pool, quietly skipping invalid ones.

        A ban does not keep them out: one found stale while its block was best is valid again
        once the block is retracted (a reorg is bounded by the blocks a node imports, so this
        is no way around the bans for a stranger). Each signature is checked again, over the
        birth block of the chain now best: one born on the retracted side does not hold here."""
        for raw in extrinsics:
            try:
                tx = SignedTransaction.decode(raw)
                if tx.hash in self.pool:
                    continue
                valid = validate_transaction(
                    self.view.reader(),
                    self.view.best_header,
                    tx,
                    genesis_hash=self.view.genesis_hash,
                    check_signature=True,
                    cache=self.view.best_cache(),
                    checked=self.checked,
                )
                self.pool.lift_ban(tx.hash)
                self.pool.add(tx, valid, now_ms)
            except (DecodeError, InvalidTransaction, PoolError):
                continue

    def update_pool(
        self,
        header: Header,
        changes: dict[bytes, bytes | None] | None,
        included: set[bytes],
        now_ms: int,
    ) -> list[Action]:
        """Tell the pool about a new best block; `changes` are its state changes when it simply
        extends the old best (otherwise every pooled account is revalidated)."""
        view = self.view
        state = StateOverlay(view.reader(header.hash), view.best_cache())
        if changes is not None:
            # A signer's budget is its account record less its locks: a lock can change without
            # the record (another account's `unlock` of it).
            relocked = {
                balances.Freezes.key_suffix(key)
                for key in changes
                if key.startswith(balances.Freezes.prefix)
            }
            touched = {
                signer
                for signer in self.pool.signers()
                if signer in relocked or system.Account.key(signer) in changes
            }
        else:
            touched = set(self.pool.signers())

        def revalidate(tx: SignedTransaction) -> Any:
            try:
                return validate_transaction(
                    view.reader(header.hash),
                    header,
                    tx,
                    genesis_hash=view.genesis_hash,
                    check_signature=False,
                    cache=view.best_cache(),
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
        return dropped(removed)
