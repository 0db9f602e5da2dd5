"""Scheduler: calls run at their block with the origin that scheduled them, a failed one says why,
agendas that overflow the block's budget carry over without loss or reordering, and only the
authority that scheduled a task (or Root) may cancel it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from runtime import dispatch
from runtime.framework import ROOT, BlockContext, Origin, track_origin
from runtime.pallets import compute, scheduler
from runtime.pallets.scheduler import (
    AGENDA_WEIGHT,
    MAX_AGENDAS_PER_BLOCK,
    MAX_PER_BLOCK,
    MAX_PLACEMENT_BLOCKS,
    MAX_SCHEDULER_WEIGHT,
    SERVICE_WEIGHT,
    Agenda,
    IncompleteSince,
    Lookup,
    Task,
)
from runtime.primitives.codec import DecodeError
from runtime.primitives.keys import dev_keypair
from runtime.state import StateOverlay
from tests.runtime.conftest import apply_changes, prefix_iterator
from tests.runtime.pallets.scheduler_helpers import (
    HEAVY_CALL,
    HEAVY_WEIGHT,
    LIGHT_CALL,
    LIGHT_WEIGHT,
    SAFE_PARAMS,
    UNSAFE_PARAMS,
    Blocks,
    dispatched,
    make,
    set_params_call,
)

TREASURER = track_origin("treasurer")
SMALL_SPENDER = track_origin("small_spender")
BOB = Origin(signer=dev_keypair("Bob").public)


@pytest.fixture
def blocks() -> Blocks:
    return Blocks()


# Running at the block, with the origin


def test_a_scheduled_call_runs_at_its_block_with_the_origin_that_scheduled_it(
    blocks: Blocks,
) -> None:
    genesis_params = blocks.compute_params()
    first = blocks.run(lambda ctx: make(ctx, ROOT, "scheduler", "schedule", 3, LIGHT_CALL))
    assert [r.args for r in first.events if r.event is scheduler.Scheduled] == [(3, 0)]
    assert dispatched(blocks.run()) == []
    assert blocks.compute_params() == genesis_params
    third = blocks.run()
    assert dispatched(third) == [(3, 0, "compute.set_params", True, "", "")]
    assert blocks.compute_params() == SAFE_PARAMS
    assert compute.ParamsChanged in [r.event for r in third.events]
    assert Agenda.get(blocks.overlay(), 3) is None


def test_a_parameter_change_that_would_make_cheating_pay_fails_at_its_block_saying_why(
    blocks: Blocks,
) -> None:
    genesis_params = blocks.compute_params()
    name = b"referendum 7".ljust(32, b"\0")

    def enact_later(ctx: BlockContext) -> None:
        # As referenda enacts an approved proposal: with the root track's origin, by name.
        assert scheduler.schedule(ctx, 4, ROOT, set_params_call(UNSAFE_PARAMS), name=name) == (
            4,
            0,
        )

    blocks.run(enact_later)
    assert Lookup.get(blocks.overlay(), name) == (4, 0)
    [enactment] = blocks.run_to(4)[-1:]
    [(when, index, call_name, ok, error, reason)] = dispatched(enactment)
    assert (when, index, call_name, ok, error) == (
        4,
        0,
        "compute.set_params",
        False,
        "compute.BadParams",
    )
    assert reason.startswith("faking results pays: with audit_ppm 1000")
    assert "raise audit_ppm, committee_size or slash_ppm" in reason
    # Refused by compute's own check: nothing changed, nothing else announced.
    assert blocks.compute_params() == genesis_params
    assert [r.event for r in enactment.events] == [scheduler.Dispatched]
    assert Lookup.get(blocks.overlay(), name) is None


def test_a_track_origin_runs_its_task_with_the_tracks_powers_only(blocks: Blocks) -> None:
    blocks.run(lambda ctx: make(ctx, TREASURER, "scheduler", "schedule", 3, LIGHT_CALL))
    [_, third] = blocks.run_to(3)
    [(_, _, _, ok, error, _)] = dispatched(third)
    assert (ok, error) == (False, "system.BadOrigin")
    assert blocks.compute_params() != SAFE_PARAMS


def test_signers_cannot_schedule_or_cancel_through_the_calls(blocks: Blocks) -> None:
    def by_bob(ctx: BlockContext) -> None:
        assert make(ctx, BOB, "scheduler", "schedule", 3, LIGHT_CALL) == "system.BadOrigin"
        name = b"x" * 32
        assert make(ctx, BOB, "scheduler", "schedule_named", name, 3, LIGHT_CALL) == (
            "system.BadOrigin"
        )
        scheduler.schedule(ctx, 3, BOB, LIGHT_CALL)  # another pallet may schedule for a signer
        assert make(ctx, BOB, "scheduler", "cancel", 3, 0) == "system.BadOrigin"

    blocks.run(by_bob)
    assert scheduler.task_at(blocks.overlay(), 3, 0) == Task(BOB, LIGHT_CALL)


def test_a_call_can_only_be_scheduled_for_a_later_block(blocks: Blocks) -> None:
    def too_early(ctx: BlockContext) -> None:
        assert make(ctx, ROOT, "scheduler", "schedule", ctx.number, LIGHT_CALL) == (
            "scheduler.TargetBlockInPast"
        )
        assert make(ctx, ROOT, "scheduler", "schedule", 0, LIGHT_CALL) == (
            "scheduler.TargetBlockInPast"
        )
        with pytest.raises(dispatch.BadCall, match="does not decode"):
            scheduler.schedule(ctx, ctx.number + 1, ROOT, b"\xff\x00")

    ctx = blocks.run(too_early)
    assert ctx.events == []


def test_a_task_that_crashes_is_reported_and_the_next_ones_still_run(
    blocks: Blocks, monkeypatch: pytest.MonkeyPatch
) -> None:
    def crash(_self: object, _state: object, _params: object) -> None:
        raise RuntimeError("a bug in the parameter check")

    monkeypatch.setattr(compute.Compute, "check_params", crash)

    def schedule(ctx: BlockContext) -> None:
        scheduler.schedule(ctx, 3, ROOT, LIGHT_CALL)
        scheduler.schedule(ctx, 3, ROOT, HEAVY_CALL)

    blocks.run(schedule)
    [crashed, after] = dispatched(blocks.run_to(3)[-1])
    assert crashed[:5] == (3, 0, "compute.set_params", False, "scheduler.TaskCrashed")
    assert "RuntimeError: a bug in the parameter check" in crashed[5]
    assert after[:5] == (3, 1, "staking.report_equivocation", False, "system.BadOrigin")
    assert blocks.compute_params() != SAFE_PARAMS


# Cancelling: the same authority, or Root


def test_a_task_is_cancelled_only_by_the_authority_that_scheduled_it(blocks: Blocks) -> None:
    def schedule_three(ctx: BlockContext) -> None:
        assert make(ctx, TREASURER, "scheduler", "schedule", 5, LIGHT_CALL) is None
        assert make(ctx, ROOT, "scheduler", "schedule", 5, LIGHT_CALL) is None
        assert make(ctx, TREASURER, "scheduler", "schedule_named", b"t" * 32, 5, HEAVY_CALL) is None

    blocks.run(schedule_three)

    def try_to_cancel(ctx: BlockContext) -> None:
        # Another track, a signer, or a track against Root's task: refused.
        assert make(ctx, SMALL_SPENDER, "scheduler", "cancel", 5, 0) == "system.BadOrigin"
        assert make(ctx, BOB, "scheduler", "cancel", 5, 0) == "system.BadOrigin"
        assert make(ctx, TREASURER, "scheduler", "cancel", 5, 1) == "system.BadOrigin"
        assert make(ctx, SMALL_SPENDER, "scheduler", "cancel_named", b"t" * 32) == (
            "system.BadOrigin"
        )
        assert make(ctx, TREASURER, "scheduler", "cancel", 5, 7) == "scheduler.NotFound"
        assert make(ctx, TREASURER, "scheduler", "cancel_named", b"u" * 32) == (
            "scheduler.NotFound"
        )
        # The treasurer cancels its own task; Root cancels the treasurer's named one.
        assert make(ctx, TREASURER, "scheduler", "cancel", 5, 0) is None
        assert make(ctx, ROOT, "scheduler", "cancel_named", b"t" * 32) is None
        assert make(ctx, TREASURER, "scheduler", "cancel", 5, 0) == "scheduler.NotFound"

    ctx = blocks.run(try_to_cancel)
    assert [r.args for r in ctx.events if r.event is scheduler.Canceled] == [(5, 0), (5, 2)]
    assert Lookup.get(blocks.overlay(), b"t" * 32) is None
    runs = [args for c in blocks.run_to(6) for args in dispatched(c)]
    assert [(when, index) for when, index, *_ in runs] == [(5, 1)]


def test_a_task_may_cancel_a_later_task_of_its_own_block(blocks: Blocks) -> None:
    cancel_next = dispatch.encode_call("scheduler", "cancel", (3, 1))

    def schedule_both(ctx: BlockContext) -> None:
        assert scheduler.schedule(ctx, 3, ROOT, cancel_next) == (3, 0)
        assert scheduler.schedule(ctx, 3, ROOT, LIGHT_CALL) == (3, 1)

    blocks.run(schedule_both)
    third = blocks.run_to(3)[-1]
    assert dispatched(third) == [(3, 0, "scheduler.cancel", True, "", "")]
    assert [r.args for r in third.events if r.event is scheduler.Canceled] == [(3, 1)]
    assert blocks.compute_params() != SAFE_PARAMS


def test_names_are_unique_while_scheduled_and_free_again_after(blocks: Blocks) -> None:
    name = b"n" * 32

    def schedule_named(ctx: BlockContext) -> None:
        assert make(ctx, ROOT, "scheduler", "schedule_named", name, 3, LIGHT_CALL) is None
        assert make(ctx, ROOT, "scheduler", "schedule_named", name, 4, LIGHT_CALL) == (
            "scheduler.NameTaken"
        )
        assert make(ctx, ROOT, "scheduler", "schedule_named", b"", 4, LIGHT_CALL) == (
            "scheduler.BadName"
        )
        with pytest.raises(scheduler.BadName, match="33 bytes"):
            scheduler.schedule(ctx, 4, ROOT, LIGHT_CALL, name=b"x" * 33)

    blocks.run(schedule_named)
    blocks.run_to(3)
    assert make(blocks.open(), ROOT, "scheduler", "schedule_named", name, 9, LIGHT_CALL) is None


# Full agendas, the budget and carry-over


def test_a_full_agenda_sends_a_task_to_the_next_block_with_room(blocks: Blocks) -> None:
    addresses: list[tuple[int, int]] = []

    def fill(ctx: BlockContext) -> None:
        for _ in range(MAX_PER_BLOCK + 3):
            addresses.append(scheduler.schedule(ctx, 5, ROOT, LIGHT_CALL))
        scheduler.cancel(ctx, 5, 10)
        addresses.append(scheduler.schedule(ctx, 5, ROOT, LIGHT_CALL))  # takes the hole

    blocks.run(fill)
    assert addresses[:MAX_PER_BLOCK] == [(5, i) for i in range(MAX_PER_BLOCK)]
    assert addresses[MAX_PER_BLOCK:] == [(6, 0), (6, 1), (6, 2), (5, 10)]
    assert len(Agenda.get(blocks.overlay(), 5) or ()) == MAX_PER_BLOCK


def test_a_task_is_refused_when_every_block_it_may_move_to_is_full(blocks: Blocks) -> None:
    def fill(ctx: BlockContext) -> None:
        for _ in range(MAX_PER_BLOCK * MAX_PLACEMENT_BLOCKS):
            scheduler.schedule(ctx, 5, ROOT, LIGHT_CALL)
        with pytest.raises(scheduler.AgendaFull, match=f"blocks 5 to {4 + MAX_PLACEMENT_BLOCKS}"):
            scheduler.schedule(ctx, 5, ROOT, LIGHT_CALL)
        assert scheduler.schedule(ctx, 6, ROOT, LIGHT_CALL) == (5 + MAX_PLACEMENT_BLOCKS, 0)

    blocks.run(fill)


def _dispatched_weight(ctx: BlockContext) -> int:
    weights = {"compute.set_params": LIGHT_WEIGHT, "staking.report_equivocation": HEAVY_WEIGHT}
    return sum(weights[call_name] for _, _, call_name, *_ in dispatched(ctx))


def test_an_overflowing_agenda_carries_over_without_loss_or_reordering(blocks: Blocks) -> None:
    def schedule(ctx: BlockContext) -> None:
        for _ in range(MAX_PER_BLOCK):
            scheduler.schedule(ctx, 3, ROOT, HEAVY_CALL)
        for _ in range(5):
            scheduler.schedule(ctx, 4, ROOT, LIGHT_CALL)

    blocks.run(schedule)
    per_block = (MAX_SCHEDULER_WEIGHT - SERVICE_WEIGHT - AGENDA_WEIGHT) // HEAVY_WEIGHT
    assert 1 < per_block < MAX_PER_BLOCK
    blocks.run()
    runs: list[tuple[int, int]] = []
    while len(runs) < MAX_PER_BLOCK + 5:
        ctx = blocks.run()
        assert ctx.number < 100, "the backlog does not drain"
        done = dispatched(ctx)
        runs.extend((when, index) for when, index, *_ in done)
        # Each block within the budget, counted as the hook's mandatory weight.
        assert _dispatched_weight(ctx) <= ctx.mandatory_weight <= MAX_SCHEDULER_WEIGHT
        if len(runs) < MAX_PER_BLOCK:
            assert len(done) == per_block
            assert IncompleteSince.get(blocks.overlay()) == 3
    assert runs == [(3, i) for i in range(MAX_PER_BLOCK)] + [(4, i) for i in range(5)]
    assert IncompleteSince.get(blocks.overlay()) is None
    assert Agenda.get(blocks.overlay(), 3) is None and Agenda.get(blocks.overlay(), 4) is None
    assert blocks.compute_params() == SAFE_PARAMS


def test_a_task_heavier_than_the_whole_budget_runs_alone_as_the_first_of_a_block(
    blocks: Blocks, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(scheduler, "MAX_SCHEDULER_WEIGHT", HEAVY_WEIGHT // 2)

    def schedule(ctx: BlockContext) -> None:
        scheduler.schedule(ctx, 3, ROOT, LIGHT_CALL)
        scheduler.schedule(ctx, 3, ROOT, HEAVY_CALL)
        scheduler.schedule(ctx, 3, ROOT, HEAVY_CALL)
        scheduler.schedule(ctx, 3, ROOT, LIGHT_CALL)

    blocks.run(schedule)
    ran = [[index for _, index, *_ in dispatched(c)] for c in blocks.run_to(7)[1:]]
    assert ran == [[0], [1], [2], [3], []]


BARELY_A_CALL = dispatch.encode_call("conviction_voting", "set_params", (7 * 24 * 3_600, 64))


def test_a_backlog_of_blocks_is_looked_at_a_bounded_number_of_agendas_per_block(
    blocks: Blocks,
) -> None:
    # Six full agendas of heavy tasks take many blocks; meanwhile the agendas of the blocks
    # passed pile up behind them, and are then looked at MAX_AGENDAS_PER_BLOCK at a time.
    def schedule(ctx: BlockContext) -> None:
        for _ in range(6 * MAX_PER_BLOCK):
            scheduler.schedule(ctx, 2, ROOT, HEAVY_CALL)
        # A call lighter than a heavy one (compute's parameter check is not: it fits once in
        # what a block's last heavy task leaves, so would wait a block and blur the count).
        scheduler.schedule(ctx, 9, ROOT, BARELY_A_CALL)

    blocks.run(schedule)
    seen: list[tuple[int, int]] = []
    since: list[int | None] = []
    while IncompleteSince.get(blocks.overlay()) is not None or len(seen) < 6 * MAX_PER_BLOCK:
        ctx = blocks.run()
        seen.extend((when, index) for when, index, *_ in dispatched(ctx))
        since.append(IncompleteSince.get(blocks.overlay()))
        assert ctx.mandatory_weight <= MAX_SCHEDULER_WEIGHT
    assert len(seen) == 6 * MAX_PER_BLOCK + 1
    assert seen == sorted(seen) and seen[-1] == (9, 0)
    first_look = next(i for i, s in enumerate(since) if s is not None and s > 7)
    assert since[first_look] - since[first_look - 1] == MAX_AGENDAS_PER_BLOCK  # type: ignore[operator]
    assert since[-1] is None and first_look < len(since) - 1


def test_an_idle_scheduler_costs_a_fixed_small_weight(blocks: Blocks) -> None:
    ctx = blocks.run()
    assert ctx.mandatory_weight == SERVICE_WEIGHT + AGENDA_WEIGHT
    assert ctx.events == []


# Invariants


def test_the_invariants_catch_a_due_task_left_behind(blocks: Blocks) -> None:
    blocks.run(lambda ctx: scheduler.schedule(ctx, 3, ROOT, LIGHT_CALL, name=b"n"))
    blocks.run_to(2)
    overlay = StateOverlay(blocks.state.get)
    Agenda.insert(overlay, 1, (Task(ROOT, LIGHT_CALL),))
    Lookup.insert(overlay, b"m", (3, 0))
    Lookup.remove(overlay, b"n")
    apply_changes(blocks.state, overlay.changes())
    problems = scheduler.Scheduler().check_invariants(
        blocks.state.get, prefix_iterator(blocks.state)
    )
    assert any("agenda 1 is due but behind" in p for p in problems)
    assert any("Lookup 6d" in p for p in problems)
    assert any("not in Lookup" in p for p in problems)


# The property: whatever is scheduled and cancelled, every task left runs once, in order, within
# each block's budget, and nothing due is skipped while the budget has room.

ORIGINS = (ROOT, TREASURER, SMALL_SPENDER)
schedule_op = st.tuples(
    st.just("schedule"),
    st.integers(1, 4),  # blocks ahead
    st.booleans(),  # heavy
    st.sampled_from(range(len(ORIGINS))),
    st.integers(1, 8),  # how many
)
cancel_op = st.tuples(
    st.just("cancel"),
    st.integers(0, 10_000),  # which pending task
    st.sampled_from(range(len(ORIGINS))),  # by whom
    st.booleans(),  # by name, if it has one
    st.just(0),
)


class Model:
    """Pending tasks by address: (origin, heavy, name)."""

    def __init__(self) -> None:
        self.pending: dict[tuple[int, int], tuple[Origin, bool, bytes]] = {}
        self.names = 0

    def schedule(self, ctx: BlockContext, op: tuple[str, int, bool, int, int]) -> None:
        _, ahead, heavy, who, count = op
        for _ in range(count):
            self.names += 1
            name = b"%d" % self.names if self.names % 3 == 0 else b""
            call = HEAVY_CALL if heavy else LIGHT_CALL
            origin = ORIGINS[who]
            error = (
                make(ctx, origin, "scheduler", "schedule_named", name, ctx.number + ahead, call)
                if name
                else make(ctx, origin, "scheduler", "schedule", ctx.number + ahead, call)
            )
            assert error is None
            when, index = [r.args for r in ctx.events if r.event is scheduler.Scheduled][-1]
            assert (when, index) not in self.pending and when >= ctx.number + ahead
            self.pending[(when, index)] = (origin, heavy, name)

    def cancel(self, ctx: BlockContext, op: tuple[str, int, int, bool, int]) -> None:
        _, which, who, by_name, _ = op
        if not self.pending:
            return
        address = sorted(self.pending)[which % len(self.pending)]
        origin, _, name = self.pending[address]
        by = ORIGINS[who]
        if by_name and name:
            error = make(ctx, by, "scheduler", "cancel_named", name)
        else:
            error = make(ctx, by, "scheduler", "cancel", *address)
        if by.root or by == origin:
            assert error is None
            del self.pending[address]
        else:
            assert error == "system.BadOrigin"


def weight_of(call: bytes) -> int:
    return HEAVY_WEIGHT if call == HEAVY_CALL else LIGHT_WEIGHT


@settings(max_examples=30, deadline=None)
@given(st.lists(st.lists(st.one_of(schedule_op, cancel_op), max_size=3), min_size=1, max_size=8))
def test_every_task_left_runs_once_in_order_within_the_budget(
    plan: list[list[tuple[Any, ...]]],
) -> None:
    blocks, model = Blocks(), Model()
    order: list[tuple[int, int]] = []
    steps = iter(plan)

    def hook_then(actions: list[tuple[Any, ...]]) -> Callable[[BlockContext], None]:
        """The block's transactions, after its hook: the hook's runs checked against the
        model first, so that cancels in the block see what is still pending."""

        def transactions(ctx: BlockContext) -> None:
            due = {a: t for a, t in model.pending.items() if a[0] <= ctx.number}
            runs = dispatched(ctx)
            for when, index, _call, ok, error, _reason in runs:
                origin, heavy, _ = due.pop((when, index))  # pending, due, and run once
                del model.pending[(when, index)]
                order.append((when, index))
                assert ok == (origin.root and not heavy)
                assert error == ("" if ok else "system.BadOrigin")
            used = sum(
                weight_of(HEAVY_CALL if c.startswith("staking") else LIGHT_CALL)
                for _, _, c, *_ in runs
            )
            assert used <= ctx.mandatory_weight
            assert ctx.mandatory_weight <= MAX_SCHEDULER_WEIGHT or len(runs) == 1
            if due:  # something due did not run: the next one would not have fit
                next_due = min(due)
                heavy = due[next_due][1]
                assert ctx.mandatory_weight + weight_of(HEAVY_CALL if heavy else LIGHT_CALL) > (
                    MAX_SCHEDULER_WEIGHT
                )
                assert IncompleteSince.get(ctx.state) == next_due[0]
            else:
                assert IncompleteSince.get(ctx.state) is None
            for op in actions:
                if op[0] == "schedule":
                    model.schedule(ctx, op)
                else:
                    model.cancel(ctx, op)

        return transactions

    while True:
        actions = next(steps, None)
        if actions is None and not model.pending:
            break
        assert blocks.number < 300, "the agendas do not drain"
        blocks.run(hook_then(actions or []))
    assert order == sorted(order), "out of order"
    assert list(prefix_iterator(blocks.state)(Agenda.prefix)) == []
    assert list(prefix_iterator(blocks.state)(Lookup.prefix)) == []


# The codec of an agenda


task_strategy = st.builds(
    Task,
    st.sampled_from((ROOT, TREASURER, SMALL_SPENDER, BOB)),
    st.sampled_from((LIGHT_CALL, HEAVY_CALL)),
    st.binary(max_size=scheduler.MAX_NAME_BYTES),
)


@settings(max_examples=60)
@given(st.lists(st.none() | task_strategy, max_size=MAX_PER_BLOCK))
def test_an_agenda_decodes_to_what_was_stored(agenda: list[Task | None]) -> None:
    assert Agenda.decode(Agenda._codec.encode(tuple(agenda))) == tuple(agenda)


def test_an_agenda_over_the_limit_does_not_decode() -> None:
    raw = Agenda._codec.encode((Task(ROOT, LIGHT_CALL),) * (MAX_PER_BLOCK + 1))
    with pytest.raises(DecodeError, match="agenda"):
        Agenda.decode(raw)
