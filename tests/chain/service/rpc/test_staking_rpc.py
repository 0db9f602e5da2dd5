"""Staking over RPC: the validator set, the era and ledgers as a node operator and a nominator see
them on the dev chain (//Alice validates with 100,000 XPL)."""

from __future__ import annotations

import pytest

from chain.client.chain import XplClient, make_call
from chain.client.rpc import RpcClientError
from chain.service.rpc import errors
from chain.service.rpc.staking import validators_json
from chain.spec import DEFAULT_GENESIS_BOND
from runtime.pallets.staking import DEFAULT_STAKING_PARAMS
from runtime.primitives.address import encode_address
from runtime.primitives.keys import Keypair, dev_keypair
from tests.chain.conftest import NodeProcess
from tests.runtime.pallets.staking_helpers import DAVE, NINA, PARAMS, boundary, staking_chain

UNIT = 10**12
ALICE, BOB = dev_keypair("Alice"), dev_keypair("Bob")


def staking_call(client: XplClient, who: Keypair, name: str, *args: object) -> None:
    tx = client.sign(who, make_call("staking", name, *args))
    outcome = client.submit_and_watch(tx, until="inBlock")
    assert outcome.success, outcome.error


def test_the_validator_set_is_reported_with_its_backing_and_points(dev_node: NodeProcess) -> None:
    with dev_node.client() as client:
        client.submit_and_watch(
            client.sign(BOB, make_call("balances", "transfer", ALICE.public, UNIT)),
            until="inBlock",
        )
        found = client.staking_validators()
    (alice,) = found["active"]
    assert alice["stash"] == alice["sessionKey"] == encode_address(ALICE.public)
    assert alice["total"] == alice["own"] == str(DEFAULT_GENESIS_BOND)
    assert alice["commissionPpm"] == 0 and alice["nominators"] == []
    assert alice["disabled"] is False
    assert alice["points"] >= 20 and alice["points"] == 20 * alice["blocks"]
    assert found["candidates"] == [
        {
            "stash": encode_address(ALICE.public),
            "sessionKey": encode_address(ALICE.public),
            "bond": str(DEFAULT_GENESIS_BOND),
            "commissionPpm": 0,
            "pendingCommission": None,
        }
    ]
    assert found["seats"] == DEFAULT_STAKING_PARAMS.validator_count


def test_the_era_and_a_nominators_ledger(dev_node: NodeProcess) -> None:
    with dev_node.client() as client:
        era = client.staking_era()
        assert era["eraBlocks"] == DEFAULT_STAKING_PARAMS.era_blocks and era["forced"] is False
        assert era["nextEraAt"] == era["start"] + DEFAULT_STAKING_PARAMS.era_blocks
        assert client.staking_ledger(BOB.public) is None
        staking_call(client, BOB, "bond", 500 * UNIT)
        staking_call(client, BOB, "nominate", [ALICE.public])
        staking_call(client, BOB, "unbond", 100 * UNIT)
        p, best = DEFAULT_STAKING_PARAMS, client.best_number()
        ledger = client.staking_ledger(BOB.public)
        assert ledger is not None and ledger.active == 400 * UNIT
        ((unlocks_at, amount),) = ledger.unlocking  # a block: bonding_eras eras' worth after
        assert amount == 100 * UNIT and unlocks_at % p.era_blocks == 0
        assert best < unlocks_at - p.bonding_eras * p.era_blocks + p.era_blocks
        raw = client.rpc.call("staking_ledger", encode_address(BOB.public))
        assert raw["nominating"] == [encode_address(ALICE.public)]
        assert raw["validating"] is False and raw["sessionKey"] is None
        assert raw["total"] == str(500 * UNIT)
        assert client.account(BOB.public).holds == (("staking", 500 * UNIT),)


@pytest.mark.parametrize(
    ("method", "params", "message"),
    [
        ("staking_ledger", ["nope"], "stash: address 'nope'"),
        ("staking_ledger", [], "missing parameter 'stash'"),
        ("staking_era", ["0x00"], "block hash"),
        ("staking_validators", [None, 1], "expected at most 1 parameters"),
    ],
)
def test_bad_parameters_are_refused_by_name(
    dev_node: NodeProcess, method: str, params: list[object], message: str
) -> None:
    with dev_node.client() as client, pytest.raises(RpcClientError) as caught:
        client.rpc.call(method, *params)
    assert caught.value.code == errors.INVALID_PARAMS, caught.value.message
    assert message in caught.value.message, caught.value.message


def test_the_seats_the_winners_backing_and_a_pending_raise_are_reported() -> None:
    """In process, on the staking tests' chain: Dave stands with 100 XPL and Nina's 1,950 behind
    him; he then raises his commission, which waits for era 2."""
    chain = staking_chain()
    dave, nina = DAVE.public, NINA.public
    chain.bond(DAVE, 100 * UNIT)
    chain.validate(DAVE, 0)
    chain.bond(NINA, 1_950 * UNIT)
    chain.nominate(NINA, DAVE)
    chain.validate(DAVE, 200_000)
    due = chain.head.number + PARAMS.era_blocks  # a whole era's blocks after the raise
    boundary(chain)
    found = validators_json(chain.overlay())
    assert found["seats"] == PARAMS.validator_count == len(found["active"])
    (winner,) = [v for v in found["active"] if v["stash"] == encode_address(dave)]
    assert winner["own"] == str(100 * UNIT) and winner["total"] == str(2_050 * UNIT)
    assert winner["nominators"] == [{"stash": encode_address(nina), "amount": str(1_950 * UNIT)}]
    assert winner["commissionPpm"] == 0
    (candidate,) = [c for c in found["candidates"] if c["stash"] == encode_address(dave)]
    assert candidate["commissionPpm"] == 0
    assert candidate["pendingCommission"] == {"commissionPpm": 200_000, "fromBlock": due}
