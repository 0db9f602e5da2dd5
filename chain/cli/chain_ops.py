"""`xpl build-spec` and `xpl purge-chain`: write a chain spec, delete a node's database."""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

from chain.cli.errors import CliError
from chain.keystore import KeyFileError, password_from_env, prompt_password, write_key_file
from chain.spec import ChainSpec, ChainSpecError, builtin_spec, local_spec, validator_uris_of
from chain.storage.kv import LevelDBStore, StoreError
from runtime.primitives.keys import keypair_from_suri


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `xpl build-spec` and `xpl purge-chain`."""
    b = sub.add_parser("build-spec", help="print or write a chain spec")
    b.add_argument("--chain", default="local", help="dev, local, or a spec file to re-check")
    b.add_argument("--validators", type=int, default=None, help="validators of a local chain")
    b.add_argument("--slot-ms", type=int, default=1000, help="slot duration of a local chain")
    b.add_argument("--out", type=Path, default=None, help="write here instead of stdout")
    b.add_argument(
        "--keys-dir",
        type=Path,
        default=None,
        help="also write each validator's dev key as an encrypted key file here (local chains)",
    )
    b.add_argument("--password-env", metavar="VAR", help="the key files' password, read from VAR")
    b.set_defaults(run=build_spec)

    p = sub.add_parser("purge-chain", help="delete a node's database")
    p.add_argument("--base-path", type=Path, required=True)
    p.add_argument("--chain", default="dev", help="the chain whose database to delete")
    p.add_argument("-y", "--yes", action="store_true", help="do not ask for confirmation")
    p.set_defaults(run=purge_chain)


def build_spec(args: argparse.Namespace) -> int:
    """`xpl build-spec`: print or write a chain spec (and the dev keys, if asked)."""
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
    if args.keys_dir is not None:
        _write_dev_keys(args, spec)
    if args.out is None:
        sys.stdout.write(text)
    else:
        args.out.write_text(text)
        print(f"wrote {args.out} (genesis 0x{spec.genesis_header().hash.hex()})", file=sys.stderr)
    return 0


def _write_dev_keys(args: argparse.Namespace, spec: ChainSpec) -> None:
    """Each validator's development key as a key file: keys-dir/alice.json, bob.json, ..."""
    if spec.chain_type == "Live":
        raise CliError("--keys-dir writes development keys: not for a live chain")
    password = password_from_env(args.password_env) if args.password_env else prompt_password(True)
    args.keys_dir.mkdir(parents=True, exist_ok=True)
    uris = validator_uris_of(len(spec.genesis.validators))
    for uri in uris:
        keypair = keypair_from_suri(uri)
        if keypair.public not in spec.genesis.validator_keys:
            continue
        path = args.keys_dir / f"{uri[2:].lower()}.json"
        try:
            write_key_file(path, keypair, password)
        except KeyFileError as exc:
            raise CliError(str(exc)) from exc
        print(f"wrote {path} ({uri})", file=sys.stderr)


def purge_chain(args: argparse.Namespace) -> int:
    """`xpl purge-chain`: delete a node's database, if no node runs on it (asking first,
    unless -y)."""
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
