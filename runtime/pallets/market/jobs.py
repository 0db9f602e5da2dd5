"""Reading the market: its parameters and jobs (the interface the compute pallet and RPC use),
and the digest that names a job by its content."""

from __future__ import annotations

from typing import Final

from runtime.framework import BlockContext
from runtime.pallets.market.errors import UnknownJob, WrongJob
from runtime.pallets.market.params import MarketParams
from runtime.pallets.market.storage import Job, Jobs, Params
from runtime.primitives import codec
from runtime.primitives.hashing import blake2b_256
from runtime.state import StateOverlay

JOB_DIGEST_DOMAIN: Final = b"xpl-job"
"""Separates a job digest from every other BLAKE2b-256 hash the chain takes."""


def params_in(state: StateOverlay) -> MarketParams:
    """The market's parameters in a state (outside a block, as at genesis)."""
    return Params.get(state)


def find_job(ctx: BlockContext, job_id: int) -> Job | None:
    """The job with this id, or None if there is none."""
    return Jobs.get(ctx.state, job_id)


def job(ctx: BlockContext, job_id: int) -> Job:
    """The job with this id; UnknownJob if there is none."""
    found = Jobs.get(ctx.state, job_id)
    if found is None:
        raise UnknownJob()
    return found


def job_digest(job_id: int, submitted: Job) -> bytes:
    """What names a job by its content: BLAKE2b-256("xpl-job" ‖ the msgpack of [id, requester,
    workload, params, inputs, seed, max_price (16 bytes BE), mode, deadline_blocks,
    submitted_at], and for a job that names a model [model id, version, owner, fee (16 bytes
    BE)] after them), the fields its submission fixed and nothing later changes.

    Job ids are a counter, so two forks may each give the same id to a different job; a call
    signed for one job carries its digest, and the chain refuses it on a job whose digest differs
    (WrongJob), so it never applies to the other. Two jobs with the same digest are the same
    work: same requester, inputs and parameters, submitted in a block of the same height."""
    identity = [
        job_id,
        submitted.requester,
        submitted.workload,
        list(submitted.params),
        [[name, root] for name, root in submitted.inputs],
        submitted.seed,
        codec.encode_u128(submitted.max_price),
        submitted.mode,
        submitted.deadline_blocks,
        submitted.submitted_at,
    ]
    if submitted.model is not None:  # a model's job: which version, and the fee it holds
        use = submitted.model
        identity.append([use.model_id, use.version, use.owner, codec.encode_u128(use.fee)])
    return blake2b_256(JOB_DIGEST_DOMAIN + codec.encode(identity))


def named_job(ctx: BlockContext, job_id: int, digest: bytes) -> Job:
    """The job with this id, if its digest is `digest`; UnknownJob if there is none, WrongJob if
    it is another job than the one the caller signed for."""
    found = job(ctx, job_id)
    if job_digest(job_id, found) != digest:
        raise WrongJob()
    return found
