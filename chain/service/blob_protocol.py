"""The blob request-response protocol's messages: a request for one leaf of a blob, and the leaf
with its Merkle proof as a peer serves it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from runtime.primitives import codec
from runtime.workloads import MAX_LEAF_BYTES

BLOB_REQUEST_BYTES: Final = 128
BLOB_RESPONSE_BYTES: Final = MAX_LEAF_BYTES + 64 * 1024


@dataclass(frozen=True, slots=True)
class BlobLeaf:
    """One leaf of a blob and what proves it, as a peer served it."""

    leaf: bytes
    proof: tuple[bytes, ...]
    leaf_count: int
    size: int


def encode_blob_request(root: bytes, index: int) -> bytes:
    """The request for leaf `index` of blob `root`: `[root, index]`."""
    return codec.encode([root, index])


def decode_blob_request(raw: bytes) -> tuple[bytes, int]:
    """The (root, index) a peer asks for; DecodeError if the request is malformed."""
    f = codec.expect_list(codec.decode_raw(raw, max_size=BLOB_REQUEST_BYTES), 2, "blob request")
    return codec.expect_bytes(f[0], "blob.root", length=32), codec.expect_u32(f[1], "blob.index")


def encode_blob_leaf(leaf: BlobLeaf) -> bytes:
    """The answer to a blob request: `[leaf, proof, leaf count, size]`."""
    return codec.encode([leaf.leaf, list(leaf.proof), leaf.leaf_count, leaf.size])


def decode_blob_leaf(raw: bytes) -> BlobLeaf:
    """A peer's answer to a blob request, decoded strictly; the caller checks its proof."""
    f = codec.expect_list(codec.decode_raw(raw, max_size=BLOB_RESPONSE_BYTES), 4, "blob leaf")
    proof = tuple(
        codec.expect_bytes(p, "blob.proof", length=32)
        for p in codec.expect_array(f[1], 64, "blob.proof")
    )
    return BlobLeaf(
        leaf=codec.expect_bytes(f[0], "blob.leaf", max_len=BLOB_RESPONSE_BYTES),
        proof=proof,
        leaf_count=codec.expect_u32(f[2], "blob.leaf_count"),
        size=codec.expect_u64(f[3], "blob.size"),
    )
