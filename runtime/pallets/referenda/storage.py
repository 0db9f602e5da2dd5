"""Referenda's records and storage items: the referenda, their proposals, the tracks' queues and
deciding counts, and the alarms that drive their time-driven transitions."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Final

from runtime import dispatch, fields
from runtime.framework import U64_CODEC, StorageMap, StorageValue, value_codec
from runtime.pallets.governance.tally import Tally
from runtime.pallets.referenda.constants import MAX_QUEUED, NAME
from runtime.primitives import codec
from runtime.schema import Record, param

# A referendum's states. Ongoing: it takes votes. Ended: its deposits wait to be refunded (or
# were slashed, when killed).
SUBMITTED: Final = 0
"""Waiting for its decision deposit."""
PREPARING: Final = 1
"""Its decision deposit is placed; waiting for the prepare period to end (or, when the track's
queue is full with referenda of more ayes, for a place: see `nudge`)."""
QUEUED: Final = 2
"""In its track's queue, waiting for one of the track's deciding places."""
DECIDING: Final = 3
CONFIRMING: Final = 4
"""Deciding and passing: approved if it keeps passing until `confirming_until`."""
APPROVED: Final = 5
REJECTED: Final = 6
CANCELLED: Final = 7
TIMED_OUT: Final = 8
KILLED: Final = 9

STATE_NAMES: Final = (
    "submitted",
    "preparing",
    "queued",
    "deciding",
    "confirming",
    "approved",
    "rejected",
    "cancelled",
    "timed_out",
    "killed",
)
ONGOING: Final = frozenset({SUBMITTED, PREPARING, QUEUED, DECIDING, CONFIRMING})
IN_DECISION: Final = frozenset({DECIDING, CONFIRMING})


@dataclass(frozen=True, slots=True)
class Referendum(Record):
    """A referendum: its track, who submitted it, its deposits, where it stands and its tally."""

    track: int = param(fields.U8)
    state: int = param(fields.U8, 0, KILLED)
    submitter: bytes = param(fields.ACCOUNT)
    submitted: int = param(fields.U32)
    """The block it was submitted in."""
    enactment_after: int = param(fields.U32)
    """The least delay after approval before the proposal runs (the track's own may be longer)."""
    submission_deposit: int = param(fields.BALANCE)
    """Still held from the submitter (0 once refunded or slashed)."""
    decision_depositor: bytes | None = param(fields.option_type(fields.ACCOUNT), default=None)
    decision_deposit: int = param(fields.BALANCE, default=0)
    """Still held from the decision depositor (0 if none, or once refunded or slashed)."""
    deciding_since: int | None = param(fields.option_type(fields.U32), default=None)
    confirming_until: int | None = param(fields.option_type(fields.U32), default=None)
    alarm: int | None = param(fields.option_type(fields.U32), default=None)
    """The block whose alarm bucket holds it (ongoing referenda only)."""
    ended: int | None = param(fields.option_type(fields.U32), default=None)
    """The block it ended in."""
    enactment: int | None = param(fields.option_type(fields.U32), default=None)
    """When approved: the block its proposal is scheduled for."""
    ayes: int = param(fields.BALANCE, default=0)
    nays: int = param(fields.BALANCE, default=0)
    support: int = param(fields.BALANCE, default=0)

    @property
    def tally(self) -> Tally:
        return Tally(self.ayes, self.nays, self.support)

    def with_tally(self, tally: Tally) -> Referendum:
        """This referendum with `tally` as its tally."""
        return replace(self, ayes=tally.ayes, nays=tally.nays, support=tally.support)

    @property
    def ongoing(self) -> bool:
        return self.state in ONGOING

    @property
    def state_name(self) -> str:
        return STATE_NAMES[self.state]


_REFERENDUM_SCHEMA = Referendum.schema()
_REFERENDUM_CODEC = value_codec(_REFERENDUM_SCHEMA.to_value, _REFERENDUM_SCHEMA.from_value)
_U32_KEY = lambda n: int(n).to_bytes(4, "big")  # noqa: E731
_U8_KEY = lambda n: int(n).to_bytes(1, "big")  # noqa: E731

ReferendumCount: Final = StorageValue[int](NAME, "ReferendumCount", U64_CODEC, 0)
"""The index the next referendum gets."""
ReferendumInfo: Final = StorageMap[int, Referendum](
    NAME, "ReferendumInfo", _U32_KEY, _REFERENDUM_CODEC
)
Proposals: Final = StorageMap[int, bytes](
    NAME,
    "Proposals",
    _U32_KEY,
    value_codec(lambda raw: raw, lambda v: dispatch.CALL.from_value(v, "proposal")),
)
"""Each ongoing referendum's encoded call (apart from its record, which votes rewrite)."""


def _queue_from_value(v: codec.Value) -> tuple[tuple[int, int], ...]:
    out = []
    for i, item in enumerate(codec.expect_array(v, MAX_QUEUED, "queue")):
        pair = codec.expect_list(item, 2, f"queue[{i}]")
        out.append((codec.expect_u32(pair[0], "queue.index"), codec.expect_u128(pair[1], "ayes")))
    return tuple(out)


TrackQueue: Final = StorageMap[int, tuple[tuple[int, int], ...]](
    NAME,
    "TrackQueue",
    _U8_KEY,
    value_codec(lambda q: [[i, codec.encode_u128(a)] for i, a in q], _queue_from_value),
)
"""Per track, the queued referenda as (index, ayes), most ayes first (ties: earliest first)."""
DecidingCount: Final = StorageMap[int, int](NAME, "DecidingCount", _U8_KEY, U64_CODEC)
"""Per track, how many referenda are deciding or confirming."""
OngoingCount: Final = StorageMap[int, int](NAME, "OngoingCount", _U8_KEY, U64_CODEC)
"""Per track, how many referenda are ongoing (a track with some may not be removed)."""
Alarms: Final = StorageMap[int, tuple[int, ...]](
    NAME,
    "Alarms",
    _U32_KEY,
    value_codec(
        list,
        lambda v: tuple(
            codec.expect_u32(x, "alarm") for x in codec.expect_array(v, 1 << 16, "alarms")
        ),
    ),
)
"""Per block, the referenda to service at its start, in the order their alarms were set (at
most MAX_ALARMS_PER_BLOCK, unless the probe found every bucket near full)."""
AlarmsFrom: Final = StorageValue[int](NAME, "AlarmsFrom", U64_CODEC, 0)
"""The first block whose alarm bucket may still hold alarms not serviced (carried over)."""
