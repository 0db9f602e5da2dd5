"""Forced era ends against the delays staking promises: a validator that reports sybil validators
of its own ends eras early (an equivocation report ends the era at the next block), and each
delay counted in eras would shrink with them. The commission notice, unbonding and the offence
window are counted in blocks, so forcing eras shortens none of them; and a note of the previous
authority set counts only the blocks that set finalized.

Alice, Bob and Charlie validate from genesis with 3000, 2000 and 1000 XPL; eras are 10 blocks,
bonding takes 2 eras and offences stay reportable 1 era after their own (staking_helpers). Eve and
Noel, where named, are sybil validators of Dave's with the minimum bond.
"""

from __future__ import annotations

from dataclasses import replace

from runtime.pallets import session, staking
from runtime.primitives.keys import Keypair
from tests.runtime.pallets.market_helpers import UNIT
from tests.runtime.pallets.staking_helpers import (
    ALICE,
    BOB,
    CHARLIE,
    DAVE,
    EVE,
    NINA,
    NOEL,
    OUTSIDER,
    PARAMS,
    PPM,
    REPORTER,
    A,
    B,
    C,
    D,
    StakingChain,
    boundary,
    staking_chain,
    vote_equivocation,
)

SYBIL_BOND = PARAMS.min_validator_bond


def _set_id(chain: StakingChain) -> int:
    return session.SetId.get(chain.overlay())


def _report_sybil(chain: StakingChain, sybil: Keypair) -> int:
    """Dave reports his sybil's equivocation in the current set (ending the era at the next
    block); what it cost the pair: the sybil's slash less Dave's reporter reward, plus the fee."""
    pair_before = chain.total(DAVE) + chain.total(sybil)
    out = chain.report(DAVE, vote_equivocation(sybil, set_id=_set_id(chain)))
    assert out.error is None and staking.ForceEra.get(chain.overlay())
    return pair_before - chain.total(DAVE) - chain.total(sybil)


def test_a_sybil_equivocation_no_longer_cuts_the_commission_notice() -> None:
    """Dave raises his commission to 100% in the last block of era 1 and reports Eve, his sybil,
    in era 2's first block, ending era 2 at the next block. The raise still waits a whole era's
    blocks: era 3 (three blocks after the raise) is paid at his old 0%, and Nina, who chills in
    era 3, is gone before the raise applies. Dave's gain over not attacking is minus the sybil's
    cost (on the old rules the raise applied from era 3 and took all of Nina's era-3 reward)."""
    chain = staking_chain(replace(PARAMS, validator_count=5))
    assert chain.bond(DAVE, 1_000 * UNIT).error is None
    assert chain.validate(DAVE).error is None
    assert chain.bond(EVE, SYBIL_BOND).error is None
    assert chain.validate(EVE).error is None
    assert chain.bond(NINA, 5_000 * UNIT).error is None
    assert chain.nominate(NINA, DAVE).error is None
    chain.to_era_end()  # era 1: A, B, C, Dave and Eve
    assert chain.era() == 1 and {D, EVE.public} <= set(chain.active())
    chain.advance_to(2 * PARAMS.era_blocks - 2)
    out = chain.validate(DAVE, PPM)  # the last block of era 1
    raised_at = chain.head.number
    assert out.error is None and chain.era() == 1
    due = staking.PendingCommission.get(chain.overlay(), D)
    assert due == staking.CommissionRaise(PPM, raised_at + PARAMS.era_blocks)
    chain.advance()  # ends era 1
    sybil_cost = _report_sybil(chain, EVE)
    chain.advance()  # the forced end of era 2
    assert chain.era() == 3 and chain.head.number - raised_at == 3
    exposure = chain.exposure(DAVE)
    assert exposure is not None and exposure.commission_ppm == 0
    assert staking.Validators.get(chain.overlay(), D) == 0
    assert chain.call(NINA, "staking", "chill").error is None  # Nina reacts in era 3
    rewards: dict[bytes, int] = {}
    for name, args in boundary(chain):  # era 3's end: the raise applies from era 4
        if name == "Rewarded":
            who, amount = args
            assert isinstance(who, bytes) and isinstance(amount, int)
            rewards[who] = rewards.get(who, 0) + amount
    assert chain.head.number >= raised_at + PARAMS.era_blocks
    dave_era3, nina_era3 = rewards.get(D, 0), rewards.get(NINA.public, 0)
    # At 0% Dave earns what his 1,000 XPL earn beside Nina's 5,000: no commission.
    commission_taken = dave_era3 - nina_era3 * 1_000 // 5_000
    assert nina_era3 > 0 and abs(commission_taken) <= 1
    profit = commission_taken - sybil_cost
    assert sybil_cost > 0 and profit < 0
    exposure = chain.exposure(DAVE)
    assert exposure is not None and exposure.commission_ppm == PPM and exposure.others == ()
    assert chain.problems() == []


def _dodging_offender() -> StakingChain:
    """Dave (1,000 XPL, Nina's 500 behind him) validates in era 1 with Eve and Noel, his sybils;
    he prevotes twice in a round of set 1, and he and Nina chill and unbond all."""
    chain = staking_chain(replace(PARAMS, validator_count=6))
    assert chain.bond(DAVE, 1_000 * UNIT).error is None
    assert chain.validate(DAVE).error is None
    assert chain.bond(NINA, 500 * UNIT).error is None
    assert chain.nominate(NINA, DAVE).error is None
    for sybil in (EVE, NOEL):
        assert chain.bond(sybil, SYBIL_BOND).error is None
        assert chain.validate(sybil).error is None
    chain.to_era_end()
    assert chain.era() == 1 and {D, EVE.public, NOEL.public} <= set(chain.active())
    dodge = chain.calls(
        (DAVE, "staking", "chill", ()),
        (DAVE, "staking", "unbond", (1_000 * UNIT,)),
        (NINA, "staking", "chill", ()),
        (NINA, "staking", "unbond", (500 * UNIT,)),
    )
    assert [o.error for o in dodge] == [None] * 4
    return chain


def test_forcing_eras_through_sybils_lets_no_offence_expire_and_no_bond_unlock_sooner() -> None:
    """Dave's offence of era 1 would expire, and his unbonded stake unlock, two eras on: he
    reports Eve and then Noel, ending eras 1 and 2 within four blocks. His offence is still
    reported and slashed from his unbonding chunk and Nina's, neither can withdraw, and the
    sybils' slashes were spent for nothing (on the old rules both eras counted in full: the
    report was refused as expired and Dave withdrew his whole bond)."""
    chain = _dodging_offender()
    offence = vote_equivocation(DAVE, set_id=1, round_=7)
    sybils_cost = _report_sybil(chain, EVE)
    chain.advance()  # era 1 ends
    sybils_cost += _report_sybil(chain, NOEL)
    chain.advance()  # era 2 ends
    assert chain.era() == 1 + PARAMS.bonding_eras > 1 + PARAMS.slash_window_eras
    assert chain.call(DAVE, "staking", "withdraw_unbonded").error == "NothingToWithdraw"
    due = {D: 100 * UNIT, NINA.public: 50 * UNIT}  # 10% of each's era-1 exposure
    before = {who: chain.total(who) for who in due}
    out = chain.report(REPORTER, offence)
    assert out.error is None
    taken = {who: before[who] - chain.total(who) for who in due}
    assert taken == due
    saved = sum(due.values()) - sum(taken.values())  # what dodging kept of the slash
    profit = saved - sybils_cost
    assert saved == 0 and profit < 0
    # The chunks unlock at the era boundary bonding_eras eras' worth of blocks on, not sooner.
    ledger = chain.ledger(DAVE)
    assert ledger is not None and ledger.unlocking == ((3 * PARAMS.era_blocks, 900 * UNIT),)
    assert chain.call(DAVE, "staking", "withdraw_unbonded").error == "NothingToWithdraw"
    chain.advance_to(3 * PARAMS.era_blocks)
    assert chain.call(DAVE, "staking", "withdraw_unbonded").error is None
    assert chain.problems() == []


def test_an_offence_expires_a_window_of_blocks_after_its_era_however_many_eras_pass() -> None:
    """The same offence, after the sybils forced two eras, is refused only once era 1 ended
    slash_window_eras eras' worth of blocks ago; its era and set are kept until then."""
    chain = _dodging_offender()
    _report_sybil(chain, EVE)
    chain.advance()
    ended = chain.head.number  # era 1's end
    _report_sybil(chain, NOEL)
    chain.advance()
    window = PARAMS.slash_window_eras * PARAMS.era_blocks
    chain.advance_to(ended + window - 2)
    assert staking.history.era_record(chain.overlay(), 1) is not None
    assert session.HistoricalSets.get(chain.overlay(), 1) is not None
    assert chain.head.number + 1 == ended + window - 1
    offence = vote_equivocation(DAVE, set_id=1, round_=7)
    last_chance = chain.report(REPORTER, offence)
    assert last_chance.error is None  # in block ended + window - 1
    assert ("Slashed", (D, 100 * UNIT)) in last_chance.events
    assert chain.problems() == []


def test_an_offence_is_refused_from_the_first_block_past_its_window() -> None:
    chain = _dodging_offender()
    _report_sybil(chain, EVE)
    chain.advance()
    ended = chain.head.number
    chain.advance_to(ended + PARAMS.slash_window_eras * PARAMS.era_blocks - 1)
    out = chain.report(REPORTER, vote_equivocation(DAVE, set_id=1, round_=7))
    assert out.error == "OffenceExpired" and out.fee > 0


def test_a_group_that_lost_its_supermajority_earns_nothing_through_the_previous_set() -> None:
    """Alice and Bob hold 5/6 of set 0 and 5/8 of set 1, after Dave joins. A note of set 0 counts
    only the blocks up to the handover (the block that made set 1), which set 0 did finalize:
    their made-up set-0 rounds for era 1's later blocks count nobody and are refused, so they
    pay fees for nothing (on the old rules each earned them a point Charlie and Dave could not)."""
    chain = staking_chain(replace(PARAMS, validator_count=4))
    assert chain.bond(DAVE, 2_000 * UNIT).error is None
    assert chain.validate(DAVE).error is None
    chain.to_era_end()
    handover = chain.head.number
    assert chain.era() == 1 and _set_id(chain) == 1 and D in chain.active()
    assert session.set_changed_at(chain.overlay()) == handover
    chain.advance()
    # The handover block's round is set 0's to note; every voter of it may be credited.
    last = [chain.precommit(k, handover, set_id=0, round_=40) for k in (ALICE, BOB, CHARLIE)]
    assert chain.note_votes(OUTSIDER, 0, 40, last).error is None
    credited = [chain.activity(v).precommits for v in (A, B, C, D)]
    assert credited == [1, 1, 1, 0]
    fees = 0
    for r, number in enumerate((handover + 2, handover + 6)):
        if chain.head.number <= number:
            chain.advance_to(number + 1)
        old = [chain.precommit(k, number, set_id=0, round_=10**9 + r) for k in (ALICE, BOB)]
        out = chain.note_votes(OUTSIDER, 0, 10**9 + r, old)
        assert out.error == "NoSupermajority"
        fees += out.fee
    points = [chain.activity(v).precommits for v in (A, B, C, D)]
    gained = sum(points[:2]) - sum(credited[:2])  # points the made-up rounds earned the group
    profit = gained * PARAMS.era_reward - fees  # a point is worth less than the era's reward
    assert gained == 0 and profit < 0
    # A note of set 1 for era 1's blocks still needs set 1's supermajority.
    own = [chain.precommit(k, handover + 6, set_id=1, round_=77) for k in (ALICE, BOB)]
    assert chain.note_votes(OUTSIDER, 1, 77, own).error == "NoSupermajority"
    every = [chain.precommit(k, handover + 6, set_id=1, round_=77) for k in (ALICE, BOB, DAVE)]
    assert chain.note_votes(OUTSIDER, 1, 77, every).error is None
    assert chain.problems() == []


def test_a_current_set_note_counts_no_block_before_the_handover() -> None:
    """Set 1's voters cannot claim the blocks set 0 finalized before the handover."""
    chain = staking_chain(replace(PARAMS, validator_count=4))
    assert chain.bond(DAVE, 2_000 * UNIT).error is None
    assert chain.validate(DAVE).error is None
    chain.to_era_end()
    handover = chain.head.number
    chain.advance()
    voters = (ALICE, BOB, CHARLIE, DAVE)
    before = [chain.precommit(k, handover - 1, set_id=1, round_=3) for k in voters]
    assert chain.note_votes(OUTSIDER, 1, 3, before).error == "NoSupermajority"
    at = [chain.precommit(k, handover, set_id=1, round_=3) for k in voters]
    assert chain.note_votes(OUTSIDER, 1, 3, at).error is None
