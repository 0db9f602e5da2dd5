"""`xpl tx`: sign and submit transactions.

    xpl tx transfer --from //Alice --to ADDRESS --amount 12.5XPL
    xpl tx call staking.bond --args '{"value": "100XPL"}' --from //Alice

`tx call` reaches every call of the runtime: its arguments (a JSON object by name, or a list in
order) are checked against the node's metadata before anything is signed.
"""

from __future__ import annotations

import argparse
import json
import re

from chain.cli.common import add_rpc_argument, connect, node_error
from chain.cli.errors import CliError
from chain.cli.submit import (
    add_submit_arguments,
    checked_call,
    parse_args_json,
    parse_call_name,
    submit_call,
)
from chain.client.chain import transfer_call
from chain.client.rpc import RpcClientError, RpcConnectionError
from runtime.primitives.address import encode_address, parse_account
from runtime.primitives.amount import format_amount, parse_amount


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `xpl tx` and its subcommands."""
    tx = sub.add_parser("tx", help="sign and submit transactions")
    tx_sub = tx.add_subparsers(dest="tx_command", metavar="TX", required=True)
    t = tx_sub.add_parser("transfer", help="transfer XPL to an account")
    # Let `--amount -5XPL` reach the amount parser (which explains that amounts are not negative)
    # instead of argparse taking it for an option.
    t._negative_number_matcher = re.compile(r"^-\d")
    t.add_argument("--to", required=True, help="the receiving address (or //Name)")
    t.add_argument("--amount", required=True, help="for example 12.5XPL")
    t.add_argument("--keep-alive", action="store_true", help="refuse to reap the sender")
    add_submit_arguments(t, wait="none")
    t.set_defaults(run=transfer)

    c = tx_sub.add_parser(
        "call",
        help="make any call of the runtime, its arguments checked against the node's metadata",
    )
    c.add_argument("call", metavar="PALLET.CALL", help="for example staking.bond")
    c.add_argument(
        "--args",
        default="[]",
        metavar="JSON",
        help='the arguments: an object by name (\'{"value": "100XPL"}\') or a list in order',
    )
    add_submit_arguments(c)
    c.set_defaults(run=call)

    listing = tx_sub.add_parser("calls", help="the node's calls, their arguments and types")
    listing.add_argument("pallet", nargs="?", help="only this pallet's calls")
    listing.add_argument("--json", action="store_true", help="print one JSON object")
    add_rpc_argument(listing)
    listing.set_defaults(run=list_calls)


def transfer(args: argparse.Namespace) -> int:
    """`xpl tx transfer`: sign a transfer, submit it and wait for it as asked."""
    dest = parse_account(args.to)
    amount = parse_amount(args.amount)
    summary = {"to": encode_address(dest), "amount": format_amount(amount)}
    return submit_call(args, transfer_call(dest, amount, keep_alive=args.keep_alive), summary)


def list_calls(args: argparse.Namespace) -> int:
    """`xpl tx calls`: every call the node's runtime has (or one pallet's), as `tx call` takes
    them: `pallet.call name: type, ...` and the first line of its doc."""
    with connect(args) as client:
        try:
            metadata = client.metadata()
        except (RpcClientError, RpcConnectionError) as exc:
            raise node_error(exc, args.rpc) from exc
    if args.pallet is not None and args.pallet not in metadata.pallets:
        known = ", ".join(sorted(metadata.pallets))
        raise CliError(f"unknown pallet {args.pallet!r} (the node's pallets: {known})", exit_code=2)
    infos = [
        info
        for p in metadata.pallets.values()
        if args.pallet in (None, p.name)
        for info in p.calls.values()
    ]
    if args.json:
        print(
            json.dumps(
                [{"call": f"{i.pallet}.{i.name}", "args": i.args, "doc": i.doc} for i in infos]
            )
        )
        return 0
    for info in infos:
        arguments = ", ".join(f"{n}: {t}" for n, t in info.args)
        doc = info.doc.strip().splitlines()[0] if info.doc.strip() else ""
        print(f"{info.pallet}.{info.name}({arguments})")
        if doc:
            print(f"    {doc}")
    return 0


def call(args: argparse.Namespace) -> int:
    """`xpl tx call`: check a call against the node's metadata, then sign and submit it."""
    pallet, name = parse_call_name(args.call)
    args_json = parse_args_json(args.args)
    with connect(args) as client:
        built = checked_call(client, pallet, name, args_json)
        return submit_call(args, built, client=client)
