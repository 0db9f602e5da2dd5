"""Arguments and helpers shared by the commands that talk to a node."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from chain.cli.errors import CliError
from chain.client.chain import DEFAULT_RPC_URL, XplClient
from chain.client.rpc import RpcClientError, RpcConnectionError
from chain.keystore import password_from_env, prompt_password, read_key_file
from runtime.primitives.keys import Keypair, keypair_from_suri


def add_rpc_argument(parser: argparse.ArgumentParser) -> None:
    """Add `--rpc`, the node's URL (default: $XPL_RPC or the local node)."""
    parser.add_argument(
        "--rpc",
        default=os.environ.get("XPL_RPC", DEFAULT_RPC_URL),
        help=f"the node's RPC URL (default {DEFAULT_RPC_URL}, or $XPL_RPC)",
    )


def add_signer_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the signer options: a development key or an encrypted key file."""
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument(
        "--from", dest="suri", metavar="//NAME", help="a development key, e.g. //Alice"
    )
    group.add_argument("--key-file", type=Path, help="an encrypted key file")
    parser.add_argument(
        "--password-env", metavar="VAR", help="read the key file's password from VAR"
    )


def signer(args: argparse.Namespace) -> Keypair:
    """The keypair the signer options name (asking for the key file's password if needed)."""
    if args.suri:
        return keypair_from_suri(args.suri)
    password = password_from_env(args.password_env) if args.password_env else prompt_password(False)
    return read_key_file(args.key_file, password)


def connect(args: argparse.Namespace) -> XplClient:
    """A client of the node that `--rpc` names."""
    return XplClient(args.rpc)


def node_error(exc: Exception, url: str) -> CliError:
    """A one-line message for an error from (or about reaching) the node."""
    if isinstance(exc, RpcConnectionError):
        return CliError(f"cannot reach the node at {url}: {exc}")
    if isinstance(exc, RpcClientError):
        return CliError(f"the node refused: {exc.message}")
    return CliError(str(exc))
