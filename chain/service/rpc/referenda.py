"""The referenda methods of the gov namespace: the referenda, one referendum in full, the tracks
and their curves.

    gov_referenda(at?)         → [referendum, ...]: every ongoing referendum and the latest
                                 RECENT_ENDED ended ones, newest first
    gov_referendum(index, at?) → referendum, or null if there is none:
        {"index", "track": {"id", "name"}, "state", "submitter", "submitted", "proposal",
         "enactmentAfter", "deposits": {"submission": {"who", "amount"} | null,
                                         "decision": {"who", "amount"} | null},
         "tally": {"ayes", "nays", "support"},
         "now": {"block", "approvalPpb", "supportPpb", "electorate"},
         "needed": {"approvalPpb", "supportPpb"} (the curves' thresholds now; at the start of the
                   decision period for a referendum not yet deciding), "passing",
         "decidingSince", "confirmingUntil", "passesAt" (the block from which the standing tally
         passes, if it ever does), "ended", "enactment",
         "phase": {"name", "endsAt", "blocksLeft"} (prepare, decision deposit, queue, decision,
                   confirmation; null once ended), "alarm"}
    gov_tracks(at?)            → [{track fields in camelCase, "curve": [[xPpb, approvalPpb,
                                 supportPpb] at 0, 10, ..., 100% of the decision period]}]

"now" is the state's block: what the next block's alarms will see is one block later. Amounts
are decimal strings, accounts addresses, as in the rest of the RPC.
"""

from __future__ import annotations

from typing import Any, Final

from chain.service.rpc.context import RpcContext
from chain.service.rpc.params import param
from chain.service.rpc.protocol import Params
from runtime import dispatch
from runtime.pallets import system
from runtime.pallets.governance.tally import PPB
from runtime.pallets.governance.tracks import TrackInfo, Tracks, track_by_id
from runtime.pallets.referenda import Referendum, ReferendumInfo, curves, electorate, lifecycle
from runtime.pallets.referenda.storage import (
    CONFIRMING,
    DECIDING,
    PREPARING,
    QUEUED,
    SUBMITTED,
    Proposals,
)
from runtime.primitives.address import encode_address
from runtime.schema import record_to_json
from runtime.state import StateOverlay

RECENT_ENDED: Final = 50
"""How many ended referenda gov_referenda lists besides the ongoing ones."""
CURVE_POINTS: Final = 11


def _deposit(who: bytes | None, amount: int) -> dict[str, str] | None:
    return (
        None if who is None or amount == 0 else {"who": encode_address(who), "amount": str(amount)}
    )


def _phase(ref: Referendum, track: TrackInfo, now: int) -> dict[str, Any] | None:
    timeout_at = ref.submitted + track.timeout
    ends: tuple[str, int] | None = None
    if ref.state == SUBMITTED:
        ends = ("decision deposit", timeout_at)
    elif ref.state == PREPARING:
        prepared = ref.submitted + track.prepare_period
        ends = ("prepare", prepared) if now < prepared else ("waiting for the queue", timeout_at)
    elif ref.state == QUEUED:
        ends = ("queue", timeout_at)
    elif ref.state == DECIDING and ref.deciding_since is not None:
        ends = ("decision", ref.deciding_since + track.decision_period)
    elif ref.state == CONFIRMING and ref.confirming_until is not None:
        ends = ("confirmation", ref.confirming_until)
    if ends is None:
        return None
    return {"name": ends[0], "endsAt": ends[1], "blocksLeft": max(0, ends[1] - now)}


def referendum_json(state: StateOverlay, index: int, ref: Referendum) -> dict[str, Any]:
    """A referendum with its tally, the curves' thresholds now, and the time left in its phase,
    as gov_referendum answers."""
    now = system.Number.get(state)
    track = track_by_id(state, ref.track)
    people = electorate(state)
    tally = ref.tally
    proposal = Proposals.get(state, index)
    out: dict[str, Any] = {
        "index": index,
        "track": {"id": ref.track, "name": None if track is None else track.name},
        "state": ref.state_name,
        "submitter": encode_address(ref.submitter),
        "submitted": ref.submitted,
        "proposal": None if proposal is None else dispatch.CALL.to_json(proposal),
        "enactmentAfter": ref.enactment_after,
        "deposits": {
            "submission": _deposit(ref.submitter, ref.submission_deposit),
            "decision": _deposit(ref.decision_depositor, ref.decision_deposit),
        },
        "tally": {"ayes": str(tally.ayes), "nays": str(tally.nays), "support": str(tally.support)},
        "now": {
            "block": now,
            "approvalPpb": tally.approval_ppb(),
            "supportPpb": tally.support_ppb(people),
            "electorate": str(people),
        },
        "decidingSince": ref.deciding_since,
        "confirmingUntil": ref.confirming_until,
        "ended": ref.ended,
        "enactment": ref.enactment,
        "alarm": ref.alarm,
        "needed": None,
        "passing": None,
        "passesAt": None,
        "phase": None,
    }
    if track is None or not ref.ongoing:
        return out
    since = now if ref.deciding_since is None else ref.deciding_since
    x = curves.elapsed_ppb(now - since, track.decision_period)
    out["needed"] = {
        "approvalPpb": curves.threshold(curves.approval_curve(track), x),
        "supportPpb": curves.threshold(curves.support_curve(track), x),
    }
    out["passing"] = lifecycle.is_passing(track, tally, people, now - since)
    after = lifecycle.passing_after(track, tally, people)
    if after is not None and after <= track.decision_period:
        out["passesAt"] = since + after if ref.deciding_since is not None else None
    out["phase"] = _phase(ref, track, now)
    return out


def tracks_json(state: StateOverlay) -> list[dict[str, Any]]:
    """The tracks with their curves sampled over the decision period, as gov_tracks answers."""
    out = []
    for track in Tracks.get(state):
        points = []
        for i in range(CURVE_POINTS):
            x = PPB * i // (CURVE_POINTS - 1)
            points.append(
                [
                    x,
                    curves.threshold(curves.approval_curve(track), x),
                    curves.threshold(curves.support_curve(track), x),
                ]
            )
        out.append({**record_to_json(track), "curve": points})
    return out


def _index(value: Any) -> int:
    if type(value) is not int or not 0 <= value < 2**32:
        raise ValueError("expected a referendum index (an integer below 2^32)")
    return value


def add_referenda_methods(ctx: RpcContext) -> None:
    """Register gov_referenda, gov_referendum and gov_tracks."""
    store = ctx.node.core.store

    def gov_referenda(params: Params) -> Any:
        block_hash = ctx.at_hash(params, 0)
        state = StateOverlay(ctx.reader_at(block_hash))
        ongoing: list[tuple[int, Referendum]] = []
        ended: list[tuple[int, Referendum]] = []
        for key, raw in store.iterate_state(block_hash, ReferendumInfo.prefix):
            index = int.from_bytes(ReferendumInfo.key_suffix(key), "big")
            ref = ReferendumInfo.decode(raw)
            (ongoing if ref.ongoing else ended).append((index, ref))
        ended = sorted(ended, key=lambda item: item[0], reverse=True)[:RECENT_ENDED]
        chosen = sorted(ongoing + ended, key=lambda item: item[0], reverse=True)
        return [referendum_json(state, index, ref) for index, ref in chosen]

    def gov_referendum(params: Params) -> Any:
        index = param(params, 0, "index", _index)
        state = StateOverlay(ctx.reader_at(ctx.at_hash(params, 1)))
        ref = ReferendumInfo.get(state, index)
        return None if ref is None else referendum_json(state, index, ref)

    def gov_tracks(params: Params) -> Any:
        return tracks_json(StateOverlay(ctx.reader_at(ctx.at_hash(params, 0))))

    ctx.add("gov_referenda", gov_referenda, ("at",))
    ctx.add("gov_referendum", gov_referendum, ("index", "at"))
    ctx.add("gov_tracks", gov_tracks, ("at",))


__all__ = ["add_referenda_methods", "referendum_json", "tracks_json"]
