"""Elections each era: sequential Phragmén over own and nominated stake, each bond split over its
elected targets and counted once, ties, unchanged sets, too few candidates and forced eras.

Alice, Bob and Charlie validate from genesis with 3000, 2000 and 1000 XPL; eras are 10 blocks;
three validators are elected when at least two candidates are eligible (staking_helpers).
"""

from __future__ import annotations

from fractions import Fraction
from itertools import combinations
from random import Random

from hypothesis import given, settings
from hypothesis import strategies as st

from runtime.pallets import staking
from runtime.pallets.staking.phragmen import Voter, seq_phragmen
from tests.runtime.pallets.market_helpers import UNIT, hook_events
from tests.runtime.pallets.staking_helpers import (
    ALICE,
    BOB,
    BONDS,
    CHARLIE,
    DAVE,
    ERA_BLOCKS,
    EVE,
    NINA,
    NOEL,
    PPM,
    REPORTER,
    A,
    B,
    C,
    D,
    E,
    StakingChain,
    boundary,
    staking_chain,
    vote_equivocation,
)


def test_the_election_takes_the_top_candidates_by_backing(chain: StakingChain) -> None:
    for who, bond in ((DAVE, 1_500 * UNIT), (EVE, 2_500 * UNIT)):
        chain.bond(who, bond)
        chain.validate(who)
    events = boundary(chain)
    assert chain.active() == tuple(sorted((A, B, E)))
    assert ("NewEra", (1, list(chain.active()))) in events
    # Alice and Bob keep their authoring places; Eve takes Charlie's.
    authorities = chain.authorities()
    assert authorities.set_id == 1
    assert authorities.authorities == ((A, 3_000 * UNIT), (B, 2_000 * UNIT), (E, 2_500 * UNIT))


def test_nominations_lift_a_candidate_and_split_by_phragmen(chain: StakingChain) -> None:
    chain.bond(DAVE, 1_500 * UNIT)
    chain.validate(DAVE)
    chain.bond(NINA, 601 * UNIT)
    chain.nominate(NINA, DAVE, CHARLIE)
    noel_bond = 1_000 * UNIT + 1
    chain.bond(NOEL, noel_bond)
    chain.nominate(NOEL, ALICE, DAVE)
    boundary(chain)
    # Alice (4000 approved) first, then Dave (3101 approved, Noel partly loaded by Alice) before
    # Bob (2000), then Bob before Charlie (1601, Nina loaded by Dave).
    assert chain.active() == tuple(sorted((A, D, B)))
    load_alice = Fraction(1, BONDS[A] + noel_bond)
    load_dave = (1 + noel_bond * load_alice) / (1_500 * UNIT + 601 * UNIT + noel_bond)
    noel_to_alice = noel_bond * load_alice / load_dave
    dave = chain.exposure(DAVE)
    alice = chain.exposure(ALICE)
    assert dave is not None and alice is not None
    # Charlie is not elected: Nina's whole bond backs Dave. Noel's follows his loads: about 62%
    # to Alice, the rest to Dave, to the unit.
    ((noel, to_alice),) = alice.others
    assert noel == NOEL.public and abs(to_alice - noel_to_alice) <= 1
    assert dave.own == 1_500 * UNIT
    assert dict(dave.others) == {NINA.public: 601 * UNIT, NOEL.public: noel_bond - to_alice}
    assert dave.total == 1_500 * UNIT + 601 * UNIT + noel_bond - to_alice
    assert chain.authorities().weight_of(D) == dave.total


def test_ties_in_backing_go_to_the_lower_stash_bytes(chain: StakingChain) -> None:
    for who in (DAVE, EVE):
        chain.bond(who, 2_000 * UNIT)
        chain.validate(who)
    boundary(chain)
    assert chain.active() == tuple(sorted((A, *sorted((B, D, E))[:2])))


def test_an_unchanged_election_keeps_the_set_id(chain: StakingChain) -> None:
    result = chain.to_era_end()
    assert chain.era() == 1 and chain.authorities().set_id == 0
    assert ("NewEra", (1, list(chain.active()))) in hook_events(result, "staking")
    assert hook_events(result, "session") == []
    # A change of backing changes the set.
    chain.call(ALICE, "staking", "bond_extra", 10 * UNIT)
    boundary(chain)
    assert chain.authorities().set_id == 1
    assert chain.authorities().weight_of(A) == 3_010 * UNIT


def test_too_few_candidates_keep_the_current_set(chain: StakingChain) -> None:
    chain.call(ALICE, "staking", "chill")
    chain.call(BOB, "staking", "chill")
    before = chain.authorities()
    exposures = [chain.exposure(v) for v in (A, B, C)]
    boundary(chain)
    assert chain.era() == 1
    assert chain.authorities() == before
    assert [chain.exposure(v) for v in (A, B, C)] == exposures


def test_a_forced_era_ends_at_the_next_block_and_the_boundary_still_comes(
    chain: StakingChain,
) -> None:
    chain.advance(3)
    chain.report(REPORTER, vote_equivocation(CHARLIE))
    assert staking.ForceEra.get(chain.overlay())
    chain.advance()
    assert chain.era() == 1 and staking.EraStart.get(chain.overlay()) == 5
    chain.advance_to(ERA_BLOCKS)
    assert chain.era() == 2


# The exploits: one bond counted for two candidates, and a commission raised before the election


def rewards_of(events: list[tuple[str, tuple[object, ...]]]) -> dict[object, object]:
    """Who was rewarded how much, from an era boundary's staking events."""
    return {args[0]: args[1] for name, args in events if name == "Rewarded"}


def coalition_gain(*, second_candidate: bool) -> tuple[StakingChain, int, int]:
    """Dave (100 XPL) stands, and Nina nominates him with 1,950; with `second_candidate` Eve
    (100 XPL) stands too and Nina names both. The chain, the coalition's total balances gained by
    the end of era 1 (whose validators the first election picked), and the fees it paid."""
    chain = staking_chain()
    coalition = (DAVE, EVE, NINA)
    before = sum(chain.total(who) for who in coalition)
    standing = (DAVE, EVE) if second_candidate else (DAVE,)
    outcomes = [chain.bond(who, 100 * UNIT) for who in standing]
    outcomes += [chain.validate(who) for who in standing]
    outcomes += [chain.bond(NINA, 1_950 * UNIT), chain.nominate(NINA, *standing)]
    assert all(out.error is None for out in outcomes)
    boundary(chain)  # the election of era 1
    assert rewards_of(boundary(chain))  # era 1 paid
    assert chain.problems() == []
    gain = sum(chain.total(who) for who in coalition) - before
    return chain, gain, sum(out.fee for out in outcomes)


def test_one_bond_behind_two_candidates_is_counted_once_and_bob_keeps_his_seat() -> None:
    attack, attack_gain, attack_fees = coalition_gain(second_candidate=True)
    honest, honest_gain, honest_fees = coalition_gain(second_candidate=False)
    # Bob's 2000 of his own beats the 2050 that Dave or Eve would need twice over: the coalition
    # gets the one seat its stake is worth, whichever of its candidates comes first by bytes.
    winner = min(D, E)
    assert attack.active() == tuple(sorted((A, B, winner)))
    assert honest.active() == tuple(sorted((A, B, D)))
    exposure = attack.exposure(winner)
    assert exposure is not None
    assert (exposure.own, exposure.others) == (100 * UNIT, ((NINA.public, 1_950 * UNIT),))
    assert exposure.total == 2_050 * UNIT
    bob = attack.exposure(BOB)
    assert bob is not None and (bob.own, bob.total, bob.others) == (2_000 * UNIT, 2_000 * UNIT, ())
    # Standing a second candidate only costs Eve's fees: the attack loses money.
    profit = attack_gain - honest_gain
    assert profit == -(attack_fees - honest_fees) < 0


def commission_gain(*, raise_before_election: bool) -> tuple[int, int, dict[object, object]]:
    """Dave (1,500 XPL) stands at 0% and Nina nominates him with 601; with
    `raise_before_election` he raises to 100% in the last block before the election. Dave's
    total balance gained by the end of era 1, the fees he paid, and era 1's rewards."""
    chain = staking_chain()
    before = chain.total(DAVE)
    outcomes = [chain.bond(DAVE, 1_500 * UNIT), chain.validate(DAVE, 0)]
    assert chain.bond(NINA, 601 * UNIT).error is None
    assert chain.nominate(NINA, DAVE).error is None
    chain.advance_to(ERA_BLOCKS - 2)
    if raise_before_election:
        outcomes.append(chain.validate(DAVE, PPM))
        due = chain.head.number + ERA_BLOCKS  # a whole era's blocks later: era 2's start
        assert ("CommissionRaisePending", (D, PPM, due)) in outcomes[-1].events
    else:
        chain.advance()
    assert all(out.error is None for out in outcomes)
    boundary(chain)  # the election of era 1
    exposure = chain.exposure(DAVE)
    assert exposure is not None and exposure.commission_ppm == 0
    assert exposure.others == ((NINA.public, 601 * UNIT),)
    rewards = rewards_of(boundary(chain))  # era 1 paid
    assert chain.problems() == []
    return chain.total(DAVE) - before, sum(out.fee for out in outcomes), rewards


def test_a_commission_raise_before_the_election_does_not_apply_to_the_next_era() -> None:
    attack_gain, attack_fees, attack_rewards = commission_gain(raise_before_election=True)
    honest_gain, honest_fees, honest_rewards = commission_gain(raise_before_election=False)
    # Nina was paid as if Dave had not raised.
    assert attack_rewards == honest_rewards and attack_rewards[NINA.public] > 0
    profit = attack_gain - honest_gain
    assert profit == -(attack_fees - honest_fees) < 0


def test_nominators_can_leave_before_a_raised_commission_applies() -> None:
    chain = staking_chain(commission=50_000)  # the genesis validators charge 5%
    chain.bond(NINA, 601 * UNIT)
    chain.nominate(NINA, CHARLIE)
    chain.validate(CHARLIE, PPM)  # era 0: applies from era 2's election
    pending = staking.PendingCommission.get(chain.overlay(), C)
    assert pending == staking.CommissionRaise(PPM, chain.head.number + ERA_BLOCKS)
    assert staking.Validators.get(chain.overlay(), C) == 50_000
    boundary(chain)
    exposure = chain.exposure(CHARLIE)
    assert exposure is not None and exposure.commission_ppm == 50_000
    chain.call(NINA, "staking", "chill")  # era 1: Nina sees the raise and leaves
    boundary(chain)
    exposure = chain.exposure(CHARLIE)
    assert exposure is not None and (exposure.commission_ppm, exposure.others) == (PPM, ())
    assert staking.PendingCommission.get(chain.overlay(), C) is None
    assert chain.problems() == []


def test_a_decrease_applies_at_the_next_election_and_drops_a_pending_raise() -> None:
    chain = staking_chain(commission=50_000)
    chain.validate(CHARLIE, 100_000)
    out = chain.validate(CHARLIE, 10_000)
    assert ("ValidatorPrefsSet", (C, 10_000, C)) in out.events
    assert staking.PendingCommission.get(chain.overlay(), C) is None
    boundary(chain)
    exposure = chain.exposure(CHARLIE)
    assert exposure is not None and exposure.commission_ppm == 10_000


def test_standing_again_above_zero_waits_like_a_raise(chain: StakingChain) -> None:
    """Nominations outlive a candidacy: a stash that stands again does so over 0%."""
    chain.bond(DAVE, 2_500 * UNIT)
    chain.validate(DAVE, 0)
    chain.bond(NINA, 601 * UNIT)
    chain.nominate(NINA, DAVE)
    chain.call(DAVE, "staking", "chill")  # Nina's nomination of Dave stays
    chain.validate(DAVE, PPM)
    due = chain.head.number + ERA_BLOCKS
    assert staking.PendingCommission.get(chain.overlay(), D) == staking.CommissionRaise(PPM, due)
    boundary(chain)
    exposure = chain.exposure(DAVE)
    assert exposure is not None and exposure.commission_ppm == 0
    assert exposure.others == ((NINA.public, 601 * UNIT),)


# Sequential Phragmén's properties, on random elections

ACCOUNT_IDS = [bytes([i]) * 32 for i in range(1, 7)]
STAKES = st.integers(1, 10**30)


@st.composite
def elections(draw: st.DrawFn) -> tuple[int, dict[bytes, int], list[Voter]]:
    """Seats, candidates (stash → own stake) and nominators over a few accounts."""
    chosen = draw(st.lists(st.sampled_from(ACCOUNT_IDS), min_size=1, max_size=5, unique=True))
    candidates = {c: draw(STAKES) for c in chosen}
    voters = [
        Voter(bytes([100 + i]) * 32, draw(STAKES), tuple(draw(st.sets(st.sampled_from(chosen)))))
        for i in range(draw(st.integers(0, 5)))
    ]
    return draw(st.integers(1, 5)), candidates, voters


@given(elections(), st.randoms(use_true_random=False))
@settings(max_examples=200, deadline=None)
def test_the_election_is_deterministic_and_splits_each_bond_at_most_once(
    election: tuple[int, dict[bytes, int], list[Voter]], shuffler: Random
) -> None:
    seats, candidates, voters = election
    result = seq_phragmen(seats, candidates, voters)
    shuffled = list(voters)
    shuffler.shuffle(shuffled)
    reordered = dict(sorted(candidates.items(), key=lambda _: shuffler.random()))
    assert seq_phragmen(seats, reordered, shuffled) == result
    assert len(result.winners) == min(seats, len(candidates))
    assert len(set(result.winners)) == len(result.winners)
    for voter in voters:
        elected = set(voter.targets) & set(result.winners)
        shares = result.assignments.get(voter.who, ())
        assert {w for w, _ in shares} <= elected
        assert sum(s for _, s in shares) == (voter.budget if elected else 0)


@given(
    st.dictionaries(st.sampled_from(ACCOUNT_IDS), STAKES, min_size=1),
    st.integers(1, 6),
)
def test_without_nominators_the_top_candidates_by_own_stake_are_elected(
    candidates: dict[bytes, int], seats: int
) -> None:
    result = seq_phragmen(seats, candidates, [])
    by_stake = sorted(candidates, key=lambda c: (-candidates[c], c))
    assert result.winners == tuple(by_stake[:seats])
    assert result.assignments == {}


@given(elections())
@settings(max_examples=200, deadline=None)
def test_the_election_gives_proportional_justified_representation(
    election: tuple[int, dict[bytes, int], list[Voter]],
) -> None:
    """Any group of voters (candidates voting for themselves included) with more than ℓ seats'
    worth of stake, all approving ℓ common candidates, gets ℓ seats among those it approves."""
    seats, candidates, voters = election
    winners = set(seq_phragmen(seats, candidates, voters).winners)
    everyone = [Voter(c, own, (c,)) for c, own in candidates.items()]
    everyone += [v for v in voters if v.targets]
    total = sum(v.budget for v in everyone)
    for size in range(1, len(everyone) + 1):
        for group in combinations(everyone, size):
            common = set.intersection(*(set(v.targets) for v in group))
            approved = set().union(*(v.targets for v in group))
            stake = sum(v.budget for v in group)
            for ell in range(1, min(len(common), seats) + 1):
                if stake * seats > ell * total:
                    assert len(winners & approved) >= ell
