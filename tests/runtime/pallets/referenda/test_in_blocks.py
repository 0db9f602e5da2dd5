"""Referenda in real blocks: signed submissions and deposits go through the executive, the hook
runs in every block, and every pallet's invariants hold as a referendum runs to its end and its
deposits are refunded."""

from __future__ import annotations

from dataclasses import replace

from chain.client.chain import make_call
from runtime.pallets.referenda import ReferendumInfo, fast_tracks
from runtime.pallets.referenda.storage import DECIDING, REJECTED
from runtime.primitives.keys import dev_keypair
from runtime.state import StateOverlay
from tests.runtime.conftest import DevChain, dev_genesis_config
from tests.runtime.pallets.referenda.conftest import UNIT, set_params_call

BOB, CHARLIE = dev_keypair("Bob"), dev_keypair("Charlie")
CHEAP = (
    replace(fast_tracks()[0], submission_deposit=10 * UNIT, decision_deposit=20 * UNIT),
    *fast_tracks()[1:],
)


def test_a_referendum_runs_to_its_end_in_blocks_and_its_deposits_come_back() -> None:
    chain = DevChain(replace(dev_genesis_config(), tracks=CHEAP), dev_keypair("Alice"))
    submit = chain.sign(BOB, make_call("referenda", "submit", 0, set_params_call(50), 0))
    chain.produce([submit])
    place = chain.sign(CHARLIE, make_call("referenda", "place_decision_deposit", 0))
    chain.produce([place])
    assert chain.account(BOB.public).holds == (("referenda", 10 * UNIT),)  # type: ignore[union-attr]
    assert chain.account(CHARLIE.public).holds == (("referenda", 20 * UNIT),)  # type: ignore[union-attr]

    def ref_state() -> int:
        ref = ReferendumInfo.get(StateOverlay(chain.read), 0)
        assert ref is not None
        return ref.state

    for _ in range(3):
        chain.produce()
    assert ref_state() == DECIDING
    for _ in range(30):
        chain.produce()
        assert chain.problems() == []
    assert ref_state() == REJECTED
    chain.produce(
        [
            chain.sign(BOB, make_call("referenda", "refund_submission_deposit", 0)),
            chain.sign(BOB, make_call("referenda", "refund_decision_deposit", 0), nonce=2),
        ]
    )
    assert chain.account(BOB.public).holds == ()  # type: ignore[union-attr]
    assert chain.account(CHARLIE.public).holds == ()  # type: ignore[union-attr]
    assert chain.problems() == []
