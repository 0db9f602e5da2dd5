"""Calls inside calls: a call kept as bytes (a referendum's proposal, a scheduled task, the call
sudo dispatches), checked against the runtime's calls and dispatched with an origin.

An encoded call is the codec encoding of `[pallet, name, [argument values]]`, the same value a
transaction carries (`runtime.transaction.Call`), at most MAX_CALL_BYTES. The runtime's calls are
registered here by `runtime.executive` when it is imported, so that pallets which dispatch calls
(the scheduler, sudo, grants) need not import the executive that imports them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from runtime.fields import FieldType, fields_to_json, parse_json_args
from runtime.framework import BlockContext, CallDef, DispatchError, Origin, Weight
from runtime.primitives import codec
from runtime.primitives.codec import DecodeError, Value
from runtime.primitives.hashing import from_hex, to_hex

MAX_CALL_BYTES: Final = 4096
"""The largest encoded call a proposal, a scheduled task or a sudo call may hold."""
MAX_DEPTH: Final = 4
"""How deep calls may dispatch calls (sudo of a scheduled call of ...)."""

_CALLS: dict[tuple[str, str], CallDef] = {}
_depth = [0]


class BadCall(DispatchError):
    """The encoded call is unknown to the runtime or its arguments do not match the call."""

    pallet = "system"


class CallTooDeep(DispatchError):
    """Calls nest deeper than the runtime allows."""

    pallet = "system"


def register(calls: Mapping[tuple[str, str], CallDef]) -> None:
    """Make the runtime's calls known (the executive does this once, when it is imported)."""
    _CALLS.update(calls)


def calls() -> Mapping[tuple[str, str], CallDef]:
    """Every call of the runtime, by (pallet, name)."""
    return _CALLS


def encode_call(pallet: str, name: str, args: tuple[Any, ...]) -> bytes:
    """The bytes of a call from its Python arguments; BadCall if unknown or they do not fit."""
    call_def = _CALLS.get((pallet, name))
    if call_def is None:
        raise BadCall(f"unknown call {pallet}.{name}")
    try:
        raw = codec.encode([pallet, name, call_def.encode_args(args)])
    except (ValueError, TypeError) as exc:
        raise BadCall(f"{pallet}.{name}: {exc}") from exc
    if len(raw) > MAX_CALL_BYTES:
        raise BadCall(f"the call is {len(raw)} bytes, over the limit of {MAX_CALL_BYTES}")
    return raw


def decode_call(raw: bytes) -> tuple[CallDef, tuple[Any, ...]]:
    """The call's definition and checked arguments; BadCall names what is wrong."""
    if len(raw) > MAX_CALL_BYTES:
        raise BadCall(f"the call is {len(raw)} bytes, over the limit of {MAX_CALL_BYTES}")
    try:
        value = codec.decode(raw)
        f = codec.expect_list(value, 3, "call")
        pallet = codec.expect_str(f[0], "call.pallet", max_len=64)
        name = codec.expect_str(f[1], "call.name", max_len=64)
    except DecodeError as exc:
        raise BadCall(f"the call does not decode: {exc}") from exc
    call_def = _CALLS.get((pallet, name))
    if call_def is None:
        raise BadCall(f"unknown call {pallet}.{name}")
    try:
        return call_def, call_def.decode_args(f[2])
    except DecodeError as exc:
        raise BadCall(f"bad arguments: {exc}") from exc


def call_name(raw: bytes) -> str:
    """`pallet.name` of an encoded call, or `?` if it does not decode."""
    try:
        call_def, _ = decode_call(raw)
    except BadCall:
        return "?"
    return f"{call_def.pallet}.{call_def.name}"


def weight_of(raw: bytes) -> Weight:
    """The declared weight of an encoded call; BadCall if it does not decode."""
    call_def, args = decode_call(raw)
    return call_def.weight(args)


def dispatch(ctx: BlockContext, origin: Origin, raw: bytes) -> None:
    """Run an encoded call with `origin` in a transactional layer: if it fails, its writes and
    events are undone and its DispatchError is raised again (BadCall if it does not decode)."""
    call_def, args = decode_call(raw)
    if _depth[0] >= MAX_DEPTH:
        raise CallTooDeep(f"calls may nest {MAX_DEPTH} deep")
    state = ctx.state
    events_before = len(ctx.events)
    _depth[0] += 1
    state.begin()
    try:
        call_def.function(ctx, origin, *args)
    except BaseException:
        state.rollback()
        del ctx.events[events_before:]
        raise
    else:
        state.commit()
    finally:
        _depth[0] -= 1


# The call field: a call as an argument of a call or an event


def _call_from_value(v: Value, what: str) -> bytes:
    raw = codec.expect_bytes(v, what, max_len=MAX_CALL_BYTES)
    try:
        codec.expect_list(codec.decode(raw), 3, what)
    except DecodeError as exc:
        raise DecodeError(f"{what}: not an encoded call ({exc})") from exc
    return raw


def _call_to_json(raw: bytes) -> Any:
    try:
        call_def, args = decode_call(raw)
    except BadCall:
        return {"raw": to_hex(raw)}
    return {
        "pallet": call_def.pallet,
        "call": call_def.name,
        "args": fields_to_json(call_def.args, args),
    }


def _call_from_json(j: Any, what: str) -> bytes:
    """A call from JSON: `{"pallet", "call", "args"}` (args by name, or a list in order) or the
    encoded call as hex; checked against the runtime's calls."""
    if isinstance(j, str):
        raw = from_hex(j, what=what)
        try:
            decode_call(raw)
        except BadCall as exc:
            raise ValueError(f"{what}: {exc.reason()}") from exc
        return raw
    if not isinstance(j, dict) or set(j) - {"pallet", "call", "args"} or "pallet" not in j:
        raise ValueError(f'{what}: expected {{"pallet", "call", "args"}} or the call as hex')
    key = (j.get("pallet"), j.get("call"))
    call_def = calls().get(key)  # type: ignore[arg-type]
    if call_def is None:
        raise ValueError(f"{what}: unknown call {key[0]}.{key[1]}")
    args = parse_json_args(call_def.args, j.get("args", []), f"{what}.{key[0]}.{key[1]}")
    try:
        return encode_call(call_def.pallet, call_def.name, args)
    except BadCall as exc:
        raise ValueError(f"{what}: {exc.reason()}") from exc


CALL: Final = FieldType(
    name="call",
    to_value=lambda v: v,
    from_value=_call_from_value,
    to_json=_call_to_json,
    from_json=_call_from_json,
    identity=True,
)
"""An encoded call (`runtime.dispatch`): a proposal, a scheduled task, sudo's call."""
