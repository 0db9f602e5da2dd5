"""Justifications: the signed precommits that prove a block final, checkable by anyone.

A justification for block B in round r of authority set s is

    [set_id, round, block_hash, number, precommits, ancestry]

where each precommit is `[block_hash, number, voter, signature]` (`runtime.consensus.Precommit`):
a voter's signature (`runtime.consensus.vote_message(PRECOMMIT, s, r, target)`) for B or a
descendant of B, and
`ancestry` holds the headers that link each precommit's target down to B. It proves B final when
its distinct voters hold more than 2/3 of the weight of set s: the set in force for B's children,
which is the set in the state of B's parent (so the block that changes the set is the last one the
old set finalizes). With a single authority, its own precommit is a justification.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Final

from runtime.block import Header
from runtime.consensus import PRECOMMIT, Precommit, SignedVote
from runtime.pallets.session import MAX_AUTHORITIES, AuthoritySet
from runtime.primitives import codec
from runtime.primitives.codec import DecodeError, Value
from runtime.primitives.keys import Keypair

MAX_ANCESTRY: Final = 4_096
MAX_JUSTIFICATION_BYTES: Final = 2 * 1024 * 1024


class InvalidJustification(Exception):
    """A justification that does not prove its block final."""


@dataclass(frozen=True, slots=True)
class Justification:
    """A justification as it is stored and gossiped: one round's precommits for a block, with the
    headers that link them to it."""

    set_id: int
    round: int
    block_hash: bytes
    number: int
    precommits: tuple[Precommit, ...]
    ancestry: tuple[Header, ...] = ()

    def to_value(self) -> list[Value]:
        """The codec value `[set_id, round, block_hash, number, precommits, ancestry]`."""
        return [
            self.set_id,
            self.round,
            self.block_hash,
            self.number,
            [p.to_value() for p in self.precommits],
            [h.to_value() for h in self.ancestry],
        ]

    def encode(self) -> bytes:
        """The canonical encoding, as the chain store keeps it and commits gossip it."""
        return codec.encode(self.to_value())

    @classmethod
    def from_value(cls, value: Value) -> Justification:
        """Read a justification from its codec value; DecodeError if malformed (nothing is verified
        here)."""
        f = codec.expect_list(value, 6, "justification")
        precommits = [
            Precommit.from_value(item, f"precommits[{i}]")
            for i, item in enumerate(codec.expect_array(f[4], MAX_AUTHORITIES, "precommits"))
        ]
        return cls(
            set_id=codec.expect_u64(f[0], "justification.set_id"),
            round=codec.expect_u64(f[1], "justification.round"),
            block_hash=codec.expect_bytes(f[2], "justification.block_hash", length=32),
            number=codec.expect_u32(f[3], "justification.number"),
            precommits=tuple(precommits),
            ancestry=tuple(
                Header.from_value(h)
                for h in codec.expect_array(f[5], MAX_ANCESTRY, "justification.ancestry")
            ),
        )

    @classmethod
    def decode(cls, raw: bytes) -> Justification:
        """Decode a justification of at most MAX_JUSTIFICATION_BYTES; DecodeError if malformed
        (nothing is verified here)."""
        return cls.from_value(codec.decode_raw(raw, max_size=MAX_JUSTIFICATION_BYTES))

    @property
    def voters(self) -> tuple[bytes, ...]:
        return tuple(p.voter for p in self.precommits)


def _descends(
    ancestry: dict[bytes, Header], target: tuple[bytes, int], base: tuple[bytes, int]
) -> bool:
    """Whether `target` is `base` or links down to it through the `ancestry` headers."""
    block_hash, number = target
    while number > base[1]:
        header = ancestry.get(block_hash)
        if header is None or header.number != number:
            return False
        block_hash, number = header.parent_hash, number - 1
    return number == base[1] and block_hash == base[0]


def verify_justification(
    justification: Justification, authorities: AuthoritySet, *, block_hash: bytes, number: int
) -> None:
    """Check that `justification` proves block (`block_hash`, `number`) final; raise if not.

    `authorities` is the set in force for the block: the one in its parent's state.
    """
    j = justification
    if j.block_hash != block_hash or j.number != number:
        raise InvalidJustification("the justification is for another block")
    if j.set_id != authorities.set_id:
        raise InvalidJustification(
            f"the justification is by authority set {j.set_id}, the block's set is "
            f"{authorities.set_id}"
        )
    ancestry = {h.hash: h for h in j.ancestry}
    seen: set[bytes] = set()
    weight = 0
    for p in j.precommits:
        voter_weight = authorities.weight_of(p.voter)
        if voter_weight == 0:
            raise InvalidJustification("a precommit is signed by a non-authority")
        if p.voter in seen:
            raise InvalidJustification("a voter precommits twice")
        if not _descends(ancestry, (p.block_hash, p.number), (block_hash, number)):
            raise InvalidJustification("a precommit is not for the block or a descendant of it")
        if not p.signature_is_valid(j.set_id, j.round):
            raise InvalidJustification("a precommit signature is invalid")
        seen.add(p.voter)
        weight += voter_weight
    if not authorities.is_supermajority(weight):
        raise InvalidJustification(
            f"the precommits hold {weight} of {authorities.total_weight} weight; more than 2/3 "
            "is needed"
        )


def decode_and_verify(
    raw: bytes, authorities: AuthoritySet, *, block_hash: bytes, number: int
) -> Justification:
    """Decode a justification and check it; InvalidJustification for either failure."""
    try:
        justification = Justification.decode(raw)
    except DecodeError as exc:
        raise InvalidJustification(f"the justification does not decode: {exc}") from exc
    verify_justification(justification, authorities, block_hash=block_hash, number=number)
    return justification


def sign_justification(
    signers: Iterable[Keypair], *, set_id: int, round_: int, target: Header
) -> Justification:
    """A justification in which each of `signers` precommits `target` itself."""
    precommits = tuple(
        Precommit.of(
            SignedVote.sign(
                k,
                phase=PRECOMMIT,
                set_id=set_id,
                round_=round_,
                block_hash=target.hash,
                number=target.number,
            )
        )
        for k in signers
    )
    return Justification(set_id, round_, target.hash, target.number, precommits)


def build_justification(
    *,
    set_id: int,
    round_: int,
    target: Header,
    precommits: Iterable[SignedVote],
    header_of: Callable[[bytes], Header | None],
) -> Justification:
    """The justification of `target` from a round's precommits that support it.

    Takes one precommit per voter for `target` or a descendant (an equivocator's supporting one)
    and the headers that link them down to `target`.
    """
    chosen: dict[bytes, Precommit] = {}
    ancestry: dict[bytes, Header] = {}
    for vote in precommits:
        if vote.voter in chosen or vote.number < target.number:
            continue
        path: list[Header] = []
        block_hash, number = vote.block_hash, vote.number
        while number > target.number:
            header = ancestry.get(block_hash) or header_of(block_hash)
            if header is None:
                break
            path.append(header)
            block_hash, number = header.parent_hash, number - 1
        if number == target.number and block_hash == target.hash:
            chosen[vote.voter] = Precommit.of(vote)
            for header in path:
                ancestry[header.hash] = header
    return Justification(
        set_id,
        round_,
        target.hash,
        target.number,
        tuple(chosen.values()),
        tuple(sorted(ancestry.values(), key=lambda h: (h.number, h.hash))),
    )
