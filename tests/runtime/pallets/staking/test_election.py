"""Elections each era: sequential Phragmén over own and nominated stake, each bond split over its
elected targets and counted once, ties, unchanged sets, too few candidates and forced eras.

Alice, Bob and Charlie validate from genesis with 3000, 2000 and 1000 XPL; eras are 10 blocks;
three validators are elected when at least two candidates are eligible (staking_helpers).
"""

from __future__ import annotations

from fractions import Fraction

from runtime.pallets import staking
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
    REPORTER,
    A,
    B,
    C,
    D,
    E,
    StakingChain,
    boundary,
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
