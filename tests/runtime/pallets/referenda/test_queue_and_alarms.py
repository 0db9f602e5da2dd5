"""The track queue (bounded, most ayes first, a full queue strands nobody) and the alarms: the
work on_initialize does per block stays bounded however many referenda are open."""

from __future__ import annotations

from dataclasses import replace

import pytest

from runtime.framework import ROOT
from runtime.pallets.referenda import MAX_ALARMS_PER_BLOCK, MAX_QUEUED, TrackQueue, alarms
from runtime.pallets.referenda.constants import SERVICE_WEIGHT, SET_TALLY_WEIGHT
from runtime.pallets.referenda.errors import AlarmsFull
from runtime.pallets.referenda.storage import (
    DECIDING,
    PREPARING,
    QUEUED,
    TIMED_OUT,
    Alarms,
    AlarmsFrom,
)
from runtime.pallets.referenda.track_rules import fast_tracks
from tests.runtime.pallets.referenda.conftest import (
    ALICE,
    BOB,
    CHARLIE,
    REFERENDA,
    SCHEDULER,
    UNIT,
    GovChain,
)

CHEAP_ROOT = replace(
    fast_tracks()[0], submission_deposit=1 * UNIT, decision_deposit=1 * UNIT, timeout=40
)
CHEAP = (CHEAP_ROOT, *fast_tracks()[1:])


@pytest.fixture
def cheap() -> GovChain:
    return GovChain(CHEAP)


def prepared(gov: GovChain, count: int, who: bytes = ALICE) -> list[int]:
    """`count` referenda submitted with their decision deposits, run past the prepare period."""
    gov.next_block()
    indices = []
    for _ in range(count):
        index = gov.submit(who)
        gov.call(BOB, "place_decision_deposit", index)
        indices.append(index)
    gov.run_to(gov.now + CHEAP_ROOT.prepare_period + count // MAX_ALARMS_PER_BLOCK)
    return indices


def queue(gov: GovChain) -> list[int]:
    return [i for i, _ in TrackQueue.get(gov.state, 0) or ()]


def test_the_queue_is_ordered_by_ayes_and_a_freed_place_goes_to_its_head(
    cheap: GovChain,
) -> None:
    gov = cheap
    first, second, third = prepared(gov, 3)
    assert gov.ref(first).state == DECIDING  # the root track decides one at a time
    assert queue(gov) == [second, third]
    gov.set_tally(third, ayes=10 * UNIT, nays=10**6 * UNIT)  # failing, but more ayes
    assert queue(gov) == [third, second]
    gov.call(ROOT, "cancel", first)
    assert gov.ref(third).state == DECIDING and queue(gov) == [second]
    assert ("DecisionStarted", (third, 0, 10 * UNIT, 10**6 * UNIT, 10 * UNIT)) in gov.events()
    assert gov.problems() == []


def test_a_full_queue_leaves_out_the_fewest_ayes_and_nobody_is_stranded(
    cheap: GovChain,
) -> None:
    gov = cheap
    indices = prepared(gov, MAX_QUEUED + 2)
    deciding, queued, outside = indices[0], indices[1 : MAX_QUEUED + 1], indices[-1]
    assert gov.ref(deciding).state == DECIDING
    assert queue(gov) == queued
    assert gov.ref(outside).state == PREPARING  # no room: it waits outside the queue

    # A referendum outside with more ayes than the last queued takes its place.
    gov.set_tally(outside, ayes=5 * UNIT)
    gov.call(CHARLIE, "nudge", outside)
    assert gov.ref(outside).state == QUEUED and queue(gov)[0] == outside
    left_out = queued[-1]
    assert gov.ref(left_out).state == PREPARING
    assert ("LeftQueue", (left_out,)) in gov.events()
    assert gov.problems() == []

    # Whatever never decides times out with its deposits refundable.
    gov.run_to(gov.ref(left_out).submitted + CHEAP_ROOT.timeout + 2)  # 101 alarms: 2 blocks
    assert gov.ref(left_out).state == TIMED_OUT
    assert gov.ref(queued[0]).state == TIMED_OUT
    assert queue(gov) == []
    ongoing = [i for i in indices if gov.ref(i).ongoing]
    assert ongoing == [outside]  # the first was rejected; the queue's head took its place
    for index in indices[:-1]:
        gov.call(CHARLIE, "refund_submission_deposit", index)
        gov.call(CHARLIE, "refund_decision_deposit", index)
    assert gov.held(ALICE) == 1 * UNIT and gov.held(BOB) == 1 * UNIT  # the ongoing one's
    assert gov.problems() == []


def test_a_raised_max_deciding_lets_a_nudged_queue_head_decide(cheap: GovChain) -> None:
    gov = cheap
    _first, second = prepared(gov, 2)
    assert gov.ref(second).state == QUEUED
    tracks = (replace(CHEAP_ROOT, max_deciding=2), *CHEAP[1:])
    gov.call(ROOT, "set_tracks", tracks)
    gov.call(CHARLIE, "nudge", second)
    assert gov.ref(second).state == DECIDING and queue(gov) == []
    assert gov.problems() == []


def serviced_per_block(gov: GovChain, until: int) -> list[int]:
    counts = []
    while gov.now < until:
        gov.ctx.number += 1
        SCHEDULER.on_initialize(gov.ctx)
        weight = REFERENDA.on_initialize(gov.ctx)
        counts.append((weight - SERVICE_WEIGHT) // SET_TALLY_WEIGHT)
    return counts


def test_on_initialize_services_a_bounded_number_of_alarms_with_1000_referenda_open(
    cheap: GovChain,
) -> None:
    gov = cheap
    gov.next_block()
    for _ in range(1_000):  # every one times out at the same block
        gov.submit(ALICE)
    assert len(Alarms.get(gov.state, 1 + CHEAP_ROOT.timeout) or ()) == MAX_ALARMS_PER_BLOCK
    counts = serviced_per_block(gov, 1 + CHEAP_ROOT.timeout + 30)
    assert max(counts) == MAX_ALARMS_PER_BLOCK
    assert sum(counts) == 1_000
    assert all(gov.ref(i).state == TIMED_OUT for i in range(1_000))
    assert gov.problems() == []


def test_overfull_buckets_are_carried_over_in_bounded_steps(
    cheap: GovChain, monkeypatch: pytest.MonkeyPatch
) -> None:
    gov = cheap
    monkeypatch.setattr(alarms, "MAX_ALARM_PROBE", 1)  # every alarm lands in its own block
    # Submissions that find no room are refused; transitions due at one block may still overfill
    # its bucket, as these submissions do with the refusal off.
    monkeypatch.setattr(alarms, "overfilled", lambda _state, _ref: False)
    gov.next_block()
    for _ in range(200):
        gov.submit(ALICE)
    due = 1 + CHEAP_ROOT.timeout
    assert len(Alarms.get(gov.state, due) or ()) == 200
    counts = serviced_per_block(gov, due + 3)
    assert counts[-4:] == [MAX_ALARMS_PER_BLOCK] * 3 + [200 - 3 * MAX_ALARMS_PER_BLOCK]
    assert AlarmsFrom.get(gov.state) == 0  # caught up
    assert all(gov.ref(i).state == TIMED_OUT for i in range(200))
    assert gov.problems() == []


def test_idle_blocks_read_one_bucket(gov: GovChain) -> None:
    assert serviced_per_block(gov, 50) == [0] * 50


def test_a_submission_or_deposit_whose_alarm_finds_no_room_is_refused(
    cheap: GovChain, monkeypatch: pytest.MonkeyPatch
) -> None:
    gov = cheap
    monkeypatch.setattr(alarms, "MAX_ALARM_PROBE", 1)
    gov.next_block()
    for _ in range(MAX_ALARMS_PER_BLOCK):
        gov.submit(ALICE)
    held = gov.held(ALICE)
    with pytest.raises(AlarmsFull):
        gov.submit(ALICE)
    assert gov.held(ALICE) == held  # nothing of the refused submission stays
    gov.next_block()
    late = gov.submit(ALICE)  # a block later there is room again
    gov.next_block()
    for _ in range(MAX_ALARMS_PER_BLOCK):  # they fill the bucket a block after late's time-out
        gov.submit(CHARLIE)
    # Prepared when its deposit comes, `late` would decide at once, its decision ending there.
    gov.run_to(gov.now + CHEAP_ROOT.timeout - CHEAP_ROOT.decision_period)
    with pytest.raises(AlarmsFull):
        gov.call(BOB, "place_decision_deposit", late)
    assert gov.held(BOB) == 0
    assert gov.problems() == []
