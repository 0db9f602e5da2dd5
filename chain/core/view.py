"""The chain as the core's parts read it: the store, read only, with the caches that make reading
it cheap. Blocks and finality are written by `chain.core.chain_updates` alone, and the voter's
state by the voter (through the callback `chain.core.node` gives it)."""

from __future__ import annotations

from typing import Any, Final

from chain.core.boundary import ChainStoreReads
from runtime.block import Header
from runtime.pallets import session
from runtime.pallets.session import AuthoritySet
from runtime.state import StateOverlay, StateReader

_WARM_CACHE_LIMIT: Final = 1_000_000
_AUTHORITY_SET_CACHE: Final = 4_096
"""The most blocks whose authority set is remembered (emptied when full); blocks of one set share
one object, so an entry costs about 0.1 KB however many authorities there are."""


class CoreView:
    """The chain store, with authority sets and the best state's decoded values cached."""

    def __init__(self, store: ChainStoreReads) -> None:
        self.store = store
        # Decoded values of the best block's state, carried from block to block (see StateOverlay).
        self._warm: dict[bytes, Any] = {}
        self._warm_hash = b""
        self._authority_sets: dict[bytes, AuthoritySet] = {}
        self._last_set: AuthoritySet | None = None

    @property
    def genesis_hash(self) -> bytes:
        return self.store.genesis_hash

    @property
    def best_header(self) -> Header:
        return self.store.best_header

    @property
    def finalized_header(self) -> Header:
        return self.store.finalized_header

    def header(self, block_hash: bytes) -> Header | None:
        """The header of a block this node stores, or None."""
        return self.store.header(block_hash)

    def reader(self, block_hash: bytes | None = None) -> StateReader:
        """Read the state after `block_hash` (default: the best block)."""
        return self.store.reader(self.store.best_hash if block_hash is None else block_hash)

    def authority_set_after(self, block_hash: bytes) -> AuthoritySet:
        """The authority set in the state after `block_hash` (it authors and finalizes children)."""
        found = self._authority_sets.get(block_hash)
        if found is None:
            found = session.authority_set(StateOverlay(self.store.reader(block_hash)))
            if found == self._last_set:
                found = self._last_set  # one object per set, not one per block
            self._last_set = found
            if len(self._authority_sets) >= _AUTHORITY_SET_CACHE:
                self._authority_sets.clear()
            self._authority_sets[block_hash] = found
        return found

    def best_cache(self) -> dict[bytes, Any]:
        """Decoded values of the best block's state, emptied when the best block changes."""
        if self._warm_hash != self.store.best_hash or len(self._warm) > _WARM_CACHE_LIMIT:
            self._warm = {}
            self._warm_hash = self.store.best_hash
        return self._warm

    def carry_cache(self, cache: dict[bytes, Any], block: StateOverlay, best_hash: bytes) -> None:
        """`cache` (the old best's) gets a new best block's values (its overlay's committed
        writes) and becomes its cache."""
        block.carry_into(cache)
        self._warm_hash = best_hash
