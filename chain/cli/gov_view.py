"""`xpl gov list` and `xpl gov show REF`: the referenda, and one referendum's live tally against
the thresholds its track's curves ask for now, drawn in the terminal with rich.

`show` draws, for a referendum on a track: its state and phase with the blocks left; the tally;
approval (ayes / (ayes + nays)) and support (aye and abstain capital / the electorate) each as a
bar with the curve's threshold now marked on it; and the track's two curves over the decision
period, the column of the present highlighted. `--watch` redraws it every block until it ends.
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any, Final

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from chain.cli.common import add_rpc_argument, connect, node_error, signer
from chain.cli.errors import CliError
from chain.cli.governance import conviction_text
from chain.client.chain import XplClient
from chain.client.rpc import RpcClientError, RpcConnectionError
from runtime.primitives.address import encode_address, parse_account
from runtime.primitives.amount import format_amount

PPB: Final = 1_000_000_000
BAR_WIDTH: Final = 40
WATCH_EVERY_S: Final = 1.0


def add_view_commands(g: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `xpl gov list` and `xpl gov show`."""
    listing = g.add_parser("list", help="the ongoing and recently ended referenda")
    listing.add_argument("--json", action="store_true", help="print one JSON object")
    add_rpc_argument(listing)
    listing.set_defaults(run=_list)

    show = g.add_parser("show", help="a referendum's live tally against its track's curves")
    show.add_argument("referendum", type=int, metavar="REF")
    show.add_argument("--json", action="store_true", help="print one JSON object")
    show.add_argument("--watch", action="store_true", help="redraw every block until it ends")
    add_rpc_argument(show)
    show.set_defaults(run=_show)

    votes = g.add_parser("votes", help="an account's votes, delegations and locks per track")
    votes.add_argument("account", nargs="?", help="the account (default: the --from signer)")
    votes.add_argument("--from", dest="suri", metavar="//NAME", help="the account as a dev key")
    votes.add_argument("--json", action="store_true", help="print one JSON object")
    add_rpc_argument(votes)
    votes.set_defaults(run=_votes, key_file=None, password_env=None)


def _list(args: argparse.Namespace) -> int:
    with connect(args) as client:
        try:
            items = client.gov_referenda()
        except (RpcClientError, RpcConnectionError) as exc:
            raise node_error(exc, args.rpc) from exc
    if args.json:
        print(json.dumps(items))
        return 0
    table = Table(title=f"{len(items)} referenda")
    for column in ("ref", "track", "state", "approval", "support", "phase", "proposal"):
        table.add_column(column)
    for ref in items:
        now, needed = ref["now"], ref.get("needed")
        table.add_row(
            str(ref["index"]),
            str(ref["track"]["name"]),
            ref["state"],
            _versus(now["approvalPpb"], None if needed is None else needed["approvalPpb"]),
            _versus(now["supportPpb"], None if needed is None else needed["supportPpb"]),
            _phase_text(ref.get("phase")),
            _proposal_text(ref.get("proposal"), brief=True),
        )
    Console().print(table)
    return 0


def _show(args: argparse.Namespace) -> int:
    with connect(args) as client:
        try:
            ref = _referendum(client, args.referendum)
            if args.json:
                print(json.dumps(ref))
                return 0
            curves = _track_curves(client, ref)
            console = Console()
            if not args.watch:
                console.print(render(ref, curves))
                return 0
            period = ref.get("decisionPeriod", 0)
            with Live(render(ref, curves), console=console, auto_refresh=False) as live:
                while ref.get("phase") is not None:
                    time.sleep(WATCH_EVERY_S)
                    ref = {**_referendum(client, args.referendum), "decisionPeriod": period}
                    live.update(render(ref, curves), refresh=True)
        except (RpcClientError, RpcConnectionError) as exc:
            raise node_error(exc, args.rpc) from exc
    return 0


def _votes(args: argparse.Namespace) -> int:
    if args.account is not None:
        who = parse_account(args.account)
    elif args.suri is not None:
        who = signer(args).public
    else:
        raise CliError("name the account: an ADDRESS or --from //NAME")
    with connect(args) as client:
        try:
            report = client.rpc.call("gov_votes", encode_address(who))
        except (RpcClientError, RpcConnectionError) as exc:
            raise node_error(exc, args.rpc) from exc
    if args.json:
        print(json.dumps(report))
        return 0
    console = Console()
    console.print(f"{report['account']}: {format_amount(int(report['frozen']))} frozen by votes")
    for cls in report["classes"]:
        console.print(_class_table(cls))
    return 0


def _class_table(cls: dict[str, Any]) -> Group:
    """One track's votes, delegation and lock of an account."""
    lines: list[Any] = [
        Text.assemble(
            (f"track {cls.get('track') or cls['class']}", "bold"),
            f": {format_amount(int(cls['lock']))} locked",
        )
    ]
    delegating = cls.get("delegating")
    if delegating is not None:
        lines.append(
            f"  delegating {format_amount(int(delegating['amount']))} at "
            f"{conviction_text(int(delegating['conviction']))} to {delegating['target']}"
        )
    delegated = cls.get("delegated")
    if delegated is not None and int(delegated.get("capital", 0)):
        lines.append(
            f"  delegated to it: {format_amount(int(delegated['capital']))} "
            f"({format_amount(int(delegated['votes']))} of votes)"
        )
    prior = cls.get("prior")
    if prior is not None:
        lines.append(
            f"  still locked by past votes: {format_amount(int(prior['amount']))} "
            f"until #{prior['until']}"
        )
    if cls.get("votes"):
        table = Table()
        for column in ("ref", "aye", "nay", "abstain", "conviction", "status", "locked until"):
            table.add_column(column)
        for v in cls["votes"]:
            table.add_row(
                str(v["poll"]),
                format_amount(int(v["aye"])),
                format_amount(int(v["nay"])),
                format_amount(int(v["abstain"])),
                conviction_text(int(v["conviction"])),
                str(v["status"]),
                "—" if v.get("lockedUntil") is None else f"#{v['lockedUntil']}",
            )
        lines.append(table)
    return Group(*lines)


def _referendum(client: XplClient, index: int) -> dict[str, Any]:
    ref = client.gov_referendum(index)
    if ref is None:
        raise CliError(f"no referendum {index} on this chain (see `xpl gov list`)")
    return ref


def _track_curves(client: XplClient, ref: dict[str, Any]) -> list[list[int]]:
    """The curves of the referendum's track (noting its decision period in `ref`)."""
    track = next((t for t in client.gov_tracks() if t["id"] == ref["track"]["id"]), None)
    if track is None:
        return []
    ref["decisionPeriod"] = int(track["decisionPeriod"])
    return list(track["curve"])


def render(ref: dict[str, Any], curves: list[list[int]]) -> Group:
    """A referendum as rich renderables: its facts, its tally, approval and support against the
    thresholds the curves ask for now, and the curves over the decision period."""
    track = ref["track"]
    state = Text(ref["state"], style=_state_style(ref))
    title = Text.assemble(
        (f"Referendum {ref['index']}", "bold"),
        f" on track {track['name']} ({track['id']}): ",
        state,
    )
    facts = Table.grid(padding=(0, 2))
    facts.add_column(style="bold", justify="right")
    facts.add_column()
    facts.add_row("proposal", _proposal_text(ref.get("proposal")))
    facts.add_row("submitted", f"#{ref['submitted']} by {ref['submitter']}")
    for kind, deposit in ref["deposits"].items():
        if deposit is not None:
            facts.add_row(f"{kind} deposit", f"{format_amount(int(deposit['amount']))} held")
    facts.add_row("phase", _phase_text(ref.get("phase")))
    for label, key in (("confirming until", "confirmingUntil"), ("passes at", "passesAt")):
        if ref.get(key) is not None:
            facts.add_row(label, f"#{ref[key]}")
    if ref.get("enactment") is not None:
        facts.add_row("enactment", f"#{ref['enactment']}")
    tally = ref["tally"]
    facts.add_row(
        "tally",
        f"ayes {format_amount(int(tally['ayes']))}, nays {format_amount(int(tally['nays']))}, "
        f"support {format_amount(int(tally['support']))} of "
        f"{format_amount(int(ref['now']['electorate']))}",
    )
    needed = ref.get("needed") or {}
    bars = Table.grid(padding=(0, 1))
    bars.add_column(style="bold", justify="right")
    bars.add_column()
    bars.add_column()
    for label, key in (("approval", "approvalPpb"), ("support", "supportPpb")):
        bars.add_row(
            label, _bar(ref["now"][key], needed.get(key)), _versus(ref["now"][key], needed.get(key))
        )
    parts: list[Any] = [title, facts, bars]
    if curves:
        parts.append(_curve_table(ref, curves))
    return Group(*parts)


def _bar(value: int, needed: int | None) -> Text:
    """A bar filled to `value` (ppb) with the threshold marked as `|`: green if it is met."""
    filled = min(BAR_WIDTH, value * BAR_WIDTH // PPB)
    mark = None if needed is None else min(BAR_WIDTH - 1, needed * BAR_WIDTH // PPB)
    style = "green" if needed is not None and value >= needed else "red"
    bar = Text()
    for i in range(BAR_WIDTH):
        if i == mark:
            bar.append("|", style="bold yellow")
        else:
            bar.append("█" if i < filled else "░", style=style if i < filled else "dim")
    return bar


def _versus(value: int, needed: int | None) -> str:
    if needed is None:
        return _percent(value)
    sign = "≥" if value >= needed else "<"
    return f"{_percent(value)} {sign} {_percent(needed)} needed"


def _percent(ppb: int) -> str:
    return f"{ppb * 100 / PPB:.1f}%"


def _curve_table(ref: dict[str, Any], curves: list[list[int]]) -> Table:
    """The track's curves at each tenth of the decision period, the present marked."""
    table = Table(title="thresholds over the decision period", title_justify="left")
    for column in ("elapsed", "approval", "support", ""):
        table.add_column(column, justify="right")
    current = _current_column(ref, curves)
    for i, (x, approval, support) in enumerate(curves):
        now = i == current
        table.add_row(
            f"{x * 100 // PPB}%",
            _percent(approval),
            _percent(support),
            "◀ now" if now else "",
            style="bold" if now else None,
        )
    return table


def _current_column(ref: dict[str, Any], curves: list[list[int]]) -> int | None:
    needed = ref.get("needed")
    if ref.get("decidingSince") is None or needed is None:
        return None
    # The last sample the decision period has reached (the block read, from deciding_since).
    if ref.get("phase") is None or not curves:
        return None
    period = ref.get("decisionPeriod", 0)
    elapsed = ref["now"]["block"] - ref["decidingSince"]
    x = PPB if period <= 0 else min(PPB, elapsed * PPB // period)
    return max((i for i, (at, _, _) in enumerate(curves) if at <= x), default=0)


def _phase_text(phase: dict[str, Any] | None) -> str:
    if phase is None:
        return "ended"
    return f"{phase['name']} until #{phase['endsAt']} ({phase['blocksLeft']} blocks left)"


def _proposal_text(proposal: Any, *, brief: bool = False) -> str:
    if not isinstance(proposal, dict):
        return "—"
    if "raw" in proposal:
        return f"undecodable call {proposal['raw'][:18]}…"
    if brief:
        return f"{proposal['pallet']}.{proposal['call']}"
    args = json.dumps(proposal.get("args", {}))
    if len(args) > 60:
        args = args[:57] + "…"
    return f"{proposal['pallet']}.{proposal['call']} {args}"


def _state_style(ref: dict[str, Any]) -> str:
    return {
        "approved": "bold green",
        "confirming": "green",
        "rejected": "bold red",
        "killed": "bold red",
        "timed_out": "red",
        "cancelled": "red",
    }.get(ref["state"], "yellow")
