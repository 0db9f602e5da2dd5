"""Submitting a job (its input files uploaded as blobs first) and cancelling one still waiting."""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from chain.client.blobs import upload_file
from chain.client.chain import XplClient, make_call
from chain.client.jobs.errors import JobRequestError
from chain.client.jobs.inputs import WORKLOAD_INPUTS
from chain.client.jobs.reading import require_job
from chain.client.jobs.requests import MODEL_INPUT, JobRequest
from chain.client.jobs.transactions import event_data, include
from runtime.primitives.address import decode_address, encode_address
from runtime.primitives.keys import Keypair


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
    """Upload the given inputs as blobs, submit the job (`market.submit_model_job` for one that
    names a registered model, whose weights are on chain already), and wait until it is in a
    block."""
    roots: list[bytes] = []
    model = request.model
    for name in WORKLOAD_INPUTS[request.workload]:
        if model is not None and name == MODEL_INPUT:
            roots.append(model.weights_root)  # registered on chain: nothing to upload
            continue
        given = request.inputs.get(name)
        if given is None:
            roots.append(b"")
            continue
        progress = None if on_upload is None else functools.partial(on_upload, name)
        roots.append(upload_file(client.rpc, given.data, signer=keypair, progress=progress).root)
    names = list(WORKLOAD_INPUTS[request.workload])
    terms = (request.seed, request.max_price, request.deadline_blocks, request.wait_blocks)
    if model is None:
        call = make_call(
            "market",
            "submit_job",
            request.workload,
            list(request.params),
            names,
            roots,
            *terms,
            request.mode,
        )
    else:
        others = [(n, r) for n, r in zip(names, roots, strict=True) if n != MODEL_INPUT]
        call = make_call(
            "market",
            "submit_model_job",
            model.model_id,
            model.version,
            list(request.params),
            [n for n, _ in others],
            [r for _, r in others],
            *terms,
            request.mode,
        )
    outcome = include(client, keypair, call, "submitting the job")
    submitted = event_data(outcome, "market", "JobSubmitted")
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
    outcome = include(
        client,
        keypair,
        make_call("market", "cancel_job", job_id, view.digest),
        f"cancelling job {job_id}",
    )
    return int(event_data(outcome, "market", "JobCancelled")["refund"])
