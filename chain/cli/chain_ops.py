"""`xpl build-spec` and `xpl purge-chain`: write a chain spec, delete a node's database."""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

from chain.cli.errors import CliError
from chain.spec import ChainSpecError, builtin_spec, local_spec
from chain.storage.kv import LevelDBStore, StoreError


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    b = sub.add_parser("build-spec", help="print or write a chain spec")
    b.add_argument("--chain", default="local", help="dev, local, or a spec file to re-check")
    b.add_argument("--validators", type=int, default=None, help="validators of a local chain")
    b.add_argument("--slot-ms", type=int, default=1000, help="slot duration of a local chain")
    b.add_argument("--out", type=Path, default=None, help="write here instead of stdout")
    b.set_defaults(run=build_spec)

    p = sub.add_parser("purge-chain", help="delete a node's database")
    p.add_argument("--base-path", type=Path, required=True)
    p.add_argument("--chain", default="dev", help="the chain whose database to delete")
    p.add_argument("-y", "--yes", action="store_true", help="do not ask for confirmation")
    p.set_defaults(run=purge_chain)


def build_spec(args: argparse.Namespace) -> int:
    try:
        if args.validators is not None:
            if args.chain != "local":
                raise CliError("--validators applies to --chain local")
            spec = local_spec(validators=args.validators, slot_duration_ms=args.slot_ms)
        else:
            spec = builtin_spec(args.chain)
    except ChainSpecError as exc:
        raise CliError(str(exc)) from exc
    text = json.dumps(spec.to_json(), indent=2) + "\n"
    if args.out is None:
        sys.stdout.write(text)
    else:
        args.out.write_text(text)
        print(f"wrote {args.out} (genesis 0x{spec.genesis_header().hash.hex()})", file=sys.stderr)
    return 0


def purge_chain(args: argparse.Namespace) -> int:
    try:
        spec = builtin_spec(args.chain)
    except ChainSpecError as exc:
        raise CliError(str(exc)) from exc
    db = args.base_path / "chains" / spec.id / "db"
    if not db.exists():
        print(f"nothing to delete: {db} does not exist")
        return 0
    try:  # LevelDB's lock tells whether a node is running on this database
        LevelDBStore(db).close()
    except StoreError as exc:
        raise CliError(f"{db} is in use (is a node running on it?): {exc}") from exc
    if not args.yes:
        try:
            answer = input(f"delete {db}? [y/N] ")
        except EOFError as exc:
            raise CliError(
                f"nothing deleted: no answer to the question; pass -y to delete {db}"
            ) from exc
        if answer.strip().lower() not in ("y", "yes"):
            print("aborted: nothing deleted (answer y, or pass -y)")
            return 1
    shutil.rmtree(db)
    print(f"deleted {db}")
    return 0
