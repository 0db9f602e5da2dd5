"""Justifications: the signed precommits that prove a block final.

A precommit is a validator's Ed25519 signature over BLAKE2b-256 of
b"xpl-precommit" ‖ set id (8 BE) ‖ round (8 BE) ‖ block hash ‖ block number (4 BE).
A justification is `[set_id, round, block_hash, number, [[validator, signature], ...]]` and proves
the block final when its distinct valid signers hold more than 2/3 of the validator set's weight
(each validator weighs one until staking gives weights). Anyone holding the validator set can check
it. With a single validator, its own precommit finalizes each block it authors.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from runtime.primitives import codec
from runtime.primitives.codec import Value
from runtime.primitives.hashing import blake2b_256
from runtime.primitives.keys import Keypair, verify

_DOMAIN: Final = b"xpl-precommit"
MAX_SIGNATURES: Final = 1_000


class InvalidJustification(Exception):
    """A justification that does not prove its block final."""


def precommit_message(set_id: int, round_: int, block_hash: bytes, number: int) -> bytes:
    return blake2b_256(
        _DOMAIN
        + set_id.to_bytes(8, "big")
        + round_.to_bytes(8, "big")
        + block_hash
        + number.to_bytes(4, "big")
    )


@dataclass(frozen=True, slots=True)
class Justification:
    set_id: int
    round: int
    block_hash: bytes
    number: int
    signatures: tuple[tuple[bytes, bytes], ...]

    def to_value(self) -> list[Value]:
        return [
            self.set_id,
            self.round,
            self.block_hash,
            self.number,
            [[v, s] for v, s in self.signatures],
        ]

    def encode(self) -> bytes:
        return codec.encode(self.to_value())

    @classmethod
    def decode(cls, raw: bytes) -> Justification:
        f = codec.expect_list(codec.decode_raw(raw, max_size=256 * 1024), 5, "justification")
        sigs = []
        for i, item in enumerate(codec.expect_array(f[4], MAX_SIGNATURES, "signatures")):
            pair = codec.expect_list(item, 2, f"signatures[{i}]")
            sigs.append(
                (
                    codec.expect_bytes(pair[0], "signatures.validator", length=32),
                    codec.expect_bytes(pair[1], "signatures.signature", length=64),
                )
            )
        return cls(
            set_id=codec.expect_u64(f[0], "justification.set_id"),
            round=codec.expect_u64(f[1], "justification.round"),
            block_hash=codec.expect_bytes(f[2], "justification.block_hash", length=32),
            number=codec.expect_u32(f[3], "justification.number"),
            signatures=tuple(sigs),
        )


def sign_precommit(
    keypair: Keypair, *, set_id: int, round_: int, block_hash: bytes, number: int
) -> tuple[bytes, bytes]:
    return keypair.public, keypair.sign(precommit_message(set_id, round_, block_hash, number))


def single_validator_justification(
    keypair: Keypair, *, block_hash: bytes, number: int
) -> Justification:
    """The justification a sole validator gives each block it authors."""
    signature = sign_precommit(
        keypair, set_id=0, round_=number, block_hash=block_hash, number=number
    )
    return Justification(0, number, block_hash, number, (signature,))


def verify_justification(
    justification: Justification, validators: Sequence[bytes], *, block_hash: bytes, number: int
) -> None:
    """Check that `justification` proves block (`block_hash`, `number`) final; raise if not."""
    if justification.block_hash != block_hash or justification.number != number:
        raise InvalidJustification("the justification is for another block")
    members = set(validators)
    signers: set[bytes] = set()
    message = precommit_message(justification.set_id, justification.round, block_hash, number)
    for validator, signature in justification.signatures:
        if validator not in members:
            raise InvalidJustification("a precommit is signed by a non-validator")
        if validator in signers:
            raise InvalidJustification("a validator signed twice")
        if not verify(validator, message, signature):
            raise InvalidJustification("a precommit signature is invalid")
        signers.add(validator)
    if 3 * len(signers) <= 2 * len(members):
        raise InvalidJustification(
            f"{len(signers)} of {len(members)} validators signed; more than 2/3 are needed"
        )
