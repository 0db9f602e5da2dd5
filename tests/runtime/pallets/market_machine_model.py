"""The market state machine's world: its accounts and parameters, the jobs and submissions it
draws, its model of a job's amounts, and the rules it checks outcomes against
(`test_market_machine`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from runtime.block import Block
from runtime.executive import BlockBuilder, BlockResult
from runtime.pallets import compute, market, session
from runtime.pallets.compute import DEFAULT_COMPUTE_PARAMS, DRAW_DELAY, DRAW_JITTER, Check
from runtime.pallets.market import DEFAULT_MARKET_PARAMS
from runtime.pallets.market.eligibility import price_if_free
from runtime.primitives.keys import Keypair, dev_keypair
from runtime.primitives.merkle import leaf_hash, root_of_hashes
from tests.runtime.pallets.market_helpers import (
    ACCOUNTS,
    AUTHOR,
    CHALLENGER,
    ENDOWMENT,
    GEMM,
    OUTSIDER,
    REQUESTER,
    REQUESTER2,
    UNIT,
    WORKER,
    WORKER2,
    WORKER3,
    MarketChain,
    keypair_of,
    market_config,
)

MP = DEFAULT_MARKET_PARAMS
FAST = replace(
    DEFAULT_COMPUTE_PARAMS, audit_leaves=4, commit_window=2, reveal_window=2, dispute_window=12
)
"""Short windows, so that jobs live whole lives within a few dozen blocks."""

WORKERS = (WORKER, WORKER2, WORKER3)
HONEST_WORKERS = (WORKER, WORKER2)
EXPIRING = WORKER3
"""Never commits nor declines: it lets every job it is matched to miss its deadline."""
FARMER = dev_keypair("Fiona")
"""Submits jobs that no worker can do, hoping to be paid for the misses."""
UNSERVED = b"\xde" * 32
"""An input root that no node serves: honest workers decline a job that names it."""
HONEST = {k.public for k in HONEST_WORKERS}


def signer(account: bytes) -> Keypair:
    """The keypair of one of the machine's accounts."""
    return FARMER if account == FARMER.public else keypair_of(account)


REQUESTERS = (REQUESTER, REQUESTER2)
CHALLENGERS = (CHALLENGER, REQUESTER, OUTSIDER)
ENDS = {
    "JobSettled": "settled",
    "JobFailed": "failed",
    "JobExpired": "expired",
    "JobCancelled": "cancelled",
}
FEE_RESERVE = UNIT // 10
"""A signer keeps at least this free to pay its fees; below it, it does not act."""


def result_hashes(leaves: int, right: bool) -> tuple[bytes, ...]:
    """The leaf hashes of a right result of `leaves` leaves (what verifiers recompute), or of a
    wrong one."""
    word = b"right" if right else b"wrong"
    return tuple(leaf_hash(word + b" %d" % i) for i in range(leaves))


def result_root(leaves: int, right: bool) -> bytes:
    return root_of_hashes(result_hashes(leaves, right))


GUESS = leaf_hash(b"a guess")
"""What a member that did not recompute reveals."""
VALID_JOBS = [
    (GEMM, [1000, 500, 1000, 100], ["a", "b"]),  # 10^9 units, 10 leaves
    (GEMM, [2000, 1000, 2000, 500], ["a", "b"]),  # 8 * 10^9 units: slashes beyond a stake
    ("qmlp_i8", [32, 8, 256, 128, 10], ["x", "model"]),
    ("sgd_fxp", [256, 16, 4, 32, 6, 16, 8], ["x", "y"]),
]
MAX_PRICES = [UNIT // 2, UNIT, 2 * UNIT, 40 * UNIT]
FLAWS: dict[str, dict[str, Any]] = {
    "row_block over m": {"params": [1000, 500, 1000, 1001]},
    "inputs out of order": {"names": ["b", "a"]},
    "unknown workload": {"workload": "bogus", "names": []},
    "no deadline": {"deadline": 0},
    "deadline no worker meets": {"deadline": 3},
    "no wait": {"wait": 0},
    "unknown mode": {"mode": "never"},
    "no price": {"max_price": 0},
    "escrow below the deposit": {"params": [64, 64, 64, 16], "max_price": UNIT},
    "escrow beyond the balance": {"max_price": 2_000 * UNIT},
}
"""Ways a submission is wrong (applied to a GEMM job unless the flaw names its workload)."""
ANSWERS = ["right", "guess", "unavailable"]
"""What a member commits to: the recomputed hashes, a guess, or "unavailable"."""
ASKS = [UNIT // 2, UNIT, UNIT, 2 * UNIT, 0]
GEMM_MAX = 10
"""The leaves of the fixed run's GEMM jobs."""


@dataclass
class JobModel:
    """What the rules say a job's amounts are, from its submission and its match; and its wait
    for a worker (extended by each match given back) and the workers that gave it back."""

    requester: bytes
    units: int
    escrow: int
    expires_at: int
    worker: bytes | None = None
    price: int = 0
    slash: int = 0
    matched_at: int = 0
    given_back: list[bytes] = field(default_factory=list)

    def on_given_back(self, number: int) -> None:
        """Its worker declined or missed it in block `number`: the wait is extended by the
        blocks it spent matched."""
        assert self.worker is not None
        self.given_back.append(self.worker)
        self.expires_at += number - self.matched_at
        self.worker = None


def check_reoffers(
    chain: MarketChain, result: BlockResult, models: dict[int, JobModel], before: dict[bytes, Any]
) -> None:
    """After a block: every match has a full commit window and goes to no worker that gave the
    job back; an open job's wait is its own, extended by its given-back matches, whose history
    it keeps (at most `max_reoffers` + 1); a job declined MAX_DECLINES times expired, the last
    decline free; and a job given back in the block is not left waiting
    while a worker that was free for it all along (unchanged since the block before) is idle."""
    number = chain.head.number
    given_back = set()
    for record in result.context.events:
        name, args = record.event.name, record.args
        if record.event.pallet != "market":
            continue
        if name == "JobMatched":
            job = chain.job(args[0])
            assert args[3] == number + job.deadline_blocks, "a match without a full window"
            assert args[1] not in job.excluded, "matched to a worker that gave it back"
        elif name in ("DeadlineMissed", "JobDeclined"):
            given_back.add(args[0])
    p = market.Params.get(chain.overlay())
    slot = slot_ms_of(chain)
    for job_id, job in chain.jobs().items():
        model = models[job_id]
        assert list(job.excluded) == model.given_back, "the history differs from the events"
        assert len(job.past_matches) <= p.max_reoffers + 1
        declines = [m.penalty for m in job.past_matches if m.outcome == "declined"]
        assert len(declines) <= market.MAX_DECLINES, "declined by more workers than it may be"
        if len(declines) == market.MAX_DECLINES:
            assert job.state == "expired" and declines[-1] == 0, "a second decline cost or lived"
        if job.state in ("pending", "matched", "committed"):
            assert job.expires_at == model.expires_at, "the wait was not extended as it should"
        if job.state != "pending" or job_id not in given_back:
            continue
        for account, worker in before.items():
            if chain.worker(account) == worker:
                free = price_if_free(p, slot, number, account, worker, job)
                assert free is None, f"job {job_id} waits while a free worker is idle"


def slot_ms_of(chain: MarketChain) -> int:
    """The chain's slot duration (what matching reads)."""
    return max(1, session.SlotDurationMs.get(chain.overlay()))


def balance_events(records: list[Any]) -> list[Any]:
    """The balance events among `records`, without the release of a retiring worker's stake
    (which a job's end may report before the job's own end event)."""
    return [
        r for r in records if r[0] == "balances" and not (r[1] == "Released" and r[2][1] == "stake")
    ]


class WatchedChain(MarketChain):
    """A market chain that hands every block it authors to `watch`."""

    def __init__(self, watch: Any) -> None:
        endowed = [(k.public, ENDOWMENT) for k in (*ACCOUNTS, FARMER)]
        super().__init__(market_config(compute_params=FAST, endowed=endowed), AUTHOR)
        self.watch = watch

    def seal(self, builder: BlockBuilder) -> tuple[Block, BlockResult]:
        block, result = super().seal(builder)
        self.watch(result)
        return block, result


def round_blocks(p: compute.ComputeParams) -> int:
    """The blocks a check's rounds may take, from what opened it to its last decision."""
    return p.max_rounds * (DRAW_DELAY + DRAW_JITTER + p.commit_window + p.reveal_window) + 1


def fail_verifiers(checks: Sequence[Check], index: int) -> list[bytes]:
    """Who shares the verification fee of a job that check `index` failed: the members that
    revealed the deciding hashes in it and its earlier rounds (any hashes if the worker did not
    respond)."""
    failed = checks[index]
    if not failed.response:
        return list(dict.fromkeys(m for m, hashes in failed.reveals if hashes))
    tally: dict[tuple[bytes, ...], int] = {}
    for _, hashes in failed.reveals:
        tally[hashes] = tally.get(hashes, 0) + 1
    (decided,) = [h for h, n in tally.items() if 2 * n > len(failed.reveals)]
    rounds = [c for c in checks[:index] if c.same_check(failed) and c.outcome == "inconclusive"]
    return list(
        dict.fromkeys(m for c in (*rounds, failed) for m, hashes in c.reveals if hashes == decided)
    )
