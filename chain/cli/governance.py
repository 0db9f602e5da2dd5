"""What the governance commands share: convictions and tracks as users write them, and making a
call that needs a governance origin (a referendum on a track, or sudo on a development chain).

    parse_conviction("3x") == 3; parse_conviction("0.1x") == 0
    track_of(client, "small_spender")           # the chain's track, by name or number
    add_origin_arguments(parser)                # --track NAME [--after N] | --sudo
    return submit_as_governance(args, client, "treasury", "spend", [...], summary)
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import Any, Final

from chain.cli.common import node_error
from chain.cli.errors import CliError
from chain.cli.submit import (
    BAD_CALL_EXIT,
    Found,
    checked_call,
    checked_encoded_call,
    submit_call,
)
from chain.cli.sudo import sudid_failure
from chain.client.chain import XplClient
from chain.client.rpc import RpcClientError, RpcConnectionError
from runtime.primitives.hashing import to_hex

CONVICTIONS: Final = ("0.1x", "1x", "2x", "3x", "4x", "5x", "6x")
"""Conviction 0 to 6 as users write them: 0.1x votes a tenth and locks nothing; Nx votes N times
the amount and locks it for 2^(N-1) lock periods."""


REFERENDUM: Final[Found] = {"referendum": ("referenda", "Submitted", "index")}


def parse_conviction(text: str) -> int:
    """A conviction from "0.1x" (no lock) or "1x" to "6x"; CliError naming the accepted ones."""
    written = text.strip().lower()
    if written == "none":
        return 0
    if not written.endswith("x"):
        written += "x"
    if written == "0.1x":
        return 0
    if written in CONVICTIONS:
        return CONVICTIONS.index(written)
    raise CliError(f"conviction {text!r}: expected 0.1x (no lock) or 1x to 6x")


def conviction_text(conviction: int) -> str:
    """How a conviction is written: 0.1x, 1x ... 6x."""
    return CONVICTIONS[conviction] if 0 <= conviction < len(CONVICTIONS) else f"{conviction}?"


@dataclass(frozen=True)
class Track:
    """A track as the node names it: its number (conviction voting's class) and name."""

    id: int
    name: str


def chain_tracks(client: XplClient) -> tuple[Track, ...]:
    """The chain's tracks (`gov_tracks`)."""
    try:
        return tuple(Track(int(t["id"]), str(t["name"])) for t in client.gov_tracks())
    except (RpcClientError, RpcConnectionError) as exc:
        raise node_error(exc, client.url) from exc


def track_of(client: XplClient, name_or_id: str) -> Track:
    """The chain's track named (or numbered) `name_or_id`; CliError (exit code 2) listing the
    tracks."""
    known = chain_tracks(client)
    for track in known:
        if track.name == name_or_id or str(track.id) == name_or_id:
            return track
    names = ", ".join(f"{t.name} ({t.id})" for t in known)
    message = f"no track {name_or_id!r} on this chain (its tracks: {names})"
    raise CliError(message, exit_code=BAD_CALL_EXIT)


def add_track_argument(parser: argparse.ArgumentParser, *, what: str) -> None:
    """Add `--track NAME` (required): the track (conviction voting's class) a command is about."""
    parser.add_argument("--track", required=True, metavar="TRACK", help=what)


def add_origin_arguments(parser: argparse.ArgumentParser) -> None:
    """Add how a call that needs a governance origin is made: `--track T` submits a referendum
    whose enactment makes it; `--sudo` has the sudo key make it as Root (development chains)."""
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument(
        "--track",
        metavar="TRACK",
        help="submit a referendum on this track (root, treasurer, small_spender, ...)",
    )
    group.add_argument(
        "--sudo", action="store_true", help="make the call as Root with the sudo key (dev chain)"
    )
    parser.add_argument(
        "--after",
        type=int,
        default=0,
        metavar="BLOCKS",
        help="with --track: enact at least this many blocks after approval (the track's minimum "
        "applies too)",
    )


def submit_as_governance(
    args: argparse.Namespace,
    client: XplClient,
    pallet: str,
    name: str,
    args_json: Any,
    summary: dict[str, object],
    found: Found | None = None,
) -> int:
    """Make `pallet.name` with a governance origin, as `add_origin_arguments`' flags say: as a
    referendum on a track (the call is its proposal), or through sudo (then what `found` names
    is read from the events of the call made)."""
    proposal = checked_encoded_call(client, pallet, name, args_json)
    summary = {"proposal": f"{pallet}.{name}", **summary}
    if args.sudo:
        outer = checked_call(client, "sudo", "sudo", [to_hex(proposal)])
        return submit_call(
            args, outer, summary, client=client, inner_failure=sudid_failure, found=found
        )
    return submit_referendum(args, client, args.track, proposal, summary)


def submit_referendum(
    args: argparse.Namespace,
    client: XplClient,
    track_name: str,
    proposal: bytes,
    summary: dict[str, object],
) -> int:
    """Submit `proposal` as a referendum on the named track, to be enacted at least
    `args.after` blocks after its approval."""
    if not 0 <= args.after < 2**32:
        raise CliError(
            f"--after {args.after}: expected a number of blocks", exit_code=BAD_CALL_EXIT
        )
    track = track_of(client, track_name)
    call = checked_call(client, "referenda", "submit", [track.id, to_hex(proposal), args.after])
    summary = {**summary, "track": track.name}
    return submit_call(args, call, summary, client=client, found=REFERENDUM)
