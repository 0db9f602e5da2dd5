"""The compute pallet's constants and verification parameters, and the guard on them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from runtime import fields
from runtime.framework import WEIGHT_PER_MICROS
from runtime.pallets.compute.drawing import DRAW_DELAY, DRAW_JITTER
from runtime.pallets.market import PPM
from runtime.schema import Record, param

NAME: Final = "compute"

BOND: Final = "bond"
"""The hold a dispute's fraud bond is under."""
OUTCOMES: Final = ("pass", "fail", "inconclusive", "void")
"""What a check ends as ("" while it is open)."""
MAX_OPEN_CHECKS: Final = 4
"""Disputes (first rounds) that anyone but the requester may open on a job, the audit
included; the requester has REQUESTER_DISPUTES more of its own, so nobody (the worker under
another name included) can use up the dispute slots and shut the requester's fraud proof out."""
REQUESTER_DISPUTES: Final = 2
"""Disputes only the requester may open on a job, besides MAX_OPEN_CHECKS."""
MAX_ROUNDS: Final = 8
"""The most rounds (committees) governance may let one check draw."""
MAX_CHECKS_PER_JOB: Final = (MAX_OPEN_CHECKS + REQUESTER_DISPUTES) * MAX_ROUNDS
"""Checks a job records: every first round and each of its fresh rounds."""
MAX_COMMITTEE: Final = 64
"""The largest committee governance may set."""
MAX_AUDIT_LEAVES: Final = 256
"""The most leaves one audit names (and one reveal or response carries)."""
MAX_PROOF_HASHES: Final = 64
"""The longest Merkle proof a response carries (a tree of up to 2^64 leaves)."""
DISPUTE_BOND_FACTOR: Final = 2
"""How many times the committees' cost of rechecking one leaf (in every round it may take) a
dispute's bond is at least: see `fraud_bond_for`."""

COMMIT_WEIGHT: Final = 60 * WEIGHT_PER_MICROS
ATTEST_WEIGHT: Final = 80 * WEIGHT_PER_MICROS
"""An attestation commitment, or a reveal (one hash over at most MAX_AUDIT_LEAVES hashes)."""
RESPOND_WEIGHT: Final = 2_000 * WEIGHT_PER_MICROS
"""A response: up to MAX_AUDIT_LEAVES Merkle proofs checked against the result root."""
DISPUTE_WEIGHT: Final = 100 * WEIGHT_PER_MICROS
SET_PARAMS_WEIGHT: Final = 50_000 * WEIGHT_PER_MICROS
"""Decoding and checking the parameters against the market's and writing them: the incentive
guard, exact fractions over a grid of 384 shares, takes up to 27 ms (measured at audit_leaves 256
and a committee of 64; 8 ms at the defaults)."""


@dataclass(frozen=True, slots=True)
class ComputeParams(Record):
    """Verification parameters (genesis; changed by Root, later by governance)."""

    audit_ppm: int = param(fields.U32, 0, PPM, default=650_000, rule=f"must be between 0 and {PPM}")
    """q: the probability that a committed job is audited, in parts per million."""
    audit_leaves: int = param(fields.U32, 1, MAX_AUDIT_LEAVES, default=16)
    """k: leaves an audit recomputes."""
    committee_size: int = param(fields.U32, 1, MAX_COMMITTEE, default=3)
    """c: validators on a committee."""
    commit_window: int = param(
        fields.U32, 1, default=8, rule="must be at least 1 block", json_max=100_000
    )
    """Blocks after a committee is drawn in which its members commit to their recomputation."""
    dispute_window: int = param(fields.U32, 1, default=40, json_max=1_000_000)
    """W: blocks after a commitment during which disputes are open and payment waits."""
    fraud_bond: int = param(fields.BALANCE, 10**11, default=10**11)
    """The least a dispute puts up (it grows with the recheck's cost: `fraud_bond_for`)."""
    reveal_window: int = param(fields.U32, 1, default=4, json_max=100_000)
    """Blocks after a check's commit phase in which members reveal and the worker responds."""
    max_rounds: int = param(fields.U32, 1, MAX_ROUNDS, default=3)
    """Committees a check draws at most; after that many inconclusive rounds the job is void."""
    member_penalty: int = param(fields.BALANCE, default=10**10)
    """What a committee member that does not vote, or votes against the outcome, loses."""
    challenger_share_ppm: int = param(
        fields.U32, 0, PPM, default=250_000, rule=f"must be between 0 and {PPM}"
    )
    """The share of a convicted worker's slash that a dispute's challenger receives."""
    collusion_ppm: int = param(
        fields.U32, 0, PPM // 2, default=250_000, rule=f"must be between 0 and {PPM // 2}"
    )
    """The share of the validators' stake the guard assumes one colluding party controls."""
    margin_ppm: int = param(fields.U32, 0, 10 * PPM, default=250_000)
    """How far the guard requires a cheater's expected loss to exceed its saving (0.25: 25%)."""

    def check(self) -> None:
        """ValueError naming the first parameter out of its range or not fitting the others."""
        self.check_fields("audit_ppm", "audit_leaves", "committee_size", "commit_window")
        longest_draw = DRAW_DELAY + DRAW_JITTER - 1
        if self.dispute_window <= longest_draw + self.commit_window + self.reveal_window:
            raise ValueError(
                "the dispute window must outlast the longest draw delay and the commit and reveal "
                "windows"
            )
        Record.check(self)


DEFAULT_COMPUTE_PARAMS: Final = ComputeParams()
"""Audit 65% of the jobs (the least the incentive guard allows with a 25% margin, counting a
colluding author's forfeits) on 16 leaves by 3 validators, who commit within 8 blocks and
reveal within 4 more, for up to 3 rounds; disputes for 40 blocks, bonding at least 0.1 XPL; a
member out of line loses 0.01 XPL."""


def fraud_bond_for(p: ComputeParams, verification_fee: int) -> int:
    """The bond a dispute of one leaf of a job with this verification fee puts up.

    The verification fee pays a committee for an audit of `audit_leaves` leaves, so one leaf's
    recheck costs the committee about fee / audit_leaves, and a dispute may take `max_rounds`
    committees: the bond is DISPUTE_BOND_FACTOR times that, and at least `fraud_bond`. A
    challenger that disputes a correct leaf to delay the worker's payment pays for every
    committee it made work, and twice over.
    """
    recheck = p.committee_size * p.max_rounds * verification_fee // p.audit_leaves
    return max(p.fraud_bond, DISPUTE_BOND_FACTOR * recheck)
