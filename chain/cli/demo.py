"""`xpl demo`: a dev node; transfers, then the compute market end to end; a clean stop.

The market part (chain.cli.demo_market) runs real jobs through `xpl worker` processes: the digits
classifier as a qmlp_i8 job and a gemm_i8 job, audited by the node's validator, paid on chain,
then a worker started with --cheat caught by an audit and slashed.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from chain.cli.demo_market import (
    DEMO_AUDIT_WINDOW,
    DEMO_DISPUTE_WINDOW,
    demo_spec_json,
    run_market,
)
from chain.cli.errors import CliError
from chain.client import TransactionFailed, TxOutcome, XplClient, transfer_call
from chain.rpc.client import RpcClientError, RpcConnectionError
from runtime.accounts import TREASURY
from runtime.primitives.address import encode_address
from runtime.primitives.amount import format_amount, parse_amount
from runtime.primitives.keys import dev_keypair

NAMES = ("Alice", "Bob", "Charlie", "Dave")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    d = sub.add_parser("demo", help="watch a dev chain work, end to end")
    d.add_argument("--keep", action="store_true", help="keep the node's directory afterwards")
    d.add_argument("--no-market", action="store_true", help="only the transfers, no compute jobs")
    d.set_defaults(run=run)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_node(client: XplClient, process: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise CliError(f"the node exited with code {process.returncode} while starting")
        try:
            if client.best_number() >= 1:
                return
        except (RpcConnectionError, RpcClientError):
            pass
        time.sleep(0.2)
    raise CliError(f"the node did not answer within {timeout:.0f} s")


def run(args: argparse.Namespace) -> int:
    # Tables are wide: give them room even when the output is not a terminal.
    console = Console(width=None if sys.stdout.isatty() else 110)
    base = Path(tempfile.mkdtemp(prefix="xpl-demo-"))
    rpc_port, metrics_port = free_port(), free_port()
    log_path = base / "node.log"
    console.rule("[bold]XPL demo: a dev chain on this machine")
    spec_path = base / "demo-spec.json"
    spec_path.write_text(json.dumps(demo_spec_json(), indent=2))
    console.print(
        f"starting [bold]xpl node[/] on the dev chain with short verification windows "
        f"(audits {DEMO_AUDIT_WINDOW} blocks, disputes {DEMO_DISPUTE_WINDOW} blocks); "
        f"database and logs in {base}"
    )
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "chain.cli.main",
                "node",
                "--chain",
                str(spec_path),
                "--validator",
                "--dev-key",
                "//Alice",
                "--base-path",
                str(base),
                "--rpc-port",
                str(rpc_port),
                "--prometheus-port",
                str(metrics_port),
                "--port",
                "0",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        try:
            client = XplClient(f"http://127.0.0.1:{rpc_port}")
            wait_for_node(client, process, timeout=30)
            console.print(
                f"node up: RPC http://127.0.0.1:{rpc_port}, metrics "
                f"http://127.0.0.1:{metrics_port}/metrics, chain {client.rpc.call('system_chain')}"
            )
            _show_transfers(console, client)
            if not args.no_market:
                run_market(console, client, base, f"http://127.0.0.1:{rpc_port}")
            client.close()
        finally:
            code = _stop(process)
    console.print(
        f"node stopped cleanly (exit code {code})" if code == 0 else f"node exit code {code}"
    )
    if not args.keep:
        import shutil

        shutil.rmtree(base, ignore_errors=True)
    return 0 if code == 0 else 1


def _balances(client: XplClient) -> dict[str, int]:
    found = {name: client.account(dev_keypair(name).public).free for name in NAMES}
    found["Treasury"] = client.account(TREASURY).free
    return found


def _show_transfers(console: Console, client: XplClient) -> None:
    before = _balances(client)
    plan = [
        ("Alice", "Bob", "12.5XPL", "0u"),
        ("Bob", "Charlie", "3XPL", "0u"),
        ("Charlie", "Dave", "1.25XPL", "0.01XPL"),
        ("Dave", "Alice", "2000000XPL", "0u"),
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
        "nonce. Fees go 20% to the block author (Alice) and 80% to the treasury; tips go to the "
        "author."
    )
    head = client.header()
    console.print(
        f"best block #{int(head['number'], 16)}, finalized #{client.finalized_number()}, "
        f"state root {head['stateRoot'][:18]}..."
    )


def _stop(process: subprocess.Popen[bytes]) -> int:
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    return process.returncode
