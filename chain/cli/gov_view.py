"""`xpl gov list` and `xpl gov show REF`: the referenda, and one referendum's live tally against
its curves' thresholds, drawn in the terminal with rich."""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from chain.cli.common import add_rpc_argument, connect, node_error
from chain.cli.errors import CliError
from chain.client.governance import referenda, referendum
from chain.client.rpc import RpcClientError, RpcConnectionError

PPB = 1_000_000_000
BAR_WIDTH = 40


def add_view_commands(g: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `xpl gov list` and `xpl gov show`."""
    listing = g.add_parser("list", help="the referenda: state, track, tally")
    listing.add_argument("--json", action="store_true", help="print one JSON object")
    add_rpc_argument(listing)
    listing.set_defaults(run=_list)

    show = g.add_parser("show", help="a referendum's tally against its curves, time left")
    show.add_argument("referendum", type=int, metavar="REF")
    show.add_argument("--json", action="store_true", help="print one JSON object")
    show.add_argument("--watch", action="store_true", help="redraw every block until it ends")
    add_rpc_argument(show)
    show.set_defaults(run=_show)


def _list(args: argparse.Namespace) -> int:
    with connect(args) as client:
        try:
            items = referenda(client)
        except (RpcClientError, RpcConnectionError) as exc:
            raise node_error(exc, args.rpc) from exc
    if args.json:
        print(json.dumps(items))
        return 0
    table = Table(title="referenda")
    for column in ("ref", "track", "state", "ayes", "nays", "support", "proposal"):
        table.add_column(column)
    for item in items:
        table.add_row(
            *(
                _cell(item.get(c))
                for c in ("index", "track", "state", "ayes", "nays", "support", "proposal")
            )
        )
    Console().print(table)
    return 0


def _cell(value: Any) -> str:
    if isinstance(value, dict):
        return str(value.get("name") or value.get("call") or json.dumps(value))
    return "" if value is None else str(value)


def _show(args: argparse.Namespace) -> int:
    with connect(args) as client:
        try:
            found = referendum(client, args.referendum)
            if found is None:
                raise CliError(f"no referendum {args.referendum}")
            if args.json:
                print(json.dumps(found))
                return 0
            console = Console()
            if not args.watch:
                console.print(render(found))
                return 0
            with Live(render(found), console=console, refresh_per_second=2) as live:
                while found is not None and found.get("ongoing", True):
                    time.sleep(1.0)
                    found = referendum(client, args.referendum)
                    if found is not None:
                        live.update(render(found))
        except (RpcClientError, RpcConnectionError) as exc:
            raise node_error(exc, args.rpc) from exc
    return 0


def render(ref: dict[str, Any]) -> Group:
    """A referendum as rich renderables: its facts, then approval and support against the
    thresholds the curves ask for now."""
    facts = Table.grid(padding=(0, 2))
    for key, value in ref.items():
        if not isinstance(value, dict | list):
            facts.add_row(Text(str(key), style="bold"), str(value))
    return Group(facts)
