"""The compute pallet's dispatch errors."""

from __future__ import annotations

from typing import Final

from runtime.framework import DispatchError
from runtime.pallets.compute.params import NAME


class ComputeError(DispatchError):
    """Base of the compute pallet's dispatch errors."""

    pallet = NAME


class NotMatchedWorker(ComputeError):
    """Only the job's matched worker may commit (before its deadline, with the right leaf
    count) or respond."""


class NotCommitted(ComputeError):
    """The job has no committed result awaiting verification."""


class UnknownCheck(ComputeError):
    """The job has no open, drawn check with that number."""


class NotInCommittee(ComputeError):
    """Only members of the check's committee may attest."""


class AlreadyAttested(ComputeError):
    """This member already committed (or revealed) on this check."""


class WrongPhase(ComputeError):
    """Commitments are taken only in the commit phase; reveals and responses only in the reveal
    phase."""


class NoCommitment(ComputeError):
    """Only a member that committed may reveal."""


class BadReveal(ComputeError):
    """A reveal names every leaf of the check (or none: "unavailable") and opens the member's
    commitment."""


class AlreadyResponded(ComputeError):
    """The worker already responded to this check."""


class BadResponse(ComputeError):
    """A response gives every leaf's hash of the check with a Merkle proof to the result root."""


class DisputeWindowClosed(ComputeError):
    """Disputes are open only during the dispute window after the commitment."""


class BadLeaf(ComputeError):
    """The leaf index is beyond the job's result."""


class TooManyChecks(ComputeError):
    """The job already has the most checks it takes (the requester keeps two dispute slots)."""


class BadParams(ComputeError):
    """The parameters would let cheating pay, or do not fit together."""


class WrongJob(ComputeError):
    """The job with that id is not the one the call names: its digest (`market.job_digest`)
    differs, as for another fork's job that was given the same id."""


ERRORS: Final = (
    NotMatchedWorker,
    NotCommitted,
    UnknownCheck,
    NotInCommittee,
    AlreadyAttested,
    WrongPhase,
    NoCommitment,
    BadReveal,
    AlreadyResponded,
    BadResponse,
    DisputeWindowClosed,
    BadLeaf,
    TooManyChecks,
    BadParams,
    WrongJob,
)
