"""What the GRANDPA voter exchanges: the outputs it asks the node to carry out, the verdict on a
peer's message (the voter's, and every other inbound check's), and the wire forms of the votes,
primary proposals, neighbour packets and catch-ups it reads from peers.

The voter (`chain.core.grandpa`) returns `VoterOutput`s; the node turns them into actions
(`chain.core.voting`) and decodes peers' finality messages and catch-up answers with
`votes_from_value` and `CatchUp` (`chain.core.inbound`, `chain.core.sync_exchange`) before it
hands them to the voter.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Final

from chain.core.finality import Justification
from runtime.consensus import PRECOMMIT, PREVOTE, SignedVote, VoteEquivocation
from runtime.pallets.session import MAX_AUTHORITIES, AuthoritySet
from runtime.primitives import codec
from runtime.primitives.codec import Value
from runtime.primitives.keys import PUBLIC_KEY_LEN, SIGNATURE_LEN, Keypair, verify

MAX_VOTES_PER_MESSAGE: Final = 2 * MAX_AUTHORITIES
"""The most signed votes one finality message may carry."""
MAX_CATCH_UP_BYTES: Final = 1024 * 1024
"""The largest catch-up answer this node decodes."""
MAX_ROUND: Final = 2**64 - 2
"""The highest round number anything may name: its successor still fits the u64 that votes and
saved state encode it in. A message naming a higher round is refused and its sender charged."""
PRIMARY_DOMAIN: Final = b"xpl-primary"
"""What a primary proposal's signature covers before its fields, so that no vote's signature can
be replayed as one."""


class Verdict(Enum):
    """What the node makes of a message from a peer (the network relays only ACCEPT)."""

    ACCEPT = "accept"
    IGNORE = "ignore"
    REJECT = "reject"


# What the voter asks for


@dataclass(frozen=True, slots=True)
class BroadcastVotes:
    """Gossip this voter's signed votes (new ones, or sent again while its round is stuck)."""

    votes: tuple[SignedVote, ...]
    resent_at_ms: int | None = None
    """Set on votes sent again: it makes the message new to the network's duplicate filters,
    which would otherwise drop it as already seen, however long ago (nodes that have the votes
    ignore it and do not relay it further)."""


@dataclass(frozen=True, slots=True)
class BroadcastCommit:
    """Gossip a round's justification, so that nodes that missed its votes can finalize too."""

    justification: Justification


@dataclass(frozen=True, slots=True)
class NoteVotes:
    """This voter's round finalized a block and it announces the commit: note its precommits
    on chain, where they earn the voters their era points."""

    justification: Justification


@dataclass(frozen=True, slots=True)
class ReportEquivocation:
    """A voter voted twice in one phase of a round: report the two signed votes on chain."""

    proof: VoteEquivocation


@dataclass(frozen=True, slots=True)
class RequestCatchUp:
    """Ask `peer`, which is ahead, for its last completed round; this voter is at `round` of set
    `set_id`."""

    peer: str
    set_id: int
    round: int


@dataclass(frozen=True, slots=True)
class BroadcastPrimary:
    """Gossip this voter's proposal as the primary of a round."""

    proposal: PrimaryProposal


@dataclass(frozen=True, slots=True)
class AskNeighbour:
    """Send `peer` this voter's position and learn its position in return."""

    peer: str
    packet: Neighbour


@dataclass(frozen=True, slots=True)
class FetchBlock:
    """A vote or commit names a block this node lacks."""

    peer: str
    block_hash: bytes
    number: int


VoterOutput = (
    BroadcastVotes
    | BroadcastCommit
    | BroadcastPrimary
    | NoteVotes
    | ReportEquivocation
    | RequestCatchUp
    | AskNeighbour
    | FetchBlock
)


# Wire forms


def votes_from_value(value: Value, what: str = "votes") -> list[SignedVote]:
    """The signed votes of a finality message or a catch-up (at most MAX_VOTES_PER_MESSAGE),
    signatures unchecked; DecodeError naming `what` if malformed."""
    return [
        SignedVote.from_value(v) for v in codec.expect_array(value, MAX_VOTES_PER_MESSAGE, what)
    ]


@dataclass(frozen=True, slots=True)
class CatchUp:
    """A completed round's votes, which let a voter that fell behind join the next round."""

    set_id: int
    round: int
    prevotes: tuple[SignedVote, ...]
    precommits: tuple[SignedVote, ...]

    def encode(self) -> bytes:
        """The catch-up protocol's answer: `[set_id, round, prevotes, precommits]`."""
        return codec.encode(
            [
                self.set_id,
                self.round,
                [v.to_value() for v in self.prevotes],
                [v.to_value() for v in self.precommits],
            ]
        )

    def is_well_formed(self, authorities: AuthoritySet) -> bool:
        """Votes of the right set, round, phase and voters, at most two per voter and phase, with
        more than 2/3 of the weight in each phase: what can be checked before any signature."""
        for phase, votes in ((PREVOTE, self.prevotes), (PRECOMMIT, self.precommits)):
            by_voter: dict[bytes, list[SignedVote]] = {}
            for vote in votes:
                if (vote.phase, vote.set_id, vote.round) != (phase, self.set_id, self.round):
                    return False
                if authorities.weight_of(vote.voter) == 0:
                    return False
                kept = by_voter.setdefault(vote.voter, [])
                if vote in kept or len(kept) >= 2:
                    return False
                kept.append(vote)
            if not authorities.is_supermajority(sum(authorities.weight_of(v) for v in by_voter)):
                return False
        return True

    @classmethod
    def decode(cls, raw: bytes) -> CatchUp:
        """A peer's catch-up answer (up to MAX_CATCH_UP_BYTES); the voter checks its signatures."""
        f = codec.expect_list(codec.decode_raw(raw, max_size=MAX_CATCH_UP_BYTES), 4, "catch-up")
        return cls(
            set_id=codec.expect_u64(f[0], "catch-up.set_id"),
            round=codec.expect_u64(f[1], "catch-up.round"),
            prevotes=tuple(votes_from_value(f[2], "catch-up.prevotes")),
            precommits=tuple(votes_from_value(f[3], "catch-up.precommits")),
        )


@dataclass(frozen=True, slots=True)
class PrimaryProposal:
    """The primary of a round proposes the previous round's estimate, so that the prevoters, who
    may have seen different votes of that round, all build on one block."""

    set_id: int
    round: int
    block_hash: bytes
    number: int
    voter: bytes
    signature: bytes

    @staticmethod
    def message(set_id: int, round_: int, block_hash: bytes, number: int) -> bytes:
        """What the primary signs."""
        return PRIMARY_DOMAIN + codec.encode([set_id, round_, block_hash, number])

    @classmethod
    def sign(
        cls, key: Keypair, *, set_id: int, round_: int, block_hash: bytes, number: int
    ) -> PrimaryProposal:
        """The proposal of `key` for block (`block_hash`, `number`) in round `round_`."""
        signature = key.sign(cls.message(set_id, round_, block_hash, number))
        return cls(set_id, round_, block_hash, number, key.public, signature)

    def signature_is_valid(self) -> bool:
        """Whether the proposal is signed by its voter."""
        message = self.message(self.set_id, self.round, self.block_hash, self.number)
        return verify(self.voter, message, self.signature)

    def to_value(self) -> list[Value]:
        """`[set_id, round, block_hash, number, voter, signature]`."""
        return [
            self.set_id,
            self.round,
            self.block_hash,
            self.number,
            self.voter,
            self.signature,
        ]

    @classmethod
    def from_value(cls, value: Value) -> PrimaryProposal:
        """Read a proposal (signature unchecked); DecodeError if malformed."""
        f = codec.expect_list(value, 6, "primary")
        return cls(
            set_id=codec.expect_u64(f[0], "primary.set_id"),
            round=codec.expect_u64(f[1], "primary.round"),
            block_hash=codec.expect_bytes(f[2], "primary.block_hash", length=32),
            number=codec.expect_u32(f[3], "primary.number"),
            voter=codec.expect_bytes(f[4], "primary.voter", length=PUBLIC_KEY_LEN),
            signature=codec.expect_bytes(f[5], "primary.signature", length=SIGNATURE_LEN),
        )


@dataclass(frozen=True, slots=True)
class Neighbour:
    """Where a node's voter stands: the neighbour protocol's request (the asker's position) and
    answer (the answerer's). Unsigned and unverified: it only tells a voter whom to ask for a
    catch-up, which proves itself."""

    set_id: int
    round: int
    finalized_number: int

    def encode(self) -> bytes:
        """`[set_id, round, finalized number]`."""
        return codec.encode([self.set_id, self.round, self.finalized_number])

    @classmethod
    def decode(cls, raw: bytes) -> Neighbour:
        """A peer's neighbour packet; DecodeError if malformed."""
        f = codec.expect_list(codec.decode_raw(raw, max_size=64), 3, "neighbour")
        return cls(
            set_id=codec.expect_u64(f[0], "neighbour.set_id"),
            round=codec.expect_u64(f[1], "neighbour.round"),
            finalized_number=codec.expect_u32(f[2], "neighbour.finalized_number"),
        )
