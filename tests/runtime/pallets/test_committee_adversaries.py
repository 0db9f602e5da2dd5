"""Committee members, workers and challengers attacking the compute protocol, each driven
through the runtime as the attack would be, with the attacker's expected profit computed from
the balances measured before and after and asserted negative.

Every figure counts the attacker's transaction fees. A worker is assumed to save at most half
its payment by faking a result (COST_SAVED); a member saves at most its share of the
verification fee by not recomputing (what recomputing is paid).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from runtime.accounts import TREASURY
from runtime.pallets import compute, market, system
from runtime.pallets.compute import DEFAULT_COMPUTE_PARAMS, DRAW_DELAY, fraud_bond_for
from runtime.pallets.market import DEFAULT_MARKET_PARAMS, PPM
from runtime.primitives.hashing import blake2b_256
from runtime.primitives.merkle import root_of_hashes
from tests.runtime.pallets.market_helpers import (
    CHALLENGER,
    LEAF_HASHES,
    REQUESTER,
    STAKE,
    UNIT,
    VALIDATOR_BOND,
    VALIDATORS,
    WORKER,
    MarketChain,
    guess,
    hook_events,
    market_chain,
    wrong_hashes,
)

CP = DEFAULT_COMPUTE_PARAMS
MP = DEFAULT_MARKET_PARAMS
W = WORKER.public
PAYMENT = UNIT
VERIFICATION_FEE = 50_000_000_000
SLASH = 3 * UNIT
PENALTY = CP.member_penalty
COST_SAVED = PAYMENT // 2
"""What a worker is assumed to save by faking a result (its cost of computing it)."""


@pytest.fixture
def chain() -> Iterator[MarketChain]:
    made = market_chain()
    made.register(WORKER, capacity=16)
    yield made
    assert made.problems() == []


def commit_job(chain: MarketChain, bad: tuple[int, ...] = (), mode: str = "always") -> int:
    out = chain.submit(REQUESTER, mode=mode, deadline=10, wait=10)
    job_id = int(out.events[1][1][0])
    assert chain.commit(WORKER, job_id, hashes=wrong_hashes(*bad)).error is None
    return job_id


def drawn(chain: MarketChain, job_id: int, index: int = 0) -> tuple[bytes, ...]:
    """Author blocks to check `index`'s draw; its committee."""
    check = chain.checks(job_id)[index] if index < len(chain.checks(job_id)) else None
    target = chain.audit_roll_at(job_id) if check is None else check.draw_at
    if chain.head.number < target:
        chain.advance_to(target)
    return chain.checks(job_id)[index].committee


class Ledger:
    """Accounts' totals (free and held, staking bonds included), fees and era rewards from a
    point on."""

    def __init__(self, chain: MarketChain, *who: bytes) -> None:
        self.chain = chain
        self.start = {w: chain.total(w) for w in who}
        self.fees = dict(chain.fees)
        self.rewards = dict(chain.rewards)
        self.slashes = dict(chain.staking_slashes)

    def change(self, who: bytes) -> int:
        """What `who` gained since (negative: lost), its fees counted."""
        return self.chain.total(who) - self.start[who]

    def earned(self, who: bytes) -> int:
        """What the compute protocol paid `who` or took from it since: its fees, era rewards and
        staking's own slashes (for being offline) not counted."""
        rewards = self.chain.rewards.get(who, 0) - self.rewards.get(who, 0)
        slashes = self.chain.staking_slashes.get(who, 0) - self.slashes.get(who, 0)
        return self.change(who) + self.chain.fees_since(self.fees, who) - rewards + slashes


def run(chain: MarketChain, job_id: int, index: int, strategies: dict[bytes, str]) -> list[Any]:
    plan = [(m, strategies[m]) for m in chain.checks(job_id)[index].committee]
    return hook_events(chain.run_check(job_id, index, plan))


# 3: one silent or lazy member vetoes a conviction, and the lazy one is paid


def test_a_pass_vote_against_two_fails_no_longer_vetoes_the_conviction(
    chain: MarketChain,
) -> None:
    """Votes fail, fail, pass once left the check undecided, paid the worker and gave the pass
    voter the whole verification fee. Now the two recomputations convict, and the member that
    revealed the worker's hashes (colluding with it) is penalized."""
    job_id = commit_job(chain, bad=(0,))
    members = drawn(chain, job_id)
    colluder = members[2]
    ledger = Ledger(chain, W, *members)
    plan = {members[0]: "honest", members[1]: "honest", colluder: "copy"}
    events = run(chain, job_id, 0, plan)
    assert ("CheckDecided", (job_id, 0, "fail")) in events
    assert ("MemberPenalized", (job_id, 0, colluder, PENALTY)) in events
    assert chain.job(job_id).state == "failed"
    share = VERIFICATION_FEE // 2
    assert ledger.earned(members[0]) == ledger.earned(members[1]) == share
    assert ledger.earned(colluder) == -PENALTY
    # The worker and its colluder, together, against doing the job honestly: the worker saves
    # its cost, and with probability q (audited) loses its payment and its slash.
    q = CP.audit_ppm / PPM
    audited = ledger.change(W) + ledger.change(colluder)
    assert ledger.change(W) == -SLASH - chain.fees_since(ledger.fees, W)
    honest_audited = PAYMENT + VERIFICATION_FEE // 3
    profit = COST_SAVED + q * (audited - honest_audited)
    assert profit < 0, profit
    assert ledger.change(colluder) < 0


def test_a_silent_member_no_longer_vetoes_the_conviction(chain: MarketChain) -> None:
    """Votes fail, fail, none once paid the worker. Now the two revealers decide, and the silent
    member is penalized."""
    job_id = commit_job(chain, bad=(0,))
    members = drawn(chain, job_id)
    ledger = Ledger(chain, W, *members)
    events = run(chain, job_id, 0, dict(zip(members, ("honest", "honest", "silent"), strict=True)))
    assert ("CheckDecided", (job_id, 0, "fail")) in events
    assert ("MemberPenalized", (job_id, 0, members[2], PENALTY)) in events
    assert ledger.earned(members[2]) == -PENALTY and ledger.change(members[2]) == -PENALTY
    assert ledger.change(W) + chain.fees_since(ledger.fees, W) == -SLASH
    q = CP.audit_ppm / PPM
    profit = COST_SAVED + q * (ledger.change(W) - PAYMENT)
    assert profit < 0, profit


@pytest.mark.parametrize("strategy", ["lazy", "lazy-copy"])
def test_a_lazy_member_is_penalized_whether_it_guesses_or_copies_the_result(
    chain: MarketChain, strategy: str
) -> None:
    """A member that reveals without recomputing either guesses (the worker's hashes come only
    after every commitment is in) or hashes the worker's published result, which before
    witnesses was paid as an honest member whenever the worker was honest. Either way its
    made-up witness (or guess) puts it outside the majority that honest recomputations reach:
    penalized and unpaid on an honest worker's job, while the honest members share the fee.
    Laziness saves at most the member's share; it loses that and the penalty."""
    job_id = commit_job(chain)
    members = drawn(chain, job_id)
    lazy = members[0]
    # The worker's response is refused in the commit phase, so nobody can copy it.
    assert chain.respond(job_id, 0).error == "WrongPhase"
    ledger = Ledger(chain, *members)
    events = run(chain, job_id, 0, {lazy: strategy, members[1]: "honest", members[2]: "honest"})
    assert ("CheckDecided", (job_id, 0, "pass")) in events
    assert ("MemberPenalized", (job_id, 0, lazy, PENALTY)) in events
    settled = hook_events(chain.advance_to(chain.job(job_id).committed_at + CP.dispute_window))
    assert settled[-1][0] == "JobSettled"
    share = VERIFICATION_FEE // 2
    assert ledger.earned(members[1]) == ledger.earned(members[2]) == share
    assert ledger.earned(lazy) == -PENALTY
    saved = VERIFICATION_FEE // 3  # at most what recomputing is paid
    honest = share - chain.fees_since(ledger.fees, members[1])
    profit = saved + ledger.change(lazy) - honest
    assert profit < 0, profit


def test_two_copiers_cannot_outvote_a_recomputation_or_earn_from_the_round(
    chain: MarketChain,
) -> None:
    """Two members that copy the published result, each with its own made-up witness, do not
    agree with each other: the round is inconclusive (they earn nothing from it), and the fresh
    committee, recomputing, decides. A pair that agreed on one made-up witness would be a
    colluding majority, which the guard bounds by `collusion_ppm`."""
    job_id = commit_job(chain)
    first = drawn(chain, job_id)
    ledger = Ledger(chain, *VALIDATORS_KEYS)
    plan = {first[0]: "lazy-copy", first[1]: "lazy-copy", first[2]: "honest"}
    events = run(chain, job_id, 0, plan)
    assert events == [("CheckDecided", (job_id, 0, "inconclusive"))]
    second = drawn(chain, job_id, 1)
    events = run(chain, job_id, 1, dict.fromkeys(second, "honest"))
    assert ("CheckDecided", (job_id, 1, "pass")) in events
    chain.advance_to(chain.job(job_id).committed_at + CP.dispute_window)
    assert chain.job(job_id).state == "settled"
    share = VERIFICATION_FEE // len(second)
    for member in (first[0], first[1]):
        # The copied round earned nothing; what a copier earned came from recomputing round 1.
        assert ledger.earned(member) == (share if member in second else 0)


def test_a_reveal_must_open_the_commitment(chain: MarketChain) -> None:
    """A member that committed to a guess and, seeing the worker's response, reveals its hashes
    instead is refused; having never revealed, it is penalized."""
    job_id = commit_job(chain)
    members = drawn(chain, job_id)
    late = members[0]
    check = chain.checks(job_id)[0]
    commits = [chain.commitment(late, job_id, 0, (guess(late),) * 10)]
    commits += [chain.commitment(m, job_id, 0, LEAF_HASHES) for m in members[1:]]
    assert all(o.error is None for o in chain.calls(*commits))
    chain.advance_to(check.commit_deadline)
    assert chain.respond(job_id, 0).error is None
    copied = list(chain.checks(job_id)[0].response)
    assert chain.attest_reveal(late, job_id, 0, copied).error == "BadReveal"
    reveals = [chain.reveal(m, job_id, 0, LEAF_HASHES) for m in members[1:]]
    assert all(o.error is None for o in chain.calls(*reveals))
    events = hook_events(chain.advance_to(check.reveal_deadline + 1))
    assert ("CheckDecided", (job_id, 0, "pass")) in events
    assert ("MemberPenalized", (job_id, 0, late, PENALTY)) in events


# 4: "unavailable" cannot be checked, and convicting paid thirty times more than passing


def test_the_conviction_reward_equals_the_pass_reward(chain: MarketChain) -> None:
    """Convicting once paid each member half the slash over three, about 30 times a pass; now
    both pay the same share of the verification fee, so faking a conviction does not pay."""
    rewards = {}
    for bad in ((), (0,)):
        job_id = commit_job(chain, bad=bad)
        members = drawn(chain, job_id)
        ledger = Ledger(chain, *members)
        run(chain, job_id, 0, dict.fromkeys(members, "honest"))
        if not bad:
            chain.advance_to(chain.job(job_id).committed_at + CP.dispute_window)
        rewards[bool(bad)] = {ledger.earned(m) for m in members}
    assert rewards[True] == rewards[False] == {VERIFICATION_FEE // 3}


def test_unavailable_without_computing_is_inconclusive_penalized_and_unpaid(
    chain: MarketChain,
) -> None:
    """Three members reveal "unavailable" without computing anything. The check is inconclusive
    (never a conviction), a fresh committee decides, and the three are penalized and paid
    nothing for their round."""
    job_id = commit_job(chain)
    first = drawn(chain, job_id)
    ledger = Ledger(chain, W, *VALIDATORS_KEYS)
    events = run(chain, job_id, 0, dict.fromkeys(first, "unavailable"))
    assert events == [("CheckDecided", (job_id, 0, "inconclusive"))]
    assert chain.job(job_id).state == "committed"
    second = drawn(chain, job_id, 1)
    events = run(chain, job_id, 1, dict.fromkeys(second, "honest"))
    assert ("CheckDecided", (job_id, 1, "pass")) in events
    penalized = [args[2] for name, args in events if name == "MemberPenalized"]
    assert penalized == list(first)
    settled = hook_events(chain.advance_to(chain.job(job_id).committed_at + CP.dispute_window))
    assert settled[-1][0] == "JobSettled"
    share = VERIFICATION_FEE // len(second)
    for member in VALIDATORS_KEYS:
        # Round 0's part: the penalty; round 1's part: the share, for those drawn again.
        expected = (share if member in second else 0) - (PENALTY if member in first else 0)
        assert ledger.earned(member) == expected
    # Faking "unavailable" saves at most what recomputing is paid (an honest member's share,
    # VERIFICATION_FEE // 3 on a pass) and earns, for the faked round, what was measured.
    honest_reward = VERIFICATION_FEE // 3
    for member in first:
        faked_round = ledger.earned(member) - (share if member in second else 0)
        profit = honest_reward + faked_round - honest_reward
        assert faked_round == -PENALTY and profit < 0, profit
    assert ledger.change(W) + chain.fees_since(ledger.fees, W) == PAYMENT  # the worker is paid


VALIDATORS_KEYS = tuple(v.public for v in VALIDATORS)


def test_inconclusive_rounds_void_the_job_after_max_rounds(chain: MarketChain) -> None:
    """A committee that never reaches a majority cannot make a job settle as a success: after
    max_rounds rounds it is void, the requester refunded, the worker neither paid nor slashed,
    and the members that forced it paid nothing."""
    job_id = commit_job(chain)
    ledger = Ledger(chain, W, REQUESTER.public, *VALIDATORS_KEYS)
    for index in range(CP.max_rounds):
        members = drawn(chain, job_id, index)
        plan = {members[0]: "unavailable", members[1]: "lazy", members[2]: "silent"}
        events = run(chain, job_id, index, plan)
        assert events[0] == ("CheckDecided", (job_id, index, "inconclusive"))
    assert events[-1] == ("JobVoided", (job_id,))
    assert chain.job(job_id).state == "cancelled"
    assert ledger.change(REQUESTER.public) == 0
    assert ledger.earned(W) == 0 and chain.held(WORKER, "stake") == STAKE
    assert all(ledger.earned(m) <= 0 for m in VALIDATORS_KEYS)


def test_data_nobody_could_have_from_the_worker_fails_it_after_max_rounds(
    chain: MarketChain,
) -> None:
    """Every committee of every round reveals "unavailable": the job's data could not be had,
    from the requester or from the worker, whose node holds the inputs it computed on and its
    result, and must serve them until the job ends. Each round is a data-availability challenge
    to the worker; after max_rounds it fails. A requester that served its inputs to the worker
    alone once got its job free (the job was void, the escrow refunded, the worker unpaid); now
    the worker's node serves them, and a worker that serves nobody is slashed. Nobody is paid
    for "unavailable", so a lazy majority gains nothing from convicting this way either."""
    job_id = commit_job(chain)
    ledger = Ledger(chain, W, REQUESTER.public, *VALIDATORS_KEYS)
    unavailable: dict[bytes, int] = dict.fromkeys(VALIDATORS_KEYS, 0)
    for index in range(CP.max_rounds):
        members = drawn(chain, job_id, index)
        for member in members:
            unavailable[member] += 1
        events = run(chain, job_id, index, dict.fromkeys(members, "unavailable"))
        assert events[0] == ("CheckDecided", (job_id, index, "inconclusive"))
    assert ("JobVoided", (job_id,)) not in events
    assert chain.job(job_id).state == "failed"
    assert chain.held(WORKER, "stake") == STAKE - SLASH
    assert ledger.change(REQUESTER.public) == 0  # refunded, nothing gained
    for member in VALIDATORS_KEYS:
        assert ledger.earned(member) == -PENALTY * unavailable[member]


def test_two_members_revealing_unavailable_until_the_job_is_void_pay_for_each_round(
    chain: MarketChain,
) -> None:
    """Two members of every committee reveal "unavailable" while the third recomputes: no round
    has a majority and the job is void after max_rounds. No later round decides, so those reveals
    once cost nothing, and two colluders could void any job for free; now each costs
    member_penalty, and the member that recomputed is not penalized."""
    job_id = commit_job(chain)
    ledger = Ledger(chain, W, REQUESTER.public, *VALIDATORS_KEYS)
    faked: dict[bytes, int] = dict.fromkeys(VALIDATORS_KEYS, 0)
    for index in range(CP.max_rounds):
        members = drawn(chain, job_id, index)
        plan = {m: "unavailable" for m in members[:2]} | {members[2]: "honest"}
        for member in members[:2]:
            faked[member] += 1
        events = run(chain, job_id, index, plan)
        assert events[0] == ("CheckDecided", (job_id, index, "inconclusive"))
    assert events[-1] == ("JobVoided", (job_id,))
    assert ledger.change(REQUESTER.public) == 0 and ledger.earned(W) == 0
    for member in VALIDATORS_KEYS:
        assert ledger.earned(member) == -PENALTY * faked[member]
    # The colluders' expected profit: voiding the job gains them nothing measurable here (they
    # are paid no fee either way), and each faked reveal cost them the penalty.
    profit = sum(ledger.earned(m) for m in VALIDATORS_KEYS if faked[m])
    assert profit == -2 * CP.max_rounds * PENALTY < 0


# Overturned passes, disputes and their bonds (9)


def test_a_pass_that_a_later_check_overturns_costs_its_voters() -> None:
    """A committee that passes a wrong leaf (revealing the worker's hashes) is penalized when the
    requester's dispute fails that leaf, losing what the passed dispute paid it of the bond."""
    # One leaf audited (the guard accepts it assuming nobody colludes).
    chain = market_chain(compute_params=replace(CP, audit_leaves=1, collusion_ppm=0))
    chain.register(WORKER, capacity=16)
    while True:
        job_id = commit_job(chain, bad=(7,))
        members = drawn(chain, job_id)
        skipped = 7 not in chain.checks(job_id)[0].leaves
        run(chain, job_id, 0, dict.fromkeys(members, "honest"))
        if skipped:
            break
    assert chain.dispute(CHALLENGER, job_id, 7).error is None
    colluders = drawn(chain, job_id, 1)
    ledger = Ledger(chain, *colluders)
    events = run(chain, job_id, 1, dict.fromkeys(colluders, "copy"))
    assert ("CheckDecided", (job_id, 1, "pass")) in events
    bond = fraud_bond_for(chain.compute_params(), VERIFICATION_FEE)
    paid = bond // 2 // 3
    assert all(ledger.earned(m) == paid for m in colluders)
    assert chain.dispute(REQUESTER, job_id, 7).error is None
    honest = drawn(chain, job_id, 2)
    events = run(chain, job_id, 2, dict.fromkeys(honest, "honest"))
    assert ("CheckDecided", (job_id, 2, "fail")) in events
    overturned = [(args[1], args[2], args[3]) for n, args in events if n == "MemberPenalized"]
    assert overturned == [(1, m, PENALTY + paid) for m in colluders]
    for member in colluders:  # their pass earned them less than nothing
        assert ledger.earned(member) == -PENALTY + (
            VERIFICATION_FEE // 3 if member in honest else 0
        )
        assert ledger.earned(member) - (VERIFICATION_FEE // 3 if member in honest else 0) < 0


def test_a_disputes_committee_is_drawn_from_a_block_after_the_dispute(
    chain: MarketChain,
) -> None:
    """The dispute's committee was drawn from the parent hash at the dispute, known in
    advance. Now it is drawn DRAW_DELAY blocks later from the chain randomness, which mixes the
    VRF outputs of the blocks authored after the dispute."""
    job_id = commit_job(chain)
    members = drawn(chain, job_id)
    run(chain, job_id, 0, dict.fromkeys(members, "honest"))
    out = chain.dispute(CHALLENGER, job_id, 3)
    at = chain.head.number
    check = chain.checks(job_id)[1]
    assert check.committee == () and check.draw_at == at + DRAW_DELAY
    committee = drawn(chain, job_id, 1)
    assert check.draw_at > at  # drawn in a block authored after the dispute
    mixed = chain.randomness_of(check.draw_at)
    seed = blake2b_256(
        b"xpl-compute" + b"check" + (1).to_bytes(4, "big") + mixed + job_id.to_bytes(8, "big")
    )
    remaining = list(VALIDATORS_KEYS)
    expected = []
    for i in range(CP.committee_size):
        digest = blake2b_256(seed + b"committee" + i.to_bytes(4, "big"))
        point = int.from_bytes(digest, "big") % (len(remaining) * VALIDATOR_BOND)
        expected.append(remaining.pop(point // VALIDATOR_BOND))
    assert committee == tuple(expected)
    assert out.error is None


@pytest.mark.parametrize(
    ("strategies", "outcome"),
    [
        pytest.param(("honest", "silent", "unavailable"), "inconclusive", id="inconclusive"),
        pytest.param(("honest", "honest", "silent"), "pass", id="one-silent"),
    ],
)
def test_a_griefing_dispute_loses_its_bond(
    chain: MarketChain, strategies: tuple[str, ...], outcome: str
) -> None:
    """A dispute of a correct leaf once got its bond back when one member stayed silent. Now a
    silent member cannot stop a pass (the bond goes half to the worker, half to the committee),
    and an inconclusive round keeps the bond (to the treasury)."""
    job_id = commit_job(chain)
    members = drawn(chain, job_id)
    run(chain, job_id, 0, dict.fromkeys(members, "honest"))
    ledger = Ledger(chain, CHALLENGER.public, TREASURY)
    assert chain.dispute(CHALLENGER, job_id, 5).error is None
    committee = drawn(chain, job_id, 1)
    events = run(chain, job_id, 1, dict(zip(committee, strategies, strict=True)))
    assert events[0] == ("CheckDecided", (job_id, 1, outcome))
    bond = fraud_bond_for(CP, VERIFICATION_FEE)
    assert ledger.earned(CHALLENGER.public) == -bond
    assert chain.held(CHALLENGER, "bond") == 0
    # The challenger's expected profit: it delays the worker's payment, it gains nothing.
    assert ledger.change(CHALLENGER.public) < 0


# A state machine of committee strategies


STRATEGIES = ("honest", "lazy", "lazy-copy", "silent", "unavailable", "copy")


class CommitteeMachine(RuleBasedStateMachine):
    """Workers (honest or cheating) commit jobs; the four validators each follow one strategy
    (at most one colludes with the workers: the stake share the guard assumes); after every
    block the invariants and issuance hold, honest members have never lost money to the
    protocol, and lazy, silent and "unavailable" members have never gained."""

    def __init__(self) -> None:
        super().__init__()
        # A cheating worker's reputation falls fast; the gate would stop matching it.
        ungated = replace(market.DEFAULT_MARKET_PARAMS, min_match_reputation=-1000)
        self.chain = market_chain(ungated, replace(CP, audit_leaves=4))
        self.chain.register(WORKER, capacity=16)
        self.strategy: dict[bytes, str] = {}
        self.ledger = Ledger(self.chain, *VALIDATORS_KEYS)
        self.least: dict[bytes, int] = {}
        self.most: dict[bytes, int] = {}

    @initialize(
        strategies=st.lists(st.sampled_from(STRATEGIES), min_size=4, max_size=4).filter(
            lambda s: s.count("copy") <= 1
        )
    )
    def assign(self, strategies: list[str]) -> None:
        self.strategy = dict(zip(VALIDATORS_KEYS, strategies, strict=True))

    @rule(cheat=st.booleans(), mode=st.sampled_from(["always", "sampled"]))
    def job(self, cheat: bool, mode: str) -> None:
        """A job submitted, and committed by the worker (a wrong leaf if it cheats)."""
        if len([j for j in self.chain.jobs().values() if j.state == "committed"]) >= 6:
            self.block()
            return
        job_id = max(self.chain.jobs(), default=0) + 1
        args = ("gemm_i8", [1000, 500, 1000, 100], ["a", "b"], [b"", b""], 7, 2 * UNIT, 10, 10)
        self.block((REQUESTER, "market", "submit_job", (*args, mode)))
        if self.chain.job(job_id).worker == W:
            hashes = wrong_hashes(*((3,) if cheat else ()))
            self.chain.results[job_id] = hashes
            root = root_of_hashes(hashes)
            args = (job_id, self.chain.digest(job_id), root, 10)
            self.block((WORKER, "compute", "commit_result", args))

    @rule(blocks=st.integers(1, 3))
    def wait(self, blocks: int) -> None:
        for _ in range(blocks):
            self.block()

    def block(self, *calls: Any) -> None:
        """A block with `calls` and what every committee and worker does in it."""
        number = self.chain.head.number + 1
        duties: list[Any] = []
        for job_id, job in sorted(self.chain.jobs().items()):
            if job.state == "committed":
                for index in range(len(self.chain.checks(job_id))):
                    duties += self.duties(job_id, index, number)
        every = [*calls, *duties]
        if every:
            self.chain.calls(*every)
        else:
            self.chain.advance()
        self.check()

    def duties(self, job_id: int, index: int, number: int) -> list[Any]:
        check = self.chain.checks(job_id)[index]
        phase = check.phase(number)
        calls: list[Any] = []
        for member in check.committee:
            strategy = self.strategy[member]
            answer = self.answer(job_id, index, member, strategy)
            witness = guess(member) if strategy in ("lazy", "lazy-copy") else None
            if strategy == "silent":
                continue
            if phase == "commit" and check.commitment_of(member) is None:
                calls.append(self.chain.commitment(member, job_id, index, answer, witness))
            if (
                phase == "reveal"
                and check.commitment_of(member)
                and check.reveal_of(member) is None
            ):
                calls.append(self.chain.reveal(member, job_id, index, answer, witness))
        if phase == "reveal" and not check.response:
            calls.append(self.chain.response(job_id, index))
        return calls

    def answer(self, job_id: int, index: int, member: bytes, strategy: str) -> tuple[bytes, ...]:
        if strategy == "honest":
            return self.chain.truth(job_id, index)
        if strategy in ("copy", "lazy-copy"):
            return self.chain.worker_hashes(job_id, index)
        if strategy == "lazy":
            return tuple(guess(member) for _ in self.chain.checks(job_id)[index].leaves)
        return ()

    def check(self) -> None:
        """After every block: every pallet's invariants, issuance, and the members' money."""
        self.issuance_holds()
        assert self.chain.problems() == []
        for member, strategy in self.strategy.items():
            earned = self.ledger.earned(member)
            if strategy == "honest":
                assert earned >= 0, f"an honest member lost {-earned}"
            if strategy in ("lazy", "lazy-copy", "silent", "unavailable"):
                assert earned <= self.most.get(member, 0), "a lazy member gained"
                self.most[member] = earned

    @invariant()
    def issuance_holds(self) -> None:
        chain = self.chain
        accounts = [system.Account.decode(v) for _, v in chain.iterate(system.Account.prefix)]
        assert chain.issuance() == sum(a.free + a.reserved for a in accounts)


CommitteeMachine.TestCase.settings = settings(
    max_examples=15,
    stateful_step_count=50,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
TestCommitteeMachine = CommitteeMachine.TestCase


# A worker that withholds the committed leaves its checked ones build on


SGD_PARAMS = (1000, 500, 50, 100, 10, 8, 6)
"""An sgd_fxp job of 10 steps (leaves) and 10^9 cost units: each step builds on the one before."""


def commit_sgd_job(chain: MarketChain) -> int:
    chain.register(WORKER, capacity=16, workloads=("sgd_fxp",), prices=(UNIT,))
    out = chain.submit(
        REQUESTER, workload="sgd_fxp", params=SGD_PARAMS, names=("x", "y"), deadline=10, wait=10
    )
    job_id = int(out.events[1][1][0])
    assert chain.commit(WORKER, job_id).error is None
    return job_id


def test_a_worker_whose_result_a_majority_could_not_obtain_fails() -> None:
    """An sgd_fxp cheater once went free by serving no result: members recompute a step from
    the committed step before it, and without it they could only reveal "unavailable", round
    after round, until the job was void. Now they reveal RESULT_WITHHELD and the worker fails:
    serving its result is its duty. The claim is not paid (the fee goes back to the requester),
    so members that make it without trying gain nothing."""
    chain = market_chain()
    job_id = commit_sgd_job(chain)
    members = drawn(chain, job_id)
    ledger = Ledger(chain, *members)
    before, slash = chain.held(WORKER, "stake"), chain.job(job_id).slash
    events = run(chain, job_id, 0, dict.fromkeys(members, "withheld"))
    assert events[0] == ("CheckDecided", (job_id, 0, "fail"))
    assert chain.job(job_id).state == "failed"
    assert chain.held(WORKER, "stake") == before - slash > 0
    assert [name for name, _ in events if name == "MemberPenalized"] == []
    assert all(ledger.earned(m) == 0 for m in members)


def test_a_lone_member_that_claims_the_result_withheld_is_outvoted_and_penalized() -> None:
    chain = market_chain()
    job_id = commit_sgd_job(chain)
    members = drawn(chain, job_id)
    strategies = dict(zip(members, ("withheld", "honest", "honest"), strict=True))
    events = run(chain, job_id, 0, strategies)
    assert events[0] == ("CheckDecided", (job_id, 0, "pass"))
    penalized = [args[2] for name, args in events if name == "MemberPenalized"]
    assert penalized == [members[0]]


def test_claiming_the_result_withheld_where_no_leaf_builds_on_one_is_refused(
    chain: MarketChain,
) -> None:
    """A gemm_i8 leaf builds on no committed leaf, so "the worker withheld what I needed" cannot
    be true of it. Two lazy members once convicted an honest worker with that claim in one round
    and were paid for it (+0.025 XPL each, the worker −3 XPL); now the reveal is refused, and
    the two, having committed but not revealed, are penalized while the job passes."""
    job_id = commit_job(chain)
    members = drawn(chain, job_id)
    check = chain.checks(job_id)[0]
    commits = [chain.commitment(m, job_id, 0, compute.RESULT_WITHHELD) for m in members[:2]]
    commits.append(chain.commitment(members[2], job_id, 0, chain.truth(job_id, 0)))
    assert all(o.error is None for o in chain.calls(*commits))
    chain.advance_to(check.commit_deadline)
    refused = chain.calls(
        *(chain.reveal(m, job_id, 0, compute.RESULT_WITHHELD) for m in members[:2])
    )
    assert [o.error for o in refused] == ["BadReveal", "BadReveal"]
    ledger = Ledger(chain, W)
    calls = [chain.reveal(members[2], job_id, 0, chain.truth(job_id, 0)), chain.response(job_id, 0)]
    assert all(o.error is None for o in chain.calls(*calls))
    events = hook_events(chain.advance_to(check.reveal_deadline + 1))
    assert ("CheckDecided", (job_id, 0, "fail")) not in events
    assert chain.job(job_id).state == "committed"
    assert [a[2] for n, a in events if n == "MemberPenalized"] == list(members[:2])
    assert ledger.change(W) >= 0
