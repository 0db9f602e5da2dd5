"""`xpl demo`: a local validator network; transfers, governance (a referendum from submission to
enactment and a treasury spend), then the compute market end to end; a clean stop.

Three validator processes (`chain.localnet`) author and finalize over libp2p. The market part
(chain.cli.demo_market) runs real jobs through `xpl worker` processes attached to other nodes than
the requester's: the digits classifier as a qmlp_i8 job and a gemm_i8 job, audited by the
validators, paid on chain, then a worker started with --cheat caught by an audit and slashed.
The governance part (chain.cli.demo_governance) runs before it on the chain's fast referendum
tracks.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

from rich.console import Console
from rich.table import Table

from chain.cli.demo_governance import run_governance
from chain.cli.demo_market import (
    CHEATER,
    DEMO_COMMIT_WINDOW,
    DEMO_DISPUTE_WINDOW,
    VALIDATORS,
    WORKER,
    demo_spec_json,
    run_market,
)
from chain.cli.errors import CliError
from chain.client.chain import TransactionFailed, TxOutcome, XplClient, transfer_call
from chain.core.finality import Justification
from chain.localnet import Localnet, LocalnetError
from chain.spec import ChainSpec
from runtime.accounts import TREASURY
from runtime.primitives.address import encode_address
from runtime.primitives.amount import format_amount, parse_amount
from runtime.primitives.hashing import from_hex
from runtime.primitives.keys import dev_keypair

NAMES = ("Dave", "Eve", "Ferdie", "Alice")
"""The transfers' accounts. The senders are not validators: a validator's node signs its own
transactions (attestations, noted votes, reports) with the validator's account, so a transfer
from that account could race them for a nonce."""


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `xpl demo`."""
    d = sub.add_parser("demo", help="watch a local validator network work, end to end")
    d.add_argument("--keep", action="store_true", help="keep the nodes' directory afterwards")
    d.add_argument("--no-market", action="store_true", help="no compute jobs")
    d.add_argument(
        "--no-governance", action="store_true", help="no referenda and no treasury spend"
    )
    d.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """`xpl demo`: start the validators; show the network, transfers, governance, the market
    and finality; stop them."""
    # Tables are wide: give them room even when the output is not a terminal.
    console = Console(width=None if sys.stdout.isatty() else 110)
    base = Path(tempfile.mkdtemp(prefix="xpl-demo-"))
    console.rule("[bold]XPL demo: a validator network on this machine")
    spec = ChainSpec.from_json(demo_spec_json())
    net = Localnet(base, validators=len(VALIDATORS), spec=spec)
    console.print(
        f"starting {len(VALIDATORS)} validators ({', '.join('//' + v for v in VALIDATORS)}) as "
        f"[bold]xpl node[/] processes on 127.0.0.1, connected over libp2p; short verification "
        f"windows (commitments and reveals {DEMO_COMMIT_WINDOW} blocks each, disputes "
        f"{DEMO_DISPUTE_WINDOW} blocks); "
        f"databases and logs in {base}"
    )
    code = 1
    try:
        with console.status("starting the nodes..."):
            net.start()
            try:
                net.wait_finalized(2)
            except LocalnetError as exc:
                raise CliError(str(exc)) from exc
        _show_network(console, net)
        by_name = {node.name: node for node in net.nodes}
        with by_name["alice"].client() as client:
            _show_transfers(console, client)
            if not args.no_governance:
                run_governance(console, client)
            if not args.no_market:
                run_market(
                    console,
                    client,
                    base,
                    {WORKER: by_name["bob"].rpc_url, CHEATER: by_name["charlie"].rpc_url},
                )
            _show_finality(console, client)
    finally:
        codes = net.stop()
        code = 0 if all(c == 0 for c in codes.values()) else 1
    console.print(
        "every node stopped cleanly"
        if code == 0
        else f"exit codes: {', '.join(f'{n} {c}' for n, c in codes.items())}"
    )
    if not args.keep:
        shutil.rmtree(base, ignore_errors=True)
    return code


def _show_network(console: Console, net: Localnet) -> None:
    table = Table(title="The network")
    for column in ("node", "RPC", "p2p port", "peers", "best", "finalized", "GRANDPA"):
        table.add_column(column)
    for node in net.nodes:
        with node.client() as client:
            health = client.health()
            state = client.rpc.call("grandpa_roundState")
            table.add_row(
                node.name,
                node.rpc_url,
                str(node.p2p_port),
                str(health["peers"]),
                f"#{client.best_number()}",
                f"#{client.finalized_number()}",
                f"set {state['setId']}, round {state['round']}",
            )
    console.print(table)
    console.print(
        "blocks are authored in turn (Aura, 1 s slots) and finalized by GRANDPA rounds of "
        "prevotes and precommits: more than 2/3 of the bonded stake must precommit"
    )


def _show_finality(console: Console, client: XplClient) -> None:
    head = client.header()
    final = client.finalized_hash()
    justification = client.block(final)["justifications"]
    voters = len(Justification.decode(from_hex(justification[0])).voters) if justification else 0
    console.print(
        f"best block #{int(head['number'], 16)}, finalized #{client.finalized_number()} "
        f"(its justification: {voters} signed precommits)"
    )


def _balances(client: XplClient) -> dict[str, int]:
    found = {name: client.account(dev_keypair(name).public).free for name in NAMES}
    found["Treasury"] = client.account(TREASURY).free
    return found


def _show_transfers(console: Console, client: XplClient) -> None:
    before = _balances(client)
    plan = [
        ("Dave", "Eve", "12.5XPL", "0u"),
        ("Eve", "Ferdie", "3XPL", "0u"),
        ("Ferdie", "Alice", "1.25XPL", "0.01XPL"),
        ("Eve", "Dave", "2000000XPL", "0u"),
    ]
    outcomes: list[tuple[str, str, str, TxOutcome]] = []
    with console.status("sending transfers and waiting for finality...") as status:
        for sender, receiver, amount, tip in plan:
            keypair = dev_keypair(sender)
            tx = client.sign(
                keypair,
                transfer_call(dev_keypair(receiver).public, parse_amount(amount)),
                tip=parse_amount(tip),
            )
            status.update(f"{sender} -> {receiver} {amount}: submitted, waiting for finality")
            try:
                outcome = client.submit_and_watch(tx, until="finalized", timeout=30)
            except TransactionFailed as exc:
                raise CliError(f"the transfer {sender} -> {receiver} failed: {exc}") from exc
            outcomes.append((sender, receiver, amount, outcome))
    table = Table(title="Transfers (each followed to finality)")
    for column in ("from", "to", "amount", "block", "result", "fee paid"):
        table.add_column(column)
    for sender, receiver, amount, outcome in outcomes:
        result = "[green]success[/]" if outcome.success else f"[red]failed: {outcome.error}[/]"
        table.add_row(
            sender, receiver, amount, f"#{outcome.block_number}", result, format_amount(outcome.fee)
        )
    console.print(table)
    after = _balances(client)
    balances = Table(title="Balances")
    for column in ("account", "address", "before", "after", "change"):
        balances.add_column(column)
    for name, value in after.items():
        who = TREASURY if name == "Treasury" else dev_keypair(name).public
        change = value - before[name]
        sign = "+" if change >= 0 else "-"
        balances.add_row(
            name,
            encode_address(who)[:12] + "...",
            format_amount(before[name]),
            format_amount(value),
            sign + format_amount(abs(change)),
        )
    console.print(balances)
    fees = sum(o.fee for *_, o in outcomes)
    console.print(
        f"fees paid: {format_amount(fees)}; the failed transfer still paid its fee and used its "
        "nonce. Fees go 20% to the block's author (a validator) and 80% to the treasury; tips go "
        "to the author."
    )
    head = client.header()
    console.print(
        f"best block #{int(head['number'], 16)}, finalized #{client.finalized_number()}, "
        f"state root {head['stateRoot'][:18]}..."
    )
