"""Following a job until it ends, from its events, and how it ended."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from chain.client.chain import JobView, XplClient, job_from_json
from chain.client.jobs.errors import UnknownJobError
from chain.client.jobs.reading import require_job
from chain.client.rpc import RpcClientError

ENDED_STATES: Final = ("settled", "failed", "expired", "cancelled")
FINAL_EVENTS: Final = {
    "JobSettled": "settled",
    "JobFailed": "failed",
    "JobExpired": "expired",
    "JobCancelled": "cancelled",
}


@dataclass(frozen=True, slots=True)
class JobOutcome:
    """How a job ended, with what its end paid out (amounts from the ending event; None when
    the end was read from the job's record, which does not keep them)."""

    job_id: int
    state: str
    block: int | None
    payment: int | None = None
    verification_fee: int | None = None
    protocol_fee: int | None = None
    refund: int | None = None
    slashed: int | None = None


def outcome_of_event(job_id: int, number: int, event: Mapping[str, Any]) -> JobOutcome | None:
    """The job's outcome if `event` ends it, else None."""
    state = FINAL_EVENTS.get(event.get("event", ""))
    if event.get("pallet") != "market" or state is None:
        return None
    data = event["data"]

    def amount(key: str) -> int | None:
        return int(data[key]) if key in data else None

    return JobOutcome(
        job_id=job_id,
        state=state,
        block=number,
        payment=amount("payment"),
        verification_fee=amount("verification_fee"),
        protocol_fee=amount("protocol_fee"),
        refund=amount("refund"),
        slashed=amount("slashed"),
    )


def _outcome_of_view(view: JobView) -> JobOutcome:
    job = view.job
    settled = job.state == "settled"
    return JobOutcome(
        job_id=view.id,
        state=job.state,
        block=None,
        payment=job.payment if settled else None,
        refund=None if settled else job.escrow,
    )


JobEventHandler = Callable[[int, dict[str, Any]], None]
"""Called with (block number, event) for each event about the job."""


def follow_job(
    client: XplClient,
    job_id: int,
    *,
    on_start: Callable[[JobView], None] | None = None,
    on_event: JobEventHandler | None = None,
    idle_timeout: float = 30.0,
) -> JobOutcome:
    """Follow a job until it ends (settled, failed, expired or cancelled); how it ended.

    `on_start` gets the job as it is when following starts, `on_event` every event about it
    after that. When no event comes for `idle_timeout` seconds the job is read again, so an end
    the subscription missed is still seen.
    """
    try:
        subscription = client.subscribe_job(job_id)
    except RpcClientError as exc:
        if "no job" in exc.message:
            raise UnknownJobError(f"there is no job {job_id} on this chain") from exc
        raise
    with subscription:
        first = subscription.next(timeout=client.rpc.timeout)
        view = job_from_json(first["job"])
        if on_start is not None:
            on_start(view)
        if view.state in ENDED_STATES:
            return _outcome_of_view(view)
        while True:
            try:
                update = subscription.next(timeout=idle_timeout)
            except TimeoutError:
                view = require_job(client, job_id)
                if view.state in ENDED_STATES:
                    return _outcome_of_view(view)
                continue
            for event in update["events"]:
                if on_event is not None:
                    on_event(int(update["number"]), event)
                outcome = outcome_of_event(job_id, int(update["number"]), event)
                if outcome is not None:
                    return outcome
