"""A job whose worker goes away is offered at once to the next worker, with its wait for a worker
not consumed by the time it spent matched; and what sybil workers pay to catch and miss a job.

The scenario as it was found: a job matched to a worker that then went away waited for the
missed deadline and then expired at once, because its wait, counted from its submission, had
passed, while another idle worker with a matching ask was registered: the job never ran. Each
test here drives that through the runtime and measures balances before and after.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from runtime.accounts import TREASURY
from runtime.framework import WEIGHT_PER_MICROS
from runtime.pallets.market import (
    DEFAULT_MARKET_PARAMS,
    MAX_EXCLUDED,
    MAX_WORKERS,
    PPM,
    REOFFERS_PER_BLOCK,
    MarketParams,
    PastMatch,
)
from runtime.pallets.market.constants import (
    DEADLINE_WEIGHT,
    DEADLINES_PER_BLOCK,
    MATCHES_PER_BLOCK,
    PASS_WEIGHT,
    WORKER_CHECK_WEIGHT,
)
from runtime.pallets.market.deadlines import hook_weight
from runtime.pallets.system import MAX_BLOCK_WEIGHT
from runtime.primitives.keys import Keypair, dev_keypair
from tests.runtime.pallets.market_helpers import (
    ACCOUNTS,
    AUTHOR,
    ENDOWMENT,
    REQUESTER,
    REQUESTER2,
    STAKE,
    UNIT,
    WORKER,
    WORKER2,
    WORKER3,
    MarketChain,
    escrow_for,
    hook_events,
    market_chain,
    market_config,
)

P = DEFAULT_MARKET_PARAMS
W, W2, W3 = WORKER.public, WORKER2.public, WORKER3.public
DEADLINE = 6
"""The shortest deadline a worker of the tests' throughput meets (decline window, work, margin)."""
WAIT = 2
"""A wait for a worker shorter than the deadline: it is over before a first worker misses."""
CHEAP = UNIT // 2
"""The ask of the worker that goes away (the cheapest, so it takes the job first)."""


def _miss_penalty(price: int) -> int:
    """A missed deadline's penalty on the tests' GEMM job (10^9 cost units) at `price`."""
    return P.slash_for(price) * P.miss_penalty_ppm // PPM


def _settle(chain: MarketChain, job_id: int) -> None:
    """Run the committed job's audit with an honest committee (WORKER responds) and author
    blocks to the end of its dispute window."""
    committed_at = chain.job(job_id).committed_at
    chain.advance_to(chain.audit_roll_at(job_id))
    plan = [(m, "honest") for m in chain.checks(job_id)[0].committee]
    chain.run_check(job_id, 0, plan)
    chain.advance_to(committed_at + chain.compute_params().dispute_window)


def test_a_job_whose_worker_went_away_runs_on_an_idle_worker_and_settles() -> None:
    """The scenario: WORKER2 (the cheapest) takes the job and goes away; WORKER is idle with a
    matching ask. At the missed deadline WORKER2 pays its penalty (to the treasury), and in the
    same block the job is matched to WORKER with a full commit window, though the requester's
    two-block wait had long passed: that wait is extended by the blocks the job spent matched.
    The requester is not refunded early; WORKER commits and the job settles. (Before, it
    expired at the miss and never ran.)"""
    chain = market_chain()
    chain.register(WORKER2, prices=[CHEAP])
    chain.register(WORKER, prices=[UNIT])
    requester, treasury = chain.total(REQUESTER), chain.total(TREASURY)
    out = chain.submit(deadline=DEADLINE, wait=WAIT, max_price=2 * UNIT)
    first = chain.job(1)
    assert first.worker == W2 and first.expires_at < first.commit_by
    result = chain.advance_to(first.commit_by + 1)
    number = chain.head.number
    penalty = _miss_penalty(CHEAP)
    assert hook_events(result, "market") == [
        ("DeadlineMissed", (1, W2, penalty)),
        ("JobMatched", (1, W, UNIT, number + DEADLINE)),
    ]
    job = chain.job(1)
    assert (job.state, job.worker, job.matched_at) == ("matched", W, number)
    assert job.commit_by == number + job.deadline_blocks  # a full commit window
    # Its wait is not consumed by the blocks it spent matched to the worker that went away.
    assert job.expires_at == first.expires_at + (number - first.matched_at)
    assert job.expires_at - job.submitted_at - (number - first.matched_at) == WAIT
    assert job.past_matches == (
        PastMatch(W2, first.matched_at, first.commit_by, number, "missed", penalty),
    )
    # Not refunded early, and charged nothing for the re-offer (it never waited).
    assert chain.held(REQUESTER, "escrow") == escrow_for(2 * UNIT)
    assert chain.total(REQUESTER) == requester - out.fee
    assert chain.held(WORKER2, "stake") == STAKE - penalty
    assert chain.total(TREASURY) - treasury >= penalty

    assert chain.commit(WORKER, 1).error is None
    _settle(chain, 1)
    assert chain.job(1).state == "settled"
    assert chain.held(REQUESTER, "escrow") == 0 and chain.problems() == []
    worker = chain.worker(WORKER)
    assert worker is not None and (worker.reputation, worker.active, worker.bonded) == (1, 0, 0)
    assert chain.job(1).past_matches[0].worker == W2  # the history outlives the job


def _busy_worker(chain: MarketChain) -> int:
    """WORKER (capacity 1) takes a job of REQUESTER2's with a long deadline; its id."""
    chain.register(WORKER, prices=[UNIT], capacity=1)
    out = chain.submit(REQUESTER2, deadline=200, wait=5, max_price=UNIT)
    job_id = int(out.events[1][1][0])
    assert chain.job(job_id).worker == W
    return job_id


def test_a_job_given_back_with_no_free_worker_waits_its_whole_wait_and_no_more() -> None:
    """When no other worker is free at the miss, the job waits again, holding the rent of the
    rest of its extended wait, and expires when the blocks it spent waiting reach its wait:
    the requester pays its fee and the rent of exactly `wait` blocks, as if it had never been
    matched."""
    chain = market_chain()
    _busy_worker(chain)
    chain.register(WORKER2, prices=[CHEAP])
    before = chain.total(REQUESTER)
    out = chain.submit(deadline=DEADLINE, wait=WAIT, max_price=2 * UNIT)
    job = chain.job(2)
    assert job.worker == W2
    chain.advance_to(job.commit_by + 1)
    missed_at = chain.head.number
    waiting = chain.job(2)
    assert waiting.state == "pending" and 2 in chain.pending()
    assert waiting.expires_at == missed_at + WAIT
    assert chain.held(REQUESTER, "escrow") == escrow_for(2 * UNIT) + WAIT * P.wait_rent
    chain.advance_to(waiting.expires_at)
    assert chain.job(2).state == "expired" and chain.held(REQUESTER, "escrow") == 0
    assert chain.total(REQUESTER) == before - out.fee - WAIT * P.wait_rent


def test_a_job_waiting_after_a_miss_is_matched_when_a_worker_frees_past_its_first_wait() -> None:
    """The job waiting after the miss is matched as soon as a worker has a free slot, though
    its first wait ended long before; it pays the rent of the blocks it waited."""
    chain = market_chain()
    _busy_worker(chain)
    chain.register(WORKER2, prices=[CHEAP])
    before = chain.total(REQUESTER)
    out = chain.submit(deadline=DEADLINE, wait=DEADLINE - 1, max_price=2 * UNIT)
    first_expiry = chain.job(2).expires_at
    chain.advance_to(chain.job(2).commit_by + 1)
    missed_at = chain.head.number
    assert missed_at > first_expiry and chain.job(2).state == "pending"
    assert chain.call(WORKER, "market", "update_worker", ["gemm_i8"], [UNIT], 2, 0).error is None
    chain.advance()
    job = chain.job(2)
    assert (job.state, job.worker, job.matched_at) == ("matched", W, missed_at + 2)
    assert chain.total(REQUESTER) == before - out.fee - 2 * P.wait_rent
    assert [m.worker for m in job.past_matches] == [W2]


def test_a_declined_job_is_offered_to_the_next_worker_in_the_same_block() -> None:
    chain = market_chain()
    chain.register(WORKER2, prices=[CHEAP])
    chain.register(WORKER, prices=[UNIT])
    chain.submit(deadline=DEADLINE, wait=WAIT, max_price=2 * UNIT)
    matched_at = chain.job(1).matched_at
    chain.advance()
    out = chain.call(WORKER2, "market", "decline_job", 1, chain.digest(1))
    assert out.error is None
    number = chain.head.number
    names = [name for name, _ in out.events if name in ("JobDeclined", "JobMatched")]
    assert names == ["JobDeclined", "JobMatched"]
    job = chain.job(1)
    assert (job.worker, job.commit_by) == (W, number + DEADLINE)
    assert job.expires_at == matched_at + WAIT + (number - matched_at)
    penalty = P.slash_for(CHEAP) * P.decline_penalty_ppm // PPM
    assert job.past_matches == (
        PastMatch(W2, matched_at, matched_at + DEADLINE, number, "declined", penalty),
    )


# Sybil workers that catch a job and miss it


def _sybil_chain(count: int) -> tuple[MarketChain, list[Keypair]]:
    """WORKER honest at UNIT, and `count` sybil workers of one attacker asking less (fresh, in
    good standing, one slot each)."""
    sybils = [dev_keypair(f"Catcher{i}") for i in range(count)]
    endowed = [(k.public, ENDOWMENT) for k in (*ACCOUNTS, *sybils)]
    chain = MarketChain(market_config(endowed=endowed), AUTHOR)
    chain.register(WORKER, prices=[UNIT])
    for sybil in sybils:
        assert chain.register(sybil, prices=[CHEAP], capacity=1).error is None
    return chain, sybils


def _run_catch_and_miss(count: int) -> tuple[MarketChain, list[Keypair], int, int, int]:
    """The attack: `count` sybils take the job in turn and let each deadline pass. Returns
    (chain, sybils, the attacker's cost, the requester's cost, the block the job left the
    sybils: expired, or matched to the honest worker)."""
    chain, sybils = _sybil_chain(count)
    start = {s.public: chain.total(s) for s in sybils}
    requester = chain.total(REQUESTER)
    chain.submit(deadline=DEADLINE, wait=WAIT, max_price=2 * UNIT)
    attacker = {s.public for s in sybils}
    for _ in range(count + 1):
        job = chain.job(1)
        if job.state != "matched" or job.worker not in attacker:
            break
        chain.advance_to(job.commit_by + 1)  # the sybil lets its deadline pass
    cost = sum(start[k] - chain.total(k) for k in start)
    assert chain.problems() == []
    return chain, sybils, cost, requester - chain.total(REQUESTER), chain.head.number


def test_sybils_that_catch_and_miss_a_job_pay_a_penalty_each_and_it_still_runs() -> None:
    """`max_reoffers` sybils asking less than the honest worker take the job one after the
    other and miss it: each miss costs its sybil the penalty (from its stake, to the treasury)
    and then the job runs on the honest worker. The requester pays nothing for the re-offers
    (its fee only, no rent: the job never waited). The attacker is paid nothing, so its profit
    is minus its penalties. (Before, the first miss expired the job: one penalty killed it.)"""
    count = P.max_reoffers
    chain, sybils, cost, requester_cost, _ = _run_catch_and_miss(count)
    job = chain.job(1)
    assert (job.state, job.worker) == ("matched", W)
    assert sorted(m.worker for m in job.past_matches) == sorted(s.public for s in sybils)
    assert all(m.outcome == "missed" for m in job.past_matches)
    penalty = _miss_penalty(CHEAP)
    for sybil in sybils:
        assert chain.held(sybil, "stake") == STAKE - penalty  # each miss paid in full
        worker = chain.worker(sybil)
        assert worker is not None and worker.reputation == -2
    assert [m.penalty for m in job.past_matches] == [penalty] * count
    profit = -cost
    print(f"\n[catch and miss] {count} sybils paid {cost / UNIT:.2f} XPL; the job runs")
    assert profit < 0 and cost >= count * penalty
    fee = requester_cost
    assert chain.held(REQUESTER, "escrow") == escrow_for(2 * UNIT) and fee < UNIT // 100
    assert chain.commit(WORKER, 1).error is None


def test_enough_sybils_to_exhaust_the_reoffers_only_get_the_job_refunded_within_a_bound() -> None:
    """`max_reoffers` + 1 sybils catch and miss the job every time it is offered: the last miss
    expires it with its escrow refunded, no later than (`max_reoffers` + 1)·(deadline + 1)
    blocks after its wait; the attacker paid `max_reoffers` + 1 penalties for a job nobody was
    paid for, the requester only its fee."""
    count = P.max_reoffers + 1
    chain, _, cost, requester_cost, ended = _run_catch_and_miss(count)
    job = chain.job(1)
    assert job.state == "expired" and len(job.past_matches) == count
    assert job.expires_at == ended <= job.submitted_at + WAIT + count * (DEADLINE + 1)
    assert chain.held(REQUESTER, "escrow") == 0 and chain.worker(WORKER) is not None
    penalty = _miss_penalty(CHEAP)
    print(
        f"\n[catch and miss] {count} sybils paid {cost / UNIT:.2f} XPL to keep one job from "
        f"running {ended - job.submitted_at} blocks; the requester lost its fee, "
        f"{requester_cost / UNIT:.4f} XPL"
    )
    assert -cost < 0 and cost >= count * penalty > 100 * requester_cost


def test_max_reoffers_bounds_the_give_backs() -> None:
    """With `max_reoffers` 1 the second give-back expires the job, though a worker is left."""
    chain = market_chain(replace(P, max_reoffers=1))
    chain.register(WORKER2, prices=[CHEAP])
    chain.register(WORKER3, prices=[CHEAP + 1])
    chain.register(WORKER, prices=[UNIT])
    chain.submit(deadline=DEADLINE, wait=WAIT, max_price=2 * UNIT)
    assert chain.job(1).worker == W2
    chain.advance_to(chain.job(1).commit_by + 1)
    assert chain.job(1).worker == W3
    chain.advance_to(chain.job(1).commit_by + 1)
    job = chain.job(1)
    assert job.state == "expired" and [m.worker for m in job.past_matches] == [W2, W3]
    assert chain.problems() == []


def test_max_reoffers_stays_below_what_a_job_remembers() -> None:
    with pytest.raises(ValueError, match="max_reoffers"):
        MarketParams(max_reoffers=MAX_EXCLUDED).check()
    MarketParams(max_reoffers=MAX_EXCLUDED - 1).check()


def test_a_block_offers_at_most_reoffers_per_block_missed_jobs_at_once() -> None:
    """Misses timed to fall in one block: the hook offers REOFFERS_PER_BLOCK of them at once
    (a pass over the workers each); the others wait in the queue (holding their rent deposit)
    and the same block's matching takes them in turn, so every job is matched again there."""
    count = REOFFERS_PER_BLOCK + 8
    chain = market_chain()
    chain.register(WORKER2, prices=[CHEAP], capacity=64)
    chain.register(WORKER, prices=[UNIT], capacity=64, stake=2 * count * STAKE // 10)
    job = ("gemm_i8", [1000, 500, 1000, 100], ["a", "b"], [b"", b""], 7, 2 * UNIT, DEADLINE, WAIT)
    outs = chain.calls(*[(REQUESTER, "market", "submit_job", (*job, "sampled"))] * count)
    assert all(o.error is None for o in outs)
    jobs = chain.jobs()
    assert len(jobs) == count and {j.worker for j in jobs.values()} == {W2}
    result = chain.advance_to(jobs[1].commit_by + 1)
    events = hook_events(result, "market", "balances")
    assert sum(name == "DeadlineMissed" for name, _ in events) == count
    deposits = [args for name, args in events if name == "Held" and args[1] == "escrow"]
    assert len(deposits) == count - REOFFERS_PER_BLOCK
    assert {j.worker for j in chain.jobs().values()} == {W} and chain.pending() == ()
    assert chain.held(REQUESTER, "escrow") == count * escrow_for(2 * UNIT)
    assert chain.problems() == []


def test_misses_timed_into_one_block_are_carried_over_and_weighed() -> None:
    """Misses timed into one block (each job's deadline chosen so) made its hook run a pass over
    the workers for each (and up to 32 matches) while it declared no weight: at 16,384 misses
    (MAX_WORKERS workers, MAX_JOB_CAPACITY jobs each) seconds of hook no block weight accounted
    for. Now a block processes at most DEADLINES_PER_BLOCK of them, the rest in the next block
    in their order, and the hook declares each deadline and each pass as mandatory weight; at the
    bounds that is a fixed share of the block. The attacker still pays a miss penalty a job."""
    import time

    n_workers, n_jobs = 64, DEADLINES_PER_BLOCK + 16
    workers = [dev_keypair(f"W{i}") for i in range(n_workers)]
    sybil = dev_keypair("Syb")
    requesters = [dev_keypair(f"Req{i}") for i in range(4)]
    endowed = [(k.public, ENDOWMENT) for k in (*ACCOUNTS, *workers, sybil, *requesters)]
    chain = MarketChain(market_config(endowed=endowed), AUTHOR)
    ask = (STAKE, "rtx4090", 24_576, ["gemm_i8"], [UNIT], [50], "", 64)
    outs = chain.calls(*[(w, "market", "register_worker", ask) for w in workers])
    assert all(o.error is None for o in outs)
    assert chain.register(sybil, stake=500 * UNIT, prices=(UNIT // 2,), capacity=64).error is None
    job = ("gemm_i8", [1000, 500, 1000, 100], ["a", "b"], [b"", b""], 7, 2 * UNIT, 20, 100)
    outs = chain.calls(
        *[(requesters[i % 4], "market", "submit_job", (*job, "sampled")) for i in range(n_jobs)]
    )
    ids = [int(o.events[1][1][0]) for o in outs]
    assert all(chain.job(j).worker == sybil.public for j in ids)
    sybil_before = chain.total(sybil)
    registered = n_workers + 1
    chain.advance_to(chain.job(ids[0]).commit_by)
    started = time.perf_counter()
    first = chain.advance(1)[0]
    first_s = time.perf_counter() - started
    second = chain.advance(1)[0]
    missed = [
        [args[0] for name, args in hook_events(b, "market") if name == "DeadlineMissed"]
        for b in (first, second)
    ]
    assert missed == [ids[:DEADLINES_PER_BLOCK], ids[DEADLINES_PER_BLOCK:]]  # carried, in order
    assert all(chain.job(j).past_matches[-1].outcome == "missed" for j in ids)
    assert all(chain.job(j).state == "matched" for j in ids)  # every one offered again
    # The hook declares each deadline and at least one pass over the workers for each miss.
    one_pass = PASS_WEIGHT + WORKER_CHECK_WEIGHT * registered
    least = DEADLINES_PER_BLOCK * (DEADLINE_WEIGHT + one_pass)
    assert first.context.mandatory_weight >= least
    assert second.context.mandatory_weight >= 16 * (DEADLINE_WEIGHT + one_pass)
    # At the bounds the hook's weight is a bounded share of the block.
    passes = 2 * REOFFERS_PER_BLOCK + DEADLINES_PER_BLOCK - REOFFERS_PER_BLOCK + MATCHES_PER_BLOCK
    worst = hook_weight(DEADLINES_PER_BLOCK, 0, passes, MAX_WORKERS)
    assert worst <= MAX_BLOCK_WEIGHT // 2
    cost = sybil_before - chain.total(sybil)
    assert cost >= n_jobs * _miss_penalty(UNIT // 2)
    print(
        f"\n[hook] {DEADLINES_PER_BLOCK} misses, {registered} workers: {first_s * 1e3:.1f} ms, "
        f"declared {first.context.mandatory_weight / WEIGHT_PER_MICROS / 1e3:.1f} ms; at the "
        f"bounds {worst / WEIGHT_PER_MICROS / 1e3:.0f} ms declared; the misses cost "
        f"{cost / UNIT:.1f} XPL"
    )
    assert chain.problems() == []
