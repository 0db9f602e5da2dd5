"""An offline validator is slashed at the default parameters whatever the size of the set (judged
on its precommit credits), and a chunk unbonded before governance lengthens eras stays held until
its era's offences expire."""

from __future__ import annotations

from dataclasses import replace

import pytest

from runtime.genesis import GenesisConfig
from runtime.pallets import staking
from runtime.pallets.staking import DEFAULT_STAKING_PARAMS, GenesisValidator
from runtime.pallets.staking.events import Offline
from runtime.primitives.keys import dev_keypair
from tests.runtime.pallets import staking_helpers
from tests.runtime.pallets.market_helpers import SLOT_MS, UNIT, records
from tests.runtime.pallets.staking_helpers import (
    CHARLIE,
    PARAMS,
    PPM,
    REPORTER,
    StakingChain,
    param_args,
    staking_chain,
    vote_equivocation,
)

EVERY = staking.NOTE_VOTES_EVERY
NOTED = 5
"""Windows an honest noter notes in the era (the era has 25; a few are enough to judge)."""


def _offline_era(
    monkeypatch: pytest.MonkeyPatch, count: int, noted: int
) -> tuple[int, int, int, int]:
    """`count` genesis validators at the default parameters, one offline for the first era, and
    the first `noted` windows noted with every other validator's precommit; (its bond before,
    its bond after, the Offline events the era end raised, the fees the noter paid)."""
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
    online = [k for k in validators if k is not offline]
    fees = 0
    for window in range(1, noted + 1):
        chain.advance_to(window * EVERY + 1)
        precommits = [chain.precommit(k, window * EVERY, round_=window) for k in online]
        out = chain.note_votes(online[0], 0, window, precommits)
        assert out.error is None
        fees += out.fee
    result = chain.to_era_end()
    assert chain.era() == 1 and chain.activity(offline).blocks == 0
    offline_events = sum(r.event is Offline for r in records(result))
    ledger = chain.ledger(offline)
    assert ledger is not None
    return bond, ledger.active, offline_events, fees


def test_an_offline_validator_is_slashed_at_the_default_parameters_with_sixty_validators(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With 60 validators the 100-block era is shorter than twice the set, so authoring alone
    cannot tell; the noted precommits do. The offline validator loses 0.1% of its bond (its
    profit from staying offline, rewards aside, is that loss); the online ones lose nothing.
    An era in which finality was not noted slashes nobody."""
    bond, after, events, fees = _offline_era(monkeypatch, 60, NOTED)
    profit = after - bond
    print(
        f"\n[offline] 60 validators, {NOTED} windows noted (fees {fees / UNIT:.3f} XPL): offline "
        f"validator's profit {profit / UNIT:.3f} XPL, Offline events {events}"
    )
    assert events == 1
    assert profit == -bond * DEFAULT_STAKING_PARAMS.offline_slash_ppm // PPM < 0
    _, after_stalled, events_stalled, _ = _offline_era(monkeypatch, 60, 0)
    assert events_stalled == 0 and after_stalled == bond


def test_a_chunk_unbonded_before_governance_lengthens_eras_is_held_until_its_offence_expires() -> (
    None
):
    """Charlie (1,000 bonded) equivocates in era 0, chills and unbonds everything; governance
    then lengthens `era_blocks` from 10 to 100. At the chunk's unlock block (20) era 0 still
    runs: the withdrawal is refused, the report slashes the 10% due, and Charlie withdraws the
    rest once era 0's offences expire under the new parameters (block 100 + 100)."""
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
    longer = replace(PARAMS, era_blocks=100)
    assert chain.root_call("staking", "set_params", *param_args(longer)) is None
    chain.advance_to(unlocks_at)
    assert chain.era() == 0
    assert chain.call(CHARLIE, "staking", "withdraw_unbonded").error == "NothingToWithdraw"
    before = chain.total(CHARLIE)
    out = chain.report(REPORTER, proof)
    assert out.error is None
    due = bonded * PARAMS.equivocation_slash_ppm // PPM
    profit = chain.total(CHARLIE) - before  # what withdrawing early was to save: nothing now
    print(
        f"\n[era_blocks] chunk due at block {unlocks_at} held while era 0 runs to block 100; "
        f"report slashed {-profit / UNIT:.0f} XPL of {due / UNIT:.0f} due"
    )
    assert profit == -due < 0
    expires = 100 + longer.slash_window_eras * longer.era_blocks
    chain.advance_to(expires - 2)  # each call is the next block's
    assert chain.call(CHARLIE, "staking", "withdraw_unbonded").error == "NothingToWithdraw"
    assert chain.call(CHARLIE, "staking", "withdraw_unbonded").error is None
    assert chain.head.number == expires
    assert chain.ledger(CHARLIE) is None


def test_a_chunk_unlocked_before_eras_are_lengthened_is_not_held() -> None:
    """Lengthening eras holds only the chunks still locked then: one already withdrawable stays
    so (the hold is one record, checked against each chunk's unlock block)."""
    chain = staking_chain()
    assert chain.call(CHARLIE, "staking", "chill").error is None
    assert chain.call(CHARLIE, "staking", "unbond", 100 * UNIT).error is None
    ledger = chain.ledger(CHARLIE)
    assert ledger is not None
    chain.advance_to(ledger.unlocking[0][0])
    longer = replace(PARAMS, era_blocks=100)
    assert chain.root_call("staking", "set_params", *param_args(longer)) is None
    out = chain.call(CHARLIE, "staking", "withdraw_unbonded")
    assert out.error is None and ("Withdrawn", (CHARLIE.public, 100 * UNIT)) in out.events
