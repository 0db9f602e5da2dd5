"""What the job SDK raises: one exception per way a request, a job or a node's data fails."""

from __future__ import annotations

from runtime.executive import PALLETS


class JobClientError(Exception):
    """Something a requester asked for that cannot be done; the message says what and why."""


class JobRequestError(JobClientError):
    """A job the chain would refuse: workload, parameters, input files, price or balance."""


class UnknownJobError(JobClientError):
    """No job has that id on this chain."""


class NoResultError(JobClientError):
    """The job has no committed result (yet, or ever)."""


class ResultDataError(JobClientError):
    """The node's data does not match the roots on chain, or the node does not have it."""


class TransactionRefused(JobClientError):
    """A transaction was included but failed; `error` is the runtime's `pallet.Error`."""

    def __init__(self, what: str, error: str) -> None:
        super().__init__(f"{what} failed on chain: {describe_error(error)} ({error})")
        self.error = error


def describe_error(error: str) -> str:
    """The runtime's one-line explanation of a dispatch error named `pallet.Error`."""
    pallet, _, name = error.partition(".")
    for p in PALLETS:
        if pallet == p.NAME:
            for e in p.ERRORS:
                if e.error_name() == name:
                    return e.describe()
    return error
