"""Staking's genesis: validators bonded and weighed by their backing, and the configs it refuses.

Alice, Bob and Charlie validate from genesis with 3000, 2000 and 1000 XPL; eras are 10 blocks;
three validators are elected when at least two candidates are eligible (staking_helpers).
"""

from __future__ import annotations

from dataclasses import replace

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
