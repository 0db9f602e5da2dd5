"""The fused transfer path has the general path's outcome: the same state changes (keys, values,
order), events, fees, weight and refusals, for every transfer, plain or not."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from chain.client.chain import transfer_call
from runtime.accounts import TREASURY
from runtime.executive import CALLS, InvalidTransaction, apply_extrinsic
from runtime.executive_transfers import transfer_args
from runtime.framework import BlockContext
from runtime.pallets import balances, system, transaction_payment
from runtime.pallets.balances import EXISTENTIAL_DEPOSIT as ED
from runtime.pallets.system import AccountInfo
from runtime.primitives.codec import DecodeError
from runtime.primitives.hashing import ZERO_HASH
from runtime.primitives.keys import Keypair
from runtime.state import StateOverlay
from runtime.transaction import SignedTransaction, sign_transaction

GENESIS = b"\x07" * 32
KEYS = [Keypair.from_seed(bytes([i + 1]) * 32) for i in range(3)]
NOBODY = b"\x55" * 32
"""An account that does not exist."""
UNIT = 10**12


@dataclass(frozen=True)
class Outcome:
    """Everything applying a transaction can change or say."""

    results: list[object]
    changes: list[tuple[bytes, bytes | None]]
    events: list[Any]
    fees: int
    tips: int
    weight: int
    length: int
    phase: int | None


def _run(raw: dict[bytes, bytes], txs: list[SignedTransaction], *, fused: bool) -> Outcome:
    ctx = BlockContext(
        state=StateOverlay(raw.get),
        number=5,
        parent_hash=ZERO_HASH,
        timestamp=0,
        author=ZERO_HASH,
        genesis_hash=GENESIS,
    )
    results: list[object] = []
    for index, tx in enumerate(txs):
        try:
            results.append(apply_extrinsic(ctx, index, tx, fused=fused))
        except InvalidTransaction as exc:
            results.append((type(exc).__name__, str(exc)))
    return Outcome(
        results,
        list(ctx.state.changes().items()),
        list(ctx.events),
        ctx.fees_collected,
        ctx.tips_collected,
        ctx.weight_used,
        ctx.length_used,
        ctx.phase,
    )


def _fee(tx: SignedTransaction) -> int:
    weight = system.EXTRINSIC_BASE_WEIGHT + balances.TRANSFER_WEIGHT
    return transaction_payment.compute_fee(
        transaction_payment.FIXED_ONE, len(tx.raw), weight, tx.tip
    )


@st.composite
def _balance_near(draw: st.DrawFn, edge: int) -> int:
    """A balance at, just around, or far from `edge`."""
    if draw(st.integers(0, 2)):
        return max(0, edge + draw(st.sampled_from([-1, 0, 1, -2])))
    return draw(st.integers(0, 2 * edge + 10**15))


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[dict[bytes, bytes], list[SignedTransaction]]:
    """A state of up to three accounts (holds, freezes, a treasury) and a few transfers among
    them and to accounts that do not exist, with balances, freezes and values near every edge:
    the sender left at the deposit after the fee and the value, a freeze at what it may spend."""
    state = StateOverlay(lambda _key: None)
    txs = []
    accounts: dict[bytes, AccountInfo] = {}
    for key in KEYS:
        if draw(st.integers(0, 5)):
            accounts[key.public] = AccountInfo(draw(st.integers(0, 130)), 0)
        elif draw(st.booleans()):
            system.ReapedNonce.insert(state, key.public, draw(st.integers(1, 5)))
    if draw(st.booleans()):
        accounts[TREASURY] = AccountInfo(0, 10 * ED)
    nonces = {who: info.nonce for who, info in accounts.items()}
    for _ in range(draw(st.integers(1, 3))):
        sender = draw(st.sampled_from(KEYS))
        others = [k.public for k in KEYS if k is not sender]
        dest = draw(st.sampled_from([*others, *others, sender.public, NOBODY, TREASURY]))
        nonce = nonces.get(sender.public, 0) + draw(st.sampled_from([0, 0, 0, 0, 0, 1, -1]))
        value = draw(st.one_of(st.integers(0, 10**15), st.sampled_from([0, ED - 1, ED])))
        tx = sign_transaction(
            sender,
            transfer_call(dest, value, keep_alive=draw(st.booleans())),
            nonce=max(nonce, 0),
            genesis_hash=GENESIS,
            tip=draw(st.sampled_from([0, 0, 7, 10**9])),
        )
        info = accounts.get(sender.public)
        if info is not None and info.free == 0:
            # Its first transfer decides its balance: about what it pays, plus the deposit.
            edge = _fee(tx) + value + ED
            free = draw(_balance_near(edge))
            holds: tuple[tuple[str, int], ...] = ()
            if not draw(st.integers(0, 3)):
                holds = ((draw(st.sampled_from(["escrow", "staking"])), draw(st.integers(1, ED))),)
            accounts[sender.public] = AccountInfo(info.nonce, free, holds)
            if not draw(st.integers(0, 3)):
                # A freeze around what may leave the account: free less the fee and the value.
                freeze = draw(_balance_near(max(1, free - edge + ED)))
                balances.Freezes.insert(state, sender.public, (("vote", max(1, freeze)),))
        if tx.nonce == nonces.get(sender.public, -1):
            nonces[sender.public] += 1
        txs.append(tx)
    for who, info in accounts.items():
        free = info.free or draw(st.integers(0, 10**16))
        system.Account.insert(state, who, info.with_free(free))
    balances.TotalIssuance.put(state, draw(st.integers(10**20, 10**22)))
    raw = {k: v for k, v in state.changes().items() if v is not None}
    return raw, txs


@settings(max_examples=100, deadline=None)
@given(scenarios())
def test_the_fused_path_has_the_general_paths_outcome(
    scenario: tuple[dict[bytes, bytes], list[SignedTransaction]],
) -> None:
    raw, txs = scenario
    assert _run(raw, txs, fused=True) == _run(raw, txs, fused=False)


def test_a_plain_transfer_takes_the_fused_path(monkeypatch: Any) -> None:
    """The property above must compare two paths: a plain transfer does not reach the call."""
    sender, receiver = KEYS[0], KEYS[1]
    state = StateOverlay(lambda _key: None)
    system.Account.insert(state, sender.public, AccountInfo(0, 10 * UNIT))
    system.Account.insert(state, receiver.public, AccountInfo(3, UNIT))
    balances.TotalIssuance.put(state, 11 * UNIT)
    raw = {k: v for k, v in state.changes().items() if v is not None}
    tx = sign_transaction(
        sender, transfer_call(receiver.public, UNIT), nonce=0, genesis_hash=GENESIS
    )

    def general(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("the general path ran")

    monkeypatch.setattr(balances, "transfer", general)
    fused = _run(raw, [tx], fused=True)
    assert fused.results == [True]
    assert dict(fused.changes)[system.Account.key(receiver.public)] == system.Account._encode(
        AccountInfo(3, 2 * UNIT)
    )


def test_a_donation_to_the_treasury_is_counted_on_the_general_path() -> None:
    """A transfer into an account with a transfer hook is not plain: the hook runs."""
    sender = KEYS[0]
    state = StateOverlay(lambda _key: None)
    system.Account.insert(state, sender.public, AccountInfo(0, 10 * UNIT))
    system.Account.insert(state, TREASURY, AccountInfo(0, UNIT))
    balances.TotalIssuance.put(state, 11 * UNIT)
    raw = {k: v for k, v in state.changes().items() if v is not None}
    tx = sign_transaction(sender, transfer_call(TREASURY, UNIT), nonce=0, genesis_hash=GENESIS)
    outcome = _run(raw, [tx], fused=True)
    assert outcome.results == [True]
    plain_keys = {system.Account.key(sender.public), system.Account.key(TREASURY)}
    plain_keys.add(balances.TotalIssuance.key)
    assert set(dict(outcome.changes)) - plain_keys, "the treasury's hook did not run"
    assert outcome == _run(raw, [tx], fused=False)


codec_values = st.one_of(
    st.binary(min_size=0, max_size=40),
    st.binary(min_size=32, max_size=32),
    st.binary(min_size=16, max_size=16),
    st.integers(-5, 2**130),
    st.none(),
    st.text(max_size=3),
)


@settings(max_examples=100, deadline=None)
@given(st.one_of(st.lists(codec_values, max_size=3), codec_values))
def test_transfer_arguments_decode_as_the_call_decodes_them(values: Any) -> None:
    """The fast decoding gives what `decode_args` gives, and nothing where it refuses."""
    for call in ("transfer", "transfer_keep_alive"):
        fast = transfer_args(values)
        try:
            plain = CALLS[("balances", call)].decode_args(values)
        except DecodeError:
            assert fast is None
        else:
            assert fast is None or fast == plain
            assert fast is not None or type(values) is not list or len(values) != 2
