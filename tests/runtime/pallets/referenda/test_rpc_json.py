"""What gov_referendum and gov_tracks answer, from a referendum's state as it moves: the tally,
the thresholds now, the time left in its phase and its deposits."""

from __future__ import annotations

from typing import Any

from chain.service.rpc.referenda import referendum_json, tracks_json
from runtime.pallets import system
from runtime.pallets.governance.tally import PPB
from runtime.primitives.address import encode_address
from tests.runtime.pallets.referenda.conftest import ALICE, BOB, UNIT, GovChain


def show(gov: GovChain, index: int) -> dict[str, Any]:
    system.Number.put(gov.state, gov.now)  # as the executive leaves it after a block
    return referendum_json(gov.state, index, gov.ref(index))


def test_a_referendum_as_the_rpc_shows_it_through_its_phases(gov: GovChain) -> None:
    gov.next_block()
    index = gov.submit(ALICE)
    shown = show(gov, index)
    assert shown["state"] == "submitted" and shown["track"] == {"id": 0, "name": "root"}
    assert shown["proposal"]["pallet"] == "staking" and shown["proposal"]["call"] == "set_params"
    assert shown["deposits"] == {
        "submission": {"who": encode_address(ALICE), "amount": str(100 * UNIT)},
        "decision": None,
    }
    assert shown["phase"] == {"name": "decision deposit", "endsAt": 21, "blocksLeft": 20}

    gov.call(BOB, "place_decision_deposit", index)
    assert show(gov, index)["phase"] == {"name": "prepare", "endsAt": 3, "blocksLeft": 2}
    gov.run_to(3)
    gov.set_tally(index, ayes=gov.electorate() // 20 + 1)
    shown = show(gov, index)
    assert shown["state"] == "deciding" and shown["decidingSince"] == 3
    assert shown["needed"] == {"approvalPpb": PPB, "supportPpb": PPB // 10}
    assert shown["now"]["approvalPpb"] == PPB and shown["now"]["supportPpb"] == PPB // 20
    assert shown["passing"] is False and shown["passesAt"] == 3 + 8
    assert shown["phase"] == {"name": "decision", "endsAt": 33, "blocksLeft": 30}
    gov.run_to(6)
    assert show(gov, index)["needed"]["supportPpb"] == PPB // 10 - PPB // 10 * 3 // 15

    gov.run_to(11)
    shown = show(gov, index)
    assert shown["state"] == "confirming" and shown["passing"] is True
    assert shown["phase"] == {"name": "confirmation", "endsAt": 14, "blocksLeft": 3}
    gov.run_to(14)
    shown = show(gov, index)
    assert shown["state"] == "approved" and shown["phase"] is None and shown["ended"] == 14
    assert shown["enactment"] == 16 and shown["proposal"] is None


def test_the_tracks_with_their_curves(gov: GovChain) -> None:
    tracks = tracks_json(gov.state)
    assert [t["name"] for t in tracks] == ["root", "treasurer", "small_spender"]
    root = tracks[0]
    assert root["decisionPeriod"] == 30 and root["decisionDeposit"] == str(100_000 * UNIT)
    assert root["curve"][0] == [0, PPB, PPB // 10]
    assert root["curve"][5] == [PPB // 2, PPB // 2, 0]
    assert root["curve"][-1] == [PPB, PPB // 2, 0]
