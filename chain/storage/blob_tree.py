"""A stored blob's Merkle tree, kept on disk in small pages so that a leaf's proof costs
O(log n) small reads, not a rebuild of the tree.

Beside the blob's metadata and leaves (`chain.storage.blobs`), a blob stores

    w ‖ root ‖ 0xff                          → leaf count (4 BE) ‖ size (8 BE)
    w ‖ root ‖ level (1) ‖ page (4 BE)       → up to TREE_PAGE_HASHES hashes of that level

for every level below the top (level 0 is the leaf hashes). A proof reads one page per level
(17 pages of at most 2 KiB for the widest blob), where rebuilding the tree from the metadata read
2 MiB and computed 65,535 hashes per proof once a reader cycled past the cache: ~75 ms of the
node's thread per request, for anyone (leaves are served to all). What a reader can still cost
the node: 17 small reads per leaf it asks for, within the RPC and peer request limits.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from chain.storage.kv import KeyValueStore, WriteBatch

TREE_PAGE_HASHES: Final = 64
"""Hashes in one stored page of a tree level: what one read of a proof brings (2 KiB)."""

_TREE: Final = b"w"
_HEADER: Final = b"\xff"
_HASH_BYTES: Final = 32


def header_key(root: bytes) -> bytes:
    """Where a blob's leaf count and size live, apart from its leaf hashes."""
    return _TREE + root + _HEADER


def page_key(root: bytes, level: int, page: int) -> bytes:
    """Where page `page` of level `level` of a blob's tree lives."""
    return _TREE + root + bytes([level]) + page.to_bytes(4, "big")


def level_widths(leaf_count: int) -> list[int]:
    """The widths of the levels a proof reads from: every level below the top."""
    widths = []
    width = leaf_count
    while width > 1:
        widths.append(width)
        width = (width + 1) // 2
    return widths


def tree_keys(root: bytes, leaf_count: int) -> list[bytes]:
    """Every key the stored tree of a blob of `leaf_count` leaves occupies."""
    keys = [header_key(root)]
    for level, width in enumerate(level_widths(leaf_count)):
        pages = -(-width // TREE_PAGE_HASHES)
        keys.extend(page_key(root, level, page) for page in range(pages))
    return keys


def write_tree(
    batch: WriteBatch, root: bytes, levels: Sequence[Sequence[bytes]], size: int
) -> None:
    """Add the header and the pages of `levels` (`merkle.tree_levels`) to `batch`."""
    batch.put(header_key(root), len(levels[0]).to_bytes(4, "big") + size.to_bytes(8, "big"))
    for level, hashes in enumerate(levels[:-1]):
        for page, start in enumerate(range(0, len(hashes), TREE_PAGE_HASHES)):
            batch.put(
                page_key(root, level, page), b"".join(hashes[start : start + TREE_PAGE_HASHES])
            )


def read_header(kv: KeyValueStore, root: bytes) -> tuple[int, int] | None:
    """The stored (leaf count, size) of a blob, or None if it has no stored tree."""
    raw = kv.get(header_key(root))
    if raw is None or len(raw) != 12:
        return None
    return int.from_bytes(raw[:4], "big"), int.from_bytes(raw[4:], "big")


def read_proof(kv: KeyValueStore, root: bytes, leaf_count: int, index: int) -> list[bytes] | None:
    """The proof of leaf `index` from the stored pages; None if a page is missing or damaged."""
    proof: list[bytes] = []
    pos = index
    for level, width in enumerate(level_widths(leaf_count)):
        sibling = pos ^ 1
        if sibling < width:
            page, slot = divmod(sibling, TREE_PAGE_HASHES)
            raw = kv.get(page_key(root, level, page))
            start = slot * _HASH_BYTES
            if raw is None or len(raw) < start + _HASH_BYTES:
                return None
            proof.append(raw[start : start + _HASH_BYTES])
        pos //= 2
    return proof
