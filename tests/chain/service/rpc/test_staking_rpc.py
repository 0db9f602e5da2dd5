"""Staking over RPC: the validator set, the era and ledgers as a node operator and a nominator see
them on the dev chain (//Alice validates with 100,000 XPL)."""

from __future__ import annotations

import pytest

from chain.client.chain import XplClient, make_call
from chain.client.rpc import RpcClientError
from chain.service.rpc import errors
from chain.spec import DEFAULT_GENESIS_BOND
from runtime.pallets.staking import DEFAULT_STAKING_PARAMS, Ledger
from runtime.primitives.address import encode_address
from runtime.primitives.keys import Keypair, dev_keypair
from tests.chain.conftest import NodeProcess

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
        }
    ]


def test_the_era_and_a_nominators_ledger(dev_node: NodeProcess) -> None:
    with dev_node.client() as client:
        era = client.staking_era()
        assert era["eraBlocks"] == DEFAULT_STAKING_PARAMS.era_blocks and era["forced"] is False
        assert era["nextEraAt"] == era["start"] + DEFAULT_STAKING_PARAMS.era_blocks
        assert client.staking_ledger(BOB.public) is None
        staking_call(client, BOB, "bond", 500 * UNIT)
        staking_call(client, BOB, "nominate", [ALICE.public])
        staking_call(client, BOB, "unbond", 100 * UNIT)
        unlocks_at = client.staking_era()["era"] + DEFAULT_STAKING_PARAMS.bonding_eras
        assert client.staking_ledger(BOB.public) == Ledger(400 * UNIT, ((unlocks_at, 100 * UNIT),))
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
