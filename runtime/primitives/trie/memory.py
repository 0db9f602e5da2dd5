"""A node store in a dict."""

from __future__ import annotations

from dataclasses import dataclass, field

from runtime.primitives.trie.writing import TrieCommit


@dataclass(slots=True)
class MemoryNodeStore:
    """A dict of node key to encoded node: for tests and for building genesis state."""

    nodes: dict[bytes, bytes] = field(default_factory=dict)

    def get(self, key: bytes) -> bytes | None:
        """The encoded node under `key`, or None."""
        return self.nodes.get(key)

    def apply(self, c: TrieCommit) -> None:
        """Add the commit's inserted nodes and remove its deleted ones."""
        self.nodes.update(c.inserted)
        for nk in c.deleted:
            self.nodes.pop(nk, None)
