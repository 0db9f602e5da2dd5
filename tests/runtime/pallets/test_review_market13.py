"""Adversarial checks of the re-offering of jobs given back by their worker: each test passes
while the attack it plays still works, and measures what it gains or costs."""

from __future__ import annotations

from runtime.pallets.market import DECLINE_COOLDOWN, DEFAULT_MARKET_PARAMS, MAX_EXCLUDED
from runtime.primitives.keys import dev_keypair
from tests.runtime.pallets.market_helpers import (
    ACCOUNTS,
    AUTHOR,
    ENDOWMENT,
    REQUESTER,
    REQUESTER2,
    UNIT,
    MarketChain,
    market_config,
)

P = DEFAULT_MARKET_PARAMS
UNSERVED = (b"\xde" * 32, b"\xad" * 32)
"""Input roots nobody serves: a worker matched to such a job can only decline it (or miss it)."""


def test_one_unserved_job_cools_every_honest_worker_and_hands_jobs_to_a_rival() -> None:
    """A rival asking 1.5 XPL against eight honest workers asking 1 XPL submits one job whose
    inputs nobody serves, priced so that only the honest workers are eligible. Each honest worker
    matched to it can only decline; the give-back offers it at once to the next honest worker,
    which must decline too, until MAX_EXCLUDED declines expire it, refunded. One submission fee
    thus puts every honest worker behind the rival for DECLINE_COOLDOWN blocks (before the
    re-offer, one submission cooled one worker), and every honest job in that time goes to the
    rival at 1.5 XPL."""
    honest = [dev_keypair(f"Honest{i}") for i in range(MAX_EXCLUDED)]
    rival = dev_keypair("Rival")
    endowed = [(k.public, ENDOWMENT) for k in (*ACCOUNTS, *honest, rival)]
    chain = MarketChain(market_config(endowed=endowed), AUTHOR)
    by_key = {h.public: h for h in honest}
    for h in honest:
        assert chain.register(h, prices=(UNIT,), capacity=4).error is None
    rival_stake = ENDOWMENT // 2
    assert (
        chain.register(rival, stake=rival_stake, prices=(3 * UNIT // 2,), capacity=64).error is None
    )

    rival_before = chain.total(REQUESTER2)
    honest_before = {h.public: chain.total(h) for h in honest}
    out = chain.submit(REQUESTER2, roots=UNSERVED, max_price=5 * UNIT // 4, deadline=6, wait=6)
    assert out.error is None
    job_id = int(out.events[1][1][0])
    declines = 0
    while chain.job(job_id).state == "matched":
        worker = chain.job(job_id).worker
        assert worker in by_key  # only honest workers are ever offered it
        assert chain.call(by_key[worker], "market", "decline_job", job_id).error is None
        declines += 1
    assert chain.job(job_id).state == "expired"
    assert declines == MAX_EXCLUDED
    cascade_end = chain.head.number
    attacker_cost = rival_before - chain.total(REQUESTER2)
    honest_penalties = sum(honest_before[k] - chain.total(k) for k in honest_before)
    # The attacker paid one submission fee (its escrow came back); the honest paid 8 penalties.
    assert attacker_cost == out.fee
    assert honest_penalties >= MAX_EXCLUDED * P.min_slash * P.decline_penalty_ppm // 1_000_000
    assert all(chain.worker(h).declined_at > 0 for h in honest)  # type: ignore[union-attr]

    # For the cooldown every honest job goes to the rival, at 1.5 XPL instead of 1 XPL.
    stolen = 0
    overpaid = 0
    for _ in range(20):
        o = chain.submit(REQUESTER, max_price=2 * UNIT, deadline=45, wait=10)
        j = chain.job(int(o.events[1][1][0]))
        assert j.worker == rival.public and j.price == 3 * UNIT // 2, (
            stolen,
            j.worker in by_key,
            j.price,
        )
        stolen += 1
        overpaid += j.price - UNIT  # payment per 10^9 units: the GEMM job is 10^9 units
    assert chain.head.number < cascade_end + DECLINE_COOLDOWN
    assert stolen == 20
    # 20 jobs at 0.5 XPL more each (10 XPL to the rival's bids) for one submission fee; the
    # cascade is renewed with one more submission every DECLINE_COOLDOWN blocks.
    assert overpaid == 10 * UNIT
    assert overpaid > 1_000 * attacker_cost
    print(f"fee {attacker_cost / UNIT:.4f} XPL, honest penalties {honest_penalties / UNIT:.3f} XPL")
    assert chain.problems() == []


def test_missed_deadlines_run_unmetered_passes_over_the_workers_in_the_block_hook() -> None:
    """Every missed deadline now runs a pass over the workers in the block's hook (whether anyone
    could take the job, and up to REOFFERS_PER_BLOCK matches), and the hook declares no weight
    for any of it: 64 misses timed into one block with 129 workers add tens of milliseconds to
    the block while its mandatory weight stays 0. Misses are timed into one block by choosing
    each job's deadline; at MAX_WORKERS workers with MAX_JOB_CAPACITY jobs each (16,384 misses,
    0.1 XPL each) the hook runs for seconds that no block weight accounts for."""
    import time

    from runtime.pallets.market import MAX_JOB_CAPACITY, MAX_WORKERS
    from tests.runtime.pallets.market_helpers import STAKE

    n_workers, n_jobs = 128, 64
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
    chain.advance_to(chain.job(ids[0]).commit_by)
    quiet = []
    started = time.perf_counter()
    miss_block = chain.advance(1)[0]
    miss_s = time.perf_counter() - started
    started = time.perf_counter()
    chain.advance(1)
    quiet.append(time.perf_counter() - started)
    assert all(chain.job(j).past_matches[-1].outcome == "missed" for j in ids)
    assert miss_block.context.mandatory_weight == 0  # nothing of it is accounted for
    per_miss = (miss_s - min(quiet)) / n_jobs
    worst = per_miss * MAX_WORKERS / (n_workers + 1) * MAX_WORKERS * MAX_JOB_CAPACITY
    cost = (sybil_before - chain.total(sybil)) / n_jobs
    print(
        f"miss block {miss_s * 1e3:.1f} ms, quiet {min(quiet) * 1e3:.1f} ms, "
        f"{per_miss * 1e6:.0f} us a miss; at the bounds about {worst:.1f} s of unmetered hook "
        f"for {cost * MAX_WORKERS * MAX_JOB_CAPACITY / UNIT:.0f} XPL of penalties"
    )
    assert miss_s > 5 * min(quiet)
    assert chain.problems() == []
