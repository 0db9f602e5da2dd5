"""The market's invariants: escrow and stake holds match the open jobs and workers."""

from __future__ import annotations

from runtime.pallets import system
from runtime.pallets.market.constants import ESCROW, MAX_EXCLUDED, STAKE
from runtime.pallets.market.storage import (
    GIVE_BACKS,
    OPEN_STATES,
    Job,
    Jobs,
    PendingCount,
    PendingJobs,
    WorkerList,
    Workers,
)
from runtime.state import PrefixIterator, StateReader


def broken_invariants(read: StateReader, iterate: PrefixIterator) -> list[str]:
    """Broken market invariants in a committed state, as messages (empty: all hold)."""
    problems: list[str] = []
    escrow_by_requester: dict[bytes, int] = {}
    bonded_by_worker: dict[bytes, int] = {}
    active_by_worker: dict[bytes, int] = {}
    pending_by_requester: dict[bytes, int] = {}
    pending: set[int] = set()
    # The most give-backs any max_reoffers allows, not today's: a job keeps the history it had
    # when Root lowered max_reoffers (its next give-back then expires it).
    most_reoffers = MAX_EXCLUDED - 1
    for key, raw in iterate(Jobs.prefix):
        current = Jobs.decode_at(key, raw)
        problems.extend(_broken_history(Jobs.key_suffix(key), current, most_reoffers))
        if current.state == "pending":
            pending.add(int.from_bytes(Jobs.key_suffix(key), "big"))
            pending_by_requester[current.requester] = (
                pending_by_requester.get(current.requester, 0) + 1
            )
        if current.state in OPEN_STATES:
            escrow_by_requester[current.requester] = (
                escrow_by_requester.get(current.requester, 0) + current.escrow
            )
            if current.escrow < current.model_fee:
                job_id = int.from_bytes(Jobs.key_suffix(key), "big")
                problems.append(f"job {job_id} holds less escrow than its model's fee")
        if current.state in ("matched", "committed") and current.worker is not None:
            bonded_by_worker[current.worker] = (
                bonded_by_worker.get(current.worker, 0) + current.slash
            )
            active_by_worker[current.worker] = active_by_worker.get(current.worker, 0) + 1
    raw_queue = read(PendingJobs.key)
    queue = () if raw_queue is None else PendingJobs.decode(raw_queue)
    if sorted(queue) != sorted(pending):
        problems.append("the queue of waiting jobs differs from the pending jobs")
    counted = {
        PendingCount.key_suffix(key): PendingCount.decode(raw)
        for key, raw in iterate(PendingCount.prefix)
    }
    if counted != pending_by_requester:
        problems.append("the requesters' counts of waiting jobs differ from the pending jobs")
    holds = dict(system.accounts_in(iterate))
    for requester, escrow in escrow_by_requester.items():
        info = holds.get(requester)
        held = 0 if info is None else info.held(ESCROW)
        if held != escrow:
            problems.append(
                f"requester {requester.hex()} holds {held} in escrow, jobs owe {escrow}"
            )
    registered: list[bytes] = []
    for key, raw in iterate(Workers.prefix):
        account = Workers.key_suffix(key)
        worker = Workers.decode(raw)
        info = holds.get(account)
        held = 0 if info is None else info.held(STAKE)
        if held != worker.stake:
            problems.append(f"worker {account.hex()} holds {held} as stake, records {worker.stake}")
        if worker.bonded != bonded_by_worker.get(account, 0):
            problems.append(
                f"worker {account.hex()} bonds {worker.bonded}, its jobs' slashes differ"
            )
        if worker.active != active_by_worker.get(account, 0):
            problems.append(f"worker {account.hex()} counts {worker.active} active jobs")
        if worker.bonded > worker.stake:
            problems.append(f"worker {account.hex()} bonds more than its stake")
        registered.append(account)
    raw_list = read(WorkerList.key)
    listed = () if raw_list is None else WorkerList.decode(raw_list)
    if sorted(listed) != sorted(registered):
        problems.append("the worker list differs from the registered workers")
    for account, info in holds.items():
        if info.held(ESCROW) and account not in escrow_by_requester:
            problems.append(f"account {account.hex()} holds escrow without an open job")
        if info.held(STAKE) and account not in registered:
            problems.append(f"account {account.hex()} holds stake but is not a worker")
    return problems


def _broken_history(key: bytes, current: Job, max_reoffers: int) -> list[str]:
    """What is wrong with a job's history of matches: more give-backs than `max_reoffers` + 1,
    a worker matched twice, a give-back of an unknown kind or out of order."""
    job_id = int.from_bytes(key, "big")
    past = current.past_matches
    problems = []
    if len(past) > max_reoffers + 1:
        problems.append(f"job {job_id} was given back {len(past)} times")
    workers = [m.worker for m in past]
    if current.worker is not None:
        workers.append(current.worker)
    if len(set(workers)) != len(workers):
        problems.append(f"job {job_id} was matched twice to one worker")
    ends = [m.ended_at for m in past]
    odd = any(m.outcome not in GIVE_BACKS or m.ended_at < m.matched_at for m in past)
    if odd or ends != sorted(ends):
        problems.append(f"job {job_id} has a history out of order")
    return problems
