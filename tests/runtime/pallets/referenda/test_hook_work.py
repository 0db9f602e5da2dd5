"""on_initialize's work per block does not grow with the number of referenda open: with 10 and
with 1,000 open on the same track (deciding, queued and waiting for deposits), the blocks around
the same few due alarms service the same alarms and read the same number of storage items."""

from __future__ import annotations

from collections.abc import Callable

from runtime import dispatch
from runtime.framework import BlockContext
from runtime.pallets.referenda import REFERENDA, TrackQueue
from runtime.pallets.referenda.constants import SERVICE_WEIGHT, SET_TALLY_WEIGHT
from runtime.pallets.referenda.storage import DECIDING, QUEUED, SUBMITTED, TIMED_OUT
from runtime.primitives.hashing import ZERO_HASH
from runtime.state import StateOverlay
from tests.runtime.pallets.referenda.conftest import ALICE, BOB, SMALL, UNIT, GovChain

DUE = 3
"""Referenda submitted first, without a decision deposit: they time out at the same block."""


def _spend() -> bytes:
    return dispatch.encode_call("treasury", "spend", (UNIT, ALICE, 0))


def _hook_work(gov: GovChain) -> tuple[int, int]:
    """Referenda's on_initialize at the next block, on a fresh overlay of the committed state:
    the alarms it services and the storage items it reads."""
    committed = gov.committed()
    reads = 0

    def counting(key: bytes) -> bytes | None:
        nonlocal reads
        reads += 1
        return committed.get(key)

    ctx = BlockContext(
        state=StateOverlay(counting),
        number=gov.now + 1,
        parent_hash=ZERO_HASH,
        timestamp=0,
        author=ZERO_HASH,
        genesis_hash=ZERO_HASH,
    )
    weight = REFERENDA.on_initialize(ctx)
    return (weight - SERVICE_WEIGHT) // SET_TALLY_WEIGHT, reads


def _work_around_due_alarms(open_referenda: int) -> tuple[list[tuple[int, int]], GovChain]:
    gov = GovChain()
    gov.next_block()
    due = [gov.submit(ALICE, SMALL, _spend()) for _ in range(DUE)]
    gov.run_to(gov.now + 2)  # the others time out two blocks after the due ones
    for i in range(open_referenda):
        index = gov.submit(ALICE, SMALL, _spend())
        if i % 4:  # three in four decide or queue; the rest wait for their deposit
            gov.call(BOB, "place_decision_deposit", index)
    timeout_at = gov.ref(due[0]).submitted + gov.track(SMALL).timeout
    # The others' prepare period ends at the next block: their alarms there (spilling into the
    # next buckets when full) are all serviced well before the due ones' time-out.
    gov.run_to(timeout_at - 3)
    work = []
    while gov.now < timeout_at + 1:
        work.append(_hook_work(gov))
        gov.next_block()
    assert all(gov.ref(i).state == TIMED_OUT for i in due)
    return work, gov


def test_on_initialize_does_the_same_work_with_10_and_with_1000_referenda_open() -> None:
    few, few_gov = _work_around_due_alarms(10)
    many, many_gov = _work_around_due_alarms(1_000)
    for gov, count in ((few_gov, 10), (many_gov, 1_000)):
        states = [gov.ref(DUE + i).state for i in range(count)]
        assert SUBMITTED in states and DECIDING in states
        assert gov.problems() == []
    assert QUEUED in [many_gov.ref(DUE + i).state for i in range(1_000)]
    assert len(TrackQueue.get(many_gov.state, SMALL) or ()) > len(
        TrackQueue.get(few_gov.state, SMALL) or ()
    )
    assert few == many
    serviced = [s for s, _ in many]
    assert serviced == [0, 0, DUE, 0]  # the due alarms, in their block
    assert max(r for _, r in many) < 30  # a few items per alarm, whatever is open


def _work_of_idle_blocks(open_referenda: int, submit: Callable[[GovChain], None]) -> set[int]:
    gov = GovChain()
    gov.next_block()
    for _ in range(open_referenda):
        submit(gov)
    reads = set()
    for _ in range(5):
        gov.next_block()
        serviced, read = _hook_work(gov)
        assert serviced == 0
        reads.add(read)
    return reads


def test_blocks_with_no_alarm_due_read_the_same_few_items_however_many_are_open() -> None:
    def submit(gov: GovChain) -> None:
        gov.submit(ALICE, SMALL, _spend())

    assert _work_of_idle_blocks(10, submit) == _work_of_idle_blocks(1_000, submit) == {2}
