"""How `xpl job status` words a job's matches: its current worker, its wait for a worker, and
every match in order (worker, block matched, deadline, and whether it was declined or missed)."""

from __future__ import annotations

from collections.abc import Callable

from runtime.pallets import market
from runtime.primitives.address import encode_address
from runtime.primitives.amount import format_amount


def current_worker(job: market.Job) -> str:
    """The worker the job is matched to now, or why there is none."""
    if job.worker is not None:
        return encode_address(job.worker)
    if not job.past_matches:
        return "none yet"
    given_back = len(job.past_matches)
    return f"none now ({given_back} gave it back: see matches)"


def submitted_row(job: market.Job) -> str:
    """When the job was submitted and how long it waits for a worker (or waited)."""
    row = f"#{job.submitted_at}, "
    if job.state == "expired":
        row += f"expired at #{job.expires_at}"
    else:
        row += f"waits for a worker until #{job.expires_at}"
    matched = sum(m.ended_at - m.matched_at for m in job.past_matches)
    if matched:
        row += f" (extended by the {matched} blocks it was matched to workers that gave it back)"
    return row


def match_lines(job: market.Job, who: Callable[[bytes], str]) -> list[str]:
    """Every match of the job, in order: worker (named by `who`), block matched, deadline, and
    how it ended."""
    lines = []
    for number, m in enumerate(job.past_matches, start=1):
        how = (
            f"declined at #{m.ended_at}"
            if m.outcome == "declined"
            else f"missed its deadline, taken back at #{m.ended_at}"
        )
        lines.append(
            f"{number}. {who(m.worker)} matched #{m.matched_at}, commit by #{m.commit_by}: "
            f"{how}, penalty {format_amount(m.penalty)}"
        )
    if job.worker is not None:
        if job.committed_at:
            now = f"committed at #{job.committed_at}"
        elif job.state == "matched":
            now = "the current match, not committed yet"
        else:
            now = job.state
        lines.append(
            f"{len(lines) + 1}. {who(job.worker)} matched #{job.matched_at}, commit by "
            f"#{job.commit_by}: {now}"
        )
    return lines
