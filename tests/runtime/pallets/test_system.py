"""System: block number and parent, recent block hashes, accounts and nonces, stored events."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chain.client.chain import transfer_call
from runtime.api import decode_events
from runtime.executive import InvalidTransaction, validate_transaction
from runtime.framework import BlockContext, storage_prefix
from runtime.genesis import GenesisConfig, build_genesis_state
from runtime.pallets import session, system
from runtime.pallets.balances import EXISTENTIAL_DEPOSIT as ED
from runtime.pallets.staking import GenesisValidator
from runtime.pallets.system import (
    ACCOUNT_CODEC,
    BLOCK_HASH_COUNT,
    EVENTS_KEY,
    MAX_HOLD_REASON_LEN,
    MAX_HOLDS,
    Account,
    AccountInfo,
    BlockHash,
)
from runtime.primitives import codec
from runtime.primitives.address import encode_address
from runtime.primitives.codec import DecodeError
from runtime.primitives.hashing import ZERO_HASH, blake2b_128
from runtime.primitives.keys import dev_keypair
from runtime.state import StateOverlay
from runtime.transaction import MAX_MORTAL_PERIOD, Mortality
from tests.runtime.conftest import TEST_STAKING

if TYPE_CHECKING:
    from tests.runtime.conftest import DevChain

ALICE, BOB, CHARLIE, EVE = (dev_keypair(n) for n in ("Alice", "Bob", "Charlie", "Eve"))


def block_hashes(chain: DevChain) -> dict[int, bytes]:
    """Every BlockHash entry in the chain's state, by block number."""
    return {
        int.from_bytes(BlockHash.key_suffix(key), "big"): BlockHash.decode(raw)
        for key, raw in chain.iterate(BlockHash.prefix)
    }


def test_genesis_sets_number_validators_and_slot(chain: DevChain) -> None:
    overlay = StateOverlay(chain.read)
    assert system.Number.get(overlay) == 0
    assert session.authority_set(overlay).keys == (ALICE.public,)
    assert session.SlotDurationMs.get(overlay) == 6_000
    assert block_hashes(chain) == {}
    assert chain.head.number == 0


@pytest.mark.parametrize(
    ("validators", "slot_ms", "message"),
    [
        pytest.param((), 6_000, "at least one validator", id="no-validator"),
        pytest.param((ALICE.public, ALICE.public), 6_000, "listed twice", id="validator-twice"),
        pytest.param(
            (ALICE.public,), session.MIN_SLOT_DURATION_MS - 1, "slot duration", id="slot-too-short"
        ),
    ],
)
def test_genesis_refuses_a_config_that_breaks_a_rule(
    validators: tuple[bytes, ...], slot_ms: int, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        build_genesis_state(genesis_config(validators, slot_ms))


def test_genesis_refuses_an_oversized_slot_duration_with_value_error() -> None:
    with pytest.raises(ValueError, match="slot duration"):
        build_genesis_state(genesis_config((ALICE.public,), 2**64))


def genesis_config(validators: tuple[bytes, ...], slot_ms: int) -> GenesisConfig:
    """Validators bonding the deposit of their endowment, and Bob."""
    return GenesisConfig(
        validators=tuple(GenesisValidator(v, ED) for v in validators),
        slot_duration_ms=slot_ms,
        balances=((ALICE.public, 2 * ED), (BOB.public, ED)),
        staking=TEST_STAKING,
    )


def test_each_block_records_its_number_and_parent(chain: DevChain) -> None:
    for _ in range(3):
        parent = chain.head
        chain.produce()
        overlay = StateOverlay(chain.read)
        assert system.Number.get(overlay) == chain.head.number == parent.number + 1
        assert system.ParentHash.get(overlay) == parent.hash


def test_block_hashes_are_kept_for_block_hash_count_blocks(chain: DevChain) -> None:
    total = BLOCK_HASH_COUNT + 4
    for n in range(1, total + 1):
        chain.produce()
        if n in (1, 2, BLOCK_HASH_COUNT - 1, BLOCK_HASH_COUNT, BLOCK_HASH_COUNT + 1, total):
            kept = range(max(0, n - BLOCK_HASH_COUNT), n)
            assert block_hashes(chain) == {k: chain.headers[k].hash for k in kept}, n
    # The oldest kept hash is that of block head - BLOCK_HASH_COUNT, the genesis hash is gone.
    assert min(block_hashes(chain)) == total - BLOCK_HASH_COUNT
    assert 0 not in block_hashes(chain)

    # A transaction of the longest mortality, born at the oldest block still remembered, is
    # valid for the next block (its last); one born a block earlier is outdated.
    next_number = total + 1
    oldest = next_number - MAX_MORTAL_PERIOD
    fresh = chain.sign(
        BOB, transfer_call(CHARLIE.public, ED), mortality=Mortality(MAX_MORTAL_PERIOD, oldest)
    )
    validate_transaction(chain.read, chain.head, fresh, genesis_hash=chain.genesis_hash)
    stale = chain.sign(
        BOB, transfer_call(CHARLIE.public, ED), mortality=Mortality(MAX_MORTAL_PERIOD, oldest - 1)
    )
    with pytest.raises(InvalidTransaction) as refused:
        validate_transaction(chain.read, chain.head, stale, genesis_hash=chain.genesis_hash)
    assert refused.value.kind == "outdated"
    _, result = chain.produce([fresh])
    assert [r.event.name for r in result.context.events if r.phase == 0][-1] == "ExtrinsicSuccess"


# Accounts and nonces


def test_nonces_count_included_transactions(chain: DevChain) -> None:
    assert chain.nonce(BOB.public) == 0
    chain.produce([chain.sign(BOB, transfer_call(CHARLIE.public, ED), nonce=i) for i in range(3)])
    assert chain.nonce(BOB.public) == 3
    assert chain.nonce(CHARLIE.public) == 0


def test_a_nonce_cannot_be_bumped_on_a_missing_account(chain: DevChain) -> None:
    ctx = BlockContext(
        state=StateOverlay(chain.read),
        number=1,
        parent_hash=ZERO_HASH,
        timestamp=0,
        author=ALICE.public,
        genesis_hash=chain.genesis_hash,
    )
    with pytest.raises(RuntimeError):
        system.inc_nonce(ctx, EVE.public)


def test_account_keys_follow_the_documented_layout() -> None:
    who = BOB.public
    expected = blake2b_128(b"system") + blake2b_128(b"Account") + blake2b_128(who) + who
    assert Account.key(who) == expected
    assert Account.prefix == storage_prefix("system", "Account")
    assert Account.key_suffix(expected) == who
    assert system.Number.key == blake2b_128(b"system") + blake2b_128(b"Number")


holds = st.lists(
    st.tuples(st.text(min_size=1, max_size=MAX_HOLD_REASON_LEN), st.integers(1, codec.U128_MAX)),
    max_size=MAX_HOLDS,
    unique_by=lambda h: h[0],
).map(lambda hs: tuple(sorted(hs)))


@given(st.integers(0, codec.U32_MAX), st.integers(0, codec.U128_MAX), holds)
def test_account_records_round_trip(
    nonce: int, free: int, held: tuple[tuple[str, int], ...]
) -> None:
    info = AccountInfo(nonce, free, held)
    raw = ACCOUNT_CODEC.encode(info)
    assert ACCOUNT_CODEC.decode(raw) == info
    assert info.total == free + sum(a for _, a in held)


_NONCE_EDGES = [0, 127, 128, 255, 256, 0xFFFF, 0x10000, codec.U32_MAX]
"""Where msgpack's encoding of the nonce changes width."""


@given(
    st.integers(0, codec.U32_MAX) | st.integers(0, 200) | st.sampled_from(_NONCE_EDGES),
    st.integers(0, codec.U128_MAX) | st.sampled_from([0, codec.U128_MAX]),
    holds | st.just(()),
)
def test_an_account_record_encodes_as_its_plain_value(
    nonce: int, free: int, held: tuple[tuple[str, int], ...]
) -> None:
    """The encoder's shortcut for a record without holds equals the plain encoding of the
    record's value, whatever the nonce and balance."""
    info = AccountInfo(nonce, free, held)
    assert ACCOUNT_CODEC.encode(info) == codec.encode(system._account_to_value(info))


@pytest.mark.parametrize(
    "value",
    [
        pytest.param([0, bytes(16)], id="two-fields"),
        pytest.param([-1, bytes(16), []], id="nonce-negative"),
        pytest.param([0, bytes(15), []], id="free-15-bytes"),
        pytest.param([0, bytes(16), [["x", bytes(16)]] * (MAX_HOLDS + 1)], id="too-many-holds"),
        pytest.param(
            [0, bytes(16), [["x" * (MAX_HOLD_REASON_LEN + 1), bytes(16)]]], id="long-reason"
        ),
        pytest.param([0, bytes(16), [["x", 5]]], id="hold-amount-int"),
    ],
)
def test_malformed_account_records_are_refused(value: list[object]) -> None:
    with pytest.raises(DecodeError):
        ACCOUNT_CODEC.decode(codec.encode(value))


# Events


def stored_events(chain: DevChain) -> list[dict[str, object]]:
    return decode_events(chain.state[EVENTS_KEY])


def test_events_are_stored_per_block_and_decodable(chain: DevChain) -> None:
    txs = [
        chain.sign(BOB, transfer_call(EVE.public, 2 * ED)),
        # Eve exists by then, so less than the deposit may be sent to her.
        chain.sign(CHARLIE, transfer_call(EVE.public, ED - 1)),
    ]
    _, result = chain.produce(txs)
    stored = stored_events(chain)
    by_extrinsic = [e for e in stored if e["phase"] is not None]
    expected = [r.to_json() for r in result.context.events if r.phase is not None]
    assert by_extrinsic == expected
    assert [(e["phase"], e["event"]) for e in by_extrinsic] == [
        (0, "TransactionFeePaid"),
        (0, "NewAccount"),
        (0, "Endowed"),
        (0, "Transfer"),
        (0, "ExtrinsicSuccess"),
        (1, "TransactionFeePaid"),
        (1, "Transfer"),
        (1, "ExtrinsicSuccess"),
    ]
    transfer = by_extrinsic[3]
    assert transfer["pallet"] == "balances"
    assert transfer["data"] == {
        "from": encode_address(BOB.public),
        "to": encode_address(EVE.public),
        "amount": str(2 * ED),
    }
    # The next block's events replace them.
    chain.produce()
    assert [e for e in stored_events(chain) if e["phase"] is not None] == []


def test_stored_events_are_all_the_events_of_the_block(chain: DevChain) -> None:
    _, result = chain.produce([chain.sign(BOB, transfer_call(CHARLIE.public, ED))])
    assert any(r.event.name == "Deposited" for r in result.context.events)
    assert stored_events(chain) == [r.to_json() for r in result.context.events]


def test_decode_events_refuses_unknown_events() -> None:
    raw = codec.encode([[None, "balances", "Minted", []]])
    with pytest.raises(DecodeError, match="unknown event"):
        decode_events(raw)
    with pytest.raises(DecodeError):
        decode_events(codec.encode([[None, "balances", "Transfer", [b"short"]]]))
