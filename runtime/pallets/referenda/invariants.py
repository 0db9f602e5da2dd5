"""Referenda's invariants over a committed state: deposits held equal deposits owed, counts,
queues and alarms agree with the referenda."""

from __future__ import annotations

from collections import Counter
from typing import Any

from runtime.framework import StorageMap
from runtime.pallets import system
from runtime.pallets.governance.tracks import Tracks
from runtime.pallets.referenda.constants import HOLD
from runtime.pallets.referenda.storage import (
    IN_DECISION,
    QUEUED,
    Alarms,
    DecidingCount,
    OngoingCount,
    Proposals,
    Referendum,
    ReferendumCount,
    ReferendumInfo,
    TrackQueue,
)
from runtime.state import PrefixIterator, StateOverlay, StateReader


def broken_invariants(read: StateReader, iterate: PrefixIterator) -> list[str]:
    """Broken referenda invariants in a committed state, as messages (empty: all hold)."""
    problems: list[str] = []
    state = StateOverlay(read)

    def entries(item: StorageMap[int, Any]) -> dict[int, Any]:
        return {
            int.from_bytes(item.key_suffix(k), "big"): item.decode_at(k, v)
            for k, v in iterate(item.prefix)
        }

    referenda: dict[int, Referendum] = entries(ReferendumInfo)
    owed: Counter[bytes] = Counter()
    deciding: Counter[int] = Counter()
    ongoing: Counter[int] = Counter()
    count = ReferendumCount.get(state)
    proposals = entries(Proposals)
    track_ids = {t.id for t in Tracks.get(state)}
    for index, ref in referenda.items():
        if index >= count:
            problems.append(f"referendum {index} is beyond the count {count}")
        owed[ref.submitter] += ref.submission_deposit
        if ref.decision_depositor is not None:
            owed[ref.decision_depositor] += ref.decision_deposit
        elif ref.decision_deposit:
            problems.append(f"referendum {index} holds a decision deposit of nobody")
        if ref.ongoing:
            ongoing[ref.track] += 1
            if ref.track not in track_ids:
                problems.append(f"ongoing referendum {index} is on no track")
            if index not in proposals:
                problems.append(f"ongoing referendum {index} has no proposal")
            if ref.alarm is None or index not in (Alarms.get(state, ref.alarm) or ()):
                problems.append(f"ongoing referendum {index} has no alarm")
        elif index in proposals or ref.alarm is not None:
            problems.append(f"ended referendum {index} keeps a proposal or an alarm")
        if ref.state in IN_DECISION:
            deciding[ref.track] += 1
            if ref.deciding_since is None:
                problems.append(f"deciding referendum {index} has no start")
    held = {who: info.held(HOLD) for who, info in system.accounts_in(iterate)}
    for who in set(held) | set(owed):
        if held.get(who, 0) != owed.get(who, 0):
            problems.append(
                f"account {who.hex()} holds {held.get(who, 0)} for referenda, owes "
                f"{owed.get(who, 0)}"
            )
    if dict(entries(DecidingCount)) != dict(deciding):
        problems.append("the deciding counts differ from the deciding referenda")
    if dict(entries(OngoingCount)) != dict(ongoing):
        problems.append("the ongoing counts differ from the ongoing referenda")
    queued = {i for i, r in referenda.items() if r.state == QUEUED}
    in_queues: list[int] = []
    for track, queue in entries(TrackQueue).items():
        in_queues.extend(i for i, _ in queue)
        ayes = [a for _, a in queue]
        if ayes != sorted(ayes, reverse=True):
            problems.append(f"track {track}'s queue is not sorted by ayes")
        for i, a in queue:
            queued_ref = referenda.get(i)
            if queued_ref is None or queued_ref.track != track or queued_ref.ayes != a:
                problems.append(f"track {track}'s queue entry {i} does not match its referendum")
    if sorted(in_queues) != sorted(queued):
        problems.append("the queues differ from the queued referenda")
    for block, bucket in entries(Alarms).items():
        for i in bucket:
            alarmed = referenda.get(i)
            if alarmed is None or alarmed.alarm != block:
                problems.append(f"block {block}'s alarm for referendum {i} is stale")
    return problems
