"""The rules a set of tracks must keep (the chain spec's and `set_tracks`'), and the tracks as
a call argument."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any, Final

from runtime.fields import FieldType
from runtime.pallets.governance.tally import PPB
from runtime.pallets.governance.tracks import DEFAULT_TRACKS, MAX_TRACKS, TrackInfo
from runtime.pallets.referenda import curves
from runtime.primitives import codec
from runtime.primitives.codec import DecodeError, Value
from runtime.schema import record_from_json, record_to_json

_SCHEMA: Final = TrackInfo.schema()


def check_tracks(tracks: Sequence[TrackInfo]) -> None:
    """ValueError naming the track and the rule it breaks: 1 to MAX_TRACKS tracks, one named
    `root`, ids and names unique, each field in range, the time-out after the prepare period,
    and both curves well formed and never rising."""
    if not 1 <= len(tracks) <= MAX_TRACKS:
        raise ValueError(f"there are 1 to {MAX_TRACKS} tracks")
    if len({t.id for t in tracks}) != len(tracks):
        raise ValueError("two tracks have the same id")
    if len({t.name for t in tracks}) != len(tracks):
        raise ValueError("two tracks have the same name")
    if not any(t.name == "root" for t in tracks):
        raise ValueError("there must be a track named root (for parameter changes)")
    for t in tracks:
        what = f"track {t.id} ({t.name})"
        try:
            t.check()
        except ValueError as exc:
            raise ValueError(f"{what}: {exc}") from exc
        if not t.name or not t.name.replace("_", "").isalnum():
            raise ValueError(f"{what}: a name is letters, digits and underscores")
        if t.timeout <= t.prepare_period:
            raise ValueError(f"{what}: the time-out must be longer than the prepare period")
        curves.check_curve(curves.approval_curve(t), f"{what}: approval curve")
        curves.check_curve(curves.support_curve(t), f"{what}: support curve")


def _from_value(v: Value, what: str) -> tuple[TrackInfo, ...]:
    try:
        return tuple(_SCHEMA.from_value(x) for x in codec.expect_array(v, MAX_TRACKS, what))
    except DecodeError as exc:
        raise DecodeError(f"{what}: {exc}") from exc


def _from_json(j: Any, what: str) -> tuple[TrackInfo, ...]:
    if not isinstance(j, list) or len(j) > MAX_TRACKS:
        raise ValueError(f"{what}: expected a list of at most {MAX_TRACKS} tracks")
    out = []
    for i, item in enumerate(j):
        if not isinstance(item, dict):
            raise ValueError(f"{what}[{i}]: expected a track object")
        unknown = sorted(set(item) - {f.camel_name for f in _SCHEMA.fields})
        if unknown:
            raise ValueError(f"{what}[{i}]: unknown field {unknown[0]!r}")
        try:
            out.append(record_from_json(TrackInfo, item))
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"{what}[{i}]: {exc}") from exc
    return tuple(out)


TRACKS: Final = FieldType(
    name="tracks",
    to_value=lambda ts: [_SCHEMA.to_value(t) for t in ts],
    from_value=_from_value,
    to_json=lambda ts: [record_to_json(t) for t in ts],
    from_json=_from_json,
)
"""A list of tracks (JSON: camelCase track objects, as the chain spec's)."""


def fast_tracks() -> tuple[TrackInfo, ...]:
    """The default tracks with periods of a few blocks, for development chains, tests and the
    demo: a referendum decides within a minute of one-second blocks (the deposits, maxima and
    the curves' shapes are the defaults'; support falls to nothing over half the period)."""
    periods = {
        # name: (prepare, decision, confirm, min_enactment, timeout)
        "root": (2, 30, 3, 2, 20),
        "treasurer": (2, 30, 3, 2, 20),
        "small_spender": (1, 20, 2, 1, 20),
    }
    out = []
    for t in DEFAULT_TRACKS:
        prepare, decide, confirm, enact, timeout = periods[t.name]
        out.append(
            replace(
                t,
                prepare_period=prepare,
                decision_period=decide,
                confirm_period=confirm,
                min_enactment_period=enact,
                timeout=timeout,
                approval_c=PPB // 2,
                support_a=PPB // 10,
                support_c=PPB // 2,
            )
        )
    return tuple(out)
