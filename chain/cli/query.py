"""`xpl query`: read the chain's state through a node, optionally checked by a proof."""

from __future__ import annotations

import argparse
import json

from chain.cli.common import add_rpc_argument, connect, node_error
from chain.cli.errors import CliError
from chain.client.rpc import RpcClientError, RpcConnectionError
from runtime.pallets import system
from runtime.primitives import trie
from runtime.primitives.address import encode_address, parse_account
from runtime.primitives.amount import format_amount
from runtime.primitives.hashing import from_hex, to_hex


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `xpl query` and its subcommands."""
    q = sub.add_parser("query", help="read the chain's state")
    q_sub = q.add_subparsers(dest="query_command", metavar="WHAT", required=True)
    b = q_sub.add_parser("balance", help="an account's balance and nonce")
    b.add_argument("address", help="an address, 0x public key or //Name")
    b.add_argument("--at", help="a block hash (default: the best block)")
    b.add_argument(
        "--proof",
        action="store_true",
        help="check the answer with a Merkle proof against the finalized block's state root",
    )
    b.add_argument("--json", action="store_true")
    add_rpc_argument(b)
    b.set_defaults(run=balance)

    h = q_sub.add_parser("head", help="the best and finalized blocks")
    h.add_argument("--json", action="store_true")
    add_rpc_argument(h)
    h.set_defaults(run=head)


def balance(args: argparse.Namespace) -> int:
    """`xpl query balance`: an account's balance and nonce, checked by a proof if asked."""
    who = parse_account(args.address)
    at = from_hex(args.at, length=32, what="--at") if args.at else None
    with connect(args) as client:
        try:
            if args.proof:
                result = _proven_balance(client.rpc, who, at)
            else:
                account = client.account(who, at=at)
                result = {
                    "address": encode_address(who),
                    "free": format_amount(account.free),
                    "reserved": format_amount(account.reserved),
                    "total": format_amount(account.total),
                    "nonce": account.nonce,
                }
        except (RpcClientError, RpcConnectionError) as exc:
            raise node_error(exc, args.rpc) from exc
    if args.json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            print(f"{key:>9}: {value}")
    return 0


def _proven_balance(rpc: object, who: bytes, at: bytes | None) -> dict[str, object]:
    from chain.client.rpc import RpcClient

    assert isinstance(rpc, RpcClient)
    block_hash = at if at is not None else from_hex(rpc.call("chain_getFinalizedHead"), length=32)
    header = rpc.call("chain_getHeader", to_hex(block_hash))
    if header is None:
        raise CliError(f"the node does not know block {to_hex(block_hash)}")
    key = system.Account.key(who)
    answer = rpc.call("state_getReadProof", [to_hex(key)], to_hex(block_hash))
    proof = [from_hex(node, what="proof node") for node in answer["proof"]]
    root = from_hex(header["stateRoot"], length=32)
    try:
        raw = trie.verify_proof(root, proof, [key])[key]
    except trie.InvalidProof as exc:
        raise CliError(f"the node's proof does not check out: {exc}") from exc
    account = system.Account.decode(raw) if raw is not None else system.AccountInfo(0, 0)
    return {
        "address": encode_address(who),
        "free": format_amount(account.free),
        "reserved": format_amount(account.reserved),
        "total": format_amount(account.total),
        "nonce": account.nonce,
        "proven": f"against the state root of block #{int(header['number'], 16)} {to_hex(root)}",
    }


def head(args: argparse.Namespace) -> int:
    """`xpl query head`: the best and finalized blocks."""
    with connect(args) as client:
        try:
            best = client.header()
            finalized = client.header(client.finalized_hash())
        except (RpcClientError, RpcConnectionError) as exc:
            raise node_error(exc, args.rpc) from exc
    result = {
        "best": int(best["number"], 16),
        "bestHash": best["hash"],
        "finalized": int(finalized["number"], 16),
        "finalizedHash": finalized["hash"],
    }
    if args.json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            print(f"{key:>13}: {value}")
    return 0
