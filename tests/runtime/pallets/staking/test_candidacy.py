"""Candidacy and nominations: commissions, session keys owned by one stash, sorted targets, chill.

Alice, Bob and Charlie validate from genesis with 3000, 2000 and 1000 XPL; eras are 10 blocks;
three validators are elected when at least two candidates are eligible (staking_helpers).
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from runtime.pallets import staking
from tests.runtime.pallets.market_helpers import UNIT
from tests.runtime.pallets.staking_helpers import (
    ALICE,
    BOB,
    CHARLIE,
    DAVE,
    EVE,
    NINA,
    OUTSIDER,
    PARAMS,
    PPM,
    REPORTER,
    SESSION_KEYS,
    A,
    B,
    C,
    D,
    StakingChain,
    param_args,
    vote_equivocation,
)


def test_validate_records_the_commission_and_the_session_key_both_ways(
    chain: StakingChain,
) -> None:
    chain.bond(DAVE, 500 * UNIT)
    key = SESSION_KEYS[0].public
    out = chain.validate(DAVE, 50_000, key)
    # A new candidacy's commission is raised over 0%: in force a whole era's blocks later.
    assert ("ValidatorPrefsSet", (D, 0, key)) in out.events
    due = chain.head.number + PARAMS.era_blocks
    assert ("CommissionRaisePending", (D, 50_000, due)) in out.events
    state = chain.overlay()
    assert staking.Validators.get(state, D) == 0
    assert staking.PendingCommission.get(state, D) == staking.CommissionRaise(50_000, due)
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
    assert chain.root_call("staking", "set_params", *param_args(params)) is None
    assert chain.nominate(NINA, ALICE).error == "BondTooSmall"


def test_chill_ends_candidacy_or_nomination_and_refuses_the_idle(chain: StakingChain) -> None:
    assert chain.call(CHARLIE, "staking", "chill").events == [("Chilled", (C,))]
    assert C not in chain.candidates()
    assert chain.call(CHARLIE, "staking", "chill").error == "NotStaking"
    assert chain.call(OUTSIDER, "staking", "chill").error == "NotStaking"
