"""The requester's side of the compute market: submit a job, follow it, fetch, check and dispute.

    with XplClient(url) as client:
        request = make_request("gemm_i8", None, {"a": Path("A.npy"), "b": Path("B.npy")},
                               seed=7, max_price=parse_amount("2XPL"))
        quote = quote_job(client, keypair.public, request)   # escrow, balance, standing asks
        job = submit_job(client, keypair, request)            # inputs uploaded, escrow held
        outcome = follow_job(client, job.id, on_event=show)   # until settled, failed, expired
        result = fetch_result(client, job.id)                 # every leaf proven against the root
        bad = find_bad_leaf(result.spec, fetch_inputs(client, result.view), result.leaves)
        if bad is not None:
            dispute_leaf(client, keypair, job.id, bad)        # a fraud proof naming that leaf

Everything the chain will refuse is checked here first, before an input is uploaded or escrow is
held: the workload and its parameters (the runtime's own rules and messages), each input file's
dtype, shape and size, the escrow against the least escrow and the requester's free balance.
Nothing fetched from a node is trusted: result leaves and input blobs are checked against the
roots on chain, and the result against its inputs (Freivalds' check, `gpu_worker.freivalds`).
"""

from __future__ import annotations

import functools
import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from chain.blob_client import (
    BlobVerificationError,
    Progress,
    download_blob,
    fetch_leaf,
    upload_file,
)
from chain.blobs import MAX_BLOB_BYTES
from chain.client import JobView, TxOutcome, XplClient, job_from_json, make_call
from chain.rpc.client import RpcClientError
from gpu_worker.freivalds import check_result
from gpu_worker.inputs import InputError, check_inputs, generate_input
from gpu_worker.jobs import JobSpec, result_arrays
from runtime.executive import PALLETS
from runtime.pallets import balances, market
from runtime.primitives.address import decode_address, encode_address
from runtime.primitives.amount import format_amount
from runtime.primitives.hashing import to_hex
from runtime.primitives.keys import Keypair
from runtime.transaction import Call
from runtime.workloads import (
    MAX_LEAF_BYTES,
    WORKLOADS,
    WorkloadError,
    WorkloadShape,
    workload_shape,
)

DEFAULT_DEADLINE_BLOCKS: Final = 100
DEFAULT_WAIT_BLOCKS: Final = 50
GEMM_TARGET_LEAVES: Final = 64
"""An inferred gemm_i8 row block cuts C into about this many leaves: fine enough for a fraud
proof to name a small part, few enough to fetch quickly."""
ENDED_SCAN_BATCH: Final = 64
"""Blocks whose events one request reads while looking for the block a job ended in."""
ENDED_STATES: Final = ("settled", "failed", "expired", "cancelled")
FINAL_EVENTS: Final = {
    "JobSettled": "settled",
    "JobFailed": "failed",
    "JobExpired": "expired",
    "JobCancelled": "cancelled",
}

WORKLOAD_INPUTS: Final = {"gemm_i8": ("a", "b"), "qmlp_i8": ("x", "model"), "sgd_fxp": ("x", "y")}
"""Input names per workload, known before the parameters are (the runtime's shapes name them too;
`make_request` checks that both agree)."""


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


# Input files


@dataclass(frozen=True, slots=True)
class ArrayLayout:
    """How an input that is a matrix is laid out: its dtype and its shape from the parameters."""

    dtype: np.dtype[Any]
    dims: tuple[str, str]
    rows: int
    """Index of the parameter that is the number of rows."""
    cols: int
    """Index of the parameter that is the number of columns."""

    def shape(self, params: Sequence[int]) -> tuple[int, int]:
        return params[self.rows], params[self.cols]


_I8, _I16 = np.dtype(np.int8), np.dtype("<i2")
ARRAY_INPUTS: Final[dict[tuple[str, str], ArrayLayout]] = {
    ("gemm_i8", "a"): ArrayLayout(_I8, ("m", "k"), 0, 1),
    ("gemm_i8", "b"): ArrayLayout(_I8, ("k", "n"), 1, 2),
    ("qmlp_i8", "x"): ArrayLayout(_I8, ("batch", "d0"), 0, 2),
    ("sgd_fxp", "x"): ArrayLayout(_I8, ("samples", "features"), 0, 1),
    ("sgd_fxp", "y"): ArrayLayout(_I16, ("samples", "outputs"), 0, 2),
}
"""Inputs given as .npy arrays; any other input (the qmlp_i8 model) is raw bytes."""


@dataclass(frozen=True, slots=True)
class InputFile:
    """An input read from a file: its bytes as the workload takes them, and its array shape."""

    path: Path
    data: bytes
    shape: tuple[int, ...] | None
    """The .npy array's shape; None for raw bytes."""


def read_input(workload: str, name: str, path: Path) -> InputFile:
    """Read input `name` of `workload` from `path`: a .npy array of the dtype the workload
    needs (its raw little-endian bytes are the input), or any other file as raw bytes."""
    layout = ARRAY_INPUTS.get((workload, name))
    where = f"input {name} ({path})"
    if path.suffix.lower() != ".npy":
        if layout is not None:
            raise JobRequestError(
                f"{where}: {workload} takes {name} as a .npy array of {layout.dtype.name}"
            )
        try:
            return InputFile(path, path.read_bytes(), None)
        except OSError as exc:
            raise JobRequestError(f"cannot read {where}: {exc.strerror or exc}") from exc
    try:
        array = np.load(path, allow_pickle=False)
    except OSError as exc:
        raise JobRequestError(f"cannot read {where}: {exc.strerror or exc}") from exc
    except ValueError as exc:
        raise JobRequestError(f"{where} is not a readable .npy file: {exc}") from exc
    if not isinstance(array, np.ndarray):
        raise JobRequestError(f"{where} holds several arrays (.npz?), not one")
    if layout is None:
        # A raw-byte input may come as a .npy array of bytes.
        if array.dtype not in (np.dtype(np.uint8), np.dtype(np.int8)):
            raise JobRequestError(
                f"{where}: the array is {array.dtype}; {workload} takes {name} as raw bytes "
                "(a file of bytes, or a .npy array of uint8)"
            )
        return InputFile(path, np.ascontiguousarray(array).tobytes(), None)
    need = layout.dtype
    if array.dtype.kind != need.kind or array.dtype.itemsize != need.itemsize:
        raise JobRequestError(f"{where}: the array is {array.dtype}, {workload} needs {need.name}")
    data = np.ascontiguousarray(array, dtype=need).tobytes()
    return InputFile(path, data, tuple(int(d) for d in array.shape))


def parse_params(text: str) -> tuple[int, ...]:
    """`256,256,256,64` as integers; JobRequestError if it is not a list of integers."""
    parts = [p.strip() for p in text.split(",")]
    if not all(p.isascii() and p.isdigit() for p in parts):
        raise JobRequestError(
            f"params {text!r}: expected whole numbers separated by commas, like 256,256,256,64"
        )
    return tuple(int(p) for p in parts)


def gemm_row_block(m: int, n: int) -> int:
    """Rows of C per result leaf: about GEMM_TARGET_LEAVES leaves, none over the leaf limit."""
    return max(1, min(-(-m // GEMM_TARGET_LEAVES), MAX_LEAF_BYTES // (4 * max(n, 1))))


def infer_params(workload: str, files: Mapping[str, InputFile]) -> tuple[int, ...]:
    """gemm_i8's [m, k, n, row_block] from the shapes of a and b; JobRequestError otherwise."""
    a, b = files.get("a"), files.get("b")
    if workload != "gemm_i8" or a is None or b is None or a.shape is None or b.shape is None:
        try:
            workload_shape(workload, ())
        except WorkloadError as exc:
            raise JobRequestError(f"--params is needed: {exc}") from exc
        raise JobRequestError("--params is needed")  # pragma: no cover - every rule needs some
    if len(a.shape) != 2 or len(b.shape) != 2:
        raise JobRequestError(
            f"inputs a and b must be matrices, not arrays of shape {a.shape} and {b.shape}"
        )
    (m, k), (k2, n) = a.shape, b.shape
    if k != k2:
        raise JobRequestError(f"a is {m}×{k} and b is {k2}×{n}: a's columns must match b's rows")
    return (m, k, n, gemm_row_block(m, n))


@dataclass(frozen=True, slots=True)
class JobRequest:
    """A job ready to submit: checked against the workload's rules, its given inputs read."""

    workload: str
    params: tuple[int, ...]
    seed: int
    max_price: int
    """Per 10^9 cost units."""
    inputs: Mapping[str, InputFile]
    """The inputs given as files; the others are generated from the seed."""
    deadline_blocks: int = DEFAULT_DEADLINE_BLOCKS
    wait_blocks: int = DEFAULT_WAIT_BLOCKS
    mode: str = "sampled"

    @property
    def shape(self) -> WorkloadShape:
        return workload_shape(self.workload, self.params)

    @property
    def spec(self) -> JobSpec:
        return JobSpec(self.workload, self.params, self.seed)


def make_request(
    workload: str,
    params: Sequence[int] | None,
    input_files: Mapping[str, Path],
    *,
    max_price: int,
    seed: int | None = None,
    deadline_blocks: int = DEFAULT_DEADLINE_BLOCKS,
    wait_blocks: int = DEFAULT_WAIT_BLOCKS,
    mode: str = "sampled",
) -> JobRequest:
    """A checked job: known workload, valid parameters (inferred for gemm_i8 from the .npy
    shapes when None), every input file of the right dtype, shape and size, sane timing.

    Inputs not in `input_files` are generated from `seed` (a random one when None).
    """
    if workload not in WORKLOADS:
        known = ", ".join(sorted(WORKLOADS))
        raise JobRequestError(f"unknown workload {workload!r} (known: {known})")
    names = WORKLOAD_INPUTS[workload]
    for name in input_files:
        if name not in names:
            raise JobRequestError(
                f"{workload} has no input {name!r} (its inputs: {', '.join(names)})"
            )
    if mode not in market.MODES:
        raise JobRequestError(f"mode {mode!r}: choose {' or '.join(market.MODES)}")
    if not 1 <= deadline_blocks <= market.MAX_DEADLINE_BLOCKS:
        raise JobRequestError(f"the deadline must be 1 to {market.MAX_DEADLINE_BLOCKS} blocks")
    if not 1 <= wait_blocks <= market.MAX_WAIT_BLOCKS:
        raise JobRequestError(f"the wait must be 1 to {market.MAX_WAIT_BLOCKS} blocks")
    if max_price < 1:
        raise JobRequestError("the maximum price must be above zero")
    if seed is not None and not 0 <= seed < 2**64:
        raise JobRequestError("the seed must be an integer from 0 to 2^64 - 1")
    files = {name: read_input(workload, name, path) for name, path in input_files.items()}
    chosen = tuple(params) if params is not None else infer_params(workload, files)
    try:
        shape = workload_shape(workload, chosen)
    except WorkloadError as exc:
        raise JobRequestError(str(exc)) from exc
    if tuple(spec.name for spec in shape.inputs) != names:  # pragma: no cover - runtime drift
        raise JobRequestError(f"{workload}'s inputs changed: the runtime names {shape.inputs}")
    sizes = {spec.name: spec.size for spec in shape.inputs}
    for name, found in files.items():
        _check_input_file(workload, chosen, name, found, sizes[name])
    return JobRequest(
        workload=workload,
        params=chosen,
        seed=secrets.randbelow(2**63) if seed is None else seed,
        max_price=max_price,
        inputs=files,
        deadline_blocks=deadline_blocks,
        wait_blocks=wait_blocks,
        mode=mode,
    )


def _check_input_file(
    workload: str, params: Sequence[int], name: str, found: InputFile, size: int
) -> None:
    where = f"input {name} ({found.path})"
    job = f"{workload} {list(params)}"
    layout = ARRAY_INPUTS.get((workload, name))
    if layout is not None and found.shape is not None:
        rows, cols = layout.shape(params)
        if found.shape != (rows, cols):
            shown = "×".join(str(d) for d in found.shape) or "a scalar"
            raise JobRequestError(
                f"{where}: the array is {shown}; {job} needs {layout.dims[0]}×{layout.dims[1]}"
                f" = {rows}×{cols}"
            )
    if len(found.data) != size:
        raise JobRequestError(f"{where} is {len(found.data)} bytes; {job} needs {size} bytes")
    if size > MAX_BLOB_BYTES:
        raise JobRequestError(
            f"{where} is {size} bytes, over the {MAX_BLOB_BYTES}-byte limit of an uploaded blob"
        )


# Price and escrow


def least_price(cost_units: int, params: market.MarketParams) -> int:
    """The lowest price per 10^9 units whose escrow reaches the least escrow (the deposit)."""
    low, high = 1, max(1, -(-balances.EXISTENTIAL_DEPOSIT * 10**9 // cost_units))
    while low < high:
        middle = (low + high) // 2
        if params.escrow_for(cost_units, middle) >= balances.EXISTENTIAL_DEPOSIT:
            high = middle
        else:
            low = middle + 1
    return low


@dataclass(frozen=True, slots=True)
class Quote:
    """What a job will hold and whether a worker stands ready to take it."""

    cost_units: int
    leaves: int
    escrow: int
    free: int
    cheapest_ask: int | None
    """The lowest ask among the workers that offer the workload (None: no worker offers it)."""
    within_price: int
    """How many workers offer the workload at or below the job's price."""

    @property
    def waits(self) -> bool:
        """No worker asks as little as the job pays: it waits, then expires."""
        return self.within_price == 0


def quote_job(client: XplClient, requester: bytes, request: JobRequest) -> Quote:
    """The job's escrow and the market for it; JobRequestError if the chain would refuse it
    (an escrow below the least escrow, or more than the requester's free balance)."""
    shape = request.shape
    params, _ = client.market_params()
    escrow = params.escrow_for(shape.cost_units, request.max_price)
    if escrow < balances.EXISTENTIAL_DEPOSIT:
        lowest = least_price(shape.cost_units, params)
        raise JobRequestError(
            f"the escrow at that price, {format_amount(escrow)}, is below the least escrow of "
            f"{format_amount(balances.EXISTENTIAL_DEPOSIT)}: this job needs a maximum price of "
            f"at least {format_amount(lowest)} per 10^9 units"
        )
    free = client.account(requester).free
    if escrow > free:
        raise JobRequestError(
            f"the escrow, {format_amount(escrow)}, is more than the free balance of "
            f"{encode_address(requester)}, {format_amount(free)}"
        )
    asks = [
        price
        for worker in client.workers().values()
        if not worker.retiring and (price := worker.ask(request.workload)) is not None
    ]
    return Quote(
        cost_units=shape.cost_units,
        leaves=shape.leaves,
        escrow=escrow,
        free=free,
        cheapest_ask=min(asks) if asks else None,
        within_price=sum(1 for price in asks if price <= request.max_price),
    )


# Submitting


@dataclass(frozen=True, slots=True)
class Match:
    """The worker a job went to, at what price, and by when it must commit."""

    worker: bytes
    price: int
    commit_by: int


@dataclass(frozen=True, slots=True)
class SubmittedJob:
    """A job on chain, as its submission left it."""

    id: int
    block: int
    escrow: int
    cost_units: int
    seed: int
    inputs: tuple[tuple[str, bytes], ...]
    """(name, blob root); an empty root: generated from the seed."""
    fee: int
    match: Match | None
    """The worker it was matched to at once, if any."""


UploadProgress = Callable[[str, int, int], None]
"""Called with (input name, bytes sent, bytes in all) while an input uploads."""


def submit_job(
    client: XplClient,
    keypair: Keypair,
    request: JobRequest,
    *,
    on_upload: UploadProgress | None = None,
) -> SubmittedJob:
    """Upload the given inputs as blobs, submit the job, and wait until it is in a block."""
    roots: list[bytes] = []
    for name in WORKLOAD_INPUTS[request.workload]:
        given = request.inputs.get(name)
        if given is None:
            roots.append(b"")
            continue
        progress = None if on_upload is None else functools.partial(on_upload, name)
        roots.append(upload_file(client.rpc, given.data, progress=progress).root)
    names = list(WORKLOAD_INPUTS[request.workload])
    call = make_call(
        "market",
        "submit_job",
        request.workload,
        list(request.params),
        names,
        roots,
        request.seed,
        request.max_price,
        request.deadline_blocks,
        request.wait_blocks,
        request.mode,
    )
    outcome = _included(client, keypair, call, "submitting the job")
    submitted = _event(outcome, "market", "JobSubmitted")
    matched = [e["data"] for e in outcome.events if e["event"] == "JobMatched"]
    return SubmittedJob(
        id=int(submitted["job"]),
        block=outcome.block_number,
        escrow=int(submitted["escrow"]),
        cost_units=int(submitted["cost_units"]),
        seed=request.seed,
        inputs=tuple(zip(names, roots, strict=True)),
        fee=outcome.fee,
        match=None if not matched else _match(matched[0]),
    )


def _match(data: Mapping[str, Any]) -> Match:
    return Match(decode_address(data["worker"]), int(data["price"]), int(data["commit_by"]))


def _included(client: XplClient, keypair: Keypair, call: Call, what: str) -> TxOutcome:
    """Sign, submit and wait for `call` to be in a block; TransactionRefused if it failed."""
    outcome = client.submit_and_watch(client.sign(keypair, call), until="inBlock")
    if not outcome.success:
        raise TransactionRefused(what, outcome.error or "unknown error")
    return outcome


def _event(outcome: TxOutcome, pallet: str, name: str) -> dict[str, Any]:
    for event in outcome.events:
        if event["pallet"] == pallet and event["event"] == name:
            data: dict[str, Any] = event["data"]
            return data
    raise JobClientError(f"the transaction succeeded, but emitted no {pallet}.{name}")


def cancel_job(client: XplClient, keypair: Keypair, job_id: int) -> int:
    """Cancel a job still waiting for a worker; the escrow refunded."""
    view = require_job(client, job_id)
    if view.job.requester != keypair.public:
        raise JobRequestError(
            f"job {job_id} was submitted by {encode_address(view.job.requester)}, "
            f"not by {encode_address(keypair.public)}: only its requester may cancel it"
        )
    if view.state != "pending":
        raise JobRequestError(
            f"job {job_id} is {view.state}: only a job still waiting for a worker can be cancelled"
        )
    outcome = _included(
        client, keypair, make_call("market", "cancel_job", job_id), f"cancelling job {job_id}"
    )
    return int(_event(outcome, "market", "JobCancelled")["refund"])


# Reading jobs


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
    last = job.committed_at + params.dispute_window + params.audit_window + 2
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
        "checks": [
            {
                "index": index,
                "kind": check.kind,
                "leaves": list(check.leaves),
                "committee": [encode_address(m) for m in check.committee],
                "votes": {encode_address(m): verdict for m, verdict in check.votes},
                "deadline": check.deadline,
                "challenger": (
                    None if check.challenger is None else encode_address(check.challenger)
                ),
                "bond": format_amount(check.bond),
                "outcome": check.outcome or "open",
            }
            for index, check in enumerate(view.checks)
        ],
    }


# Following a job


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


# Results


@dataclass(frozen=True, slots=True)
class JobResult:
    """A job's committed result: every leaf, each proven against the committed root."""

    view: JobView
    leaves: list[bytes]

    @property
    def spec(self) -> JobSpec:
        job = self.view.job
        return JobSpec(job.workload, job.params, job.seed)


def _no_result(view: JobView) -> NoResultError:
    job = view.job
    if job.state == "pending":
        why = f"it is waiting for a worker (until block #{job.expires_at})"
    elif job.state == "matched":
        why = f"its worker must commit a result by block #{job.commit_by}"
    else:
        why = f"it ended {job.state} without one"
    return NoResultError(f"job {view.id} has no result yet: {why}")


def fetch_result(client: XplClient, job_id: int, *, progress: Progress | None = None) -> JobResult:
    """Every leaf of the job's committed result, each checked against the root on chain.

    `progress(leaves_fetched, leaf_count)` is called after each leaf.
    """
    view = require_job(client, job_id)
    root = view.job.result_root
    if not root:
        raise _no_result(view)
    leaves: list[bytes] = []
    for index in range(view.job.leaves):
        try:
            leaves.append(fetch_leaf(client.rpc, root, index))
        except BlobVerificationError as exc:
            raise ResultDataError(
                f"the node served result data of job {job_id} that does not match the committed "
                f"root: {exc}"
            ) from exc
        except RpcClientError as exc:
            raise ResultDataError(
                f"the node cannot serve leaf {index} of job {job_id}'s result "
                f"{to_hex(root)}: {exc.message}"
            ) from exc
        if progress is not None:
            progress(index + 1, view.job.leaves)
    return JobResult(view, leaves)


def fetch_inputs(client: XplClient, view: JobView) -> dict[str, bytes]:
    """The job's inputs: generated from its seed, or downloaded from their blobs (verified)."""
    job = view.job
    inputs: dict[str, bytes] = {}
    for name, root in job.inputs:
        if not root:
            inputs[name] = generate_input(job.workload, job.params, name, job.seed)
            continue
        try:
            inputs[name] = download_blob(client.rpc, root)
        except BlobVerificationError as exc:
            raise ResultDataError(
                f"the node served input {name} of job {view.id} that does not match its root: {exc}"
            ) from exc
        except RpcClientError as exc:
            raise ResultDataError(
                f"the node cannot serve input {name} of job {view.id} ({to_hex(root)}): "
                f"{exc.message}"
            ) from exc
    try:
        check_inputs(job.workload, job.params, inputs)
    except InputError as exc:
        raise ResultDataError(f"job {view.id}'s inputs do not fit the job: {exc}") from exc
    return inputs


def find_bad_leaf(
    spec: JobSpec,
    inputs: Mapping[str, bytes],
    leaves: Sequence[bytes],
    *,
    rng: np.random.Generator | None = None,
) -> int | None:
    """The first wrong leaf of a result, or None when it passes: a leaf of the wrong size,
    else what Freivalds' check (gemm_i8, qmlp_i8) or step spot checks (sgd_fxp) find."""
    sizes = spec.shape.leaf_sizes
    if len(leaves) != len(sizes):
        raise ResultDataError(f"the result has {len(leaves)} leaves, the job {len(sizes)}")
    for index, (leaf, size) in enumerate(zip(leaves, sizes, strict=True)):
        if len(leaf) != size:
            return index
    return check_result(spec, inputs, leaves, rng=rng)


def result_output(spec: JobSpec, leaves: Sequence[bytes]) -> npt.NDArray[np.int32]:
    """The job's output: C for gemm_i8, the logits (last layer's accumulators) for qmlp_i8, the
    final weights for sgd_fxp."""
    return result_arrays(spec, leaves)[-1]


@dataclass(frozen=True, slots=True)
class Dispute:
    """A fraud proof on chain: the check it opened, on which leaf, bonding what, decided by when."""

    job_id: int
    check: int
    leaf: int
    bond: int
    deadline: int
    block: int | None
    filed: bool
    """False when an open dispute of that leaf was already on chain (nothing new was filed)."""


def dispute_leaf(client: XplClient, keypair: Keypair, job_id: int, leaf: int) -> Dispute:
    """File a fraud proof naming `leaf` of the job's result, bonding the fraud bond.

    JobClientError if the job cannot be disputed any more (it failed already, or its dispute
    window closed); an open dispute of the same leaf is returned instead of filing another.
    """
    view = require_job(client, job_id)
    job = view.job
    compute_params = client.market_params()[1]
    if job.state == "failed":
        raise JobClientError(
            f"job {job_id} has already failed: its worker was slashed and the escrow refunded"
        )
    if not job.result_root:
        raise _no_result(view)
    if job.state != "committed":
        raise JobClientError(f"job {job_id} is {job.state}: its dispute window is over")
    closes = job.committed_at + compute_params.dispute_window
    if client.best_number() + 1 >= closes:
        raise JobClientError(f"the dispute window of job {job_id} closed at block #{closes}")
    for index, check in enumerate(view.checks):
        if check.kind == "dispute" and check.leaves == (leaf,) and not check.outcome:
            return Dispute(job_id, index, leaf, check.bond, check.deadline, None, filed=False)
    outcome = _included(
        client,
        keypair,
        make_call("compute", "dispute", job_id, leaf),
        f"disputing leaf {leaf} of job {job_id}",
    )
    opened = _event(outcome, "compute", "DisputeOpened")
    return Dispute(
        job_id=job_id,
        check=int(opened["check"]),
        leaf=int(opened["leaf"]),
        bond=compute_params.fraud_bond,
        deadline=int(opened["deadline"]),
        block=outcome.block_number,
        filed=True,
    )


__all__ = [
    "ARRAY_INPUTS",
    "DEFAULT_DEADLINE_BLOCKS",
    "DEFAULT_WAIT_BLOCKS",
    "ENDED_STATES",
    "Dispute",
    "InputFile",
    "JobClientError",
    "JobOutcome",
    "JobRequest",
    "JobRequestError",
    "JobResult",
    "Match",
    "NoResultError",
    "Quote",
    "ResultDataError",
    "SubmittedJob",
    "TransactionRefused",
    "UnknownJobError",
    "cancel_job",
    "describe_error",
    "dispute_leaf",
    "dispute_window",
    "ended_at",
    "fetch_inputs",
    "fetch_result",
    "find_bad_leaf",
    "follow_job",
    "gemm_row_block",
    "infer_params",
    "job_summary",
    "least_price",
    "make_request",
    "outcome_of_event",
    "parse_params",
    "quote_job",
    "read_input",
    "require_job",
    "result_output",
    "submit_job",
]
