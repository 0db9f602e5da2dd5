"""A check as RPC answers it and the client reads it back: every field survives the JSON, each
reveal is shown as the vote the chain counts it as, and the phase follows the deadlines."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from chain.client.checks import check_from_json, check_json, check_summary, phase
from runtime.pallets import compute
from runtime.primitives.address import encode_address
from runtime.primitives.keys import dev_keypair

ALICE, BOB, CHARLIE = (dev_keypair(n).public for n in ("Alice", "Bob", "Charlie"))
HASHES = st.binary(min_size=32, max_size=32)


@st.composite
def checks(draw: st.DrawFn) -> compute.Check:
    leaves = tuple(draw(st.lists(st.integers(0, 2**32 - 1), min_size=1, max_size=4)))
    committee = tuple(draw(st.permutations((ALICE, BOB, CHARLIE)))[: draw(st.integers(0, 3))])
    committed = committee[: draw(st.integers(0, len(committee)))]
    revealed = committed[: draw(st.integers(0, len(committed)))]
    drawn = draw(st.integers(0, 1_000))
    commit = drawn + draw(st.integers(1, 10)) if committee else 0
    return compute.Check(
        kind=draw(st.sampled_from(["audit", "dispute"])),
        leaves=leaves,
        committee=committee,
        draw_at=drawn,
        drawn_at=drawn if committee else 0,
        commit_deadline=commit,
        reveal_deadline=commit + draw(st.integers(1, 10)) if committee else 0,
        round=draw(st.integers(0, 7)),
        commits=tuple((m, draw(HASHES)) for m in committed),
        reveals=tuple(
            (m, tuple(draw(HASHES) for _ in leaves) if draw(st.booleans()) else ())
            for m in revealed
        ),
        response=tuple(draw(HASHES) for _ in leaves) if draw(st.booleans()) else (),
        challenger=draw(st.sampled_from([None, BOB])),
        bond=draw(st.integers(0, 10**20)),
        outcome=draw(st.sampled_from(["", "pass", "fail", "inconclusive", "void"])),
        mask=draw(st.integers(0, 2**32 - 1)),
        witnesses=tuple((m, draw(HASHES)) for m in revealed),
    )


@given(checks(), st.integers(0, 1_100))
def test_a_check_survives_its_json(check: compute.Check, number: int) -> None:
    data = json.loads(json.dumps(check_json(3, check, number)))
    assert check_from_json(data) == check
    assert data["phase"] == phase(check, number)
    assert data["commitCount"] == len(check.commits)


def test_each_reveal_shows_the_vote_it_counts_as() -> None:
    right, wrong = (b"\x01" * 32,), (b"\x02" * 32,)
    check = compute.Check(
        kind="audit", leaves=(5,), committee=(ALICE, BOB, CHARLIE), draw_at=10, drawn_at=10,
        commit_deadline=13, reveal_deadline=16, round=1,
        commits=tuple((m, bytes(32)) for m in (ALICE, BOB, CHARLIE)),
        reveals=((ALICE, wrong), (BOB, right), (CHARLIE, ())), response=right,
    )  # fmt: skip
    votes = [r["vote"] for r in check_json(0, check)["reveals"]]
    assert votes == ["differs", "match", "unavailable"]
    summary = check_summary(0, check)
    assert summary["reveals"] == {
        encode_address(ALICE): "differs",
        encode_address(BOB): "match",
        encode_address(CHARLIE): "unavailable",
    }
    assert (summary["round"], summary["commitBy"], summary["revealBy"]) == (1, 13, 16)
    assert summary["responded"] and summary["outcome"] == "open"
    assert [phase(check, n) for n in (10, 11, 13, 14, 16, 17)] == [
        "drawing", "commit", "commit", "reveal", "reveal", "deciding",
    ]  # fmt: skip
