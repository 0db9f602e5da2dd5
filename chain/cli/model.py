"""`xpl model`: upload a model once and call it by id; list and show registered models.

    xpl model upload digits.bin --family qmlp_i8 --descriptor 64,64,10 --name digits \\
        --licence MIT --fee 0.01XPL --from //Alice      # creates the model, or adds a version
    xpl model list
    xpl model show 1 [--version 2]
    xpl model train-lm --out lm/                        # `chain.cli.model_train`

An upload checks the file against its family and descriptor (the size the descriptor implies)
before anything is signed, uploads it as a blob, creates the signer's model of that name if it
has none, and publishes a version (one above its latest unless `--version` says). The work is
done by `chain.client.models`; this module reads arguments and shows what happened.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from chain.cli.common import add_rpc_argument, add_signer_arguments, connect, node_error, signer
from chain.cli.errors import CliError
from chain.cli.model_train import register_train_lm
from chain.client import models as mc
from chain.client.jobs.errors import JobClientError
from chain.client.rpc import RpcClientError, RpcConnectionError
from runtime.pallets import models
from runtime.primitives.amount import format_amount, parse_amount
from runtime.primitives.hashing import to_hex


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `xpl model` and its actions."""
    model = sub.add_parser("model", help="upload models once, list them, show their versions")
    model_sub = model.add_subparsers(dest="model_command", metavar="ACTION", required=True)

    u = model_sub.add_parser("upload", help="upload a weights file and publish it as a version")
    u.add_argument("file", type=Path, help="the weights blob, in the family's layout")
    u.add_argument("--family", required=True, choices=models.FAMILIES)
    u.add_argument(
        "--descriptor",
        required=True,
        help="the architecture, e.g. 64,64,10 (qmlp_i8: the layer widths; tfm_i8: vocab,"
        "context,d_model,heads,layers,d_ff)",
    )
    u.add_argument("--name", required=True, help="the model's name among the signer's models")
    u.add_argument("--licence", required=True, help="e.g. MIT, Apache-2.0, CC-BY-4.0")
    u.add_argument("--quantization", default="int8", help="(default: %(default)s)")
    u.add_argument("--fee", default="0XPL", help="fee per use paid by each job, e.g. 0.01XPL")
    u.add_argument("--version", type=_number, help="the version number (default: the next)")
    u.add_argument("--json", action="store_true", help="print one JSON object")
    add_signer_arguments(u)
    add_rpc_argument(u)
    u.set_defaults(run=upload)

    ls = model_sub.add_parser("list", help="registered models by id")
    ls.add_argument("--start", type=_number, default=1, help="the first id (default 1)")
    ls.add_argument("--limit", type=int, default=50, help="at most this many (default 50)")
    ls.add_argument("--owner", metavar="ADDR", help="only this account's models")
    ls.add_argument("--json", action="store_true", help="print the node's JSON")
    add_rpc_argument(ls)
    ls.set_defaults(run=list_models)

    sh = model_sub.add_parser("show", help="a model and its versions, or one version")
    sh.add_argument("id", type=_number)
    sh.add_argument("--version", type=_number, help="show this version only")
    sh.add_argument("--json", action="store_true", help="print the node's JSON")
    add_rpc_argument(sh)
    sh.set_defaults(run=show)

    register_train_lm(model_sub)


def _number(text: str) -> int:
    if not text.isascii() or not text.isdigit():
        raise argparse.ArgumentTypeError(f"{text!r}: expected a whole number")
    return int(text)


def upload(args: argparse.Namespace) -> int:
    """`xpl model upload`: check the file, upload it, create the model if need be, publish."""
    try:
        data = args.file.read_bytes()
    except OSError as exc:
        raise CliError(f"cannot read {args.file}: {exc.strerror or exc}") from exc
    fee = parse_amount(args.fee)
    try:
        plan = mc.plan_upload(args.family, mc.parse_descriptor(args.descriptor), data)
    except mc.ModelRequestError as exc:
        raise CliError(str(exc)) from exc
    keypair = signer(args)
    with connect(args) as client:
        try:
            published = mc.upload_model(
                client,
                keypair,
                plan,
                name=args.name,
                quantization=args.quantization,
                licence=args.licence,
                fee_per_use=fee,
                version=args.version,
            )
        except (RpcClientError, RpcConnectionError) as exc:
            raise node_error(exc, args.rpc) from exc
        except (JobClientError, mc.ModelRequestError) as exc:
            raise CliError(str(exc)) from exc
    summary = {
        "model": published.model_id,
        "version": published.version,
        "created": published.created,
        "weightsRoot": to_hex(published.root),
        "weightsSize": published.size,
        "deposit": format_amount(published.deposit),
        "block": published.block,
    }
    if args.json:
        print(json.dumps(summary))
    else:
        made = "created model" if published.created else "model"
        print(
            f"{made} {published.model_id} version {published.version}: "
            f"{published.size} bytes under {to_hex(published.root)}, "
            f"deposit {format_amount(published.deposit)} (block {published.block})"
        )
    return 0


def _ask(args: argparse.Namespace, method: str, *params: object) -> Any:
    with connect(args) as client:
        try:
            return client.rpc.call(method, *params)
        except (RpcClientError, RpcConnectionError) as exc:
            raise node_error(exc, args.rpc) from exc


def list_models(args: argparse.Namespace) -> int:
    """`xpl model list`: a page of models with their latest version."""
    page = _ask(args, "models_list", args.start, args.limit, args.owner)
    if args.json:
        print(json.dumps(page))
        return 0
    console = Console()
    if not page["models"]:
        console.print("no models")
        return 0
    table = Table()
    for column in ("id", "name", "owner", "versions", "latest", "family", "fee per use"):
        table.add_column(column)
    for m in page["models"]:
        latest = m["versions"][-1] if m["versions"] else None
        table.add_row(
            str(m["id"]),
            m["name"],
            m["owner"],
            str(len(m["versions"])),
            "—" if latest is None else str(latest["version"]),
            "—" if latest is None else latest["family"],
            "—" if latest is None else format_amount(int(latest["feePerUse"])),
        )
    console.print(table)
    if page["next"] is not None:
        console.print(f"more: xpl model list --start {page['next']}")
    return 0


def show(args: argparse.Namespace) -> int:
    """`xpl model show ID [--version V]`."""
    if args.version is not None:
        found = _ask(args, "models_version", args.id, args.version)
        if found is None:
            raise CliError(f"model {args.id} has no version {args.version} (or no such model)")
        versions = [found]
    else:
        found = _ask(args, "models_get", args.id)
        if found is None:
            raise CliError(f"no model {args.id}")
        versions = found["versions"]
    if args.json:
        print(json.dumps(found))
        return 0
    console = Console()
    if args.version is None:
        console.print(f"model {found['id']} {found['name']!r} owned by {found['owner']}")
        if not versions:
            console.print("no versions yet")
    for v in versions:
        state = "live" if v["live"] else f"retired at #{v['retiredAt']}"
        console.print(
            f"version {v['version']} ({state}): {v['family']} {v['architecture']}, "
            f"{v['weightsSize']} bytes under {v['weightsRoot']}, {v['quantization']}, "
            f"licence {v['licence']}, fee {format_amount(int(v['feePerUse']))} a use, "
            f"published at #{v['registeredAt']}",
            soft_wrap=True,
        )
    return 0
