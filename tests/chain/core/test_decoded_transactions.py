"""A transaction the pool decoded is not decoded again when a block holding it is imported; the
cache is keyed by the exact bytes, so a block whose bytes differ in any way is decoded, with
every check, and refused where decoding refuses."""

from __future__ import annotations

from collections.abc import Iterable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import runtime.executive as executive_module
import runtime.transaction as transaction_module
from chain.client.chain import transfer_call
from runtime.primitives import codec
from runtime.primitives.codec import DecodeError
from runtime.primitives.keys import dev_keypair
from runtime.transaction import DecodedTransactions, SignedTransaction, sign_transaction

from .test_node_core import author, submit

ALICE, CHARLIE, DAVE = (dev_keypair(n) for n in ("Alice", "Charlie", "Dave"))
XPL = 10**12
GENESIS = bytes(range(32))


@pytest.fixture
def decodes(monkeypatch):
    """The extrinsic bytes decoded (`SignedTransaction.decode`, or a block's together by
    `decode_transactions`), recorded."""
    made: list[bytes] = []
    plain, together = SignedTransaction.decode, transaction_module.decode_transactions

    def counting(raw: bytes) -> SignedTransaction:
        made.append(bytes(raw))
        return plain(raw)

    def counting_together(raws: Iterable[bytes]) -> list[SignedTransaction]:
        raws = list(raws)
        made.extend(bytes(raw) for raw in raws)
        return together(raws)

    monkeypatch.setattr(SignedTransaction, "decode", staticmethod(counting))
    monkeypatch.setattr(transaction_module, "decode_transactions", counting_together)
    monkeypatch.setattr(executive_module, "decode_transactions", counting_together)
    return made


def test_a_block_of_pooled_transactions_imports_without_decoding_them_again(local, h, decodes):
    chain = local(2)
    alice, observer, stranger = chain.node(ALICE), chain.node(None), chain.node(None)
    g = chain.genesis_header.hash
    txs = [h.transfer(CHARLIE, DAVE.public, XPL + i, nonce=i, genesis_hash=g) for i in range(3)]
    for tx in txs:
        submit(alice, tx, chain)
        submit(observer, tx, chain)
    assert len(observer.decoded_transactions) == 3
    a1 = author(alice, chain, 10, h)
    assert len(a1.extrinsics) == 3

    decodes.clear()
    observer.import_block(a1, chain.at(10))
    assert not set(decodes) & set(a1.extrinsics)  # all three were decoded on admission
    assert len(observer.decoded_transactions) == 0  # and taken out once used
    stranger.import_block(a1, chain.at(10))
    assert set(a1.extrinsics) <= set(decodes)  # a node that never pooled them decodes them
    assert observer.store.header(a1.header.hash) == stranger.store.header(a1.header.hash)
    assert observer.best_header == stranger.best_header == a1.header


def test_a_refused_transaction_is_not_remembered(local, h):
    chain = local(2)
    observer = chain.node(None)
    g = chain.genesis_header.hash
    tx = h.transfer(CHARLIE, DAVE.public, XPL, nonce=0, genesis_hash=g)
    with pytest.raises(Exception, match="signature"):
        observer.submit_transaction(tx.raw.replace(tx.signature, bytes(64)), chain.at(1))
    assert len(observer.decoded_transactions) == 0


def _tx(nonce: int, amount: int) -> SignedTransaction:
    call = transfer_call(DAVE.public, amount)
    return sign_transaction(CHARLIE, call, nonce=nonce, genesis_hash=GENESIS)


POOLED = [SignedTransaction.decode(_tx(n, XPL + n).raw) for n in range(4)]


def _variants(raw: bytes) -> st.SearchStrategy[bytes]:
    """The pooled bytes, and bytes near them: one byte changed, cut short, extended, or the same
    fields encoded another (non-canonical) way."""
    # The nonce (a positive fixint after the array header, version, signer and signature) as a
    # uint32: the same fields, another encoding.
    at = 2 + 34 + 66
    nonce = codec.decode_raw(raw)[3]
    wide_nonce = raw[:at] + b"\xce" + nonce.to_bytes(4, "big") + raw[at + 1 :]
    return st.one_of(
        st.just(raw),
        st.builds(
            lambda i, b: raw[:i] + bytes([b]) + raw[i + 1 :],
            st.integers(0, len(raw) - 1),
            st.integers(0, 255),
        ),
        st.integers(0, len(raw) - 1).map(lambda n: raw[:n]),
        st.binary(min_size=1, max_size=3).map(lambda extra: raw + extra),
        st.just(wide_nonce),
    )


def _outcome(decode, raw: bytes) -> object:
    try:
        return decode(raw)
    except DecodeError as exc:
        return (type(exc), str(exc))


@settings(max_examples=100, deadline=None)
@given(
    st.sampled_from([tx.raw for tx in POOLED]).flatmap(_variants),
    st.sampled_from([bytes, bytearray, memoryview]),
)
def test_the_cache_decodes_exactly_as_decoding_does(raw: bytes, kind: type) -> None:
    cache = DecodedTransactions()
    for tx in POOLED:
        cache.add(tx)
    given_raw = kind(raw)
    assert _outcome(cache.decode, given_raw) == _outcome(SignedTransaction.decode, bytes(raw))


def test_another_encoding_of_a_pooled_transaction_is_refused() -> None:
    tx = POOLED[2]
    at = 2 + 34 + 66
    wide = tx.raw[:at] + b"\xce" + tx.nonce.to_bytes(4, "big") + tx.raw[at + 1 :]
    cache = DecodedTransactions()
    cache.add(tx)
    with pytest.raises(DecodeError):
        cache.decode(wide)
    assert len(cache) == 1


def test_a_hit_is_taken_out_and_the_cache_stays_bounded() -> None:
    cache = DecodedTransactions(max_entries=8)
    txs = [SignedTransaction.decode(_tx(n, XPL).raw) for n in range(20)]
    for tx in txs:
        cache.add(tx)
        assert len(cache) <= 8
    last = txs[-1]
    assert cache.decode(bytes(last.raw)) is last
    assert len(cache) == 7
    again = cache.decode(last.raw)  # taken out: decoded afresh, to an equal transaction
    assert again == last and again is not last
    assert cache.decode(txs[0].raw) == txs[0]  # dropped long ago: decoded
