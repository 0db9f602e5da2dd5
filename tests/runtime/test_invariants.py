"""The invariants of a whole state: every pallet's, total issuance among them, in one call."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from chain.client.chain import transfer_call
from runtime.invariants import InvariantsBroken, check_invariants, ensure_invariants
from runtime.pallets import balances, staking
from runtime.primitives.keys import dev_keypair
from runtime.state import StateOverlay
from tests.runtime.conftest import apply_changes

if TYPE_CHECKING:
    from tests.runtime.conftest import DevChain

BOB, CHARLIE = dev_keypair("Bob"), dev_keypair("Charlie")


def test_a_chain_built_by_its_rules_keeps_every_invariant(chain: DevChain) -> None:
    assert check_invariants(chain.read, chain.iterate) == []
    chain.produce([chain.sign(BOB, transfer_call(CHARLIE.public, balances.EXISTENTIAL_DEPOSIT))])
    assert check_invariants(chain.read, chain.iterate) == []
    ensure_invariants(chain.read, chain.iterate, where="the head")


def test_issuance_that_the_balances_do_not_add_up_to_is_reported(chain: DevChain) -> None:
    issuance = chain.issuance()
    # Written behind the pallet's back: one unit minted that no account holds.
    overlay = StateOverlay(chain.read)
    balances.TotalIssuance.put(overlay, issuance + 1)
    apply_changes(chain.state, overlay.changes())
    assert check_invariants(chain.read, chain.iterate) == [
        f"balances: sum of balances {issuance} != total issuance {issuance + 1}"
    ]
    with pytest.raises(InvariantsBroken, match="block #7") as broken:
        ensure_invariants(chain.read, chain.iterate, where="block #7")
    assert broken.value.problems == tuple(check_invariants(chain.read, chain.iterate))


def test_every_pallets_invariants_are_checked(chain: DevChain) -> None:
    # Written behind the pallet's back: the validator is no longer listed as a candidate.
    overlay = StateOverlay(chain.read)
    staking.Candidates.put(overlay, ())
    apply_changes(chain.state, overlay.changes())
    problems = check_invariants(chain.read, chain.iterate)
    assert problems and all(p.startswith("staking: ") for p in problems)
