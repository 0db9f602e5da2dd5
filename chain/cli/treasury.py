"""`xpl treasury`, `xpl bounty` and `xpl grant`: the treasury's funds and what it pays for.

    xpl treasury status
    xpl treasury propose-spend 500XPL --to //Dave --track small_spender --from //Alice
    xpl treasury claim 0 --from //Dave              # pay an approved spend (anyone may)
    xpl bounty propose 1000XPL --description "a CUDA gemm kernel" --from //Bob
    xpl bounty approve 0 --track treasurer --from //Bob
    xpl bounty curate 0 --curator //Charlie --fee 50XPL --track treasurer --from //Bob
    xpl bounty accept 0 --from //Charlie            # the curator's deposit is held
    xpl bounty award 0 --to //Dave --from //Charlie
    xpl bounty claim 0 --from //Dave                # after the payout delay
    xpl grant award //Eve --amount 100XPL --max-price 2XPL --expires-at 10000 --track treasurer
    xpl grant call 0 market.submit_job --args '{...}' --from //Eve
    xpl grant close 0 --from //Eve

A call that needs a governance origin (a spend, approving a bounty or proposing its curator,
awarding a grant) is made by a referendum on `--track`, or with `--sudo` on a development chain.
"""

from __future__ import annotations

import argparse
from typing import Any

from chain.cli.common import add_rpc_argument, connect
from chain.cli.governance import add_origin_arguments, submit_as_governance
from chain.cli.submit import (
    Found,
    add_submit_arguments,
    checked_encoded_call,
    parse_args_json,
    parse_call_name,
    submit_checked,
)
from chain.cli.treasury_view import show
from runtime.primitives.address import encode_address, parse_account
from runtime.primitives.amount import format_amount, parse_amount
from runtime.primitives.hashing import to_hex


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `xpl treasury`, `xpl bounty` and `xpl grant`."""
    _register_treasury(sub)
    _register_bounty(sub)
    _register_grant(sub)


def _governed(parser: argparse.ArgumentParser) -> None:
    add_origin_arguments(parser)
    add_submit_arguments(parser)


def _register_treasury(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    treasury = sub.add_parser("treasury", help="the treasury's funds, spends and payouts")
    t = treasury.add_subparsers(dest="treasury_command", metavar="TREASURY", required=True)

    status = t.add_parser("status", help="balance, income, pending spends, the next spend period")
    status.add_argument("--json", action="store_true", help="print one JSON object")
    add_rpc_argument(status)
    status.set_defaults(run=show, method="treasury_status")

    spend = t.add_parser("propose-spend", help="propose paying an account from the treasury")
    spend.add_argument("amount", help="for example 500XPL")
    spend.add_argument("--to", required=True, help="the beneficiary's address (or //Name)")
    spend.add_argument(
        "--valid-from", type=int, default=0, metavar="BLOCK", help="not payable before this block"
    )
    _governed(spend)
    spend.set_defaults(run=_propose_spend)

    claim = t.add_parser("claim", help="pay out an approved spend to its beneficiary")
    claim.add_argument("spend", type=int, metavar="SPEND")
    add_submit_arguments(claim)
    claim.set_defaults(run=lambda a: submit_checked(a, "treasury", "payout", [a.spend]))


def _register_bounty(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    bounty = sub.add_parser("bounty", help="bounties: funded work with a curator")
    b = bounty.add_subparsers(dest="bounty_command", metavar="BOUNTY", required=True)

    propose = b.add_parser("propose", help="propose a bounty (a bond is held until approval)")
    propose.add_argument("value", help="what the bounty pays, e.g. 1000XPL")
    propose.add_argument("--description", required=True, help="what is to be done")
    add_submit_arguments(propose)
    propose.set_defaults(run=_propose_bounty)

    approve = b.add_parser("approve", help="fund a proposed bounty from the treasury")
    approve.add_argument("bounty", type=int, metavar="BOUNTY")
    _governed(approve)
    approve.set_defaults(
        run=lambda a: _governance(a, "bounties", "approve_bounty", {"bounty": a.bounty})
    )

    curate = b.add_parser("curate", help="propose a curator for a funded bounty")
    curate.add_argument("bounty", type=int, metavar="BOUNTY")
    curate.add_argument("--curator", required=True, help="the curator's address (or //Name)")
    curate.add_argument("--fee", required=True, help="the curator's fee, e.g. 50XPL")
    _governed(curate)
    curate.set_defaults(run=_curate)

    accept = b.add_parser("accept", help="accept being a bounty's curator (a deposit is held)")
    accept.add_argument("bounty", type=int, metavar="BOUNTY")
    add_submit_arguments(accept)
    accept.set_defaults(run=lambda a: _own(a, "bounties", "accept_curator", {"bounty": a.bounty}))

    award = b.add_parser("award", help="award a bounty to the account that did the work")
    award.add_argument("bounty", type=int, metavar="BOUNTY")
    award.add_argument("--to", required=True, help="the beneficiary's address (or //Name)")
    add_submit_arguments(award)
    award.set_defaults(run=_award)

    claim = b.add_parser("claim", help="pay out an awarded bounty (after its payout delay)")
    claim.add_argument("bounty", type=int, metavar="BOUNTY")
    add_submit_arguments(claim)
    claim.set_defaults(run=lambda a: _own(a, "bounties", "claim_bounty", {"bounty": a.bounty}))

    listing = b.add_parser("list", help="the bounties and their state")
    listing.add_argument("--json", action="store_true", help="print one JSON object")
    add_rpc_argument(listing)
    listing.set_defaults(run=show, method="treasury_bounties")


def _register_grant(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    grant = sub.add_parser("grant", help="compute grants: treasury funds for a builder's jobs")
    g = grant.add_subparsers(dest="grant_command", metavar="GRANT", required=True)

    award = g.add_parser("award", help="grant a builder an allowance for compute jobs")
    award.add_argument("builder", help="the builder's address (or //Name)")
    award.add_argument("--amount", required=True, help="the allowance, e.g. 100XPL")
    award.add_argument("--max-price", required=True, help="the most one job may cost, e.g. 2XPL")
    award.add_argument("--expires-at", required=True, type=int, metavar="BLOCK")
    _governed(award)
    award.set_defaults(run=_award_grant)

    call = g.add_parser("call", help="make a market call (a job) paid from a grant")
    call.add_argument("grant", type=int, metavar="GRANT")
    call.add_argument("call", metavar="PALLET.CALL", help="for example market.submit_job")
    call.add_argument("--args", default="[]", metavar="JSON", help="the call's arguments")
    add_submit_arguments(call)
    call.set_defaults(run=_grant_call)

    close = g.add_parser("close", help="return a grant's unspent funds to the treasury")
    close.add_argument("grant", type=int, metavar="GRANT")
    add_submit_arguments(close)
    close.set_defaults(run=lambda a: _own(a, "grants", "close", {"grant": a.grant}))

    listing = g.add_parser("list", help="the grants and what is left of each")
    listing.add_argument("--json", action="store_true", help="print one JSON object")
    add_rpc_argument(listing)
    listing.set_defaults(run=show, method="grants_list")


def _own(args: argparse.Namespace, pallet: str, name: str, call_args: dict[str, Any]) -> int:
    return submit_checked(args, pallet, name, call_args, dict(call_args))


def _governance(
    args: argparse.Namespace,
    pallet: str,
    name: str,
    call_args: dict[str, Any],
    summary: dict[str, object] | None = None,
    found: Found | None = None,
) -> int:
    with connect(args) as client:
        return submit_as_governance(
            args, client, pallet, name, call_args, summary or dict(call_args), found
        )


def _propose_spend(args: argparse.Namespace) -> int:
    amount = parse_amount(args.amount)
    to = encode_address(parse_account(args.to))
    call_args = {"amount": amount, "beneficiary": to, "valid_from": args.valid_from}
    summary: dict[str, object] = {"amount": format_amount(amount), "beneficiary": to}
    found = {"spend": ("treasury", "SpendApproved", "index")}
    return _governance(args, "treasury", "spend", call_args, summary, found)


def _propose_bounty(args: argparse.Namespace) -> int:
    value = parse_amount(args.value)
    description = args.description.encode()
    call_args = {"value": value, "description": to_hex(description)}
    summary = {"value": format_amount(value), "description": args.description}
    found = {"bounty": ("bounties", "BountyProposed", "bounty")}
    return submit_checked(args, "bounties", "propose_bounty", call_args, summary, found=found)


def _curate(args: argparse.Namespace) -> int:
    curator = encode_address(parse_account(args.curator))
    fee = parse_amount(args.fee)
    call_args = {"bounty": args.bounty, "curator": curator, "fee": fee}
    summary = {"bounty": args.bounty, "curator": curator, "fee": format_amount(fee)}
    return _governance(args, "bounties", "propose_curator", call_args, summary)


def _award(args: argparse.Namespace) -> int:
    to = encode_address(parse_account(args.to))
    call_args = {"bounty": args.bounty, "beneficiary": to}
    return submit_checked(args, "bounties", "award_bounty", call_args, dict(call_args))


def _award_grant(args: argparse.Namespace) -> int:
    builder = encode_address(parse_account(args.builder))
    amount, max_price = parse_amount(args.amount), parse_amount(args.max_price)
    call_args = {
        "builder": builder,
        "amount": amount,
        "max_price": max_price,
        "expires_at": args.expires_at,
    }
    summary = {
        "builder": builder,
        "amount": format_amount(amount),
        "maxPrice": format_amount(max_price),
        "expiresAt": args.expires_at,
    }
    found = {"grant": ("grants", "GrantAwarded", "grant")}
    return _governance(args, "grants", "award", call_args, summary, found)


def _grant_call(args: argparse.Namespace) -> int:
    pallet, name = parse_call_name(args.call)
    args_json = parse_args_json(args.args)
    with connect(args) as client:
        inner = checked_encoded_call(client, pallet, name, args_json)
        call_args = {"grant": args.grant, "call": to_hex(inner)}
        summary = {"grant": args.grant, "inner": f"{pallet}.{name}"}
        found = {"job": ("market", "JobSubmitted", "job")}
        return submit_checked(
            args, "grants", "call", call_args, summary, client=client, found=found
        )
