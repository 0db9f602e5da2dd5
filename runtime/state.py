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

    __slots__ = ("_cache", "_committed", "_encoders", "_layers", "_read")

    def __init__(self, read: StateReader, cache: dict[bytes, Any] | None = None) -> None:
        self._read = read
        # Decoded values read from the backend. The node may hand in a cache it keeps across
        # blocks, valid for the state `read` reads; the overlay only adds backend reads to it.
        self._cache: dict[bytes, Any] = {} if cache is None else cache
        self._committed: dict[bytes, Any] = {}
        self._layers: list[dict[bytes, Any]] = []
        self._encoders: dict[bytes, Encoder] = {}

    def get(self, key: bytes, decode: Decoder) -> Any:
        """The value at `key` (decoded), or None if absent."""
        if self._layers:
            for layer in reversed(self._layers):
                value = layer.get(key, _MISSING)
                if value is not _MISSING:
                    return None if value is DELETED else value
        value = self._committed.get(key, _MISSING)
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
        (self._layers[-1] if self._layers else self._committed)[key] = value
        self._encoders[key] = encode

    def delete(self, key: bytes) -> None:
        """Delete a key (a deletion in the block's changes when committed)."""
        (self._layers[-1] if self._layers else self._committed)[key] = DELETED

    def begin(self) -> None:
        """Open a transactional layer: later writes are kept by `commit`, undone by `rollback`."""
        self._layers.append({})

    def commit(self) -> None:
        """Close the innermost transactional layer, keeping its writes."""
        layer = self._layers.pop()
        (self._layers[-1] if self._layers else self._committed).update(layer)

    def rollback(self) -> None:
        """Close the innermost transactional layer, discarding its writes."""
        self._layers.pop()

    def committed_values(self) -> dict[bytes, Any]:
        """The block's writes, decoded; None marks a deletion (to carry a cache forward)."""
        return {k: None if v is DELETED else v for k, v in self._committed.items()}

    def changes(self) -> dict[bytes, bytes | None]:
        """The block's writes, encoded; None marks a deletion. Writes of unchanged values stay."""
        if self._layers:
            raise RuntimeError("changes taken while a transaction is open")
        encoders = self._encoders
        return {
            key: None if value is DELETED else encoders[key](value)
            for key, value in self._committed.items()
        }
