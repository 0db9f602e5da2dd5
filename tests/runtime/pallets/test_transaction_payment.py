"""Transaction payment: the fee formula, the fee multiplier, and where the fees go."""

from __future__ import annotations

from fractions import Fraction
from typing import TYPE_CHECKING

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chain.client.chain import transfer_call
from runtime import api
from runtime.accounts import TREASURY
from runtime.executive import BlockResult, InvalidTransaction, validate_transaction
from runtime.pallets import system
from runtime.pallets.balances import EXISTENTIAL_DEPOSIT as ED
from runtime.pallets.balances import TRANSFER_WEIGHT
from runtime.pallets.system import EXTRINSIC_BASE_WEIGHT, MAX_NORMAL_LENGTH, MAX_NORMAL_WEIGHT
from runtime.pallets.transaction_payment import (
    ADJUSTMENT_VARIABLE,
    AUTHOR_FEE_PERCENT,
    BASE_FEE,
    BYTE_FEE,
    FIXED_ONE,
    MAX_MULTIPLIER,
    MIN_MULTIPLIER,
    TARGET_FULLNESS,
    WEIGHT_FEE,
    NextFeeMultiplier,
    compute_fee,
    next_multiplier,
    priority,
)
from runtime.primitives.keys import dev_keypair
from runtime.state import StateOverlay

if TYPE_CHECKING:
    from tests.runtime.conftest import ChainFactory, DevChain

ALICE, BOB, CHARLIE, DAVE, EVE = (
    dev_keypair(n) for n in ("Alice", "Bob", "Charlie", "Dave", "Eve")
)

multipliers = st.integers(MIN_MULTIPLIER, MAX_MULTIPLIER)
lengths = st.integers(0, 200_000)
weights = st.integers(0, MAX_NORMAL_WEIGHT)
tips = st.integers(0, 10**24)


# The fee formula


@given(multipliers, lengths, weights, tips)
def test_fee_is_exactly_the_documented_formula(
    multiplier: int, length: int, weight: int, tip: int
) -> None:
    exact = Fraction(BASE_FEE + length * BYTE_FEE + tip) + Fraction(
        weight * WEIGHT_FEE * multiplier, FIXED_ONE
    )
    assert compute_fee(multiplier, length, weight, tip) == int(exact)  # floor: never over-charged


@given(multipliers, lengths, weights, tips, st.integers(1, 10_000))
def test_fee_is_monotone_in_every_input(
    multiplier: int, length: int, weight: int, tip: int, more: int
) -> None:
    fee = compute_fee(multiplier, length, weight, tip)
    assert compute_fee(multiplier, length + more, weight, tip) == fee + more * BYTE_FEE
    assert compute_fee(multiplier, length, weight, tip + more) == fee + more
    assert compute_fee(multiplier, length, weight + more, tip) > fee
    assert (
        compute_fee(min(multiplier + more * FIXED_ONE // 1000, MAX_MULTIPLIER), length, weight, tip)
        >= fee
    )


def test_fee_at_the_minimum_multiplier() -> None:
    assert (
        compute_fee(FIXED_ONE, 100, 1_000, 7) == BASE_FEE + 100 * BYTE_FEE + 1_000 * WEIGHT_FEE + 7
    )
    assert compute_fee(FIXED_ONE, 0, 0, 0) == BASE_FEE


# The fee multiplier


def reference_multiplier(previous: int, weight_used: int, max_weight: int) -> Fraction:
    """The documented targeted fee adjustment in exact arithmetic, before clamping."""
    s = Fraction(min(weight_used, max_weight), max_weight)
    v_diff = Fraction(ADJUSTMENT_VARIABLE, FIXED_ONE) * (s - Fraction(TARGET_FULLNESS, FIXED_ONE))
    return previous * (1 + v_diff + v_diff * v_diff / 2)


@settings(max_examples=300)
@given(multipliers, st.integers(0, 2 * MAX_NORMAL_WEIGHT))
def test_next_multiplier_follows_fullness_within_bounds(previous: int, weight_used: int) -> None:
    updated = next_multiplier(previous, weight_used, MAX_NORMAL_WEIGHT)
    assert MIN_MULTIPLIER <= updated <= MAX_MULTIPLIER
    fullness = Fraction(min(weight_used, MAX_NORMAL_WEIGHT), MAX_NORMAL_WEIGHT)
    target = Fraction(TARGET_FULLNESS, FIXED_ONE)
    if fullness > target:
        assert updated >= previous
    elif fullness < target:
        assert updated <= previous
    else:
        assert updated == previous
    # Close to the exact formula (fixed point rounds down a little), then clamped.
    exact = min(
        max(reference_multiplier(previous, weight_used, MAX_NORMAL_WEIGHT), MIN_MULTIPLIER),
        MAX_MULTIPLIER,
    )
    assert abs(updated - exact) <= exact * Fraction(1, 10**12) + 2


@given(st.integers(MIN_MULTIPLIER, MAX_MULTIPLIER - 1))
def test_a_full_block_raises_the_multiplier(previous: int) -> None:
    assert next_multiplier(previous, MAX_NORMAL_WEIGHT, MAX_NORMAL_WEIGHT) > previous


@given(st.integers(MIN_MULTIPLIER + 1, MAX_MULTIPLIER))
def test_an_empty_block_lowers_the_multiplier_but_not_below_the_minimum(previous: int) -> None:
    updated = next_multiplier(previous, 0, MAX_NORMAL_WEIGHT)
    assert MIN_MULTIPLIER <= updated < previous


def test_the_multiplier_saturates_at_both_ends() -> None:
    assert next_multiplier(MAX_MULTIPLIER, MAX_NORMAL_WEIGHT, MAX_NORMAL_WEIGHT) == MAX_MULTIPLIER
    assert next_multiplier(MIN_MULTIPLIER, 0, MAX_NORMAL_WEIGHT) == MIN_MULTIPLIER
    # Many full blocks in a row climb monotonically to the cap and stay there.
    m, seen = MIN_MULTIPLIER, []
    for _ in range(400_000):
        m = next_multiplier(m, MAX_NORMAL_WEIGHT, MAX_NORMAL_WEIGHT)
        if m == MAX_MULTIPLIER:
            break
        seen.append(m)
    assert m == MAX_MULTIPLIER
    assert seen == sorted(seen)


# Fees on the chain


def fee_of(chain: DevChain, tx_len: int, tip: int) -> int:
    multiplier = NextFeeMultiplier.get(StateOverlay(chain.read))
    return compute_fee(multiplier, tx_len, EXTRINSIC_BASE_WEIGHT + TRANSFER_WEIGHT, tip)


def test_validation_and_the_fee_query_quote_the_formula(chain: DevChain) -> None:
    tx = chain.sign(BOB, transfer_call(CHARLIE.public, ED), tip=12_345)
    valid = validate_transaction(chain.read, chain.head, tx, genesis_hash=chain.genesis_hash)
    assert valid.fee == fee_of(chain, len(tx.raw), 12_345)
    assert valid.weight == EXTRINSIC_BASE_WEIGHT + TRANSFER_WEIGHT
    assert valid.priority == priority(valid.fee, valid.weight, len(tx.raw))
    info = api.query_fee(chain.read, tx)
    assert info.partial_fee == valid.fee - 12_345
    assert info.weight == valid.weight


def test_priority_is_the_fee_per_share_of_the_block_it_takes() -> None:
    """A transaction twice as heavy (or, where length runs out first, twice as long) must pay
    twice the fee to rank level; the tip counts as any other part of the fee."""
    light, heavy = MAX_NORMAL_WEIGHT // 100, MAX_NORMAL_WEIGHT // 50
    assert priority(10**9, light, 200) == priority(2 * 10**9, heavy, 200)
    assert priority(10**9 + 1, light, 200) > priority(10**9, light, 200)
    long_tx = MAX_NORMAL_LENGTH // 10
    assert priority(10**9, 1, long_tx) == 10 * 10**9
    assert priority(10**9, MAX_NORMAL_WEIGHT, 1) == 10**9


def test_fees_are_split_between_author_and_treasury_and_conserved(chain: DevChain) -> None:
    author = chain.author.public
    txs = [
        chain.sign(BOB, transfer_call(CHARLIE.public, 3 * ED), tip=0),
        chain.sign(CHARLIE, transfer_call(DAVE.public, ED), tip=777_777),
        chain.sign(DAVE, transfer_call(EVE.public, ED - 1), tip=10**9 + 1),  # fails: still pays
        chain.sign(BOB, transfer_call(EVE.public, 2 * ED), nonce=1, tip=3),
    ]
    fees = [fee_of(chain, len(tx.raw), tx.tip) for tx in txs]
    tips = sum(tx.tip for tx in txs)
    before = {who: chain.free(who) for who in (author, TREASURY)}
    issuance = chain.issuance()
    _, result = chain.produce(txs)

    assert chain.issuance() == issuance
    paid = [r.args for r in result.context.events if r.event.name == "TransactionFeePaid"]
    assert [(who, fee, tip) for who, fee, tip in paid] == [
        (tx.signer, fee, tx.tip) for tx, fee in zip(txs, fees, strict=True)
    ]
    without_tips = sum(fees) - tips
    author_share = without_tips * AUTHOR_FEE_PERCENT // 100
    assert chain.free(author) - before[author] == author_share + tips
    assert chain.free(TREASURY) - before[TREASURY] == without_tips - author_share
    assert chain.problems() == []


def test_the_payout_mints_exactly_what_was_collected(make_chain: ChainFactory) -> None:
    # Odd fees, so the 20 % share is rounded: nothing may be created or lost by the rounding.
    chain = make_chain()
    for tip in (1, 3, 7, 11):
        tx = chain.sign(BOB, transfer_call(CHARLIE.public, ED + tip), tip=tip)
        issuance = chain.issuance()
        author, treasury = chain.free(chain.author.public), chain.free(TREASURY)
        _, result = chain.produce([tx])
        fee = fee_of_paid(result)
        assert chain.issuance() == issuance
        assert (chain.free(chain.author.public) - author) + (chain.free(TREASURY) - treasury) == fee


def fee_of_paid(result: BlockResult) -> int:
    return sum(r.args[1] for r in result.context.events if r.event.name == "TransactionFeePaid")


def test_an_account_that_cannot_pay_and_stay_alive_is_refused(make_chain: ChainFactory) -> None:
    chain = make_chain(endowed=[(ALICE.public, 1_000 * ED), (BOB.public, ED + 10**9)])
    tx = chain.sign(BOB, transfer_call(ALICE.public, 1))
    assert fee_of(chain, len(tx.raw), 0) > 10**9  # the fee would take Bob below the deposit
    with pytest.raises(InvalidTransaction) as refused:
        validate_transaction(chain.read, chain.head, tx, genesis_hash=chain.genesis_hash)
    assert refused.value.kind == "payment"
    with pytest.raises(InvalidTransaction) as refused:
        chain.builder().push(tx)
    assert refused.value.kind == "payment"


def test_the_multiplier_is_stored_after_a_block_and_used_by_the_next(chain: DevChain) -> None:
    assert NextFeeMultiplier.get(StateOverlay(chain.read)) == FIXED_ONE
    chain.produce([chain.sign(BOB, transfer_call(CHARLIE.public, ED))])
    # A nearly empty block: the multiplier stays at its floor and is not rewritten.
    assert NextFeeMultiplier.get(StateOverlay(chain.read)) == MIN_MULTIPLIER
    _, result = chain.produce()
    assert NextFeeMultiplier.key not in result.changes
    assert system.Number.get(StateOverlay(chain.read)) == 2
