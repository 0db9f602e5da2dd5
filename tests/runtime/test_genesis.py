"""The genesis: every pallet builds its part from the one genesis config."""

from __future__ import annotations

import dataclasses

import pytest

from runtime.accounts import TREASURY
from runtime.executive import PALLETS
from runtime.genesis import GenesisConfig, build_genesis_state
from runtime.pallets import (
    balances,
    bounties,
    compute,
    conviction_voting,
    market,
    session,
    staking,
    system,
    transaction_payment,
    treasury,
)
from runtime.pallets.staking import GenesisValidator
from runtime.primitives.keys import dev_keypair

ALICE = dev_keypair("Alice").public
PARTS = (
    balances.BalancesGenesis,
    session.SessionGenesis,
    staking.StakingGenesis,
    market.MarketGenesis,
    compute.ComputeGenesis,
    transaction_payment.TransactionPaymentGenesis,
    treasury.TreasuryGenesis,
)


@pytest.mark.parametrize("part", PARTS)
def test_the_genesis_config_has_every_part_a_pallet_reads(part: type) -> None:
    declared = {name for name, v in vars(part).items() if isinstance(v, property)}
    assert declared
    assert declared <= {f.name for f in dataclasses.fields(GenesisConfig)}


def test_pallets_with_parameters_name_their_record() -> None:
    with_params = {p.NAME: p.PARAMS for p in PALLETS if p.PARAMS is not None}
    assert with_params == {
        "staking": staking.StakingParams,
        "market": market.MarketParams,
        "compute": compute.ComputeParams,
        "conviction_voting": conviction_voting.ConvictionVotingParams,
        "transaction_payment": transaction_payment.TransactionPaymentParams,
        "treasury": treasury.TreasuryParams,
        "bounties": bounties.BountiesParams,
    }


def test_the_genesis_authority_set_is_staking_s_election() -> None:
    config = GenesisConfig(
        validators=(GenesisValidator(ALICE, 100 * 10**12),),
        slot_duration_ms=1000,
        balances=((ALICE, 10**18),),
    )
    state = build_genesis_state(config)
    assert state[session.Authorities.key] == session.AUTHORITIES_CODEC.encode(
        ((ALICE, 100 * 10**12),)
    )
    assert state[session.SlotDurationMs.key]
    assert staking.Params.decode(state[staking.Params.key]) == config.staking


def test_the_treasury_exists_from_genesis() -> None:
    config = GenesisConfig(
        validators=(GenesisValidator(ALICE, 100 * 10**12),),
        slot_duration_ms=1000,
        balances=((ALICE, 10**18),),
    )
    assert system.Account.key(TREASURY) in build_genesis_state(config)
