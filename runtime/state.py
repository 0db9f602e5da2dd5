"""The state as the runtime sees it during one block: typed values over a byte-level reader.

Reads fall through the transactional layers to the block's committed changes, then to a cache of
decoded backend reads, then to the backend. Values are kept decoded (and must be immutable: tuples,
frozen dataclasses, ints, bytes) and encoded once, when the block's changes are taken.

`begin()` opens a layer that `commit()` merges and `rollback()` discards: this is how a failed call
reverts its own writes while its fee and nonce stay paid.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, Final

StateReader = Callable[[bytes], bytes | None]
PrefixIterator = Callable[[bytes], Iterator[tuple[bytes, bytes]]]
Encoder = Callable[[Any], bytes]
Decoder = Callable[[bytes], Any]


class _Deleted:
    __slots__ = ()

    def __repr__(self) -> str:
        return "<deleted>"


DELETED: Final = _Deleted()
_MISSING: Final = object()


class StateOverlay:
    """Block-scoped, transactional, typed view of the state."""

    __slots__ = ("_cache", "_deleted", "_encoders", "_read", "_undo", "_writes")

    def __init__(self, read: StateReader, cache: dict[bytes, Any] | None = None) -> None:
        self._read = read
        # Decoded values read from the backend. The node may hand in a cache it keeps across
        # blocks, valid for the state `read` reads; the overlay only adds backend reads to it.
        self._cache: dict[bytes, Any] = {} if cache is None else cache
        # Every write of the block, the open layers' included, so that a read looks in one dict
        # (a transfer makes about ten reads). Each open layer keeps what its writes replaced
        # (_MISSING: nothing), for `rollback` to put back.
        self._writes: dict[bytes, Any] = {}
        self._undo: list[dict[bytes, Any]] = []
        self._encoders: dict[bytes, Encoder] = {}
        # Every key `delete` was called on (a layer rolled back may have undone it since).
        self._deleted: set[bytes] = set()

    def get(self, key: bytes, decode: Decoder) -> Any:
        """The value at `key` (decoded), or None if absent."""
        value = self._writes.get(key, _MISSING)
        if value is not _MISSING:
            return None if value is DELETED else value
        value = self._cache.get(key, _MISSING)
        if value is _MISSING:
            raw = self._read(key)
            value = None if raw is None else decode(raw)
            self._cache[key] = value
        return value

    def put(self, key: bytes, value: Any, encode: Encoder) -> None:
        """Write an immutable value; `encode` turns it into bytes when the block is committed."""
        writes = self._writes
        if self._undo:
            undo = self._undo[-1]
            if key not in undo:
                undo[key] = writes.get(key, _MISSING)
        writes[key] = value
        self._encoders[key] = encode

    def delete(self, key: bytes) -> None:
        """Delete a key (a deletion in the block's changes when committed)."""
        writes = self._writes
        if self._undo:
            undo = self._undo[-1]
            if key not in undo:
                undo[key] = writes.get(key, _MISSING)
        writes[key] = DELETED
        self._deleted.add(key)

    def begin(self) -> None:
        """Open a transactional layer: later writes are kept by `commit`, undone by `rollback`."""
        self._undo.append({})

    def commit(self) -> None:
        """Close the innermost transactional layer, keeping its writes."""
        undo = self._undo.pop()
        if self._undo:
            # The enclosing layer puts back what it found, not what this layer found.
            outer = self._undo[-1]
            for key, old in undo.items():
                if key not in outer:
                    outer[key] = old

    def rollback(self) -> None:
        """Close the innermost transactional layer, discarding its writes."""
        writes = self._writes
        for key, old in self._undo.pop().items():
            if old is _MISSING:
                del writes[key]
            else:
                writes[key] = old

    def committed_values(self) -> dict[bytes, Any]:
        """The block's writes, decoded; None marks a deletion (to carry a cache forward)."""
        if self._undo:
            raise RuntimeError("values taken while a transaction is open")
        return {k: None if v is DELETED else v for k, v in self._writes.items()}

    def carry_into(self, cache: dict[bytes, Any]) -> None:
        """`cache.update(self.committed_values())`, without building that dict: the writes go
        in as they are in one C-level update, and the few deleted keys are then set to None."""
        if self._undo:
            raise RuntimeError("values taken while a transaction is open")
        writes = self._writes
        cache.update(writes)
        for key in self._deleted:
            if writes.get(key) is DELETED:
                cache[key] = None

    def changes(self) -> dict[bytes, bytes | None]:
        """The block's writes, encoded; None marks a deletion. Writes of unchanged values stay."""
        if self._undo:
            raise RuntimeError("changes taken while a transaction is open")
        encoders = self._encoders
        return {
            key: None if value is DELETED else encoders[key](value)
            for key, value in self._writes.items()
        }
