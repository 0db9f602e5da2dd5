"""What client and node agree a blob is, with no I/O behind it: the node's blob store and the
client's upload and download both use these, and the message an upload's signature covers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from runtime.primitives.hashing import blake2b_256

MAX_BLOB_BYTES: Final = 256 * 1024 * 1024
"""The largest blob a node stores: an input file over it cannot be uploaded."""

UPLOAD_NONCE_BYTES: Final = 16
"""The random nonce in each upload grant: two uploads of the same blob in the same block sign
different messages, so a node can refuse a grant it has seen (a replay)."""

UPLOAD_NODE_BYTES: Final = 16
"""The node identity an upload grant names (`blob_grantNode`): random for each run of a node, so
a grant is good on one node, until it restarts."""

_UPLOAD_DOMAIN: Final = b"xpl-blob-upload:"


@dataclass(frozen=True, slots=True)
class BlobInfo:
    """A stored blob: its Merkle root, how many leaves it has, and their total size in bytes."""

    root: bytes
    leaf_count: int
    size: int


@dataclass(frozen=True, slots=True)
class UploadGrant:
    """An account's signed permission for one upload: who, the recent block that dates it, a
    nonce that makes it unique, and the Ed25519 signature over `upload_message`."""

    account: bytes
    block_hash: bytes
    nonce: bytes
    signature: bytes


def upload_message(
    genesis_hash: bytes,
    grant_block: bytes,
    account: bytes,
    nonce: bytes,
    info: BlobInfo,
    *,
    node: bytes,
) -> bytes:
    """The 32-byte message an upload grant signs: the chain, the node it is for, a recent block,
    the account, the nonce, and the blob's root, leaf count and size (so a grant uploads that
    blob only, on that node only)."""
    return blake2b_256(
        _UPLOAD_DOMAIN
        + genesis_hash
        + node
        + grant_block
        + account
        + nonce
        + info.root
        + info.leaf_count.to_bytes(4, "big")
        + info.size.to_bytes(8, "big")
    )
