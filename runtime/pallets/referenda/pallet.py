"""The referenda pallet: its hooks, calls, genesis, invariants, and the polls conviction voting
counts votes on."""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Protocol

from runtime import dispatch, fields
from runtime.accounts import TREASURY
from runtime.framework import (
    BlockContext,
    Origin,
    Pallet,
    Weight,
    call,
    ensure_root,
    ensure_signed,
)
from runtime.pallets import balances, treasury
from runtime.pallets.governance import polls, spending
from runtime.pallets.governance.polls import Completed, Ongoing
from runtime.pallets.governance.tally import Tally
from runtime.pallets.governance.tracks import DEFAULT_TRACKS, TrackInfo, Tracks, track_by_id
from runtime.pallets.referenda import alarms, events, lifecycle
from runtime.pallets.referenda.constants import (
    DEPOSIT_WEIGHT,
    END_WEIGHT,
    HOLD,
    NAME,
    REFUND_WEIGHT,
    SERVICE_WEIGHT,
    SET_TALLY_WEIGHT,
    SET_TRACKS_WEIGHT,
    SUBMIT_WEIGHT,
)
from runtime.pallets.referenda.errors import (
    BadProposal,
    BadTracks,
    CallNotAllowed,
    CannotPayDeposit,
    HasDecisionDeposit,
    KilledReferendum,
    NoDeposit,
    NotOngoing,
    SpendAboveLimit,
    StillOngoing,
    UnknownReferendum,
    UnknownTrack,
)
from runtime.pallets.referenda.invariants import broken_invariants
from runtime.pallets.referenda.storage import (
    APPROVED,
    CANCELLED,
    KILLED,
    PREPARING,
    REJECTED,
    SUBMITTED,
    TIMED_OUT,
    OngoingCount,
    Proposals,
    Referendum,
    ReferendumCount,
    ReferendumInfo,
)
from runtime.pallets.referenda.track_rules import TRACKS, check_tracks
from runtime.primitives.amount import format_amount
from runtime.state import PrefixIterator, StateOverlay, StateReader


class ReferendaGenesis(Protocol):
    """What referenda reads of the genesis config."""

    tracks: tuple[TrackInfo, ...]


def _referendum(state: StateOverlay, index: int) -> Referendum:
    ref = ReferendumInfo.get(state, index)
    if ref is None:
        raise UnknownReferendum(f"there is no referendum {index}")
    return ref


def _ongoing(state: StateOverlay, index: int) -> Referendum:
    ref = _referendum(state, index)
    if not ref.ongoing:
        raise NotOngoing(f"referendum {index} has ended ({ref.state_name})")
    return ref


def _track(state: StateOverlay, track_id: int) -> TrackInfo:
    track = track_by_id(state, track_id)
    if track is None:
        raise UnknownTrack(f"there is no track {track_id}")
    return track


def check_proposal(state: StateOverlay, track: TrackInfo, proposal: bytes) -> None:
    """Refuse a proposal the track's origin could not make: one that does not decode; on a track
    other than root, anything but a spending call, or a spend above the track's maximum."""
    try:
        call_def, args = dispatch.decode_call(proposal)
    except dispatch.BadCall as exc:
        raise BadProposal(exc.reason()) from exc
    if track.name == "root":
        return
    amount = spending.spend_amount(state, call_def.pallet, call_def.name, args)
    if amount is None:
        raise CallNotAllowed(
            f"the {track.name} track may only propose spending calls, not "
            f"{call_def.pallet}.{call_def.name}"
        )
    if amount > track.max_spend:
        raise SpendAboveLimit(
            f"the proposal spends {format_amount(amount)}, over the {track.name} track's "
            f"maximum of {format_amount(track.max_spend)}"
        )


def _hold_deposit(ctx: BlockContext, who: bytes, amount: int, what: str) -> None:
    free = balances.free_balance(ctx, who)
    if free < amount:
        raise CannotPayDeposit(
            f"the {what} deposit is {format_amount(amount)}; the free balance is "
            f"{format_amount(free)}"
        )
    if amount:
        balances.hold(ctx, who, HOLD, amount)


def _submission_outflow(ctx: BlockContext, args: tuple[Any, ...]) -> int | None:
    track = track_by_id(ctx.state, args[0])
    return 0 if track is None else track.submission_deposit


def _decision_outflow(ctx: BlockContext, args: tuple[Any, ...]) -> int | None:
    ref = ReferendumInfo.get(ctx.state, args[0])
    track = None if ref is None else track_by_id(ctx.state, ref.track)
    return 0 if track is None else track.decision_deposit


class Referenda(Pallet):
    """Referenda on tracks: deposits, a queue per track, curves, confirmation, enactment."""

    NAME = NAME
    EVENTS = (
        events.Submitted,
        events.DecisionDepositPlaced,
        events.DecisionDepositRefunded,
        events.SubmissionDepositRefunded,
        events.DepositSlashed,
        events.Queued,
        events.LeftQueue,
        events.DecisionStarted,
        events.ConfirmStarted,
        events.ConfirmAborted,
        events.Approved,
        events.EnactmentDeferred,
        events.Rejected,
        events.TimedOut,
        events.Cancelled,
        events.Killed,
        events.TracksSet,
    )
    ERRORS = (
        UnknownTrack,
        BadProposal,
        CallNotAllowed,
        SpendAboveLimit,
        CannotPayDeposit,
        UnknownReferendum,
        NotOngoing,
        StillOngoing,
        HasDecisionDeposit,
        NoDeposit,
        KilledReferendum,
        BadTracks,
    )

    # Hooks

    def on_initialize(self, ctx: BlockContext) -> Weight:
        """Service the referenda whose alarms are due (a bounded number per block)."""

        def service(index: int, block: int) -> None:
            ref = ReferendumInfo.get(ctx.state, index)
            if ref is None or not ref.ongoing or ref.alarm != block:
                return
            lifecycle.service(ctx, index, replace(ref, alarm=None))

        serviced = alarms.service_alarms(ctx, service)
        return SERVICE_WEIGHT + serviced * SET_TALLY_WEIGHT

    # Calls

    @call(
        args=(("track", fields.U8), ("proposal", dispatch.CALL), ("enactment_after", fields.U32)),
        weight=SUBMIT_WEIGHT,
        outflow=_submission_outflow,
    )
    def submit(
        self, ctx: BlockContext, origin: Origin, track_id: int, proposal: bytes, after: int
    ) -> None:
        """Submit a proposal on a track, holding the track's submission deposit."""
        who = ensure_signed(origin)
        state = ctx.state
        track = _track(state, track_id)
        check_proposal(state, track, proposal)
        _hold_deposit(ctx, who, track.submission_deposit, "submission")
        index = ReferendumCount.get(state)
        ReferendumCount.put(state, index + 1)
        ref = Referendum(
            track=track.id,
            state=SUBMITTED,
            submitter=who,
            submitted=ctx.number,
            enactment_after=after,
            submission_deposit=track.submission_deposit,
        )
        Proposals.insert(state, index, proposal)
        lifecycle.add_count(state, OngoingCount, track.id, 1)
        ctx.deposit_event(
            events.Submitted, index, track.id, proposal, who, track.submission_deposit
        )
        lifecycle.service(ctx, index, ref)

    @call(args=(("index", fields.U32),), weight=DEPOSIT_WEIGHT, outflow=_decision_outflow)
    def place_decision_deposit(self, ctx: BlockContext, origin: Origin, index: int) -> None:
        """Place a referendum's decision deposit, so that it may decide (anyone may)."""
        who = ensure_signed(origin)
        ref = _ongoing(ctx.state, index)
        if ref.state != SUBMITTED:
            raise HasDecisionDeposit()
        track = _track(ctx.state, ref.track)
        _hold_deposit(ctx, who, track.decision_deposit, "decision")
        ref = replace(
            ref, state=PREPARING, decision_depositor=who, decision_deposit=track.decision_deposit
        )
        ctx.deposit_event(events.DecisionDepositPlaced, index, who, track.decision_deposit)
        lifecycle.service(ctx, index, ref)

    @call(args=(("index", fields.U32),), weight=REFUND_WEIGHT, outflow=0)
    def refund_decision_deposit(self, ctx: BlockContext, origin: Origin, index: int) -> None:
        """Return an ended referendum's decision deposit to whoever placed it (anyone may)."""
        ensure_signed(origin)
        ref = self._ended(ctx.state, index)
        if ref.decision_depositor is None or ref.decision_deposit == 0:
            raise NoDeposit(f"referendum {index} holds no decision deposit")
        balances.release(ctx, ref.decision_depositor, HOLD, ref.decision_deposit)
        ReferendumInfo.insert(ctx.state, index, replace(ref, decision_deposit=0))
        ctx.deposit_event(
            events.DecisionDepositRefunded, index, ref.decision_depositor, ref.decision_deposit
        )

    @call(args=(("index", fields.U32),), weight=REFUND_WEIGHT, outflow=0)
    def refund_submission_deposit(self, ctx: BlockContext, origin: Origin, index: int) -> None:
        """Return an ended referendum's submission deposit to its submitter (anyone may)."""
        ensure_signed(origin)
        ref = self._ended(ctx.state, index)
        if ref.submission_deposit == 0:
            raise NoDeposit(f"referendum {index} holds no submission deposit")
        balances.release(ctx, ref.submitter, HOLD, ref.submission_deposit)
        ReferendumInfo.insert(ctx.state, index, replace(ref, submission_deposit=0))
        ctx.deposit_event(
            events.SubmissionDepositRefunded, index, ref.submitter, ref.submission_deposit
        )

    @staticmethod
    def _ended(state: StateOverlay, index: int) -> Referendum:
        ref = _referendum(state, index)
        if ref.ongoing:
            raise StillOngoing(f"referendum {index} is {ref.state_name}")
        if ref.state == KILLED:
            raise KilledReferendum()
        return ref

    @call(args=(("index", fields.U32),), weight=END_WEIGHT, outflow=0)
    def cancel(self, ctx: BlockContext, origin: Origin, index: int) -> None:
        """End an ongoing referendum, its deposits refundable (Root only)."""
        ensure_root(origin)
        ref = _ongoing(ctx.state, index)
        ref = lifecycle.end(ctx, index, ref, CANCELLED)
        ReferendumInfo.insert(ctx.state, index, ref)
        ctx.deposit_event(events.Cancelled, index)

    @call(args=(("index", fields.U32),), weight=END_WEIGHT, outflow=0)
    def kill(self, ctx: BlockContext, origin: Origin, index: int) -> None:
        """End an ongoing referendum and slash its deposits to the treasury (Root only)."""
        ensure_root(origin)
        ref = _ongoing(ctx.state, index)
        ref = lifecycle.end(ctx, index, ref, KILLED)
        for who, amount in (
            (ref.submitter, ref.submission_deposit),
            (ref.decision_depositor, ref.decision_deposit),
        ):
            if who is not None and amount:
                paid = balances.transfer_held(ctx, who, HOLD, TREASURY, amount)
                treasury.receive(ctx, treasury.SLASHES, paid)
                ctx.deposit_event(events.DepositSlashed, index, who, paid)
        ReferendumInfo.insert(
            ctx.state, index, replace(ref, submission_deposit=0, decision_deposit=0)
        )
        ctx.deposit_event(events.Killed, index)

    @call(args=(("index", fields.U32),), weight=SET_TALLY_WEIGHT, outflow=0)
    def nudge(self, ctx: BlockContext, origin: Origin, index: int) -> None:
        """Bring an ongoing referendum up to date now (anyone may): a referendum that a full
        queue left out tries for a place again."""
        ensure_signed(origin)
        lifecycle.service(ctx, index, _ongoing(ctx.state, index))

    @call(args=(("tracks", TRACKS),), weight=SET_TRACKS_WEIGHT, outflow=0)
    def set_tracks(self, ctx: BlockContext, origin: Origin, tracks: tuple[TrackInfo, ...]) -> None:
        """Replace the tracks (Root only): a track with ongoing referenda keeps its id and
        name."""
        ensure_root(origin)
        state = ctx.state
        try:
            check_tracks(tracks)
        except ValueError as exc:
            raise BadTracks(str(exc)) from exc
        new = {t.id: t for t in tracks}
        for old in Tracks.get(state):
            if OngoingCount.get(state, old.id) and (
                old.id not in new or new[old.id].name != old.name
            ):
                raise BadTracks(
                    f"track {old.id} ({old.name}) has ongoing referenda: it keeps its id and name"
                )
        Tracks.put(state, tuple(sorted(tracks, key=lambda t: t.id)))
        ctx.deposit_event(events.TracksSet, len(tracks))

    # Genesis

    def build_genesis(self, ctx: BlockContext, config: ReferendaGenesis) -> None:
        tracks = getattr(config, "tracks", DEFAULT_TRACKS)
        check_tracks(tracks)
        Tracks.put(ctx.state, tuple(sorted(tracks, key=lambda t: t.id)))

    # Invariants

    def check_invariants(self, read: StateReader, iterate: PrefixIterator) -> list[str]:
        return broken_invariants(read, iterate)

    # Polls (conviction voting's view)

    def poll_status(self, state: StateOverlay, index: int) -> Ongoing | Completed | None:
        """The referendum as a poll: ongoing with its track and tally, completed (approved or
        rejected), or None if there is none or it was cancelled, killed or timed out: a
        referendum that never decided locks no voter, whichever side it voted (as Substrate)."""
        ref = ReferendumInfo.get(state, index)
        if ref is None or ref.state in (CANCELLED, KILLED, TIMED_OUT):
            return None
        if ref.ongoing:
            return Ongoing(ref.track, ref.tally)
        assert ref.ended is not None and ref.state in (APPROVED, REJECTED)
        return Completed(ref.ended, ref.state == APPROVED)

    def set_tally(self, ctx: BlockContext, index: int, tally: Tally) -> None:
        """Store an ongoing referendum's new tally and decide it again at once (bounded)."""
        lifecycle.update_tally(ctx, index, _ongoing(ctx.state, index), tally)


REFERENDA = Referenda()
"""The runtime's referenda pallet, registered as its polls."""
polls.register(REFERENDA)
