"""What the nodes of one simulated network share so that the world runs fast: signature checks.

Every node of a `SimNetwork` runs the same deterministic runtime on the same blocks, so a
signature one node checked is checked for all: `SignatureCache` is a `SignatureVerifier` that
remembers each (public key, message, signature) triple's result, bounded to the most recent
`SIGNATURE_CACHE_ENTRIES`. Keyed by the whole triple, a cached answer is the answer `verify`
would give, so a run is the same with or without the cache.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from runtime.executive import PendingSignatures
from runtime.primitives.keys import verify

SIGNATURE_CACHE_ENTRIES: Final = 200_000
"""The most signature results remembered (the oldest are forgotten first): bounds the memory a
long run spends on them (about 250 bytes an entry)."""

Triple = tuple[bytes, bytes, bytes]


class SignatureCache:
    """A signature verifier that checks each (key, message, signature) triple once."""

    def __init__(self, entries: int = SIGNATURE_CACHE_ENTRIES) -> None:
        self._entries = entries
        self._known: dict[Triple, bool] = {}
        self.hits = 0
        self.misses = 0

    def check(self, public: bytes, message: bytes, signature: bytes) -> bool:
        """`verify`'s answer for the triple, remembered."""
        triple = (public, message, signature)
        known = self._known.get(triple)
        if known is not None:
            self.hits += 1
            return known
        self.misses += 1
        ok = verify(public, message, signature)
        if len(self._known) >= self._entries:
            del self._known[next(iter(self._known))]
        self._known[triple] = ok
        return ok

    def submit(self, items: Sequence[Triple]) -> PendingSignatures:
        """Nothing is checked until the results are asked for (as `InlineVerifier`)."""
        return _CachedSignatures(self, items)


class _CachedSignatures:
    """A block's triples, checked through the cache when the results are asked for."""

    def __init__(self, cache: SignatureCache, items: Sequence[Triple]) -> None:
        self._cache = cache
        self._items = items

    def __call__(self) -> list[bool]:
        check = self._cache.check
        return [check(pk, msg, sig) for pk, msg, sig in self._items]

    def cancel(self) -> None:
        """Nothing was started: forget the triples."""
        self._items = ()


class SharedExecution:
    """What the nodes of one network share: signature checks (`signatures`)."""

    def __init__(self) -> None:
        self.signatures = SignatureCache()


__all__ = ["SIGNATURE_CACHE_ENTRIES", "SharedExecution", "SignatureCache"]
