"""A property of grants over random awards, donations, closes and time: the treasury's books
always match its balance, and once every grant has expired and been closed, everything awarded
or given to a grant's account is back in the treasury (no job spent any here)."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from runtime.accounts import TREASURY
from runtime.framework import ROOT
from runtime.pallets import grants, system
from tests.runtime.pallets.bounty_helpers import ALICE, BOB, CHARLIE, SMALL, UNIT, Env

EXPIRY = 100
operations = st.lists(
    st.one_of(
        st.tuples(
            st.just("award"),
            st.sampled_from([ROOT, SMALL]),
            st.sampled_from([UNIT, 500 * UNIT, 20_000 * UNIT]),
        ),
        st.tuples(st.just("donate"), st.integers(0, 4), st.sampled_from([UNIT, 3 * UNIT])),
        st.tuples(st.just("close"), st.integers(0, 4), st.sampled_from([ALICE, BOB, SMALL])),
        st.tuples(st.just("wait"), st.sampled_from([1, 30, EXPIRY])),
    ),
    max_size=25,
)


@settings(max_examples=50, deadline=None)
@given(ops=operations)
def test_unused_grants_and_gifts_to_them_return_to_the_treasury(ops: list[Any]) -> None:
    env = Env()
    treasury_before = env.total(TREASURY)
    donated = 0
    for op in ops:
        if op[0] == "award":
            env.call(op[1], "grants", "award", BOB, op[2], UNIT, env.ctx.number + EXPIRY)
        elif op[0] == "donate":
            account = grants.grant_account(op[1])
            if env.call(CHARLIE, "balances", "transfer", account, op[2]) is None:
                donated += op[2]
        elif op[0] == "close":
            env.call(op[2], "grants", "close", op[1])
        else:
            env.advance(op[1])
        assert env.problems() == []
    env.advance(EXPIRY)
    count = grants.GrantCount.get(env.ctx.state)
    for grant_id in range(count):
        env.ok(ALICE, "grants", "close", grant_id)
    for grant_id in range(count):
        assert system.account(env.ctx, grants.grant_account(grant_id)) is None
        assert grants.Grants.get(env.ctx.state, grant_id) is None
    # Gifts to accounts of grants never awarded stay there (no grant to close); the rest came back.
    stranded = sum(env.total(grants.grant_account(i)) for i in range(count, 5))
    assert env.total(TREASURY) == treasury_before + donated - stranded
    assert env.problems() == []
