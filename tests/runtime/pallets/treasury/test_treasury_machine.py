"""A hypothesis state machine over the treasury: income from every source, donations, spends by
every kind of origin, claims (timely, early, late, repeated), closes, voids, payments to bounties
and grants, and spend periods' burns. After every step the treasury's balance equals its genesis
balance plus its income less its payments and burns, by the ledger and by a model kept here
apart; its promises are covered; and no spend pays more than once or outside its period."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from runtime.accounts import TREASURY
from runtime.framework import ROOT, Origin
from runtime.pallets import balances, treasury
from runtime.pallets.treasury import SOURCES
from runtime.primitives.keys import dev_keypair
from tests.runtime.pallets.treasury_helpers import (
    BOB,
    ED,
    SMALL,
    SMALL_LIMIT,
    TREASURER,
    TREASURY_FUNDS,
    UNIT,
    TreasuryChain,
)

BENEFICIARIES = tuple(dev_keypair(f"Builder{i}").public for i in range(3))
ORIGINS = (ROOT, SMALL, TREASURER, Origin(signer=BOB), Origin(track="nobody"))
AMOUNTS = st.one_of(
    st.integers(ED, 2 * UNIT),
    st.sampled_from([SMALL_LIMIT, SMALL_LIMIT + 1, TREASURY_FUNDS // 3, TREASURY_FUNDS]),
)


class TreasuryMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.chain = TreasuryChain()
        self.expected = TREASURY_FUNDS
        """The treasury's balance by this model: genesis, plus income, less what left it."""
        self.approved: dict[int, tuple[int, bytes, int, int]] = {}
        """Spend index -> (amount, beneficiary, valid_from, expire_at), as approved."""
        self.paid: set[int] = set()
        self.closed: set[int] = set()
        self.received = dict.fromkeys(BENEFICIARIES, 0)

    @rule(source=st.sampled_from(SOURCES), amount=st.integers(1, 5 * UNIT))
    def income(self, source: str, amount: int) -> None:
        def credit(ctx: Any) -> None:
            treasury.receive(ctx, source, balances.deposit(ctx, TREASURY, amount))

        self.chain.run(credit)
        self.expected += amount

    @rule(amount=st.integers(ED, 5 * UNIT))
    def donate(self, amount: int) -> None:
        assert self.chain.call(Origin(signer=BOB), "balances", "transfer", TREASURY, amount) is None
        self.expected += amount

    @rule(
        origin=st.sampled_from(ORIGINS),
        amount=AMOUNTS,
        who=st.sampled_from(BENEFICIARIES),
        delay=st.integers(0, 8),
    )
    def spend(self, origin: Origin, amount: int, who: bytes, delay: int) -> None:
        index = treasury.SpendCount.get(self.chain.overlay())
        available = self.chain.available()
        error = self.chain.spend(amount, who, self.chain.number + delay, origin=origin)
        limit = {ROOT: None, SMALL: SMALL_LIMIT, TREASURER: 1_000_000 * UNIT}.get(origin, 0)
        if limit is not None and amount > limit:
            assert error in ("SpendAboveLimit", "BadOrigin")
        elif amount > available:
            assert error == "InsufficientFunds"
        elif error is None:
            record = self.chain.spend_record(index)
            assert record is not None
            self.approved[index] = (amount, who, record.valid_from, record.expire_at)
            assert record.valid_from == self.chain.number + delay
        else:
            assert error == "TooManySpends"

    @rule(data=st.data())
    def claim(self, data: st.DataObject) -> None:
        if not self.approved:
            return
        index = data.draw(st.sampled_from(sorted(self.approved)))
        amount, who, valid_from, expire_at = self.approved[index]
        error = self.chain.payout(index)
        now = self.chain.number
        if index in self.paid:
            assert error == "AlreadyPaid"
        elif index in self.closed:
            assert error == "SpendEnded"
        elif now < valid_from:
            assert error == "EarlyPayout"
        elif now >= expire_at:
            assert error == "SpendExpired"
        else:
            assert error is None
            self.paid.add(index)
            self.received[who] += amount
            self.expected -= amount

    @rule(data=st.data(), by_root=st.booleans())
    def close(self, data: st.DataObject, by_root: bool) -> None:
        if not self.approved:
            return
        index = data.draw(st.sampled_from(sorted(self.approved)))
        if by_root:
            error = self.chain.call(ROOT, "treasury", "void_spend", index)
        else:
            error = self.chain.call(Origin(signer=BOB), "treasury", "check_status", index)
        ended = index in self.paid or index in self.closed
        if error is None:
            assert not ended
            assert by_root or self.chain.number >= self.approved[index][3]
            self.closed.add(index)
        else:
            assert ended or (not by_root and error == "SpendNotExpired")

    @rule(purpose=st.sampled_from(("bounties", "grants")), amount=AMOUNTS)
    def pay(self, purpose: str, amount: int) -> None:
        available = self.chain.available()
        try:
            self.chain.run(lambda ctx: treasury.pay_out(ctx, purpose, BOB, amount))
        except treasury.InsufficientFunds:
            assert amount > available
        else:
            assert amount <= available
            self.expected -= amount

    @rule(blocks=st.integers(1, 12))
    def advance(self, blocks: int) -> None:
        burned = self.chain.ledger().burned
        self.chain.advance_to(self.chain.number + blocks)
        self.expected -= self.chain.ledger().burned - burned

    @invariant()
    def books_balance(self) -> None:
        chain = self.chain
        assert chain.problems() == []
        assert chain.balance(TREASURY) == self.expected == chain.ledger().expected_balance()
        promised = treasury.Promised.get(chain.overlay())
        pending = set(self.approved) - self.paid - self.closed
        assert promised == sum(self.approved[i][0] for i in pending)
        assert promised + ED <= chain.balance(TREASURY)
        assert chain.ledger().spends == sum(self.approved[i][0] for i in self.paid)
        for who, amount in self.received.items():
            assert chain.balance(who) == amount  # each paid once, nothing else


TreasuryMachine.TestCase.settings = settings(
    max_examples=40,
    stateful_step_count=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
test_treasury_machine = TreasuryMachine.TestCase
