"""Signing a call, submitting it and following it: what every `xpl` command that makes a
transaction shares.

    add_submit_arguments(parser)                 # signer, --tip, --immortal, --wait, --json, --rpc
    return submit_call(args, call, {"to": ...})  # sign, submit, wait, print; the exit code

A command builds its `Call` (from its own flags, or checked against the node's metadata with
`checked_call`), then hands it here. The outcome is printed as `key: value` lines and the events
the transaction deposited, or as one JSON object with `--json`. A transaction the chain refused by
its rules (ExtrinsicFailed) exits 1 with the error's name and its explanation from the runtime's
metadata; a command that could not be sent at all raises CliError.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Mapping
from typing import Any

from chain.cli.common import add_rpc_argument, add_signer_arguments, connect, node_error, signer
from chain.cli.errors import CliError
from chain.client.chain import TransactionFailed, TxOutcome, XplClient
from chain.client.metadata import CallCheckError
from chain.client.rpc import RpcClientError, RpcConnectionError
from runtime.primitives.address import encode_address
from runtime.primitives.amount import format_amount, parse_amount
from runtime.primitives.hashing import to_hex
from runtime.transaction import Call

WAITS = ("none", "inBlock", "finalized")
DEFAULT_MORTALITY = 64
BAD_CALL_EXIT = 2
"""The exit code of a call refused before signing: unknown, or arguments that do not match."""

Found = Mapping[str, tuple[str, str, str]]
"""What a command made, to print from its events: name → (pallet, event, field)."""


def add_submit_arguments(parser: argparse.ArgumentParser, *, wait: str = "inBlock") -> None:
    """Add the options of a command that signs and submits one call."""
    add_signer_arguments(parser)
    parser.add_argument("--tip", default="0u", help="extra fee for priority, for example 0.01XPL")
    parser.add_argument(
        "--immortal",
        action="store_true",
        help=f"never expire (default: {DEFAULT_MORTALITY} blocks)",
    )
    parser.add_argument(
        "--wait", choices=WAITS, default=wait, help="how far to follow it (default: %(default)s)"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    add_rpc_argument(parser)


def checked_call(client: XplClient, pallet: str, name: str, args_json: Any) -> Call:
    """`pallet.name` with JSON arguments, checked against the node's metadata before anything is
    signed; CliError (exit code 2) naming the unknown call or the argument that does not fit."""
    try:
        return client.metadata().build_call(pallet, name, args_json)
    except CallCheckError as exc:
        raise CliError(str(exc), exit_code=BAD_CALL_EXIT) from exc
    except (RpcClientError, RpcConnectionError) as exc:
        raise node_error(exc, client.url) from exc


def checked_encoded_call(client: XplClient, pallet: str, name: str, args_json: Any) -> bytes:
    """The bytes of `pallet.name` with JSON arguments, as a proposal or a sudo call carries it,
    checked as `checked_call` checks it."""
    try:
        return client.metadata().encode_call(pallet, name, args_json)
    except CallCheckError as exc:
        raise CliError(str(exc), exit_code=BAD_CALL_EXIT) from exc
    except (RpcClientError, RpcConnectionError) as exc:
        raise node_error(exc, client.url) from exc


def parse_call_name(text: str) -> tuple[str, str]:
    """`pallet.call` split in two; CliError (exit code 2) if it is not of that form."""
    pallet, dot, name = text.partition(".")
    if not (dot and pallet and name) or "." in name:
        raise CliError(f"{text!r}: expected pallet.call, e.g. staking.bond", exit_code=2)
    return pallet, name


def parse_args_json(text: str) -> Any:
    """The `--args` JSON (an object by argument name, or a list in order); CliError (exit code 2)
    if it is not JSON."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise CliError(f"--args is not JSON: {exc}", exit_code=BAD_CALL_EXIT) from exc


def submit_call(
    args: argparse.Namespace,
    call: Call,
    summary: Mapping[str, object] | None = None,
    *,
    client: XplClient | None = None,
    inner_failure: Callable[[TxOutcome], str | None] | None = None,
    found: Found | None = None,
) -> int:
    """Sign `call` with the command's signer, submit it, follow it as `--wait` asks, print the
    outcome (with `summary`, what the command did, in words) and return the exit code: 0 when it
    succeeded (or was only submitted), 1 when the chain refused it by its rules, or when
    `inner_failure` finds in the outcome that a call it dispatched failed (the message it gives).

    `found` names what the command made, read from its events and printed first: `{"referendum":
    ("referenda", "Submitted", "index")}` prints the new referendum's index as `referendum`.
    """
    if client is None:
        with connect(args) as own:
            return submit_call(
                args, call, summary, client=own, inner_failure=inner_failure, found=found
            )
    tip = parse_amount(args.tip)
    keypair = signer(args)
    facts: dict[str, object] = {"call": f"{call.pallet}.{call.name}"}
    facts["from"] = encode_address(keypair.public)
    facts.update(summary or {})
    try:
        tx = client.sign(
            keypair, call, tip=tip, mortal_for=None if args.immortal else DEFAULT_MORTALITY
        )
        if args.wait == "none":
            facts.update(hash=to_hex(client.submit(tx)), status="submitted")
            print_result(args, facts)
            return 0

        def show(status: object) -> None:
            if not args.json:
                print(f"  status: {json.dumps(status)}")

        outcome = client.submit_and_watch(tx, until=args.wait, on_status=show)
        explanation = None if outcome.error is None else _explain(client, outcome.error)
    except (RpcClientError, RpcConnectionError) as exc:
        raise node_error(exc, args.rpc) from exc
    except TransactionFailed as exc:
        raise CliError(str(exc)) from exc
    facts.update(_found_in(outcome, found or {}))
    facts.update(outcome_json(outcome))
    facts["explanation"] = explanation
    print_result(args, facts)
    if not outcome.success:
        print(f"error: {outcome.error}: {explanation or 'refused by the chain'}", file=sys.stderr)
        return 1
    failure = None if inner_failure is None else inner_failure(outcome)
    if failure is not None:
        print(f"error: {failure}", file=sys.stderr)
        return 1
    return 0


def submit_checked(
    args: argparse.Namespace,
    pallet: str,
    name: str,
    args_json: Any,
    summary: Mapping[str, object] | None = None,
    *,
    client: XplClient | None = None,
    found: Found | None = None,
) -> int:
    """Check `pallet.name` with its JSON arguments against the node's metadata, then sign and
    submit it as `submit_call` does."""
    if client is None:
        with connect(args) as own:
            return submit_checked(args, pallet, name, args_json, summary, client=own, found=found)
    call = checked_call(client, pallet, name, args_json)
    return submit_call(args, call, summary, client=client, found=found)


def _found_in(outcome: TxOutcome, found: Found) -> dict[str, object]:
    """The values `found` names, from the first event of each kind the outcome deposited."""
    values: dict[str, object] = {}
    for key, (pallet, name, field) in found.items():
        for event in outcome.events:
            if (event["pallet"], event["event"]) == (pallet, name) and field in event["data"]:
                values[key] = event["data"][field]
                break
    return values


def _explain(client: XplClient, error: str) -> str | None:
    """The runtime's explanation of `pallet.Error` from the node's metadata, if it has one."""
    pallet, _, name = error.partition(".")
    try:
        return client.metadata().explain(pallet, name)
    except (RpcClientError, RpcConnectionError, CallCheckError):
        return None


def outcome_json(outcome: TxOutcome) -> dict[str, object]:
    """A followed transaction's outcome as the CLI prints it."""
    return {
        "hash": to_hex(outcome.tx_hash),
        "block": outcome.block_number,
        "blockHash": to_hex(outcome.block_hash),
        "finalized": outcome.finalized,
        "success": outcome.success,
        "error": outcome.error,
        "fee": format_amount(outcome.fee),
        "events": [_event_json(e) for e in outcome.events],
    }


def _event_json(event: Mapping[str, Any]) -> dict[str, Any]:
    return {"event": f"{event['pallet']}.{event['event']}", "data": event.get("data", {})}


def event_line(event: Mapping[str, Any]) -> str:
    """One event in words: `pallet.Event field=value ...`."""
    data = event.get("data") or {}
    fields = " ".join(f"{k}={_plain(v)}" for k, v in data.items())
    return f"{event['event']} {fields}".rstrip()


def _plain(value: object) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def print_result(args: argparse.Namespace, result: Mapping[str, object]) -> None:
    """The outcome as one JSON object (`--json`) or as `key: value` lines and its events."""
    if args.json:
        print(json.dumps(result))
        return
    for key, value in result.items():
        if key == "events" or value is None:
            continue
        print(f"{key:>12}: {value}")
    events = result.get("events")
    if isinstance(events, list) and events:
        print("      events:")
        for event in events:
            print(f"    {event_line(event)}")


__all__ = [
    "BAD_CALL_EXIT",
    "Found",
    "add_submit_arguments",
    "checked_call",
    "checked_encoded_call",
    "event_line",
    "outcome_json",
    "parse_args_json",
    "parse_call_name",
    "print_result",
    "submit_call",
    "submit_checked",
]
