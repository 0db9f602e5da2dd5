"""`xpl tx`: sign and submit transactions."""

from __future__ import annotations

import argparse
import json
import re

from chain.cli.common import add_rpc_argument, add_signer_arguments, connect, node_error, signer
from chain.cli.errors import CliError
from chain.client.chain import TransactionFailed, TxOutcome, transfer_call
from chain.client.rpc import RpcClientError, RpcConnectionError
from runtime.primitives.address import encode_address, parse_account
from runtime.primitives.amount import format_amount, parse_amount
from runtime.primitives.hashing import to_hex


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `xpl tx` and its subcommands."""
    tx = sub.add_parser("tx", help="sign and submit transactions")
    tx_sub = tx.add_subparsers(dest="tx_command", metavar="TX", required=True)
    t = tx_sub.add_parser("transfer", help="transfer XPL to an account")
    # Let `--amount -5XPL` reach the amount parser (which explains that amounts are not negative)
    # instead of argparse taking it for an option.
    t._negative_number_matcher = re.compile(r"^-\d")
    add_signer_arguments(t)
    t.add_argument("--to", required=True, help="the receiving address (or //Name)")
    t.add_argument("--amount", required=True, help="for example 12.5XPL")
    t.add_argument("--tip", default="0u", help="extra fee for priority, for example 0.01XPL")
    t.add_argument("--keep-alive", action="store_true", help="refuse to reap the sender")
    t.add_argument("--immortal", action="store_true", help="never expire (default: 64 blocks)")
    t.add_argument("--wait", choices=["none", "inBlock", "finalized"], default="none")
    t.add_argument("--json", action="store_true", help="print one JSON object")
    add_rpc_argument(t)
    t.set_defaults(run=transfer)


def transfer(args: argparse.Namespace) -> int:
    """`xpl tx transfer`: sign a transfer, submit it and wait for it as asked."""
    keypair = signer(args)
    dest = parse_account(args.to)
    amount = parse_amount(args.amount)
    tip = parse_amount(args.tip)
    with connect(args) as client:
        try:
            tx = client.sign(
                keypair,
                transfer_call(dest, amount, keep_alive=args.keep_alive),
                tip=tip,
                mortal_for=None if args.immortal else 64,
            )
            if args.wait == "none":
                tx_hash = client.submit(tx)
                _print(args, {"hash": to_hex(tx_hash), "status": "submitted"})
                return 0

            def show(status: object) -> None:
                if not args.json:
                    print(f"  status: {json.dumps(status)}")

            outcome = client.submit_and_watch(tx, until=args.wait, on_status=show)
        except (RpcClientError, RpcConnectionError) as exc:
            raise node_error(exc, args.rpc) from exc
        except TransactionFailed as exc:
            raise CliError(str(exc)) from exc
    _print(args, _outcome_json(outcome, keypair.public, dest, amount))
    return 0 if outcome.success else 1


def _outcome_json(outcome: TxOutcome, sender: bytes, dest: bytes, amount: int) -> dict[str, object]:
    return {
        "hash": to_hex(outcome.tx_hash),
        "from": encode_address(sender),
        "to": encode_address(dest),
        "amount": format_amount(amount),
        "block": outcome.block_number,
        "blockHash": to_hex(outcome.block_hash),
        "finalized": outcome.finalized,
        "success": outcome.success,
        "error": outcome.error,
        "fee": format_amount(outcome.fee),
    }


def _print(args: argparse.Namespace, result: dict[str, object]) -> None:
    if args.json:
        print(json.dumps(result))
        return
    for key, value in result.items():
        if value is not None:
            print(f"{key:>10}: {value}")
