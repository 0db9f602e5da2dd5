"""The market against rational adversaries: each attack driven through the runtime as it was
first found, with the attacker's profit measured from balances and shown to be negative.

- Penalty farming: a requester submits a job no worker can do (a deadline of one block, inputs
  nobody serves) and collects the deadline penalties of the workers matched to it.
- Expiring worker: a cheap worker takes a job again and again and lets it expire, so that the
  honest worker never gets it.
- Starvation: waiting jobs that no one takes keep later jobs from being matched, or fill the
  queue.
- Front-running: an ask raised in the block of a submission, before it; dust jobs paying less
  than a commitment's fee.
- Declining: a worker gives a job back within the decline window, for a small penalty (see
  `test_market_sybils` for sybil workers that decline every job).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import pytest

from chain.client.blob_info import MAX_BLOB_BYTES
from runtime.accounts import TREASURY
from runtime.pallets.market import (
    DEFAULT_MARKET_PARAMS,
    MATCHES_PER_BLOCK,
    MAX_EXCLUDED,
    MAX_PENDING_JOBS,
    MAX_PENDING_PER_REQUESTER,
    PPM,
    WAIT_RENT_GROWTH,
)
from runtime.pallets.market.eligibility import blocks_needed
from runtime.workloads import GOP, MAX_RESULT_BYTES, payment_for, workload_shape
from tests.runtime.pallets.market_helpers import (
    CHALLENGER,
    GEMM,
    GEMM_UNITS,
    OUTSIDER,
    REQUESTER,
    REQUESTER2,
    SLOT_MS,
    STAKE,
    UNIT,
    VALIDATORS,
    WORKER,
    WORKER2,
    WORKER3,
    MarketChain,
    hook_events,
    keypair_of,
    market_chain,
)

P = DEFAULT_MARKET_PARAMS
W, W2, W3 = WORKER.public, WORKER2.public, WORKER3.public
UNSERVED = (b"\xde" * 32, b"\xad" * 32)
"""Input roots that no node serves: no worker can fetch them."""
PENALTY = P.slash_for(UNIT) * P.miss_penalty_ppm // PPM
"""A missed deadline's penalty on a GEMM job at one unit per 10^9 cost units."""


@pytest.fixture
def chain() -> Iterator[MarketChain]:
    made = market_chain()
    yield made
    assert made.problems() == []


def _three_workers(chain: MarketChain) -> None:
    """Three 100-XPL workers asking one unit per 10^9 cost units, as in the farming exploit."""
    for who in (WORKER, WORKER2, WORKER3):
        assert chain.register(who).error is None


# 1. Penalty farming


def test_farming_with_a_one_block_deadline_is_refused(chain: MarketChain) -> None:
    """The exploit: one submission with `deadline_blocks=1` and a long wait; every worker
    matched to it misses, each miss paid the requester 10% of the slash and the job was matched
    again at once. No worker meets a one-block deadline, so the job is refused at submission:
    the requester's profit is minus its fee."""
    _three_workers(chain)
    assert blocks_needed(P, SLOT_MS, GEMM_UNITS, 50) == 6  # 3 to decline, 1 to compute, 2 more
    before = chain.total(REQUESTER)
    out = chain.submit(deadline=1, wait=60)
    chain.advance(60)
    profit = chain.total(REQUESTER) - before
    assert profit < 0, profit
    assert out.error == "NoEligibleWorker" and profit == -out.fee
    for who in (WORKER, WORKER2, WORKER3):
        assert chain.held(who, "stake") == STAKE


def test_farming_with_inputs_nobody_serves_pays_the_treasury_not_the_requester(
    chain: MarketChain,
) -> None:
    """The same farm with a deadline workers can meet but inputs nobody serves, against workers
    that neither do nor decline the job: every miss is paid to the treasury and the worker that
    missed is never matched to the job again. After three misses no worker is left: the job
    expires. The requester's profit is minus its fee; each lazy worker lost one penalty."""
    _three_workers(chain)
    before = chain.total(REQUESTER)
    out = chain.submit(roots=UNSERVED, deadline=6, wait=60)
    assert out.error is None
    treasury = chain.total(TREASURY)  # from here on, blocks carry no fees
    results = chain.advance(60)
    missed = [e for r in results for e in hook_events(r, "market") if e[0] == "DeadlineMissed"]
    profit = chain.total(REQUESTER) - before
    assert profit < 0, profit
    assert len(missed) == 3 and {e[1][1] for e in missed} == {W, W2, W3}
    assert chain.job(1).state == "expired" and chain.held(REQUESTER, "escrow") == 0
    assert profit == -out.fee < 0
    assert chain.total(TREASURY) - treasury == 3 * PENALTY
    for who in (WORKER, WORKER2, WORKER3):
        assert chain.held(who, "stake") == STAKE - PENALTY


def test_workers_decline_what_they_cannot_do_for_a_small_penalty(chain: MarketChain) -> None:
    """Workers that cannot fetch a job's inputs decline it within the window. The first loses
    `decline_penalty_ppm` of the job's slash from its stake (to the treasury) and the declining
    transaction's fee, and is matched after the others for DECLINE_COOLDOWN blocks (its
    reputation unchanged: the requester could have forced the decline); the job is offered to the
    next worker in the same block, so it never waits. A second decline expires it with its escrow
    refunded and costs that worker only its fee: no penalty, no cooldown (the job, not the
    workers, is the likely problem). The requester is out its fee only."""
    _three_workers(chain)
    before = chain.total(REQUESTER)
    treasury = chain.total(TREASURY)
    out = chain.submit(roots=UNSERVED, deadline=6, wait=60)
    fees = 0
    penalty = chain.job(1).slash * DEFAULT_MARKET_PARAMS.decline_penalty_ppm // PPM
    assert penalty >= DEFAULT_MARKET_PARAMS.min_slash // 200
    decliners = []
    for turn in range(2):
        job = chain.job(1)
        assert job.state == "matched" and job.worker is not None
        assert len(job.excluded) == turn
        decline = chain.call(keypair_of(job.worker), "market", "decline_job", 1, chain.digest(1))
        assert decline.error is None
        assert ("JobDeclined", (1, job.worker, penalty if turn == 0 else 0)) in decline.events
        fees += decline.fee
        decliners.append(job.worker)
        after = chain.job(1)  # offered at once to a worker that has not declined it
        if turn == 0:
            assert after.state == "matched" and after.matched_at == chain.head.number
            assert after.worker not in after.excluded
    assert chain.job(1).state == "expired" and list(chain.job(1).excluded) == decliners
    assert [m.outcome for m in chain.job(1).past_matches] == ["declined"] * 2
    assert chain.total(REQUESTER) - before == -out.fee  # no rent: it never waited
    for who, lost, cooled in zip(decliners, (penalty, 0), (True, False), strict=True):
        assert chain.held(who, "stake") == STAKE - lost
        worker = chain.worker(who)
        assert worker is not None
        assert (worker.reputation, worker.active, worker.bonded) == (0, 0, 0)
        assert worker.stake == STAKE - lost and (worker.declined_at > 0) == cooled
    assert chain.total(TREASURY) - treasury >= penalty
    assert fees > 0


def test_a_job_given_back_by_max_excluded_workers_expires(chain: MarketChain) -> None:
    """A job remembers at most MAX_EXCLUDED workers that gave it back (one decline, then
    misses): the one that fills the list ends it, with its escrow refunded, though a worker that
    could take it is left."""
    workers = (WORKER, WORKER2, WORKER3, REQUESTER2, CHALLENGER, OUTSIDER, *VALIDATORS)
    assert len(workers) > MAX_EXCLUDED
    for who in workers:
        assert chain.register(who).error is None
    chain.submit(deadline=20, wait=200)
    job = chain.job(1)
    assert job.worker is not None
    assert (
        chain.call(keypair_of(job.worker), "market", "decline_job", 1, chain.digest(1)).error
        is None
    )
    for turn in range(1, MAX_EXCLUDED):
        job = chain.job(1)
        assert job.state == "matched" and job.worker is not None, turn
        chain.advance_to(job.commit_by + 1)
    job = chain.job(1)
    assert job.state == "expired" and len(job.excluded) == MAX_EXCLUDED
    assert [m.outcome for m in job.past_matches] == ["declined"] + ["missed"] * (MAX_EXCLUDED - 1)
    assert chain.held(REQUESTER, "escrow") == 0


def test_decline_refusals(chain: MarketChain) -> None:
    _three_workers(chain)
    chain.submit(deadline=20, wait=30)
    job = chain.job(1)
    assert job.worker is not None
    others = [k for k in (WORKER, WORKER2, WORKER3) if k.public != job.worker]
    assert chain.call(others[0], "market", "decline_job", 1, chain.digest(1)).error == "NotYourJob"
    assert chain.call(others[0], "market", "decline_job", 2, chain.digest(2)).error == "UnknownJob"
    chain.advance_to(job.matched_at + P.decline_blocks)
    # Past the decline window the worker must commit or miss.
    worker = keypair_of(job.worker)
    assert (
        chain.call(worker, "market", "decline_job", 1, chain.digest(1)).error
        == "DeclineWindowClosed"
    )
    assert chain.job(1).worker == job.worker


def test_a_result_larger_than_a_node_stores_is_refused(chain: MarketChain) -> None:
    """A result is uploaded as one blob: a job whose result a node would not store cannot be
    committed, so it is refused at submission."""
    assert MAX_RESULT_BYTES <= MAX_BLOB_BYTES
    params = [65_536, 1, 2048, 1024]  # 64 leaves of 8 MiB: 512 MiB
    with pytest.raises(ValueError, match="over the limit"):
        workload_shape(GEMM, params)
    _three_workers(chain)
    assert chain.submit(params=params, deadline=100).error == "BadJob"


# 8. An expiring worker


def test_an_expiring_worker_holds_a_job_once_and_pays_the_treasury(chain: MarketChain) -> None:
    """The exploit: a worker asking far less than the others took one job ten times and let it
    expire each time, so the honest worker never got it. Now the worker that missed is never
    matched to that job again: the honest worker gets it after the first miss, and the cheap
    worker's profit is minus one penalty."""
    chain.register(WORKER3, prices=[UNIT // 100])  # the cheap, expiring worker
    chain.register(WORKER, prices=[UNIT])
    before = chain.total(WORKER3)
    chain.submit(max_price=UNIT, deadline=6, wait=100)
    assert chain.job(1).worker == W3
    penalty = chain.job(1).slash * P.miss_penalty_ppm // PPM
    chain.advance_to(chain.job(1).commit_by + 1)
    assert chain.job(1).worker == W, "the expiring worker holds the job again"
    assert chain.job(1).excluded == (W3,)
    profit = chain.total(WORKER3) - before
    assert profit == -penalty < 0


def test_a_bad_reputation_gates_matching(chain: MarketChain) -> None:
    """A cheap worker that misses job after job (-2 each) falls below min_match_reputation and
    is matched to no job any more, however low its ask."""
    chain.register(WORKER3, prices=[UNIT // 100], capacity=8)
    misses = -(P.min_match_reputation - 1) // 2 + 1  # 4 misses: -8 < -6
    for _ in range(misses):
        chain.submit(max_price=UNIT, deadline=6, wait=2)
        job_id = max(chain.jobs())
        assert chain.job(job_id).worker == W3
        chain.advance_to(chain.job(job_id).commit_by + 1)
    cheap = chain.worker(WORKER3)
    assert cheap is not None and cheap.reputation == -2 * misses < P.min_match_reputation
    assert chain.submit(max_price=UNIT, deadline=6, wait=2).error == "NoEligibleWorker"
    chain.register(WORKER, prices=[UNIT], capacity=8)
    chain.submit(max_price=UNIT, deadline=6, wait=2)
    assert chain.job(max(chain.jobs())).worker == W


def test_a_worker_in_good_standing_is_matched_before_a_cheaper_one_that_is_not(
    chain: MarketChain,
) -> None:
    """A worker whose reputation is negative (it missed or declined more jobs than it settled)
    takes a job only when no worker in good standing can, whatever its ask."""
    chain.register(WORKER3, prices=[UNIT // 100], capacity=8)
    chain.register(WORKER, prices=[UNIT], capacity=1)
    chain.submit(max_price=UNIT, deadline=6, wait=20)
    assert chain.job(1).worker == W3  # both in good standing: the cheaper
    chain.advance_to(chain.job(1).commit_by + 1)  # a miss: -2
    assert chain.job(1).worker == W  # given back, matched again in good standing
    chain.submit(max_price=UNIT, deadline=6, wait=20)
    assert chain.job(2).worker == W3  # the worker in good standing is busy


# 7. Starvation


def test_waiting_jobs_do_not_keep_later_jobs_from_being_matched(chain: MarketChain) -> None:
    """The exploit: jobs no one takes at the head of the queue, and each block tried only the
    32 oldest, so a later job was never tried again. Now each block starts where the last one
    stopped: a later job is matched within ceil(waiting / 32) blocks of a worker freeing up."""
    chain.register(WORKER, capacity=1)  # asks one unit: the only worker for the jam
    chain.register(WORKER2, prices=[2 * UNIT], capacity=1)
    chain.submit(REQUESTER2, max_price=2 * UNIT, deadline=500, wait=500)
    chain.submit(REQUESTER2, max_price=2 * UNIT, deadline=500, wait=500)
    assert {chain.job(1).worker, chain.job(2).worker} == {W, W2}  # both busy
    jam = 40
    for i in range(jam):  # at the cap, from three accounts
        who = (REQUESTER2, OUTSIDER, CHALLENGER)[i // MAX_PENDING_PER_REQUESTER]
        assert chain.submit(who, max_price=UNIT, deadline=500, wait=500).error is None
    before = chain.total(REQUESTER)
    out = chain.submit(REQUESTER, max_price=2 * UNIT, deadline=500, wait=500)
    honest = max(chain.jobs())
    assert out.error is None and chain.job(honest).state == "pending"
    # WORKER2 takes a second job: the honest one is tried within the next blocks.
    chain.call(WORKER2, "market", "update_worker", [GEMM], [2 * UNIT], 2, 0)
    rounds = -(-(jam + 1) // MATCHES_PER_BLOCK)
    chain.advance(rounds)
    assert chain.job(honest).worker == W2
    # Its escrow is still its own; it paid the rent of its wait, at the queue it found.
    rent = P.wait_rent * (MAX_PENDING_JOBS + WAIT_RENT_GROWTH * jam) // MAX_PENDING_JOBS
    waited = chain.job(honest).matched_at - chain.job(honest).submitted_at
    assert chain.total(REQUESTER) - before == -out.fee - rent * waited


def test_a_requester_cannot_fill_the_queue(chain: MarketChain) -> None:
    chain.register(WORKER, capacity=1)
    chain.submit(REQUESTER2, deadline=500, wait=500)  # the only worker is busy
    for _ in range(MAX_PENDING_PER_REQUESTER):
        assert chain.submit(deadline=500, wait=500).error is None
    before = chain.total(REQUESTER)
    out = chain.submit(deadline=500, wait=500)
    assert out.error == "TooManyPendingOfRequester"
    assert chain.total(REQUESTER) == before - out.fee
    assert len(chain.pending()) == MAX_PENDING_PER_REQUESTER


def test_a_job_no_worker_could_take_is_refused(chain: MarketChain) -> None:
    """Each of the exploit's unmatchable jobs is refused: below every ask, beyond every stake,
    or too fast for every throughput."""
    chain.register(WORKER, prices=[UNIT], throughput=[50])
    for kwargs in (
        {"max_price": UNIT // 2},  # below the only ask
        {"params": [2048, 4096, 4096, 1], "max_price": UNIT},  # a slash of 206 XPL > 100
        {"deadline": 5},  # one block short of what 50 GOP/s needs
    ):
        out = chain.submit(**kwargs)  # type: ignore[arg-type]
        assert out.error == "NoEligibleWorker", kwargs
    assert chain.held(REQUESTER, "escrow") == 0 and chain.jobs() == {}


def test_a_slower_worker_is_not_matched_to_a_tighter_job(chain: MarketChain) -> None:
    """Deadlines follow from the registered throughput: the cheaper worker at 1 GOP/s needs more
    blocks than the job allows, so the faster one takes it at its higher ask."""
    params = [1000, 5000, 6000, 2]  # 6 * 10^10 cost units
    units = workload_shape(GEMM, params).cost_units
    chain.register(WORKER, prices=[UNIT // 10], throughput=[1])
    chain.register(WORKER2, prices=[UNIT // 5], throughput=[100])
    slow = blocks_needed(P, SLOT_MS, units, 1)
    fast = blocks_needed(P, SLOT_MS, units, 100)
    assert (slow, fast) == (3 + 20 + 2, 3 + 1 + 2)
    assert slow is not None
    chain.submit(params=params, max_price=UNIT, deadline=slow - 1)
    assert chain.job(1).worker == W2
    chain.submit(params=params, max_price=UNIT, deadline=slow)
    assert chain.job(2).worker == W


# 9. Front-running and dust


def test_an_ask_raised_before_a_submission_does_not_apply_to_it(chain: MarketChain) -> None:
    """The exploit: an update raising the ask to the requester's cap, placed before the
    submission in the same block. A raise is in force only ask_delay blocks later: the job pays
    the ask in force when it was submitted, and the worker gains nothing by the raise."""
    chain.register(WORKER, prices=[UNIT])
    cap = 20 * UNIT
    update, submit = chain.calls(
        (WORKER, "market", "update_worker", ([GEMM], [cap], 2, 0)),
        (
            REQUESTER,
            "market",
            "submit_job",
            (GEMM, [1000, 500, 1000, 100], ["a", "b"], [b"", b""], 7, cap, 10, 10, "always"),
        ),
    )
    assert update.error is None and submit.error is None
    job = chain.job(1)
    gained = job.payment - payment_for(GEMM_UNITS, UNIT)
    assert job.price == UNIT and gained == 0
    # Once in force, the raise applies to jobs submitted after it, as announced.
    chain.advance_to(chain.head.number - 1 + P.ask_delay)
    assert chain.submit(max_price=cap).error is None
    assert chain.job(2).price == cap


def test_a_worker_is_paid_at_least_the_least_payment(chain: MarketChain) -> None:
    """The exploit: a dust job paid its worker one unit while committing costs the worker a fee
    2.4 * 10^9 times that. A job whose highest payment is below min_payment is refused, and a
    worker is paid at least min_payment, which covers its commitment's fee."""
    params = [64, 64, 64, 16]  # 524,288 cost units
    units = workload_shape(GEMM, params).cost_units
    chain.register(WORKER, prices=[1])
    assert payment_for(units, UNIT) < P.min_payment
    assert chain.submit(params=params, max_price=UNIT).error == "PriceTooLow"
    assert chain.submit(params=params, max_price=20 * UNIT).error is None
    job = chain.job(1)
    assert job.payment >= P.min_payment and job.price == -(-P.min_payment * GOP // units)
    commit = chain.commit(WORKER, 1, leaves=job.leaves)
    assert commit.error is None
    assert job.payment - commit.fee > 0


def test_min_payment_is_a_parameter() -> None:
    chain = market_chain(replace(P, min_payment=10 * UNIT))
    chain.register(WORKER)  # asks one unit per 10^9 cost units
    assert chain.submit(max_price=2 * UNIT).error == "PriceTooLow"
    assert chain.submit(max_price=20 * UNIT).error is None
    assert chain.job(1).payment == 10 * UNIT
