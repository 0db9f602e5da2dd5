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

Each concern has its module: `inputs` (input files, parameter inference), `requests` (the checks
a request passes before anything is uploaded), `quotes` (escrow and the market), `submission`,
`reading` (a job by id, as JSON), `following`, `results` (fetching and checking) and `disputes`;
`errors` holds what they raise. This package gathers their public names.
"""

from __future__ import annotations

from chain.client.jobs.disputes import Dispute, dispute_leaf
from chain.client.jobs.errors import (
    JobClientError,
    JobRequestError,
    NoResultError,
    ResultDataError,
    TransactionRefused,
    UnknownJobError,
    describe_error,
)
from chain.client.jobs.following import ENDED_STATES, JobOutcome, follow_job, outcome_of_event
from chain.client.jobs.inputs import (
    ARRAY_INPUTS,
    InputFile,
    gemm_blocks_for,
    infer_params,
    parse_params,
    read_input,
)
from chain.client.jobs.quotes import Quote, least_price, quote_job
from chain.client.jobs.reading import dispute_window, ended_at, job_summary, require_job
from chain.client.jobs.requests import (
    DEFAULT_DEADLINE_BLOCKS,
    DEFAULT_WAIT_BLOCKS,
    JobRequest,
    ModelRef,
    make_request,
)
from chain.client.jobs.results import (
    JobResult,
    fetch_inputs,
    fetch_result,
    find_bad_leaf,
    result_output,
)
from chain.client.jobs.submission import Match, SubmittedJob, cancel_job, submit_job

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
    "ModelRef",
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
    "gemm_blocks_for",
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
