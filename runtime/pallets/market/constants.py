"""The market's name, limits, hold reasons and call weights."""

from __future__ import annotations

from typing import Final

from runtime.framework import WEIGHT_PER_MICROS

NAME: Final = "market"

MAX_WORKERS: Final = 256
MAX_PENDING_JOBS: Final = 512
"""Jobs waiting for a worker at once. What an attacker can still do: fill the queue from
MAX_PENDING_JOBS / MAX_PENDING_PER_REQUESTER accounts, each job holding its escrow and paying
its fee, and each one a job some worker could take (one it keeps busy, say); others'
submissions are refused until its jobs are matched or expire. Each block of it costs the
attacker the rent of every job it holds there (`market.rent`), which grows as the queue fills,
and it gains nothing but its refunds."""
WAIT_RENT_GROWTH: Final = 16
"""How fast waiting gets dearer as the queue fills: a job submitted to a queue of n waiting jobs
pays `wait_rent`·(1 + WAIT_RENT_GROWTH·n / MAX_PENDING_JOBS) a block, 17 times the base rent in a
full queue."""
MAX_PENDING_PER_REQUESTER: Final = 16
"""Jobs one requester may have waiting for a worker at once, so that no one fills the queue."""
MATCHES_PER_BLOCK: Final = 32
"""Waiting jobs that each block tries to match, which bounds a block's work; each block starts
after the last job the block before tried, so every waiting job is tried in turn."""
REOFFERS_PER_BLOCK: Final = 16
"""Jobs whose deadline passed that a block's hook offers to the next worker at once; the others
of that block wait in the queue and are tried in turn (`matching.match_waiting`). Each offer is
a pass over the workers, so misses timed to fall in one block (each costing its worker a
penalty) make that block's hook at most this many passes longer."""
MAX_EXCLUDED: Final = 8
"""The most matches a job's history keeps as given back (declined or missed): the bound of
`MarketParams.max_reoffers` + 1, after which the job expires (so that a job nobody can do costs at
most this many workers a miss each, and one worker a decline's penalty, MAX_DECLINES)."""
MAX_DECLINES: Final = 2
"""Declines after which a job expires, refunded (`deadlines.decline`): a job that two different
workers declined is most likely one nobody can do (inputs nobody serves), so it is not offered to
a third, and the second decline costs its worker nothing. Misses do not count here (a missed job
is offered again up to `max_reoffers` times)."""
DECLINE_COOLDOWN: Final = 50
"""Blocks after a decline during which the worker is matched only when no other worker can take
the job (`matching.try_match`). A decline changes no reputation: a requester can force one (a job
whose inputs nobody serves), so it must not take a worker out of good standing for longer than
this."""
DEADLINES_PER_BLOCK: Final = 32
"""Due deadlines (expiries and missed commitments) that one block's hook processes; the rest are
carried, in order, to the next block's, so that misses timed into one block cannot make its hook
run long (`pallet.Market.on_initialize`, whose weight counts each one, `hook_weight`). What an
attacker can still do: time many misses into one block (each costing its worker a penalty) and
delay the processing of deadlines behind them by one block per DEADLINES_PER_BLOCK of them; a
delayed miss is still penalized and re-offered, and a delayed expiry still refunded. The hook's
weight is then at most `hook_weight`(DEADLINES_PER_BLOCK, entries, 2·REOFFERS_PER_BLOCK +
(DEADLINES_PER_BLOCK - REOFFERS_PER_BLOCK) + MATCHES_PER_BLOCK passes, MAX_WORKERS): 229 ms of
the block's 500 plus 1 µs a due entry, declared as mandatory weight (measured: about 3 ms a miss
offered at once with 255 workers, against 5.8 ms declared)."""
MAX_ASKS: Final = 8
MAX_INPUTS: Final = 8
MAX_PARAMS: Final = 24
MAX_JOB_CAPACITY: Final = 64
MAX_DEADLINE_BLOCKS: Final = 10_000
MAX_WAIT_BLOCKS: Final = 10_000
MAX_REPUTATION: Final = 1_000
MIN_REPUTATION: Final = -1_000
STAKE: Final = "stake"
ESCROW: Final = "escrow"
MODES: Final = ("sampled", "always")
"""Verification modes: audited with the chain's probability, or always audited."""
PPM: Final = 1_000_000

REGISTER_WEIGHT: Final = 80 * WEIGHT_PER_MICROS
SUBMIT_WEIGHT: Final = 400 * WEIGHT_PER_MICROS
"""Checking the job, that some worker could take it, and matching it: passes over at most
MAX_WORKERS workers (a decline's weight too)."""
MODEL_WEIGHT: Final = 60 * WEIGHT_PER_MICROS
"""A job that names a model, besides a job's: the model and version read, the descriptor decoded
and checked against the params."""
JOB_WEIGHT: Final = 60 * WEIGHT_PER_MICROS
SET_PARAMS_WEIGHT: Final = 50_000 * WEIGHT_PER_MICROS
"""Checking new parameters against the rules bound to them: compute's incentive guard, exact
fractions over a grid of 384 shares, takes up to 27 ms (measured at audit_leaves 256 and a
committee of 64; 8 ms at the defaults)."""
DEADLINE_WEIGHT: Final = 700 * WEIGHT_PER_MICROS
"""A due deadline processed by the block's hook, besides its passes over the workers: the job's
penalty or refund, its history, the queue and their events (measured: about 650 µs a miss with
8 workers)."""
DUE_ENTRY_WEIGHT: Final = WEIGHT_PER_MICROS
"""Reading, or carrying to the next block, one entry of a block's due deadlines."""
PASS_WEIGHT: Final = 20 * WEIGHT_PER_MICROS
"""A pass over the workers (whether any could take a job, or matching one), besides the
workers..."""
WORKER_CHECK_WEIGHT: Final = 10 * WEIGHT_PER_MICROS
"""...and each registered worker it looks at (measured: about 9 µs a worker a miss)."""
