"""The pallet framework: storage items, events, errors, calls, origins and the block context.

Every pallet has the same anatomy, in this order (DESIGN 6, after Substrate's FRAME):

1. constants and parameters (a record declared with `runtime.schema`, named in `PARAMS` and
   checked by `check_params`; Root changes it through `change_params`),
2. storage items (`StorageValue`, `StorageMap`),
3. events (`EventDef`),
4. errors (subclasses of `DispatchError`),
5. hooks (`on_initialize`, `on_finalize`),
6. calls (methods marked with `@call`, each declaring its arguments and weight and checking its
   origin),
7. its part of the genesis config (`build_genesis`),
8. its invariants (`check_invariants`), which `runtime.invariants` runs for every pallet.

Storage keys are `BLAKE2b-128(pallet) ‖ BLAKE2b-128(item)` for a value and that prefix followed by
`BLAKE2b-128(key) ‖ key` for a map entry, so pallets never collide and a map can be iterated by
prefix.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar, Final, Generic, NamedTuple, TypeVar

from runtime.fields import Fields, decode_fields, encode_fields, fields_to_json
from runtime.primitives import codec
from runtime.primitives.codec import Value
from runtime.primitives.hashing import blake2b_128
from runtime.schema import Record
from runtime.state import PrefixIterator, StateOverlay, StateReader

T = TypeVar("T")
K = TypeVar("K")

Weight = int
"""Execution time on the reference machine, in picoseconds (as Substrate's ref_time)."""

WEIGHT_PER_MICROS = 1_000_000


def storage_prefix(pallet: str, item: str) -> bytes:
    """The 32-byte key prefix of a pallet's storage item."""
    return blake2b_128(pallet.encode()) + blake2b_128(item.encode())


@dataclass(frozen=True, slots=True)
class ValueCodec(Generic[T]):
    """How a storage item's values become bytes and back."""

    encode: Callable[[T], bytes]
    decode: Callable[[bytes], T]


def value_codec(to_value: Callable[[T], Value], from_value: Callable[[Value], T]) -> ValueCodec[T]:
    """A codec from struct-style `to_value` / `from_value` functions."""

    def encode(v: T) -> bytes:
        return codec.encode_trusted(to_value(v))

    def decode(raw: bytes) -> T:
        return from_value(codec.decode_raw(raw))

    return ValueCodec(encode, decode)


R = TypeVar("R", bound=Record)


def record_codec(record: type[R]) -> ValueCodec[R]:
    """The storage codec of a declared record: the encoder and decoder its schema generates."""
    schema = record.schema()
    return ValueCodec(
        lambda v: codec.encode_trusted(schema.to_value(v)),
        lambda raw: schema.from_value(codec.decode_raw(raw)),
    )


U64_CODEC: ValueCodec[int] = value_codec(lambda v: v, lambda v: codec.expect_u64(v, "u64 value"))
U128_CODEC: ValueCodec[int] = value_codec(
    codec.encode_u128, lambda v: codec.expect_u128(v, "u128 value")
)
HASH_CODEC: ValueCodec[bytes] = value_codec(
    lambda v: v, lambda v: codec.expect_bytes(v, "hash value", length=32)
)


class StorageValue(Generic[T]):
    """A single value under a fixed key, with a default when absent."""

    def __init__(self, pallet: str, item: str, vcodec: ValueCodec[T], default: T) -> None:
        self.pallet, self.item = pallet, item
        self.key = storage_prefix(pallet, item)
        self._codec = vcodec
        self._decode = vcodec.decode
        self._encode = vcodec.encode
        self._default = default

    def get(self, state: StateOverlay) -> T:
        """The stored value, or the item's default when absent."""
        value = state.get(self.key, self._decode)
        return self._default if value is None else value

    def put(self, state: StateOverlay, value: T) -> None:
        """Store a value (encoded when the block is committed)."""
        state.put(self.key, value, self._encode)

    def kill(self, state: StateOverlay) -> None:
        """Delete the value, so that `get` gives the default again."""
        state.delete(self.key)

    def decode(self, raw: bytes) -> T:
        """A value from its stored bytes (to read a committed state, outside a block)."""
        return self._codec.decode(raw)


_KEY_CACHE_SIZE = 200_000
DECODED_ENTRIES: Final = 50_000
"""The most keys of one map whose decoded committed value `StorageMap.decode_at` keeps (about
1.5 KiB each for a job: 14 hours of jobs at one a second); keys beyond are decoded each time."""


class StorageMap(Generic[K, T]):
    """A map; entries live at `prefix ‖ BLAKE2b-128(key) ‖ key` (Substrate's blake2_128_concat)."""

    def __init__(
        self,
        pallet: str,
        item: str,
        key_bytes: Callable[[K], bytes],
        vcodec: ValueCodec[T],
    ) -> None:
        self.pallet, self.item = pallet, item
        self.prefix = storage_prefix(pallet, item)
        self._key_bytes = key_bytes
        self._codec = vcodec
        self._decode = vcodec.decode
        self._encode = vcodec.encode
        # Hashing the key is a large share of a map access; hot keys are remembered.
        self._keys: dict[K, bytes] = {}
        self._decoded: dict[bytes, tuple[bytes, T]] = {}

    def key(self, k: K) -> bytes:
        """The full storage key of entry `k`: prefix ‖ BLAKE2b-128(key bytes) ‖ key bytes."""
        key = self._keys.get(k)
        if key is None:
            kb = self._key_bytes(k)
            key = self.prefix + blake2b_128(kb) + kb
            if len(self._keys) >= _KEY_CACHE_SIZE:
                self._keys.clear()
            self._keys[k] = key
        return key

    def get(self, state: StateOverlay, k: K) -> T | None:
        """The entry under `k`, or None if there is none."""
        key = self._keys.get(k) or self.key(k)
        return state.get(key, self._decode)  # type: ignore[no-any-return]

    def insert(self, state: StateOverlay, k: K, value: T) -> None:
        """Store the entry under `k`, replacing any (encoded when the block is committed)."""
        key = self._keys.get(k) or self.key(k)
        state.put(key, value, self._encode)

    def remove(self, state: StateOverlay, k: K) -> None:
        """Delete the entry under `k`, if there is one."""
        state.delete(self.key(k))

    def decode(self, raw: bytes) -> T:
        """An entry from its stored bytes (to read a committed state, outside a block)."""
        return self._codec.decode(raw)

    def decode_at(self, full_key: bytes, raw: bytes) -> T:
        """The entry stored as `raw` under `full_key` of a committed state, decoded once per
        stored version: the invariants scan every entry after every block, and most (settled
        jobs) are as they were, so that only the entries that changed are decoded again. One
        version per key is kept (a fork's differs only in the keys it changed), for at most
        `DECODED_ENTRIES` keys: the first ones seen, which a scan in key order would otherwise
        evict before it comes back to them. Values are frozen records, shared by every reader."""
        known = self._decoded.get(full_key)
        if known is not None and known[0] == raw:
            return known[1]
        value = self._codec.decode(raw)
        if known is not None or len(self._decoded) < DECODED_ENTRIES:
            self._decoded[full_key] = (raw, value)
        return value

    def decoded_entries(self) -> int:
        """How many keys `decode_at` keeps a decoded value of."""
        return len(self._decoded)

    def key_suffix(self, full_key: bytes) -> bytes:
        """The map key bytes of a full storage key under this map."""
        return full_key[len(self.prefix) + 16 :]


# Events


@dataclass(frozen=True, slots=True)
class EventDef:
    """The declaration of an event: its pallet, name and typed fields."""

    pallet: str
    name: str
    fields: Fields
    doc: str = ""
    _converters: tuple[Callable[[Any], Value] | None, ...] = field(
        init=False, repr=False, compare=False
    )
    _converted: tuple[tuple[int, Callable[[Any], Value]], ...] = field(
        init=False, repr=False, compare=False
    )
    """The fields that need a conversion (a balance to its 16 bytes), by position."""

    def __post_init__(self) -> None:
        converters = tuple(None if t.identity else t.to_value for _, t in self.fields)
        object.__setattr__(self, "_converters", converters)
        converted = tuple((i, c) for i, c in enumerate(converters) if c is not None)
        object.__setattr__(self, "_converted", converted)

    def encode_args(self, args: tuple[Any, ...]) -> list[Value]:
        """The event's fields as codec values."""
        if len(args) != len(self._converters):
            raise ValueError(f"{self.pallet}.{self.name} takes {len(self.fields)} fields")
        values = list(args)
        for i, convert in self._converted:
            values[i] = convert(values[i])
        return values

    def to_value(self, args: tuple[Any, ...]) -> list[Value]:
        """An emission's codec value: `[pallet, name, [field values]]`."""
        return [self.pallet, self.name, self.encode_args(args)]

    def to_json(self, args: tuple[Any, ...]) -> dict[str, Any]:
        """An emission as RPC JSON: pallet, event name and the fields by name."""
        return {
            "pallet": self.pallet,
            "event": self.name,
            "data": fields_to_json(self.fields, args),
        }


class EventRecord(NamedTuple):
    """An event emitted in a block; `phase` is the extrinsic index, or None for block hooks."""

    phase: int | None
    event: EventDef
    args: tuple[Any, ...]

    def to_value(self) -> list[Value]:
        """The record as stored: `[phase, pallet, name, [field values]]`."""
        return [self.phase, *self.event.to_value(self.args)]

    def to_json(self) -> dict[str, Any]:
        """The record as RPC JSON: the phase, pallet, event name and the fields by name."""
        return {"phase": self.phase, **self.event.to_json(self.args)}


# Errors


class DispatchError(Exception):
    """A call failed by the rules; its writes are reverted but its fee and nonce stay paid.

    Subclasses are declared per pallet; the docstring of each is its explanation for users. An
    error may carry a detail (`DispatchError("the audit probability is below ...")`): `reason()`
    gives it, or the explanation where there is none.
    """

    pallet: ClassVar[str] = ""

    @classmethod
    def error_name(cls) -> str:
        """The error's name as reported to users and in RPC errors (the class name)."""
        return cls.__name__

    @classmethod
    def describe(cls) -> str:
        """The explanation shown to users: the first line of the class docstring."""
        return (cls.__doc__ or cls.__name__).strip().splitlines()[0]

    def reason(self) -> str:
        """Why this call failed: the detail it was raised with, else the error's explanation."""
        detail = str(self)
        return detail if detail else self.describe()


class BadOrigin(DispatchError):
    """The call was made by an origin that is not allowed to make it."""

    pallet = "system"


# Origins


class Origin(NamedTuple):
    """Who makes a call: a signed account; Root (the chain itself: the `root` track's referenda,
    or the dev chain's sudo key); or a governance track other than root (`track`, the origin a
    referendum on that track is enacted with, as OpenGov's custom origins: the `treasurer` and
    `small_spender` tracks may spend up to their track's maximum, and nothing else)."""

    signer: bytes | None = None
    root: bool = False
    track: str = ""


ROOT = Origin(root=True)


def ensure_signed(origin: Origin) -> bytes:
    """The signer of a signed origin; BadOrigin otherwise."""
    if origin.signer is None:
        raise BadOrigin()
    return origin.signer


def ensure_root(origin: Origin) -> None:
    """BadOrigin unless the origin is Root."""
    if not origin.root:
        raise BadOrigin()


def track_origin(track: str) -> Origin:
    """The origin a referendum on `track` is enacted with: Root for the `root` track."""
    return ROOT if track == "root" else Origin(track=track)


def origin_to_value(origin: Origin) -> Value:
    """An origin as stored (a scheduled call keeps the origin it runs with): `["root"]`,
    `["track", name]` or `["signed", account]`."""
    if origin.root:
        return ["root"]
    if origin.track:
        return ["track", origin.track]
    if origin.signer is None:
        raise ValueError("an origin is root, a track or a signer")
    return ["signed", origin.signer]


def origin_from_value(value: Value) -> Origin:
    """The origin `origin_to_value` stored; DecodeError if malformed."""
    f = codec.expect_array(value, 2, "origin")
    kind = codec.expect_str(f[0] if f else None, "origin.kind", max_len=8)
    if kind == "root" and len(f) == 1:
        return ROOT
    if kind == "track" and len(f) == 2:
        return Origin(track=codec.expect_str(f[1], "origin.track", max_len=32))
    if kind == "signed" and len(f) == 2:
        return Origin(signer=codec.expect_bytes(f[1], "origin.signer", length=32))
    raise codec.DecodeError(f"origin: unknown kind {kind!r}")


# The block context


@dataclass(slots=True)
class BlockContext:
    """Everything a pallet may read about the block being executed, and where its effects go."""

    state: StateOverlay
    number: int
    parent_hash: bytes
    timestamp: int
    author: bytes
    genesis_hash: bytes
    slot: int = 0
    """The header's Aura slot (0 outside a block, as when a transaction is checked)."""
    vrf_output: bytes = b""
    vrf_proof: bytes = b""
    """The author's VRF output and proof on the chain randomness (see the randomness pallet)."""
    events: list[EventRecord] = field(default_factory=list)
    phase: int | None = None
    weight_used: Weight = 0
    """The normal class: what the block's transactions used, bounded by MAX_NORMAL_WEIGHT and
    the fullness the fee multiplier follows."""
    mandatory_weight: Weight = 0
    """What the block's hooks used: always executed, so counted apart, as Substrate's
    DispatchClass::Mandatory, neither taking capacity from transactions nor moving the fee
    multiplier (a heavy era end is nobody's demand for block space)."""
    length_used: int = 0
    fees_collected: int = 0
    tips_collected: int = 0

    def deposit_event(self, event: EventDef, *args: Any) -> None:
        """Emit an event in the current phase (the extrinsic being applied; None in hooks)."""
        self.events.append(EventRecord(self.phase, event, args))


# Calls

Outflow = Callable[[BlockContext, tuple[Any, ...]], int | None]
"""What a call may move out of its signer's free balance at most, besides its fee (a transfer's
amount, a bond, a hold), from the state it is checked in and its arguments; None when it cannot
say (the transaction pool then counts the call as spending everything free)."""


def _spends_everything(_ctx: BlockContext, _args: tuple[Any, ...]) -> int | None:
    return None


def _fixed_outflow(amount: int) -> Outflow:
    def fixed(_ctx: BlockContext, _args: tuple[Any, ...]) -> int | None:
        return amount

    return fixed


@dataclass(frozen=True, slots=True)
class CallDef:
    """A dispatchable function: its name, typed arguments, declared weight and who pays."""

    pallet: str
    name: str
    args: Fields
    weight: Callable[[tuple[Any, ...]], Weight]
    function: Callable[..., None]
    doc: str
    pays: bool = True
    """False for a duty of the protocol (Substrate's `Pays::No`): when the call succeeds its fee
    is refunded (the tip, the signer's own choice, stays paid); when it fails it pays in full."""
    outflow: Outflow = _spends_everything
    """At most what the call moves out of the signer's free balance besides its fee (see
    `Outflow`); undeclared, everything."""
    _decoders: tuple[tuple[Callable[[Value, str], Any], str], ...] = field(
        init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        decoders = tuple((t.from_value, f"{self.pallet}.{self.name}.{n}") for n, t in self.args)
        object.__setattr__(self, "_decoders", decoders)

    def decode_args(self, values: Value) -> tuple[Any, ...]:
        """The call's arguments from codec values, each checked; DecodeError names the bad one."""
        if type(values) is not list or len(values) != len(self._decoders):
            return decode_fields(self.args, values, f"{self.pallet}.{self.name}")
        pairs = zip(self._decoders, values, strict=True)
        return tuple([decode(v, label) for (decode, label), v in pairs])

    def encode_args(self, args: tuple[Any, ...]) -> list[Value]:
        """The call's arguments as codec values, in order (the inverse of `decode_args`)."""
        return encode_fields(self.args, args)


def call(
    *,
    args: Fields,
    weight: Weight | Callable[[tuple[Any, ...]], Weight],
    pays: bool = True,
    outflow: int | Outflow | None = None,
) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """Mark a pallet method as a call with typed arguments and a weight (fixed or from args).

    `outflow` declares the most the call moves out of the signer's free balance besides its fee:
    a fixed amount (0 for a call that moves none) or an `Outflow` function; left out, the call
    counts as spending everything free, so a call that moves funds and says nothing is taken
    for the worst.

    `pays=False` declares a duty of the protocol, free when it succeeds (see `CallDef.pays`).
    Only a call that succeeds at most a bounded number of times per duty may be declared so (a
    committee member's attestation, once per check): a stranger's call fails, and a failed call
    pays in full, so nobody spams the chain with free calls.
    """
    weight_fn = weight if callable(weight) else (lambda _args, w=weight: w)
    outflow_fn: Outflow
    if outflow is None:
        outflow_fn = _spends_everything
    elif callable(outflow):
        outflow_fn = outflow
    else:
        outflow_fn = _fixed_outflow(outflow)

    def mark(fn: Callable[..., None]) -> Callable[..., None]:
        fn.__xpl_call__ = (args, weight_fn, pays, outflow_fn)  # type: ignore[attr-defined]
        return fn

    return mark


class Pallet:
    """Base of every pallet; subclasses set NAME and declare storage, events, errors and calls.

    A pallet with parameters names their record in PARAMS; its genesis and its Root-only
    `set_params` call both accept a record only if `check_params` does. Every pallet builds its
    part of the genesis state the same way, from the one genesis config (`build_genesis`).
    """

    NAME: ClassVar[str]
    EVENTS: ClassVar[tuple[EventDef, ...]] = ()
    ERRORS: ClassVar[tuple[type[DispatchError], ...]] = ()
    PARAMS: ClassVar[type[Record] | None] = None
    """The pallet's parameter record, if it has any."""

    def check_params(self, state: StateOverlay, params: Any) -> None:
        """ValueError unless `params` may become this pallet's parameters in `state`: each field
        in its declared range, and the rules that tie them together or to other pallets'."""
        params.check()

    def change_params(
        self,
        ctx: BlockContext,
        origin: Origin,
        updated: Record,
        stored: StorageValue[Any],
        refused: type[DispatchError],
        changed: EventDef,
    ) -> None:
        """What every `set_params` call does: Root only; `updated` replaces the parameters in
        `stored` and `changed` is announced, or the call fails with `refused` if `check_params`
        finds a value out of its range or a rule broken."""
        ensure_root(origin)
        try:
            self.check_params(ctx.state, updated)
        except ValueError as exc:
            raise refused(str(exc)) from exc
        stored.put(ctx.state, updated)
        ctx.deposit_event(changed)

    def build_genesis(self, ctx: BlockContext, config: Any) -> None:
        """Write this pallet's part of the genesis state from the genesis config (each pallet
        declares the part it reads as a Protocol); ValueError if the config breaks a rule."""

    def calls(self) -> dict[str, CallDef]:
        """This pallet's calls, by name."""
        found: dict[str, CallDef] = {}
        for attr in dir(type(self)):
            fn = getattr(type(self), attr)
            marker = getattr(fn, "__xpl_call__", None)
            if marker is not None:
                args, weight_fn, pays, outflow_fn = marker
                found[attr] = CallDef(
                    pallet=self.NAME,
                    name=attr,
                    args=args,
                    weight=weight_fn,
                    function=getattr(self, attr),
                    doc=(fn.__doc__ or "").strip().splitlines()[0] if fn.__doc__ else "",
                    pays=pays,
                    outflow=outflow_fn,
                )
        return found

    def on_initialize(self, ctx: BlockContext) -> Weight:
        """Runs before the block's extrinsics; returns the weight it used."""
        return 0

    def on_finalize(self, ctx: BlockContext) -> None:
        """Runs after the block's extrinsics."""

    def check_invariants(self, read: StateReader, iterate: PrefixIterator) -> list[str]:
        """Broken invariants of this pallet in a committed state, as messages (empty: all hold)."""
        return []
