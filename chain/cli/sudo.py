"""`xpl sudo`: on a development chain, the sudo key (//Alice on `--dev`) makes any call as Root.

    xpl sudo compute.set_params --args '{...}' --from //Alice

The inner call is checked against the node's metadata before anything is signed, as `xpl tx
call` checks it. The sudo call succeeds when the key may use sudo; whether the inner call did is
in its `Sudid` event: a refused inner call exits 1 naming its error and why.
"""

from __future__ import annotations

import argparse

from chain.cli.common import connect
from chain.cli.submit import (
    add_submit_arguments,
    checked_call,
    checked_encoded_call,
    parse_args_json,
    parse_call_name,
    submit_call,
)
from chain.client.chain import TxOutcome
from runtime.primitives.hashing import to_hex


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `xpl sudo`."""
    s = sub.add_parser(
        "sudo", help="make any call as Root with the sudo key (development chains only)"
    )
    s.add_argument("call", metavar="PALLET.CALL", help="for example compute.set_params")
    s.add_argument(
        "--args",
        default="[]",
        metavar="JSON",
        help="the inner call's arguments: an object by name or a list in order",
    )
    add_submit_arguments(s)
    s.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Check the inner call, wrap it in `sudo.sudo`, sign and submit it; exit 1 if either the
    sudo call or the call it dispatched failed."""
    pallet, name = parse_call_name(args.call)
    args_json = parse_args_json(args.args)
    with connect(args) as client:
        raw = checked_encoded_call(client, pallet, name, args_json)
        outer = checked_call(client, "sudo", "sudo", [to_hex(raw)])
        summary = {"inner": f"{pallet}.{name}"}
        return submit_call(args, outer, summary, client=client, inner_failure=sudid_failure)


def sudid_failure(outcome: TxOutcome) -> str | None:
    """What the `Sudid` event says went wrong with the inner call, or None if it went well."""
    for event in outcome.events:
        if (event["pallet"], event["event"]) == ("sudo", "Sudid") and not event["data"]["ok"]:
            data = event["data"]
            return f"{data['call']} failed as Root: {data['error']}: {data['reason']}"
    return None
