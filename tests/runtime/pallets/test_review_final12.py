"""Final review of staking: the re-note of a left-out precommit is foreclosed by any later
window's note that credits the voter, since a voter is credited only in increasing window order.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from chain.core.finality import Justification
from chain.core.left_out_votes import RECHECK_AFTER_BLOCKS, LeftOutVotes
from runtime.pallets import staking
from tests.runtime.pallets.staking_helpers import (
    ALICE,
    BOB,
    CHARLIE,
    OUTSIDER,
    PARAMS,
    staking_chain,
)

EVERY = staking.NOTE_VOTES_EVERY


def test_a_left_out_voter_loses_its_window_once_the_next_window_is_noted_with_it() -> None:
    chain = staking_chain(replace(PARAMS, era_blocks=100))
    chain.advance(EVERY + 2)
    # Window 1 finalizes at block EVERY; Alice and Bob (5/6 of the weight) note it without
    # Charlie, whose precommit is in the round's justification all the same.
    full = [chain.precommit(k, EVERY, round_=2) for k in (ALICE, BOB, CHARLIE)]
    justification = Justification(0, 2, chain.block_hash(EVERY), EVERY, tuple(full))
    watch = LeftOutVotes()
    watch.finalized(CHARLIE.public, EVERY - 1, justification)
    assert chain.note_votes(ALICE, 0, 2, full[:2]).error is None
    # The next window is noted by an honest noter, with everyone (as the rotation does).
    chain.advance(EVERY)
    nxt = [chain.precommit(k, 2 * EVERY, round_=3) for k in (ALICE, BOB, CHARLIE)]
    assert chain.note_votes(OUTSIDER, 0, 3, nxt).error is None
    chain.advance(RECHECK_AFTER_BLOCKS)
    # Charlie's node does not note the left-out round, and if it did the note would be refused.
    assert watch.to_note(CHARLIE.public, EVERY + RECHECK_AFTER_BLOCKS, chain.overlay()) == []
    out = chain.note_votes(CHARLIE, 0, 2, full)
    assert out.error == "RoundAlreadyNoted" and out.fee > 0
    points = [chain.activity(k).precommits for k in (ALICE, BOB, CHARLIE)]
    print(
        f"\n[left out] precommit credits Alice/Bob/Charlie {points}; Charlie paid {out.fee} "
        "for a refused re-note"
    )
    assert points == [2, 2, 1]  # Charlie lost window 1 for good


def _offline_era(monkeypatch: pytest.MonkeyPatch, count: int) -> tuple[int, int, int]:
    """`count` genesis validators at the default parameters, one offline for the first era;
    (its bond before, its bond after, how many Offline events the era end raised)."""
    from runtime.genesis import GenesisConfig
    from runtime.pallets.staking import DEFAULT_STAKING_PARAMS, GenesisValidator
    from runtime.pallets.staking.events import Offline
    from runtime.primitives.keys import dev_keypair
    from tests.runtime.pallets import staking_helpers
    from tests.runtime.pallets.market_helpers import SLOT_MS, records
    from tests.runtime.pallets.staking_helpers import StakingChain

    p = DEFAULT_STAKING_PARAMS
    validators = [dev_keypair(f"Val{i}") for i in range(count)]
    for k in validators:
        monkeypatch.setitem(staking_helpers._BY_ACCOUNT, k.public, k)
    bond = 10 * p.min_validator_bond
    config = GenesisConfig(
        validators=tuple(GenesisValidator(k.public, bond) for k in validators),
        slot_duration_ms=SLOT_MS,
        balances=tuple((k.public, 2 * bond) for k in validators),
        staking=p,
    )
    chain = StakingChain(config)
    offline = validators[7]
    chain.offline = {offline.public}
    result = chain.to_era_end()
    assert chain.era() == 1 and chain.activity(offline).blocks == 0
    offline_events = sum(r.event is Offline for r in records(result))
    ledger = chain.ledger(offline)
    assert ledger is not None
    return bond, ledger.active, offline_events


def test_at_the_default_parameters_with_over_fifty_validators_nobody_is_ever_slashed_offline(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`_punish_offline` skips eras shorter than twice the active set: at the default 100-block
    era (100 seats), any set of more than 50 validators is never checked. With 40 validators an
    offline one loses 0.1% of its bond; with 60 (or the default 100) it keeps all of it."""
    bond, after_40, events_40 = _offline_era(monkeypatch, 40)
    assert events_40 == 1 and after_40 < bond
    bond, after_60, events_60 = _offline_era(monkeypatch, 60)
    print(
        f"\n[offline] 40 validators: offline one slashed {bond - after_40}; 60 validators: "
        f"slashed {bond - after_60}, Offline events {events_60}"
    )
    assert events_60 == 0 and after_60 == bond


def test_a_chunk_unbonded_before_governance_lengthens_eras_unlocks_before_its_offence_expires() -> (
    None
):
    """Charlie (1,000 bonded) equivocates in era 0, chills and unbonds everything; governance
    then lengthens `era_blocks` from 10 to 100. The chunk keeps the block it was given (20), but
    era 0 now ends at block 100 and its offence is reportable until 100 + 100: Charlie withdraws
    at block 20 and the report at block 21 slashes nothing (100 XPL before the change)."""
    from tests.runtime.pallets.market_helpers import UNIT
    from tests.runtime.pallets.staking_helpers import REPORTER, param_args, vote_equivocation

    chain = staking_chain()
    proof = vote_equivocation(CHARLIE, set_id=0)
    assert chain.call(CHARLIE, "staking", "chill").error is None
    ledger = chain.ledger(CHARLIE)
    assert ledger is not None
    bonded = ledger.active
    assert chain.call(CHARLIE, "staking", "unbond", bonded).error is None
    ledger = chain.ledger(CHARLIE)
    assert ledger is not None
    unlocks_at = ledger.unlocking[0][0]
    assert (
        chain.root_call("staking", "set_params", *param_args(replace(PARAMS, era_blocks=100)))
        is None
    )
    chain.advance_to(unlocks_at)
    assert chain.era() == 0  # era 0 still running: its offences are far from expiring
    assert chain.call(CHARLIE, "staking", "withdraw_unbonded").error is None
    before = chain.total(CHARLIE)
    out = chain.report(REPORTER, proof)
    slashed = before - chain.total(CHARLIE)
    print(
        f"\n[era_blocks] chunk unlocked at block {unlocks_at} while era 0 runs to block 100; "
        f"report slashed {slashed / UNIT:.0f} XPL (error {out.error}), due "
        f"{bonded * PARAMS.equivocation_slash_ppm // 10**6 / UNIT:.0f}"
    )
    assert slashed == 0
