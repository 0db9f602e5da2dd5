"""Sybil workers and requesters against the market, each attack driven through the runtime as it
was found, with what it costs the attacker measured from balances:

- Declining sybils: MAX_EXCLUDED workers asking less than the honest one decline every job
  until it expires (a job declined by two workers ends).
- A busy sybil fills the queue: a worker kept busy by its owner makes jobs priced for it
  "eligible" at submission, so accounts of the attacker fill the queue with jobs nobody takes.

Neither attacker earns anything (nobody is paid for a killed or refused job), so its expected
profit is minus what it pays; the tests show that this is more than what the attack takes from
its victims, and that it does not take the honest worker's jobs for free any more.
"""

from __future__ import annotations

from runtime.accounts import TREASURY
from runtime.pallets.market import (
    DECLINE_COOLDOWN,
    DEFAULT_MARKET_PARAMS,
    MAX_EXCLUDED,
    MAX_PENDING_JOBS,
    MAX_PENDING_PER_REQUESTER,
    MAX_WAIT_BLOCKS,
    PPM,
    WAIT_RENT_GROWTH,
)
from runtime.pallets.market.rent import deposit_of
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
    keypair_of,
    market_chain,
    market_config,
)

P = DEFAULT_MARKET_PARAMS
W = WORKER.public
LEAST_PRICE = 10**10
"""The least price whose escrow reaches the existential deposit (for the test's GEMM job)."""
OLD_FILL_FEES = 2_970_000_000_000
"""What filling the queue for MAX_WAIT_BLOCKS cost before waiting paid rent: the fees of its 512
submissions, 2.97 XPL, as the review measured."""


def _chain_with(*extra: Keypair) -> MarketChain:
    endowed = [(k.public, ENDOWMENT) for k in (*ACCOUNTS, *extra)]
    return MarketChain(market_config(endowed=endowed), AUTHOR)


# Declining sybils


def _sybil_round(
    chain: MarketChain, sybils: list[Keypair], jobs: list[int], *, churn: bool
) -> bool:
    """One block of the attack: every sybil matched to a job declines it (and, with `churn`,
    those left idle retire and register again in the next block, to start over without the
    decline's cooldown); False when none was matched. A job declined is offered to the next
    worker at once, possibly another sybil that declined in the same block: that one churns
    after declining it too."""
    by_key = {s.public: s for s in sybils}
    txs: list[tuple[Keypair, str, str, tuple[object, ...]]] = []
    declining = set()
    for job_id in jobs:
        job = chain.job(job_id)
        if job.state == "matched" and job.worker in by_key:
            txs.append(
                (by_key[job.worker], "market", "decline_job", (job_id, chain.digest(job_id)))
            )
            declining.add(job.worker)
    if not txs:
        return False
    outs = chain.calls(*txs)
    assert all(o.error is None for o in outs), str([o.error for o in outs])
    if churn:
        txs = []
        for account in sorted(declining):
            worker = chain.worker(account)
            if worker is None or worker.active:
                continue
            sybil = by_key[account]
            txs.append((sybil, "market", "retire_worker", ()))
            args = (STAKE, "rtx4090", 24_576, ["gemm_i8"], [UNIT - 1], [50], "", 64)
            txs.append((sybil, "market", "register_worker", args))
        outs = chain.calls(*txs)
        assert all(o.error is None for o in outs), str([o.error for o in outs])
    return True


def _run_sybil_attack(
    churn: bool, n_jobs: int = 3
) -> tuple[MarketChain, list[int], int, int, bool]:
    """MAX_EXCLUDED sybils asking just under the honest worker decline every job they are
    matched to, as in the review's exploit, and the honest worker commits the jobs it gets;
    (chain, jobs, the sybils' total loss, the requester's loss, whether the honest worker was
    matched)."""
    sybils = [dev_keypair(f"Sybil{i}") for i in range(MAX_EXCLUDED)]
    chain = _chain_with(*sybils)
    chain.register(WORKER, capacity=16, prices=(UNIT,))
    for s in sybils:
        assert chain.register(s, capacity=64, prices=(UNIT - 1,)).error is None
    start = {s.public: chain.total(s) for s in sybils}
    requester = chain.total(REQUESTER)
    jobs = []
    for _ in range(n_jobs):
        out = chain.submit(REQUESTER, mode="always", deadline=20, wait=60)
        jobs.append(int(out.events[1][1][0]))
    matched_honest = False
    for _ in range(60):
        for j in jobs:  # the honest worker does the jobs it gets
            if chain.job(j).state == "matched" and chain.job(j).worker == W:
                matched_honest = True
                assert chain.commit(WORKER, j).error is None
        if not _sybil_round(chain, sybils, jobs, churn=churn):
            chain.advance()
        if all(chain.job(j).state not in ("pending", "matched") for j in jobs):
            break
    cost = sum(start[k] - chain.total(k) for k in start)
    assert chain.problems() == []
    return chain, jobs, cost, requester - chain.total(REQUESTER), matched_honest


def test_declining_sybils_pay_a_penalty_and_a_cooldown_for_each_job_they_kill() -> None:
    """The review's exploit as it was played: eight sybils decline every job they get. A job
    declined by two workers now expires (`deadlines.decline`): the first decliner pays the
    penalty and is behind the others for DECLINE_COOLDOWN blocks, the second declines for free.
    So each killed job costs the ring a penalty and takes a different sybil out of good standing
    (k sybils kill at most k jobs a cooldown), the requester gets its escrow back, and nobody is
    paid: the attacker's profit is minus its cost."""
    chain, jobs, cost, requester_loss, _ = _run_sybil_attack(churn=False)
    states = [chain.job(j).state for j in jobs]
    print(f"\n[sybils] jobs {states}, cost {cost}, the requester lost {requester_loss}")
    assert states == ["expired"] * len(jobs)
    penalty = P.slash_for(UNIT - 1) * P.decline_penalty_ppm // PPM
    histories = [chain.job(j).past_matches for j in jobs]
    assert all([m.outcome for m in h] == ["declined"] * 2 for h in histories)
    assert all((h[0].penalty, h[1].penalty) == (penalty, 0) for h in histories)
    first = {h[0].worker for h in histories}
    # A sybil is never matched after its penalized decline while cooled: one that declines first
    # twice held both jobs before its first decline (and paid a penalty for each).
    firsts = sorted((h[0] for h in histories), key=lambda m: m.ended_at)
    for i, earlier in enumerate(firsts):
        for later in firsts[i + 1 :]:
            if later.worker == earlier.worker:
                assert later.matched_at <= earlier.ended_at
    assert all(chain.worker(k).declined_at > 0 for k in first)  # type: ignore[union-attr]
    assert chain.held(REQUESTER, "escrow") == 0
    profit = -cost  # nobody is paid for a killed job
    assert cost > len(jobs) * penalty and profit < 0


def test_sybils_that_register_again_after_each_decline_pay_more_than_the_jobs_they_kill() -> None:
    """The strongest version: every sybil retires and registers again (its stake released and
    held again) right after each decline, so it is always in good standing, and every job is
    declined twice and expires. Nobody is paid for a killed job, so the attacker's expected
    profit is minus its cost: a decline penalty (from its stake, to the treasury) and the fees of
    two declines and their sybils' churn per job, several times what the requester loses (its
    submission fee; its escrow comes back)."""
    chain, jobs, cost, requester_loss, _ = _run_sybil_attack(churn=True)
    assert [chain.job(j).state for j in jobs] == ["expired"] * len(jobs)
    per_job = cost // len(jobs)
    penalty = P.slash_for(UNIT - 1) * P.decline_penalty_ppm // PPM
    print(
        f"\n[sybils+churn] attacker cost {per_job / UNIT:.4f} XPL a killed job "
        f"(a penalty of {penalty / UNIT:.4f}); the requester lost "
        f"{requester_loss / len(jobs) / UNIT:.4f} XPL a job"
    )
    assert per_job >= penalty
    profit = -cost
    assert profit < 0 and per_job > 5 * requester_loss // len(jobs)


# A busy sybil fills the queue


def _fill_queue() -> tuple[MarketChain, list[Keypair], int, dict[bytes, int]]:
    """The review's exploit: a sybil worker asking the least price, capacity 1, is kept busy by
    a job of the attacker's own; then 32 accounts submit 16 jobs each, priced for the sybil only,
    with the longest wait. (chain, attackers, the busy job, their totals before)."""
    n = MAX_PENDING_JOBS // MAX_PENDING_PER_REQUESTER
    attackers = [dev_keypair(f"Filler{i}") for i in range(n)]
    sybil = dev_keypair("BusySybil")
    chain = _chain_with(*attackers, sybil)
    chain.register(WORKER, capacity=16, prices=(UNIT,))
    assert chain.register(sybil, capacity=1, prices=(LEAST_PRICE,), throughput=(1,)).error is None
    out = chain.submit(attackers[0], max_price=LEAST_PRICE, deadline=10_000, wait=10)
    assert out.error is None, out.error
    busy = int(out.events[1][1][0])
    assert chain.job(busy).worker == sybil.public
    start = {a.public: chain.total(a) for a in attackers}
    args = (
        "gemm_i8",
        [1000, 500, 1000, 100],
        ["a", "b"],
        [b"", b""],
        7,
        LEAST_PRICE,
        10_000,
        MAX_WAIT_BLOCKS,
        "sampled",
    )
    for a in attackers:
        outs = chain.calls(*[(a, "market", "submit_job", args) for _ in range(16)])
        assert all(o.error is None for o in outs), str([o.error for o in outs])
    return chain, attackers, busy, start


def test_filling_the_queue_for_its_longest_wait_costs_the_rent_of_every_place() -> None:
    """The queue still fills (eligibility at submission cannot see that the sybil will stay
    busy), but each waiting job now pays rent for each block it holds its place, dearer as the
    queue fills: the attacker pays it at expiry out of the deposits it holds, over 15 times the
    fees that were the whole cost before. An honest job submitted when a worker is free is
    matched at once and pays no rent."""
    chain, attackers, busy, start = _fill_queue()
    assert len(chain.pending()) == MAX_PENDING_JOBS
    assert chain.submit(REQUESTER, max_price=2 * UNIT, wait=20).error == "TooManyPendingJobs"
    waiting = [chain.job(j) for j in chain.pending()]
    rent_per_block = sum(j.rent for j in waiting)
    expected = sum(
        P.wait_rent * (MAX_PENDING_JOBS + WAIT_RENT_GROWTH * n) // MAX_PENDING_JOBS
        for n in range(MAX_PENDING_JOBS)
    )
    assert rent_per_block == expected
    deposits = sum(j.rent * (j.expires_at - j.submitted_at) for j in waiting)
    fees = sum(start[k] - chain.total(k) for k in start)
    # Measured: one attacker gives up its 16 places after 100 blocks and pays their rent.
    quitter = attackers[-1]
    own = [j for j in chain.pending() if chain.job(j).requester == quitter.public]
    rents = {j: chain.job(j).rent for j in own}
    treasury = chain.total(TREASURY)
    before = chain.total(quitter)
    chain.advance_to(chain.head.number + 99)
    outs = chain.calls(*[(quitter, "market", "cancel_job", (j, chain.digest(j))) for j in own])
    assert all(o.error is None for o in outs)
    waited = {j: chain.job(j).submitted_at for j in own}
    paid = before - chain.total(quitter) - sum(o.fee for o in outs)
    assert paid == sum(rents[j] * (chain.head.number - waited[j]) for j in own)
    assert chain.total(TREASURY) - treasury >= paid
    cost = fees + deposits  # every place held for its whole wait: all the deposits are rent
    print(
        f"\n[queue] rent {rent_per_block / UNIT:.6f} XPL a block for the full queue; holding "
        f"it {MAX_WAIT_BLOCKS} blocks costs {cost / UNIT:.2f} XPL (fees {fees / UNIT:.3f}), "
        f"was {OLD_FILL_FEES / UNIT:.2f}"
    )
    assert cost > 15 * OLD_FILL_FEES
    profit = -cost  # no job of the attacker's is ever paid for
    assert profit < 0
    # With a place free again, an honest job with a free worker is matched at once, rent-free.
    before = chain.total(REQUESTER2)
    out = chain.submit(REQUESTER2, max_price=2 * UNIT, wait=20)
    assert out.error is None and chain.job(int(out.events[1][1][0])).worker == W
    assert chain.total(REQUESTER2) == before - out.fee
    assert chain.job(busy).state == "matched" and chain.problems() == []


UNSERVED = (b"\xde" * 32, b"\xad" * 32)
"""Input roots nobody serves: a worker matched to such a job can only decline it."""


def test_a_forced_decline_steers_jobs_away_from_a_rival_only_for_the_cooldown() -> None:
    """A worker asking 1.5 XPL (WORKER2) loses jobs to a rival asking 1 XPL. Its owner submits a
    job the rival cannot do (inputs nobody serves), priced so only the rival is eligible: the
    rival must decline it. A decline once cost a point of reputation, and a worker with a
    negative one came after all others until it settled a job, which it could not get while the
    attacker was free: one 0.006 XPL submission steered every later job to the attacker, at
    0.5 XPL more each. Now the rival's reputation is unchanged and it is behind the others only
    for DECLINE_COOLDOWN blocks; keeping it there costs a fresh submission each time."""
    chain = market_chain()
    assert chain.register(WORKER, prices=(UNIT,)).error is None
    assert chain.register(WORKER2, prices=(3 * UNIT // 2,)).error is None
    out = chain.submit(REQUESTER2, roots=UNSERVED, max_price=5 * UNIT // 4, deadline=6, wait=6)
    job_id = int(out.events[1][1][0])
    assert chain.job(job_id).worker == W
    decline = chain.call(WORKER, "market", "decline_job", job_id, chain.digest(job_id))
    assert decline.error is None
    declined_at = chain.head.number
    rival = chain.worker(WORKER)
    assert rival is not None and rival.reputation == 0 and rival.declined_at == declined_at
    # Within the cooldown an honest job goes to the dearer worker...
    out = chain.submit(REQUESTER, max_price=2 * UNIT, deadline=10, wait=10)
    assert chain.job(int(out.events[1][1][0])).worker == WORKER2.public
    # ...and after it, to the cheaper rival again.
    chain.advance_to(declined_at + DECLINE_COOLDOWN)
    out = chain.submit(REQUESTER, max_price=2 * UNIT, deadline=10, wait=10)
    assert chain.job(int(out.events[1][1][0])).worker == W


def test_jobs_declined_at_submission_pay_rent_for_every_block_they_then_wait() -> None:
    """Only a job's first wait once paid rent, so jobs matched at submission to a sybil that
    declined them at once held the queue for nothing: 512 places for MAX_WAIT_BLOCKS blocks cost
    about 8.6 XPL (fees and 512 decline penalties), against about 49 XPL of rent. A wait after a
    decline now pays rent too, at the queue as it then is: the deposits the filled queue holds
    come to the rent of every place for the rest of its wait."""
    n = MAX_PENDING_JOBS // MAX_PENDING_PER_REQUESTER
    fillers = [dev_keypair(f"Filler{i}") for i in range(n)]
    decliners = [dev_keypair(f"Decliner{i}") for i in range(n)]
    busy = dev_keypair("BusySybil")
    endowed = [(k.public, ENDOWMENT) for k in (*ACCOUNTS, *fillers, *decliners, busy)]
    chain = MarketChain(market_config(endowed=endowed), AUTHOR)
    chain.register(WORKER, capacity=16, prices=(UNIT,))
    assert chain.register(busy, capacity=1, prices=(LEAST_PRICE,), throughput=(1,)).error is None
    out = chain.submit(fillers[0], max_price=LEAST_PRICE, deadline=10_000, wait=10)
    assert chain.job(int(out.events[1][1][0])).worker == busy.public
    for i, (filler, decliner) in enumerate(zip(fillers, decliners, strict=True)):
        price = LEAST_PRICE + i  # each decliner takes only its own filler's jobs
        assert chain.register(decliner, capacity=16, prices=(price,)).error is None
        args = ("gemm_i8", [1000, 500, 1000, 100], ["a", "b"], [b"", b""], 7, price, 10_000)
        outs = chain.calls(
            *[(filler, "market", "submit_job", (*args, MAX_WAIT_BLOCKS, "sampled"))] * 16
        )
        ids = [int(o.events[1][1][0]) for o in outs]
        assert all(chain.job(j).worker == decliner.public for j in ids)
        txs = [(decliner, "market", "decline_job", (j, chain.digest(j))) for j in ids]
        assert all(
            o.error is None for o in chain.calls(*txs, (decliner, "market", "retire_worker", ()))
        )
    pending = chain.pending()
    assert len(pending) == MAX_PENDING_JOBS
    assert all(chain.job(j).rent >= P.wait_rent for j in pending)
    owed = sum(deposit_of(chain.job(j)) for j in pending)
    print(f"\n[declined fill] rent owed for holding the queue to expiry: {owed / UNIT:.2f} XPL")
    assert owed > 40 * UNIT  # held to expiry, the places cost their rent (8.6 XPL before)
    assert chain.problems() == []


def test_one_unserved_job_cools_one_honest_worker_not_all_of_them() -> None:
    """A rival asking 1.5 XPL against eight honest workers asking 1 XPL submits one job whose
    inputs nobody serves, priced so that only the honest workers are eligible. Before, each
    honest worker matched to it declined in turn (the give-back offered it at once to the next),
    each paying the penalty and the cooldown, until MAX_EXCLUDED declines expired it: one
    submission put every honest worker behind the rival, and 20 honest jobs went to the rival at
    1.5 XPL (10 XPL overpaid). Now its second decline expires it, free of penalty and cooldown:
    one honest worker is cooled, the other seven take the next jobs at 1 XPL, and the rival
    earns nothing for its fee."""
    honest = [dev_keypair(f"Honest{i}") for i in range(MAX_EXCLUDED)]
    rival = dev_keypair("Rival")
    chain = _chain_with(*honest, rival)
    by_key = {h.public: h for h in honest}
    for h in honest:
        assert chain.register(h, prices=(UNIT,), capacity=4).error is None
    assert (
        chain.register(rival, stake=ENDOWMENT // 2, prices=(3 * UNIT // 2,), capacity=64).error
        is None
    )
    attacker_before = chain.total(REQUESTER2) + chain.total(rival)
    honest_before = {h.public: chain.total(h) for h in honest}
    out = chain.submit(REQUESTER2, roots=UNSERVED, max_price=5 * UNIT // 4, deadline=6, wait=6)
    assert out.error is None
    job_id = int(out.events[1][1][0])
    penalties = []
    while chain.job(job_id).state == "matched":
        worker = chain.job(job_id).worker
        assert worker in by_key
        decline = chain.call(by_key[worker], "market", "decline_job", job_id, chain.digest(job_id))
        assert decline.error is None
        penalties += [args[2] for name, args in decline.events if name == "JobDeclined"]
    job = chain.job(job_id)
    assert job.state == "expired" and [m.outcome for m in job.past_matches] == ["declined"] * 2
    first, second = (m.worker for m in job.past_matches)
    assert penalties[0] >= P.min_slash * P.decline_penalty_ppm // PPM and penalties[1] == 0
    cooled = [h for h in honest if chain.worker(h).declined_at > 0]  # type: ignore[union-attr]
    assert [h.public for h in cooled] == [first]
    lost = {k: honest_before[k] - chain.total(k) for k in honest_before}
    assert lost[second] < penalties[0] and all(
        lost[k] == 0 for k in lost if k not in (first, second)
    )
    # For the cooldown the next jobs go to the seven honest workers left, at 1 XPL.
    cascade_end = chain.head.number
    rival_jobs = 0
    for _ in range(20):
        o = chain.submit(REQUESTER, max_price=2 * UNIT, deadline=45, wait=10)
        j = chain.job(int(o.events[1][1][0]))
        assert j.worker in by_key and j.worker != first and j.price == UNIT
        rival_jobs += j.worker == rival.public
    assert chain.head.number < cascade_end + DECLINE_COOLDOWN
    # The attacker's profit: what its rival worker was paid or matched for (nothing), less the
    # submission fee it paid.
    profit = rival_jobs * (3 * UNIT // 2) - (
        attacker_before - chain.total(REQUESTER2) - chain.total(rival)
    )
    assert rival_jobs == 0 and profit == -out.fee < 0
    assert chain.problems() == []


def test_a_second_decline_is_free_only_for_a_job_another_worker_declined() -> None:
    """A worker cannot make its own decline free: a job's first decline costs the penalty and
    the cooldown whoever declines it, and a miss is no decline: a job declined once and then
    missed is offered again to the next worker."""
    chain = market_chain()
    for key in (WORKER, WORKER2, WORKER3):
        assert chain.register(key, prices=(UNIT,)).error is None
    out = chain.submit(REQUESTER, max_price=2 * UNIT, deadline=10, wait=40)
    job_id = int(out.events[1][1][0])
    first = chain.job(job_id).worker
    assert first is not None
    decline = chain.call(keypair_of(first), "market", "decline_job", job_id, chain.digest(job_id))
    penalty = chain.job(job_id).past_matches[0].penalty
    assert penalty >= P.min_slash * P.decline_penalty_ppm // PPM
    assert ("JobDeclined", (job_id, first, penalty)) in decline.events
    assert chain.worker(first).declined_at == chain.head.number  # type: ignore[union-attr]
    job = chain.job(job_id)
    assert job.state == "matched" and job.worker != first
    chain.advance_to(job.commit_by + 1)
    job = chain.job(job_id)
    assert [m.outcome for m in job.past_matches] == ["declined", "missed"]
    assert job.state == "matched" and job.worker not in (first, job.past_matches[1].worker)
    assert chain.problems() == []
