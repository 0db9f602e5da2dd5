"""What the node asks the runtime outside block execution: fees, events, accounts, metadata."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from runtime.executive import CALLS, EVENTS, PALLETS, lookup_call
from runtime.pallets import balances, system, transaction_payment
from runtime.pallets.system import AccountInfo
from runtime.primitives import codec
from runtime.primitives.codec import DecodeError
from runtime.state import StateOverlay, StateReader
from runtime.transaction import Call, SignedTransaction


def make_call(pallet: str, name: str, *args: Any) -> Call:
    """A call with its arguments encoded by the runtime's declaration of it."""
    call_def = CALLS.get((pallet, name))
    if call_def is None:
        raise ValueError(f"the runtime has no call {pallet}.{name}")
    if len(args) != len(call_def.args):
        raise ValueError(f"{pallet}.{name} takes {len(call_def.args)} arguments")
    return Call(pallet, name, call_def.encode_args(tuple(args)))


@dataclass(frozen=True, slots=True)
class FeeInfo:
    """What a transaction would weigh and pay on top of a state, as `query_fee` answers."""

    weight: int
    partial_fee: int
    """The fee without the tip."""


def query_fee(read: StateReader, tx: SignedTransaction) -> FeeInfo:
    """The weight and fee (tip excluded) the transaction would pay on top of this state, on the
    fee's terms and multiplier in it."""
    call_def, args = lookup_call(tx)
    weight = system.EXTRINSIC_BASE_WEIGHT + call_def.weight(args)
    state = StateOverlay(read)
    terms = transaction_payment.params_in(state)
    multiplier = transaction_payment.current_multiplier(state)
    fee = transaction_payment.compute_fee(multiplier, len(tx.raw), weight, 0, terms)
    return FeeInfo(weight=weight, partial_fee=fee)


def account_info(read: StateReader, who: bytes) -> AccountInfo:
    """An account's record; a zero record if it does not exist."""
    info = system.Account.get(StateOverlay(read), who)
    return AccountInfo(nonce=0, free=0) if info is None else info


def freezes(read: StateReader, who: bytes) -> tuple[tuple[str, int], ...]:
    """The freezes (votes' locks) on an account: (id, amount) sorted by id; () if none."""
    return balances.freezes(StateOverlay(read), who)


def decode_events(raw: bytes) -> list[dict[str, Any]]:
    """The JSON form of a block's events as stored under system's events key."""
    records = codec.expect_array(codec.decode_raw(raw), 1_000_000, "events")
    out: list[dict[str, Any]] = []
    for i, value in enumerate(records):
        f = codec.expect_list(value, 4, f"events[{i}]")
        event = EVENTS.get((f[1], f[2]))
        if event is None:
            raise DecodeError(f"events[{i}]: unknown event {f[1]}.{f[2]}")
        args = []
        for (fname, ftype), item in zip(
            event.fields, codec.expect_list(f[3], len(event.fields), "event"), strict=True
        ):
            args.append(ftype.from_value(item, f"events[{i}].{fname}"))
        out.append({"phase": f[0], **event.to_json(tuple(args))})
    return out


def metadata() -> dict[str, Any]:
    """Every pallet's calls (with argument types and weights' docs) and events."""
    return {
        "pallets": [
            {
                "name": p.NAME,
                "calls": [
                    {"name": c.name, "args": [[n, t.name] for n, t in c.args], "doc": c.doc}
                    for c in p.calls().values()
                ],
                "events": [
                    {"name": e.name, "fields": [[n, t.name] for n, t in e.fields], "doc": e.doc}
                    for e in p.EVENTS
                ],
                "errors": [{"name": e.error_name(), "doc": e.describe()} for e in p.ERRORS],
            }
            for p in PALLETS
        ]
    }


JOB_PALLETS = ("market", "compute")


def events_by_job(events: list[dict[str, Any]]) -> dict[int, list[dict[str, Any]]]:
    """The market and compute events among `events` (decode_events' form), by the job named."""
    found: dict[int, list[dict[str, Any]]] = {}
    for event in events:
        data = event.get("data")
        if event.get("pallet") in JOB_PALLETS and isinstance(data, dict):
            job_id = data.get("job")
            if isinstance(job_id, int):
                found.setdefault(job_id, []).append(event)
    return found
