"""Pydantic's validation errors as a scenario's problems: the key path and what is wrong, in plain
words (never pydantic's own dump)."""

from __future__ import annotations

import types
import typing
from typing import Any, Final

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from sim.scenario.schema import Scenario


def key_path(parts: list[str | int]) -> str:
    """`["workers", 1, "strategy"]` as `workers[1].strategy`."""
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else part
    return out


def bare_type(tp: Any) -> Any:
    """A type without `Annotated` and without `None` in a union with one other type."""
    while typing.get_origin(tp) is typing.Annotated:
        tp = typing.get_args(tp)[0]
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        members = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(members) == 1:
            return bare_type(members[0])
    return tp


def resolve(loc: tuple[str | int, ...]) -> tuple[list[str | int], type[BaseModel] | None, int]:
    """The key path a pydantic location names (union member tags dropped), the model whose key
    the last element is (None where it is not a model's), and how many parts of the path lead to
    the first union whose member the location goes into (-1 where none)."""
    parts: list[str | int] = []
    tp: Any = Scenario
    owner: type[BaseModel] | None = None
    union_at = -1
    for element in loc:
        tp = bare_type(tp)
        origin = typing.get_origin(tp)
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            owner = tp
            parts.append(element)
            field = tp.model_fields.get(str(element))
            tp = field.annotation if field is not None else None
        elif origin is list and isinstance(element, int):
            owner = None
            parts.append(element)
            tp = typing.get_args(tp)[0]
        elif origin is dict:
            owner = None
            parts.append(element)
            tp = typing.get_args(tp)[1]
        elif origin in (typing.Union, types.UnionType) and isinstance(element, str):
            # pydantic names the union member it tried: not a key of the file
            union_at = len(parts) if union_at < 0 else union_at
            members = typing.get_args(tp)
            tp = next((m for m in members if element.startswith(_tag(m))), members[0])
        elif isinstance(element, int) or tp is None:
            owner = None
            parts.append(element)
        # else: a tag of a validator or a constrained type (e.g. 'function-after[...]'): skip
    return parts, owner, union_at


def _tag(tp: Any) -> str:
    tp = bare_type(tp)
    origin = typing.get_origin(tp)
    if origin is not None:
        return getattr(origin, "__name__", str(origin))
    return getattr(tp, "__name__", str(tp))


def _shown(value: Any) -> str:
    try:
        text = repr(value)
    except ValueError:  # an integer of more digits than Python converts to text
        return f"an integer of about {int(value.bit_length() * 0.30103) + 1} digits"
    return text if len(text) <= 60 else text[:57] + "..."


def _message(error: ErrorDetails, owner: type[BaseModel] | None) -> str:
    kind, ctx, value = error["type"], error.get("ctx") or {}, error.get("input")
    got = f", got {_shown(value)}" if not isinstance(value, dict | list) else ""
    if kind == "scenario":
        return str(ctx["message"])
    if kind == "missing":
        return "is required but missing"
    if kind == "extra_forbidden":
        known = ", ".join(owner.model_fields) if owner is not None else ""
        return f"is not a known key (known keys here: {known})" if known else "is not known"
    if kind in ("int_type", "int_parsing", "int_from_float"):
        return f"must be an integer{got}"
    if kind in ("float_type", "float_parsing"):
        return f"must be a number{got}"
    if kind == "finite_number":
        return f"must be a finite number{got}"
    if kind in ("string_type", "string_unicode"):
        return f"must be a string{got}"
    if kind in ("bool_type", "bool_parsing"):
        return f"must be true or false{got}"
    if kind == "list_type":
        return f"must be a list{got}"
    if kind in ("dict_type", "model_type", "model_attributes_type"):
        return f"must be a table{got}"
    if kind == "literal_error":
        return f"must be one of {ctx.get('expected')}{got}"
    if kind == "greater_than":
        return f"must be above {ctx.get('gt')}{got}"
    if kind == "greater_than_equal":
        return f"must be at least {ctx.get('ge')}{got}"
    if kind == "less_than":
        return f"must be below {ctx.get('lt')}{got}"
    if kind == "less_than_equal":
        return f"must be at most {ctx.get('le')}{got}"
    if kind == "too_short":
        return f"must have at least {ctx.get('min_length')} entries"
    if kind == "too_long":
        return f"must have at most {ctx.get('max_length')} entries"
    if kind == "string_too_short":
        return "must not be empty"
    if kind == "string_too_long":
        return f"must be at most {ctx.get('max_length')} characters"
    if kind == "string_pattern_mismatch":
        return f"must be letters, digits, '_' or '-'{got}"
    if kind in ("value_error", "assertion_error") and "error" in ctx:
        return str(ctx["error"])
    text = error["msg"]
    return text[:1].lower() + text[1:]


MISMATCHES: Final = frozenset(
    {"int_type", "float_type", "string_type", "bool_type", "list_type", "dict_type", "model_type"}
)
"""Errors saying a value is not of a type: for a union, each member the value is not says so."""


def problems(exc: ValidationError) -> list[tuple[str, str]]:
    """(key path, problem) for each of a validation's errors, in pydantic's order; of the errors
    one union's members give, those of the member the value is of (where there is one)."""
    found: list[tuple[str, str, str, str]] = []  # (key, problem, error type, union key)
    for error in exc.errors():
        parts, owner, union_at = resolve(tuple(error["loc"]))
        key = key_path(parts) or "(top level)"
        if error["type"] == "scenario":
            extra = str((error.get("ctx") or {}).get("key", ""))
            if extra:
                suffix = extra if extra.startswith("[") else f".{extra}"
                key = key_path(parts) + suffix if parts else extra
        union = key_path(parts[:union_at]) if union_at >= 0 else ""
        found.append((key, _message(error, owner), error["type"], union))
    fitting = {u for _, _, kind, u in found if u and kind not in MISMATCHES}
    out: list[tuple[str, str]] = []
    told: set[tuple[str, str]] = set()  # a set: a file may hold 100,000 errors
    unions_told: set[str] = set()
    for key, message, kind, union in found:
        if union and kind in MISMATCHES:
            if union in fitting or union in unions_told:
                continue  # the value is of another member, or one mismatch says it
            unions_told.add(union)
        if (key, message) not in told:
            told.add((key, message))
            out.append((key, message))
    return out


__all__ = ["bare_type", "key_path", "problems", "resolve"]
