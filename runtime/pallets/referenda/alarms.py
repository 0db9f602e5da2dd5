"""Alarms: the blocks at which referenda's time-driven transitions are due.

Every ongoing referendum has exactly one alarm: the block of its next time-driven transition
(the end of its prepare period, its time-out, the end of its decision or confirmation period, or
the block from which its standing tally passes as the curves fall). Alarms live in per-block
buckets of at most MAX_ALARMS_PER_BLOCK; an alarm for a full bucket goes to the first block after
it with room (looking MAX_ALARM_PROBE (16) blocks ahead, then overfilling the last bucket looked at,
which the carry-over below still services in bounded steps). Only transitions may overfill a
bucket: a submission or a decision deposit whose alarm finds no room is refused (AlarmsFull), so
that cheap submissions cannot pile alarms up without bound ahead of other referenda's.

`on_initialize` services at most MAX_ALARMS_PER_BLOCK alarms and reads at most
MAX_BUCKETS_SCANNED buckets per block; what it has not reached stays in its bucket and
`AlarmsFrom` names the first block not fully serviced, so that the next block goes on from there.
Its work per block is bounded whatever the number of referenda.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from runtime.framework import BlockContext
from runtime.pallets.referenda.constants import (
    MAX_ALARM_PROBE,
    MAX_ALARMS_PER_BLOCK,
    MAX_BUCKETS_SCANNED,
)
from runtime.pallets.referenda.storage import Alarms, AlarmsFrom, Referendum
from runtime.primitives import codec
from runtime.state import StateOverlay


def _remove_from_bucket(state: StateOverlay, block: int, index: int) -> None:
    bucket = Alarms.get(state, block) or ()
    if index not in bucket:
        return
    rest = tuple(i for i in bucket if i != index)
    if rest:
        Alarms.insert(state, block, rest)
    else:
        Alarms.remove(state, block)


def clear_alarm(state: StateOverlay, index: int, ref: Referendum) -> Referendum:
    """The referendum without its alarm, taken out of its bucket."""
    if ref.alarm is not None:
        _remove_from_bucket(state, ref.alarm, index)
    return replace(ref, alarm=None)


def set_alarm(ctx: BlockContext, index: int, ref: Referendum, when: int) -> Referendum:
    """The referendum with its alarm at `when` (at least the next block), or at the first block
    after it whose bucket has room; its previous alarm, if any, is taken out of its bucket."""
    state = ctx.state
    when = min(max(when, ctx.number + 1), codec.U32_MAX)
    if ref.alarm == when:
        return ref
    ref = clear_alarm(state, index, ref)
    last = min(when + MAX_ALARM_PROBE - 1, codec.U32_MAX)
    block = when
    bucket = Alarms.get(state, block) or ()
    while len(bucket) >= MAX_ALARMS_PER_BLOCK and block < last:
        block += 1
        bucket = Alarms.get(state, block) or ()
    Alarms.insert(state, block, (*bucket, index))
    return replace(ref, alarm=block)


def overfilled(state: StateOverlay, ref: Referendum) -> bool:
    """Whether the referendum's alarm found no bucket with room within the probe and overfilled
    the last one (a call that would cause this is refused: only transitions may overfill)."""
    if ref.alarm is None:
        return False
    return len(Alarms.get(state, ref.alarm) or ()) > MAX_ALARMS_PER_BLOCK


def service_alarms(ctx: BlockContext, service: Callable[[int, int], None]) -> int:
    """Service the due alarms, oldest first, at most MAX_ALARMS_PER_BLOCK of them: each is taken
    out of its bucket and `service(index, block)` is called; returns how many were serviced."""
    state = ctx.state
    now = ctx.number
    carried = AlarmsFrom.get(state)
    block = carried if 0 < carried < now else now
    serviced = scanned = 0
    while block <= now and scanned < MAX_BUCKETS_SCANNED and serviced < MAX_ALARMS_PER_BLOCK:
        scanned += 1
        while serviced < MAX_ALARMS_PER_BLOCK:
            # Read again each time: servicing one referendum may move another's alarm.
            bucket = Alarms.get(state, block)
            if not bucket:
                break
            index, rest = bucket[0], bucket[1:]
            if rest:
                Alarms.insert(state, block, rest)
            else:
                Alarms.remove(state, block)
            serviced += 1
            service(index, block)
        if Alarms.get(state, block):
            break
        block += 1
    if block > now:
        AlarmsFrom.kill(state)
    else:
        AlarmsFrom.put(state, block)
    return serviced
