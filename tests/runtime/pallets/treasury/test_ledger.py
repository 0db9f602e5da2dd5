"""The ledger's API (receive, pay_out, available), the burn at each spend period, and the
treasury's parameters."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from runtime.accounts import TREASURY
from runtime.framework import ROOT, BlockContext, DispatchError, Origin
from runtime.pallets import balances, treasury
from runtime.pallets.treasury import MAX_PENDING_SPENDS, TreasuryParams
from runtime.pallets.treasury.pallet import IDLE_WEIGHT, PERIOD_WEIGHT
from runtime.state import StateOverlay
from tests.runtime.pallets.treasury_helpers import (
    BEN,
    BOB,
    ED,
    PARAMS,
    TREASURY_FUNDS,
    UNIT,
    TreasuryChain,
)

AVAILABLE = TREASURY_FUNDS - ED


def test_pay_out_takes_only_unpromised_funds_and_records_its_purpose() -> None:
    chain = TreasuryChain()
    chain.spend(AVAILABLE - 1_000 * UNIT, origin=ROOT)

    def pay(amount: int) -> Any:
        return lambda ctx: treasury.pay_out(ctx, "bounties", BEN, amount)

    with pytest.raises(treasury.InsufficientFunds) as refused:
        chain.run(pay(1_000 * UNIT + 1))
    assert "0.000000000001XPL short" in refused.value.reason()
    chain.run(pay(400 * UNIT))
    chain.run(lambda ctx: treasury.pay_out(ctx, "grants", BOB, 600 * UNIT))
    assert chain.available() == 0
    ledger = chain.ledger()
    assert (ledger.bounties, ledger.grants) == (400 * UNIT, 600 * UNIT)
    assert chain.named("treasury", "PaidOut") == [
        ("bounties", BEN, 400 * UNIT),
        ("grants", BOB, 600 * UNIT),
    ]
    assert chain.payout(0) is None  # the promise is still whole
    assert chain.balance(TREASURY) == ED  # never below the existential deposit
    assert chain.problems() == []


def test_pay_out_refuses_the_treasury_itself_and_unknown_purposes() -> None:
    chain = TreasuryChain()
    with pytest.raises(DispatchError):
        chain.run(lambda ctx: treasury.pay_out(ctx, "bounties", TREASURY, UNIT))
    with pytest.raises(ValueError, match="unknown treasury purpose"):
        chain.run(lambda ctx: treasury.pay_out(ctx, "parties", BEN, UNIT))
    with pytest.raises(ValueError, match="unknown treasury income source"):
        chain.run(lambda ctx: treasury.receive(ctx, "gifts", UNIT))


def test_income_unrecorded_breaks_the_invariant_and_recorded_keeps_it() -> None:
    chain = TreasuryChain()
    chain.run(lambda ctx: balances.deposit(ctx, TREASURY, 5 * UNIT))
    assert chain.problems() != []  # a credit no path recorded is caught
    chain.run(lambda ctx: treasury.receive(ctx, treasury.SLASHES, 5 * UNIT))
    assert chain.problems() == []
    assert chain.ledger().slashes == 5 * UNIT


def test_the_burn_takes_its_share_of_the_unpromised_funds_only() -> None:
    chain = TreasuryChain()
    promised = AVAILABLE // 2
    chain.spend(promised, origin=ROOT)
    next_burn = treasury.next_burn(chain.overlay())
    assert next_burn == (AVAILABLE - promised) // 10
    issuance = chain.issuance()
    chain.advance_to(9)
    assert chain.named("treasury", "Burnt") == []
    chain.advance_to(10)
    assert chain.named("treasury", "Burnt") == [(next_burn, AVAILABLE - promised - next_burn)]
    assert chain.issuance() == issuance - next_burn
    assert chain.ledger().burned == next_burn
    assert chain.payout(0) is None  # the promised half is all there
    assert chain.balance(BEN) == promised
    assert chain.problems() == []


def test_a_treasury_with_nothing_unpromised_burns_nothing() -> None:
    chain = TreasuryChain()
    chain.spend(AVAILABLE, origin=ROOT)
    chain.advance_to(10)
    assert chain.named("treasury", "Burnt") == [(0, 0)]
    assert chain.balance(TREASURY) == TREASURY_FUNDS
    assert chain.problems() == []


def test_a_spend_period_does_the_same_work_whatever_the_number_of_spends() -> None:
    """The hook burns once and reads the same keys with one spend pending or the most."""

    def keys_read(pending: int) -> tuple[int, int]:
        chain = TreasuryChain()
        for _ in range(pending):
            chain.spend(UNIT, beneficiary=BOB)
        chain.advance_to(9)
        read: set[bytes] = set()

        def counting(key: bytes) -> bytes | None:
            read.add(key)
            return chain.state.get(key)

        ctx = chain.context()
        ctx = BlockContext(
            state=StateOverlay(counting),
            number=10,
            parent_hash=ctx.parent_hash,
            timestamp=ctx.timestamp,
            author=ctx.author,
            genesis_hash=ctx.genesis_hash,
        )
        weight = treasury.Treasury().on_initialize(ctx)
        return weight, len(read)

    one, most = keys_read(1), keys_read(MAX_PENDING_SPENDS)
    assert one == most and one[0] == PERIOD_WEIGHT
    chain = TreasuryChain()
    assert chain.run(treasury.Treasury().on_initialize) == IDLE_WEIGHT  # block 1: no period


def test_parameters_change_by_root_only_and_within_their_ranges() -> None:
    chain = TreasuryChain()
    updated = replace(PARAMS, burn_ppm=0, spend_period=5, inflation_share_ppm=200_000)
    values = tuple(getattr(updated, f.name) for f in TreasuryParams.schema().fields)
    for origin in (Origin(signer=BOB), Origin(track="treasurer")):
        assert chain.call(origin, "treasury", "set_params", *values) == "BadOrigin"
    bad = replace(updated, burn_ppm=1_000_001)
    bad_values = tuple(getattr(bad, f.name) for f in TreasuryParams.schema().fields)
    assert chain.call(ROOT, "treasury", "set_params", *bad_values) == "BadParams"
    assert "burn_ppm must be 0 to 1000000" in chain.last_reason
    assert chain.call(ROOT, "treasury", "set_params", *values) is None
    assert treasury.Params.get(chain.overlay()) == updated
    assert chain.named("treasury", "ParamsChanged") == [()]
    chain.advance_to(5)
    assert chain.named("treasury", "Burnt") == [(0, AVAILABLE)]
