"""What the GRANDPA voter saves of itself, so that a restarted node never votes twice in a round
and can still prove where it is: its set and round, its own votes in that round, and the votes
of the last round it completed (what it answers catch-ups with).

    [set_id, round, [own vote, ...], [completed round, [prevote, ...], [precommit, ...]] | None,
     abstaining set id | None]

The voter writes it before it sends a vote and whenever it enters a round. The last field names
the set in which the voter votes no more because an earlier saved state was lost. The three-field
form of earlier versions (without the completed round and the abstention) still reads.
"""

from __future__ import annotations

from dataclasses import dataclass

from chain.core.voter_messages import CatchUp
from runtime.consensus import SignedVote
from runtime.primitives import codec
from runtime.primitives.codec import DecodeError

MAX_SAVED_VOTES = 1 << 16
"""The most votes of each phase a saved completed round may hold (four per authority at most)."""


@dataclass(frozen=True, slots=True)
class VoterState:
    """The voter's saved state."""

    set_id: int
    round: int
    mine: tuple[SignedVote, ...]
    completed: CatchUp | None
    abstains_in_set: int | None = None

    def to_value(self) -> list[object]:
        """The codec value of the state: `[set_id, round, mine, completed, abstains]`."""
        done = self.completed
        return [
            self.set_id,
            self.round,
            [v.to_value() for v in self.mine],
            None
            if done is None
            else [
                done.round,
                [v.to_value() for v in done.prevotes],
                [v.to_value() for v in done.precommits],
            ],
            self.abstains_in_set,
        ]

    def encode(self) -> bytes:
        """The canonical form the store keeps."""
        # Every field is a typed integer or a checked vote (signed here, or decoded with its
        # ranges checked): the codec's walk over the ~100 values would refuse nothing, and the
        # voter saves its state before every vote it casts.
        return codec.encode_trusted(self.to_value())

    @classmethod
    def decode(cls, raw: bytes) -> VoterState:
        """Read a saved state; DecodeError naming the field if it is malformed."""
        value = codec.decode_raw(raw)
        length = len(value) if isinstance(value, list) else 0
        f = codec.expect_list(value, length if length in (4, 5) else 3, "voter state")
        set_id = codec.expect_u64(f[0], "voter.set_id")
        number = codec.expect_u64(f[1], "voter.round")
        mine = tuple(SignedVote.from_value(v) for v in codec.expect_array(f[2], 2, "voter.votes"))
        done: CatchUp | None = None
        if length >= 4 and f[3] is not None:
            d = codec.expect_list(f[3], 3, "voter.completed")
            done = CatchUp(
                set_id,
                codec.expect_u64(d[0], "voter.completed.round"),
                _votes(d[1], "voter.completed.prevotes"),
                _votes(d[2], "voter.completed.precommits"),
            )
        abstains = None
        if length == 5 and f[4] is not None:
            abstains = codec.expect_u64(f[4], "voter.abstains_in_set")
        return cls(set_id, number, mine, done, abstains)


def _votes(value: codec.Value, what: str) -> tuple[SignedVote, ...]:
    return tuple(SignedVote.from_value(v) for v in codec.expect_array(value, MAX_SAVED_VOTES, what))


__all__ = ["DecodeError", "VoterState"]
