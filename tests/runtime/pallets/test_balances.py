"""Balances: transfers, holds, the existential deposit, reaping and total issuance.

The property test drives the pallet's functions with random operations among a handful of
accounts, with amounts around the existential deposit so that refusals and reaping happen, and
checks the state against a model written from the pallet's rules and against its invariants.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chain.client.chain import make_call, transfer_call
from runtime import executive
from runtime.framework import BlockContext, DispatchError, Origin
from runtime.genesis import GenesisConfig, build_genesis_state
from runtime.pallets import balances, system
from runtime.pallets.balances import EXISTENTIAL_DEPOSIT as ED
from runtime.pallets.balances import Balances, TotalIssuance
from runtime.pallets.staking import GenesisValidator
from runtime.pallets.system import MAX_HOLDS, Account, AccountInfo
from runtime.primitives.hashing import ZERO_HASH
from runtime.primitives.keys import dev_keypair
from runtime.state import StateOverlay
from tests.runtime.conftest import TEST_STAKING

if TYPE_CHECKING:
    from tests.runtime.conftest import DevChain

ALICE, BOB, CHARLIE, DAVE, EVE = (
    dev_keypair(n).public for n in ("Alice", "Bob", "Charlie", "Dave", "Eve")
)
BOB_KEY = dev_keypair("Bob")
VALIDATOR = dev_keypair("Victor").public
"""The genesis validator: it bonds its whole endowment and takes no part in the tests."""


def apply_changes(state: dict[bytes, bytes], changes: dict[bytes, bytes | None]) -> None:
    for key, value in changes.items():
        if value is None:
            state.pop(key, None)
        else:
            state[key] = value


def iterate_over(state: dict[bytes, bytes]) -> Callable[[bytes], Any]:
    return lambda prefix: iter(sorted((k, v) for k, v in state.items() if k.startswith(prefix)))


def config(balances: tuple[tuple[bytes, int], ...]) -> GenesisConfig:
    return GenesisConfig(
        validators=(GenesisValidator(VALIDATOR, ED),),
        slot_duration_ms=6_000,
        balances=((VALIDATOR, ED), *balances),
        staking=TEST_STAKING,
    )


def genesis(endowed: dict[bytes, int]) -> dict[bytes, bytes]:
    return build_genesis_state(config(tuple(endowed.items())))


def context(state: dict[bytes, bytes]) -> BlockContext:
    return BlockContext(
        state=StateOverlay(state.get),
        number=1,
        parent_hash=ZERO_HASH,
        timestamp=0,
        author=ALICE,
        genesis_hash=ZERO_HASH,
    )


def dispatch(ctx: BlockContext, operation: Callable[[], Any]) -> bool:
    """Run one operation as a call runs: in a transactional layer, reverted if it fails."""
    ctx.state.begin()
    try:
        operation()
    except DispatchError:
        ctx.state.rollback()
        return False
    ctx.state.commit()
    return True


def committed(ctx: BlockContext, state: dict[bytes, bytes]) -> dict[bytes, bytes]:
    after = dict(state)
    apply_changes(after, ctx.state.changes())
    return after


def account(state: dict[bytes, bytes], who: bytes) -> AccountInfo | None:
    return Account.get(StateOverlay(state.get), who)


def issuance(state: dict[bytes, bytes]) -> int:
    return TotalIssuance.get(StateOverlay(state.get))


def events(ctx: BlockContext) -> list[tuple[str, tuple[Any, ...]]]:
    return [(r.event.name, r.args) for r in ctx.events]


# The model: the pallet's rules, written from its docstring.


class Refused(Exception):
    pass


class Model:
    def __init__(self, endowed: dict[bytes, int]) -> None:
        self.free = dict(endowed)
        self.holds: dict[bytes, dict[str, int]] = {who: {} for who in endowed}
        self.issuance = sum(endowed.values())

    def total(self, who: bytes) -> int:
        return self.free[who] + sum(self.holds[who].values())

    def exists(self, who: bytes) -> bool:
        return who in self.free

    def _reap(self, who: bytes) -> None:
        self.issuance -= self.total(who)
        del self.free[who], self.holds[who]

    def _debit(self, who: bytes, amount: int, keep_alive: bool) -> bool:
        """Take free balance; True if the account must then be reaped."""
        if not self.exists(who) or self.free[who] < amount:
            raise Refused
        if self.total(who) - amount < ED:
            if keep_alive or self.holds[who]:
                raise Refused
            return True
        return False

    def _credit(self, who: bytes, amount: int) -> None:
        if self.exists(who):
            self.free[who] += amount
        else:
            self.free[who], self.holds[who] = amount, {}

    def transfer(self, source: bytes, dest: bytes, amount: int, keep_alive: bool) -> None:
        if source == dest:
            if not self.exists(source) or self.free[source] < amount:
                raise Refused
            return
        if not self.exists(dest) and amount < ED:
            raise Refused
        reap = self._debit(source, amount, keep_alive)
        self.free[source] -= amount
        if reap:
            self._reap(source)
        self._credit(dest, amount)

    def withdraw(self, who: bytes, amount: int, keep_alive: bool) -> None:
        reap = self._debit(who, amount, keep_alive)
        self.free[who] -= amount
        self.issuance -= amount
        if reap:
            self._reap(who)

    def deposit(self, who: bytes, amount: int) -> int:
        if amount == 0 or (not self.exists(who) and amount < ED):
            return 0
        self._credit(who, amount)
        self.issuance += amount
        return amount

    def hold(self, who: bytes, reason: str, amount: int) -> None:
        if not self.exists(who) or self.free[who] < amount:
            raise Refused
        if reason not in self.holds[who] and len(self.holds[who]) >= MAX_HOLDS:
            raise Refused
        self.free[who] -= amount
        held = self.holds[who].get(reason, 0) + amount
        self.holds[who][reason] = held
        if not held:
            del self.holds[who][reason]

    def release(self, who: bytes, reason: str, amount: int) -> None:
        if not self.exists(who) or self.holds[who].get(reason, 0) < amount:
            raise Refused
        self.free[who] += amount
        self.holds[who][reason] = self.holds[who].get(reason, 0) - amount
        if not self.holds[who][reason]:
            del self.holds[who][reason]

    def slash_held(self, who: bytes, reason: str, amount: int) -> int:
        if not self.exists(who):
            return 0
        taken = min(self.holds[who].get(reason, 0), amount)
        if taken == 0:
            return 0
        self.holds[who][reason] -= taken
        if not self.holds[who][reason]:
            del self.holds[who][reason]
        self.issuance -= taken
        if self.total(who) < ED:  # reaped: what is left, held or free, is burned
            self._reap(who)
        return taken

    def account(self, who: bytes) -> tuple[int, tuple[tuple[str, int], ...]] | None:
        if not self.exists(who):
            return None
        return self.free[who], tuple(sorted(self.holds[who].items()))


# The property test

PEOPLE = [ALICE, BOB, CHARLIE, DAVE, EVE]  # Dave and Eve start without an account
START = {ALICE: 3 * ED + 7, BOB: ED, CHARLIE: 2 * ED + 1}
REASONS = ["escrow", "stake"]

amounts = st.sampled_from([0, 1, ED // 2, ED - 1, ED, ED + 1, 2 * ED, 3 * ED]) | st.integers(
    0, 4 * ED
)
people = st.sampled_from(PEOPLE)
operations = st.one_of(
    st.tuples(st.just("transfer"), people, people, amounts, st.booleans()),
    st.tuples(st.just("withdraw"), people, amounts, st.booleans()),
    st.tuples(st.just("deposit"), people, amounts),
    st.tuples(st.just("hold"), people, st.sampled_from(REASONS), amounts),
    st.tuples(st.just("release"), people, st.sampled_from(REASONS), amounts),
    st.tuples(st.just("slash_held"), people, st.sampled_from(REASONS), amounts),
)
# A few blocks of operations: the state is committed, encoded and read back between blocks.
histories = st.lists(st.lists(operations, max_size=12), min_size=1, max_size=4)


def run_operation(ctx: BlockContext, model: Model, op: tuple[Any, ...]) -> None:
    """Apply one operation to the pallet and to the model; they must agree on what happens."""
    name, *args = op
    kwargs = {"keep_alive": args.pop()} if name in ("transfer", "withdraw") else {}
    pallet_function = getattr(balances, name)
    if name in ("deposit", "slash_held"):  # never refused: they return how much they moved
        assert pallet_function(ctx, *args) == getattr(model, name)(*args), op
        return
    try:
        getattr(model, name)(*args, **kwargs)
        model_ok = True
    except Refused:
        model_ok = False
    assert dispatch(ctx, lambda: pallet_function(ctx, *args, **kwargs)) == model_ok, op


@settings(max_examples=150, deadline=None)
@given(histories)
def test_random_operations_keep_issuance_and_the_deposit_rule(
    history: list[list[tuple[Any, ...]]],
) -> None:
    state = genesis(START)
    model = Model(START)
    base_issuance = issuance(state) - model.issuance  # the treasury's endowment
    for block in history:
        ctx = context(state)
        for op in block:
            run_operation(ctx, model, op)
        state = committed(ctx, state)
        assert Balances().check_invariants(state.get, iterate_over(state)) == []
        assert issuance(state) == model.issuance + base_issuance
        for who in PEOPLE:
            info = account(state, who)
            expected = model.account(who)
            assert (None if info is None else (info.free, info.holds)) == expected


def test_slash_never_leaves_a_held_account_below_the_deposit() -> None:
    state = genesis({BOB: 2 * ED})
    ctx = context(state)
    balances.hold(ctx, BOB, "stake", ED)
    balances.hold(ctx, BOB, "escrow", ED)
    balances.slash_held(ctx, BOB, "stake", ED)  # Bob keeps ED held under "escrow": fine
    balances.slash_held(ctx, BOB, "escrow", 1)  # Bob's total is now ED - 1, with a hold left
    state = committed(ctx, state)
    assert Balances().check_invariants(state.get, iterate_over(state)) == []


def test_a_hold_reason_over_the_limit_never_makes_the_account_unreadable() -> None:
    state = genesis({BOB: 2 * ED})
    ctx = context(state)
    reason = "r" * (system.MAX_HOLD_REASON_LEN + 1)
    dispatch(ctx, lambda: balances.hold(ctx, BOB, reason, 1))  # refused, or accepted and stored
    state = committed(ctx, state)
    account(state, BOB)  # raises DecodeError today


# Unit tests


def test_reaping_burns_the_dust_and_reports_it() -> None:
    state = genesis({BOB: 3 * ED, CHARLIE: ED})
    before = issuance(state)
    ctx = context(state)
    # Bob sends all but ED - 1: what is left cannot keep the account alive.
    Balances().transfer(ctx, Origin(signer=BOB), CHARLIE, 2 * ED + 1)
    state = committed(ctx, state)
    assert account(state, BOB) is None
    assert account(state, CHARLIE) == AccountInfo(nonce=0, free=3 * ED + 1)
    assert issuance(state) == before - (ED - 1)
    assert events(ctx) == [
        ("DustLost", (BOB, ED - 1)),
        ("KilledAccount", (BOB,)),
        ("Transfer", (BOB, CHARLIE, 2 * ED + 1)),
    ]
    assert Balances().check_invariants(state.get, iterate_over(state)) == []


def test_withdrawing_everything_reaps_without_dust() -> None:
    state = genesis({BOB: 2 * ED})
    before = issuance(state)
    ctx = context(state)
    balances.withdraw(ctx, BOB, 2 * ED, keep_alive=False)
    state = committed(ctx, state)
    assert account(state, BOB) is None
    assert issuance(state) == before - 2 * ED
    assert events(ctx) == [("KilledAccount", (BOB,))]


def test_a_transfer_creating_an_account_below_the_deposit_is_refused() -> None:
    state = genesis({BOB: 3 * ED})
    ctx = context(state)
    with pytest.raises(balances.ExistentialDeposit):
        Balances().transfer(ctx, Origin(signer=BOB), DAVE, ED - 1)
    assert ctx.state.changes() == {}
    Balances().transfer(ctx, Origin(signer=BOB), DAVE, ED)
    state = committed(ctx, state)
    assert account(state, DAVE) == AccountInfo(nonce=0, free=ED)
    assert [name for name, _ in events(ctx)] == ["NewAccount", "Endowed", "Transfer"]


def test_transfer_keep_alive_refuses_to_leave_the_sender_below_the_deposit() -> None:
    state = genesis({BOB: 3 * ED, CHARLIE: ED})
    ctx = context(state)
    with pytest.raises(balances.KeepAlive):
        Balances().transfer_keep_alive(ctx, Origin(signer=BOB), CHARLIE, 2 * ED + 1)
    with pytest.raises(balances.KeepAlive):
        Balances().transfer_keep_alive(ctx, Origin(signer=BOB), CHARLIE, 3 * ED)
    assert ctx.state.changes() == {}
    Balances().transfer_keep_alive(ctx, Origin(signer=BOB), CHARLIE, 2 * ED)
    state = committed(ctx, state)
    assert account(state, BOB) == AccountInfo(nonce=0, free=ED)


def test_transfer_needs_a_signed_origin_and_enough_balance() -> None:
    ctx = context(genesis({BOB: 3 * ED}))
    with pytest.raises(DispatchError):
        Balances().transfer(ctx, Origin(root=True), CHARLIE, ED)
    with pytest.raises(balances.InsufficientBalance):
        Balances().transfer(ctx, Origin(signer=BOB), CHARLIE, 3 * ED + 1)
    with pytest.raises(balances.InsufficientBalance):
        Balances().transfer(ctx, Origin(signer=DAVE), BOB, ED)
    assert ctx.state.changes() == {}


def test_holds_block_reaping() -> None:
    state = genesis({BOB: 2 * ED, CHARLIE: 2 * ED, DAVE: ED})
    ctx = context(state)
    half = ED // 2
    balances.hold(ctx, BOB, "stake", half)
    # Without a hold, sending all but half the deposit reaps the sender ...
    balances.transfer(ctx, CHARLIE, DAVE, 2 * ED - half, keep_alive=False)
    assert Account.get(ctx.state, CHARLIE) is None
    # ... with one, the same transfer (or withdrawal) is refused: the account must stay.
    with pytest.raises(balances.KeepAlive):
        balances.transfer(ctx, BOB, DAVE, 2 * ED - half, keep_alive=False)
    with pytest.raises(balances.KeepAlive):
        balances.withdraw(ctx, BOB, ED + 1, keep_alive=False)
    # Down to exactly the deposit is allowed, even with nothing left free.
    balances.transfer(ctx, BOB, DAVE, ED, keep_alive=False)
    balances.hold(ctx, BOB, "stake", ED - half)
    state = committed(ctx, state)
    assert account(state, BOB) == AccountInfo(nonce=0, free=0, holds=(("stake", ED),))
    assert Balances().check_invariants(state.get, iterate_over(state)) == []


def test_held_balance_cannot_be_spent_and_release_is_bounded() -> None:
    state = genesis({BOB: 3 * ED})
    ctx = context(state)
    balances.hold(ctx, BOB, "escrow", 2 * ED)
    with pytest.raises(balances.InsufficientBalance):
        balances.transfer(ctx, BOB, CHARLIE, ED + 1, keep_alive=False)
    with pytest.raises(balances.InsufficientHeld):
        balances.release(ctx, BOB, "escrow", 2 * ED + 1)
    with pytest.raises(balances.InsufficientHeld):
        balances.release(ctx, BOB, "stake", 1)
    with pytest.raises(balances.InsufficientBalance):
        balances.hold(ctx, BOB, "stake", ED + 1)


def test_too_many_named_holds_are_refused() -> None:
    state = genesis({BOB: 100 * ED})
    ctx = context(state)
    for i in range(MAX_HOLDS):
        balances.hold(ctx, BOB, f"reason{i}", ED)
    with pytest.raises(balances.TooManyHolds):
        balances.hold(ctx, BOB, "one-more", ED)
    balances.hold(ctx, BOB, "reason0", ED)  # adding to an existing hold is fine
    state = committed(ctx, state)
    info = account(state, BOB)
    assert info is not None
    assert [r for r, _ in info.holds] == sorted(f"reason{i}" for i in range(MAX_HOLDS))
    assert info.held("reason0") == 2 * ED


def test_slash_reduces_issuance_and_reaps_an_emptied_account() -> None:
    state = genesis({BOB: 3 * ED, CHARLIE: 2 * ED})
    before = issuance(state)
    ctx = context(state)
    balances.hold(ctx, BOB, "stake", 2 * ED)
    assert balances.slash_held(ctx, BOB, "stake", ED) == ED
    assert balances.slash_held(ctx, BOB, "escrow", ED) == 0
    assert balances.slash_held(ctx, DAVE, "stake", ED) == 0
    # Charlie holds everything; a slash of more than is held takes what is held and reaps.
    balances.hold(ctx, CHARLIE, "stake", 2 * ED)
    assert balances.slash_held(ctx, CHARLIE, "stake", 5 * ED) == 2 * ED
    state = committed(ctx, state)
    assert issuance(state) == before - 3 * ED
    assert account(state, BOB) == AccountInfo(nonce=0, free=ED, holds=(("stake", ED),))
    assert account(state, CHARLIE) is None
    assert ("Slashed", (BOB, "stake", ED)) in events(ctx)
    assert events(ctx)[-2:] == [
        ("Slashed", (CHARLIE, "stake", 2 * ED)),
        ("KilledAccount", (CHARLIE,)),
    ]
    assert Balances().check_invariants(state.get, iterate_over(state)) == []


def test_deposit_mints_or_credits_nothing_below_the_deposit() -> None:
    state = genesis({BOB: ED})
    before = issuance(state)
    ctx = context(state)
    assert balances.deposit(ctx, DAVE, ED - 1) == 0
    assert balances.deposit(ctx, BOB, 1) == 1
    assert balances.deposit(ctx, EVE, ED) == ED
    state = committed(ctx, state)
    assert account(state, DAVE) is None
    assert account(state, EVE) == AccountInfo(nonce=0, free=ED)
    assert issuance(state) == before + ED + 1


def test_genesis_refuses_balances_below_the_deposit_or_twice() -> None:
    with pytest.raises(ValueError):
        genesis({BOB: ED - 1})
    with pytest.raises(ValueError):
        build_genesis_state(config(((BOB, ED), (BOB, ED))))


def test_check_invariants_reports_a_broken_state() -> None:
    state = genesis({BOB: 2 * ED})
    ctx = context(state)
    # Written behind the pallet's back: an account below the deposit, issuance not matching.
    Account.insert(ctx.state, CHARLIE, AccountInfo(nonce=0, free=ED - 1))
    state = committed(ctx, state)
    problems = Balances().check_invariants(state.get, iterate_over(state))
    assert any("below the deposit" in p for p in problems)
    assert any("total issuance" in p for p in problems)


# Failed calls inside apply_extrinsic


def test_a_failed_transfer_keeps_its_fee_and_nonce(chain: DevChain) -> None:
    bob_before = chain.free(BOB)
    tx = chain.sign(BOB_KEY, transfer_call(EVE, bob_before, keep_alive=True))
    _, result = chain.produce([tx])
    fee = next(r.args[1] for r in result.context.events if r.event.name == "TransactionFeePaid")
    assert fee > 0
    assert chain.account(BOB) == AccountInfo(nonce=1, free=bob_before - fee)
    assert chain.account(EVE) is None
    assert [(r.phase, r.event.name) for r in result.context.events if r.phase == 0] == [
        (0, "TransactionFeePaid"),
        (0, "ExtrinsicFailed"),
    ]
    failed = next(r for r in result.context.events if r.event.name == "ExtrinsicFailed")
    assert failed.args[:2] == ("balances", "InsufficientBalance")
    assert chain.problems() == []


def test_a_failed_call_reverts_its_own_writes_and_events(
    chain: DevChain, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A call that moves balance, emits events, and only then fails: all of that must go.
    def transfer_then_fail(ctx: BlockContext, origin: Origin, dest: bytes, value: int) -> None:
        balances.transfer(ctx, origin.signer, dest, value, keep_alive=False)  # type: ignore[arg-type]
        balances.hold(ctx, dest, "escrow", value)
        raise balances.Overflow()

    key = ("balances", "transfer")
    monkeypatch.setitem(
        executive.CALLS, key, replace(executive.CALLS[key], function=transfer_then_fail)
    )
    bob_before, issuance_before = chain.free(BOB), chain.issuance()
    tx = chain.sign(BOB_KEY, make_call("balances", "transfer", EVE, 5 * ED))
    builder = chain.builder()
    assert builder.push(tx) is False
    _, result = chain.seal(builder)
    fee = next(r.args[1] for r in result.context.events if r.event.name == "TransactionFeePaid")
    assert chain.account(BOB) == AccountInfo(nonce=1, free=bob_before - fee)
    assert chain.account(EVE) is None
    assert chain.issuance() == issuance_before  # the fee went to the author and the treasury
    names = [r.event.name for r in result.context.events if r.phase == 0]
    assert names == ["TransactionFeePaid", "ExtrinsicFailed"]
    failed = next(r for r in result.context.events if r.event.name == "ExtrinsicFailed")
    assert failed.args[:2] == ("balances", "Overflow")
    assert chain.problems() == []


def test_a_failed_call_is_followed_by_a_working_one(chain: DevChain) -> None:
    bob_before = chain.free(BOB)
    failing = chain.sign(BOB_KEY, transfer_call(EVE, ED - 1), nonce=0)
    working = chain.sign(BOB_KEY, transfer_call(EVE, ED), nonce=1)
    _, result = chain.produce([failing, working])
    fees = [r.args[1] for r in result.context.events if r.event.name == "TransactionFeePaid"]
    assert chain.account(BOB) == AccountInfo(nonce=2, free=bob_before - ED - sum(fees))
    assert chain.account(EVE) == AccountInfo(nonce=0, free=ED)
    outcome = [r.event.name for r in result.context.events if r.event.name.startswith("Extrinsic")]
    assert outcome == ["ExtrinsicFailed", "ExtrinsicSuccess"]
