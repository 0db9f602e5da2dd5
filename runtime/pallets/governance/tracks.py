"""Tracks: the kinds of referendum, each with its own deposits, periods, curves and powers.

A referendum on a track is enacted with that track's origin (`framework.track_origin`): Root for
`root`, which may make any call, parameter changes included; `Origin(track=name)` for the
others, which may only make the calls that accept that origin, the spending calls, up to the
track's `max_spend`.

Periods are in blocks. Curves are in parts per billion of the decision period elapsed (x) and
give the least approval (ayes / (ayes + nays)) and support (aye and abstain capital / total
issuance) a referendum needs at that point (OpenGov's curves):

- LINEAR: from `a` at x = 0 down to `b` at x = `c`, then `b`;
- RECIPROCAL: `a` / (x + `b`) + `c`, clamped to [0, 1], with `a` in ppb², `b` and `c` in ppb.

The tracks live in state (`Tracks`), from the chain spec's genesis; a referendum on the root
track may change them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from runtime import fields
from runtime.framework import Origin, StorageValue, value_codec
from runtime.primitives import codec
from runtime.schema import Record, param
from runtime.state import StateOverlay

PALLET: Final = "referenda"
UNIT: Final = 10**12
PPB: Final = 1_000_000_000
LINEAR: Final = 0
RECIPROCAL: Final = 1
MAX_TRACKS: Final = 16
MAX_PERIOD: Final = 100_000_000
"""The longest period a track may have, in blocks (more than three years of 1-second blocks)."""


@dataclass(frozen=True, slots=True)
class TrackInfo(Record):
    """One track's rules."""

    id: int = param(fields.U8)
    """The track's number: conviction voting's class, delegations are per track."""
    name: str = param(fields.str_type(16))
    """`root`, `treasurer`, `small_spender`, ...: the origin its referenda are enacted with."""
    max_deciding: int = param(fields.U32, 1, 1_000)
    """The most referenda deciding at once; the rest wait in the track's queue."""
    submission_deposit: int = param(fields.BALANCE)
    """Held from the submitter; refunded at approval, rejection, cancellation or time-out."""
    decision_deposit: int = param(fields.BALANCE)
    """Held from whoever places it; needed to start deciding; refunded unless killed."""
    prepare_period: int = param(fields.U32, 0, MAX_PERIOD)
    """Blocks after submission before deciding may start."""
    decision_period: int = param(fields.U32, 1, MAX_PERIOD)
    """Blocks a referendum may decide before it is rejected."""
    confirm_period: int = param(fields.U32, 1, MAX_PERIOD)
    """Blocks a referendum must keep passing to be approved."""
    min_enactment_period: int = param(fields.U32, 0, MAX_PERIOD)
    """The least delay between approval and enactment."""
    timeout: int = param(fields.U32, 1, MAX_PERIOD)
    """Blocks after submission by which a referendum that has not started deciding (no decision
    deposit, or waiting in a full queue) times out, its deposits refunded."""
    max_spend: int = param(fields.BALANCE)
    """The most one spend of this track's origin may pay (0: it cannot spend; root: no limit)."""
    approval_kind: int = param(fields.U8, 0, 1)
    approval_a: int = param(fields.I64)
    approval_b: int = param(fields.I64)
    approval_c: int = param(fields.I64)
    support_kind: int = param(fields.U8, 0, 1)
    support_a: int = param(fields.I64)
    support_b: int = param(fields.I64)
    support_c: int = param(fields.I64)


def _linear(begin: int, end: int, length: int = PPB) -> tuple[int, int, int, int]:
    return (LINEAR, begin, end, length)


def _track(
    id_: int,
    name: str,
    *,
    max_deciding: int,
    submission: int,
    decision: int,
    prepare: int,
    decide: int,
    confirm: int,
    enact: int,
    timeout: int,
    max_spend: int,
    approval: tuple[int, int, int, int],
    support: tuple[int, int, int, int],
) -> TrackInfo:
    return TrackInfo(
        id_,
        name,
        max_deciding,
        submission,
        decision,
        prepare,
        decide,
        confirm,
        enact,
        timeout,
        max_spend,
        *approval,
        *support,
    )


HOUR: Final = 3_600
DAY: Final = 24 * HOUR
"""In blocks of one second, the dev and local chains' slot."""

DEFAULT_TRACKS: Final[tuple[TrackInfo, ...]] = (
    _track(
        0,
        "root",
        max_deciding=1,
        submission=100 * UNIT,
        decision=100_000 * UNIT,
        prepare=2 * HOUR,
        decide=28 * DAY,
        confirm=DAY,
        enact=DAY,
        timeout=14 * DAY,
        max_spend=0,
        approval=_linear(PPB, PPB // 2),
        support=_linear(PPB // 2, 0),
    ),
    _track(
        1,
        "treasurer",
        max_deciding=10,
        submission=10 * UNIT,
        decision=1_000 * UNIT,
        prepare=2 * HOUR,
        decide=28 * DAY,
        confirm=7 * DAY,
        enact=DAY,
        timeout=14 * DAY,
        max_spend=1_000_000 * UNIT,
        approval=_linear(PPB, PPB // 2),
        support=_linear(PPB // 2, 0),
    ),
    _track(
        2,
        "small_spender",
        max_deciding=50,
        submission=1 * UNIT,
        decision=100 * UNIT,
        prepare=HOUR,
        decide=28 * DAY,
        confirm=12 * HOUR,
        enact=DAY,
        timeout=14 * DAY,
        max_spend=10_000 * UNIT,
        approval=_linear(PPB, PPB // 2),
        support=_linear(PPB // 10, 0),
    ),
)
"""The default tracks (of the dev and local chains unless their spec names others)."""

_TRACK_SCHEMA = TrackInfo.schema()

Tracks: Final = StorageValue[tuple[TrackInfo, ...]](
    PALLET,
    "Tracks",
    value_codec(
        lambda ts: [_TRACK_SCHEMA.to_value(t) for t in ts],
        lambda v: tuple(
            _TRACK_SCHEMA.from_value(x) for x in codec.expect_array(v, MAX_TRACKS, "tracks")
        ),
    ),
    DEFAULT_TRACKS,
)


def tracks(state: StateOverlay) -> tuple[TrackInfo, ...]:
    """The chain's tracks."""
    return Tracks.get(state)


def track_named(state: StateOverlay, name: str) -> TrackInfo | None:
    """The track called `name`, if there is one."""
    return next((t for t in Tracks.get(state) if t.name == name), None)


def track_by_id(state: StateOverlay, track_id: int) -> TrackInfo | None:
    """The track numbered `track_id`, if there is one."""
    return next((t for t in Tracks.get(state) if t.id == track_id), None)


def spend_limit(state: StateOverlay, origin: Origin) -> int | None:
    """The most one spend made by `origin` may pay: None for Root (no limit); a track's
    `max_spend` for its origin; 0 for anything else (a signed account spends nothing)."""
    if origin.root:
        return None
    if origin.track:
        track = track_named(state, origin.track)
        return 0 if track is None or track.name == "root" else track.max_spend
    return 0
