"""Declared records: each field is stated once, and the record's codec, range checks, call
arguments and JSON keys are derived from that declaration.

A record is a frozen dataclass deriving from `Record` whose fields are made by `param`:

    @dataclass(frozen=True, slots=True)
    class Params(Record):
        era_blocks: int = param(fields.U32, 1, 1_000, default=100)
        \"\"\"Blocks per era.\"\"\"

Its encoding is the array of its fields in declaration order, each as its FieldType encodes it
(so a u128 is 16 big-endian bytes), which keeps the bytes of a record the same as a hand-written
`to_value` in that order. Decoding is strict: the array must have exactly the declared fields,
each of its type and within its range, and a DecodeError names the field. `check()` refuses, with
a ValueError naming it, the first field out of its range; rules that tie fields together stay
explicit code in the record's own `check`.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final, Self, TypeVar

from runtime import fields
from runtime.fields import Fields, FieldType
from runtime.primitives import codec
from runtime.primitives.codec import DecodeError, Value

_META: Final = "xpl.param"


@dataclass(frozen=True, slots=True)
class _Bounds:
    ftype: FieldType
    lo: int | None
    hi: int | None
    rule: str
    json_max: int | None


def param(
    ftype: FieldType,
    lo: int | None = None,
    hi: int | None = None,
    *,
    default: Any = dataclasses.MISSING,
    rule: str = "",
    json_max: int | None = None,
) -> Any:
    """A record field of type `ftype` within [lo, hi] (the type's own bounds where left out).

    `rule` words a value out of range for `check()` (default: "must be LO to HI"); `json_max` is
    a tighter bound that a chain spec's JSON puts on the field.
    """
    meta = {_META: _Bounds(ftype, lo, hi, rule, json_max)}
    if default is dataclasses.MISSING:
        return dataclasses.field(metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """One declared field of a record: its name, type, range and default."""

    name: str
    ftype: FieldType
    lo: int | None
    """The least value of an integer field (None for the other types)."""
    hi: int | None
    rule: str
    """What `check()` says after the field's name when the value is out of range."""
    json_max: int | None
    """The most a chain spec's JSON may set; `hi` where None."""
    default: Any

    @property
    def camel_name(self) -> str:
        """The field's key in JSON: `min_validator_bond` -> `minValidatorBond`."""
        head, *rest = self.name.split("_")
        return head + "".join(word.capitalize() for word in rest)

    def decoder(self, record: str) -> Callable[[Value], Any]:
        """Decode this field's codec value and refuse one outside the field's range (narrower
        than its type's); errors name it as `record.field`."""
        name, decode, lo, hi = f"{record}.{self.name}", self.ftype.from_value, self.lo, self.hi

        def ranged(v: Value) -> Any:
            x = decode(v, name)
            if not lo <= x <= hi:
                raise DecodeError(f"{name}: {x} is outside [{lo}, {hi}]")
            return x

        return ranged

    def check(self, value: Any) -> None:
        """ValueError naming this field when `value` is out of its range."""
        if self.lo is None or self.hi is None:
            return
        if type(value) is not int or not self.lo <= value <= self.hi:
            raise ValueError(f"{self.name} {self.rule}")


class Schema:
    """The derived codec, checks and call arguments of one record class."""

    def __init__(self, record: type[Record]) -> None:
        self.record = record
        self.what = re.sub(r"(?<!^)([A-Z])", r" \1", record.__name__).lower()
        """What the record is called in decoding errors: "staking params" for StakingParams."""
        specs = []
        for f in dataclasses.fields(record):  # type: ignore[arg-type]
            bounds = f.metadata.get(_META)
            if not isinstance(bounds, _Bounds):
                raise TypeError(f"{record.__name__}.{f.name} is not declared with param()")
            type_lo, type_hi = bounds.ftype.bounds or (None, None)
            lo = type_lo if bounds.lo is None else bounds.lo
            hi = type_hi if bounds.hi is None else bounds.hi
            specs.append(
                FieldSpec(
                    name=f.name,
                    ftype=bounds.ftype,
                    lo=lo,
                    hi=hi,
                    rule=bounds.rule or f"must be {lo} to {hi}",
                    json_max=bounds.json_max,
                    default=f.default,
                )
            )
        self.fields: tuple[FieldSpec, ...] = tuple(specs)
        self.by_name: dict[str, FieldSpec] = {spec.name: spec for spec in specs}
        self.call_args: Fields = tuple((s.name, s.ftype) for s in self.fields)
        """The record's fields as a call's arguments (a `set_params` call takes them in order)."""
        self.to_value, self.from_value = self._compile()

    def _compile(self) -> tuple[Callable[[Any], list[Value]], Callable[[Value], Any]]:
        """The record's encoder and decoder, generated as straight-line code (as `dataclasses`
        generates `__init__`): they run on every state read and write of the record."""
        env: dict[str, Any] = {
            "expect_list": codec.expect_list,
            "expect_int": codec.expect_int,
            "record": self.record,
            "what": self.what,
        }
        encoded, decoded = [], []
        for i, spec in enumerate(self.fields):
            ftype, label = spec.ftype, f"n{i}"
            env[label] = f"{self.what}.{spec.name}"
            if ftype.identity:
                encoded.append(f"r.{spec.name}")
            else:
                env[f"e{i}"] = ftype.to_value
                encoded.append(f"e{i}(r.{spec.name})")
            if ftype.identity and ftype.bounds is not None:
                decoded.append(f"expect_int(f[{i}], {spec.lo!r}, {spec.hi!r}, {label})")
            elif ftype.bounds is None or ftype.bounds == (spec.lo, spec.hi):
                env[f"d{i}"] = ftype.from_value
                decoded.append(f"d{i}(f[{i}], {label})")
            else:
                env[f"d{i}"] = spec.decoder(self.what)
                decoded.append(f"d{i}(f[{i}])")
        source = (
            "def to_value(r):\n"
            f"    return [{', '.join(encoded)}]\n"
            "def from_value(value):\n"
            f"    f = expect_list(value, {len(self.fields)}, what)\n"
            f"    return record({', '.join(decoded)})\n"
        )
        exec(source, env)
        return env["to_value"], env["from_value"]

    def check(self, record: Record, names: tuple[str, ...] = ()) -> None:
        """ValueError naming the first field of `record` out of its declared range (of `names`
        in that order, or of every field in declaration order)."""
        for spec in (self.by_name[n] for n in names) if names else self.fields:
            spec.check(getattr(record, spec.name))


_SCHEMAS: dict[type[Record], Schema] = {}


def schema_of(record: type[Record]) -> Schema:
    """The schema derived from a record class's declaration (built once). Building it binds the
    generated codec onto the class, so later `to_value` and `from_value` calls go straight to it."""
    schema = _SCHEMAS.get(record)
    if schema is None:
        schema = _SCHEMAS[record] = Schema(record)
        setattr(record, "to_value", schema.to_value)  # noqa: B010 (replaces a method)
        setattr(record, "from_value", staticmethod(schema.from_value))  # noqa: B010
    return schema


class Record:
    """Base of a declared record (a frozen dataclass whose fields are made by `param`)."""

    __slots__ = ()

    @classmethod
    def schema(cls) -> Schema:
        """The schema derived from this record class (built once)."""
        return schema_of(cls)

    @classmethod
    def call_args(cls) -> Fields:
        """The fields as a call's typed arguments, in declaration order."""
        return schema_of(cls).call_args

    def to_value(self) -> list[Value]:
        """The record as a codec array of its fields, in declaration order."""
        return schema_of(type(self)).to_value(self)

    @classmethod
    def from_value(cls, value: Value) -> Self:
        """Decode a record; DecodeError naming the field that is missing, mistyped or out of
        range."""
        return schema_of(cls).from_value(value)  # type: ignore[no-any-return]

    def check(self) -> None:
        """ValueError naming the first field out of its range."""
        schema_of(type(self)).check(self)

    def check_fields(self, *names: str) -> None:
        """ValueError naming the first of the fields `names`, in that order, out of its range
        (for a record whose rules tie fields together between the range checks)."""
        schema_of(type(self)).check(self, names)


__all__ = ["FieldSpec", "Record", "Schema", "param", "schema_of"]


R = TypeVar("R", bound=Record)


def record_to_json(record: Record) -> dict[str, Any]:
    """A record as JSON: camelCase keys, balances as decimal strings (they exceed JSON's safe
    integers)."""
    out: dict[str, Any] = {}
    for f in record.schema().fields:
        value = getattr(record, f.name)
        out[f.camel_name] = str(value) if f.ftype is fields.BALANCE else value
    return out


def record_from_json(record: type[R], data: Mapping[str, Any]) -> R:
    """The record `record_to_json` wrote (fields it lacks take their defaults); KeyError,
    TypeError or ValueError on a value of the wrong type."""
    values: dict[str, Any] = {}
    for f in record.schema().fields:
        if f.camel_name in data:
            raw = data[f.camel_name]
            values[f.name] = int(raw) if f.ftype is fields.BALANCE else raw
    return record(**values)
