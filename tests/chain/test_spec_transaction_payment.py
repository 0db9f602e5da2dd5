"""The chain spec's `genesis.transactionPayment`: the fee's terms a chain starts with, each
optional, written back as read, and refused by name when out of range or out of order."""

from __future__ import annotations

from typing import Any

import pytest

from chain.spec import ChainSpec, ChainSpecError, local_spec
from runtime.pallets import transaction_payment
from runtime.pallets.transaction_payment import DEFAULT_TRANSACTION_PAYMENT_PARAMS as TP
from runtime.state import StateOverlay


def document(terms: Any) -> dict[str, Any]:
    """The local spec as JSON with these fee terms."""
    data = local_spec(validators=2).to_json()
    data["genesis"]["transactionPayment"] = terms
    return data


def test_the_spec_sets_the_fee_terms_and_leaves_the_rest_at_their_defaults() -> None:
    spec = ChainSpec.from_json(
        document({"baseFee": "0.002XPL", "authorSharePpm": 500_000, "maxMultiplierPpm": 10**8})
    )
    terms = spec.genesis.transaction_payment
    assert (terms.base_fee, terms.author_share_ppm, terms.max_multiplier_ppm) == (
        2 * 10**9,
        500_000,
        10**8,
    )
    assert terms.byte_fee == TP.byte_fee and terms.adjustment_ppb == TP.adjustment_ppb
    state = StateOverlay(spec.genesis_state().get)
    assert transaction_payment.Params.get(state) == terms
    again = ChainSpec.from_json(spec.to_json())
    assert again.genesis.transaction_payment == terms
    assert again.genesis_header() == spec.genesis_header()


def test_a_spec_without_fee_terms_charges_the_defaults() -> None:
    data = local_spec(validators=2).to_json()
    del data["genesis"]["transactionPayment"]
    assert ChainSpec.from_json(data).genesis.transaction_payment == TP


@pytest.mark.parametrize(
    ("terms", "message"),
    [
        ({"baseFee": "0u"}, "base_fee must be positive"),
        ({"authorSharePpm": 1_000_001}, "genesis.transactionPayment.authorSharePpm"),
        ({"targetFullnessPpm": 0}, "genesis.transactionPayment.targetFullnessPpm"),
        (
            {"minMultiplierPpm": 2_000_000, "maxMultiplierPpm": 1_000_000},
            "min_multiplier_ppm must not exceed max_multiplier_ppm",
        ),
        ({"tipPpm": 5}, "genesis.transactionPayment.tipPpm"),
    ],
)
def test_bad_fee_terms_are_refused_by_name(terms: dict[str, Any], message: str) -> None:
    with pytest.raises(ChainSpecError, match=message):
        ChainSpec.from_json(document(terms))
