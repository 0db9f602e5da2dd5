"""The market's errors: why a market call fails."""

from __future__ import annotations

from runtime.framework import DispatchError
from runtime.pallets.market.constants import NAME


class MarketError(DispatchError):
    """Base of the market's errors."""

    pallet = NAME


class AlreadyRegistered(MarketError):
    """This account is already a registered worker."""


class NotAWorker(MarketError):
    """This account is not a registered worker."""


class TooManyWorkers(MarketError):
    """The market has its maximum number of workers."""


class StakeTooLow(MarketError):
    """The stake is below the market's minimum stake."""


class BadAsk(MarketError):
    """An ask names an unknown workload, repeats one, or there are too many."""


class BadWorkerInfo(MarketError):
    """The worker's capacity, device or endpoint is out of range."""


class WorkerBusy(MarketError):
    """The worker still has active jobs."""


class BadJob(MarketError):
    """The job's workload, parameters, inputs, mode or timing are invalid."""


class PriceTooLow(MarketError):
    """No registered worker's ask is within the job's price."""


class TooManyPendingJobs(MarketError):
    """The queue of jobs waiting for a worker is full."""


class TooManyPendingOfRequester(MarketError):
    """The requester already has MAX_PENDING_PER_REQUESTER jobs waiting for a worker."""


class NoEligibleWorker(MarketError):
    """No registered worker could ever take the job: none that is not retiring asks at most its
    price for its workload, has the stake to bond its slash, a reputation that may be matched,
    and a registered throughput at which the job fits its deadline."""


class DeclineWindowClosed(MarketError):
    """The match is older than the decline window: the worker must commit or miss."""


class UnknownJob(MarketError):
    """No job has that id."""


class NotYourJob(MarketError):
    """Only the job's requester may do this."""


class NotPending(MarketError):
    """The job is no longer waiting for a worker."""


class WrongJob(MarketError):
    """The job with that id is not the one the call names: its digest (`market.job_digest`)
    differs, as for another fork's job that was given the same id."""


class ModelWeightsInput(MarketError):
    """An input is a model's published weights: run it with submit_model_job, which pays its fee.

    (`xpl job submit --model ID`.) Published weights enter a job only as the "model" input of a
    job that names their version, retired versions' weights included."""


class BadParams(MarketError):
    """The parameters are out of their ranges, or would break a rule another pallet ties to them
    (compute's: faking results must not pay)."""
