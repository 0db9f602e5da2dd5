"""`xpl gov`: propose, fund, vote on and follow referenda; delegate and unlock votes.

    xpl gov submit --track root --call compute.set_params --args '{...}' --from //Alice
    xpl gov submit --track small_spender --preimage-file spend.call --from //Alice
    xpl gov deposit 0 --from //Bob                  # the decision deposit: it may decide
    xpl gov vote 0 aye --amount 100XPL --conviction 3x --from //Charlie
    xpl gov vote 0 split --aye 10XPL --nay 5XPL --from //Dave
    xpl gov delegate --track root --to //Eve --amount 50XPL --conviction 1x --from //Ferdie
    xpl gov undelegate --track root --from //Ferdie
    xpl gov remove-vote 0 --from //Charlie          # then, once the lock expires:
    xpl gov unlock --track root --from //Charlie
    xpl gov list
    xpl gov show 0 [--watch]

Every call is checked against the node's metadata before it is signed; a proposal's call too.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from chain.cli.common import connect, node_error, signer
from chain.cli.errors import CliError
from chain.cli.gov_view import add_view_commands
from chain.cli.governance import (
    add_track_argument,
    conviction_text,
    parse_conviction,
    submit_referendum,
    track_of,
)
from chain.cli.submit import (
    BAD_CALL_EXIT,
    add_submit_arguments,
    checked_encoded_call,
    parse_args_json,
    parse_call_name,
    submit_checked,
)
from chain.client.metadata import CallCheckError
from chain.client.rpc import RpcClientError, RpcConnectionError
from runtime.primitives.address import encode_address, parse_account
from runtime.primitives.amount import format_amount, parse_amount
from runtime.primitives.hashing import from_hex


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `xpl gov` and its subcommands."""
    gov = sub.add_parser("gov", help="referenda: propose, vote, delegate, unlock, follow")
    g = gov.add_subparsers(dest="gov_command", metavar="GOV", required=True)

    submit = g.add_parser("submit", help="propose a call as a referendum on a track")
    submit.add_argument("--track", required=True, help="root, treasurer, small_spender, ...")
    what = submit.add_mutually_exclusive_group(required=True)
    what.add_argument("--call", metavar="PALLET.CALL", help="the proposal, e.g. compute.set_params")
    what.add_argument(
        "--preimage-file", type=Path, help="a file holding the encoded call (binary or 0x hex)"
    )
    submit.add_argument("--args", default="[]", metavar="JSON", help="the call's arguments")
    submit.add_argument(
        "--after", type=int, default=0, metavar="BLOCKS", help="least delay after approval"
    )
    add_submit_arguments(submit)
    submit.set_defaults(run=_submit)

    deposit = g.add_parser("deposit", help="place a referendum's decision deposit")
    deposit.add_argument("referendum", type=int, metavar="REF")
    add_submit_arguments(deposit)
    deposit.set_defaults(run=_deposit)

    refund = g.add_parser("refund", help="refund an ended referendum's deposits")
    refund.add_argument("referendum", type=int, metavar="REF")
    refund.add_argument("--which", choices=("submission", "decision"), default="submission")
    add_submit_arguments(refund)
    refund.set_defaults(run=_refund)

    vote = g.add_parser("vote", help="vote on a referendum")
    vote.add_argument("referendum", type=int, metavar="REF")
    vote.add_argument("side", choices=("aye", "nay", "abstain", "split"))
    vote.add_argument("--amount", help="what the vote counts (aye, nay, abstain), e.g. 100XPL")
    vote.add_argument("--aye", help="split: the aye part")
    vote.add_argument("--nay", help="split: the nay part")
    vote.add_argument("--abstain", help="split: the abstain part")
    vote.add_argument(
        "--conviction",
        default="0.1x",
        help="0.1x (a tenth of the vote, no lock) or 1x to 6x (the vote times N, locked "
        "for 2^(N-1) lock periods if it wins); default 0.1x",
    )
    add_submit_arguments(vote)
    vote.set_defaults(run=_vote)

    remove = g.add_parser("remove-vote", help="take back a vote (an ended poll's: to unlock)")
    remove.add_argument("referendum", type=int, metavar="REF")
    remove.add_argument("--track", help="the referendum's track (default: read from the chain)")
    add_submit_arguments(remove)
    remove.set_defaults(run=_remove_vote)

    delegate = g.add_parser("delegate", help="lend your votes on one track to another account")
    add_track_argument(delegate, what="the track whose votes are delegated")
    delegate.add_argument("--to", required=True, help="the delegate's address (or //Name)")
    delegate.add_argument("--amount", required=True, help="for example 100XPL")
    delegate.add_argument("--conviction", default="0.1x", help="0.1x or 1x to 6x (default 0.1x)")
    add_submit_arguments(delegate)
    delegate.set_defaults(run=_delegate)

    undelegate = g.add_parser("undelegate", help="end a delegation on one track")
    add_track_argument(undelegate, what="the track whose delegation ends")
    add_submit_arguments(undelegate)
    undelegate.set_defaults(run=_undelegate)

    unlock = g.add_parser("unlock", help="release what votes no longer lock on one track")
    add_track_argument(unlock, what="the track whose lock is recomputed")
    unlock.add_argument("--for", dest="target", help="whose lock (default: the signer)")
    add_submit_arguments(unlock)
    unlock.set_defaults(run=_unlock)

    add_view_commands(g)


def _submit(args: argparse.Namespace) -> int:
    with connect(args) as client:
        if args.call is not None:
            pallet, name = parse_call_name(args.call)
            proposal = checked_encoded_call(client, pallet, name, parse_args_json(args.args))
            described = f"{pallet}.{name}"
        else:
            proposal = _read_preimage(args.preimage_file)
            try:
                client.metadata().check_encoded_call(proposal, str(args.preimage_file))
            except CallCheckError as exc:
                raise CliError(str(exc), exit_code=BAD_CALL_EXIT) from exc
            described = str(args.preimage_file)
        return submit_referendum(args, client, args.track, proposal, {"proposal": described})


def _read_preimage(path: Path) -> bytes:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise CliError(f"cannot read {path}: {exc.strerror}", exit_code=BAD_CALL_EXIT) from exc
    text = data.strip()
    if text.startswith(b"0x"):
        try:
            return from_hex(text.decode("ascii"), what=str(path))
        except (UnicodeDecodeError, ValueError) as exc:
            raise CliError(f"{path}: not a 0x hex call: {exc}", exit_code=BAD_CALL_EXIT) from exc
    return data


def _deposit(args: argparse.Namespace) -> int:
    return submit_checked(
        args,
        "referenda",
        "place_decision_deposit",
        [args.referendum],
        {"referendum": args.referendum},
    )


def _refund(args: argparse.Namespace) -> int:
    name = f"refund_{args.which}_deposit"
    return submit_checked(
        args, "referenda", name, [args.referendum], {"referendum": args.referendum}
    )


def _vote(args: argparse.Namespace) -> int:
    conviction = parse_conviction(args.conviction)
    aye = nay = abstain = 0
    if args.side == "split":
        if args.amount is not None:
            raise CliError("a split vote takes --aye, --nay and --abstain, not --amount")
        aye, nay, abstain = (
            parse_amount(a) if a else 0 for a in (args.aye, args.nay, args.abstain)
        )
        if aye + nay + abstain == 0:
            raise CliError("a split vote needs --aye, --nay or --abstain")
    else:
        if args.amount is None:
            raise CliError(f"an {args.side} vote needs --amount, e.g. --amount 100XPL")
        if any(a is not None for a in (args.aye, args.nay, args.abstain)):
            raise CliError("--aye, --nay and --abstain are for a split vote")
        amount = parse_amount(args.amount)
        if args.side == "aye":
            aye = amount
        elif args.side == "nay":
            nay = amount
        else:
            abstain = amount
    if conviction and args.side in ("split", "abstain"):
        raise CliError(f"an {args.side} vote has no conviction: leave out --conviction")
    summary = {
        "referendum": args.referendum,
        "vote": args.side,
        "aye": format_amount(aye),
        "nay": format_amount(nay),
        "abstain": format_amount(abstain),
        "conviction": conviction_text(conviction),
    }
    call_args = [args.referendum, aye, nay, abstain, conviction]
    return submit_checked(args, "conviction_voting", "vote", call_args, summary)


def _remove_vote(args: argparse.Namespace) -> int:
    with connect(args) as client:
        if args.track is not None:
            track_id = track_of(client, args.track).id
        else:
            try:
                found = client.gov_referendum(args.referendum)
            except (RpcClientError, RpcConnectionError) as exc:
                raise node_error(exc, args.rpc) from exc
            if found is None:
                raise CliError(f"no referendum {args.referendum}: name its --track")
            track_id = int(found["track"]["id"])
        summary = {"referendum": args.referendum}
        call_args = [track_id, args.referendum]
        return submit_checked(
            args, "conviction_voting", "remove_vote", call_args, summary, client=client
        )


def _delegate(args: argparse.Namespace) -> int:
    conviction = parse_conviction(args.conviction)
    to = parse_account(args.to)
    amount = parse_amount(args.amount)
    with connect(args) as client:
        track = track_of(client, args.track)
        summary = {
            "track": track.name,
            "to": encode_address(to),
            "amount": format_amount(amount),
            "conviction": conviction_text(conviction),
        }
        call_args = [track.id, encode_address(to), conviction, amount]
        return submit_checked(
            args, "conviction_voting", "delegate", call_args, summary, client=client
        )


def _undelegate(args: argparse.Namespace) -> int:
    with connect(args) as client:
        track = track_of(client, args.track)
        return submit_checked(
            args,
            "conviction_voting",
            "undelegate",
            [track.id],
            {"track": track.name},
            client=client,
        )


def _unlock(args: argparse.Namespace) -> int:
    target = parse_account(args.target) if args.target else signer(args).public
    with connect(args) as client:
        track = track_of(client, args.track)
        summary = {"track": track.name, "for": encode_address(target)}
        call_args = [track.id, encode_address(target)]
        return submit_checked(
            args, "conviction_voting", "unlock", call_args, summary, client=client
        )
