"""Reading a job from the chain: by id, when it ended, and as JSON for people and scripts."""

from __future__ import annotations

from typing import Any, Final

from chain.client.chain import JobView, XplClient
from chain.client.checks import check_summary
from chain.client.jobs.errors import UnknownJobError
from runtime.pallets.compute import DRAW_DELAY, DRAW_JITTER
from runtime.pallets.market import Job
from runtime.primitives.address import encode_address
from runtime.primitives.amount import format_amount
from runtime.primitives.hashing import to_hex

ENDED_SCAN_BATCH: Final = 64
"""Blocks whose events one request reads while looking for the block a job ended in."""


def require_job(client: XplClient, job_id: int) -> JobView:
    """Job `job_id`; UnknownJobError if there is none."""
    if not 0 <= job_id < 2**64:
        raise UnknownJobError(f"{job_id} is not a job id")
    view = client.job(job_id)
    if view is None:
        raise UnknownJobError(f"there is no job {job_id} on this chain")
    return view


def dispute_window(client: XplClient) -> int:
    """W: the blocks after a commitment during which disputes are open."""
    return client.market_params()[1].dispute_window


def ended_at(client: XplClient, view: JobView) -> int | None:
    """The block in which an ended job was settled, failed or expired, if the node still has
    that block's events (a cancelled job is not searched for)."""
    job = view.job
    if job.state == "expired":
        return job.expires_at
    if job.state not in ("settled", "failed") or not job.committed_at:
        return None
    params = client.market_params()[1]
    rounds = params.max_rounds * (
        DRAW_DELAY + DRAW_JITTER + params.commit_window + params.reveal_window
    )
    last = job.committed_at + params.dispute_window + rounds + 2
    wanted = {"settled": "JobSettled", "failed": "JobFailed"}[job.state]
    numbers = range(job.committed_at + 1, min(last, client.best_number()) + 1)
    for start in range(0, len(numbers), ENDED_SCAN_BATCH):
        batch = numbers[start : start + ENDED_SCAN_BATCH]
        hashes = client.rpc.batch([("chain_getBlockHash", [n]) for n in batch])
        known = [(n, h) for n, h in zip(batch, hashes, strict=True) if isinstance(h, str)]
        answers = client.rpc.batch([("chain_getEvents", [h]) for _, h in known])
        for (number, _), events in zip(known, answers, strict=True):
            if isinstance(events, list) and any(
                e.get("pallet") == "market"
                and e.get("event") == wanted
                and e.get("data", {}).get("job") == view.id
                for e in events
            ):
                return number
    return None


def job_summary(view: JobView, window: int | None = None) -> dict[str, Any]:
    """A job as JSON for people and scripts: amounts in XPL, accounts as addresses."""
    job = view.job
    return {
        "id": view.id,
        "digest": to_hex(view.digest),
        "state": job.state,
        "workload": job.workload,
        "params": list(job.params),
        "seed": job.seed,
        "inputs": {name: to_hex(root) if root else None for name, root in job.inputs},
        "requester": encode_address(job.requester),
        "worker": None if job.worker is None else encode_address(job.worker),
        "mode": job.mode,
        "costUnits": job.cost_units,
        "leaves": job.leaves,
        "maxPrice": format_amount(job.max_price),
        "price": format_amount(job.price) if job.worker is not None else None,
        "payment": format_amount(job.payment) if job.worker is not None else None,
        "escrow": format_amount(job.escrow),
        "slash": format_amount(job.slash) if job.worker is not None else None,
        "submittedAt": job.submitted_at,
        "expiresAt": job.expires_at,
        "deadlineBlocks": job.deadline_blocks,
        "matchedAt": job.matched_at or None,
        "commitBy": job.commit_by or None,
        "resultRoot": to_hex(job.result_root) if job.result_root else None,
        "committedAt": job.committed_at or None,
        "disputesUntil": (
            job.committed_at + window if job.committed_at and window is not None else None
        ),
        "settlesAt": view.settles_at,
        "matches": match_summaries(job),
        "checks": [check_summary(index, check) for index, check in enumerate(view.checks)],
        "model": None
        if job.model is None
        else {
            "id": job.model.model_id,
            "version": job.model.version,
            "owner": encode_address(job.model.owner),
            "fee": format_amount(job.model.fee),
        },
    }


def match_summaries(job: Job) -> list[dict[str, Any]]:
    """Every match of the job in order, as JSON: those its workers gave back ("declined" or
    "missed", the block it ended and the penalty paid), then the current one (outcome None)."""
    out: list[dict[str, Any]] = [
        {
            "worker": encode_address(m.worker),
            "matchedAt": m.matched_at,
            "commitBy": m.commit_by,
            "outcome": m.outcome,
            "endedAt": m.ended_at,
            "penalty": format_amount(m.penalty),
        }
        for m in job.past_matches
    ]
    if job.worker is not None:
        out.append(
            {
                "worker": encode_address(job.worker),
                "matchedAt": job.matched_at,
                "commitBy": job.commit_by,
                "outcome": None,
                "endedAt": None,
                "penalty": None,
            }
        )
    return out
