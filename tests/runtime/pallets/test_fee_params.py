"""The fee's terms in state: Root changes them, every place a fee is computed follows them (block
execution, the pool's check and the fee query behind `payment_queryInfo`), and no change can leave
the fee multiplier outside its bounds or stuck at one of them."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chain.client.chain import transfer_call
from runtime import api, dispatch
from runtime.accounts import TREASURY
from runtime.executive import InvalidTransaction, validate_transaction
from runtime.framework import ROOT, DispatchError, Origin
from runtime.genesis import build_genesis_state
from runtime.pallets.balances import EXISTENTIAL_DEPOSIT as ED
from runtime.pallets.system import MAX_NORMAL_WEIGHT
from runtime.pallets.transaction_payment import (
    DEFAULT_TRANSACTION_PAYMENT_PARAMS,
    FIXED_ONE,
    PPM,
    NextFeeMultiplier,
    Params,
    TransactionPaymentParams,
    compute_fee,
    next_multiplier,
)
from runtime.primitives.keys import dev_keypair
from runtime.state import StateOverlay
from tests.runtime.conftest import DevChain, dev_genesis_config

if TYPE_CHECKING:
    from tests.runtime.conftest import ChainFactory

BOB, CHARLIE = dev_keypair("Bob"), dev_keypair("Charlie")
TP = DEFAULT_TRANSACTION_PAYMENT_PARAMS


def args_of(p: TransactionPaymentParams) -> tuple[int, ...]:
    """`transaction_payment.set_params`'s arguments for `p`."""
    return tuple(getattr(p, f.name) for f in p.schema().fields)


def dispatch_in_block(chain: DevChain, origin: Origin, pallet: str, name: str, *args: Any) -> str:
    """Dispatch a call with `origin` in a new block (as a referendum's enactment does); the
    reason it was refused, or "" if it succeeded."""
    builder = chain.builder()
    reason = ""
    try:
        dispatch.dispatch(builder.context, origin, dispatch.encode_call(pallet, name, args))
    except DispatchError as exc:
        reason = f"{exc.error_name()}: {exc.reason()}"
    chain.seal(builder)
    return reason


def terms(chain: DevChain) -> TransactionPaymentParams:
    return Params.get(StateOverlay(chain.read))


def multiplier(chain: DevChain) -> int:
    return NextFeeMultiplier.get(StateOverlay(chain.read))


DEARER = replace(TP, base_fee=3 * TP.base_fee, byte_fee=2 * TP.byte_fee, weight_fee=25)


def test_only_root_changes_the_fee_terms(chain: DevChain) -> None:
    for origin in (Origin(signer=BOB.public), Origin(track="treasurer")):
        assert dispatch_in_block(
            chain, origin, "transaction_payment", "set_params", *args_of(DEARER)
        ).startswith("BadOrigin")
        assert terms(chain) == TP
    assert (
        dispatch_in_block(chain, ROOT, "transaction_payment", "set_params", *args_of(DEARER)) == ""
    )
    assert terms(chain) == DEARER
    assert chain.problems() == []


def test_fees_follow_the_terms_in_state_in_the_pool_the_query_and_the_block(
    chain: DevChain,
) -> None:
    assert (
        dispatch_in_block(chain, ROOT, "transaction_payment", "set_params", *args_of(DEARER)) == ""
    )
    tx = chain.sign(BOB, transfer_call(CHARLIE.public, ED), tip=5)
    valid = validate_transaction(chain.read, chain.head, tx, genesis_hash=chain.genesis_hash)
    quoted = api.query_fee(chain.read, tx)  # what payment_queryInfo answers
    expected = compute_fee(multiplier(chain), len(tx.raw), quoted.weight, 0, DEARER)
    assert expected > compute_fee(multiplier(chain), len(tx.raw), quoted.weight, 0)
    assert quoted.partial_fee == expected
    assert valid.fee == expected + 5
    _, result = chain.produce([tx])
    paid = [r.args for r in result.context.events if r.event.name == "TransactionFeePaid"]
    assert paid == [(BOB.public, expected + 5, 5)]
    assert chain.problems() == []


def test_the_author_share_follows_the_terms(chain: DevChain) -> None:
    everything = replace(TP, author_share_ppm=0)
    assert (
        dispatch_in_block(chain, ROOT, "transaction_payment", "set_params", *args_of(everything))
        == ""
    )
    author = chain.author.public
    before = {who: chain.free(who) for who in (author, TREASURY)}
    _, result = chain.produce([chain.sign(BOB, transfer_call(CHARLIE.public, ED))])
    fee = next(r.args[1] for r in result.context.events if r.event.name == "TransactionFeePaid")
    assert chain.free(author) == before[author]
    assert chain.free(TREASURY) == before[TREASURY] + fee


def test_new_bounds_bring_the_multiplier_within_them_at_once(chain: DevChain) -> None:
    floor = replace(TP, min_multiplier_ppm=3 * PPM)
    assert (
        dispatch_in_block(chain, ROOT, "transaction_payment", "set_params", *args_of(floor)) == ""
    )
    assert multiplier(chain) == 3 * FIXED_ONE
    ceiling = replace(TP, min_multiplier_ppm=PPM // 2, max_multiplier_ppm=PPM // 2 + 1_000)
    assert (
        dispatch_in_block(chain, ROOT, "transaction_payment", "set_params", *args_of(ceiling)) == ""
    )
    # Clamped to the new most, then lowered by the rest of that (empty) block, within the bounds.
    fallen = next_multiplier(ceiling.max_multiplier, 0, MAX_NORMAL_WEIGHT, ceiling)
    assert ceiling.min_multiplier <= multiplier(chain) == fallen < ceiling.max_multiplier
    assert chain.problems() == []


@pytest.mark.parametrize(
    ("refused", "why"),
    [
        (replace(TP, base_fee=0), "base_fee must be positive"),
        (replace(TP, base_fee=10**14), "base_fee must be positive"),
        (replace(TP, author_share_ppm=PPM + 1), "author_share_ppm"),
        (replace(TP, target_fullness_ppm=PPM), "target_fullness_ppm"),
        (replace(TP, min_multiplier_ppm=0), "min_multiplier_ppm"),
        (replace(TP, min_multiplier_ppm=5 * PPM, max_multiplier_ppm=4 * PPM), "must not exceed"),
        (
            replace(TP, target_fullness_ppm=PPM - 1, adjustment_ppb=1, min_multiplier_ppm=1),
            "would stay at min_multiplier_ppm",
        ),
    ],
)
def test_terms_that_break_a_rule_are_refused_saying_why(
    chain: DevChain, refused: TransactionPaymentParams, why: str
) -> None:
    reason = dispatch_in_block(chain, ROOT, "transaction_payment", "set_params", *args_of(refused))
    assert reason.startswith("BadParams") and why in reason
    assert terms(chain) == TP and multiplier(chain) == FIXED_ONE


def test_a_dearer_base_fee_refuses_what_the_signer_can_no_longer_pay(
    make_chain: ChainFactory,
) -> None:
    poor = dev_keypair("Eve")
    alice = dev_keypair("Alice").public
    chain = make_chain(endowed=[(alice, 1_000 * 10**12), (poor.public, ED + 10**10)])
    tx = chain.sign(poor, transfer_call(BOB.public, 10**8))
    validate_transaction(chain.read, chain.head, tx, genesis_hash=chain.genesis_hash)
    dear = replace(TP, base_fee=10**12)
    assert dispatch_in_block(chain, ROOT, "transaction_payment", "set_params", *args_of(dear)) == ""
    with pytest.raises(InvalidTransaction, match="fee"):
        validate_transaction(chain.read, chain.head, tx, genesis_hash=chain.genesis_hash)


def test_the_genesis_terms_are_in_state_from_block_zero() -> None:
    config = replace(dev_genesis_config(), transaction_payment=DEARER)
    state = build_genesis_state(config)
    assert Params.decode(state[Params.key]) == DEARER
    with pytest.raises(ValueError, match="must not exceed"):
        build_genesis_state(
            replace(config, transaction_payment=replace(TP, min_multiplier_ppm=2_000 * PPM))
        )


# The rule on the multiplier's bounds, over every terms in range

_FIELDS = TransactionPaymentParams.schema().fields


@st.composite
def any_terms(draw: st.DrawFn) -> TransactionPaymentParams:
    """Terms with each field within its declared range (the cross-field rules not assumed)."""
    values = []
    for f in _FIELDS:
        assert f.lo is not None and f.hi is not None
        near = [v for v in (f.lo, f.hi, f.default, 1, 2, 1_000) if f.lo <= v <= f.hi]
        values.append(draw(st.one_of(st.sampled_from(near), st.integers(f.lo, f.hi))))
    return TransactionPaymentParams(*values)


@settings(max_examples=100, deadline=None)
@given(any_terms(), st.integers(0, MAX_NORMAL_WEIGHT), st.integers(0, 4 * FIXED_ONE))
def test_accepted_terms_keep_the_multiplier_within_reach_of_its_bounds(
    p: TransactionPaymentParams, weight: int, start: int
) -> None:
    try:
        p.check()
    except ValueError:
        return
    clamped = max(p.min_multiplier, min(p.max_multiplier, start))
    assert p.min_multiplier <= next_multiplier(clamped, weight, MAX_NORMAL_WEIGHT, p)
    assert next_multiplier(clamped, weight, MAX_NORMAL_WEIGHT, p) <= p.max_multiplier
    if p.adjustment_ppb and p.min_multiplier < p.max_multiplier:
        full, empty = MAX_NORMAL_WEIGHT, 0
        assert next_multiplier(p.min_multiplier, full, MAX_NORMAL_WEIGHT, p) > p.min_multiplier
        assert next_multiplier(p.max_multiplier, empty, MAX_NORMAL_WEIGHT, p) < p.max_multiplier


def test_the_default_terms_are_the_former_constants() -> None:
    """The record's defaults charge what the constants did, so a chain keeps its fees."""
    assert compute_fee(FIXED_ONE, 120, 10**6, 3) == 10**9 + 120 * 10**6 + 10 * 10**6 + 3
    assert TP.min_multiplier == FIXED_ONE and TP.max_multiplier == 1_000 * FIXED_ONE
    assert TP.author_share_ppm == 200_000
