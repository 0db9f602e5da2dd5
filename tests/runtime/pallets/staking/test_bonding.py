"""Bonding: holds and ledgers, unbonding chunks that unlock after the bonding eras, withdrawals.

Alice, Bob and Charlie validate from genesis with 3000, 2000 and 1000 XPL; eras are 10 blocks;
three validators are elected when at least two candidates are eligible (staking_helpers).
"""

from __future__ import annotations

import pytest

from runtime.pallets import staking
from runtime.pallets.staking import Ledger
from tests.runtime.pallets.market_helpers import UNIT
from tests.runtime.pallets.staking_helpers import (
    ALICE,
    CHARLIE,
    DAVE,
    ENDOWMENT,
    EVE,
    PARAMS,
    D,
    StakingChain,
)

HOLD = staking.HOLD


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
    first = 2 * PARAMS.era_blocks  # the start of era 2, bonding_eras after era 0
    assert ("Unbonded", (D, 200 * UNIT, first)) in out.events
    assert chain.ledger(DAVE) == Ledger(300 * UNIT, ((first, 200 * UNIT),))
    assert chain.held(DAVE, HOLD) == 500 * UNIT  # still held while it unbonds
    assert chain.call(DAVE, "staking", "withdraw_unbonded").error == "NothingToWithdraw"
    chain.to_era_end()
    chain.call(DAVE, "staking", "unbond", 100 * UNIT)  # era 1: unlocks at era 3's start
    assert chain.call(DAVE, "staking", "withdraw_unbonded").error == "NothingToWithdraw"
    chain.to_era_end()
    assert chain.era() == 2
    free = chain.balance(DAVE)
    out = chain.call(DAVE, "staking", "withdraw_unbonded")
    assert ("Withdrawn", (D, 200 * UNIT)) in out.events
    assert chain.balance(DAVE) == free + 200 * UNIT - out.fee
    assert chain.ledger(DAVE) == Ledger(200 * UNIT, ((3 * PARAMS.era_blocks, 100 * UNIT),))
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
