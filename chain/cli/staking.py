"""`xpl staking`: bond, unbond and withdraw, be a validator candidate or nominate, and see a
stash's staking at a glance.

    xpl staking bond 1000XPL --from //Dave          # bond (or add to the bond)
    xpl staking validate --commission 5% --from //Dave
    xpl staking nominate //Alice //Bob --from //Eve
    xpl staking chill --from //Dave                 # stop validating or nominating
    xpl staking unbond 200XPL --from //Dave         # unlocks after the bonding eras
    xpl staking withdraw --from //Dave              # free what has unlocked
    xpl staking status //Dave
"""

from __future__ import annotations

import argparse
import json
from decimal import Decimal, InvalidOperation
from typing import Any

from chain.cli.common import add_rpc_argument, connect, node_error, signer
from chain.cli.errors import CliError
from chain.cli.submit import add_submit_arguments, submit_call
from chain.client.chain import make_call
from chain.client.rpc import RpcClientError, RpcConnectionError
from runtime.primitives.address import encode_address, parse_account
from runtime.primitives.amount import format_amount, parse_amount

PPM = 1_000_000


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `xpl staking` and its subcommands."""
    staking = sub.add_parser("staking", help="bond, validate, nominate and see a stash's staking")
    s = staking.add_subparsers(dest="staking_command", metavar="STAKING", required=True)

    bond = s.add_parser("bond", help="bond free balance (adds to the bond of a stash)")
    bond.add_argument("amount", help="for example 1000XPL")
    add_submit_arguments(bond)
    bond.set_defaults(run=_bond)

    unbond = s.add_parser("unbond", help="start unbonding part of the active bond")
    unbond.add_argument("amount", help="for example 200XPL")
    add_submit_arguments(unbond)
    unbond.set_defaults(run=_unbond)

    withdraw = s.add_parser("withdraw", help="free the unbonded amounts that have unlocked")
    add_submit_arguments(withdraw)
    withdraw.set_defaults(run=_withdraw)

    validate = s.add_parser("validate", help="be a validator candidate from the next election")
    validate.add_argument(
        "--commission", default="0%", help="the validator's cut of rewards, e.g. 5%% (default 0%%)"
    )
    validate.add_argument(
        "--session-key", metavar="ADDRESS", help="the key that signs blocks (default: the stash)"
    )
    add_submit_arguments(validate)
    validate.set_defaults(run=_validate)

    nominate = s.add_parser("nominate", help="back validator candidates with the whole bond")
    nominate.add_argument("targets", nargs="+", metavar="VALIDATOR", help="stash addresses")
    add_submit_arguments(nominate)
    nominate.set_defaults(run=_nominate)

    chill = s.add_parser("chill", help="stop validating or nominating (the bond stays)")
    add_submit_arguments(chill)
    chill.set_defaults(run=_chill)

    status = s.add_parser("status", help="a stash's bond, unlocking amounts and role, and the era")
    status.add_argument("account", nargs="?", help="the stash (default: the --from signer)")
    status.add_argument("--from", dest="suri", metavar="//NAME", help="the stash as a dev key")
    status.add_argument("--json", action="store_true", help="print one JSON object")
    add_rpc_argument(status)
    status.set_defaults(run=_status, key_file=None, password_env=None)


def parse_commission(text: str) -> int:
    """A commission as parts per million from "5%", "2.5%" or a fraction of one ("0.05")."""
    raw = text.strip()
    percent = raw.endswith("%")
    try:
        value = Decimal(raw.removesuffix("%"))
    except InvalidOperation as exc:
        raise CliError(f"commission {text!r}: expected a percentage such as 5%") from exc
    ppm = value * (PPM // 100) if percent else value * PPM
    if not (ppm.is_finite() and 0 <= ppm <= PPM) or ppm != ppm.to_integral_value():
        raise CliError(f"commission {text!r}: must be 0% to 100%, to a millionth")
    return int(ppm)


def _bond(args: argparse.Namespace) -> int:
    amount = parse_amount(args.amount)
    stash = signer(args).public
    with connect(args) as client:
        try:
            bonded = client.staking_ledger(stash) is not None
        except (RpcClientError, RpcConnectionError) as exc:
            raise node_error(exc, args.rpc) from exc
        call = make_call("staking", "bond_extra" if bonded else "bond", amount)
        return submit_call(args, call, {"amount": format_amount(amount)}, client=client)


def _unbond(args: argparse.Namespace) -> int:
    amount = parse_amount(args.amount)
    call = make_call("staking", "unbond", amount)
    return submit_call(args, call, {"amount": format_amount(amount)})


def _withdraw(args: argparse.Namespace) -> int:
    return submit_call(args, make_call("staking", "withdraw_unbonded"))


def _validate(args: argparse.Namespace) -> int:
    commission = parse_commission(args.commission)
    key = None if args.session_key is None else parse_account(args.session_key)
    call = make_call("staking", "validate", commission, key)
    summary: dict[str, object] = {"commissionPpm": commission}
    if key is not None:
        summary["sessionKey"] = encode_address(key)
    return submit_call(args, call, summary)


def _nominate(args: argparse.Namespace) -> int:
    targets = [parse_account(t) for t in args.targets]
    call = make_call("staking", "nominate", targets)
    return submit_call(args, call, {"targets": [encode_address(t) for t in targets]})


def _chill(args: argparse.Namespace) -> int:
    return submit_call(args, make_call("staking", "chill"))


def _status(args: argparse.Namespace) -> int:
    if args.account is not None:
        stash = parse_account(args.account)
    elif args.suri is not None:
        stash = signer(args).public
    else:
        raise CliError("name the stash: an ADDRESS or --from //NAME")
    with connect(args) as client:
        try:
            ledger = client.rpc.call("staking_ledger", encode_address(stash))
            era = client.staking_era()
            validators = client.staking_validators()
            account = client.account(stash)
        except (RpcClientError, RpcConnectionError) as exc:
            raise node_error(exc, args.rpc) from exc
    address = encode_address(stash)
    active = next((v for v in validators["active"] if v["stash"] == address), None)
    report: dict[str, Any] = {
        "stash": address,
        "free": format_amount(account.free),
        "bonded": ledger is not None,
        "role": _role(ledger),
        "elected": active is not None,
        "era": era,
    }
    if ledger is not None:
        report.update(
            active=format_amount(int(ledger["active"])),
            total=format_amount(int(ledger["total"])),
            unlocking=[
                {"block": c["block"], "amount": format_amount(int(c["amount"]))}
                for c in ledger["unlocking"]
            ],
            sessionKey=ledger["sessionKey"],
            nominating=ledger["nominating"],
        )
    if active is not None:
        report["backing"] = format_amount(int(active["total"]))
        report["points"] = active["points"]
    if args.json:
        print(json.dumps(report))
        return 0
    _print_status(report)
    return 0


def _role(ledger: dict[str, Any] | None) -> str:
    if ledger is None:
        return "none"
    if ledger["validating"]:
        return "validator candidate"
    if ledger["nominating"] is not None:
        return "nominator"
    return "bonded, idle"


def _print_status(report: dict[str, Any]) -> None:
    era = report["era"]
    print(f"       stash: {report['stash']}")
    print(f"        free: {report['free']}")
    elected = " (in the era's validator set)" if report["elected"] else ""
    print(f"        role: {report['role']}{elected}")
    if report["bonded"]:
        print(f"      active: {report['active']} (total bonded {report['total']})")
        for chunk in report["unlocking"]:
            print(f"   unlocking: {chunk['amount']} at block #{chunk['block']}")
        if report["nominating"]:
            print(f"  nominating: {', '.join(report['nominating'])}")
        if report["role"] == "validator candidate":
            print(f"  sessionKey: {report['sessionKey']}")
    if "backing" in report:
        print(f"     backing: {report['backing']}, {report['points']} era points")
    print(f"         era: {era['era']} (started #{era['start']}, next at #{era['nextEraAt']})")
