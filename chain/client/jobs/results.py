"""A job's result and inputs fetched from a node and checked: every leaf against the committed
root, every input against its blob root, and the result against its inputs (Freivalds' check)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from chain.client.blobs import BlobVerificationError, Progress, download_blob, fetch_leaves
from chain.client.chain import JobView, XplClient
from chain.client.jobs.errors import NoResultError, ResultDataError
from chain.client.jobs.reading import require_job
from chain.client.rpc import RpcClientError
from gpu_worker.freivalds import check_result
from gpu_worker.inputs import InputError, check_inputs, generate_input
from gpu_worker.jobs import JobSpec, result_arrays
from runtime.primitives.hashing import to_hex


@dataclass(frozen=True, slots=True)
class JobResult:
    """A job's committed result: every leaf, each proven against the committed root."""

    view: JobView
    leaves: list[bytes]

    @property
    def spec(self) -> JobSpec:
        job = self.view.job
        return JobSpec(job.workload, job.params, job.seed)


def no_result(view: JobView) -> NoResultError:
    """The error for a job without a committed result, saying why it has none."""
    job = view.job
    if job.state == "pending":
        why = f"it is waiting for a worker (until block #{job.expires_at})"
    elif job.state == "matched":
        why = f"its worker must commit a result by block #{job.commit_by}"
    else:
        why = f"it ended {job.state} without one"
    return NoResultError(f"job {view.id} has no result yet: {why}")


def fetch_result(client: XplClient, job_id: int, *, progress: Progress | None = None) -> JobResult:
    """Every leaf of the job's committed result, each checked against the root on chain: runs
    of up to 1,024 leaves a request (blob_getLeaves), one leaf a request from a node without it.

    `progress(leaves_fetched, leaf_count)` is called after each request.
    """
    view = require_job(client, job_id)
    root = view.job.result_root
    if not root:
        raise no_result(view)
    try:
        leaves = fetch_leaves(client.rpc, root, view.job.leaves, progress=progress)
    except BlobVerificationError as exc:
        raise ResultDataError(
            f"the node served result data of job {job_id} that does not match the committed "
            f"root: {exc}"
        ) from exc
    except RpcClientError as exc:
        raise ResultDataError(
            f"the node cannot serve job {job_id}'s result {to_hex(root)}: {exc.message}"
        ) from exc
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
    else what Freivalds' check (gemm_i8, qmlp_i8), step spot checks (sgd_fxp) or every checkpoint
    recomputed (mlp_fxp) find."""
    sizes = spec.shape.leaf_sizes
    if len(leaves) != len(sizes):
        raise ResultDataError(f"the result has {len(leaves)} leaves, the job {len(sizes)}")
    for index, (leaf, size) in enumerate(zip(leaves, sizes, strict=True)):
        if len(leaf) != size:
            return index
    return check_result(spec, inputs, leaves, rng=rng)


def result_output(spec: JobSpec, leaves: Sequence[bytes]) -> npt.NDArray[np.int32]:
    """The job's output: C for gemm_i8, the logits (last layer's accumulators) for qmlp_i8, the
    final weights for sgd_fxp, the last checkpoint (one row of parameter words) for mlp_fxp."""
    return result_arrays(spec, leaves)[-1]
