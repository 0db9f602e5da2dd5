"""System: accounts and their nonces, the block's number, parent and events, recent block hashes.

Accounts live here (as Substrate's `System::Account`): an `AccountInfo` holds the nonce and the
balance fields that the balances pallet manages. An account exists while it has a record; the
balances pallet creates and reaps records.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Final, NamedTuple

from runtime import fields
from runtime.framework import (
    HASH_CODEC,
    U64_CODEC,
    WEIGHT_PER_MICROS,
    BlockContext,
    EventDef,
    EventRecord,
    Pallet,
    StorageMap,
    StorageValue,
    ValueCodec,
    Weight,
    storage_prefix,
    value_codec,
)
from runtime.primitives import codec
from runtime.primitives.codec import Value
from runtime.primitives.hashing import ZERO_HASH
from runtime.state import PrefixIterator, StateOverlay

NAME: Final = "system"

# Constants

BLOCK_HASH_COUNT: Final = 256
"""How many recent block hashes are kept in state (the longest mortality period)."""

MAX_BLOCK_WEIGHT: Final = 500_000 * WEIGHT_PER_MICROS
"""Half a second of reference execution per block."""
NORMAL_DISPATCH_PERCENT: Final = 75
MAX_NORMAL_WEIGHT: Final = MAX_BLOCK_WEIGHT * NORMAL_DISPATCH_PERCENT // 100
"""What transactions may use (the normal class). Hooks' weight is mandatory, counted apart
(`BlockContext.mandatory_weight`): it never takes from this, and the rest of the block is kept
for it."""
MAX_BLOCK_LENGTH: Final = 4 * 1024 * 1024
MAX_NORMAL_LENGTH: Final = MAX_BLOCK_LENGTH * NORMAL_DISPATCH_PERCENT // 100
EXTRINSIC_BASE_WEIGHT: Final = 60 * WEIGHT_PER_MICROS
"""Charged on every transaction on top of its call: decoding, signature check, fee, nonce."""

MAX_HOLDS: Final = 8
MAX_HOLD_REASON_LEN: Final = 16

# Storage


class AccountInfo(NamedTuple):
    """An account's nonce, free balance and named holds (sorted by reason, amounts > 0)."""

    nonce: int
    free: int
    holds: tuple[tuple[str, int], ...] = ()

    @property
    def reserved(self) -> int:
        return sum(amount for _, amount in self.holds) if self.holds else 0

    @property
    def total(self) -> int:
        return self.free + sum(amount for _, amount in self.holds) if self.holds else self.free

    def held(self, reason: str) -> int:
        """The amount held for `reason` (0 if none)."""
        for r, amount in self.holds:
            if r == reason:
                return amount
        return 0

    def with_free(self, free: int) -> AccountInfo:
        """This account with its free balance replaced by `free`."""
        return AccountInfo(self.nonce, free, self.holds)

    def with_hold(self, reason: str, amount: int) -> AccountInfo:
        """This account with hold `reason` set to `amount` (removed when zero)."""
        rest = [(r, a) for r, a in self.holds if r != reason]
        if amount:
            rest.append((reason, amount))
        return self._replace(holds=tuple(sorted(rest)))


def _account_to_value(info: AccountInfo) -> Value:
    return [
        info.nonce,
        info.free.to_bytes(16, "big"),
        [[r, a.to_bytes(16, "big")] for r, a in info.holds],
    ]


_new_tuple: Final = tuple.__new__


def _account_from_value(value: Value) -> AccountInfo:
    # Fast path for the common record without holds; everything else is checked field by field.
    if type(value) is list and len(value) == 3:
        nonce, free, holds = value
        if (
            type(nonce) is int
            and 0 <= nonce <= codec.U32_MAX
            and type(free) is bytes
            and len(free) == 16
            and holds == []
        ):  # built as `tuple.__new__` builds it, without the Python constructor's call
            return _new_tuple(AccountInfo, (nonce, int.from_bytes(free, "big"), ()))
    f = codec.expect_list(value, 3, "account")
    holds_v = codec.expect_array(f[2], MAX_HOLDS, "account.holds")
    checked = []
    for i, h in enumerate(holds_v):
        hf = codec.expect_list(h, 2, f"account.holds[{i}]")
        reason = codec.expect_str(hf[0], "account.holds.reason", max_len=MAX_HOLD_REASON_LEN)
        checked.append((reason, codec.expect_u128(hf[1], "account.holds.amount")))
    return AccountInfo(
        nonce=codec.expect_u32(f[0], "account.nonce"),
        free=codec.expect_u128(f[1], "account.free"),
        holds=tuple(checked),
    )


_PLAIN_ACCOUNT: Final = value_codec(_account_to_value, _account_from_value)


def _encode_account(info: AccountInfo) -> bytes:
    # The common record (no holds) is written out directly: a fixarray of 3, the nonce (a
    # positive fixint below 128, else uint 8, 16 or 32: the smallest that holds it), a bin8 of
    # 16 bytes and an empty fixarray, as msgpack encodes it.
    nonce = info.nonce
    if not info.holds and type(nonce) is int and 0 <= nonce <= codec.U32_MAX:
        if nonce < 0x80:
            return b"\x93%c\xc4\x10%b\x90" % (nonce, info.free.to_bytes(16, "big"))
        if nonce < 0x100:
            head = b"\x93\xcc%c" % nonce
        elif nonce < 0x10000:
            head = b"\x93\xcd" + nonce.to_bytes(2, "big")
        else:
            head = b"\x93\xce" + nonce.to_bytes(4, "big")
        return b"%b\xc4\x10%b\x90" % (head, info.free.to_bytes(16, "big"))
    return _PLAIN_ACCOUNT.encode(info)


ACCOUNT_CODEC: Final[ValueCodec[AccountInfo]] = ValueCodec(_encode_account, _PLAIN_ACCOUNT.decode)

Account: Final = StorageMap[bytes, AccountInfo](NAME, "Account", lambda a: a, ACCOUNT_CODEC)
ReapedNonce: Final = StorageMap[bytes, int](NAME, "ReapedNonce", lambda a: a, U64_CODEC)
"""The nonce of a reaped account, restored when it is created again: otherwise a transaction it
signed before being reaped would be valid again once someone refunds it."""
Number: Final = StorageValue[int](NAME, "Number", U64_CODEC, 0)
ParentHash: Final = StorageValue[bytes](NAME, "ParentHash", HASH_CODEC, ZERO_HASH)
BlockHash: Final = StorageMap[int, bytes](
    NAME, "BlockHash", lambda n: n.to_bytes(4, "big"), HASH_CODEC
)


EVENTS_KEY: Final = storage_prefix(NAME, "Events")
"""The latest block's events; decoded by `runtime.api.decode_events` (it knows every pallet)."""


def store_events(ctx: BlockContext) -> None:
    """Store the block's events; the executive calls it after every other hook has run."""
    ctx.state.put(EVENTS_KEY, tuple(ctx.events), encode_events)


def encode_events(records: tuple[EventRecord, ...]) -> bytes:
    """The block's events as stored: `[[phase, pallet, name, [field values]], ...]`.

    `EventDef.encode_args` inlined (a call less per record: about 0.2 us a transfer, whose three
    events a block of transfers encodes by the thousand); `encode_events_plain` is the
    definition, which tests compare it with."""
    values: list[Value] = []
    append = values.append
    for phase, event, args in records:
        converted = event._converted
        if len(args) != len(event.fields):
            event.encode_args(args)  # raises, saying which event
        if converted:
            fields_ = list(args)
            for i, convert in converted:
                fields_[i] = convert(fields_[i])
            append([phase, event.pallet, event.name, fields_])
        else:
            append([phase, event.pallet, event.name, list(args)])
    return codec.encode_trusted(values)


def encode_events_plain(records: tuple[EventRecord, ...]) -> bytes:
    """`encode_events` by its definition: each record's fields through `EventDef.encode_args`."""
    return codec.encode_trusted(
        [
            [phase, event.pallet, event.name, event.encode_args(args)]
            for phase, event, args in records
        ]
    )


# Events

ExtrinsicSuccess: Final = EventDef(
    NAME, "ExtrinsicSuccess", (("weight", fields.U64),), "An extrinsic completed."
)
ExtrinsicFailed: Final = EventDef(
    NAME,
    "ExtrinsicFailed",
    (("pallet", fields.str_type(32)), ("error", fields.str_type(64)), ("weight", fields.U64)),
    "An extrinsic failed; its writes were reverted, its fee was paid.",
)
NewAccount: Final = EventDef(NAME, "NewAccount", (("account", fields.ACCOUNT),))
KilledAccount: Final = EventDef(NAME, "KilledAccount", (("account", fields.ACCOUNT),))

# Reading and writing accounts (the interface other pallets use)


def account(ctx: BlockContext, who: bytes) -> AccountInfo | None:
    """The account record, or None if the account does not exist."""
    return Account.get(ctx.state, who)


def put_account(ctx: BlockContext, who: bytes, info: AccountInfo) -> None:
    """Write an existing or endowed account's record (balances keeps its balance here)."""
    Account.insert(ctx.state, who, info)


def accounts_in(iterate: PrefixIterator) -> Iterator[tuple[bytes, AccountInfo]]:
    """Every account of a committed state with its record, for invariant checks."""
    for key, raw in iterate(Account.prefix):
        yield Account.key_suffix(key), Account.decode(raw)


def nonce_of(ctx: BlockContext, who: bytes) -> int:
    """The nonce of `who` in the block; without a record, the nonce it was reaped with, or 0."""
    return nonce_of_state(ctx.state, who)


def nonce_of_state(state: StateOverlay, who: bytes) -> int:
    """The nonce of `who` in a state; without a record, the nonce it was reaped with, or 0."""
    info = Account.get(state, who)
    if info is None:
        return ReapedNonce.get(state, who) or 0
    return info.nonce


def create_account(ctx: BlockContext, who: bytes, free: int) -> None:
    """Create an account record, with the nonce it had if it was reaped before."""
    nonce = ReapedNonce.get(ctx.state, who)
    if nonce is not None:
        ReapedNonce.remove(ctx.state, who)
    Account.insert(ctx.state, who, AccountInfo(nonce=nonce or 0, free=free))
    ctx.deposit_event(NewAccount, who)


def remove_account(ctx: BlockContext, who: bytes, info: AccountInfo) -> None:
    """Remove an account record, remembering its nonce so its transactions stay spent."""
    Account.remove(ctx.state, who)
    if info.nonce:
        ReapedNonce.insert(ctx.state, who, info.nonce)
    ctx.deposit_event(KilledAccount, who)


def inc_nonce(ctx: BlockContext, who: bytes) -> None:
    """Bump an existing account's nonce."""
    info = Account.get(ctx.state, who)
    if info is None:
        raise RuntimeError("nonce bumped on an account that does not exist")
    Account.insert(ctx.state, who, AccountInfo(info.nonce + 1, info.free, info.holds))


class System(Pallet):
    """The system pallet: accounts, nonces, block number and parent, recent hashes, events."""

    NAME = NAME
    EVENTS = (ExtrinsicSuccess, ExtrinsicFailed, NewAccount, KilledAccount)

    # Hooks

    def on_initialize(self, ctx: BlockContext) -> Weight:
        """Record the block number and parent, and keep the last BLOCK_HASH_COUNT hashes."""
        state = ctx.state
        Number.put(state, ctx.number)
        ParentHash.put(state, ctx.parent_hash)
        BlockHash.insert(state, ctx.number - 1, ctx.parent_hash)
        if ctx.number - 1 - BLOCK_HASH_COUNT >= 0:
            BlockHash.remove(state, ctx.number - 1 - BLOCK_HASH_COUNT)
        return 0

    # Genesis

    def build_genesis(self, ctx: BlockContext, config: object) -> None:
        """Genesis is block 0; the balances pallet creates the genesis accounts."""
        Number.put(ctx.state, 0)
