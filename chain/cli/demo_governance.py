"""The governance part of `xpl demo`: a referendum from submission to enactment, and a treasury
spend paid out.

The demo's chain runs the local spec's fast referendum tracks (`referenda.fast_tracks()`: periods
of a few one-second blocks), so both referenda decide within about twenty seconds:
- //Ferdie proposes on the `root` track to raise the share of jobs the validators audit
  (compute.set_params: audit_ppm 650,000 → 800,000) and places its decision deposit;
- //Dave gives the treasury 1,000 XPL, and //Eve proposes on the `small_spender` track to pay a
  builder 250 XPL from it;
- //Dave (1x conviction: his vote is locked for one lock period after a win) and //Eve (0.1x, no
  lock) vote aye on both.
Each referendum is followed block by block through its states (preparing, deciding, confirming,
approved) to its enactment by the scheduler; then the builder's spend is claimed and the
deposits refunded.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any, Final

from rich.console import Console
from rich.table import Table

from chain.cli.errors import CliError
from chain.client.chain import TransactionFailed, XplClient, make_call
from runtime import dispatch
from runtime.accounts import TREASURY
from runtime.primitives.address import decode_address
from runtime.primitives.amount import format_amount, parse_amount
from runtime.primitives.keys import Keypair, dev_keypair, keypair_from_suri

PROPOSER: Final = "Ferdie"
SPENDER: Final = "Eve"
VOTERS: Final = (("Dave", 1), ("Eve", 0))
"""Who votes aye on both referenda, with which conviction (0: 0.1x, no lock)."""
VOTE: Final = parse_amount("400000XPL")
"""Each voter's capital: the two together are 13% of the issuance, above the 10% support the
fast tracks ask for at the start of their decision periods."""
NEW_AUDIT_PPM: Final = 800_000
DONATION: Final = parse_amount("1000XPL")
SPEND: Final = parse_amount("250XPL")
BUILDER_URI: Final = "//Builder"
FOLLOW_TIMEOUT_S: Final = 90.0
STATE_WORDS: Final = {
    "submitted": "submitted, waiting for its decision deposit",
    "preparing": "preparing",
    "queued": "queued for a deciding place",
    "deciding": "deciding",
    "confirming": "confirming",
    "approved": "approved",
    "rejected": "rejected",
    "timed_out": "timed out",
    "cancelled": "cancelled",
    "killed": "killed",
}


@dataclasses.dataclass
class Referendum:
    """One of the demo's referenda and what it went through."""

    index: int
    label: str
    call: str
    states: list[tuple[int, str]] = dataclasses.field(default_factory=list)
    enacted: dict[str, Any] | None = None
    enacted_at: int | None = None


def _names() -> dict[bytes, str]:
    names = {dev_keypair(n).public: n for n in ("Alice", "Bob", "Charlie", "Dave", "Eve", "Ferdie")}
    names[keypair_from_suri(BUILDER_URI).public] = "Builder"
    names[TREASURY] = "Treasury"
    return names


NAMES: Final = _names()


def _who(address: str) -> str:
    return NAMES.get(decode_address(address), address[:10] + "...")


def _percent(ppb: int) -> str:
    return f"{ppb / 10**7:.1f}%"


def _make(client: XplClient, who: str, pallet: str, name: str, *args: Any) -> dict[str, Any]:
    """`//who` makes pallet.name and waits for its block; CliError if the chain refuses it."""
    call = make_call(pallet, name, *args)
    try:
        outcome = client.submit_and_watch(
            client.sign(dev_keypair(who), call), until="inBlock", timeout=30
        )
    except TransactionFailed as exc:
        raise CliError(f"//{who}'s {pallet}.{name} was not included: {exc}") from exc
    if not outcome.success:
        raise CliError(f"//{who}'s {pallet}.{name} failed: {outcome.error}")
    return {"block": outcome.block_number, "events": outcome.events}


def _found(made: dict[str, Any], pallet: str, event: str, field: str) -> Any:
    for e in made["events"]:
        if (e["pallet"], e["event"]) == (pallet, event):
            return e["data"][field]
    raise CliError(f"no {pallet}.{event} event: {made['events']}")


def _show_tracks(console: Console, client: XplClient) -> None:
    table = Table(title="Referendum tracks (fast periods for this chain: blocks of 1 s)")
    columns = ("track", "deciding at once", "submission / decision deposit", "prepare", "decide")
    for column in (*columns, "confirm", "enact after", "spends up to"):
        table.add_column(column)
    for track in client.gov_tracks():
        limit = int(track["maxSpend"])
        table.add_row(
            f"{track['id']} {track['name']}",
            str(track["maxDeciding"]),
            f"{format_amount(int(track['submissionDeposit']))} / "
            f"{format_amount(int(track['decisionDeposit']))}",
            str(track["preparePeriod"]),
            str(track["decisionPeriod"]),
            str(track["confirmPeriod"]),
            str(track["minEnactmentPeriod"]),
            "any amount (Root)" if track["name"] == "root" else format_amount(limit),
        )
    console.print(table)
    console.print(
        "approval needed falls from 100% to 50% over the decision period, support (the share "
        "of all XPL voting aye or abstain) from 10% to nothing over its first half"
    )


def _submit(
    console: Console,
    client: XplClient,
    follower: Follower,
    who: str,
    track: tuple[int, str],
    proposal: bytes,
    label: str,
    what: str,
) -> Referendum:
    """`who` submits `proposal` on `track` (id, name) and places its decision deposit; the
    referendum is followed from then on."""
    made = _make(client, who, "referenda", "submit", track[0], proposal, 0)
    referendum = Referendum(
        _found(made, "referenda", "Submitted", "index"), label, dispatch.call_name(proposal)
    )
    follower.referenda.append(referendum)
    console.print(
        f"  #{made['block']:<4} //{who} submits referendum {referendum.index} on the {track[1]} "
        f"track: {what}"
    )
    follower.poll()
    _decision_deposit(console, client, follower, who, referendum)
    return referendum


def _propose(console: Console, client: XplClient, follower: Follower) -> list[Referendum]:
    compute = client.market_params()[1]
    raised = dataclasses.replace(compute, audit_ppm=NEW_AUDIT_PPM)
    values = tuple(getattr(raised, f.name) for f in raised.schema().fields)
    root = _submit(
        console,
        client,
        follower,
        PROPOSER,
        (0, "root"),
        dispatch.encode_call("compute", "set_params", values),
        f"root: audit {compute.audit_ppm / 10**4:.0f}% → {NEW_AUDIT_PPM / 10**4:.0f}% of jobs",
        f"compute.set_params with audit_ppm {compute.audit_ppm} → {NEW_AUDIT_PPM} (the rest "
        "unchanged)",
    )
    made = _make(client, "Dave", "balances", "transfer", TREASURY, DONATION)
    console.print(
        f"  #{made['block']:<4} //Dave gives the treasury {format_amount(DONATION)} (a plain "
        "transfer, recorded as a donation)"
    )
    builder = keypair_from_suri(BUILDER_URI).public
    small = _submit(
        console,
        client,
        follower,
        SPENDER,
        (2, "small_spender"),
        dispatch.encode_call("treasury", "spend", (SPEND, builder, 0)),
        f"small_spender: {format_amount(SPEND)} to {BUILDER_URI}",
        f"treasury.spend of {format_amount(SPEND)} to a builder ({BUILDER_URI})",
    )
    for voter, conviction in VOTERS:
        for ref in (root, small):
            made = _make(
                client, voter, "conviction_voting", "vote", ref.index, VOTE, 0, 0, conviction
            )
            console.print(
                f"  #{made['block']:<4} //{voter} votes aye on referendum {ref.index} with "
                f"{format_amount(VOTE)} at {'1x' if conviction else '0.1x'} conviction"
                + (" (locked for a lock period if it wins)" if conviction else " (no lock)")
            )
            follower.poll()
    return [root, small]


def _decision_deposit(
    console: Console, client: XplClient, follower: Follower, who: str, ref: Referendum
) -> None:
    made = _make(client, who, "referenda", "place_decision_deposit", ref.index)
    amount = int(_found(made, "referenda", "DecisionDepositPlaced", "amount"))
    console.print(
        f"  #{made['block']:<4} //{who} places referendum {ref.index}'s decision deposit "
        f"({format_amount(amount)}, held until it ends): it may decide after its prepare period"
    )
    follower.poll()


def _state_line(ref: dict[str, Any]) -> str:
    state = str(ref["state"])
    words = STATE_WORDS.get(state, state)
    now, needed, phase = ref["now"], ref["needed"], ref["phase"]
    if state in ("deciding", "confirming") and needed is not None:
        words += (
            f": approval {_percent(now['approvalPpb'])} (needs {_percent(needed['approvalPpb'])}),"
            f" support {_percent(now['supportPpb'])} (needs {_percent(needed['supportPpb'])})"
        )
    if phase is not None and phase["name"] in ("prepare", "confirmation"):
        words += f", {phase['name']} ends at #{phase['endsAt']}"
    if state == "approved" and ref["enactment"] is not None:
        enactment = ref["enactment"]
        when = enactment[0] if isinstance(enactment, list) else enactment
        words += f": the scheduler enacts it at #{when}"
    return words


class Follower:
    """Prints, as blocks arrive, each referendum's state when it changes, the scheduler's
    dispatch of its proposal, and the treasury's promise of the spend."""

    def __init__(self, console: Console, client: XplClient) -> None:
        self.console, self.client = console, client
        self.referenda: list[Referendum] = []
        self.seen = client.best_number()
        self.spend_index: int | None = None

    def poll(self) -> None:
        """Look at the blocks since the last look."""
        best = self.client.best_number()
        for number in range(self.seen + 1, best + 1):
            block_hash = self.client.block_hash(number)
            if block_hash is not None:
                for event in self.client.events(block_hash):
                    self._event(number, event)
        self.seen = max(self.seen, best)
        for ref in self.referenda:
            found = self.client.gov_referendum(ref.index)
            if found is None or (ref.states and ref.states[-1][1] == found["state"]):
                continue
            ref.states.append((best, str(found["state"])))
            self.console.print(
                f"  #{best:<4} referendum {ref.index} ({ref.label}): {_state_line(found)}"
            )

    def follow(self) -> int:
        """Poll until every referendum is enacted and the spend promised; the spend's index."""
        deadline = time.monotonic() + FOLLOW_TIMEOUT_S
        while any(r.enacted is None for r in self.referenda) or self.spend_index is None:
            if time.monotonic() > deadline:
                raise CliError(f"the referenda were not enacted within {FOLLOW_TIMEOUT_S:.0f} s")
            time.sleep(0.2)
            self.poll()
        return self.spend_index

    def _event(self, number: int, event: dict[str, Any]) -> None:
        data = event["data"]
        if (event["pallet"], event["event"]) == ("treasury", "SpendApproved"):
            self.spend_index = int(data["index"])
            self.console.print(
                f"  #{number:<4} the treasury promises {format_amount(int(data['amount']))} to "
                f"{_who(data['beneficiary'])}: spend {data['index']}, claimable until "
                f"#{data['expire_at']}"
            )
            return
        if (event["pallet"], event["event"]) != ("scheduler", "Dispatched"):
            return
        for ref in self.referenda:
            if ref.enacted is None and data["call"] == ref.call:
                ref.enacted, ref.enacted_at = data, number
                outcome = (
                    "[green]done[/]" if data["ok"] else f"[red]{data['error']}[/]: {data['reason']}"
                )
                self.console.print(
                    f"  #{number:<4} referendum {ref.index} enacted: {data['call']} dispatched "
                    f"with the {ref.label.split(':')[0]} track's origin: {outcome}"
                )


def run_governance(console: Console, client: XplClient) -> None:
    """The governance demo on a running network: a parameter change by referendum, a treasury
    spend by referendum and its payout."""
    console.rule("[bold]Governance: a referendum and a treasury spend")
    _show_tracks(console, client)
    builder = keypair_from_suri(BUILDER_URI)
    treasury_before = client.account(TREASURY).free
    follower = Follower(console, client)
    referenda = _propose(console, client, follower)
    spend_index = follower.follow()
    audit_ppm = client.market_params()[1].audit_ppm
    console.print(
        f"compute's audit probability is now {audit_ppm / 10**4:.0f}%: the next jobs are audited "
        "with it (a change that would let cheating pay is refused at enactment, with its reason)"
    )
    _claim(console, client, builder, spend_index)
    _refund(console, client, referenda)
    _summary(console, client, referenda, treasury_before)


def _claim(console: Console, client: XplClient, builder: Keypair, index: int) -> None:
    before = client.account(builder.public).free
    made = _make(client, SPENDER, "treasury", "payout", index)
    paid = int(_found(made, "treasury", "SpendPaid", "amount"))
    after = client.account(builder.public).free
    console.print(
        f"  #{made['block']:<4} //{SPENDER} claims spend {index} (anyone may, once): "
        f"{BUILDER_URI} {format_amount(before)} → {format_amount(after)} (+{format_amount(paid)})"
    )


def _refund(console: Console, client: XplClient, referenda: list[Referendum]) -> None:
    for who, ref in zip((PROPOSER, SPENDER), referenda, strict=True):
        returned = 0
        for which in ("submission", "decision"):
            made = _make(client, who, "referenda", f"refund_{which}_deposit", ref.index)
            returned += sum(
                int(e["data"]["amount"]) for e in made["events"] if e["event"].endswith("Refunded")
            )
        console.print(
            f"  //{who} takes back referendum {ref.index}'s deposits: {format_amount(returned)}"
        )


def _summary(
    console: Console, client: XplClient, referenda: list[Referendum], treasury_before: int
) -> None:
    table = Table(title="The referenda, block by block")
    for column in ("referendum", "proposal", "states", "enacted"):
        table.add_column(column)
    for ref in referenda:
        states = ", ".join(f"{state} #{block}" for block, state in ref.states)
        enacted = ref.enacted
        result = "" if enacted is None else ("ok" if enacted["ok"] else enacted["error"])
        table.add_row(str(ref.index), ref.label, states, f"#{ref.enacted_at} {result}")
    console.print(table)
    treasury_after = client.account(TREASURY).free
    console.print(
        f"treasury: {format_amount(treasury_before)} → {format_amount(treasury_after)} "
        f"(+{format_amount(DONATION)} donated, −{format_amount(SPEND)} spent, plus its share "
        "of the fees meanwhile)"
    )
