"""Market: GPU workers and their asks, jobs with escrow, matching, deadlines and settlement.

Lifecycle of a job (DESIGN 8), each rule with what an attacker can still do within it:

1. A worker registers: its stake goes under the hold "stake"; it states its device, memory,
   measured throughput per workload, a price ask per workload (per 10^9 cost units) and how many
   jobs it takes at once. A lowered ask is in force at once, a raised one `ask_delay` blocks
   later. Attacker: announce a raise; requesters see it coming and never pay above their price.
2. A requester submits a job: workload, parameters, inputs (a blob root each, or generated from
   the job's seed), the highest price it pays, how long the worker may take, how long the job may
   wait, and the verification mode. It is refused if its highest payment is below `min_payment`,
   its result larger than a node stores (`workloads.MAX_RESULT_BYTES`), the requester already has
   MAX_PENDING_PER_REQUESTER jobs waiting, or no registered worker could ever take it
   (NoEligibleWorker: see `eligibility`). The escrow (the highest payment plus the protocol and
   verification fees) goes under the hold "escrow"; a job that is not matched at once also holds
   the rent of its whole wait, and pays the treasury that rent for each block it waits for a
   worker (again after a decline or a miss), dearer the fuller the queue it found (`rent`).
   Attacker: jobs that wait cost it escrow, fees and rent, and at most delay others by a few
   blocks (step 3); filling the queue costs it the rent of every place it holds (sybil
   requesters pay the same per job).
3. Matching picks, at once and then in turn (each block tries MATCHES_PER_BLOCK waiting jobs,
   starting after the last one the block before tried), the cheapest eligible worker with a free
   slot and the unbonded stake to bond the job's slash: its ask in force is within the job's
   price, it is not retiring, did not decline or miss this job before, has a reputation of at
   least `min_match_reputation`, and its registered throughput fits the job in its deadline
   (`decline_blocks` + the job's time at that throughput × `deadline_safety_ppm` +
   `deadline_margin_blocks`). Workers in good standing (reputation not negative, no decline in
   the last DECLINE_COOLDOWN blocks) come before the others whatever their asks; ties go to the
   better reputation, then to block randomness. The price is raised, within the job's price, so
   that the payment reaches `min_payment`.
   Attacker: an inflated throughput wins tight jobs it then misses (step 4), at a loss.
4. Within `decline_blocks` of the match the worker may decline the job. The job's first decline
   costs `decline_penalty_ppm` of its slash (to the treasury) and DECLINE_COOLDOWN blocks behind
   the workers in good standing, and the job is offered again without that worker; its second
   (MAX_DECLINES) costs nothing and expires it, refunded, since a job two workers cannot do is
   most likely one nobody can (see `deadlines.decline` for what sybils can do within it).
   Otherwise the worker must commit a result (the compute pallet records it) by its deadline; a
   miss (a worker that went away) costs it `miss_penalty_ppm` of the bonded slash, paid to the
   TREASURY (never to the requester, so a requester gains nothing from jobs no worker can do),
   two points of reputation, and the job for good. A job given back (declined or missed) goes
   into its history of matches and is offered at once to the best other worker with a free slot,
   with a full commit window; its wait for a worker is extended by the blocks it spent matched
   (`deadlines.give_back`). A job given back more than `max_reoffers` times, declined twice, or
   that no worker left could take, expires and is refunded. A block processes at most
   DEADLINES_PER_BLOCK due deadlines (the rest in the next) and its hook declares their weight.
   Attacker: a worker may hold a job for `decline_blocks` once, or until its deadline once, each
   at the cost of a penalty; sybil workers may hold it `max_reoffers` + 1 times, a miss penalty
   each, or kill it with two declines, one penalty; a requester whose job nobody can do costs one
   honest worker a decline penalty and cooldown, gets its escrow back and has paid its fees.
5. Settlement (called by the compute pallet after the dispute window): on success the worker is
   paid price × units, the treasury its protocol fee and the verification committee its fee,
   and the rest of the escrow is released. On failure the worker's slash is taken: half to whoever
   caught it, half to the treasury; the requester gets its whole escrow back.

A job that names a registered model (`submit_model_job(model_id, version, ...)`, see
`runtime.pallets.models`): its workload is the version's family, its "model" input the version's
weights root, its params must fit the version's descriptor, and its escrow also holds the
version's fee per use (`Job.model`), paid to the model's owner on success and returned with the
rest of the escrow on every other end. The fee is fixed at submission: versions are immutable.

Naming a job. Ids are a counter, so the two sides of a partition may give the same id to
different jobs. A job's digest (`job_digest`: its id, requester, workload, parameters, inputs,
seed, highest price, mode, deadline and submission block; nothing that changes later) names it
in every call that stakes something on its content: `cancel_job` and `decline_job` here, and the
compute pallet's `commit_result` (and, within the compute pallet's digests of a result and of a
check's draw, its `dispute` and `attest_commit`). A call whose digest is not that
of the job with its id fails with WrongJob and changes nothing but its fee, so a call signed on
one side never applies to the other side's job (`named_job`).

Invariants: each requester's "escrow" hold equals the escrow of its open jobs, and an open job's
escrow covers its model's fee; each worker's
"stake" hold equals its recorded stake, and its bonded amount equals the slashes of its active
jobs; the queue of waiting jobs and each requester's count of them match the pending jobs; a job
ends exactly once; a job's history holds at most `max_reoffers` + 1 given-back matches, none by
the worker of another or of the current match.

The package, by sub-domain: `constants`, `params`, `storage` (records and storage items), `events`,
`errors`, `jobs` (reading), `submission` (checking a job, its escrow, a model's inputs and fee),
`workers`, `escrow` (paying out of holds), `queue` (waiting jobs and per-block schedules), `rent`
(what waiting costs), `eligibility`, `matching`, `deadlines` (expiry, declines and misses),
`settlement`, `invariants`, and `pallet` (the Market pallet with its calls).
Other code imports it as one: `from runtime.pallets import market`. Its error and event types are
named from their modules (`market.errors`, `market.events`); callers tell a failed call by its
error's name.
"""

from __future__ import annotations

from runtime.pallets.market.constants import (
    DEADLINES_PER_BLOCK,
    DECLINE_COOLDOWN,
    ESCROW,
    JOB_WEIGHT,
    MATCHES_PER_BLOCK,
    MAX_ASKS,
    MAX_DEADLINE_BLOCKS,
    MAX_DECLINES,
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
    REOFFERS_PER_BLOCK,
    SET_PARAMS_WEIGHT,
    STAKE,
    SUBMIT_WEIGHT,
    WAIT_RENT_GROWTH,
)
from runtime.pallets.market.jobs import (
    JOB_DIGEST_DOMAIN,
    find_job,
    job,
    job_digest,
    named_job,
    params_in,
)
from runtime.pallets.market.matching import try_match
from runtime.pallets.market.pallet import Market, MarketGenesis
from runtime.pallets.market.params import (
    DEFAULT_MARKET_PARAMS,
    MarketParams,
    ParamsRule,
    bind_params_rule,
)
from runtime.pallets.market.queue import schedule
from runtime.pallets.market.settlement import (
    job_fees,
    record_commitment,
    settle_failure,
    settle_success,
    settle_void,
)
from runtime.pallets.market.storage import (
    GIVE_BACKS,
    JOB_IDS_CODEC,
    JOB_STATES,
    OPEN_STATES,
    Deadlines,
    Job,
    Jobs,
    ModelUse,
    NextJobId,
    Params,
    PastMatch,
    PendingCount,
    PendingJobs,
    Worker,
    WorkerList,
    Workers,
)

__all__ = [
    "DEADLINES_PER_BLOCK",
    "DECLINE_COOLDOWN",
    "DEFAULT_MARKET_PARAMS",
    "ESCROW",
    "GIVE_BACKS",
    "JOB_DIGEST_DOMAIN",
    "JOB_IDS_CODEC",
    "JOB_STATES",
    "JOB_WEIGHT",
    "MATCHES_PER_BLOCK",
    "MAX_ASKS",
    "MAX_DEADLINE_BLOCKS",
    "MAX_DECLINES",
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
    "REOFFERS_PER_BLOCK",
    "SET_PARAMS_WEIGHT",
    "STAKE",
    "SUBMIT_WEIGHT",
    "WAIT_RENT_GROWTH",
    "Deadlines",
    "Job",
    "Jobs",
    "Market",
    "MarketGenesis",
    "MarketParams",
    "ModelUse",
    "NextJobId",
    "Params",
    "ParamsRule",
    "PastMatch",
    "PendingCount",
    "PendingJobs",
    "Worker",
    "WorkerList",
    "Workers",
    "bind_params_rule",
    "find_job",
    "job",
    "job_digest",
    "job_fees",
    "named_job",
    "params_in",
    "record_commitment",
    "schedule",
    "settle_failure",
    "settle_success",
    "settle_void",
    "try_match",
]
