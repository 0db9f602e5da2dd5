"""Market: workers and their stake, jobs and their escrow, matching, cancellation and deadlines.

Every call goes through a signed transaction in an authored block, as on a node; each test
asserts the balances, holds, events and job states the rules call for, and the pallets'
invariants at the end.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from runtime.accounts import TREASURY
from runtime.framework import BlockContext
from runtime.pallets import balances, market
from runtime.pallets.balances import EXISTENTIAL_DEPOSIT as ED
from runtime.pallets.market import (
    DEFAULT_MARKET_PARAMS,
    MAX_DEADLINE_BLOCKS,
    MAX_JOB_CAPACITY,
    MAX_WAIT_BLOCKS,
    PPM,
    Market,
)
from runtime.primitives.hashing import blake2b_256
from runtime.state import StateOverlay
from runtime.workloads import WorkloadError, payment_for, workload_shape
from tests.runtime.conftest import apply_changes, prefix_iterator
from tests.runtime.pallets.market_helpers import (
    GEMM,
    GEMM_LEAVES,
    GEMM_PARAMS,
    GEMM_UNITS,
    REQUESTER,
    REQUESTER2,
    ROOT_HASH,
    STAKE,
    UNIT,
    WORKER,
    WORKER2,
    WORKER3,
    MarketChain,
    escrow_for,
    hook_events,
    market_chain,
)

P = DEFAULT_MARKET_PARAMS
W, W2, W3 = WORKER.public, WORKER2.public, WORKER3.public
R, R2 = REQUESTER.public, REQUESTER2.public
SLASH = P.slash_for(UNIT)  # the slash of a GEMM job at a price of one unit
ESCROW = escrow_for(2 * UNIT)  # the escrow of a GEMM job at the default maximum price
RENT = P.wait_rent  # a block's rent of a job that found the queue empty


@pytest.fixture
def chain() -> Iterator[MarketChain]:
    made = market_chain()
    yield made
    assert made.problems() == []


# Workers


def test_register_worker_holds_the_stake_and_lists_the_worker(chain: MarketChain) -> None:
    before = chain.balance(WORKER)
    out = chain.register(WORKER, prices=[UNIT, 3 * UNIT], workloads=[GEMM, "sgd_fxp"])
    assert out.error is None
    assert out.events == [("Held", (W, "stake", STAKE)), ("WorkerRegistered", (W, STAKE))]
    assert chain.balance(WORKER) == before - out.fee - STAKE
    assert chain.held(WORKER, "stake") == STAKE
    worker = chain.worker(WORKER)
    assert worker is not None
    assert worker.stake == STAKE and worker.bonded == 0 and worker.active == 0
    assert worker.asks == ((GEMM, UNIT), ("sgd_fxp", 3 * UNIT))
    assert worker.throughput == ((GEMM, 50), ("sgd_fxp", 50))
    assert worker.capacity == 2 and worker.reputation == 0 and not worker.retiring
    assert chain.worker_list() == (W,)


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        pytest.param({"stake": P.min_stake - 1}, "StakeTooLow", id="stake-below-minimum"),
        pytest.param({"stake": 2_000 * UNIT}, "InsufficientBalance", id="stake-beyond-balance"),
        pytest.param({"workloads": ["matmul_f32"]}, "BadAsk", id="unknown-workload"),
        pytest.param(
            {"workloads": [GEMM, GEMM], "prices": [UNIT, UNIT]}, "BadAsk", id="workload-twice"
        ),
        pytest.param({"prices": [0]}, "BadAsk", id="zero-price"),
        pytest.param({"prices": [UNIT, UNIT]}, "BadAsk", id="more-prices-than-workloads"),
        pytest.param({"workloads": [], "prices": []}, "BadAsk", id="no-ask"),
        pytest.param({"throughput": [50, 60]}, "BadAsk", id="throughput-count"),
        pytest.param({"capacity": 0}, "BadWorkerInfo", id="no-capacity"),
        pytest.param({"capacity": MAX_JOB_CAPACITY + 1}, "BadWorkerInfo", id="capacity-too-big"),
        pytest.param({"device": ""}, "BadWorkerInfo", id="no-device"),
    ],
)
def test_register_worker_refusals_hold_nothing(
    chain: MarketChain, kwargs: dict[str, object], error: str
) -> None:
    before = chain.balance(WORKER)
    out = chain.register(WORKER, **kwargs)  # type: ignore[arg-type]
    assert out.error == error
    assert out.events == []
    assert chain.balance(WORKER) == before - out.fee
    assert chain.held(WORKER, "stake") == 0
    assert chain.worker(WORKER) is None and chain.worker_list() == ()


def test_register_worker_twice_is_refused(chain: MarketChain) -> None:
    chain.register(WORKER)
    out = chain.register(WORKER, stake=2 * STAKE)
    assert out.error == "AlreadyRegistered"
    assert chain.held(WORKER, "stake") == STAKE and chain.worker_list() == (W,)


def test_update_worker_changes_asks_and_capacity_and_adds_stake(chain: MarketChain) -> None:
    chain.register(WORKER, workloads=[GEMM, "sgd_fxp"], prices=[UNIT, UNIT], throughput=[70, 9])
    before = chain.balance(WORKER)
    out = chain.call(
        WORKER, "market", "update_worker", ["qmlp_i8", GEMM], [5, 2 * UNIT], 7, 3 * UNIT
    )
    in_force_at = chain.head.number + P.ask_delay
    assert out.error is None
    assert out.events == [
        ("Held", (W, "stake", 3 * UNIT)),
        ("AskRaised", (W, GEMM, 2 * UNIT, in_force_at)),
        ("WorkerUpdated", (W,)),
    ]
    assert chain.balance(WORKER) == before - out.fee - 3 * UNIT
    worker = chain.worker(WORKER)
    assert worker is not None
    # The new workload's price is in force at once; the raised one only ask_delay blocks later.
    assert worker.asks == (("qmlp_i8", 5), (GEMM, UNIT))
    assert worker.raised_asks == ((GEMM, 2 * UNIT),) and worker.raised_at == in_force_at
    assert worker.ask_at(GEMM, in_force_at - 1) == UNIT
    assert worker.asks_at(in_force_at) == (("qmlp_i8", 5), (GEMM, 2 * UNIT))
    assert worker.throughput == (("qmlp_i8", 0), (GEMM, 70))  # measured figures are kept
    assert worker.capacity == 7 and worker.stake == STAKE + 3 * UNIT
    assert chain.held(WORKER, "stake") == STAKE + 3 * UNIT


@pytest.mark.parametrize(
    ("args", "error"),
    [
        pytest.param(([GEMM], [UNIT], 2, 0), "NotAWorker", id="not-a-worker"),
        pytest.param((["bogus"], [UNIT], 2, 0), "BadAsk", id="unknown-workload"),
        pytest.param(([GEMM], [0], 2, 0), "BadAsk", id="zero-price"),
        pytest.param(([GEMM], [UNIT], 0, 0), "BadWorkerInfo", id="no-capacity"),
        pytest.param(([GEMM], [UNIT], 2, 10_000 * UNIT), "InsufficientBalance", id="stake"),
    ],
)
def test_update_worker_refusals_change_nothing(
    chain: MarketChain, args: tuple[object, ...], error: str
) -> None:
    if error != "NotAWorker":
        chain.register(WORKER)
    before = chain.worker(WORKER)
    out = chain.call(WORKER, "market", "update_worker", *args)
    assert out.error == error and out.events == []
    assert chain.worker(WORKER) == before


def test_retire_worker_without_jobs_releases_the_stake_at_once(chain: MarketChain) -> None:
    chain.register(WORKER)
    chain.register(WORKER2)
    before = chain.balance(WORKER)
    out = chain.call(WORKER, "market", "retire_worker")
    assert out.error is None
    assert out.events == [("Released", (W, "stake", STAKE)), ("WorkerRetired", (W, STAKE))]
    assert chain.balance(WORKER) == before - out.fee + STAKE
    assert chain.worker(WORKER) is None and chain.worker_list() == (W2,)
    assert chain.call(WORKER, "market", "retire_worker").error == "NotAWorker"
    # A retired worker may register again.
    assert chain.register(WORKER).error is None
    assert chain.worker_list() == (W2, W)


def test_retiring_with_an_active_job_keeps_the_stake_until_the_job_ends(
    chain: MarketChain,
) -> None:
    chain.register(WORKER)
    chain.submit(deadline=6, wait=2)  # job 1, matched to the only worker
    out = chain.call(WORKER, "market", "retire_worker")
    assert out.error is None and out.events == []
    worker = chain.worker(WORKER)
    assert worker is not None and worker.retiring and worker.active == 1
    assert chain.held(WORKER, "stake") == STAKE
    # A retiring worker takes no new job: with no other worker, a job is refused.
    assert chain.submit(REQUESTER2, wait=1).error == "NoEligibleWorker"
    # The worker misses its deadline: it pays the penalty, and only then is its stake released.
    commit_by = chain.job(1).commit_by
    penalty = SLASH * P.miss_penalty_ppm // PPM
    result = chain.advance_to(commit_by + 1)
    assert hook_events(result, "market") == [
        ("WorkerRetired", (W, STAKE - penalty)),
        ("DeadlineMissed", (1, W, penalty)),
        ("JobExpired", (1, ESCROW)),
    ]
    assert chain.worker(WORKER) is None and chain.held(WORKER, "stake") == 0


# Submitting jobs


def test_submit_job_holds_the_escrow_and_matches_at_once(chain: MarketChain) -> None:
    chain.register(WORKER)
    before = chain.balance(REQUESTER)
    out = chain.submit(max_price=2 * UNIT, deadline=6, wait=4)
    number = chain.head.number
    max_payment = 2 * UNIT
    protocol, verification = max_payment * 20_000 // PPM, max_payment * 50_000 // PPM
    assert ESCROW == max_payment + protocol + verification == 2_140_000_000_000
    assert out.error is None
    assert out.events == [
        ("Held", (R, "escrow", ESCROW)),
        ("JobSubmitted", (1, R, GEMM, GEMM_UNITS, ESCROW)),
        ("JobMatched", (1, W, UNIT, number + 6)),
    ]
    assert chain.balance(REQUESTER) == before - out.fee - ESCROW
    assert chain.held(REQUESTER, "escrow") == ESCROW
    job = chain.job(1)
    assert (job.state, job.worker, job.price, job.slash) == ("matched", W, UNIT, 3 * UNIT)
    assert (job.matched_at, job.commit_by, job.expires_at) == (number, number + 6, number + 4)
    assert (job.cost_units, job.leaves, job.escrow) == (GEMM_UNITS, GEMM_LEAVES, ESCROW)
    worker = chain.worker(WORKER)
    assert worker is not None and (worker.active, worker.bonded) == (1, 3 * UNIT)
    assert chain.pending() == ()


@pytest.mark.parametrize(
    ("workload", "params", "named"),
    [
        pytest.param(GEMM, [0, 500, 1000, 100], "m", id="gemm-m-zero"),
        pytest.param(GEMM, [1000, 131_072, 1000, 100], "k", id="gemm-k-too-big"),
        pytest.param(GEMM, [1000, 500, 65_537, 100], "n", id="gemm-n-too-big"),
        pytest.param(GEMM, [1000, 500, 1000, 1001], "row_block", id="gemm-row-block-over-m"),
        pytest.param(GEMM, [1000, 500, 1000], "gemm_i8 takes", id="gemm-three-params"),
        pytest.param(GEMM, [4096, 4096, 65_536, 4096], "leaf", id="gemm-leaf-too-big"),
        pytest.param("qmlp_i8", [8, 9, 16, 4], "row_block", id="qmlp-row-block-over-batch"),
        pytest.param("qmlp_i8", [8, 8, 16], "qmlp_i8 takes", id="qmlp-no-layer"),
        pytest.param("qmlp_i8", [8, 8, 16, 0], "d1", id="qmlp-d1-zero"),
        pytest.param("sgd_fxp", [64, 8, 2, 65, 10, 16, 4], "batch", id="sgd-batch-over-samples"),
        pytest.param("sgd_fxp", [64, 8, 2, 16, 10, 25, 4], "frac_bits", id="sgd-frac-bits"),
        pytest.param("sgd_fxp", [64, 8, 2, 16, 10, 16, 49], "lr_shift", id="sgd-lr-shift"),
        pytest.param("sgd_fxp", [64, 8, 2, 16, 100_001, 16, 4], "steps", id="sgd-steps"),
        pytest.param("matmul_f32", [4, 4, 4, 4], "unknown workload", id="unknown-workload"),
    ],
)
def test_submit_job_refuses_invalid_parameters(
    chain: MarketChain, workload: str, params: list[int], named: str
) -> None:
    with pytest.raises(WorkloadError, match=named):
        workload_shape(workload, params)
    names = {"gemm_i8": ["a", "b"], "qmlp_i8": ["x", "model"], "sgd_fxp": ["x", "y"]}
    _refused(chain, "BadJob", workload=workload, params=params, names=names.get(workload, []))


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        pytest.param({"names": ["b", "a"]}, "BadJob", id="inputs-out-of-order"),
        pytest.param({"names": ["a"], "roots": [b""]}, "BadJob", id="input-missing"),
        pytest.param({"roots": [b""]}, "BadJob", id="roots-count"),
        pytest.param({"roots": [b"", b"\x01" * 31]}, "BadJob", id="root-not-32-bytes"),
        pytest.param({"mode": "never"}, "BadJob", id="unknown-mode"),
        pytest.param({"deadline": 0}, "BadJob", id="no-deadline"),
        pytest.param({"deadline": MAX_DEADLINE_BLOCKS + 1}, "BadJob", id="deadline-too-long"),
        pytest.param({"wait": 0}, "BadJob", id="no-wait"),
        pytest.param({"wait": MAX_WAIT_BLOCKS + 1}, "BadJob", id="wait-too-long"),
        pytest.param({"max_price": 0}, "PriceTooLow", id="zero-price"),
        pytest.param({"max_price": 8_823_529_411}, "PriceTooLow", id="escrow-below-deposit"),
        pytest.param({"max_price": 1000 * UNIT}, "InsufficientBalance", id="escrow-beyond-balance"),
    ],
)
def test_submit_job_refusals_hold_nothing(
    chain: MarketChain, kwargs: dict[str, object], error: str
) -> None:
    chain.register(WORKER)
    _refused(chain, error, **kwargs)


def _refused(chain: MarketChain, error: str, **kwargs: object) -> None:
    before = chain.balance(REQUESTER)
    out = chain.submit(**kwargs)  # type: ignore[arg-type]
    assert out.error == error and out.events == []
    assert chain.balance(REQUESTER) == before - out.fee
    assert chain.held(REQUESTER, "escrow") == 0
    assert chain.jobs() == {} and chain.pending() == ()


def test_the_smallest_escrow_is_the_existential_deposit(chain: MarketChain) -> None:
    # At 8_823_529_412 per 10^9 units the payment, its 2% and the least verification fee (10^9)
    # make exactly ED; a unit less per 10^9 falls short of it.
    assert escrow_for(8_823_529_412) == ED
    assert escrow_for(8_823_529_411) == ED - 1
    chain.register(WORKER, prices=[UNIT // 1000])
    assert chain.submit(max_price=8_823_529_411).error == "PriceTooLow"
    assert chain.submit(max_price=8_823_529_412).error is None
    assert chain.held(REQUESTER, "escrow") == ED


def test_a_job_below_every_ask_is_refused(chain: MarketChain) -> None:
    chain.register(WORKER, prices=[3 * UNIT])
    chain.register(WORKER2, prices=[5 * UNIT])
    _refused(chain, "NoEligibleWorker", max_price=2 * UNIT)


def _busy(chain: MarketChain) -> None:
    """One worker (asking UNIT), its only slot taken by job 1 of REQUESTER2: jobs now wait."""
    chain.register(WORKER, capacity=1)
    assert (
        chain.submit(REQUESTER2, wait=MAX_WAIT_BLOCKS, deadline=MAX_DEADLINE_BLOCKS).error is None
    )
    assert chain.job(1).worker == W


def test_a_job_no_free_worker_takes_waits_then_expires_with_a_full_refund(
    chain: MarketChain,
) -> None:
    _busy(chain)
    before = chain.balance(REQUESTER)
    out = chain.submit(max_price=2 * UNIT, wait=3)
    submitted = chain.head.number
    # It waits: besides its escrow it holds the rent of its whole wait.
    assert out.events[2] == ("Held", (R, "escrow", 3 * RENT))
    assert [name for name, _ in out.events] == ["Held", "JobSubmitted", "Held"]
    for _ in range(2):
        result = chain.advance()[0]
        assert hook_events(result) == []
        assert chain.job(2).state == "pending" and chain.pending() == (2,)
    result = chain.advance()[0]
    assert chain.head.number == submitted + 3
    assert hook_events(result) == [
        ("Transfer", (R, TREASURY, 3 * RENT)),
        ("Released", (R, "escrow", ESCROW)),
        ("JobExpired", (2, ESCROW)),
    ]
    assert chain.job(2).state == "expired" and chain.pending() == ()
    assert chain.balance(REQUESTER) == before - out.fee - 3 * RENT
    assert chain.held(REQUESTER, "escrow") == 0
    assert chain.advance(3) and chain.job(2).state == "expired"  # it ends once


def test_a_waiting_job_is_matched_in_a_later_block(chain: MarketChain) -> None:
    _busy(chain)
    chain.submit(wait=5)
    assert chain.job(2).state == "pending"
    chain.register(WORKER2)  # registering does not match by itself ...
    assert chain.job(2).state == "pending"
    result = chain.advance()[0]  # ... the next block does
    number = chain.head.number
    # It pays the rent of the 2 blocks it waited, and its deposit's rest comes back.
    assert hook_events(result) == [
        ("Transfer", (R, TREASURY, 2 * RENT)),
        ("Released", (R, "escrow", 3 * RENT)),
        ("JobMatched", (2, W2, UNIT, number + 10)),
    ]
    assert chain.job(2).state == "matched" and chain.pending() == ()
    assert chain.held(REQUESTER, "escrow") == ESCROW


# Matching


def test_matching_takes_the_cheapest_ask_within_the_price(chain: MarketChain) -> None:
    chain.register(WORKER, prices=[3 * UNIT // 2])
    chain.register(WORKER2, prices=[UNIT], capacity=1)
    chain.register(WORKER3, prices=[5 * UNIT // 2])  # above the job's price
    chain.submit()
    assert (chain.job(1).worker, chain.job(1).price) == (W2, UNIT)
    # Worker 2 is full: the next job goes to the next cheapest, at its own ask.
    chain.submit()
    assert (chain.job(2).worker, chain.job(2).price) == (W, 3 * UNIT // 2)
    worker = chain.worker(WORKER)
    assert worker is not None and worker.bonded == P.slash_for(3 * UNIT // 2)
    # Worker 1 has a slot left; then no one within the price does.
    chain.submit()
    chain.submit()
    assert chain.job(3).worker == W and chain.job(4).state == "pending"


def test_matching_needs_free_stake_to_bond_the_slash(chain: MarketChain) -> None:
    # 40 * 10^9 units: at one unit per 10^9 the payment is 40 units and the slash 120.
    params = [1000, 500, 40_000, 2]  # leaves of 2 rows: each verifies within the bounds
    assert workload_shape(GEMM, params).cost_units == 40 * GEMM_UNITS
    chain.register(WORKER2, prices=[UNIT], stake=STAKE)  # cheapest, but 100 < 120
    chain.register(WORKER, prices=[3 * UNIT // 2], stake=2 * STAKE)
    chain.submit(params=params)
    assert chain.job(1).worker == W and chain.job(1).slash == 180 * UNIT
    # Worker 1 has 20 units of stake left unbonded: too little for another such job.
    chain.submit(params=params)
    assert chain.job(2).state == "pending"
    # ... until it adds stake; the next block matches the waiting job.
    chain.call(WORKER, "market", "update_worker", [GEMM], [3 * UNIT // 2], 2, 200 * UNIT)
    chain.advance()
    assert chain.job(2).worker == W
    worker = chain.worker(WORKER)
    assert worker is not None and worker.bonded == 360 * UNIT == worker.stake - 40 * UNIT


def test_ties_go_to_the_better_reputation(chain: MarketChain) -> None:
    chain.register(WORKER)
    chain.register(WORKER2)
    chain.submit(deadline=6, wait=10)
    first = chain.job(1).worker
    assert first is not None
    other = W2 if first == W else W
    # The first worker misses its deadline and loses reputation: the job goes to the other.
    result = chain.advance_to(chain.job(1).commit_by + 1)
    names = [name for name, _ in hook_events(result, "market")]
    assert names == ["DeadlineMissed", "JobMatched"]
    assert chain.job(1).worker == other
    missed = chain.worker(first)
    assert missed is not None and missed.reputation == -2
    # Every new job of equal price goes to the better reputation while it has a slot.
    chain.submit(REQUESTER2)
    assert chain.job(2).worker == other


def test_ties_of_equal_reputation_go_by_block_randomness(chain: MarketChain) -> None:
    chain.register(WORKER, capacity=64)
    chain.register(WORKER2, capacity=64)
    winners = []
    for job_id in range(1, 17):
        chain.submit(deadline=100)
        r = chain.randomness[chain.head.hash]  # the chain randomness of the matching block
        draws = {
            who: blake2b_256(b"xpl-market" + r + job_id.to_bytes(8, "big") + who) for who in (W, W2)
        }
        assert chain.job(job_id).worker == min((W, W2), key=lambda who: draws[who])
        winners.append(chain.job(job_id).worker)
    assert set(winners) == {W, W2}  # neither the list order nor the account decides


# Cancelling


def test_cancel_releases_the_escrow_of_a_waiting_job(chain: MarketChain) -> None:
    _busy(chain)
    before = chain.balance(REQUESTER)
    submitted = chain.submit(wait=5)
    out = chain.call(REQUESTER, "market", "cancel_job", 2, chain.digest(2))
    assert out.error is None
    assert out.events == [
        ("Transfer", (R, TREASURY, RENT)),
        ("Released", (R, "escrow", 4 * RENT)),
        ("Released", (R, "escrow", ESCROW)),
        ("JobCancelled", (2, ESCROW)),
    ]
    assert chain.balance(REQUESTER) == before - submitted.fee - out.fee - RENT
    assert chain.job(2).state == "cancelled" and chain.pending() == ()
    assert chain.call(REQUESTER, "market", "cancel_job", 2, chain.digest(2)).error == "NotPending"
    # Its expiry block passes without a second end.
    chain.advance(6)
    assert chain.job(2).state == "cancelled" and chain.held(REQUESTER, "escrow") == 0


@pytest.mark.parametrize(
    ("who", "job_id", "error"),
    [
        pytest.param(REQUESTER2, 2, "NotYourJob", id="not-the-requester"),
        pytest.param(REQUESTER, 3, "UnknownJob", id="unknown-job"),
    ],
)
def test_cancel_refusals(chain: MarketChain, who: object, job_id: int, error: str) -> None:
    _busy(chain)
    chain.submit()
    out = chain.call(who, "market", "cancel_job", job_id, chain.digest(job_id))  # type: ignore[arg-type]
    assert out.error == error
    deposit = 5 * RENT  # the rent of its whole wait, until it leaves the queue
    assert chain.job(2).state == "pending"
    assert chain.held(REQUESTER, "escrow") == ESCROW + deposit


def test_a_matched_job_cannot_be_cancelled(chain: MarketChain) -> None:
    chain.register(WORKER)
    chain.submit()
    assert chain.call(REQUESTER, "market", "cancel_job", 1, chain.digest(1)).error == "NotPending"
    assert chain.job(1).state == "matched" and chain.held(REQUESTER, "escrow") == ESCROW


# Deadlines


def test_a_missed_deadline_pays_the_treasury_and_rematches_the_job_elsewhere(
    chain: MarketChain,
) -> None:
    chain.register(WORKER, prices=[UNIT])
    chain.submit(deadline=6, wait=10)
    chain.register(WORKER2, prices=[UNIT // 2])  # cheaper, but too late for the first match
    commit_by = chain.job(1).commit_by
    worker_free, requester_free = chain.balance(WORKER), chain.balance(REQUESTER)
    treasury = chain.balance(TREASURY)
    chain.advance_to(commit_by)
    assert chain.job(1).state == "matched"  # the deadline block itself still counts
    result = chain.advance()[0]
    penalty = SLASH * P.miss_penalty_ppm // PPM
    assert penalty == 3 * UNIT // 10
    number = chain.head.number
    # It is offered at once to the next worker, with a full commit window: it never waits, so
    # it holds no rent deposit.
    assert hook_events(result) == [
        ("Transfer", (W, TREASURY, penalty)),
        ("DeadlineMissed", (1, W, penalty)),
        ("JobMatched", (1, W2, UNIT // 2, number + 6)),
    ]
    assert chain.balance(REQUESTER) == requester_free  # the requester gains nothing
    assert chain.balance(TREASURY) == treasury + penalty
    assert chain.balance(WORKER) == worker_free
    assert chain.held(WORKER, "stake") == STAKE - penalty
    worker = chain.worker(WORKER)
    assert worker is not None
    assert (worker.stake, worker.bonded, worker.active) == (STAKE - penalty, 0, 0)
    job = chain.job(1)
    assert (job.state, job.worker, job.price, job.slash) == (
        "matched",
        W2,
        UNIT // 2,
        P.slash_for(UNIT // 2),
    )
    assert job.excluded == (W,)  # never matched to the worker that missed it again
    assert chain.held(REQUESTER, "escrow") == ESCROW
    # The worker that missed cannot commit any more.
    assert chain.commit(WORKER, 1).error == "NotMatchedWorker"


def test_a_missed_deadline_with_no_other_worker_expires_the_job(chain: MarketChain) -> None:
    """The only worker missed it and may never take it again: no worker is left, so the job
    expires at the miss, refunded (its wait, extended by the blocks it was matched, is not why:
    `test_market_liveness` runs such a job on another worker)."""
    chain.register(WORKER)
    before = chain.balance(REQUESTER)
    submitted = chain.submit(deadline=6, wait=2)
    commit_by = chain.job(1).commit_by
    result = chain.advance_to(commit_by + 1)
    penalty = SLASH * P.miss_penalty_ppm // PPM
    assert hook_events(result) == [
        ("Transfer", (W, TREASURY, penalty)),
        ("DeadlineMissed", (1, W, penalty)),
        ("Released", (R, "escrow", ESCROW)),
        ("JobExpired", (1, ESCROW)),
    ]
    assert chain.job(1).state == "expired" and chain.pending() == ()
    assert chain.job(1).expires_at == chain.head.number  # the block it ended in
    assert chain.balance(REQUESTER) == before - submitted.fee
    assert chain.held(REQUESTER, "escrow") == 0
    worker = chain.worker(WORKER)
    assert worker is not None and (worker.active, worker.bonded) == (0, 0)


# Committing


def test_commit_by_the_matched_worker_up_to_its_deadline(chain: MarketChain) -> None:
    chain.register(WORKER)
    chain.register(WORKER2, prices=[2 * UNIT])
    chain.submit(deadline=6)
    commit_by = chain.job(1).commit_by
    chain.advance(2)
    assert chain.commit(WORKER2, 1).error == "NotMatchedWorker"  # not its job
    assert chain.commit(WORKER, 1, leaves=GEMM_LEAVES + 1).error == "NotMatchedWorker"
    assert chain.commit(WORKER, 2).error == "NotMatchedWorker"  # no such job
    assert chain.head.number + 1 == commit_by
    out = chain.commit(WORKER, 1)
    assert out.error is None
    assert out.events == [("ResultCommitted", (1, W, ROOT_HASH, GEMM_LEAVES))]
    job = chain.job(1)
    assert (job.state, job.result_root, job.committed_at) == ("committed", ROOT_HASH, commit_by)
    assert chain.commit(WORKER, 1).error == "NotMatchedWorker"  # once
    # Its deadline passes without a penalty: the job is no longer waiting for a result.
    result = chain.advance()[0]
    assert [n for n, _ in hook_events(result, "market")] == []
    assert chain.held(WORKER, "stake") == STAKE


def test_commit_of_a_pending_job_is_refused(chain: MarketChain) -> None:
    _busy(chain)
    chain.submit()
    assert chain.commit(WORKER, 2).error == "NotMatchedWorker"
    assert chain.job(2).state == "pending"


def test_payment_is_price_times_units_rounded_up() -> None:
    assert payment_for(GEMM_UNITS, UNIT) == UNIT
    assert payment_for(1, 1) == 1
    assert payment_for(3, GEMM_UNITS // 2) == 2
    assert payment_for(2 * 1000 * 500 * 1000, 7) == 7
    assert workload_shape(GEMM, GEMM_PARAMS).cost_units == GEMM_UNITS


# Invariants


def test_the_invariants_see_holds_that_nothing_owes(chain: MarketChain) -> None:
    """A hold of escrow or stake that no open job or worker accounts for is reported (it was
    checked only for requesters with open jobs and for registered workers)."""
    chain.register(WORKER)
    chain.submit()
    assert chain.problems() == []
    ctx = BlockContext(
        state=StateOverlay(chain.read),
        number=chain.head.number + 1,
        parent_hash=chain.head.hash,
        timestamp=0,
        author=bytes(32),
        genesis_hash=chain.genesis_hash,
    )
    balances.hold(ctx, R2, "escrow", UNIT)
    balances.hold(ctx, R2, "stake", UNIT)
    market.WorkerList.put(ctx.state, (W, W))
    state = dict(chain.state)
    apply_changes(state, ctx.state.changes())
    assert Market().check_invariants(state.get, prefix_iterator(state)) == [
        "the worker list differs from the registered workers",
        f"account {R2.hex()} holds escrow without an open job",
        f"account {R2.hex()} holds stake but is not a worker",
    ]
