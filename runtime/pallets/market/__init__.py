"""Market: GPU workers and their asks, jobs with escrow, matching, deadlines and settlement.

Lifecycle of a job (DESIGN 8):

1. A worker registers: its stake goes under the hold "stake"; it states its device, memory,
   measured throughput, a price ask per workload (per 10^9 cost units) and how many jobs it takes
   at once.
2. A requester submits a job: workload, parameters, inputs (a blob root each, or generated from
   the job's seed), the highest price it pays, how long the worker may take, how long the job may
   wait for a worker, and the verification mode. The escrow (the highest payment plus the
   protocol and verification fees) goes under the hold "escrow".
3. Matching picks, at once and again at every block while the job waits, the cheapest worker
   whose ask is within the job's price, with a free slot and enough free stake to bond the job's
   slash; ties go to the better reputation, then to block randomness. The slash is bonded from
   the worker's stake until the job ends.
4. The worker must commit a result (the compute pallet records it) before its deadline. A missed
   deadline costs it part of the bonded slash, paid to the requester, and the job waits for a
   worker again, or expires and is refunded.
5. Settlement (called by the compute pallet after the dispute window): on success the worker is
   paid price × units, the treasury its protocol fee and the verification committee its fee,
   and the rest of the escrow is released. On failure the worker's slash is taken: half to whoever
   caught it, half to the treasury; the requester gets its whole escrow back.

Invariants: each requester's "escrow" hold equals the escrow of its open jobs; each worker's
"stake" hold equals its recorded stake, and its bonded amount equals the slashes of its active
jobs; a job ends exactly once.

The package, by sub-domain: `constants`, `params`, `storage` (records and storage items), `events`,
`errors`, `jobs` (reading), `workers`, `escrow` (paying out of holds), `matching`, `settlement`,
`deadlines`, `invariants`, and `pallet` (the Market pallet with its calls). Other code imports it as
one: `from runtime.pallets import market`. Its error and event types are named from their modules
(`market.errors`, `market.events`); callers tell a failed call by its error's name.
"""

from __future__ import annotations

from runtime.pallets.market.constants import (
    ESCROW,
    JOB_WEIGHT,
    MATCHES_PER_BLOCK,
    MAX_ASKS,
    MAX_DEADLINE_BLOCKS,
    MAX_EXCLUDED,
    MAX_INPUTS,
    MAX_JOB_CAPACITY,
    MAX_PARAMS,
    MAX_PENDING_JOBS,
    MAX_PENDING_PER_REQUESTER,
    MAX_REPUTATION,
    MAX_WAIT_BLOCKS,
    MAX_WORKERS,
    MIN_REPUTATION,
    MODES,
    NAME,
    PPM,
    REGISTER_WEIGHT,
    STAKE,
    SUBMIT_WEIGHT,
)
from runtime.pallets.market.jobs import find_job, job, params_in
from runtime.pallets.market.matching import try_match
from runtime.pallets.market.pallet import Market, MarketGenesis
from runtime.pallets.market.params import DEFAULT_MARKET_PARAMS, MarketParams
from runtime.pallets.market.queue import schedule
from runtime.pallets.market.settlement import record_commitment, settle_failure, settle_success
from runtime.pallets.market.storage import (
    JOB_IDS_CODEC,
    JOB_STATES,
    OPEN_STATES,
    Deadlines,
    Job,
    Jobs,
    NextJobId,
    Params,
    PendingCount,
    PendingJobs,
    Worker,
    WorkerList,
    Workers,
)

__all__ = [
    "DEFAULT_MARKET_PARAMS",
    "ESCROW",
    "JOB_IDS_CODEC",
    "JOB_STATES",
    "JOB_WEIGHT",
    "MATCHES_PER_BLOCK",
    "MAX_ASKS",
    "MAX_DEADLINE_BLOCKS",
    "MAX_EXCLUDED",
    "MAX_INPUTS",
    "MAX_JOB_CAPACITY",
    "MAX_PARAMS",
    "MAX_PENDING_JOBS",
    "MAX_PENDING_PER_REQUESTER",
    "MAX_REPUTATION",
    "MAX_WAIT_BLOCKS",
    "MAX_WORKERS",
    "MIN_REPUTATION",
    "MODES",
    "NAME",
    "OPEN_STATES",
    "PPM",
    "REGISTER_WEIGHT",
    "STAKE",
    "SUBMIT_WEIGHT",
    "Deadlines",
    "Job",
    "Jobs",
    "Market",
    "MarketGenesis",
    "MarketParams",
    "NextJobId",
    "Params",
    "PendingCount",
    "PendingJobs",
    "Worker",
    "WorkerList",
    "Workers",
    "find_job",
    "job",
    "params_in",
    "record_commitment",
    "schedule",
    "settle_failure",
    "settle_success",
    "try_match",
]
