"""The fused transfer path at the edges the random scenarios rarely reach: balances near the
largest a u128 holds, a receiver kept alive by its holds alone, a transfer of nothing, the last
nonce but one, and a sender left exactly at the deposit by either call."""

from __future__ import annotations

import pytest

from chain.client.chain import transfer_call
from runtime.executive import NonceExhausted
from runtime.pallets import balances, system
from runtime.pallets.balances import EXISTENTIAL_DEPOSIT as ED
from runtime.pallets.system import AccountInfo
from runtime.state import StateOverlay
from runtime.transaction import sign_transaction
from tests.runtime.test_executive_transfers import GENESIS, KEYS, UNIT, _fee, _run

U128 = 2**128 - 1
CASES = {
    "halves of the largest balance": (U128 // 2, AccountInfo(0, U128 // 2), U128 // 4, 0),
    "the largest sender": (U128 - 10**13, AccountInfo(0, 10**12), U128 // 2, 0),
    "a receiver of holds alone": (10 * UNIT, AccountInfo(4, 0, (("escrow", UNIT),)), UNIT, 0),
    "nothing sent": (10 * UNIT, AccountInfo(0, UNIT), 0, 0),
    "the last nonce but one": (10 * UNIT, AccountInfo(0, UNIT), UNIT, 2**32 - 2),
}


def _outcomes(sender_free: int, receiver: AccountInfo, value: int, nonce: int, keep: bool,
              ) -> tuple[object, object]:  # fmt: skip
    state = StateOverlay(lambda _key: None)
    system.Account.insert(state, KEYS[0].public, AccountInfo(nonce, sender_free))
    system.Account.insert(state, KEYS[1].public, receiver)
    balances.TotalIssuance.put(state, sender_free + receiver.total)
    raw = {k: v for k, v in state.changes().items() if v is not None}
    call = transfer_call(KEYS[1].public, value, keep_alive=keep)
    tx = sign_transaction(KEYS[0], call, nonce=nonce, genesis_hash=GENESIS)
    return _run(raw, [tx], fused=True), _run(raw, [tx], fused=False)


@pytest.mark.parametrize("keep", [False, True])
@pytest.mark.parametrize("case", list(CASES))
def test_the_fused_path_has_the_general_outcome_at_the_edges(case: str, keep: bool) -> None:
    fused, general = _outcomes(*CASES[case], keep)
    assert fused == general
    assert fused.results == [True]  # type: ignore[attr-defined]


@pytest.mark.parametrize("keep", [False, True])
@pytest.mark.parametrize("left", [ED - 1, ED, ED + 1])
def test_a_sender_left_around_the_deposit_decides_as_the_general_path(
    left: int, keep: bool
) -> None:
    """Left below the deposit the fused path steps aside (the general path reaps or refuses)."""
    call = transfer_call(KEYS[1].public, UNIT, keep_alive=keep)
    fee = _fee(sign_transaction(KEYS[0], call, nonce=0, genesis_hash=GENESIS))
    fused, general = _outcomes(fee + UNIT + left, AccountInfo(0, UNIT), UNIT, 0, keep)
    assert fused == general


@pytest.mark.parametrize("fused", [False, True])
def test_the_last_nonce_is_refused_not_written_past_what_a_record_decodes(fused: bool) -> None:
    """At nonce 2^32 - 1 a transaction would write a nonce no account record decodes: refused,
    nothing written, on either path; the account stays readable."""
    state = StateOverlay(lambda _key: None)
    system.Account.insert(state, KEYS[0].public, AccountInfo(2**32 - 1, 10 * UNIT))
    system.Account.insert(state, KEYS[1].public, AccountInfo(0, UNIT))
    balances.TotalIssuance.put(state, 11 * UNIT)
    raw = {k: v for k, v in state.changes().items() if v is not None}
    call = transfer_call(KEYS[1].public, UNIT, keep_alive=False)
    tx = sign_transaction(KEYS[0], call, nonce=2**32 - 1, genesis_hash=GENESIS)
    outcome = _run(raw, [tx], fused=fused)
    message = f"nonce {2**32 - 1} is the largest an account's nonce holds"
    assert outcome.results == [(NonceExhausted.__name__, message)]
    assert outcome.changes == []
