"""The market namespace: jobs, workers, verification checks, and job event subscriptions.

    market_job(id, at?)            → a job with its checks and its matches in order, or null;
                                     its `digest` names it in the calls about it; its `model`
                                     {id, version, owner, fee} if it names a registered model
    market_jobs(filter?, at?)      → jobs, newest first; filter {state, worker, requester, limit}
    market_workers(at?)            → every registered worker
    market_params(at?)             → the market and compute parameters in force
    market_subscribeJob(id)        → {"job"} now, then {"block", "number", "events"} for each new
                                     best block with events about it (market_jobEvent;
                                     market_unsubscribeJob)

Amounts are decimal strings, roots 0x hex, accounts addresses, as in the rest of the RPC. A
check (`chain.client.checks.check_json`) carries its round, phase deadlines, the phase the next
block falls in (where a transaction sent now lands), its commitments, its reveals with the vote
each counts as against the worker's response, the response and the outcome.
"""

from __future__ import annotations

from typing import Any, Final

from chain.client.checks import check_json
from chain.service.rpc.context import RpcContext
from chain.service.rpc.errors import invalid_params
from chain.service.rpc.params import param
from chain.service.rpc.protocol import Params
from chain.service.rpc.subscriptions import Subscription
from runtime import api as runtime_api
from runtime.block import Header
from runtime.pallets import compute, market, system
from runtime.primitives.address import encode_address, parse_account
from runtime.primitives.hashing import to_hex
from runtime.schema import record_to_json
from runtime.state import StateOverlay

DEFAULT_LIMIT: Final = 100
MAX_LIMIT: Final = 1_000
MAX_JOB_SUBSCRIPTIONS: Final = 1_000


def job_json(
    job_id: int,
    job: market.Job,
    checks: tuple[compute.Check, ...] = (),
    dispute_window: int | None = None,
    number: int | None = None,
) -> dict[str, Any]:
    """A job as RPC answers it."""
    committed = bool(job.result_root)
    return {
        "id": job_id,
        "digest": to_hex(market.job_digest(job_id, job)),
        "requester": encode_address(job.requester),
        "workload": job.workload,
        "params": list(job.params),
        "inputs": [{"name": n, "root": to_hex(r) if r else None} for n, r in job.inputs],
        "seed": job.seed,
        "maxPrice": str(job.max_price),
        "costUnits": job.cost_units,
        "leaves": job.leaves,
        "escrow": str(job.escrow),
        "mode": job.mode,
        "deadlineBlocks": job.deadline_blocks,
        "expiresAt": job.expires_at,
        "submittedAt": job.submitted_at,
        "state": job.state,
        "worker": None if job.worker is None else encode_address(job.worker),
        "price": str(job.price),
        "payment": str(job.payment) if job.worker is not None else None,
        "slash": str(job.slash),
        "matchedAt": job.matched_at or None,
        "commitBy": job.commit_by or None,
        "resultRoot": to_hex(job.result_root) if committed else None,
        "committedAt": job.committed_at or None,
        "excluded": [encode_address(a) for a in job.excluded],
        "matches": matches_json(job),
        "settlesAt": (
            job.committed_at + dispute_window
            if committed and dispute_window is not None and job.state == "committed"
            else None
        ),
        "checks": [check_json(i, c, number) for i, c in enumerate(checks)],
        "model": None if job.model is None else model_use_json(job.model),
    }


def model_use_json(use: market.ModelUse) -> dict[str, Any]:
    """The model a job runs, as RPC answers it: its id, version, owner and the fee held."""
    return {
        "id": use.model_id,
        "version": use.version,
        "owner": encode_address(use.owner),
        "fee": str(use.fee),
    }


def matches_json(job: market.Job) -> list[dict[str, Any]]:
    """Every match of a job in order: those given back (declined or missed: `outcome`, the
    block it `endedAt` and the worker's `penalty`), then the current one (`outcome` null)."""
    past = [
        {
            "worker": encode_address(m.worker),
            "matchedAt": m.matched_at,
            "commitBy": m.commit_by,
            "endedAt": m.ended_at,
            "outcome": m.outcome,
            "penalty": str(m.penalty),
        }
        for m in job.past_matches
    ]
    if job.worker is None:
        return past
    current = {
        "worker": encode_address(job.worker),
        "matchedAt": job.matched_at,
        "commitBy": job.commit_by,
        "endedAt": None,
        "outcome": None,
        "penalty": None,
    }
    return [*past, current]


def worker_json(account: bytes, worker: market.Worker) -> dict[str, Any]:
    """A worker as RPC answers it."""
    return {
        "account": encode_address(account),
        "stake": str(worker.stake),
        "bonded": str(worker.bonded),
        "device": worker.device,
        "memoryMb": worker.memory_mb,
        "throughput": {w: t for w, t in worker.throughput},
        "asks": {w: str(p) for w, p in worker.asks},
        "raisedAsks": {w: str(p) for w, p in worker.raised_asks},
        "raisedAt": worker.raised_at or None,
        "endpoint": worker.endpoint,
        "capacity": worker.capacity,
        "active": worker.active,
        "reputation": worker.reputation,
        "retiring": worker.retiring,
    }


def params_json(mp: market.MarketParams, cp: compute.ComputeParams) -> dict[str, Any]:
    """The market's and the compute pallet's parameters, as market_params answers."""
    return {"market": record_to_json(mp), "compute": record_to_json(cp)}


def _job_id(value: Any) -> int:
    if type(value) is not int or not 0 <= value < 2**64:
        raise ValueError("expected a job id (an integer)")
    return value


def _job_filter(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ValueError("expected an object with state, worker, requester or limit")
    unknown = set(value) - {"state", "worker", "requester", "limit"}
    if unknown:
        raise ValueError(f"unknown filter field {sorted(unknown)[0]!r}")
    states = value.get("state")
    if isinstance(states, str):
        states = [states]
    if states is not None and (
        not isinstance(states, list) or not all(s in market.JOB_STATES for s in states)
    ):
        raise ValueError(f"state must be one or more of {', '.join(market.JOB_STATES)}")
    limit = value.get("limit", DEFAULT_LIMIT)
    if type(limit) is not int or not 1 <= limit <= MAX_LIMIT:
        raise ValueError(f"limit must be an integer from 1 to {MAX_LIMIT}")
    parsed: dict[str, Any] = {"states": None if states is None else set(states), "limit": limit}
    for who in ("worker", "requester"):
        raw = value.get(who)
        if raw is not None:
            if not isinstance(raw, str):
                raise ValueError(f"{who} must be an address")
            try:
                parsed[who] = parse_account(raw)
            except ValueError as exc:
                raise ValueError(f"{who}: {exc}") from exc
    return parsed


def add_market_methods(ctx: RpcContext) -> None:
    """Register the market_* methods and the job event subscription."""
    node = ctx.node
    store = node.core.store
    at_hash = ctx.at_hash
    reader_at = ctx.reader_at
    add = ctx.add

    def state_at(block_hash: bytes) -> StateOverlay:
        return StateOverlay(reader_at(block_hash))

    def one_job(state: StateOverlay, job_id: int) -> dict[str, Any] | None:
        job = market.Jobs.get(state, job_id)
        if job is None:
            return None
        checks = compute.Checks.get(state, job_id) or ()
        window = compute.Params.get(state).dispute_window
        return job_json(job_id, job, checks, window, system.Number.get(state) + 1)

    def market_job(params: Params) -> Any:
        job_id = param(params, 0, "id", _job_id)
        return one_job(state_at(at_hash(params, 1)), job_id)

    def market_jobs(params: Params) -> Any:
        wanted = param(params, 0, "filter", _job_filter, default={"states": None, "limit": 100})
        block_hash = at_hash(params, 1)
        state = state_at(block_hash)
        window = compute.Params.get(state).dispute_window
        number = system.Number.get(state) + 1
        found: list[tuple[int, market.Job]] = []
        for key, raw in store.iterate_state(block_hash, market.Jobs.prefix):
            job = market.Jobs.decode(raw)
            if wanted["states"] is not None and job.state not in wanted["states"]:
                continue
            if "worker" in wanted and job.worker != wanted["worker"]:
                continue
            if "requester" in wanted and job.requester != wanted["requester"]:
                continue
            found.append((int.from_bytes(market.Jobs.key_suffix(key), "big"), job))
        found.sort(key=lambda item: item[0], reverse=True)
        return [
            job_json(i, job, compute.Checks.get(state, i) or (), window, number)
            for i, job in found[: wanted["limit"]]
        ]

    def market_workers(params: Params) -> Any:
        state = state_at(at_hash(params, 0))
        out = []
        for account in market.WorkerList.get(state):
            worker = market.Workers.get(state, account)
            if worker is not None:
                out.append(worker_json(account, worker))
        return out

    def market_params(params: Params) -> Any:
        state = state_at(at_hash(params, 0))
        return params_json(market.Params.get(state), compute.Params.get(state))

    add("market_job", market_job, ("id", "at"))
    add("market_jobs", market_jobs, ("filter", "at"))
    add("market_workers", market_workers, ("at",))
    add("market_params", market_params, ("at",))

    watchers: dict[int, set[Subscription]] = {}

    def on_best_block(header: Header) -> None:
        if not watchers:
            return
        named = runtime_api.events_by_job(node.block_events(header.hash))
        for job_id, subscriptions in list(watchers.items()):
            mine = named.get(job_id)
            if not mine:
                continue
            update = {"block": to_hex(header.hash), "number": header.number, "events": mine}
            for subscription in list(subscriptions):
                subscription.send(update)

    def subscribe_job(params: Params, subscription: Subscription) -> None:
        job_id = param(params, 0, "id", _job_id)
        if sum(len(s) for s in watchers.values()) >= MAX_JOB_SUBSCRIPTIONS:
            raise invalid_params("too many job subscriptions on this node")
        state = state_at(store.best_hash)
        current = one_job(state, job_id)
        if current is None:
            raise invalid_params(f"no job {job_id}")
        watchers.setdefault(job_id, set()).add(subscription)

        def forget() -> None:
            subscribed = watchers.get(job_id)
            if subscribed is not None:
                subscribed.discard(subscription)
                if not subscribed:
                    del watchers[job_id]

        subscription.on_close(forget)
        subscription.send({"job": current})

    node.block_listeners.append(on_best_block)
    ctx.add_subscription(
        "market_subscribeJob", "market_jobEvent", "market_unsubscribeJob", subscribe_job, ("id",)
    )


__all__ = ["add_market_methods", "check_json", "job_json", "matches_json", "worker_json"]
