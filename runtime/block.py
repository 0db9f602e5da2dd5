"""Headers and blocks.

A header is `[parent_hash, number, state_root, extrinsics_root, timestamp, digest]`, the digest
`[slot, author, vrf_output, vrf_proof, seal]`. The block hash is BLAKE2b-256 of the whole encoded
header. The author's seal is an Ed25519 signature over the *pre-seal hash*: BLAKE2b-256 of
b"xpl-seal" ‖ the header encoded with an empty seal, so it covers the VRF output and proof (the
author's VRF on the chain randomness, which the `randomness` pallet checks; empty only in the
genesis header). A block is `[header, [extrinsic bytes, ...]]`; the extrinsics root is the
binary Merkle root of the extrinsics' bytes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import cached_property
from typing import Any, Final

from runtime.primitives import codec
from runtime.primitives.address import encode_address
from runtime.primitives.codec import DecodeError, Value
from runtime.primitives.hashing import blake2b_256, to_hex
from runtime.primitives.keys import PUBLIC_KEY_LEN, SIGNATURE_LEN, Keypair, verify
from runtime.primitives.merkle import merkle_root
from runtime.primitives.vrf import OUTPUT_LEN, PROOF_LEN

MAX_BLOCK_SIZE: Final = 5 * 1024 * 1024
MAX_HEADER_SIZE: Final = 1024
MAX_BLOCK_EXTRINSICS: Final = 100_000
_SEAL_DOMAIN: Final = b"xpl-seal"


@dataclass(frozen=True, slots=True)
class Digest:
    """Consensus data in the header: the Aura slot, its author, the author's VRF output and proof
    on the chain randomness, and the author's seal."""

    slot: int
    author: bytes
    seal: bytes
    vrf_output: bytes = b""
    vrf_proof: bytes = b""

    def to_value(self) -> list[Value]:
        """The codec value `[slot, author, vrf_output, vrf_proof, seal]`."""
        return [self.slot, self.author, self.vrf_output, self.vrf_proof, self.seal]

    @classmethod
    def from_value(cls, value: Value) -> Digest:
        """Decode a digest (u64 slot, 32-byte author, 32-byte VRF output, 80-byte VRF proof,
        64-byte seal; the VRF fields and the seal may be empty); else DecodeError."""
        f = codec.expect_list(value, 5, "header.digest")
        slot = codec.expect_u64(f[0], "header.digest.slot")
        author = codec.expect_bytes(f[1], "header.digest.author", length=PUBLIC_KEY_LEN)
        vrf_output, vrf_proof, seal = f[2], f[3], f[4]
        if vrf_output != b"":
            codec.expect_bytes(vrf_output, "header.digest.vrf_output", length=OUTPUT_LEN)
        if vrf_proof != b"":
            codec.expect_bytes(vrf_proof, "header.digest.vrf_proof", length=PROOF_LEN)
        if seal != b"":
            codec.expect_bytes(seal, "header.digest.seal", length=SIGNATURE_LEN)
        return cls(slot, author, seal, vrf_output, vrf_proof)


@dataclass(frozen=True)
class Header:
    """A block header: `[parent_hash, number, state_root, extrinsics_root, timestamp, digest]`."""

    parent_hash: bytes
    number: int
    state_root: bytes
    extrinsics_root: bytes
    timestamp: int
    digest: Digest

    def to_value(self) -> list[Value]:
        """The codec value of the header, digest included."""
        return [
            self.parent_hash,
            self.number,
            self.state_root,
            self.extrinsics_root,
            self.timestamp,
            self.digest.to_value(),
        ]

    def encode(self) -> bytes:
        """The canonical encoding, whose BLAKE2b-256 is the block hash."""
        return codec.encode(self.to_value())

    @classmethod
    def from_value(cls, value: Value) -> Header:
        """Decode a header; DecodeError naming the field missing, mistyped or out of range."""
        f = codec.expect_list(value, 6, "header")
        return cls(
            parent_hash=codec.expect_bytes(f[0], "header.parent_hash", length=32),
            number=codec.expect_u32(f[1], "header.number"),
            state_root=codec.expect_bytes(f[2], "header.state_root", length=32),
            extrinsics_root=codec.expect_bytes(f[3], "header.extrinsics_root", length=32),
            timestamp=codec.expect_u64(f[4], "header.timestamp"),
            digest=Digest.from_value(f[5]),
        )

    @classmethod
    def decode(cls, data: bytes) -> Header:
        """Decode an encoded header of at most MAX_HEADER_SIZE bytes; DecodeError otherwise."""
        return cls.from_value(codec.decode_raw(data, max_size=MAX_HEADER_SIZE))

    @cached_property
    def hash(self) -> bytes:
        """The block hash: BLAKE2b-256 of the encoded header, seal included."""
        return blake2b_256(self.encode())

    def pre_seal_hash(self) -> bytes:
        """What the author signs: the header with an empty seal, domain-separated."""
        unsealed = replace(self, digest=replace(self.digest, seal=b""))
        return blake2b_256(_SEAL_DOMAIN + unsealed.encode())

    def sealed_by(self, keypair: Keypair) -> Header:
        """This header with the author's seal filled in."""
        if keypair.public != self.digest.author:
            raise ValueError("the sealing key is not the header's author")
        seal = keypair.sign(self.pre_seal_hash())
        return replace(self, digest=replace(self.digest, seal=seal))

    def seal_is_valid(self) -> bool:
        """True if the seal is the author's signature over the pre-seal hash."""
        d = self.digest
        return len(d.seal) == SIGNATURE_LEN and verify(d.author, self.pre_seal_hash(), d.seal)

    def to_json(self) -> dict[str, Any]:
        """Substrate-style JSON (block number as hex)."""
        return {
            "parentHash": to_hex(self.parent_hash),
            "number": hex(self.number),
            "stateRoot": to_hex(self.state_root),
            "extrinsicsRoot": to_hex(self.extrinsics_root),
            "timestamp": self.timestamp,
            "digest": {
                "slot": self.digest.slot,
                "author": encode_address(self.digest.author),
                "vrfOutput": to_hex(self.digest.vrf_output),
                "vrfProof": to_hex(self.digest.vrf_proof),
                "seal": to_hex(self.digest.seal),
            },
            "hash": to_hex(self.hash),
        }


@dataclass(frozen=True)
class Block:
    """A header and its extrinsics, still encoded: `[header, [extrinsic bytes, ...]]`."""

    header: Header
    extrinsics: tuple[bytes, ...]

    def encode(self) -> bytes:
        """The canonical encoding `[header, [extrinsic bytes, ...]]`."""
        return codec.encode([self.header.to_value(), list(self.extrinsics)])

    @classmethod
    def decode(cls, data: bytes) -> Block:
        """Decode a block within MAX_BLOCK_SIZE and MAX_BLOCK_EXTRINSICS; DecodeError otherwise."""
        value = codec.decode_raw(data, max_size=MAX_BLOCK_SIZE)
        f = codec.expect_list(value, 2, "block")
        header = Header.from_value(f[0])
        body = codec.expect_array(f[1], MAX_BLOCK_EXTRINSICS, "block.extrinsics")
        for i, ext in enumerate(body):
            if type(ext) is not bytes:
                raise DecodeError(f"block.extrinsics[{i}]: expected bytes")
        return cls(header, tuple(body))

    @property
    def hash(self) -> bytes:
        return self.header.hash


def extrinsics_root(extrinsics: Sequence[bytes]) -> bytes:
    """The binary Merkle root over the extrinsics' bytes."""
    return merkle_root(extrinsics)


def encode_body(extrinsics: Sequence[bytes]) -> bytes:
    """A block body stored without its header: the array of its extrinsics' bytes."""
    body = list(extrinsics)
    if set(map(type, body)) <= _BYTES:  # every item exactly bytes: nothing to check item by item
        return codec.encode_trusted(body)
    return codec.encode(body)


_BYTES: Final = frozenset({bytes})


def decode_body(data: bytes) -> tuple[bytes, ...]:
    """Decode a stored block body; DecodeError if it is too large or an item is not bytes."""
    body = codec.expect_array(
        codec.decode_raw(data, max_size=MAX_BLOCK_SIZE), MAX_BLOCK_EXTRINSICS, "block body"
    )
    for i, ext in enumerate(body):
        if type(ext) is not bytes:
            raise DecodeError(f"block body[{i}]: expected bytes")
    return tuple(body)
