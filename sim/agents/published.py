"""The results workers publish, where committee members and requesters read them.

On a real network a worker uploads its result as a blob that nodes serve leaf by leaf with
Merkle proofs (`chain.service.blob_protocol`). In the simulated world a shared in-memory store
stands in for that protocol: a worker publishes its result leaves under their root, and readers
get each leaf with its proof through the same `LeafSource` interface the verification service
reads its blob store through. A worker withdraws a result when its job ends, so the store holds
only the results of open jobs.
"""

from __future__ import annotations

from collections.abc import Sequence

from chain.client.blob_info import BlobInfo
from chain.storage.blobs import BlobError
from gpu_worker.commitment import leaf_hashes
from runtime.primitives.merkle import proof_from_hashes, root_of_hashes


class PublishedResults:
    """Published result leaves by root, counted by how many open jobs publish each."""

    def __init__(self) -> None:
        self._leaves: dict[bytes, tuple[bytes, ...]] = {}
        self._hashes: dict[bytes, list[bytes]] = {}
        self._users: dict[bytes, int] = {}

    def publish(self, leaves: Sequence[bytes]) -> bytes:
        """Publish `leaves`; their Merkle root (what the worker commits)."""
        hashes = leaf_hashes(leaves, threads=1)
        root = root_of_hashes(hashes)
        if root not in self._leaves:
            self._leaves[root] = tuple(leaves)
            self._hashes[root] = hashes
        self._users[root] = self._users.get(root, 0) + 1
        return root

    def withdraw(self, root: bytes) -> None:
        """One job that published `root` ended; the result goes when none is left."""
        users = self._users.get(root, 0) - 1
        if users > 0:
            self._users[root] = users
            return
        self._users.pop(root, None)
        self._leaves.pop(root, None)
        self._hashes.pop(root, None)

    def leaves(self, root: bytes) -> tuple[bytes, ...] | None:
        """The published leaves under `root`, or None."""
        return self._leaves.get(root)

    def __len__(self) -> int:
        return len(self._leaves)

    # LeafSource

    def info(self, root: bytes) -> BlobInfo | None:
        """The published result with this root as a blob (leaf count and size), or None."""
        leaves = self._leaves.get(root)
        if leaves is None:
            return None
        return BlobInfo(root, len(leaves), sum(len(leaf) for leaf in leaves))

    def leaf(self, root: bytes, index: int) -> tuple[bytes, list[bytes]]:
        """Leaf `index` of the result `root` with its Merkle proof; BlobError if not published."""
        leaves = self._leaves.get(root)
        if leaves is None or not 0 <= index < len(leaves):
            raise BlobError(f"no published leaf {index} of 0x{root.hex()}")
        return leaves[index], proof_from_hashes(self._hashes[root], index)


__all__ = ["PublishedResults"]
