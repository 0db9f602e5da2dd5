"""Balances' freezes: a vote's lock keeps part of an account's balance in it without moving it.

A freeze overlaps the other freezes (the largest counts) and the staking hold; of the free
balance only `usable_free` may be withdrawn (fees too), transferred or held (but for staking).
The property test drives random debits, holds, slashes and freezes among a handful of accounts
and checks that nothing but a slash takes an account below its freeze, that a refusal for a
freeze happens exactly when the freeze is in the way, and the pallet's invariants.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from runtime.framework import BlockContext, DispatchError
from runtime.pallets import balances, transaction_payment
from runtime.pallets.balances import FREEZES_CODEC, MAX_FREEZES, STAKING_HOLD, Balances, Freezes
from runtime.pallets.staking import constants as staking_constants
from runtime.primitives.codec import DecodeError
from runtime.state import StateOverlay
from tests.runtime.pallets.test_balances import (
    ALICE,
    BOB,
    CHARLIE,
    DAVE,
    ED,
    account,
    committed,
    context,
    events,
    genesis,
    iterate_over,
)

VOTE = "vote"


def problems(state: dict[bytes, bytes]) -> list[str]:
    return Balances().check_invariants(state.get, iterate_over(state))


def test_staking_holds_under_the_reason_freezes_overlap() -> None:
    assert staking_constants.HOLD == STAKING_HOLD


# Setting freezes


def test_freezes_overlap_and_the_largest_counts() -> None:
    ctx = context(genesis({BOB: 10 * ED}))
    balances.set_freeze(ctx, BOB, VOTE, 6 * ED)
    balances.set_freeze(ctx, BOB, "other", 4 * ED)
    assert balances.frozen(ctx, BOB) == 6 * ED
    assert balances.freeze_of(ctx, BOB, "other") == 4 * ED
    assert balances.freeze_of(ctx, BOB, "none") == 0
    assert balances.usable_free(ctx, BOB) == 4 * ED
    assert balances.freezes(ctx.state, BOB) == (("other", 4 * ED), (VOTE, 6 * ED))
    balances.set_freeze(ctx, BOB, VOTE, 0)
    assert balances.frozen(ctx, BOB) == 4 * ED
    balances.set_freeze(ctx, BOB, "other", 0)
    assert Freezes.get(ctx.state, BOB) is None  # no entry once the last freeze goes
    assert balances.usable_free(ctx, BOB) == 10 * ED
    assert [e for e in events(ctx) if e[0] == "FreezeSet"] == [
        ("FreezeSet", (BOB, VOTE, 6 * ED)),
        ("FreezeSet", (BOB, "other", 4 * ED)),
        ("FreezeSet", (BOB, VOTE, 0)),
        ("FreezeSet", (BOB, "other", 0)),
    ]


def test_a_freeze_covers_at_most_the_free_balance_and_the_staking_hold() -> None:
    ctx = context(genesis({BOB: 10 * ED}))
    balances.hold(ctx, BOB, "escrow", 3 * ED)
    balances.hold(ctx, BOB, STAKING_HOLD, 2 * ED)
    assert balances.lockable(ctx, BOB) == 7 * ED  # escrow is not the account's to lock
    with pytest.raises(balances.InsufficientBalance) as refused:
        balances.set_freeze(ctx, BOB, VOTE, 7 * ED + 1)
    assert "can lock" in refused.value.reason()
    balances.set_freeze(ctx, BOB, VOTE, 7 * ED)
    # Staked funds count first: all of the free balance beyond the stake is frozen.
    assert balances.usable_free(ctx, BOB) == 0
    with pytest.raises(balances.InsufficientBalance):
        balances.set_freeze(ctx, DAVE, VOTE, 1)  # no account, nothing to lock
    balances.set_freeze(ctx, DAVE, VOTE, 0)  # removing nothing is fine


def test_freeze_ids_and_their_number_are_bounded() -> None:
    ctx = context(genesis({BOB: 10 * ED}))
    with pytest.raises(balances.InvalidFreezeId):
        balances.set_freeze(ctx, BOB, "", ED)
    with pytest.raises(balances.InvalidFreezeId):
        balances.set_freeze(ctx, BOB, "x" * 17, ED)
    for i in range(MAX_FREEZES):
        balances.set_freeze(ctx, BOB, f"id{i}", ED)
    with pytest.raises(balances.TooManyFreezes):
        balances.set_freeze(ctx, BOB, "one-more", ED)
    balances.set_freeze(ctx, BOB, "id0", 2 * ED)  # changing an existing one is fine


def test_a_freeze_above_what_is_lockable_can_still_be_lowered() -> None:
    """After a slash a freeze may cover more than the free balance and the stake (it is cut to
    the total, which holds other than staking's count in); a lock recomputed then must still be
    able to shrink, or its owner could never unlock."""
    ctx = context(genesis({BOB: 10 * ED}))
    balances.hold(ctx, BOB, STAKING_HOLD, 6 * ED)
    balances.set_freeze(ctx, BOB, VOTE, 8 * ED)
    balances.hold(ctx, BOB, "escrow", 2 * ED)  # the 2 unfrozen XPL
    balances.slash_held(ctx, BOB, STAKING_HOLD, 6 * ED)
    assert balances.frozen(ctx, BOB) == 4 * ED  # cut to the total: 2 free + 2 escrow
    assert balances.lockable(ctx, BOB) == 2 * ED
    assert balances.usable_free(ctx, BOB) == 0
    balances.set_freeze(ctx, BOB, VOTE, 3 * ED)  # lower, though above lockable
    with pytest.raises(balances.InsufficientBalance):
        balances.set_freeze(ctx, BOB, VOTE, 4 * ED)  # raising it again is not
    balances.set_freeze(ctx, BOB, VOTE, 0)


# Debits


def test_transfers_withdrawals_fees_and_holds_stop_at_the_freeze() -> None:
    state = genesis({BOB: 10 * ED, CHARLIE: ED})
    ctx = context(state)
    balances.set_freeze(ctx, BOB, VOTE, 7 * ED)
    with pytest.raises(balances.Frozen) as refused:
        balances.transfer(ctx, BOB, CHARLIE, 3 * ED + 1, keep_alive=False)
    assert "is not frozen" in refused.value.reason()
    with pytest.raises(balances.Frozen):
        balances.withdraw(ctx, BOB, 3 * ED + 1, keep_alive=False)
    with pytest.raises(transaction_payment.CannotPayFee):
        transaction_payment.withdraw_fee(ctx, BOB, 3 * ED + 1, tip=3 * ED)
    for reason in ("escrow", "stake", "bond", "referenda"):
        with pytest.raises(balances.Frozen):
            balances.hold(ctx, BOB, reason, 3 * ED + 1)
    # More than the free balance is still InsufficientBalance.
    with pytest.raises(balances.InsufficientBalance):
        balances.transfer(ctx, BOB, CHARLIE, 11 * ED, keep_alive=False)
    # What is not frozen moves as before.
    balances.transfer(ctx, BOB, CHARLIE, ED, keep_alive=True)
    balances.hold(ctx, BOB, "escrow", ED)
    transaction_payment.withdraw_fee(ctx, BOB, ED, tip=0)
    assert balances.usable_free(ctx, BOB) == 0
    state = committed(ctx, state)
    assert problems(state) == []
    info = account(state, BOB)
    assert info is not None and info.free == 7 * ED


def test_the_staking_hold_takes_frozen_funds_and_gives_them_back() -> None:
    """Locked funds can be bonded, and unbonded funds come back still locked."""
    ctx = context(genesis({BOB: 10 * ED, CHARLIE: ED}))
    balances.set_freeze(ctx, BOB, VOTE, 10 * ED)
    balances.hold(ctx, BOB, STAKING_HOLD, 9 * ED)
    assert balances.frozen(ctx, BOB) == 10 * ED and balances.usable_free(ctx, BOB) == 0
    balances.release(ctx, BOB, STAKING_HOLD, 9 * ED)
    with pytest.raises(balances.Frozen):
        balances.transfer(ctx, BOB, CHARLIE, ED, keep_alive=True)


def test_a_frozen_account_is_never_reaped_by_spending() -> None:
    """A freeze below the existential deposit would otherwise let an account transfer all the
    rest and be reaped, its lock going with it."""
    state = genesis({BOB: 3 * ED, CHARLIE: ED})
    ctx = context(state)
    balances.set_freeze(ctx, BOB, VOTE, ED // 2)
    with pytest.raises(balances.KeepAlive) as refused:
        balances.transfer(ctx, BOB, CHARLIE, 3 * ED - ED // 2, keep_alive=False)
    assert "frozen" in refused.value.reason()
    with pytest.raises(balances.KeepAlive):
        balances.withdraw(ctx, BOB, 3 * ED - ED // 2, keep_alive=False)
    balances.transfer(ctx, BOB, CHARLIE, 2 * ED, keep_alive=False)  # down to the deposit is fine
    state = committed(ctx, state)
    assert account(state, BOB) is not None
    assert problems(state) == []


def test_a_slash_ignores_freezes_and_cuts_them_to_what_is_left() -> None:
    state = genesis({BOB: 10 * ED, CHARLIE: 2 * ED})
    ctx = context(state)
    balances.hold(ctx, BOB, STAKING_HOLD, 8 * ED)
    balances.set_freeze(ctx, BOB, VOTE, 9 * ED)
    balances.set_freeze(ctx, BOB, "other", 2 * ED)
    assert balances.slash_held(ctx, BOB, STAKING_HOLD, 5 * ED) == 5 * ED
    assert balances.freezes(ctx.state, BOB) == (("other", 2 * ED), (VOTE, 5 * ED))
    assert ("FreezeSet", (BOB, VOTE, 5 * ED)) in events(ctx)
    # A slash that reaps takes the freezes with the account.
    balances.hold(ctx, CHARLIE, STAKING_HOLD, 2 * ED)
    balances.set_freeze(ctx, CHARLIE, VOTE, 2 * ED)
    balances.slash_held(ctx, CHARLIE, STAKING_HOLD, 2 * ED)
    assert Freezes.get(ctx.state, CHARLIE) is None
    state = committed(ctx, state)
    assert account(state, CHARLIE) is None
    assert problems(state) == []


def test_a_payment_out_of_the_stake_cuts_a_freeze_above_what_is_left() -> None:
    ctx = context(genesis({BOB: 4 * ED, CHARLIE: ED}))
    balances.hold(ctx, BOB, STAKING_HOLD, 3 * ED)
    balances.set_freeze(ctx, BOB, VOTE, 4 * ED)
    assert balances.transfer_held(ctx, BOB, STAKING_HOLD, CHARLIE, 2 * ED) == 2 * ED
    assert balances.freezes(ctx.state, BOB) == ((VOTE, 2 * ED),)


def test_check_invariants_reports_bad_freezes() -> None:
    state = genesis({BOB: 2 * ED})
    ctx = context(state)
    # Written behind the pallet's back: a freeze above the total, one on no account.
    Freezes.insert(ctx.state, BOB, ((VOTE, 3 * ED),))
    Freezes.insert(ctx.state, DAVE, ((VOTE, ED),))
    Freezes.insert(ctx.state, CHARLIE, (("b", ED), ("a", ED)))
    state = committed(ctx, state)
    found = problems(state)
    assert any("above its total" in p for p in found)
    assert any("no account" in p for p in found)
    assert any("malformed freezes" in p for p in found)


# The property: nothing but a slash takes an account below its freeze


PEOPLE = [ALICE, BOB, CHARLIE, DAVE]  # Dave starts without an account
START = {ALICE: 6 * ED + 7, BOB: 3 * ED, CHARLIE: 2 * ED + 1}
REASONS = ["escrow", STAKING_HOLD]
IDS = [VOTE, "other"]

amounts = st.sampled_from([0, 1, ED // 2, ED - 1, ED, ED + 1, 2 * ED, 3 * ED]) | st.integers(
    0, 7 * ED
)
people = st.sampled_from(PEOPLE)
operations = st.one_of(
    st.tuples(st.just("transfer"), people, people, amounts, st.booleans()),
    st.tuples(st.just("withdraw"), people, amounts, st.booleans()),
    st.tuples(st.just("fee"), people, amounts, amounts),
    st.tuples(st.just("deposit"), people, amounts),
    st.tuples(st.just("hold"), people, st.sampled_from(REASONS), amounts),
    st.tuples(st.just("release"), people, st.sampled_from(REASONS), amounts),
    st.tuples(st.just("slash_held"), people, st.sampled_from(REASONS), amounts),
    st.tuples(st.just("transfer_held"), people, st.sampled_from(REASONS), people, amounts),
    st.tuples(st.just("set_freeze"), people, st.sampled_from(IDS), amounts),
)
UNCHECKED = ("slash_held", "transfer_held")
"""Operations the runtime makes on held funds (penalties, payments): freezes do not stop them."""
histories = st.lists(st.lists(operations, max_size=14), min_size=1, max_size=3)


def attempt(ctx: BlockContext, op: tuple[Any, ...]) -> DispatchError | None:
    """Run one operation in a transactional layer; the error it was refused with, if any."""
    name, *args = op
    ctx.state.begin()
    try:
        if name == "transfer":
            balances.transfer(ctx, args[0], args[1], args[2], keep_alive=args[3])
        elif name == "withdraw":
            balances.withdraw(ctx, args[0], args[1], keep_alive=args[2])
        elif name == "fee":
            tip = min(args[1], args[2])
            transaction_payment.withdraw_fee(ctx, args[0], args[1] + tip, tip)
        else:
            getattr(balances, name)(ctx, *args)
    except DispatchError as exc:
        ctx.state.rollback()
        return exc
    ctx.state.commit()
    return None


def debit_of(op: tuple[Any, ...]) -> tuple[bytes, int] | None:
    """The account and amount of free balance an operation takes out (None: not a debit)."""
    name, *args = op
    if name in ("transfer", "withdraw") and not (name == "transfer" and args[0] == args[1]):
        return args[0], args[-2]
    if name == "fee":
        return args[0], args[1] + min(args[1], args[2])
    if name == "hold" and args[1] != STAKING_HOLD:
        return args[0], args[2]
    return None


@settings(max_examples=60, deadline=None)
@given(histories)
def test_nothing_but_a_slash_takes_an_account_below_its_freeze(
    history: list[list[tuple[Any, ...]]],
) -> None:
    state = genesis(START)
    for block in history:
        ctx = context(state)
        for op in block:
            before = {
                who: (balances.lockable(ctx, who), balances.freezes(ctx.state, who))
                for who in PEOPLE
            }
            usable = {who: balances.usable_free(ctx, who) for who in PEOPLE}
            error = attempt(ctx, op)
            debit = debit_of(op)
            # Refused for a freeze exactly when the freeze is in the way.
            if debit is not None:
                who, amount = debit
                in_the_way = usable[who] < amount <= balances.free_balance(ctx, who)
                frozen_refusal = isinstance(
                    error.__cause__ if error is not None and error.__cause__ else error,
                    balances.Frozen,
                )
                if frozen_refusal:
                    assert in_the_way, (op, error)
                if in_the_way:
                    assert error is not None, op  # for the freeze or an earlier rule
            if op[0] in UNCHECKED:
                continue
            for who in PEOPLE:
                lockable_before, freezes_before = before[who]
                largest = max((a for _, a in freezes_before), default=0)
                if op[0] != "set_freeze":
                    # Freezes change only by set_freeze or a slash; a frozen account stays.
                    assert balances.freezes(ctx.state, who) == freezes_before, op
                    assert balances.lockable(ctx, who) >= min(lockable_before, largest), op
                    if largest:
                        assert balances.exists(ctx, who), op
                elif error is None and who == op[1]:
                    old = dict(freezes_before).get(op[2], 0)
                    assert op[3] <= max(old, lockable_before), op
        state = committed(ctx, state)
        assert problems(state) == []
        overlay = StateOverlay(state.get)
        for who in PEOPLE:
            info = account(state, who)
            for _, amount in Freezes.get(overlay, who) or ():
                assert info is not None and amount <= info.total


# The codec


freeze_lists = st.lists(
    st.tuples(st.text(min_size=1, max_size=16), st.integers(1, 2**128 - 1)),
    max_size=MAX_FREEZES,
    unique_by=lambda f: f[0],
).map(lambda items: tuple(sorted(items)))


@settings(max_examples=100)
@given(freeze_lists)
def test_freezes_round_trip_through_their_codec(freezes: balances.FreezeList) -> None:
    assert FREEZES_CODEC.decode(FREEZES_CODEC.encode(freezes)) == freezes


@settings(max_examples=100)
@given(st.binary(max_size=80))
def test_stored_freezes_that_are_not_well_formed_raise_a_decode_error(raw: bytes) -> None:
    try:
        decoded = FREEZES_CODEC.decode(raw)
    except DecodeError:
        return
    assert len(decoded) <= MAX_FREEZES
    assert all(len(i) <= 16 and 0 <= a < 2**128 for i, a in decoded)


def test_five_freezes_or_a_long_id_do_not_decode() -> None:
    five = tuple((f"id{i}", 1) for i in range(MAX_FREEZES + 1))
    with pytest.raises(DecodeError):
        FREEZES_CODEC.decode(FREEZES_CODEC.encode(five))
    with pytest.raises(DecodeError):
        FREEZES_CODEC.decode(FREEZES_CODEC.encode((("x" * 17, 1),)))


@settings(max_examples=40)
@given(st.dictionaries(st.sampled_from(["vote", "other", "a", "b"]), st.integers(1, 10**20)))
def test_frozen_is_the_largest_freeze_or_zero(amounts: dict[str, int]) -> None:
    """`frozen` (read on every fee and transfer, with a shortcut for an account without
    freezes) equals its definition: the largest freeze on the account, 0 if none."""
    ctx = context(genesis({BOB: 10 * ED}))
    Freezes.insert(ctx.state, BOB, tuple(sorted(amounts.items())))
    assert balances.frozen(ctx, BOB) == max(amounts.values(), default=0)
    assert balances.frozen(ctx, ALICE) == 0
