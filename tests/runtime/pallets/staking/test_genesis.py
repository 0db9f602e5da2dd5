"""Staking's genesis: validators bonded and weighed by their backing, and the configs it refuses.

Alice, Bob and Charlie validate from genesis with 3000, 2000 and 1000 XPL; eras are 10 blocks;
three validators are elected when at least two candidates are eligible (staking_helpers).
"""

from __future__ import annotations

from dataclasses import replace
from fractions import Fraction

import pytest

from runtime.genesis import build_genesis_state
from runtime.pallets import staking
from runtime.pallets.staking import GenesisNominator, Ledger
from tests.runtime.pallets.market_helpers import UNIT
from tests.runtime.pallets.staking_helpers import (
    BONDS,
    ENDOWMENT,
    NINA,
    PPM,
    A,
    B,
    C,
    D,
    staking_chain,
    staking_config,
)

HOLD = staking.HOLD


def test_genesis_bonds_the_validators_and_weighs_them_by_their_backing() -> None:
    nina_bond = 600 * UNIT + 1
    nina = GenesisNominator(NINA.public, nina_bond, (A, B))
    chain = staking_chain(nominators=[nina])
    for who, bond in BONDS.items():
        assert chain.ledger(who) == Ledger(active=bond)
        assert chain.held(who, HOLD) == bond and chain.balance(who) == ENDOWMENT - bond
    assert chain.held(NINA, HOLD) == nina_bond
    # Sequential Phragmén: Alice (3600 approved) first, leaving Nina a load of 1/3600; then Bob
    # at (1 + 600/3600) / 2600, Nina's load rising to it. Her bond splits as those loads did.
    load_alice = Fraction(1, BONDS[A] + nina_bond)
    load_bob = (1 + nina_bond * load_alice) / (BONDS[B] + nina_bond)
    to_alice = nina_bond * load_alice / load_bob
    exposure = chain.exposure(A)
    assert exposure is not None and len(exposure.others) == 1
    share = exposure.others[0][1]
    assert abs(share - to_alice) <= 1 and round(to_alice) == 371_428_571_428_572
    shares = {A: share, B: nina_bond - share}
    authorities = chain.authorities()
    assert authorities.set_id == 0
    assert authorities.authorities == tuple((v, BONDS[v] + shares.get(v, 0)) for v in (A, B, C))
    bob = chain.exposure(B)
    assert bob is not None and bob.others == ((NINA.public, nina_bond - share),)
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
