"""`xpl key`: make account keys and show what a key, key file or address stands for.

    xpl key generate [--out FILE] [--suri //Name|0xSEED] [--password-env VAR] [--overwrite] [--json]
    xpl key inspect (SURI | --key-file FILE [--password-env VAR] | --address ADDRESS) [--json]

A secret seed is printed only when the user asked for it by giving it (`inspect SURI`) or when it
exists nowhere else (`generate` without `--out`), and then with a warning on stderr, so that stdout
stays a clean record to parse.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from chain.cli.errors import CliError
from chain.keystore import password_from_env, prompt_password, read_key_file, write_key_file
from runtime.primitives.address import InvalidAddress, decode_address, encode_address, parse_account
from runtime.primitives.hashing import to_hex
from runtime.primitives.keys import InvalidKey, Keypair, keypair_from_suri


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `xpl key generate` and `xpl key inspect`."""
    parser = subparsers.add_parser(
        "key",
        help="generate and inspect account keys",
        description="Generate and inspect Ed25519 account keys, key files and addresses.",
    )
    commands = parser.add_subparsers(dest="key_command", metavar="COMMAND", required=True)

    generate = commands.add_parser(
        "generate",
        help="make a new key (random unless --suri)",
        description="Make a key pair: random, or from --suri. With --out, write it to an "
        "encrypted key file; without, print its secret seed.",
    )
    generate.add_argument("--out", metavar="FILE", help="write an encrypted key file here")
    generate.add_argument(
        "--suri", metavar="SURI", help="derive the key from //Name or a 0x-prefixed 32-byte seed"
    )
    generate.add_argument(
        "--password-env",
        metavar="VAR",
        help="read the key file's password from this environment variable instead of a prompt",
    )
    generate.add_argument("--overwrite", action="store_true", help="replace an existing --out")
    generate.add_argument("--json", action="store_true", help="print one JSON object")
    generate.set_defaults(run=run_generate)

    inspect = commands.add_parser(
        "inspect",
        help="show the address and public key of a key, key file or address",
        description="Show the address and public key of a secret URI, a key file or an address.",
    )
    source = inspect.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "suri", nargs="?", metavar="SURI", help="//Name or a 0x-prefixed 32-byte seed"
    )
    source.add_argument("--key-file", metavar="FILE", help="an encrypted key file")
    source.add_argument("--address", metavar="ADDRESS", help="an address or 0x-prefixed public key")
    inspect.add_argument(
        "--password-env",
        metavar="VAR",
        help="read the key file's password from this environment variable instead of a prompt",
    )
    inspect.add_argument("--json", action="store_true", help="print one JSON object")
    inspect.set_defaults(run=run_inspect)


def run_generate(args: argparse.Namespace) -> int:
    """Make a key pair; write it to a key file, or print it with its secret seed."""
    if args.out is None and (args.password_env is not None or args.overwrite):
        raise CliError("--password-env and --overwrite apply only with --out FILE")
    keypair = keypair_from_suri(args.suri) if args.suri is not None else Keypair.generate()
    if args.suri is not None and args.suri.startswith("//"):
        _warn(
            f"{args.suri} is a development key that anyone can recompute; "
            "use it only on dev and local chains"
        )
    if args.out is None:
        _warn("the secret seed below controls the account: keep it secret and share it with no one")
        _show(keypair.public, secret_seed=keypair.seed, as_json=args.json)
        return 0
    out = Path(args.out)
    if out.exists() and not args.overwrite:
        raise CliError(f"{out} already exists; pass --overwrite to replace it")
    password = _password(args.password_env, confirm=True)
    write_key_file(out, keypair, password, overwrite=args.overwrite)
    if not args.json:
        print(f"Key file:    {out}")
    _show(keypair.public, secret_seed=None, as_json=args.json)
    return 0


def run_inspect(args: argparse.Namespace) -> int:
    """Show the address and public key of a secret URI, key file or address."""
    if args.password_env is not None and args.key_file is None:
        raise CliError("--password-env applies only with --key-file FILE")
    if args.suri is not None:
        keypair = _keypair_from_suri(args.suri)
        _show(keypair.public, secret_seed=keypair.seed, as_json=args.json)
    elif args.key_file is not None:
        password = _password(args.password_env, confirm=False)
        keypair = read_key_file(args.key_file, password)
        _show(keypair.public, secret_seed=None, as_json=args.json)
    else:
        _show(parse_account(args.address), secret_seed=None, as_json=args.json)
    return 0


def _keypair_from_suri(suri: str) -> Keypair:
    """A secret URI's key pair, telling a user who passed an address to use --address."""
    try:
        return keypair_from_suri(suri)
    except InvalidKey as exc:
        if not _is_address(suri):
            raise
        raise CliError(f"{suri} is an address, not a secret URI; use --address {suri}") from exc


def _is_address(text: str) -> bool:
    try:
        decode_address(text)
    except InvalidAddress:
        return False
    return True


def _password(env_var: str | None, *, confirm: bool) -> bytes:
    return password_from_env(env_var) if env_var is not None else prompt_password(confirm)


def _show(public: bytes, *, secret_seed: bytes | None, as_json: bool) -> None:
    fields = {"address": encode_address(public), "publicKey": to_hex(public)}
    if secret_seed is not None:
        fields["secretSeed"] = to_hex(secret_seed)
    if as_json:
        print(json.dumps(fields))
        return
    print(f"Address:     {fields['address']}")
    print(f"Public key:  {fields['publicKey']}")
    if secret_seed is not None:
        print(f"Secret seed: {fields['secretSeed']}")


def _warn(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr)
