"""Which workers may take a job: price, stake, reputation, throughput against the deadline.

A worker is eligible for a job when it offers the job's workload at an ask in force within the
job's price, is not retiring, has not declined or missed the job before, has a reputation of at
least `min_match_reputation`, a stake that bonds the job's slash, and a registered throughput at
which the job fits the requester's deadline (`blocks_needed`). Matching further needs a free slot
and enough unbonded stake; a submission needs only one worker that could ever take the job.

What an attacker can still do: register an inflated throughput to be matched to tight jobs. It
then misses them, and each miss costs it `miss_penalty_ppm` of the slash (to the treasury), two
points of reputation and the job for good, while it earns nothing: the lie does not pay. A worker
barred by its reputation may retire and register again (or under a new account) to start at 0:
the gate only bounds how many jobs one registration can miss, each miss still costs its penalty.
"""

from __future__ import annotations

from runtime.framework import BlockContext
from runtime.pallets import session
from runtime.pallets.market.constants import PPM
from runtime.pallets.market.params import MarketParams
from runtime.pallets.market.storage import Job, Worker
from runtime.workloads import GOP, payment_for

_MS_PER_SECOND = 1_000


def slot_ms(ctx: BlockContext) -> int:
    """The chain's slot duration in milliseconds (at least 1)."""
    return max(1, session.SlotDurationMs.get(ctx.state))


def blocks_needed(p: MarketParams, slot: int, cost_units: int, throughput: int) -> int | None:
    """Blocks from a match to the last block a worker of `throughput` (10^9 cost units per
    second) may commit a job of `cost_units` in: the decline window, the time its throughput
    says the job takes times the safety factor (rounded up to whole slots of `slot` ms), and the
    margin. None for a worker without a throughput for the workload."""
    if throughput <= 0:
        return None
    work = cost_units * p.deadline_safety_ppm * _MS_PER_SECOND
    per_block = throughput * GOP * slot * PPM
    return p.decline_blocks + -(-work // per_block) + p.deadline_margin_blocks


def matched_price(p: MarketParams, job: Job, ask: int) -> int:
    """The price a worker asking `ask` is matched at: its ask, raised so that the payment is at
    least `min_payment`, never above the job's price."""
    least = -(-p.min_payment * GOP // job.cost_units)
    return min(job.max_price, max(ask, least))


def price_if_eligible(
    p: MarketParams, slot: int, number: int, account: bytes, worker: Worker, job: Job
) -> int | None:
    """The price the worker would take the job at in block `number` if it could ever take it
    (free slots and unbonded stake aside), else None."""
    if worker.retiring or account in job.excluded or worker.reputation < p.min_match_reputation:
        return None
    ask = worker.ask_at(job.workload, number)
    if ask is None or ask > job.max_price:
        return None
    needed = blocks_needed(p, slot, job.cost_units, worker.throughput_for(job.workload))
    if needed is None or needed > job.deadline_blocks:
        return None
    price = matched_price(p, job, ask)
    if worker.stake < p.slash_for(payment_for(job.cost_units, price)):
        return None
    return price


def price_if_free(
    p: MarketParams, slot: int, number: int, account: bytes, worker: Worker, job: Job
) -> int | None:
    """The worker's price for the job if it is eligible and can take it now (a free slot, and
    unbonded stake for the slash), else None."""
    price = price_if_eligible(p, slot, number, account, worker, job)
    if price is None or worker.active >= worker.capacity:
        return None
    if worker.stake - worker.bonded < p.slash_for(payment_for(job.cost_units, price)):
        return None
    return price
