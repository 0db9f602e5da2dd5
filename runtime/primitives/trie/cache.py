"""The node cache that commits and reads share: encoded nodes by node key, bounded."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from itertools import islice, repeat
from typing import Final


class NodeCache:
    """Trie nodes by node key, kept across commits and reads; bounded, roughly LRU.

    Pass one to `commit`, `get` and `read_proof`, which read nodes through it and add what they
    read and write (a commit drops the nodes it deletes), and to `iter_prefix`, which only looks.
    A node key is the node's position and the hash of its encoding, so an entry is never stale:
    it is the node under that key in any state, on any fork, in any store.

    An entry is the node's encoding, which the cache took in only once checked (read from the
    store and decoded with its shape checked) or built (a node a commit wrote): a hit skips the
    store and those checks, leaving a C-level unpack. Bytes rather than decoded tuples, because
    the garbage collector never has to look at bytes: tens of thousands of new tuples per commit
    made its collections cost more than the decoding saved. Entries are immutable, and a node
    written by a commit shares its bytes with `TrieCommit.inserted`.

    Entries are kept in the order they were last stored: a commit takes out each node it reads
    and puts back those it leaves as they were. When a call leaves more than `max_entries`, the
    oldest are dropped down to three quarters of it. An entry costs about 0.2 KB besides its
    encoding (about 0.1 KB for a leaf with a 60-byte value, up to 0.55 KB for a full branch).

    Not thread-safe: serialize the calls that share one cache. The trie's walks (`commit`, the
    reads, the proofs) use `_nodes`, the dict itself, and call `_settle` when done.
    """

    __slots__ = ("_nodes", "max_entries")

    def __init__(self, max_entries: int = 500_000) -> None:
        if type(max_entries) is not int or max_entries < 0:
            raise ValueError(f"max_entries must be a non-negative int, got {max_entries!r}")
        self.max_entries: Final = max_entries
        self._nodes: dict[bytes, bytes] = {}

    def __len__(self) -> int:
        return len(self._nodes)

    def __contains__(self, node_key: object) -> bool:
        return node_key in self._nodes

    def clear(self) -> None:
        """Drop every entry."""
        self._nodes = {}

    def discard(self, node_keys: Iterable[bytes]) -> None:
        """Drop the entries of `node_keys` that are cached (nodes no kept state holds any more)."""
        # `nodes.pop(node_key, None)` for each, looped in C: a pruned state has thousands.
        deque(map(self._nodes.pop, node_keys, repeat(None)), maxlen=0)

    def _settle(self) -> None:
        """Drop the oldest entries once the cache is over its bound."""
        nodes = self._nodes
        if len(nodes) > self.max_entries:
            keep = self.max_entries - self.max_entries // 4
            self._nodes = dict(islice(nodes.items(), len(nodes) - keep, None)) if keep else {}
