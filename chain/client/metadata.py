"""The node's runtime metadata (`state_getMetadata`), and calls built from JSON arguments checked
against it before anything is signed.

    metadata = client.metadata()
    call = metadata.build_call("staking", "bond", {"value": "100XPL"})

The node's metadata, not this program's runtime, says which pallets and calls exist and what
arguments they take: a call unknown to the node, a missing or extra argument, or a value of the
wrong type is refused here with a `CallCheckError` naming it. Each argument's value is read by
its type's name: the types this program's runtime declares are read as it reads them (with their
bounds), and composite names (`list<...>`, `option<...>`, `pair<...,...>`) are taken apart. Where
the metadata says `balance`, an amount such as "12.5XPL" is accepted as well as a number of units;
where it says `account`, a development name such as "//Alice" as well as an address. An argument
of type `call` (a proposal, a sudo call) is itself checked against the metadata.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Final

from runtime import fields
from runtime.dispatch import MAX_CALL_BYTES
from runtime.executive import CALLS
from runtime.fields import FieldType, parse_json_args
from runtime.primitives import codec
from runtime.primitives.address import parse_account
from runtime.primitives.amount import parse_amount
from runtime.primitives.codec import DecodeError
from runtime.primitives.hashing import from_hex
from runtime.transaction import Call

UNBOUNDED_LIST: Final = 65_536
"""The length this side allows a list whose bound it does not know (the node checks its own)."""


class CallCheckError(ValueError):
    """A call or its arguments do not match the node's runtime metadata (the message names it)."""


@dataclass(frozen=True)
class CallInfo:
    """One call as the metadata declares it: its arguments' names and type names, its doc."""

    pallet: str
    name: str
    args: tuple[tuple[str, str], ...]
    doc: str


@dataclass(frozen=True)
class PalletInfo:
    """One pallet as the metadata declares it: its calls, and its errors' explanations."""

    name: str
    calls: Mapping[str, CallInfo]
    errors: Mapping[str, str]
    events: tuple[str, ...]


class Metadata:
    """The node's runtime metadata: its version and pallets, and calls checked against them."""

    def __init__(self, document: Mapping[str, Any]) -> None:
        """Read the node's metadata; CallCheckError if it is not the shape `state_getMetadata`
        answers (a node that answers something else cannot have its calls checked)."""
        self.document = document
        try:
            self.version: Mapping[str, Any] = dict(document.get("version") or {})
            self.pallets: Mapping[str, PalletInfo] = dict(_pallet(p) for p in document["pallets"])
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise CallCheckError(f"the node's metadata does not read as metadata: {exc!r}") from exc

    def call_info(self, pallet: str, name: str) -> CallInfo:
        """The declaration of `pallet.name`; CallCheckError naming the unknown pallet or call."""
        p = self.pallets.get(pallet)
        if p is None:
            known = ", ".join(sorted(self.pallets))
            raise CallCheckError(f"unknown pallet {pallet!r} (the node's pallets: {known})")
        info = p.calls.get(name)
        if info is None:
            known = ", ".join(sorted(p.calls)) or "none"
            raise CallCheckError(f"{pallet} has no call {name!r} (its calls: {known})")
        return info

    def build_call(self, pallet: str, name: str, args_json: Any) -> Call:
        """`pallet.name` with its arguments read from JSON (an object by name, or a list in
        order) and checked against the metadata; CallCheckError names what does not fit."""
        info = self.call_info(pallet, name)
        declared = tuple((n, self.field_type(t, f"{pallet}.{name}.{n}")) for n, t in info.args)
        if args_json is None:
            args_json = []
        try:
            values = parse_json_args(declared, args_json, f"{pallet}.{name}")
            encoded = [t.to_value(v) for (_, t), v in zip(declared, values, strict=True)]
            for (arg, type_name), value in zip(info.args, encoded, strict=True):
                _check_bounds(type_name, value, f"{pallet}.{name}.{arg}")
        except CallCheckError:
            raise
        except (ValueError, TypeError, DecodeError) as exc:
            raise CallCheckError(str(exc)) from exc
        return Call(pallet, name, encoded)

    def encode_call(self, pallet: str, name: str, args_json: Any) -> bytes:
        """The bytes of a checked call, as a proposal or a sudo call carries it."""
        raw = codec.encode(self.build_call(pallet, name, args_json).to_value())
        if len(raw) > MAX_CALL_BYTES:
            raise CallCheckError(
                f"{pallet}.{name} is {len(raw)} bytes encoded, over the limit of {MAX_CALL_BYTES}"
            )
        return raw

    def check_encoded_call(self, raw: bytes, what: str = "call") -> bytes:
        """`raw` if it is an encoded call the metadata knows with the right number of arguments;
        CallCheckError naming the problem otherwise."""
        if len(raw) > MAX_CALL_BYTES:
            raise CallCheckError(f"{what} is {len(raw)} bytes, over the limit of {MAX_CALL_BYTES}")
        try:
            call = Call.from_value(codec.decode(raw))
        except DecodeError as exc:
            raise CallCheckError(f"{what} is not an encoded call: {exc}") from exc
        info = self.call_info(call.pallet, call.name)
        if len(call.args) != len(info.args):
            raise CallCheckError(
                f"{what}: {call.pallet}.{call.name} takes {len(info.args)} arguments, "
                f"the encoded call has {len(call.args)}"
            )
        return raw

    def explain(self, pallet: str, error: str) -> str | None:
        """The explanation of error `error` reported by `pallet`, if the metadata has it (an
        error may be declared by another pallet than the one named: then the first that does)."""
        p = self.pallets.get(pallet)
        if p is not None and error in p.errors:
            return p.errors[error]
        for other in self.pallets.values():
            if error in other.errors:
                return other.errors[error]
        return None

    def field_type(self, type_name: str, what: str) -> FieldType:
        """How to read a value of the metadata's type `type_name`; CallCheckError if this program
        cannot read that type (then it is newer than this program: update xpl)."""
        head, inner = _split_generic(type_name)
        if head is None:
            if type_name == "call":
                return self._call_type()
            if type_name in _LOCAL_TYPES:
                return _friendly(_LOCAL_TYPES[type_name])
        elif head in ("list", "tuple") and len(inner) == 1:
            listed = fields.list_type(self.field_type(inner[0], what), UNBOUNDED_LIST)
            return listed if head == "list" else fields.tuple_type(listed, UNBOUNDED_LIST)
        elif head == "option" and len(inner) == 1:
            return fields.option_type(self.field_type(inner[0], what))
        elif head == "pair" and len(inner) == 2:
            a, b = (self.field_type(t, what) for t in inner)
            return fields.pair_type(a, b)
        elif head in ("bytes", "str") and len(inner) == 1 and inner[0].isdigit():
            make = fields.bytes_type if head == "bytes" else fields.str_type
            return make(int(inner[0]))
        raise CallCheckError(f"{what}: this xpl cannot read the node's type {type_name!r}")

    def _call_type(self) -> FieldType:
        """A call argument: `{"pallet", "call", "args"}` checked against this metadata, or the
        encoded call as hex."""

        def from_json(j: Any, what: str) -> bytes:
            if isinstance(j, str):
                return self.check_encoded_call(from_hex(j, what=what), what)
            if not isinstance(j, dict) or set(j) - {"pallet", "call", "args"} or "call" not in j:
                raise CallCheckError(
                    f'{what}: expected {{"pallet", "call", "args"}} or the encoded call as hex'
                )
            return self.encode_call(str(j.get("pallet")), str(j["call"]), j.get("args", []))

        base = _LOCAL_TYPES.get("call", fields.bytes_type(MAX_CALL_BYTES))
        return FieldType(
            name="call",
            to_value=lambda v: v,
            from_value=base.from_value,
            to_json=base.to_json,
            from_json=from_json,
            identity=True,
        )


def _pallet(p: Mapping[str, Any]) -> tuple[str, PalletInfo]:
    """One pallet of the metadata document, by name."""
    name = str(p["name"])
    calls = {
        str(c["name"]): CallInfo(
            name,
            str(c["name"]),
            tuple((str(n), str(t)) for n, t in c["args"]),
            str(c.get("doc", "")),
        )
        for c in p["calls"]
    }
    errors = {str(e["name"]): str(e.get("doc", "")) for e in p.get("errors", ())}
    events = tuple(str(e["name"]) for e in p.get("events", ()))
    return name, PalletInfo(name, calls, errors, events)


def _check_bounds(type_name: str, value: codec.Value, what: str) -> None:
    """Decode an encoded argument as this program's runtime declares its type, if it declares
    one of that name: a list or string over its declared length is refused before signing."""
    local = _LOCAL_TYPES.get(type_name)
    if local is not None and type_name != "call":
        local.from_value(value, what)


def _split_generic(name: str) -> tuple[str | None, list[str]]:
    """`list<pair<a,b>>` → ("list", ["pair<a,b>"]); a plain name → (None, [])."""
    if not name.endswith(">") or "<" not in name:
        return None, []
    head, _, rest = name.partition("<")
    body = rest[:-1]
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(body):
        if ch == "<":
            depth += 1
        elif ch == ">":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append(body[start:i].strip())
            start = i + 1
    parts.append(body[start:].strip())
    return head, parts


def _balance_from_json(j: Any, what: str) -> int:
    """Units as a number or a digit string, or an amount with its unit ("12.5XPL")."""
    if isinstance(j, str) and j and not j.isdigit():
        return parse_amount(j)
    value: int = fields.BALANCE.from_json(j, what)
    return value


def _account_from_json(j: Any, what: str) -> bytes:
    """An address, 0x and 32 bytes of hex, or a development name ("//Alice")."""
    if isinstance(j, str) and j.startswith("//"):
        return parse_account(j)
    value: bytes = fields.ACCOUNT.from_json(j, what)
    return value


_FRIENDLIER: Final[dict[str, Callable[[Any, str], Any]]] = {
    "balance": _balance_from_json,
    "account": _account_from_json,
}


def _naming(parse: Callable[[Any, str], Any]) -> Callable[[Any, str], Any]:
    """`parse`, its errors made to name the argument they are about."""

    def named(j: Any, what: str) -> Any:
        try:
            return parse(j, what)
        except ValueError as exc:
            if what in str(exc):
                raise
            raise ValueError(f"{what}: {exc}") from exc

    return named


def _friendly(t: FieldType) -> FieldType:
    """`t`, reading amounts with units and development names where it is a balance or account,
    and naming the argument in every error."""
    parse = _naming(_FRIENDLIER.get(t.name, t.from_json))
    return FieldType(t.name, t.to_value, t.from_value, t.to_json, parse, t.identity, t.bounds)


_SCALARS: Final[dict[str, FieldType]] = {
    t.name: t
    for t in (
        fields.U8,
        fields.U32,
        fields.U64,
        fields.I64,
        fields.BALANCE,
        fields.ACCOUNT,
        fields.HASH,
        fields.BOOL,
    )
}


def _declared_types() -> Iterator[FieldType]:
    for call_def in CALLS.values():
        for _, t in call_def.args:
            yield t


_LOCAL_TYPES: Final[dict[str, FieldType]] = {**_SCALARS, **{t.name: t for t in _declared_types()}}
"""Every type this program's runtime declares for a call argument, by name (with its bounds)."""


__all__ = ["CallCheckError", "CallInfo", "Metadata", "PalletInfo"]
