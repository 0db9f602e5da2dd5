"""Sudo: on a development chain, one account (the sudo key) may dispatch any call as Root.

Rules (after Substrate's pallet_sudo):

1. The key. `Key` holds the one account that may use sudo, from the genesis config
   (`GenesisConfig.sudo`; the chain spec's `genesis.sudo`). The dev spec names //Alice, as
   Substrate's dev chains do; the local spec and custom specs have none unless they name one. A
   chain without a key refuses every sudo call (`RequireSudo`), so that on a live chain Root is
   reached only through the `root` track's referenda.
2. `sudo(call)`: the key dispatches an encoded call with the Root origin, in its own
   transactional layer. The sudo call itself succeeds (its fee paid) and `Sudid(ok, error,
   reason)` says how the inner call went: a refused parameter change says which check failed.
3. `set_key(new)` hands the key to another account and `remove_key()` ends sudo for good; only
   the key (or Root, so that a referendum can end sudo) may.

What an attacker can do: nothing without the key. Any signer but the key is refused, and so is
the key on a chain whose key was removed or never set.
"""

from __future__ import annotations

from typing import Final, Protocol

from runtime import dispatch, fields
from runtime.framework import (
    ROOT,
    WEIGHT_PER_MICROS,
    BlockContext,
    DispatchError,
    EventDef,
    Origin,
    Pallet,
    StorageValue,
    Weight,
    call,
    value_codec,
)
from runtime.primitives import codec
from runtime.state import PrefixIterator, StateOverlay, StateReader

NAME: Final = "sudo"

# Constants

SUDO_WEIGHT: Final = 20 * WEIGHT_PER_MICROS
"""Checking the key and opening the inner call's layer, on top of the inner call's weight."""
SET_KEY_WEIGHT: Final = 20 * WEIGHT_PER_MICROS
MAX_REASON_CHARS: Final = 512

# Storage

Key: Final = StorageValue[bytes | None](
    NAME,
    "Key",
    value_codec(lambda k: k, lambda v: codec.expect_bytes(v, "sudo key", length=32)),
    None,
)
"""The sudo key's account; absent on a chain without sudo."""

# Events

_ERROR = ("error", fields.str_type(97))
_REASON = ("reason", fields.str_type(MAX_REASON_CHARS))
Sudid: Final = EventDef(
    NAME,
    "Sudid",
    (("call", fields.str_type(129)), ("ok", fields.BOOL), _ERROR, _REASON),
    "The sudo key dispatched a call as Root; when it failed, `error` names the error and "
    "`reason` says why (its writes were undone).",
)
KeyChanged: Final = EventDef(
    NAME,
    "KeyChanged",
    (("old", fields.option_type(fields.ACCOUNT)), ("new", fields.option_type(fields.ACCOUNT))),
    "The sudo key moved to another account.",
)
KeyRemoved: Final = EventDef(NAME, "KeyRemoved", (), "Sudo was ended: no account has the key.")

# Errors


class RequireSudo(DispatchError):
    """Only the sudo key may make this call, and this chain has none or it is another account."""

    pallet = NAME


# The interface other code uses


def key(state: StateOverlay) -> bytes | None:
    """The sudo key's account, or None on a chain without sudo."""
    return Key.get(state)


def ensure_sudo(ctx: BlockContext, origin: Origin) -> None:
    """RequireSudo unless the origin is signed by the sudo key."""
    current = Key.get(ctx.state)
    if current is None:
        raise RequireSudo("this chain has no sudo key")
    if origin.signer != current:
        raise RequireSudo("the signer is not the sudo key")


def _sudo_weight(args: tuple[object, ...]) -> Weight:
    raw = args[0]
    assert isinstance(raw, bytes)
    try:
        return SUDO_WEIGHT + dispatch.weight_of(raw)
    except DispatchError:  # it fails to decode when dispatched too, and Sudid says so
        return SUDO_WEIGHT


class SudoGenesis(Protocol):
    """The part of the genesis config sudo reads."""

    @property
    def sudo(self) -> bytes | None: ...


class Sudo(Pallet):
    """The sudo pallet: one key that may dispatch calls as Root (development chains)."""

    NAME = NAME
    EVENTS = (Sudid, KeyChanged, KeyRemoved)
    ERRORS = (RequireSudo,)

    # Calls

    @call(args=(("call", dispatch.CALL),), weight=_sudo_weight, outflow=0)
    def sudo(self, ctx: BlockContext, origin: Origin, call: bytes) -> None:
        """Dispatch a call as Root (the sudo key only); Sudid says how it went."""
        ensure_sudo(ctx, origin)
        name = dispatch.call_name(call)
        try:
            dispatch.dispatch(ctx, ROOT, call)
        except DispatchError as exc:
            error = f"{exc.pallet}.{exc.error_name()}"
            ctx.deposit_event(Sudid, name, False, error, exc.reason()[:MAX_REASON_CHARS])
            return
        ctx.deposit_event(Sudid, name, True, "", "")

    @call(args=(("new", fields.ACCOUNT),), weight=SET_KEY_WEIGHT, outflow=0)
    def set_key(self, ctx: BlockContext, origin: Origin, new: bytes) -> None:
        """Give the sudo key to another account (the key, or Root)."""
        if not origin.root:
            ensure_sudo(ctx, origin)
        old = Key.get(ctx.state)
        Key.put(ctx.state, new)
        ctx.deposit_event(KeyChanged, old, new)

    @call(args=(), weight=SET_KEY_WEIGHT, outflow=0)
    def remove_key(self, ctx: BlockContext, origin: Origin) -> None:
        """End sudo on this chain for good (the key, or Root)."""
        if not origin.root:
            ensure_sudo(ctx, origin)
        Key.kill(ctx.state)
        ctx.deposit_event(KeyRemoved)

    # Genesis

    def build_genesis(self, ctx: BlockContext, config: SudoGenesis) -> None:
        """The sudo key, if the config names one."""
        if config.sudo is not None:
            if len(config.sudo) != 32:
                raise ValueError("the sudo key is a 32-byte account")
            Key.put(ctx.state, config.sudo)

    # Invariants

    def check_invariants(self, read: StateReader, iterate: PrefixIterator) -> list[str]:
        """The key, if any, is a 32-byte account."""
        raw = read(Key.key)
        if raw is None:
            return []
        try:
            Key.decode(raw)
        except codec.DecodeError as exc:
            return [f"the sudo key does not decode: {exc}"]
        return []
