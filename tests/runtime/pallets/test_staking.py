"""Staking: genesis, bonding, candidacy and nominations, elections, rewards, the offline penalty,
equivocation reports, noted finality votes, committees drawn by stake, and the parameters.

Alice, Bob and Charlie validate from genesis with 3000, 2000 and 1000 XPL; eras are 10 blocks;
three validators are elected when at least two candidates are eligible (staking_helpers).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chain.client.chain import transfer_call
from runtime.accounts import TREASURY
from runtime.consensus import SignedVote, SlotEquivocation, VoteEquivocation
from runtime.consensus import encode_equivocation as encode_proof
from runtime.executive import CALLS
from runtime.framework import BlockContext
from runtime.genesis import build_genesis_state
from runtime.pallets import compute, session, staking, transaction_payment
from runtime.pallets.staking import GenesisNominator, Ledger
from runtime.primitives.hashing import ZERO_HASH, blake2b_256
from runtime.primitives.keys import Keypair
from runtime.state import StateOverlay
from tests.runtime.conftest import apply_changes
from tests.runtime.pallets.market_helpers import UNIT, hook_events, treasury_fee_share
from tests.runtime.pallets.staking_helpers import (
    ALICE,
    BOB,
    BONDS,
    CHARLIE,
    DAVE,
    ENDOWMENT,
    ERA_BLOCKS,
    EVE,
    NINA,
    NOEL,
    OUTSIDER,
    PARAMS,
    PPM,
    REPORTER,
    SESSION_KEYS,
    StakingChain,
    header,
    precommit,
    slot_equivocation,
    staking_chain,
    staking_config,
    vote,
    vote_equivocation,
    with_signature,
)

A, B, C, D, E = (k.public for k in (ALICE, BOB, CHARLIE, DAVE, EVE))
HOLD = staking.HOLD


@pytest.fixture
def chain() -> Iterator[StakingChain]:
    made = staking_chain()
    yield made
    assert made.problems() == []


def boundary(chain: StakingChain) -> list[tuple[str, tuple[object, ...]]]:
    """Author to the next era boundary; the staking events of that block's hooks."""
    return hook_events(chain.to_era_end(), "staking")


# Genesis


def test_genesis_bonds_the_validators_and_weighs_them_by_their_backing() -> None:
    first, second = sorted((A, B))
    nina = GenesisNominator(NINA.public, 600 * UNIT + 1, (A, B))
    chain = staking_chain(nominators=[nina])
    for who, bond in BONDS.items():
        assert chain.ledger(who) == Ledger(active=bond)
        assert chain.held(who, HOLD) == bond and chain.balance(who) == ENDOWMENT - bond
    assert chain.held(NINA, HOLD) == 600 * UNIT + 1
    shares = {first: 300 * UNIT + 1, second: 300 * UNIT}
    authorities = chain.authorities()
    assert authorities.set_id == 0
    assert authorities.authorities == tuple((v, BONDS[v] + shares.get(v, 0)) for v in (A, B, C))
    exposure = chain.exposure(first)
    assert exposure is not None and exposure.others == ((NINA.public, 300 * UNIT + 1),)
    assert chain.active() == tuple(sorted((A, B, C))) and chain.candidates() == chain.active()
    assert chain.problems() == []


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"bond": 20_000 * UNIT}, "cannot bond"),
        ({"bond": 50 * UNIT}, "below min_validator_bond"),
        ({"commission_ppm": PPM + 1}, "commission"),
    ],
)
def test_genesis_refuses_a_validator_that_breaks_a_rule(
    change: dict[str, int], message: str
) -> None:
    config = staking_config()
    bad = replace(config.validators[0], **change)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=message):
        build_genesis_state(replace(config, validators=(bad, *config.validators[1:])))


def test_genesis_refuses_nominators_of_unknown_targets_and_a_shared_session_key() -> None:
    config = staking_config(nominators=[GenesisNominator(NINA.public, 100 * UNIT, (D,))])
    with pytest.raises(ValueError, match="targets must be distinct validators"):
        build_genesis_state(config)
    config = staking_config()
    shared = replace(config.validators[1], session_key=A)
    with pytest.raises(ValueError, match="session key is taken"):
        build_genesis_state(replace(config, validators=(config.validators[0], shared)))


# Bonding


def test_bond_holds_the_amount_and_records_a_ledger(chain: StakingChain) -> None:
    out = chain.bond(DAVE, 500 * UNIT)
    assert out.error is None
    assert ("Bonded", (D, 500 * UNIT)) in out.events
    assert chain.ledger(DAVE) == Ledger(active=500 * UNIT)
    assert chain.held(DAVE, HOLD) == 500 * UNIT
    out = chain.call(DAVE, "staking", "bond_extra", 100 * UNIT)
    assert out.error is None and chain.ledger(DAVE) == Ledger(active=600 * UNIT)
    assert chain.held(DAVE, HOLD) == 600 * UNIT


@pytest.mark.parametrize(
    ("amount", "error"),
    [
        (5 * UNIT, "BondTooSmall"),
        (0, "BondTooSmall"),
        (ENDOWMENT + 1, "InsufficientBalance"),
    ],
)
def test_bond_refusals_hold_nothing(chain: StakingChain, amount: int, error: str) -> None:
    out = chain.bond(DAVE, amount)
    assert out.error == error and out.fee > 0
    assert chain.ledger(DAVE) is None and chain.held(DAVE, HOLD) == 0


def test_bond_twice_and_bond_extra_without_a_bond_are_refused(chain: StakingChain) -> None:
    assert chain.bond(ALICE, 100 * UNIT).error == "AlreadyBonded"
    assert chain.call(DAVE, "staking", "bond_extra", UNIT).error == "NotBonded"


def test_unbonded_chunks_unlock_after_the_bonding_eras_and_are_withdrawn(
    chain: StakingChain,
) -> None:
    chain.bond(DAVE, 500 * UNIT)
    out = chain.call(DAVE, "staking", "unbond", 200 * UNIT)
    assert ("Unbonded", (D, 200 * UNIT, 2)) in out.events
    assert chain.ledger(DAVE) == Ledger(300 * UNIT, ((2, 200 * UNIT),))
    assert chain.held(DAVE, HOLD) == 500 * UNIT  # still held while it unbonds
    assert chain.call(DAVE, "staking", "withdraw_unbonded").error == "NothingToWithdraw"
    chain.to_era_end()
    chain.call(DAVE, "staking", "unbond", 100 * UNIT)  # era 1: unlocks at era 3
    assert chain.call(DAVE, "staking", "withdraw_unbonded").error == "NothingToWithdraw"
    chain.to_era_end()
    assert chain.era() == 2
    free = chain.balance(DAVE)
    out = chain.call(DAVE, "staking", "withdraw_unbonded")
    assert ("Withdrawn", (D, 200 * UNIT)) in out.events
    assert chain.balance(DAVE) == free + 200 * UNIT - out.fee
    assert chain.ledger(DAVE) == Ledger(200 * UNIT, ((3, 100 * UNIT),))
    assert chain.held(DAVE, HOLD) == 300 * UNIT


def test_withdrawing_everything_removes_the_ledger(chain: StakingChain) -> None:
    chain.bond(DAVE, 500 * UNIT)
    chain.call(DAVE, "staking", "unbond", 500 * UNIT)
    chain.to_era_end()
    chain.to_era_end()
    assert chain.call(DAVE, "staking", "withdraw_unbonded").error is None
    assert chain.ledger(DAVE) is None and chain.held(DAVE, HOLD) == 0


def test_unbond_refuses_more_than_the_active_bond(chain: StakingChain) -> None:
    chain.bond(DAVE, 500 * UNIT)
    assert chain.call(DAVE, "staking", "unbond", 501 * UNIT).error == "InsufficientBond"
    assert chain.call(DAVE, "staking", "unbond", 0).error == "InsufficientBond"
    assert chain.call(EVE, "staking", "unbond", UNIT).error == "NotBonded"


def test_a_candidate_cannot_unbond_below_the_validator_minimum_until_it_chills(
    chain: StakingChain,
) -> None:
    assert chain.call(CHARLIE, "staking", "unbond", 901 * UNIT).error == "BondTooSmall"
    assert chain.call(CHARLIE, "staking", "unbond", 900 * UNIT).error is None
    assert chain.call(CHARLIE, "staking", "chill").error is None
    assert chain.call(CHARLIE, "staking", "unbond", 100 * UNIT).error is None
    ledger = chain.ledger(CHARLIE)
    assert ledger is not None and ledger.active == 0 and ledger.total == 1_000 * UNIT


# Candidacy and nominations


def test_validate_records_the_commission_and_the_session_key_both_ways(
    chain: StakingChain,
) -> None:
    chain.bond(DAVE, 500 * UNIT)
    key = SESSION_KEYS[0].public
    out = chain.validate(DAVE, 50_000, key)
    assert ("ValidatorPrefsSet", (D, 50_000, key)) in out.events
    state = chain.overlay()
    assert staking.Validators.get(state, D) == 50_000
    assert staking.SessionKeys.get(state, D) == key and staking.KeyOwner.get(state, key) == D
    assert D in chain.candidates()
    # The default session key is the stash itself; a new key frees the old one.
    chain.validate(DAVE)
    state = chain.overlay()
    assert staking.SessionKeys.get(state, D) == D and staking.KeyOwner.get(state, key) is None


@pytest.mark.parametrize(
    ("bond", "commission", "error"),
    [
        (None, 0, "NotBonded"),
        (500 * UNIT, PPM + 1, "BadCommission"),
        (50 * UNIT, 0, "BondTooSmall"),
    ],
)
def test_validate_refusals(
    chain: StakingChain, bond: int | None, commission: int, error: str
) -> None:
    if bond is not None:
        chain.bond(DAVE, bond)
    assert chain.validate(DAVE, commission).error == error
    assert D not in chain.candidates()


def test_a_session_key_belongs_to_one_stash(chain: StakingChain) -> None:
    chain.bond(DAVE, 500 * UNIT)
    chain.bond(EVE, 500 * UNIT)
    assert chain.validate(DAVE, 0, A).error == "SessionKeyTaken"
    assert chain.validate(DAVE, 0, SESSION_KEYS[0].public).error is None
    assert chain.validate(EVE, 0, SESSION_KEYS[0].public).error == "SessionKeyTaken"
    assert chain.validate(EVE, 0, D).error is None  # Dave's own account is not his key


def test_a_retired_session_key_stays_its_stashs_and_its_offences_too(
    chain: StakingChain,
) -> None:
    new_key = SESSION_KEYS[1].public
    assert chain.validate(ALICE, 0, new_key).error is None
    chain.bond(DAVE, 500 * UNIT)
    assert chain.validate(DAVE, 0, A).error == "SessionKeyTaken"
    chain.to_era_end()
    assert A not in chain.authorities().keys and new_key in chain.authorities().keys
    assert chain.validate(DAVE, 0, A).error == "SessionKeyTaken"
    # An equivocation signed with the old key in the old set is still Alice's.
    out = chain.report(REPORTER, vote_equivocation(ALICE, set_id=0))
    assert ("Equivocation", (A, "vote")) in out.events
    assert chain.disabled() == ()  # the old key authors no more: nothing to disable
    # Alice may take her old key back.
    assert chain.validate(ALICE, 0, A).error is None


def test_nominate_records_sorted_targets_and_ends_a_candidacy(chain: StakingChain) -> None:
    out = chain.nominate(CHARLIE, ALICE, BOB)
    assert out.error is None
    assert ("Nominated", (C, sorted((A, B)))) in out.events
    assert ("Chilled", (C,)) in out.events
    assert C not in chain.candidates() and chain.nominators() == (C,)
    assert staking.Nominations.get(chain.overlay(), C) == tuple(sorted((A, B)))
    # Validating again ends the nomination.
    assert chain.validate(CHARLIE).error is None
    assert C in chain.candidates() and chain.nominators() == ()


@pytest.mark.parametrize(
    ("targets", "error"),
    [
        ((), "TooManyTargets"),
        ((A, B, C, A, B), "TooManyTargets"),
        ((A, A), "DuplicateTarget"),
        ((A, D), "UnknownTarget"),
        ((NINA.public,), "UnknownTarget"),
    ],
)
def test_nominate_refusals(chain: StakingChain, targets: tuple[bytes, ...], error: str) -> None:
    chain.bond(NINA, 100 * UNIT)
    chain.bond(DAVE, 500 * UNIT)
    assert chain.nominate(NINA, *targets).error == error
    assert chain.nominators() == ()


def test_nominate_needs_the_nominator_minimum(chain: StakingChain) -> None:
    assert chain.nominate(NINA, ALICE).error == "NotBonded"
    chain.bond(NINA, 10 * UNIT)
    params = replace(PARAMS, min_nominator_bond=20 * UNIT)
    assert chain.root_call("staking", "set_params", *_param_args(params)) is None
    assert chain.nominate(NINA, ALICE).error == "BondTooSmall"


def test_chill_ends_candidacy_or_nomination_and_refuses_the_idle(chain: StakingChain) -> None:
    assert chain.call(CHARLIE, "staking", "chill").events == [("Chilled", (C,))]
    assert C not in chain.candidates()
    assert chain.call(CHARLIE, "staking", "chill").error == "NotStaking"
    assert chain.call(OUTSIDER, "staking", "chill").error == "NotStaking"


# Elections


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


def test_nominations_lift_a_candidate_and_split_among_elected_targets(
    chain: StakingChain,
) -> None:
    chain.bond(DAVE, 1_500 * UNIT)
    chain.validate(DAVE)
    chain.bond(NINA, 601 * UNIT)
    chain.nominate(NINA, DAVE, CHARLIE)  # Dave's approval 2101 passes Bob's 2000
    chain.bond(NOEL, 1_000 * UNIT + 1)
    chain.nominate(NOEL, ALICE, DAVE)
    boundary(chain)
    assert chain.active() == tuple(sorted((A, D, B)))
    # Charlie is not elected: Nina's whole bond backs Dave. Noel's is split between Alice and
    # Dave, the odd unit to the first of them in byte order.
    first = min(A, D)
    noel = {A: 500 * UNIT, D: 500 * UNIT}
    noel[first] += 1
    dave = chain.exposure(DAVE)
    assert dave is not None
    assert dave.own == 1_500 * UNIT
    assert dict(dave.others) == {NINA.public: 601 * UNIT, NOEL.public: noel[D]}
    assert dave.total == 1_500 * UNIT + 601 * UNIT + noel[D]
    alice = chain.exposure(ALICE)
    assert alice is not None and alice.others == ((NOEL.public, noel[A]),)
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


# Rewards


def test_rewards_follow_points_commission_and_exposure() -> None:
    nina = GenesisNominator(NINA.public, 500 * UNIT, (A, B))
    chain = staking_chain(nominators=[nina], commission=100_000)
    chain.advance_to(ERA_BLOCKS - 1)
    points = chain.points_at_era_end()
    assert all(points.values())
    exposures = {v: chain.exposure(v) for v in (A, B, C)}
    before = {k.public: chain.balance(k) for k in (ALICE, BOB, CHARLIE, NINA)}
    issuance = chain.issuance()
    result = chain.advance()[0]
    total_points = sum(points.values())
    expected: Counter[bytes] = Counter()
    for v, exposure in exposures.items():
        assert exposure is not None
        share = PARAMS.era_reward * points[v] // total_points
        commission = share * 100_000 // PPM
        rest = share - commission
        expected[v] += commission + rest * exposure.own // exposure.total
        for nominator, amount in exposure.others:
            expected[nominator] += rest * amount // exposure.total
    for who, amount in expected.items():
        assert chain.balance(who) == before[who] + amount
    minted = sum(expected.values())
    assert ("EraPaid", (0, minted)) in hook_events(result, "staking")
    assert PARAMS.era_reward - len(expected) - 3 <= minted <= PARAMS.era_reward
    assert chain.issuance() == issuance + minted
    # Nina backs Alice and Bob with 250 XPL each: she earns from both.
    assert expected[NINA.public] > 0


def test_a_validator_without_points_earns_nothing(chain: StakingChain) -> None:
    chain.offline = {C}
    before = chain.balance(CHARLIE)
    events = boundary(chain)
    assert all(args[0] != C for name, args in events if name == "Rewarded")
    minted = [args[1] for name, args in events if name == "EraPaid"]
    assert minted and minted[0] <= PARAMS.era_reward
    assert chain.balance(CHARLIE) == before


def test_an_attestation_earns_its_validator_a_point(chain: StakingChain) -> None:
    builder = chain.builder()
    author = chain.author.public
    staking.note_attestation(builder.context, B)
    staking.note_attestation(builder.context, OUTSIDER.public)  # no validator: nothing
    chain.seal(builder)
    bob = chain.activity(BOB)
    assert bob.points == staking.ATTESTATION_POINTS + (staking.BLOCK_POINTS if author == B else 0)
    assert chain.problems() == []


def test_the_authors_fee_share_goes_to_the_stash_behind_its_session_key(
    chain: StakingChain,
) -> None:
    key = SESSION_KEYS[0]
    chain.bond(DAVE, 4_000 * UNIT)
    chain.validate(DAVE, 0, key.public)
    chain.to_era_end()
    assert key.public in chain.authorities().keys
    chain.offline = set(chain.authorities().keys) - {key.public}
    before = chain.balance(DAVE)
    _, result = chain.produce([chain.sign(OUTSIDER, transfer_call(NINA.public, UNIT))])
    assert result.context.author == key.public
    fees = sum(r.args[1] for r in result.context.events if r.event.name == "TransactionFeePaid")
    assert chain.balance(DAVE) == before + fees * transaction_payment.AUTHOR_FEE_PERCENT // 100
    assert chain.account(key.public) is None


# The offline penalty


def test_a_validator_that_neither_authors_nor_votes_is_slashed_not_chilled(
    chain: StakingChain,
) -> None:
    chain.offline = {C}
    treasury = chain.total(TREASURY)
    events = boundary(chain)
    slash = 1_000 * UNIT * PARAMS.offline_slash_ppm // PPM
    assert ("Offline", (C, slash)) in events and ("Slashed", (C, slash)) in events
    assert chain.ledger(CHARLIE) == Ledger(1_000 * UNIT - slash)
    assert chain.held(CHARLIE, HOLD) == 1_000 * UNIT - slash
    assert chain.total(TREASURY) == treasury + slash
    assert C in chain.candidates() and C in chain.active()
    assert chain.authorities().weight_of(C) == 1_000 * UNIT - slash


def test_a_noted_precommit_counts_as_online(chain: StakingChain) -> None:
    chain.offline = {C}
    chain.note_votes(OUTSIDER, 0, 1, [precommit(k) for k in (ALICE, BOB, CHARLIE)])
    events = boundary(chain)
    assert [e for e in events if e[0] == "Offline"] == []


def test_an_era_too_short_to_give_two_slots_tells_nothing() -> None:
    chain = staking_chain(replace(PARAMS, era_blocks=5))  # 5 blocks < 2 slots × 3 validators
    chain.offline = {C}
    events = boundary(chain)
    assert [e for e in events if e[0] == "Offline"] == []
    assert chain.ledger(CHARLIE) == Ledger(1_000 * UNIT)


# Equivocation reports


def test_a_vote_equivocation_slashes_the_offender_and_its_nominators() -> None:
    nina = GenesisNominator(NINA.public, 600 * UNIT, (B,))
    chain = staking_chain(nominators=[nina])
    reporter, treasury = chain.balance(REPORTER), chain.total(TREASURY)
    out = chain.report(REPORTER, vote_equivocation(BOB))
    assert out.error is None
    own, theirs = 200 * UNIT, 60 * UNIT
    reward = (own + theirs) * PARAMS.reporter_reward_ppm // PPM
    staking_events = [
        e for e in out.events if e[0] == "Equivocation" or (e[0] == "Slashed" and len(e[1]) == 2)
    ]
    assert staking_events[-3:] == [
        ("Slashed", (B, own)),
        ("Slashed", (NINA.public, theirs)),
        ("Equivocation", (B, "vote")),
    ]
    assert ("AuthorityDisabled", (B,)) in out.events and ("Chilled", (B,)) in out.events
    assert chain.ledger(BOB) == Ledger(1_800 * UNIT)
    assert chain.ledger(NINA) == Ledger(540 * UNIT)
    assert chain.balance(REPORTER) == reporter + reward - out.fee
    assert chain.total(TREASURY) == treasury + own + theirs - reward + treasury_fee_share(out.block)
    assert chain.disabled() == (B,) and B not in chain.candidates()
    assert staking.ForceEra.get(chain.overlay())
    # The next block ends the era: the set changes without Bob.
    chain.advance()
    assert chain.era() == 1 and chain.active() == tuple(sorted((A, C)))
    assert chain.authorities().set_id == 1 and B not in chain.authorities().keys
    assert chain.disabled() == ()
    assert chain.problems() == []


def test_a_slot_equivocation_slashes_and_disables_its_author(chain: StakingChain) -> None:
    out = chain.report(REPORTER, slot_equivocation(CHARLIE))
    assert out.error is None
    assert ("Slashed", (C, 100 * UNIT)) in out.events
    assert ("Equivocation", (C, "slot")) in out.events
    assert chain.disabled() == (C,) and C not in chain.candidates()
    chain.advance()
    assert C not in chain.authorities().keys


def test_an_offence_by_a_session_key_punishes_the_stash_behind_it(chain: StakingChain) -> None:
    key = SESSION_KEYS[0]
    chain.bond(DAVE, 4_000 * UNIT)
    chain.validate(DAVE, 0, key.public)
    chain.to_era_end()
    set_id = chain.authorities().set_id
    out = chain.report(REPORTER, vote_equivocation(key, set_id=set_id))
    assert ("Slashed", (D, 400 * UNIT)) in out.events
    assert ("Equivocation", (D, "vote")) in out.events
    assert chain.disabled() == (key.public,)


def _proofs() -> list[object]:
    one = vote(BOB, target=b"\x01" * 32)
    other_round = vote(BOB, round_=6, target=b"\x02" * 32)
    other_voter = vote(ALICE, target=b"\x02" * 32)
    forged = SignedVote(**{**_fields(vote(BOB, target=b"\x02" * 32)), "signature": one.signature})
    same_header = header(CHARLIE)
    return [
        pytest.param(encode_proof(VoteEquivocation(one, one)), "SameMessage", id="same-vote"),
        pytest.param(
            encode_proof(VoteEquivocation(one, other_round)), "NotOneOffence", id="two-rounds"
        ),
        pytest.param(
            encode_proof(VoteEquivocation(one, other_voter)), "NotOneOffence", id="two-voters"
        ),
        pytest.param(
            encode_proof(VoteEquivocation(one, forged)), "BadProofSignature", id="bad-signature"
        ),
        pytest.param(vote_equivocation(DAVE), "NotAnAuthority", id="not-an-authority"),
        pytest.param(vote_equivocation(BOB, set_id=9), "UnknownSet", id="unknown-set"),
        pytest.param(
            encode_proof(SlotEquivocation(same_header, same_header)),
            "SameMessage",
            id="same-header",
        ),
        pytest.param(
            encode_proof(SlotEquivocation(header(CHARLIE, slot=7), header(CHARLIE, slot=8))),
            "NotOneOffence",
            id="two-slots",
        ),
        pytest.param(
            encode_proof(
                SlotEquivocation(
                    same_header,
                    replace(
                        header(CHARLIE, state_root=b"\x02" * 32),
                        digest=same_header.digest,
                    ),
                )
            ),
            "BadProofSignature",
            id="bad-seal",
        ),
        pytest.param(slot_equivocation(OUTSIDER), "NotAnAuthority", id="unknown-author"),
        pytest.param(b"\x93\x01\x02", "MalformedProof", id="malformed"),
    ]


def _fields(v: SignedVote) -> dict[str, object]:
    return {f: getattr(v, f) for f in SignedVote.__dataclass_fields__}


@pytest.mark.parametrize(("proof", "error"), _proofs())
def test_an_invalid_proof_is_refused_by_name(chain: StakingChain, proof: bytes, error: str) -> None:
    out = chain.report(REPORTER, proof)
    assert out.error == error and out.fee > 0
    assert chain.disabled() == () and chain.candidates() == tuple(sorted((A, B, C)))
    assert all(chain.ledger(v) == Ledger(bond) for v, bond in BONDS.items())


def test_an_offence_is_punished_once(chain: StakingChain) -> None:
    assert chain.report(REPORTER, vote_equivocation(BOB)).error is None
    other_pair = encode_proof(
        VoteEquivocation(vote(BOB, target=b"\x05" * 32), vote(BOB, target=b"\x06" * 32))
    )
    assert chain.report(OUTSIDER, other_pair).error == "AlreadyPunished"
    chain.advance()
    assert chain.report(REPORTER, vote_equivocation(BOB)).error == "AlreadyPunished"
    assert chain.ledger(BOB) == Ledger(1_800 * UNIT)
    # Another round is another offence.
    assert chain.report(REPORTER, vote_equivocation(BOB, round_=6)).error is None


def test_the_last_enabled_authority_is_not_disabled() -> None:
    chain = staking_chain(replace(PARAMS, min_validators=3))  # the set is kept
    assert chain.report(REPORTER, vote_equivocation(ALICE)).error is None
    assert chain.report(REPORTER, vote_equivocation(BOB)).error is None
    assert chain.report(REPORTER, vote_equivocation(CHARLIE)).error is None
    assert chain.disabled() == tuple(sorted((A, B)))
    chain.advance(3)  # Charlie authors alone
    assert chain.problems() == []


# Noted finality votes


def test_noted_precommits_earn_their_voters_a_point_once_per_round(chain: StakingChain) -> None:
    out = chain.note_votes(OUTSIDER, 0, 1, [precommit(k) for k in (ALICE, BOB, ALICE)])
    assert out.error is None
    assert ("VotesNoted", (0, 1, 2)) in out.events
    points = {v: chain.activity(v) for v in (A, B, C)}
    assert points[A].precommits == points[B].precommits == 1 and points[C].precommits == 0
    again = chain.note_votes(OUTSIDER, 0, 1, [precommit(k) for k in (ALICE, BOB, CHARLIE)])
    assert again.error == "RoundAlreadyNoted"
    assert chain.activity(CHARLIE).precommits == 0
    assert (
        chain.note_votes(OUTSIDER, 0, 2, [precommit(k, round_=2) for k in (ALICE, BOB)]).error
        is None
    )
    assert chain.activity(ALICE).precommits == 2


@pytest.mark.parametrize(
    ("precommits", "set_id", "error"),
    [
        pytest.param(
            [precommit(ALICE), with_signature(precommit(BOB), precommit(ALICE).signature)],
            0,
            "BadPrecommit",
            id="bad-signature",
        ),
        pytest.param(
            [precommit(ALICE), precommit(BOB), precommit(DAVE)], 0, "NotAVoter", id="non-voter"
        ),
        pytest.param(
            [precommit(ALICE), precommit(BOB, round_=2)], 0, "BadPrecommit", id="other-round"
        ),
        pytest.param([precommit(BOB), precommit(CHARLIE)], 0, "NoSupermajority", id="minority"),
        pytest.param(
            [precommit(ALICE, set_id=4), precommit(BOB, set_id=4)], 4, "UnknownSet", id="set"
        ),
    ],
)
def test_note_votes_refusals(
    chain: StakingChain, precommits: list[staking.Precommit], set_id: int, error: str
) -> None:
    out = chain.note_votes(OUTSIDER, set_id, 1, precommits)
    assert out.error == error
    assert all(chain.activity(v).precommits == 0 for v in (A, B, C))
    assert staking.NotedRounds.get(chain.overlay()) == ()


def test_noted_rounds_are_bounded_and_older_rounds_refused(chain: StakingChain) -> None:
    def note(round_: int) -> tuple[Keypair, str, str, tuple[Any, ...]]:
        signed = [precommit(k, round_=round_) for k in (ALICE, BOB)]
        return (OUTSIDER, "staking", "note_votes", (0, round_, signed))

    outcomes = chain.calls(*(note(r) for r in range(1, staking.MAX_NOTED_ROUNDS + 1)))
    assert all(o.error is None for o in outcomes)
    assert chain.note_votes(
        OUTSIDER, 0, 0, [precommit(k, round_=0) for k in (ALICE, BOB)]
    ).error == ("RoundAlreadyNoted")
    last = staking.MAX_NOTED_ROUNDS + 1
    signed = [precommit(k, round_=last) for k in (ALICE, BOB)]
    assert chain.note_votes(OUTSIDER, 0, last, signed).error is None
    noted = staking.NotedRounds.get(chain.overlay())
    assert len(noted) == staking.MAX_NOTED_ROUNDS and noted[0] == (0, 2)
    again = [precommit(k, round_=1) for k in (ALICE, BOB)]
    assert chain.note_votes(OUTSIDER, 0, 1, again).error == "RoundAlreadyNoted"


def test_the_weight_of_note_votes_covers_its_signature_checks() -> None:
    call_def = CALLS[("staking", "note_votes")]
    one = call_def.weight((0, 1, [precommit(ALICE)]))
    three = call_def.weight((0, 1, [precommit(k) for k in (ALICE, BOB, CHARLIE)]))
    assert three - one == 2 * staking.SIGNATURE_WEIGHT
    assert one >= staking.NOTE_VOTES_WEIGHT + staking.SIGNATURE_WEIGHT


# Committees drawn by stake


def committee_context(authorities: list[tuple[bytes, int]]) -> BlockContext:
    state = StateOverlay(lambda _key: None)
    session.Authorities.put(state, tuple(authorities))
    return BlockContext(
        state=state,
        number=1,
        parent_hash=ZERO_HASH,
        timestamp=0,
        author=bytes(32),
        genesis_hash=ZERO_HASH,
    )


def _key(i: int) -> bytes:
    return blake2b_256(b"authority" + bytes([i]))


@settings(max_examples=200, deadline=None)
@given(
    weights=st.lists(st.integers(1, 10**24), min_size=1, max_size=12),
    size=st.integers(1, 16),
    seed=st.binary(min_size=32, max_size=32),
)
def test_a_committee_is_distinct_members_of_the_set_and_depends_only_on_the_seed(
    weights: list[int], size: int, seed: bytes
) -> None:
    authorities = [(_key(i), w) for i, w in enumerate(weights)]
    ctx = committee_context(authorities)
    drawn = compute.draw_committee(ctx, seed, size)
    assert len(drawn) == min(size, len(weights)) == len(set(drawn))
    assert set(drawn) <= {k for k, _ in authorities}
    assert compute.draw_committee(committee_context(authorities), seed, size) == drawn


def test_a_heavier_authority_is_drawn_in_proportion_to_its_stake() -> None:
    weights = [1, 2, 3, 4]
    authorities = [(_key(i), w * 10**15) for i, w in enumerate(weights)]
    ctx = committee_context(authorities)
    draws = 4_000
    alone = Counter(
        compute.draw_committee(ctx, blake2b_256(i.to_bytes(4, "big")), 1)[0] for i in range(draws)
    )
    for (key, _), w in zip(authorities, weights, strict=True):
        assert abs(alone[key] / draws - w / sum(weights)) < 0.03, (w, alone[key])
    pairs = Counter(
        key
        for i in range(draws)
        for key in compute.draw_committee(ctx, blake2b_256(b"pair" + i.to_bytes(4, "big")), 2)
    )
    counts = [pairs[k] for k, _ in authorities]
    assert counts == sorted(counts) and sum(counts) == 2 * draws


def test_a_disabled_authority_sits_on_no_committee(chain: StakingChain) -> None:
    chain.report(REPORTER, vote_equivocation(BOB))
    builder = chain.builder()
    for i in range(50):
        committee = compute.draw_committee(builder.context, i.to_bytes(32, "big"), 3)
        assert B not in committee and len(committee) == 2


# Parameters and invariants


def _param_args(p: staking.StakingParams) -> tuple[int, ...]:
    return tuple(getattr(p, f) for f in staking.StakingParams.__dataclass_fields__)


def test_set_params_is_for_root_and_checks_the_ranges(chain: StakingChain) -> None:
    assert chain.call(ALICE, "staking", "set_params", *_param_args(PARAMS)).error == "BadOrigin"
    bad = replace(PARAMS, min_validators=4)
    assert chain.root_call("staking", "set_params", *_param_args(bad)) == "BadParams"
    bad = replace(PARAMS, min_validator_bond=0)
    assert chain.root_call("staking", "set_params", *_param_args(bad)) == "BadParams"
    updated = replace(PARAMS, era_blocks=7, era_reward=5 * UNIT)
    assert chain.root_call("staking", "set_params", *_param_args(updated)) is None
    assert chain.params() == updated
    chain.advance_to(7)
    assert chain.era() == 1


def test_the_invariants_see_a_hold_that_no_ledger_explains() -> None:
    chain = staking_chain()
    overlay = StateOverlay(chain.read)
    staking.Ledgers.insert(overlay, A, Ledger(active=BONDS[A] + 1))
    staking.KeyOwner.insert(overlay, D, B)
    apply_changes(chain.state, overlay.changes())
    problems = staking.Staking().check_invariants(chain.read, chain.iterate)
    assert any("its ledger" in p for p in problems)
    assert any("one to one" in p for p in problems)
