"""Reading JSON-RPC parameters: by position or by name, each parsed, with errors that name it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from chain.rpc.errors import invalid_params
from chain.rpc.server import Params

T = TypeVar("T")
_MISSING = object()


def param(
    params: Params, index: int, name: str, parse: Callable[[Any], T], default: Any = _MISSING
) -> T:
    """Parameter `name` (position `index`), parsed; a clear INVALID_PARAMS error otherwise."""
    if isinstance(params, dict):
        value = params.get(name, _MISSING)
    else:
        value = params[index] if index < len(params) else _MISSING
    if value is _MISSING or (value is None and default is not _MISSING):
        if default is _MISSING:
            raise invalid_params(f"missing parameter {name!r}")
        return default  # type: ignore[no-any-return]
    try:
        return parse(value)
    except (ValueError, TypeError) as exc:
        raise invalid_params(f"{name}: {exc}") from exc


def check_arity(params: Params, count: int) -> None:
    """INVALID_PARAMS if more than `count` positional parameters were given."""
    if isinstance(params, list) and len(params) > count:
        raise invalid_params(f"expected at most {count} parameters, got {len(params)}")
