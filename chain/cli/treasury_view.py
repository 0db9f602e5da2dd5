"""`xpl treasury status`, `xpl bounty list` and `xpl grant list`: what the treasury holds, owes
and has paid, and the bounties and grants it funds, as tables in the terminal (rich), or as the
node's JSON with `--json`."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from typing import Any

from rich.console import Console
from rich.table import Table

from chain.cli.common import connect, node_error
from chain.client.rpc import RpcClientError, RpcConnectionError
from runtime.primitives.amount import format_amount


def show(args: argparse.Namespace) -> int:
    """Ask the node `args.method` and print its answer (`--json`: as it came)."""
    with connect(args) as client:
        try:
            result = client.rpc.call(args.method)
        except (RpcClientError, RpcConnectionError) as exc:
            raise node_error(exc, args.rpc) from exc
    if args.json:
        print(json.dumps(result))
        return 0
    RENDERERS[args.method](result, Console())
    return 0


def _xpl(value: Any) -> str:
    return "—" if value is None else format_amount(int(value))


def _short(address: Any) -> str:
    return "—" if not address else f"{address[:8]}…{address[-6:]}"


def render_status(status: dict[str, Any], console: Console) -> None:
    """The treasury's funds, its next burn, its ledger and its pending spends."""
    funds = Table.grid(padding=(0, 2))
    funds.add_column(style="bold", justify="right")
    funds.add_column()
    funds.add_row("balance", _xpl(status["balance"]))
    funds.add_row("available", _xpl(status["available"]))
    funds.add_row("promised", _xpl(status["promised"]))
    funds.add_row(
        "next burn",
        f"{_xpl(status['nextBurn'])} at #{status['nextSpendPeriodAt']} "
        f"(every {status['spendPeriod']} blocks; now #{status['block']})",
    )
    console.print(funds)
    ledger = status.get("ledger") or {}
    book = Table(title="ledger", title_justify="left")
    book.add_column("income")
    book.add_column("", justify="right")
    book.add_column("paid")
    book.add_column("", justify="right")
    income = list((ledger.get("income") or {}).items())
    paid = [*(ledger.get("paid") or {}).items(), ("burned", ledger.get("burned", 0))]
    for i in range(max(len(income), len(paid))):
        src, got = income[i] if i < len(income) else ("", None)
        what, out = paid[i] if i < len(paid) else ("", None)
        book.add_row(src, "" if got is None else _xpl(got), what, "" if out is None else _xpl(out))
    console.print(book)
    _spends_table("pending spends", status.get("pendingSpends") or [], console)
    _spends_table("recent spends", status.get("recentSpends") or [], console)


def _spends_table(title: str, spends: list[dict[str, Any]], console: Console) -> None:
    if not spends:
        console.print(f"{title}: none")
        return
    table = Table(title=title, title_justify="left")
    for column in ("spend", "amount", "beneficiary", "from", "expires", "origin", "status"):
        table.add_column(column)
    for s in spends:
        table.add_row(
            str(s["index"]),
            _xpl(s["amount"]),
            _short(s["beneficiary"]),
            f"#{s['validFrom']}",
            f"#{s['expireAt']}",
            str(s["origin"]),
            str(s["status"]),
        )
    console.print(table)


def render_bounties(bounties: list[dict[str, Any]], console: Console) -> None:
    """The bounties (and their child bounties, indented) with their state and people."""
    table = Table(title=f"{len(bounties)} bounties", title_justify="left")
    for column in ("bounty", "status", "value", "curator", "fee", "beneficiary", "description"):
        table.add_column(column)
    for b in bounties:
        rows = [(str(b["id"]), b), *((f"  {b['id']}.{c['id']}", c) for c in b.get("children", []))]
        for label, item in rows:
            table.add_row(
                label,
                str(item["status"]),
                _xpl(item["value"]),
                _short(item.get("curator")),
                _xpl(item.get("fee")),
                _short(item.get("beneficiary")),
                str(item.get("description", ""))[:40],
            )
    console.print(table)


def render_grants(grants: list[dict[str, Any]], console: Console) -> None:
    """The compute grants: whose, how much is left, until when."""
    table = Table(title=f"{len(grants)} grants", title_justify="left")
    for column in ("grant", "builder", "awarded", "free", "held", "max price", "expires", "open"):
        table.add_column(column)
    for g in grants:
        table.add_row(
            str(g["id"]),
            _short(g["builder"]),
            _xpl(g["awarded"]),
            _xpl(g["free"]),
            _xpl(g["held"]),
            _xpl(g["maxPrice"]),
            f"#{g['expiresAt']}",
            "closed" if g["closed"] else "open",
        )
    console.print(table)


RENDERERS: dict[str, Callable[[Any, Console], None]] = {
    "treasury_status": render_status,
    "treasury_bounties": render_bounties,
    "grants_list": render_grants,
}
