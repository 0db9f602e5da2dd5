"""The era's end: rewards by points, commission and exposure, and the offline penalty.

Alice, Bob and Charlie validate from genesis with 3000, 2000 and 1000 XPL; eras are 10 blocks;
three validators are elected when at least two candidates are eligible (staking_helpers).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import replace

from chain.client.chain import transfer_call
from runtime.accounts import TREASURY
from runtime.pallets import staking, transaction_payment
from runtime.pallets.staking import GenesisNominator, Ledger
from tests.runtime.pallets.market_helpers import UNIT, hook_events
from tests.runtime.pallets.staking_helpers import (
    ALICE,
    BOB,
    CHARLIE,
    DAVE,
    ERA_BLOCKS,
    NINA,
    OUTSIDER,
    PARAMS,
    PPM,
    SESSION_KEYS,
    A,
    B,
    C,
    StakingChain,
    boundary,
    staking_chain,
)

HOLD = staking.HOLD


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
    signed = [chain.precommit(k, 0) for k in (ALICE, BOB, CHARLIE)]
    assert chain.note_votes(OUTSIDER, 0, 1, signed).error is None
    events = boundary(chain)
    assert [e for e in events if e[0] == "Offline"] == []


def test_an_era_too_short_to_give_two_slots_tells_nothing() -> None:
    chain = staking_chain(replace(PARAMS, era_blocks=5))  # 5 blocks < 2 slots × 3 validators
    chain.offline = {C}
    events = boundary(chain)
    assert [e for e in events if e[0] == "Offline"] == []
    assert chain.ledger(CHARLIE) == Ledger(1_000 * UNIT)
