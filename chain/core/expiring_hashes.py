"""A bounded set of hashes that each expire after a while (the pool's bans and recently included
transactions)."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable


class ExpiringHashes:
    """Hashes remembered for `ttl_ms` each and at most `capacity` of them, the oldest forgotten
    first: every operation costs O(1) amortized, whatever an attacker adds."""

    def __init__(self, ttl_ms: int, capacity: int) -> None:
        self.ttl_ms, self.capacity = ttl_ms, capacity
        # Hash -> when it is forgotten, in the order added (so, of those times).
        self._until: OrderedDict[bytes, int] = OrderedDict()

    def __len__(self) -> int:
        return len(self._until)

    def add(self, tx_hash: bytes, now_ms: int) -> None:
        """Remember `tx_hash` for `ttl_ms` from `now_ms` (again, if it was already)."""
        until = self._until
        until.pop(tx_hash, None)
        until[tx_hash] = now_ms + self.ttl_ms
        self.expire(now_ms)
        while len(until) > self.capacity:
            until.popitem(last=False)

    def add_all(self, tx_hashes: Iterable[bytes], now_ms: int) -> None:
        """`add` each of `tx_hashes` in turn (a block's thousands), expiring and trimming once."""
        until = self._until
        pop = until.pop
        end = now_ms + self.ttl_ms
        added = False
        for tx_hash in tx_hashes:
            pop(tx_hash, None)
            until[tx_hash] = end
            added = True
        if not added:
            return
        self.expire(now_ms)
        while len(until) > self.capacity:
            until.popitem(last=False)

    def holds(self, tx_hash: bytes, now_ms: int) -> bool:
        """Whether `tx_hash` is still remembered at `now_ms`."""
        end = self._until.get(tx_hash)
        if end is None:
            return False
        if end <= now_ms:
            del self._until[tx_hash]
            return False
        return True

    def discard(self, tx_hash: bytes) -> None:
        """Forget `tx_hash` now."""
        self._until.pop(tx_hash, None)

    def expire(self, now_ms: int) -> None:
        """Forget what expired by `now_ms` (from the oldest, stopping at the first that holds)."""
        until = self._until
        while until:
            tx_hash, end = next(iter(until.items()))
            if end > now_ms:
                return
            del until[tx_hash]
