r"""A referendum's life: from submission through its decision to one of its end states.

    submitted --decision deposit--> preparing --prepare period over--> deciding (a place free)
                                                                    \-> queued (places taken)
    queued --a place frees, most ayes first--> deciding
    deciding --passing--> confirming --passing for the whole confirm period--> approved
    confirming --a vote makes it fail--> deciding
    deciding --decision period over, not passing--> rejected
    submitted | preparing | queued --time-out--> timed out
    any ongoing --Root--> cancelled | killed

`service` brings one referendum up to date at the current block and sets its next alarm; it is
what alarms, `nudge`, deposits and votes (`set_tally`) run, and it does bounded work: the
referendum, its track's queue (at most MAX_QUEUED entries), and at most one other referendum (the
queued one that takes a freed deciding place, or the one a fuller queue leaves out).
"""

from __future__ import annotations

from dataclasses import replace

from runtime.framework import BlockContext, DispatchError, StorageMap, track_origin
from runtime.pallets import balances
from runtime.pallets.governance.tally import Tally
from runtime.pallets.governance.tracks import TrackInfo, track_by_id
from runtime.pallets.referenda import alarms, curves, events
from runtime.pallets.referenda.constants import ENACTMENT_RETRY, MAX_QUEUED
from runtime.pallets.referenda.storage import (
    APPROVED,
    CONFIRMING,
    DECIDING,
    IN_DECISION,
    PREPARING,
    QUEUED,
    REJECTED,
    SUBMITTED,
    TIMED_OUT,
    DecidingCount,
    OngoingCount,
    Proposals,
    Referendum,
    ReferendumInfo,
    TrackQueue,
)
from runtime.pallets.scheduler import schedule
from runtime.primitives.hashing import blake2b_256
from runtime.state import StateOverlay


def electorate(state: StateOverlay) -> int:
    """What support is measured against: the total issuance."""
    return balances.TotalIssuance.get(state)


def is_passing(track: TrackInfo, tally: Tally, electorate: int, elapsed: int) -> bool:
    """Whether `tally` meets both curves `elapsed` blocks into the track's decision period."""
    x = curves.elapsed_ppb(elapsed, track.decision_period)
    approval = curves.threshold(curves.approval_curve(track), x)
    support = curves.threshold(curves.support_curve(track), x)
    return tally.approval_ppb() >= approval and tally.support_ppb(electorate) >= support


def passing_after(track: TrackInfo, tally: Tally, electorate: int) -> int | None:
    """The fewest blocks into the decision period after which `tally` passes (None: never)."""
    approval = curves.delay(curves.approval_curve(track), tally.approval_ppb())
    support = curves.delay(curves.support_curve(track), tally.support_ppb(electorate))
    if approval is None or support is None:
        return None
    return curves.blocks_until(max(approval, support), track.decision_period)


def enactment_name(index: int) -> bytes:
    """The scheduler name of a referendum's enactment (so that it can be looked up)."""
    return blake2b_256(b"xpl/referenda/enact" + index.to_bytes(4, "big"))


def add_count(state: StateOverlay, counter: StorageMap[int, int], track: int, delta: int) -> None:
    """Add `delta` to a per-track count (DecidingCount or OngoingCount)."""
    count = (counter.get(state, track) or 0) + delta
    if count:
        counter.insert(state, track, count)
    else:
        counter.remove(state, track)


# The queue


def _queue_without(state: StateOverlay, track: int, index: int) -> None:
    queue = TrackQueue.get(state, track) or ()
    rest = tuple(e for e in queue if e[0] != index)
    if rest:
        TrackQueue.insert(state, track, rest)
    else:
        TrackQueue.remove(state, track)


def _queue_with(
    state: StateOverlay, track: int, index: int, ayes: int
) -> tuple[int | None, int | None]:
    """Put `index` in the track's queue by its ayes; returns its position (None if the full queue
    has no room for it) and the index a full queue left out for it (if any)."""
    queue = [e for e in (TrackQueue.get(state, track) or ()) if e[0] != index]
    position = next((i for i, (_, a) in enumerate(queue) if a < ayes), len(queue))
    left_out = None
    if len(queue) >= MAX_QUEUED:
        if position >= MAX_QUEUED:
            return None, None
        left_out = queue.pop()[0]
    queue.insert(position, (index, ayes))
    TrackQueue.insert(state, track, tuple(queue))
    return position, left_out


# Transitions


def store(state: StateOverlay, index: int, ref: Referendum) -> None:
    """Write a referendum's record."""
    ReferendumInfo.insert(state, index, ref)


def service(ctx: BlockContext, index: int, ref: Referendum) -> Referendum:
    """Bring an ongoing referendum up to date at the current block, store it and return it."""
    track = track_by_id(ctx.state, ref.track)
    assert track is not None, "tracks with ongoing referenda are never removed"
    if ref.state in IN_DECISION:
        ref = _decide(ctx, index, ref, track)
    else:
        ref = _wait(ctx, index, ref, track)
    store(ctx.state, index, ref)
    return ref


def _wait(ctx: BlockContext, index: int, ref: Referendum, track: TrackInfo) -> Referendum:
    """A referendum not yet deciding: start deciding or queue it if it may, else time it out
    at its track's time-out, else wait for its next alarm."""
    now, state = ctx.number, ctx.state
    timeout_at = ref.submitted + track.timeout
    prepared_at = ref.submitted + track.prepare_period
    ready = ref.state == QUEUED or (ref.state == PREPARING and now >= prepared_at)
    if ready and (DecidingCount.get(state, track.id) or 0) < track.max_deciding:
        queue = TrackQueue.get(state, track.id)
        if not queue or queue[0][0] == index:
            return begin_deciding(ctx, index, ref, track)
    if ready and ref.state == PREPARING:
        position, left_out = _queue_with(state, track.id, index, ref.ayes)
        if position is not None:
            ref = replace(ref, state=QUEUED)
            ctx.deposit_event(events.Queued, index, track.id, position)
            if left_out is not None:
                _leave_queue(ctx, left_out)
    if now >= timeout_at:
        return end(ctx, index, ref, TIMED_OUT)
    wake = timeout_at
    if ref.state == PREPARING and now < prepared_at:
        wake = min(prepared_at, timeout_at)
    return alarms.set_alarm(ctx, index, ref, wake)


def _leave_queue(ctx: BlockContext, index: int) -> None:
    """A queued referendum that a fuller queue left out waits outside it again."""
    ref = ReferendumInfo.get(ctx.state, index)
    if ref is not None and ref.state == QUEUED:
        store(ctx.state, index, replace(ref, state=PREPARING))
        ctx.deposit_event(events.LeftQueue, index)


def begin_deciding(ctx: BlockContext, index: int, ref: Referendum, track: TrackInfo) -> Referendum:
    """Take one of the track's deciding places: the curves start falling now."""
    if ref.state == QUEUED:
        _queue_without(ctx.state, track.id, index)
    add_count(ctx.state, DecidingCount, track.id, 1)
    ref = replace(ref, state=DECIDING, deciding_since=ctx.number, confirming_until=None)
    ctx.deposit_event(events.DecisionStarted, index, track.id, ref.ayes, ref.nays, ref.support)
    return _decide(ctx, index, ref, track)


def _decide(ctx: BlockContext, index: int, ref: Referendum, track: TrackInfo) -> Referendum:
    """A deciding or confirming referendum at the current block (OpenGov's rules)."""
    now = ctx.number
    assert ref.deciding_since is not None
    since = ref.deciding_since
    people = electorate(ctx.state)
    if is_passing(track, ref.tally, people, now - since):
        if ref.state == CONFIRMING:
            assert ref.confirming_until is not None
            if now >= ref.confirming_until:
                return _approve(ctx, index, ref, track)
        else:
            until = now + track.confirm_period
            ref = replace(ref, state=CONFIRMING, confirming_until=until)
            ctx.deposit_event(events.ConfirmStarted, index, until)
    else:
        if now >= since + track.decision_period:
            return end(ctx, index, ref, REJECTED)
        if ref.state == CONFIRMING:
            ref = replace(ref, state=DECIDING, confirming_until=None)
            ctx.deposit_event(events.ConfirmAborted, index)
    if ref.state == CONFIRMING:
        assert ref.confirming_until is not None
        return alarms.set_alarm(ctx, index, ref, ref.confirming_until)
    after = passing_after(track, ref.tally, people)
    wake = since + min(track.decision_period if after is None else after, track.decision_period)
    return alarms.set_alarm(ctx, index, ref, wake)


def _approve(ctx: BlockContext, index: int, ref: Referendum, track: TrackInfo) -> Referendum:
    """Schedule the proposal with the track's origin and end the referendum approved; if the
    scheduler has no room yet, stay confirming and try again at the next block."""
    now, state = ctx.number, ctx.state
    proposal = Proposals.get(state, index)
    assert proposal is not None
    when = now + max(track.min_enactment_period, ref.enactment_after, 1)
    state.begin()
    try:
        when, _ = schedule(
            ctx, when, track_origin(track.name), proposal, name=enactment_name(index)
        )
    except DispatchError as exc:
        state.rollback()
        ctx.deposit_event(events.EnactmentDeferred, index, exc.reason()[:512])
        return alarms.set_alarm(ctx, index, ref, now + ENACTMENT_RETRY)
    state.commit()
    ctx.deposit_event(events.Approved, index, when, ref.ayes, ref.nays, ref.support)
    return end(ctx, index, replace(ref, enactment=when), APPROVED)


def end(ctx: BlockContext, index: int, ref: Referendum, state_to: int) -> Referendum:
    """End an ongoing referendum in `state_to`: out of its alarm bucket, its queue and its
    deciding place (which the first of the queue then takes), its proposal dropped (an approved
    one is the scheduler's now). Deposits stay held for the refund calls (Root's kill slashes
    them itself). Returns the ended record (the caller stores it)."""
    state = ctx.state
    was = ref.state
    ref = alarms.clear_alarm(state, index, ref)
    ref = replace(ref, state=state_to, ended=ctx.number, confirming_until=None)
    Proposals.remove(state, index)
    add_count(state, OngoingCount, ref.track, -1)
    if was == QUEUED:
        _queue_without(state, ref.track, index)
    if state_to == REJECTED:
        ctx.deposit_event(events.Rejected, index, ref.ayes, ref.nays, ref.support)
    elif state_to == TIMED_OUT:
        ctx.deposit_event(events.TimedOut, index)
    if was in IN_DECISION:
        add_count(state, DecidingCount, ref.track, -1)
        _fill_place(ctx, ref.track)
    return ref


def _fill_place(ctx: BlockContext, track_id: int) -> None:
    """A deciding place of the track freed: the first of its queue, if any, takes it."""
    state = ctx.state
    track = track_by_id(state, track_id)
    queue = TrackQueue.get(state, track_id)
    if track is None or not queue:
        return
    if (DecidingCount.get(state, track_id) or 0) >= track.max_deciding:
        return
    index = queue[0][0]
    ref = ReferendumInfo.get(state, index)
    if ref is None or ref.state != QUEUED:
        _queue_without(state, track_id, index)
        return
    store(state, index, begin_deciding(ctx, index, ref, track))


def update_tally(ctx: BlockContext, index: int, ref: Referendum, tally: Tally) -> Referendum:
    """An ongoing referendum's new tally: its queue place follows its ayes, and a deciding one
    is decided again at once (a vote that makes a confirming referendum fail ends its
    confirmation in the same block)."""
    ref = ref.with_tally(tally)
    if ref.state == QUEUED:
        position, left_out = _queue_with(ctx.state, ref.track, index, tally.ayes)
        if position is None:  # cannot happen: it was in the queue, so there is room
            ref = replace(ref, state=PREPARING)
        elif left_out is not None:
            _leave_queue(ctx, left_out)
    if ref.state in IN_DECISION:
        return service(ctx, index, ref)
    store(ctx.state, index, ref)
    return ref


def count_ongoing(state: StateOverlay, track: int) -> int:
    """How many referenda on the track are ongoing."""
    return OngoingCount.get(state, track) or 0


__all__ = [
    "APPROVED",
    "CONFIRMING",
    "SUBMITTED",
    "begin_deciding",
    "electorate",
    "end",
    "is_passing",
    "passing_after",
    "service",
    "update_tally",
]
