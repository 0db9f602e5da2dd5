"""Reading scenarios: TOML files, `--set key.path=value` overrides, the resolved TOML a run prints,
and the keys a sweep grid may vary. Every problem is a `ScenarioError` naming the file, the key
path and what is wrong."""

from __future__ import annotations

import re
import tomllib
import types
import typing
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

import tomli_w
from pydantic import BaseModel, ValidationError

from sim.scenario.distribution import printable
from sim.scenario.problems import bare_type, key_path, problems
from sim.scenario.schema import PARAMS, ChainConfig, Scenario

MAX_SCENARIO_BYTES: Final = 4 * 1024 * 1024
"""The largest scenario file read (a scenario is a page of TOML; this bounds a mistake)."""
MAX_SHOWN: Final = 200
"""The most characters of one override an error repeats."""
_SEGMENT: Final = re.compile(r"([A-Za-z_][A-Za-z0-9_\-]*)((?:\[\d{1,6}\])*)")
_INDEX: Final = re.compile(r"\[(\d+)\]")


class ScenarioError(ValueError):
    """A scenario that cannot be read or breaks a rule: the message names the file (or the
    override), the key path and the problem."""

    def __init__(self, source: str, key: str, problem: str) -> None:
        self.source, self.key, self.problem = printable(source), printable(key), printable(problem)
        where = f"{self.source}: {self.key}" if key else self.source
        super().__init__(f"{where}: {self.problem}")

    def __reduce__(self) -> tuple[type[ScenarioError], tuple[str, str, str]]:
        """Pickled by its parts (a sweep sends it from a worker process)."""
        return (ScenarioError, (self.source, self.key, self.problem))


def scenario_from_dict(data: dict[str, Any], *, source: str = "<scenario>") -> Scenario:
    """A validated scenario from its parsed TOML; ScenarioError naming `source` otherwise."""
    if not isinstance(data, dict):
        raise ScenarioError(source, "", "a scenario is a table of keys")
    try:
        return Scenario.model_validate(data)
    except ValidationError as exc:
        found = list(problems(exc))
        key, problem = found[0]
        if len(found) > 1:
            problem += f" (and {len(found) - 1} more problem{'s' if len(found) > 2 else ''})"
        raise ScenarioError(source, key, problem) from None
    except RecursionError:
        raise ScenarioError(source, "", "nested too deeply") from None


def load_scenario(path: Path | str, overrides: Sequence[str] = ()) -> Scenario:
    """The scenario in a TOML file, with `key.path=value` overrides applied."""
    path = Path(path)
    source = str(path)
    try:
        with path.open("rb") as f:
            raw = f.read(MAX_SCENARIO_BYTES + 1)
    except FileNotFoundError:
        raise ScenarioError(source, "", "no such file") from None
    except OSError as exc:
        raise ScenarioError(source, "", f"cannot be read: {exc.strerror or exc}") from None
    if len(raw) > MAX_SCENARIO_BYTES:
        raise ScenarioError(source, "", f"is larger than {MAX_SCENARIO_BYTES} bytes")
    data = parse_toml(raw, source)
    for override in overrides:
        data = _apply(data, override, _with_overrides(source, [override]))
    return scenario_from_dict(data, source=_with_overrides(source, overrides))


def parse_toml(raw: bytes, source: str) -> dict[str, Any]:
    """A TOML document as a dict; ScenarioError naming the line where it does not parse."""
    try:
        return tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ScenarioError(source, "", f"is not UTF-8 text (byte {exc.start})") from None
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(source, "", f"is not valid TOML: {exc}") from None
    except RecursionError:
        raise ScenarioError(source, "", "is not valid TOML: nested too deeply") from None
    except ValueError as exc:  # an integer of more digits than Python converts
        raise ScenarioError(source, "", f"is not valid TOML: {exc}") from None


def with_overrides(s: Scenario, overrides: Sequence[str]) -> Scenario:
    """`s` with each `key.path=value` applied in order (the value read as a TOML value, or as a
    string where it is a bare word); ScenarioError on an unknown key or a value that breaks a
    rule."""
    data = scenario_dict(s)
    source = f"scenario {s.name!r}"
    for override in overrides:
        data = _apply(data, override, _with_overrides(source, [override]))
    return scenario_from_dict(data, source=_with_overrides(source, overrides))


def _with_overrides(source: str, overrides: Sequence[str]) -> str:
    if not overrides:
        return source
    return f"{source} (with --set {' '.join(_shown(o) for o in overrides)})"


def _shown(override: str) -> str:
    """An override as an error shows it: cut short where it is long."""
    return override if len(override) <= MAX_SHOWN else override[: MAX_SHOWN - 3] + "..."


def parse_override(override: str, source: str = "--set") -> tuple[list[str | int], Any]:
    """`key.path=value` as the key's path and the value: a TOML value (`500000`, `"eu"`,
    `["eu", "us"]`, `true`) or, where it is none, the text as a string."""
    key, sep, text = override.partition("=")
    key = key.strip()
    if not sep:
        raise ScenarioError(source, key, f"{override!r} is not key=value")
    path = parse_key(key, source)
    text = text.strip()
    try:
        value = tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        value = text
    except RecursionError:
        raise ScenarioError(source, key, "the value is nested too deeply") from None
    except ValueError as exc:  # an integer of more digits than Python converts
        raise ScenarioError(source, key, f"the value cannot be read: {exc}") from None
    return path, value


def parse_key(key: str, source: str = "--set") -> list[str | int]:
    """`workers[1].strategy.fraction` as `["workers", 1, "strategy", "fraction"]`."""
    path: list[str | int] = []
    for segment in key.split("."):
        match = _SEGMENT.fullmatch(segment)
        if match is None:
            raise ScenarioError(source, key, f"{segment!r} is not a key (write a.b[0].c)")
        path.append(match[1])
        path.extend(int(i) for i in _INDEX.findall(match[2]))
    return path


def _apply(data: dict[str, Any], override: str, source: str) -> dict[str, Any]:
    """A copy of `data` with one override set; ScenarioError where its key is not a key of the
    schema or indexes past a list."""
    path, value = parse_override(override, source)
    key = key_path(path)
    if not _known(path):
        raise ScenarioError(source, key, "is not a scenario key")
    try:
        out: dict[str, Any] = _copy(data)
    except RecursionError:  # a dotted key thousands of tables deep parses without recursion
        raise ScenarioError(source, "", "is nested too deeply") from None
    node: Any = out
    for i, part in enumerate(path[:-1]):
        nxt = path[i + 1]
        where = key_path(path[: i + 1])
        if isinstance(part, int):
            if not isinstance(node, list) or part >= len(node):
                raise ScenarioError(source, where, _past_end(node))
            if node[part] is None:
                node[part] = {}
            node = node[part]
            continue
        if not isinstance(node, dict):
            raise ScenarioError(source, where, "is not a table")
        if node.get(part) is None:
            node[part] = [] if isinstance(nxt, int) else {}
        node = node[part]
    last = path[-1]
    if isinstance(last, int):
        if not isinstance(node, list) or last >= len(node):
            raise ScenarioError(source, key, _past_end(node))
        node[last] = value
    elif isinstance(node, dict):
        node[last] = value
    else:
        raise ScenarioError(source, key_path(path[:-1]), "is not a table")
    return out


def _past_end(node: Any) -> str:
    if not isinstance(node, list):
        return "is not a list"
    return f"is past the end of the list ({len(node)} entr{'y' if len(node) == 1 else 'ies'})"


def _copy(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value


def _known(path: Sequence[str | int], tp: Any = Scenario) -> bool:
    """Whether `path` names a key of the schema below type `tp` (any list index fits)."""
    if not path:
        return True
    part, rest = path[0], path[1:]
    tp = bare_type(tp)
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        return any(_known(path, member) for member in typing.get_args(tp))
    if isinstance(part, int):
        return origin is list and _known(rest, typing.get_args(tp)[0])
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        field = tp.model_fields.get(part)
        if field is None:
            return False
        if tp is ChainConfig and part in PARAMS:
            # a parameter section: its keys are the runtime record's fields, each a leaf
            return not rest or (len(rest) == 1 and rest[0] in PARAMS[part].schema().by_name)
        return _known(rest, field.annotation)
    if origin is dict:
        return _known(rest, typing.get_args(tp)[1])
    return False


def scenario_key_exists(key: str, scenario: Scenario | None = None) -> bool:
    """Whether `key` (e.g. "chain.compute.audit_ppm", "workers[0].count") names a scenario key;
    with `scenario`, also that every list index in it is within the scenario's lists."""
    try:
        path = parse_key(key)
    except ScenarioError:
        return False
    if not _known(path):
        return False
    if scenario is None:
        return True
    node: Any = scenario_dict(scenario)
    for part in path[:-1]:
        if isinstance(part, int):
            if not isinstance(node, list) or part >= len(node):
                return False
            node = node[part]
        else:
            node = node.get(part) if isinstance(node, dict) else None
            if node is None:
                return True  # an unset optional table: the key exists, its value is a default
    last = path[-1]
    return not isinstance(last, int) or (isinstance(node, list) and last < len(node))


def scenario_dict(s: Scenario) -> dict[str, Any]:
    """The scenario as plain data (every field; unset optional values left out)."""
    return s.model_dump(mode="python", exclude_none=True)


def resolved_toml(s: Scenario) -> str:
    """The scenario as TOML with every field, defaults included: it loads back equal to `s`."""
    return tomli_w.dumps(scenario_dict(s))


__all__ = [
    "ScenarioError",
    "load_scenario",
    "parse_key",
    "parse_override",
    "parse_toml",
    "resolved_toml",
    "scenario_dict",
    "scenario_from_dict",
    "scenario_key_exists",
    "with_overrides",
]
