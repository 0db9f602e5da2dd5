"""Finality votes and the proofs of consensus offences, shared by the node and the runtime.

A finality vote is an authority's Ed25519 signature over BLAKE2b-256 of

    domain ‖ set id (8 BE) ‖ round (8 BE) ‖ block hash ‖ block number (4 BE)

with domain b"xpl-prevote" or b"xpl-precommit". The node's GRANDPA voter signs and checks them;
the staking pallet checks the two votes of an equivocation report with the same code.

Two offences can be proven with signed messages alone:
- a vote equivocation: one authority's two different votes of one kind in one round of one set;
- a slot equivocation: two different headers sealed by one author for one Aura slot.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Final, NamedTuple

from runtime.block import Header
from runtime.primitives import codec
from runtime.primitives.codec import DecodeError, Value
from runtime.primitives.hashing import blake2b_256
from runtime.primitives.keys import Keypair, verify

PREVOTE: Final = 0
PRECOMMIT: Final = 1
PHASES: Final = (PREVOTE, PRECOMMIT)
_DOMAINS: Final = {PREVOTE: b"xpl-prevote", PRECOMMIT: b"xpl-precommit"}

SignatureCheck = Callable[[bytes, bytes, bytes], bool]
"""Checks one (public key, message, signature): `verify`, or one that remembers its answers."""


class InvalidProof(Exception):
    """An offence report whose messages do not prove the offence."""


def vote_message(phase: int, set_id: int, round_: int, block_hash: bytes, number: int) -> bytes:
    """What an authority signs to vote for (`block_hash`, `number`) in a round."""
    return blake2b_256(
        _DOMAINS[phase]
        + set_id.to_bytes(8, "big")
        + round_.to_bytes(8, "big")
        + block_hash
        + number.to_bytes(4, "big")
    )


@dataclass(frozen=True, slots=True)
class SignedVote:
    """A prevote or precommit for a block, signed by an authority of set `set_id`."""

    phase: int
    set_id: int
    round: int
    block_hash: bytes
    number: int
    voter: bytes
    signature: bytes

    def to_value(self) -> list[Value]:
        """The codec value `[phase, set_id, round, block_hash, number, voter, signature]`."""
        return [
            self.phase,
            self.set_id,
            self.round,
            self.block_hash,
            self.number,
            self.voter,
            self.signature,
        ]

    @classmethod
    def from_value(cls, value: Value) -> SignedVote:
        """Decode a vote, its signature unchecked; DecodeError if a field is malformed."""
        f = codec.expect_list(value, 7, "vote")
        phase = codec.expect_int(f[0], 0, 1, "vote.phase")
        return cls(
            phase=phase,
            set_id=codec.expect_u64(f[1], "vote.set_id"),
            round=codec.expect_u64(f[2], "vote.round"),
            block_hash=codec.expect_bytes(f[3], "vote.block_hash", length=32),
            number=codec.expect_u32(f[4], "vote.number"),
            voter=codec.expect_bytes(f[5], "vote.voter", length=32),
            signature=codec.expect_bytes(f[6], "vote.signature", length=64),
        )

    def message(self) -> bytes:
        """The 32-byte message the voter signs (see `vote_message`)."""
        return vote_message(self.phase, self.set_id, self.round, self.block_hash, self.number)

    def signature_is_valid(self, check: SignatureCheck = verify) -> bool:
        """Whether the signature is the voter's Ed25519 signature over this vote's message
        (`check` is `verify`, or one that remembers what it checked)."""
        return check(self.voter, self.message(), self.signature)

    @property
    def target(self) -> tuple[bytes, int]:
        return self.block_hash, self.number

    @classmethod
    def sign(
        cls,
        keypair: Keypair,
        *,
        phase: int,
        set_id: int,
        round_: int,
        block_hash: bytes,
        number: int,
    ) -> SignedVote:
        """The vote for (`block_hash`, `number`) in a round of set `set_id`, signed by `keypair`."""
        signature = keypair.sign(vote_message(phase, set_id, round_, block_hash, number))
        return cls(phase, set_id, round_, block_hash, number, keypair.public, signature)


class Precommit(NamedTuple):
    """A precommit without its set id and round, which the justification or the note of votes
    that carries it gives once for all of them: `[block_hash, number, voter, signature]`."""

    block_hash: bytes
    number: int
    voter: bytes
    signature: bytes

    @classmethod
    def of(cls, vote: SignedVote) -> Precommit:
        """The precommit part of a signed vote: without its phase, set id and round."""
        return cls(vote.block_hash, vote.number, vote.voter, vote.signature)

    def to_value(self) -> list[Value]:
        """The codec value `[block_hash, number, voter, signature]`."""
        return [self.block_hash, self.number, self.voter, self.signature]

    @classmethod
    def from_value(cls, value: Value, what: str = "precommit") -> Precommit:
        """Decode a precommit (signature unchecked); DecodeError naming the field under `what`."""
        f = codec.expect_list(value, 4, what)
        return cls(
            codec.expect_bytes(f[0], f"{what}.block_hash", length=32),
            codec.expect_u32(f[1], f"{what}.number"),
            codec.expect_bytes(f[2], f"{what}.voter", length=32),
            codec.expect_bytes(f[3], f"{what}.signature", length=64),
        )

    def signature_is_valid(self, set_id: int, round_: int) -> bool:
        """Whether this is the voter's precommit in round `round_` of set `set_id`."""
        message = vote_message(PRECOMMIT, set_id, round_, self.block_hash, self.number)
        return verify(self.voter, message, self.signature)


@dataclass(frozen=True, slots=True)
class VoteEquivocation:
    """Two different votes of one kind by one authority in one round."""

    first: SignedVote
    second: SignedVote

    def to_value(self) -> list[Value]:
        """The codec value `[first vote, second vote]`."""
        return [self.first.to_value(), self.second.to_value()]

    @classmethod
    def from_value(cls, value: Value) -> VoteEquivocation:
        """Decode the two votes (not checked: see `check`); DecodeError if either is malformed."""
        f = codec.expect_list(value, 2, "vote equivocation")
        return cls(SignedVote.from_value(f[0]), SignedVote.from_value(f[1]))

    def check(self) -> bytes:
        """The offender's key if this proves an equivocation; InvalidProof otherwise."""
        a, b = self.first, self.second
        if (a.voter, a.phase, a.set_id, a.round) != (b.voter, b.phase, b.set_id, b.round):
            raise InvalidProof("the two votes are not by one voter in one round and phase")
        if a.target == b.target:
            raise InvalidProof("the two votes are for the same block")
        if not (a.signature_is_valid() and b.signature_is_valid()):
            raise InvalidProof("a vote's signature is invalid")
        return a.voter

    @property
    def offence_key(self) -> bytes:
        """Identifies the offence, so that it is punished once however often it is reported."""
        a = self.first
        return b"vote" + bytes([a.phase]) + a.set_id.to_bytes(8, "big") + a.round.to_bytes(8, "big")


@dataclass(frozen=True, slots=True)
class SlotEquivocation:
    """Two different headers sealed by one author for one slot."""

    first: Header
    second: Header

    def to_value(self) -> list[Value]:
        """The codec value `[first header, second header]`."""
        return [self.first.to_value(), self.second.to_value()]

    @classmethod
    def from_value(cls, value: Value) -> SlotEquivocation:
        """Decode the two headers (not checked: see `check`); DecodeError if either is malformed."""
        f = codec.expect_list(value, 2, "slot equivocation")
        return cls(Header.from_value(f[0]), Header.from_value(f[1]))

    def check(self) -> bytes:
        """The offender's key if this proves an equivocation; InvalidProof otherwise."""
        a, b = self.first, self.second
        if a.digest.slot != b.digest.slot or a.digest.author != b.digest.author:
            raise InvalidProof("the two headers are not by one author for one slot")
        if a.hash == b.hash:
            raise InvalidProof("the two headers are the same")
        if not (a.seal_is_valid() and b.seal_is_valid()):
            raise InvalidProof("a header's seal is invalid")
        return a.digest.author

    @property
    def slot(self) -> int:
        return self.first.digest.slot

    @property
    def offence_key(self) -> bytes:
        return b"slot" + self.first.digest.slot.to_bytes(8, "big")


Equivocation = VoteEquivocation | SlotEquivocation
MAX_PROOF_BYTES: Final = 4 * 1024


def encode_equivocation(proof: Equivocation) -> bytes:
    """A report's proof as bytes: `["vote" | "slot", proof]`."""
    kind = "vote" if isinstance(proof, VoteEquivocation) else "slot"
    return codec.encode([kind, proof.to_value()])


def decode_equivocation(raw: bytes) -> Equivocation:
    """The proof in a report; DecodeError if it is not one."""
    f = codec.expect_list(codec.decode(raw, max_size=MAX_PROOF_BYTES), 2, "equivocation")
    kind = codec.expect_str(f[0], "equivocation.kind", max_len=8)
    if kind == "vote":
        return VoteEquivocation.from_value(f[1])
    if kind == "slot":
        return SlotEquivocation.from_value(f[1])
    raise DecodeError(f"equivocation.kind: unknown kind {kind!r}")
