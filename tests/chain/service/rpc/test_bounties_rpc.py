"""treasury_bounties and grants_list: what a token holder sees of the bounties and grants the
treasury funds, read from a state built by the pallets' own calls."""

from __future__ import annotations

from chain.service.rpc.bounties import bounties_json, grants_json
from runtime.framework import ROOT
from runtime.pallets import bounties, grants
from runtime.primitives.address import encode_address
from runtime.state import StateOverlay
from tests.runtime.conftest import prefix_iterator
from tests.runtime.pallets.bounty_helpers import ALICE, BOB, CHARLIE, UNIT, Env


def test_bounties_are_listed_newest_first_with_their_children() -> None:
    env = Env()
    env.ok(ALICE, "bounties", "propose_bounty", 100 * UNIT, b"docs")
    env.ok(ALICE, "bounties", "propose_bounty", 500 * UNIT, b"\xff\x00")
    env.ok(ROOT, "bounties", "approve_bounty", 1)
    env.ok(ROOT, "bounties", "propose_curator", 1, BOB, 10 * UNIT)
    env.ok(BOB, "bounties", "accept_curator", 1)
    env.ok(BOB, "bounties", "add_child_bounty", 1, 200 * UNIT, b"milestone one")
    env.ok(BOB, "bounties", "propose_child_curator", 1, 0, CHARLIE, UNIT)
    state = env.committed()
    found = bounties_json(StateOverlay(state.get), prefix_iterator(state))
    assert [b["id"] for b in found] == [1, 0]
    newest, oldest = found
    assert oldest["status"] == "proposed" and oldest["description"] == "docs"
    assert oldest["bond"] == str(bounties.Params.get(env.ctx.state).bond_for(b"docs"))
    assert newest["description"] == "0xff00"  # not UTF-8
    assert newest["status"] == "active" and newest["curator"] == encode_address(BOB)
    assert newest["balance"] == str(300 * UNIT) and newest["fee"] == str(10 * UNIT)
    (child,) = newest["children"]
    assert child["status"] == "curator_proposed" and child["curator"] == encode_address(CHARLIE)
    assert child["balance"] == child["value"] == str(200 * UNIT)
    assert child["description"] == "milestone one"


def test_grants_are_listed_with_their_accounts_funds() -> None:
    env = Env()
    env.ok(ROOT, "grants", "award", BOB, 40 * UNIT, 2 * UNIT, 500)
    state = env.committed()
    (grant,) = grants_json(StateOverlay(state.get), prefix_iterator(state))
    assert grant["builder"] == encode_address(BOB) and grant["awarded"] == str(40 * UNIT)
    assert grant["free"] == str(40 * UNIT) and grant["held"] == "0"
    assert grant["account"] == encode_address(grants.grant_account(0))
    assert grant["expiresAt"] == 500 and grant["closed"] is False
