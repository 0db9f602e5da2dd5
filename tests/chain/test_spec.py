"""Chain specs: validators with their bonds, session keys and commission, genesis nominators and
staking parameters, and the errors that name what is wrong."""

from __future__ import annotations

from typing import Any

import pytest

from chain.spec import (
    DEFAULT_GENESIS_BOND,
    DEV_ENDOWMENT,
    ChainSpec,
    ChainSpecError,
    dev_spec,
    local_spec,
)
from runtime.pallets import session, staking, sudo, treasury
from runtime.pallets.governance.tracks import DEFAULT_TRACKS
from runtime.pallets.referenda import fast_tracks
from runtime.pallets.staking import DEFAULT_STAKING_PARAMS, GenesisValidator
from runtime.pallets.treasury import TreasuryParams
from runtime.primitives.address import encode_address
from runtime.primitives.keys import dev_keypair
from runtime.state import StateOverlay

ALICE, BOB, CHARLIE, DAVE = (dev_keypair(n) for n in ("Alice", "Bob", "Charlie", "Dave"))


def document(**genesis: Any) -> dict[str, Any]:
    """The local spec with two validators as JSON, with `genesis` fields replaced."""
    data = local_spec(validators=2).to_json()
    data["genesis"].update(genesis)
    return data


def state_of(spec: ChainSpec) -> StateOverlay:
    state = spec.genesis_state()
    return StateOverlay(state.get)


def test_local_validators_bond_part_of_their_endowment() -> None:
    spec = local_spec(validators=3)
    assert spec.genesis.validator_keys == tuple(k.public for k in (ALICE, BOB, CHARLIE))
    assert spec.genesis.validators[0] == GenesisValidator(ALICE.public, DEFAULT_GENESIS_BOND)
    state = state_of(spec)
    ledger = staking.Ledgers.get(state, BOB.public)
    assert ledger == staking.Ledger(active=DEFAULT_GENESIS_BOND)
    authorities = session.authority_set(state)
    assert authorities.authorities == tuple((k, DEFAULT_GENESIS_BOND) for k in authorities.keys)
    assert DEV_ENDOWMENT > DEFAULT_GENESIS_BOND
    assert ChainSpec.from_json(spec.to_json()).to_json() == spec.to_json()


def test_the_spec_writes_validators_as_objects_and_reads_them_back() -> None:
    data = local_spec(validators=2).to_json()
    assert data["genesis"]["validators"][0] == {
        "account": encode_address(ALICE.public),
        "sessionKey": encode_address(ALICE.public),
        "bond": "100000XPL",
        "commissionPpm": 0,
    }
    assert data["genesis"]["nominators"] == []
    assert data["genesis"]["staking"]["eraBlocks"] == DEFAULT_STAKING_PARAMS.era_blocks


def test_a_hand_written_spec_may_list_validators_by_address_and_name_its_own_keys() -> None:
    key = dev_keypair("AliceSession").public
    data = document(
        validators=[
            {
                "account": encode_address(ALICE.public),
                "sessionKey": encode_address(key),
                "bond": "250000XPL",
                "commissionPpm": 50_000,
            },
            encode_address(BOB.public),
        ],
        nominators=[
            {
                "account": encode_address(DAVE.public),
                "bond": "1000XPL",
                "targets": [encode_address(ALICE.public)],
            }
        ],
        staking={"eraBlocks": 20, "eraReward": "5XPL"},
    )
    spec = ChainSpec.from_json(data)
    assert spec.genesis.validator_keys == (key, BOB.public)
    assert spec.genesis.validators[1] == GenesisValidator(BOB.public, DEFAULT_GENESIS_BOND)
    assert spec.genesis.staking.era_blocks == 20 and spec.genesis.staking.era_reward == 5 * 10**12
    assert spec.genesis.staking.validator_count == DEFAULT_STAKING_PARAMS.validator_count
    state = state_of(spec)
    assert staking.stash_of(state, key) == ALICE.public
    assert session.authority_set(state).weight_of(key) == 251_000 * 10**12
    assert ChainSpec.from_json(spec.to_json()).genesis_header() == spec.genesis_header()


@pytest.mark.parametrize(
    ("genesis", "message"),
    [
        ({"validators": [{"account": "nope"}]}, "genesis.validators.0.account"),
        ({"validators": [{"bond": "1XPL"}]}, "genesis.validators.0.account: Field required"),
        ({"validators": [{"account": "@A", "bond": "lots"}]}, "genesis.validators.0.bond"),
        ({"validators": [{"account": "@A", "commissionPpm": 2_000_000}]}, "commissionPpm"),
        ({"validators": [{"account": "@A", "bond": "2000000XPL"}]}, "cannot bond 2000000XPL"),
        ({"validators": [{"account": "@A", "bond": "1XPL"}]}, "below min_validator_bond"),
        ({"validators": ["@A", "@A"]}, "listed twice"),
        ({"staking": {"eraBlocks": 0}}, "genesis.staking.eraBlocks"),
        ({"staking": {"minValidators": 200}}, "min_validators must be 1 to validator_count"),
        ({"staking": {"colour": "red"}}, "genesis.staking.colour"),
        (
            {"nominators": [{"account": "@D", "bond": "10XPL", "targets": ["@C"]}]},
            "targets must be distinct validators",
        ),
        ({"nominators": [{"account": "@D", "bond": "10XPL", "targets": []}]}, "targets"),
    ],
)
def test_bad_staking_fields_are_refused_by_name(genesis: dict[str, Any], message: str) -> None:
    names = {"@A": ALICE, "@C": CHARLIE, "@D": DAVE}

    def resolve(value: Any) -> Any:
        if isinstance(value, str) and value in names:
            return encode_address(names[value].public)
        if isinstance(value, list):
            return [resolve(v) for v in value]
        if isinstance(value, dict):
            return {k: resolve(v) for k, v in value.items()}
        return value

    with pytest.raises(ChainSpecError, match=message):
        ChainSpec.from_json(document(**resolve(genesis)))


def test_governance_tracks_are_read_checked_and_written_back() -> None:
    spec = dev_spec()
    assert spec.genesis.tracks == fast_tracks()
    data = spec.to_json()
    assert data["genesis"]["governance"]["tracks"][0]["name"] == "root"
    assert ChainSpec.from_json(data).genesis.tracks == fast_tracks()

    del data["genesis"]["governance"]
    assert ChainSpec.from_json(data).genesis.tracks == DEFAULT_TRACKS
    data["genesis"]["governance"] = {"tracks": "fast"}
    assert ChainSpec.from_json(data).genesis.tracks == fast_tracks()

    root = dict(ChainSpec.from_json(data).to_json()["genesis"]["governance"]["tracks"][0])
    for bad, words in (
        ({**root, "timeout": 1}, "time-out must be longer than the prepare period"),
        ({**root, "name": "treasurer"}, "there must be a track named root"),
        ({**root, "approvalB": 2_000_000_000}, "approval curve: a linear curve falls from a to b"),
        ({k: v for k, v in root.items() if k != "confirmPeriod"}, "confirmPeriod: Field required"),
    ):
        data["genesis"]["governance"] = {"tracks": [bad]}
        with pytest.raises(ChainSpecError, match=words):
            ChainSpec.from_json(data)


def test_the_dev_chain_has_alice_as_its_sudo_key_and_the_local_chain_none() -> None:
    dev = dev_spec()
    assert dev.genesis.sudo == ALICE.public
    assert dev.to_json()["genesis"]["sudo"] == encode_address(ALICE.public)
    assert sudo.key(state_of(dev)) == ALICE.public
    local = local_spec(validators=2)
    assert local.genesis.sudo is None
    assert local.to_json()["genesis"]["sudo"] is None
    assert sudo.key(state_of(local)) is None


def test_a_custom_spec_has_sudo_only_if_it_names_a_key() -> None:
    unnamed = document()
    del unnamed["genesis"]["sudo"]
    assert ChainSpec.from_json(unnamed).genesis.sudo is None
    named = ChainSpec.from_json(document(sudo=encode_address(BOB.public)))
    assert named.genesis.sudo == BOB.public
    assert sudo.key(state_of(named)) == BOB.public
    assert ChainSpec.from_json(named.to_json()).genesis_header() == named.genesis_header()
    # The key is part of the genesis: a chain with another key is another chain.
    assert named.genesis_header() != ChainSpec.from_json(unnamed).genesis_header()
    with pytest.raises(ChainSpecError, match=r"genesis\.sudo"):
        ChainSpec.from_json(document(sudo="not an address"))


def test_the_treasury_parameters_are_read_checked_and_written_back() -> None:
    spec = ChainSpec.from_json(document(treasury={"burnPpm": 0, "inflationSharePpm": 200_000}))
    assert spec.genesis.treasury == TreasuryParams(burn_ppm=0, inflation_share_ppm=200_000)
    assert treasury.Params.get(state_of(spec)) == spec.genesis.treasury
    assert spec.to_json()["genesis"]["treasury"]["inflationSharePpm"] == 200_000
    assert ChainSpec.from_json(spec.to_json()).genesis_header() == spec.genesis_header()
    with pytest.raises(ChainSpecError, match=r"genesis\.treasury\.burnPpm"):
        ChainSpec.from_json(document(treasury={"burnPpm": 1_000_001}))
    with pytest.raises(ChainSpecError, match=r"genesis\.treasury\.spendPeriod"):
        ChainSpec.from_json(document(treasury={"spendPeriod": 0}))
