"""Signed transactions (extrinsics): their encoding, what the signature covers, and mortality.

Encoding: `[version, signer, signature, nonce, tip, [period, birth], [pallet, call, args]]`.
Because the encoding is canonical and the first three fields have fixed sizes, the fields after
the signature always start at byte BODY_OFFSET; those bytes are the *body*, and the signer and the
verifier hash exactly them, without re-encoding anything.

The signature is Ed25519 over BLAKE2b-256 of

    b"xpl-tx" ‖ genesis hash ‖ spec version (4 bytes BE) ‖ transaction version (4 bytes BE)
    ‖ birth hash ‖ body

so a transaction cannot be replayed on another chain, on a runtime with another spec version, or
on a fork that does not contain its birth block. `period == 0` makes a transaction immortal (birth
hash = genesis hash); otherwise it is valid only in blocks `birth < n <= birth + period`.
"""

from __future__ import annotations

from collections.abc import Iterable
from hashlib import blake2b
from typing import Any, Final, NamedTuple

import msgpack

from runtime.primitives import codec
from runtime.primitives.codec import DecodeError, Value
from runtime.primitives.hashing import blake2b_256
from runtime.primitives.keys import PUBLIC_KEY_LEN, SIGNATURE_LEN, Keypair
from runtime.version import RUNTIME_VERSION

TX_FORMAT_VERSION: Final = 1
MAX_TX_SIZE: Final = 128 * 1024
MAX_MORTAL_PERIOD: Final = 256
MAX_NAME_LEN: Final = 32
MAX_CALL_ARGS: Final = 16
_SIGNING_DOMAIN: Final = b"xpl-tx"


class Call(NamedTuple):
    """A call into a pallet: names and the encoded argument values (checked at dispatch)."""

    pallet: str
    name: str
    args: list[Value]

    def to_value(self) -> list[Value]:
        """The codec value `[pallet, name, args]`."""
        return [self.pallet, self.name, self.args]

    @classmethod
    def from_value(cls, value: Value) -> Call:
        """Decode a call (args left undecoded); DecodeError if names or args are over limits."""
        f = codec.expect_list(value, 3, "call")
        pallet = codec.expect_str(f[0], "call.pallet", max_len=MAX_NAME_LEN)
        name = codec.expect_str(f[1], "call.name", max_len=MAX_NAME_LEN)
        args = codec.expect_array(f[2], MAX_CALL_ARGS, "call.args")
        return cls(pallet, name, args)


class Mortality(NamedTuple):
    """`period == 0`: immortal. Otherwise valid for blocks birth+1 ..= birth+period."""

    period: int
    birth: int

    def to_value(self) -> list[Value]:
        """The codec value `[period, birth]`."""
        return [self.period, self.birth]

    @classmethod
    def from_value(cls, value: Value) -> Mortality:
        """Decode a mortality (period <= MAX_MORTAL_PERIOD; birth 0 if immortal); or DecodeError."""
        f = codec.expect_list(value, 2, "mortality")
        period = codec.expect_int(f[0], 0, MAX_MORTAL_PERIOD, "mortality.period")
        birth = codec.expect_u32(f[1], "mortality.birth")
        if period == 0 and birth != 0:
            raise DecodeError("mortality: an immortal transaction has birth 0")
        return cls(period, birth)

    @property
    def immortal(self) -> bool:
        return self.period == 0

    def expired_at(self, number: int) -> bool:
        """True if a block numbered `number` may no longer include the transaction."""
        return not self.immortal and number > self.birth + self.period


IMMORTAL: Final = Mortality(0, 0)


class TxBody(NamedTuple):
    """What the signer commits to, besides the chain binding."""

    nonce: int
    tip: int
    mortality: Mortality
    call: Call

    def to_values(self) -> list[Value]:
        """The codec values after the signature: `[nonce, tip (16 bytes), mortality, call]`."""
        return [
            self.nonce,
            codec.encode_u128(self.tip),
            self.mortality.to_value(),
            self.call.to_value(),
        ]


BODY_OFFSET: Final = 1 + 1 + (2 + PUBLIC_KEY_LEN) + (2 + SIGNATURE_LEN)
"""Array header, version, signer (bin8 header + 32 bytes), signature (bin8 header + 64 bytes)."""


def signing_message(genesis_hash: bytes, birth_hash: bytes, body: bytes) -> bytes:
    """The 32-byte message a transaction's signature covers."""
    return blake2b_256(
        _SIGNING_DOMAIN
        + genesis_hash
        + RUNTIME_VERSION.spec_version.to_bytes(4, "big")
        + RUNTIME_VERSION.transaction_version.to_bytes(4, "big")
        + birth_hash
        + body
    )


_fresh_256: Final = blake2b(digest_size=32).copy


def signing_messages(
    genesis_hash: bytes, births_and_bodies: Iterable[tuple[bytes, bytes]]
) -> list[bytes]:
    """`signing_message(genesis_hash, birth, body)` for each (birth hash, body) pair: a block's
    messages, the part common to all of them put together once (about 1.5 us a transaction less
    than one call each, which joins it again)."""
    common = (
        _SIGNING_DOMAIN
        + genesis_hash
        + RUNTIME_VERSION.spec_version.to_bytes(4, "big")
        + RUNTIME_VERSION.transaction_version.to_bytes(4, "big")
    )
    hasher = _fresh_256()
    hasher.update(common)
    start = hasher.copy
    messages = []
    for birth, body in births_and_bodies:
        h = start()
        h.update(birth)
        h.update(body)
        messages.append(h.digest())
    return messages


class SignedTransaction(NamedTuple):
    """A decoded extrinsic; `raw` keeps its exact bytes, and `hash` their BLAKE2b-256."""

    signer: bytes
    signature: bytes
    body_bytes: bytes
    body: TxBody
    raw: bytes
    hash: bytes

    @property
    def nonce(self) -> int:
        return self.body.nonce

    @property
    def tip(self) -> int:
        return self.body.tip

    @property
    def call(self) -> Call:
        return self.body.call

    @classmethod
    def decode(cls, raw: bytes) -> SignedTransaction:
        """Strictly decode extrinsic bytes (shape, sizes, canonical form); no signature check."""
        if len(raw) > MAX_TX_SIZE:
            raise DecodeError(f"transaction is {len(raw)} bytes, over the limit of {MAX_TX_SIZE}")
        value = codec.decode_raw(raw, max_size=MAX_TX_SIZE)
        # The common, well-formed case is checked inline (this is on the block import hot path);
        # anything else goes through the field-by-field checks, which name what is wrong. The
        # inline checks accept a subset of what those accept.
        try:
            version, signer, signature, nonce, tip, mortality, call = value
            period, birth = mortality
            pallet, name, args = call
        except (TypeError, ValueError):
            return cls._decode_checked(value, raw)
        if (
            type(value) is list
            and type(mortality) is list
            and type(call) is list
            and type(version) is int
            and version == TX_FORMAT_VERSION
            and type(signer) is bytes
            and len(signer) == PUBLIC_KEY_LEN
            and type(signature) is bytes
            and len(signature) == SIGNATURE_LEN
            and type(nonce) is int
            and 0 <= nonce <= codec.U32_MAX
            and type(tip) is bytes
            and len(tip) == 16
            and type(period) is int
            and type(birth) is int
            and (
                (0 < period <= MAX_MORTAL_PERIOD and 0 <= birth <= codec.U32_MAX)
                or period == birth == 0
            )
            and type(pallet) is str
            and len(pallet) <= MAX_NAME_LEN
            and type(name) is str
            and len(name) <= MAX_NAME_LEN
            and type(args) is list
            and len(args) <= MAX_CALL_ARGS
        ):
            body = TxBody(
                nonce,
                int.from_bytes(tip, "big"),
                Mortality(period, birth),
                Call(pallet, name, args),
            )
            raw = bytes(raw)
            return cls(signer, signature, raw[BODY_OFFSET:], body, raw, blake2b_256(raw))
        return cls._decode_checked(value, raw)

    @classmethod
    def _decode_checked(cls, value: Value, raw: bytes) -> SignedTransaction:
        f = codec.expect_list(value, 7, "transaction")
        version = codec.expect_int(f[0], 0, 255, "transaction.version")
        if version != TX_FORMAT_VERSION:
            raise DecodeError(f"transaction format version {version} is not supported")
        signer = codec.expect_bytes(f[1], "transaction.signer", length=PUBLIC_KEY_LEN)
        signature = codec.expect_bytes(f[2], "transaction.signature", length=SIGNATURE_LEN)
        body = TxBody(
            nonce=codec.expect_u32(f[3], "transaction.nonce"),
            tip=codec.expect_u128(f[4], "transaction.tip"),
            mortality=Mortality.from_value(f[5]),
            call=Call.from_value(f[6]),
        )
        raw = bytes(raw)
        return cls(signer, signature, raw[BODY_OFFSET:], body, raw, blake2b_256(raw))

    def message(self, genesis_hash: bytes, birth_hash: bytes) -> bytes:
        """What the signer signs, on the chain of `genesis_hash` and the fork of `birth_hash`."""
        return signing_message(genesis_hash, birth_hash, self.body_bytes)


_unpack_tx: Final = codec.raw_unpacker(MAX_TX_SIZE)
_repack: Final = msgpack.Packer(use_bin_type=True).pack
_new_tuple: Final = tuple.__new__
_U32_MAX: Final = codec.U32_MAX


def decode_transactions(raws: Iterable[bytes]) -> list[SignedTransaction]:
    """`[SignedTransaction.decode(raw) for raw in raws]`, the same transactions and the same
    DecodeError for the first that does not decode, in about 1.5 us a transaction less (a block's
    thousands of transactions on import).

    One loop with its names bound once: msgpack's unpacking with `decode_raw`'s limits, the
    canonical check by re-packing, `decode`'s inline checks, and the tuples built without the
    named tuples' Python constructors. Anything else (an oversized or malformed transaction,
    another shape) is left to `SignedTransaction.decode`, which names what is wrong: this path
    only ever accepts what that one accepts, with the same result.
    `tests/runtime/test_transaction_batch.py` checks both with hypothesis."""
    decode = SignedTransaction.decode
    unpack, repack, new = _unpack_tx, _repack, _new_tuple
    hasher = _fresh_256
    out: list[SignedTransaction] = []
    append = out.append
    for raw in raws:
        if type(raw) is not bytes or not 0 < len(raw) <= MAX_TX_SIZE:
            append(decode(raw))
            continue
        try:
            value = unpack(raw)
            version, signer, signature, nonce, tip, mortality, call = value
            period, birth = mortality
            pallet, name, args = call
        except Exception:  # malformed, trailing bytes, another shape: decode names it
            append(decode(raw))
            continue
        if not (
            type(value) is list
            and type(mortality) is list
            and type(call) is list
            and version == TX_FORMAT_VERSION
            and type(version) is int
            and type(signer) is bytes
            and len(signer) == PUBLIC_KEY_LEN
            and type(signature) is bytes
            and len(signature) == SIGNATURE_LEN
            and type(nonce) is int
            and 0 <= nonce <= _U32_MAX
            and type(tip) is bytes
            and len(tip) == 16
            and type(period) is int
            and type(birth) is int
            and (
                (0 < period <= MAX_MORTAL_PERIOD and 0 <= birth <= _U32_MAX) or period == birth == 0
            )
            and type(pallet) is str
            and len(pallet) <= MAX_NAME_LEN
            and type(name) is str
            and len(name) <= MAX_NAME_LEN
            and type(args) is list
            and len(args) <= MAX_CALL_ARGS
            and repack(value) == raw  # canonical: the one encoding of these values
        ):
            append(decode(raw))
            continue
        body = new(
            TxBody,
            (
                nonce,
                int.from_bytes(tip, "big"),
                new(Mortality, (period, birth)),
                new(Call, (pallet, name, args)),
            ),
        )
        h = hasher()
        h.update(raw)
        tx = (signer, signature, raw[BODY_OFFSET:], body, raw, h.digest())
        append(new(SignedTransaction, tx))
    return out


def sign_transaction(
    keypair: Keypair,
    call: Call,
    *,
    nonce: int,
    genesis_hash: bytes,
    tip: int = 0,
    mortality: Mortality = IMMORTAL,
    birth_hash: bytes | None = None,
) -> SignedTransaction:
    """Build and sign a transaction; a mortal one needs the hash of its birth block."""
    if mortality.immortal:
        birth_hash = genesis_hash
    elif birth_hash is None:
        raise ValueError("a mortal transaction needs the hash of its birth block")
    body = TxBody(nonce=nonce, tip=tip, mortality=mortality, call=call)
    fields = [TX_FORMAT_VERSION, keypair.public, bytes(SIGNATURE_LEN), *body.to_values()]
    body_bytes = codec.encode(fields)[BODY_OFFSET:]
    signature = keypair.sign(signing_message(genesis_hash, birth_hash, body_bytes))
    fields[2] = signature
    raw = codec.encode(fields)
    return SignedTransaction(keypair.public, signature, body_bytes, body, raw, blake2b_256(raw))


def describe(tx: SignedTransaction) -> dict[str, Any]:
    """A short JSON-able description (used by pool RPCs and logs)."""
    return {
        "hash": "0x" + tx.hash.hex(),
        "nonce": tx.nonce,
        "tip": str(tx.tip),
        "call": f"{tx.call.pallet}.{tx.call.name}",
    }


DECODED_TRANSACTIONS: Final = 32_768
"""The most decoded transactions a node keeps for block import: more than a full pool (16,384
ready and 4,096 future), about 1 kB each."""


class DecodedTransactions:
    """Transactions this node decoded on admission to its pool, keyed by their exact bytes, so
    that a block holding them does not decode them again (about 4 us a transaction).

    Why a hit is as good as decoding: `SignedTransaction.decode` is a pure function of the bytes
    and only its own results are added, so the transaction remembered under exactly these bytes is
    what decoding them gives. Bytes that differ in any way (another encoding of the same fields,
    say) miss and are decoded, with every check. Only transactions the pool accepted are added,
    so a stranger fills the cache at the price of pool admission; entries are taken out when used
    and the oldest quarter is dropped when it is full, so a miss costs at most the decoding. (The
    entries of transactions that leave the pool another way, in a block this node authored or
    evicted, stay until that bound drops them.)
    """

    __slots__ = ("_txs", "max_entries")

    def __init__(self, max_entries: int = DECODED_TRANSACTIONS) -> None:
        self.max_entries = max_entries
        self._txs: dict[bytes, SignedTransaction] = {}

    def __len__(self) -> int:
        return len(self._txs)

    def add(self, tx: SignedTransaction) -> None:
        """Remember a transaction that `SignedTransaction.decode` returned."""
        txs = self._txs
        if len(txs) >= self.max_entries:
            for raw in list(txs)[: max(1, self.max_entries // 4)]:
                del txs[raw]
        txs[tx.raw] = tx

    def decode(self, raw: bytes) -> SignedTransaction:
        """`SignedTransaction.decode(raw)`, taken from the cache where these bytes were decoded."""
        if type(raw) is bytes:
            tx = self._txs.pop(raw, None)
            if tx is not None:
                return tx
        return SignedTransaction.decode(raw)

    def decode_all(self, raws: Iterable[bytes]) -> list[SignedTransaction]:
        """`[self.decode(raw) for raw in raws]`: the ones not cached decoded together
        (`decode_transactions`), the same DecodeError for the first that does not decode."""
        raws = list(raws)
        txs = self._txs
        if not txs:
            return decode_transactions(raws)
        pop = txs.pop
        found = [pop(raw, None) if type(raw) is bytes else None for raw in raws]
        missing = [raw for raw, tx in zip(raws, found, strict=True) if tx is None]
        if not missing:
            return found  # type: ignore[return-value]
        # A bad one raises here; the cached ones after it are taken out too (a later block
        # holding them decodes them again: a cost, never another result).
        rest = iter(decode_transactions(missing))
        return [next(rest) if tx is None else tx for tx in found]
