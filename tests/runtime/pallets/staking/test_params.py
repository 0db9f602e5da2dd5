"""Staking parameters (Root only, ranges checked) and the invariants.

Alice, Bob and Charlie validate from genesis with 3000, 2000 and 1000 XPL; eras are 10 blocks;
three validators are elected when at least two candidates are eligible (staking_helpers).
"""

from __future__ import annotations

from dataclasses import replace

from runtime.pallets import staking
from runtime.pallets.staking import Ledger
from runtime.state import StateOverlay
from tests.runtime.conftest import apply_changes
from tests.runtime.pallets.market_helpers import UNIT
from tests.runtime.pallets.staking_helpers import (
    ALICE,
    BONDS,
    PARAMS,
    A,
    B,
    D,
    StakingChain,
    param_args,
    staking_chain,
)


def test_set_params_is_for_root_and_checks_the_ranges(chain: StakingChain) -> None:
    assert chain.call(ALICE, "staking", "set_params", *param_args(PARAMS)).error == "BadOrigin"
    bad = replace(PARAMS, min_validators=4)
    assert chain.root_call("staking", "set_params", *param_args(bad)) == "BadParams"
    bad = replace(PARAMS, min_validator_bond=0)
    assert chain.root_call("staking", "set_params", *param_args(bad)) == "BadParams"
    updated = replace(PARAMS, era_blocks=7, era_reward=5 * UNIT)
    assert chain.root_call("staking", "set_params", *param_args(updated)) is None
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
