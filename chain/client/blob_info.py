"""What client and node agree a blob is, with no I/O behind it: the node's blob store and the
client's upload and download both use these."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

MAX_BLOB_BYTES: Final = 256 * 1024 * 1024
"""The largest blob a node stores: an input file over it cannot be uploaded."""


@dataclass(frozen=True, slots=True)
class BlobInfo:
    """A stored blob: its Merkle root, how many leaves it has, and their total size in bytes."""

    root: bytes
    leaf_count: int
    size: int
