"""BLAKE2b hashing: 256-bit for block, state and transaction hashes, 128-bit for storage keys."""

from __future__ import annotations

from hashlib import blake2b
from typing import Final

HASH_LEN: Final = 32
ZERO_HASH: Final = bytes(HASH_LEN)


_fresh_256: Final = blake2b(digest_size=32).copy
"""A fresh BLAKE2b-256 state to copy: a copy costs about 0.1-0.3 us less than a new hasher,
whose keyword parsing and set-up it skips (two hashes a transaction on block import)."""


def blake2b_256(data: bytes) -> bytes:
    """BLAKE2b with a 32-byte digest: the hash of the chain."""
    hasher = _fresh_256()
    hasher.update(data)
    return hasher.digest()


def blake2b_128(data: bytes) -> bytes:
    """BLAKE2b with a 16-byte digest: used to spread storage keys, never for security."""
    return blake2b(data, digest_size=16).digest()


def to_hex(data: bytes) -> str:
    """Render bytes as 0x-prefixed lowercase hex, the form used by RPC and the CLI."""
    return "0x" + data.hex()


def from_hex(text: str, *, length: int | None = None, what: str = "value") -> bytes:
    """Parse 0x-prefixed hex, optionally of an exact byte length, naming `what` on error."""
    if not isinstance(text, str):
        raise ValueError(f"{what}: expected a 0x-prefixed hex string, got {type(text).__name__}")
    if not text.startswith("0x"):
        raise ValueError(f"{what}: expected a 0x-prefixed hex string")
    try:
        if not text.isascii() or any(c.isspace() for c in text):
            raise ValueError("whitespace")  # bytes.fromhex would skip it
        data = bytes.fromhex(text[2:])
    except ValueError as exc:
        raise ValueError(f"{what}: not valid hex") from exc
    if length is not None and len(data) != length:
        raise ValueError(f"{what}: expected {length} bytes, got {len(data)}")
    return data
