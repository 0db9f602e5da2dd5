"""gov_votes: an account's votes, delegations and locks as a token holder reads them."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from chain.service.rpc.votes import votes_json
from runtime.primitives.address import encode_address
from runtime.state import StateOverlay
from tests.runtime.pallets.voting_helpers import (
    ALICE,
    BOB,
    CHARLIE,
    PERIOD,
    UNIT,
    Bench,
    bench_polls,
)


@pytest.fixture
def bench() -> Iterator[Bench]:
    with bench_polls():
        yield Bench()


def read(bench: Bench, who: bytes) -> dict[str, object]:
    return votes_json(StateOverlay(bench.state.get), who)


def test_an_account_without_votes_has_nothing_locked(bench: Bench) -> None:
    assert read(bench, ALICE) == {"account": encode_address(ALICE), "frozen": "0", "classes": []}


def test_votes_delegations_and_locks_are_reported_per_class(bench: Bench) -> None:
    bench.open_poll(0, track=0)
    bench.open_poll(1, track=0)
    bench.open_poll(2, track=1)
    bench.vote(ALICE, 0, aye=300 * UNIT, c=2)
    bench.vote(ALICE, 1, nay=100 * UNIT, c=6)
    bench.call(ALICE, "delegate", 1, BOB, 3, 50 * UNIT)
    bench.call(CHARLIE, "delegate", 0, ALICE, 1, 20 * UNIT)
    bench.end_poll(0, approved=True)
    end = bench.number
    bench.end_poll(1, approved=True)
    bench.call(ALICE, "remove_vote", 0, 1)  # lost: no conviction lock
    found = read(bench, ALICE)
    assert found["frozen"] == str(300 * UNIT)
    root, treasurer = found["classes"]  # type: ignore[misc]
    assert root == {
        "class": 0,
        "track": "root",
        "lock": str(300 * UNIT),
        "votes": [
            {
                "poll": 0,
                "aye": str(300 * UNIT),
                "nay": "0",
                "abstain": "0",
                "conviction": 2,
                "status": "approved",
                "lockedUntil": end + 2 * PERIOD,
            }
        ],
        "delegating": None,
        "delegated": {"votes": str(20 * UNIT), "capital": str(20 * UNIT)},
        "prior": None,
    }
    assert treasurer["track"] == "treasurer" and treasurer["votes"] == []
    assert treasurer["delegating"] == {
        "target": encode_address(BOB),
        "conviction": 3,
        "amount": str(50 * UNIT),
    }
    bench.call(ALICE, "remove_vote", 0, 0)
    (root, _) = read(bench, ALICE)["classes"]  # type: ignore[misc]
    assert root["prior"] == {"until": end + 2 * PERIOD, "amount": str(300 * UNIT)}
