"""Scheduler: calls that run at a later block, with the origin they were scheduled with.

Rules (after Substrate's pallet_scheduler):

1. Scheduling. `schedule(ctx, when, origin, call, name=...)` puts an encoded call (see
   `runtime.dispatch`) on the agenda of block `when` (at least the next block), to be dispatched
   there with `origin`: Root, a governance track, or (from other pallets only) a signer. An
   agenda holds at most MAX_PER_BLOCK tasks; a task for a full block goes to the first block
   after it with room, looking at most MAX_PLACEMENT_BLOCKS blocks ahead (`AgendaFull` beyond).
   A task is known by `(when, index)`, and by its name if it was given one (at most 32 bytes,
   unique among the tasks scheduled). Referenda enact approved proposals this way.
2. Cancelling. A task may be cancelled only by the authority that scheduled it (the same
   origin) or by Root: a track cannot cancel Root's tasks nor another track's, and a signer
   cannot schedule or cancel through the calls at all (that would let anyone fill agendas).
3. Dispatching. `on_initialize` dispatches the due tasks in order (agenda by agenda, each by
   index), each in its own transactional layer (`dispatch.dispatch`): a task that fails has its
   writes undone and is reported, and the next runs. The work is bounded per block: at most
   MAX_SCHEDULER_WEIGHT of declared weight (a fifth of the block; counted in the block's
   mandatory weight) and at most MAX_AGENDAS_PER_BLOCK agendas looked at. What does not fit
   stays on its agenda and `IncompleteSince` names the first block not fully serviced, so that
   the next block goes on from there, before the tasks of its own block: nothing is lost or
   reordered. A task heavier than the whole budget runs alone as the first of a block, so that
   nothing is stuck.
4. Reporting. `Dispatched(when, index, call, ok, error, reason)` says what ran and, when it
   failed, the error (`pallet.Error`) and why (`DispatchError.reason()`: a refused
   `compute.set_params` names the check that failed). A task whose call crashes instead of
   failing by the rules is reported as `scheduler.TaskCrashed`: a bug in one call must not stop
   every later block.

What an attacker can do: nothing through the calls without Root or a track origin. Through
referenda, a passed proposal is one task; filling agendas needs many passed referenda, and even
then tasks only move to later blocks, each block doing bounded work.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final, NamedTuple, Protocol

from runtime import dispatch, fields
from runtime.framework import (
    WEIGHT_PER_MICROS,
    BadOrigin,
    BlockContext,
    DispatchError,
    EventDef,
    Origin,
    Pallet,
    StorageMap,
    StorageValue,
    Weight,
    call,
    origin_from_value,
    origin_to_value,
    value_codec,
)
from runtime.pallets import system
from runtime.pallets.system import MAX_BLOCK_WEIGHT
from runtime.primitives import codec
from runtime.primitives.codec import DecodeError, Value
from runtime.state import PrefixIterator, StateOverlay, StateReader

NAME: Final = "scheduler"

# Constants

MAX_PER_BLOCK: Final = 64
"""The most tasks one block's agenda holds."""
MAX_PLACEMENT_BLOCKS: Final = 16
"""How many blocks from the one asked for a task may move to when agendas are full."""
MAX_AGENDAS_PER_BLOCK: Final = 50
"""The most agendas one block's hook looks at (a backlog is worked off over several blocks)."""
MAX_NAME_BYTES: Final = 32
MAX_SCHEDULER_WEIGHT: Final = MAX_BLOCK_WEIGHT // 5
"""What the tasks of one block may weigh together (declared weights, with the overheads below)."""
MAX_REASON_CHARS: Final = 512
"""A failed task's reason is cut to this length in its event."""

SERVICE_WEIGHT: Final = 5 * WEIGHT_PER_MICROS
"""The hook's fixed cost: reading `IncompleteSince`."""
AGENDA_WEIGHT: Final = 20 * WEIGHT_PER_MICROS
"""Reading and writing back one agenda."""
TASK_WEIGHT: Final = 20 * WEIGHT_PER_MICROS
"""A task's overhead besides its call: decoding, its transactional layer, its event."""
SCHEDULE_WEIGHT: Final = 30 * WEIGHT_PER_MICROS + MAX_PLACEMENT_BLOCKS * AGENDA_WEIGHT
"""A schedule call: the call decoded and checked, and the agendas looked at for room."""
CANCEL_WEIGHT: Final = 30 * WEIGHT_PER_MICROS + AGENDA_WEIGHT


class Task(NamedTuple):
    """A scheduled call: the origin it runs with, the encoded call, and its name (b"": none)."""

    origin: Origin
    call: bytes
    name: bytes = b""


# Storage


def _agenda_to_value(agenda: tuple[Task | None, ...]) -> Value:
    return [None if t is None else [origin_to_value(t.origin), t.call, t.name] for t in agenda]


def _agenda_from_value(value: Value) -> tuple[Task | None, ...]:
    items = codec.expect_array(value, MAX_PER_BLOCK, "agenda")
    tasks: list[Task | None] = []
    for item in items:
        if item is None:
            tasks.append(None)
            continue
        f = codec.expect_list(item, 3, "agenda.task")
        tasks.append(
            Task(
                origin_from_value(f[0]),
                codec.expect_bytes(f[1], "agenda.task.call", max_len=dispatch.MAX_CALL_BYTES),
                codec.expect_bytes(f[2], "agenda.task.name", max_len=MAX_NAME_BYTES),
            )
        )
    return tuple(tasks)


def _address_to_value(address: tuple[int, int]) -> Value:
    return list(address)


def _address_from_value(value: Value) -> tuple[int, int]:
    f = codec.expect_list(value, 2, "task address")
    return codec.expect_u32(f[0], "task.when"), codec.expect_u32(f[1], "task.index")


Agenda: Final = StorageMap[int, tuple[Task | None, ...]](
    NAME,
    "Agenda",
    lambda n: n.to_bytes(4, "big"),
    value_codec(_agenda_to_value, _agenda_from_value),
)
"""The tasks due at a block, by index; a dispatched or cancelled task leaves a hole (None) so
that the others keep their index, and a hole may take a new task. No entry when none is left."""
Lookup: Final = StorageMap[bytes, tuple[int, int]](
    NAME, "Lookup", lambda name: name, value_codec(_address_to_value, _address_from_value)
)
"""Where each named task is: name -> (when, index)."""
IncompleteSince: Final = StorageValue[int | None](
    NAME,
    "IncompleteSince",
    value_codec(lambda n: n, lambda v: codec.expect_u64(v, "incomplete since")),
    None,
)
"""The first block whose agenda was not fully serviced (absent: every due agenda is done)."""

# Events

_WHEN = ("when", fields.U32)
_INDEX = ("index", fields.U32)
_NAME = ("name", fields.bytes_type(MAX_NAME_BYTES))
Scheduled: Final = EventDef(
    NAME, "Scheduled", (_WHEN, _INDEX), "A call was scheduled to run at block `when`."
)
Canceled: Final = EventDef(NAME, "Canceled", (_WHEN, _INDEX), "A scheduled call was cancelled.")
Dispatched: Final = EventDef(
    NAME,
    "Dispatched",
    (
        _WHEN,
        _INDEX,
        ("call", fields.str_type(129)),
        ("ok", fields.BOOL),
        ("error", fields.str_type(97)),
        ("reason", fields.str_type(MAX_REASON_CHARS)),
    ),
    "A scheduled call ran; when it failed, `error` names the error (`pallet.Error`) and "
    "`reason` says why (its writes were undone).",
)

# Errors


class SchedulerError(DispatchError):
    """Base of the scheduler's errors."""

    pallet = NAME


class TargetBlockInPast(SchedulerError):
    """A call can only be scheduled for a later block than the current one."""


class AgendaFull(SchedulerError):
    """The agendas of the block asked for and of the blocks after it are full."""


class NameTaken(SchedulerError):
    """A task with this name is already scheduled."""


class BadName(SchedulerError):
    """A task's name is 1 to 32 bytes."""


class NotFound(SchedulerError):
    """No task is scheduled there or under that name."""


class TaskCrashed(SchedulerError):
    """The scheduled call crashed instead of failing by the rules; its writes were undone."""


# The interface other pallets use


def schedule(
    ctx: BlockContext, when: int, origin: Origin, call: bytes, *, name: bytes = b""
) -> tuple[int, int]:
    """Schedule `call` to run with `origin` at block `when` (or the first block after it with
    room); returns where it went, `(when, index)`. Raises TargetBlockInPast, AgendaFull,
    NameTaken, BadName, or BadCall if the call does not decode."""
    state = ctx.state
    if when <= ctx.number:
        raise TargetBlockInPast(f"block {when} is not after the current block {ctx.number}")
    if when > codec.U32_MAX:
        raise AgendaFull(f"block {when} is beyond the last block number")
    dispatch.decode_call(call)
    if len(name) > MAX_NAME_BYTES:
        raise BadName(f"the name is {len(name)} bytes, over the limit of {MAX_NAME_BYTES}")
    if name and Lookup.get(state, name) is not None:
        raise NameTaken()
    for block in range(when, min(when + MAX_PLACEMENT_BLOCKS, codec.U32_MAX + 1)):
        agenda = Agenda.get(state, block) or ()
        index = _free_slot(agenda)
        if index is None:
            continue
        task = Task(origin, call, name)
        if index == len(agenda):
            agenda = (*agenda, task)
        else:
            agenda = (*agenda[:index], task, *agenda[index + 1 :])
        Agenda.insert(state, block, agenda)
        if name:
            Lookup.insert(state, name, (block, index))
        ctx.deposit_event(Scheduled, block, index)
        return block, index
    raise AgendaFull(f"blocks {when} to {when + MAX_PLACEMENT_BLOCKS - 1} have no room")


def cancel(ctx: BlockContext, when: int, index: int) -> Task:
    """Take the task at `(when, index)` off its agenda and return it; NotFound if none."""
    state = ctx.state
    agenda = Agenda.get(state, when) or ()
    if index >= len(agenda) or agenda[index] is None:
        raise NotFound(f"no task at block {when} index {index}")
    task = agenda[index]
    assert task is not None
    _put_agenda(state, when, (*agenda[:index], None, *agenda[index + 1 :]))
    if task.name:
        Lookup.remove(state, task.name)
    ctx.deposit_event(Canceled, when, index)
    return task


def cancel_named(ctx: BlockContext, name: bytes) -> Task:
    """Cancel the task named `name` and return it; NotFound if none is scheduled so."""
    address = Lookup.get(ctx.state, name) if name else None
    if address is None:
        raise NotFound("no task is scheduled under that name")
    return cancel(ctx, *address)


def task_at(state: StateOverlay, when: int, index: int) -> Task | None:
    """The task at `(when, index)`, or None."""
    agenda = Agenda.get(state, when) or ()
    return agenda[index] if index < len(agenda) else None


def lookup(state: StateOverlay, name: bytes) -> tuple[int, int] | None:
    """Where the task named `name` is scheduled, `(when, index)`, or None."""
    return Lookup.get(state, name) if name else None


def _free_slot(agenda: Sequence[Task | None]) -> int | None:
    for i, task in enumerate(agenda):
        if task is None:
            return i
    return len(agenda) if len(agenda) < MAX_PER_BLOCK else None


def _put_agenda(state: StateOverlay, when: int, agenda: tuple[Task | None, ...]) -> None:
    """Store an agenda, trimmed of trailing holes; removed when nothing is left."""
    end = len(agenda)
    while end and agenda[end - 1] is None:
        end -= 1
    if end:
        Agenda.insert(state, when, agenda[:end])
    else:
        Agenda.remove(state, when)


def _task_weight(call: bytes) -> Weight:
    try:
        return TASK_WEIGHT + dispatch.weight_of(call)
    except DispatchError:  # it will fail to decode again when dispatched, and say so
        return TASK_WEIGHT


def _ensure_governance(origin: Origin) -> None:
    """BadOrigin unless the origin is Root or a governance track."""
    if not (origin.root or origin.track):
        raise BadOrigin("only Root or a governance track may schedule and cancel calls")


def _ensure_same_authority(origin: Origin, task: Task) -> None:
    if not origin.root and origin != task.origin:
        raise BadOrigin("a task may be cancelled only by the origin it was scheduled with, or Root")


# Servicing the agendas


class _Budget:
    """The weight the hook has used in this block, and how many tasks it dispatched."""

    def __init__(self) -> None:
        self.used: Weight = SERVICE_WEIGHT
        self.dispatched = 0

    def admits(self, weight: Weight) -> bool:
        """Whether a task of `weight` fits; one heavier than the whole budget fits alone."""
        return self.used + weight <= MAX_SCHEDULER_WEIGHT or self.dispatched == 0


def service_agendas(ctx: BlockContext) -> Weight:
    """Dispatch the due tasks in order within the block's budget; returns the weight used."""
    state = ctx.state
    budget = _Budget()
    start = IncompleteSince.get(state)
    when = ctx.number if start is None else start
    last = min(ctx.number, when + MAX_AGENDAS_PER_BLOCK - 1)
    incomplete: int | None = None
    while when <= last:
        if budget.used + AGENDA_WEIGHT > MAX_SCHEDULER_WEIGHT:
            incomplete = when
            break
        budget.used += AGENDA_WEIGHT
        if not _service_agenda(ctx, when, budget):
            incomplete = when
            break
        when += 1
    else:
        incomplete = when if when <= ctx.number else None
    if incomplete is None:
        IncompleteSince.kill(state)
    else:
        IncompleteSince.put(state, incomplete)
    return budget.used


def _service_agenda(ctx: BlockContext, when: int, budget: _Budget) -> bool:
    """Dispatch the tasks of block `when`'s agenda in index order while they fit; True if the
    agenda is done. The agenda is read again before each task: a task may cancel another."""
    state = ctx.state
    index = 0
    while True:
        agenda = Agenda.get(state, when) or ()
        while index < len(agenda) and agenda[index] is None:
            index += 1
        if index >= len(agenda):
            return True
        task = agenda[index]
        assert task is not None
        weight = _task_weight(task.call)
        if not budget.admits(weight):
            return False
        budget.used += weight
        budget.dispatched += 1
        _put_agenda(state, when, (*agenda[:index], None, *agenda[index + 1 :]))
        if task.name:
            Lookup.remove(state, task.name)
        _run(ctx, when, index, task)
        index += 1


def _run(ctx: BlockContext, when: int, index: int, task: Task) -> None:
    """Dispatch one task in its own transactional layer and report how it went."""
    name = dispatch.call_name(task.call)
    try:
        dispatch.dispatch(ctx, task.origin, task.call)
    except DispatchError as exc:
        error, reason = f"{exc.pallet}.{exc.error_name()}", exc.reason()
    except Exception as exc:  # a crashing call must not halt the chain
        error = f"{NAME}.{TaskCrashed.error_name()}"
        reason = f"{TaskCrashed.describe()} ({type(exc).__name__}: {exc})"
    else:
        ctx.deposit_event(Dispatched, when, index, name, True, "", "")
        return
    ctx.deposit_event(Dispatched, when, index, name, False, error, reason[:MAX_REASON_CHARS])


# The pallet


class SchedulerGenesis(Protocol):
    """The scheduler starts with no tasks; it reads nothing of the genesis config."""


class Scheduler(Pallet):
    """The scheduler pallet: calls dispatched at a later block with the origin that asked."""

    NAME = NAME
    EVENTS = (Scheduled, Canceled, Dispatched)
    ERRORS = (TargetBlockInPast, AgendaFull, NameTaken, BadName, NotFound, TaskCrashed)

    # Hooks

    def on_initialize(self, ctx: BlockContext) -> Weight:
        """Dispatch the tasks due by this block, within MAX_SCHEDULER_WEIGHT."""
        return service_agendas(ctx)

    # Calls

    @call(args=(_WHEN, ("call", dispatch.CALL)), weight=SCHEDULE_WEIGHT, outflow=0)
    def schedule(self, ctx: BlockContext, origin: Origin, when: int, call: bytes) -> None:
        """Schedule a call to run with this origin at block `when` (Root or a track only)."""
        _ensure_governance(origin)
        schedule(ctx, when, origin, call)

    @call(
        args=(_NAME, _WHEN, ("call", dispatch.CALL)),
        weight=SCHEDULE_WEIGHT,
        outflow=0,
    )
    def schedule_named(
        self, ctx: BlockContext, origin: Origin, name: bytes, when: int, call: bytes
    ) -> None:
        """Schedule a call under a name (1 to 32 bytes) to run with this origin at `when`."""
        _ensure_governance(origin)
        if not name:
            raise BadName()
        schedule(ctx, when, origin, call, name=name)

    @call(args=(_WHEN, _INDEX), weight=CANCEL_WEIGHT, outflow=0)
    def cancel(self, ctx: BlockContext, origin: Origin, when: int, index: int) -> None:
        """Cancel the task at `(when, index)`: only its own origin, or Root, may."""
        _ensure_governance(origin)
        task = task_at(ctx.state, when, index)
        if task is None:
            raise NotFound(f"no task at block {when} index {index}")
        _ensure_same_authority(origin, task)
        cancel(ctx, when, index)

    @call(args=(_NAME,), weight=CANCEL_WEIGHT, outflow=0)
    def cancel_named(self, ctx: BlockContext, origin: Origin, name: bytes) -> None:
        """Cancel the task named `name`: only its own origin, or Root, may."""
        _ensure_governance(origin)
        address = lookup(ctx.state, name)
        if address is None:
            raise NotFound("no task is scheduled under that name")
        task = task_at(ctx.state, *address)
        assert task is not None
        _ensure_same_authority(origin, task)
        cancel(ctx, *address)

    # Invariants

    def check_invariants(self, read: StateReader, iterate: PrefixIterator) -> list[str]:
        """No agenda is over MAX_PER_BLOCK or ends in a hole; every task's call decodes; named
        tasks and `Lookup` agree; no due agenda is left behind `IncompleteSince` (nothing is
        lost: every task at or before the current block is at or after it)."""
        problems: list[str] = []
        raw_number = read(system.Number.key)
        number = 0 if raw_number is None else system.Number.decode(raw_number)
        raw_since = read(IncompleteSince.key)
        since = None if raw_since is None else IncompleteSince.decode(raw_since)
        if since is not None and since > number:
            problems.append(f"IncompleteSince {since} is after the current block {number}")
        named: dict[bytes, tuple[int, int]] = {}
        for key, raw in iterate(Agenda.prefix):
            when = int.from_bytes(Agenda.key_suffix(key), "big")
            try:
                agenda = Agenda.decode(raw)
            except DecodeError as exc:
                problems.append(f"agenda {when} does not decode: {exc}")
                continue
            if not agenda or agenda[-1] is None:
                problems.append(f"agenda {when} is empty or ends in a hole")
            if when <= number and (since is None or when < since):
                problems.append(f"agenda {when} is due but behind the serviced blocks")
            for index, task in enumerate(agenda):
                if task is None:
                    continue
                try:
                    dispatch.decode_call(task.call)
                except DispatchError as exc:
                    problems.append(f"task ({when}, {index}): {exc.reason()}")
                if task.name:
                    named[task.name] = (when, index)
        for key, raw in iterate(Lookup.prefix):
            name = Lookup.key_suffix(key)
            address = Lookup.decode(raw)
            if named.pop(name, None) != address:
                problems.append(f"Lookup {name.hex()} -> {address} names no such task")
        problems.extend(f"task {a} named {n.hex()} is not in Lookup" for n, a in named.items())
        return problems


__all__ = [
    "AGENDA_WEIGHT",
    "MAX_AGENDAS_PER_BLOCK",
    "MAX_NAME_BYTES",
    "MAX_PER_BLOCK",
    "MAX_PLACEMENT_BLOCKS",
    "MAX_SCHEDULER_WEIGHT",
    "SERVICE_WEIGHT",
    "TASK_WEIGHT",
    "Agenda",
    "AgendaFull",
    "BadName",
    "Canceled",
    "Dispatched",
    "IncompleteSince",
    "Lookup",
    "NameTaken",
    "NotFound",
    "Scheduled",
    "Scheduler",
    "TargetBlockInPast",
    "Task",
    "TaskCrashed",
    "cancel",
    "cancel_named",
    "lookup",
    "schedule",
    "service_agendas",
    "task_at",
]
