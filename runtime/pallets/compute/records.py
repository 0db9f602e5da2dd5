"""The compute pallet's records (checks) and storage items."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from runtime import fields
from runtime.framework import (
    U64_CODEC,
    StorageMap,
    StorageValue,
    ValueCodec,
    record_codec,
    value_codec,
)
from runtime.pallets import market
from runtime.pallets.compute.params import (
    DEFAULT_COMPUTE_PARAMS,
    MAX_AUDIT_LEAVES,
    MAX_CHECKS_PER_JOB,
    MAX_COMMITTEE,
    NAME,
    ComputeParams,
)
from runtime.primitives import codec
from runtime.schema import Record, param

_HASHES: Final = fields.tuple_type(fields.HASH, MAX_AUDIT_LEAVES)
NO_WITNESS: Final = bytes(32)
"""The witness of a reveal that recomputed nothing ("unavailable", RESULT_WITHHELD)."""


@dataclass(frozen=True, slots=True)
class Check(Record):
    """One round of verification of a job: an audit, or a dispute of one leaf.

    Undrawn (a dispute or a fresh round waiting for its draw), it has no committee and its
    deadlines are 0. Drawn in block `drawn_at`, its commit phase is `drawn_at + 1 ..
    commit_deadline` and its reveal phase `commit_deadline + 1 .. reveal_deadline`; it is decided
    in the block after that.
    """

    kind: str = param(fields.str_type(16))
    """"audit" or "dispute"."""
    leaves: tuple[int, ...] = param(fields.tuple_type(fields.U32, MAX_AUDIT_LEAVES))
    committee: tuple[bytes, ...] = param(
        fields.tuple_type(fields.ACCOUNT, MAX_COMMITTEE), default=()
    )
    draw_at: int = param(fields.U32, default=0)
    """The block whose on_initialize draws the committee."""
    drawn_at: int = param(fields.U32, default=0)
    commit_deadline: int = param(fields.U32, default=0)
    reveal_deadline: int = param(fields.U32, default=0)
    round: int = param(fields.U32, default=0)
    """0 for the first committee; each inconclusive round appends the check again, one more."""
    commits: tuple[tuple[bytes, bytes], ...] = param(
        fields.tuple_type(fields.pair_type(fields.ACCOUNT, fields.HASH), MAX_COMMITTEE),
        default=(),
    )
    """(member, commitment) in the order they came."""
    reveals: tuple[tuple[bytes, tuple[bytes, ...]], ...] = param(
        fields.tuple_type(fields.pair_type(fields.ACCOUNT, _HASHES), MAX_COMMITTEE), default=()
    )
    """(member, its recomputed leaf hashes; empty: "unavailable")."""
    response: tuple[bytes, ...] = param(_HASHES, default=())
    """The worker's committed leaf hashes of `leaves` (empty until it responds)."""
    challenger: bytes | None = param(fields.option_type(fields.ACCOUNT), default=None)
    bond: int = param(fields.BALANCE, default=0)
    outcome: str = param(fields.str_type(16), default="")
    """"" while open; then "pass", "fail", "inconclusive" (a fresh round follows) or "void"."""
    mask: int = param(fields.U32, default=0)
    """The witness mask, drawn with the committee (`drawing.witness_mask`): what the members'
    witnesses of this round are computed under."""
    witnesses: tuple[tuple[bytes, bytes], ...] = param(
        fields.tuple_type(fields.pair_type(fields.ACCOUNT, fields.HASH), MAX_COMMITTEE), default=()
    )
    """(member, its witness digest), one for each reveal (NO_WITNESS with "unavailable")."""

    @property
    def drawn(self) -> bool:
        """Whether its committee has been drawn."""
        return self.drawn_at > 0

    def phase(self, number: int) -> str:
        """Where the check stands in block `number`: "draw" (its committee is not drawn, or is
        drawn in this very block), "commit", "reveal", "decide" (the reveal phase is over) or
        "closed"."""
        if self.outcome:
            return "closed"
        if not self.drawn or number <= self.drawn_at:
            return "draw"
        if number <= self.commit_deadline:
            return "commit"
        if number <= self.reveal_deadline:
            return "reveal"
        return "decide"

    def commitment_of(self, member: bytes) -> bytes | None:
        """The member's attestation commitment, if it committed."""
        return next((c for m, c in self.commits if m == member), None)

    def reveal_of(self, member: bytes) -> tuple[bytes, ...] | None:
        """The member's revealed leaf hashes (empty: "unavailable"), if it revealed."""
        return next((h for m, h in self.reveals if m == member), None)

    def witness_of(self, member: bytes) -> bytes | None:
        """The member's revealed witness digest, if it revealed."""
        return next((w for m, w in self.witnesses if m == member), None)

    def votes(self) -> list[tuple[bytes, tuple[bytes, ...], bytes]]:
        """(member, revealed leaf hashes, witness) of each reveal, in the order they came."""
        witnesses = dict(self.witnesses)
        return [(m, h, witnesses.get(m, NO_WITNESS)) for m, h in self.reveals]

    def same_check(self, other: Check) -> bool:
        """Whether `other` is a round of the same check (same kind, leaves and challenger)."""
        return (self.kind, self.leaves, self.challenger) == (
            other.kind,
            other.leaves,
            other.challenger,
        )


def _checks_codec() -> ValueCodec[tuple[Check, ...]]:
    return value_codec(
        lambda checks: [c.to_value() for c in checks],
        lambda v: tuple(
            Check.from_value(c) for c in codec.expect_array(v, MAX_CHECKS_PER_JOB, "checks")
        ),
    )


Params: Final = StorageValue[ComputeParams](
    NAME,
    "Params",
    record_codec(ComputeParams),
    DEFAULT_COMPUTE_PARAMS,
)
Checks: Final = StorageMap[int, tuple[Check, ...]](
    NAME, "Checks", lambda i: i.to_bytes(8, "big"), _checks_codec()
)
Draws: Final = StorageMap[int, tuple[int, ...]](
    NAME, "Draws", lambda n: n.to_bytes(4, "big"), market.JOB_IDS_CODEC
)
"""Jobs with a draw in block n: the audit roll of a commitment, or a check's committee."""
AuditRolls: Final = StorageMap[int, int](
    NAME, "AuditRolls", lambda i: i.to_bytes(8, "big"), U64_CODEC
)
"""The block in which a committed job's audit is rolled, set in the block after its commitment
(`drawing.roll_delay`) and removed when it is rolled."""
Due: Final = StorageMap[int, tuple[int, ...]](
    NAME, "Due", lambda n: n.to_bytes(4, "big"), market.JOB_IDS_CODEC
)
"""Jobs to look at in block n: a check's reveal phase ended, or the dispute window ended."""
