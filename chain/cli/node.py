"""`xpl node`: run a full node (and, with a validator key, author and finalize blocks)."""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path

import trio

from chain.cli.errors import CliError
from chain.cli.rpc_flags import (
    add_prometheus_arguments,
    add_rpc_arguments,
    rpc_settings,
    warn_external,
)
from chain.cli.rpc_flags import port_number as _port
from chain.core.grinding import AUTHOR_BEHAVIOURS, MAX_GRIND_VARIANTS, Grinding
from chain.keystore import password_from_env, prompt_password, read_key_file
from chain.logs import setup_logging
from chain.service.blob_retention import BlobSettings
from chain.service.node import NetworkSettings, NodeConfig, run_node
from chain.service.verification import BEHAVIOURS
from chain.spec import ChainSpec, ChainSpecError, builtin_spec
from chain.storage.blob_ledger import BLOB_RETENTION_MS
from chain.storage.blobs import ACCOUNT_QUOTA_BYTES, MAX_STORED_BYTES
from chain.storage.chain_store import ChainStoreError
from chain.storage.kv import StoreError
from gpu_worker.devices import DEVICES, DeviceError, select_device
from p2p.config import NetworkConfigError, parse_peer_address, parse_peer_id
from p2p.errors import NetworkError
from p2p.keys import NodeKeyError, load_or_create_node_key
from runtime.invariants import InvariantsBroken
from runtime.primitives.address import InvalidAddress, parse_account
from runtime.primitives.keys import Keypair, keypair_from_suri


def _pruning(text: str) -> int | None:
    if text == "archive":
        return None
    try:
        value = int(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError("--pruning takes a number of states or 'archive'") from exc
    if value < 1:
        raise argparse.ArgumentTypeError("--pruning keeps at least 1 state")
    return value


_SIZE_UNITS = {"": 1, "KiB": 1024, "MiB": 1024**2, "GiB": 1024**3, "TiB": 1024**4}


def _byte_size(text: str) -> int:
    """A size in bytes: a whole number, optionally followed by KiB, MiB, GiB or TiB."""
    number = text.rstrip("KMGTiB")
    unit = text[len(number) :]
    if unit not in _SIZE_UNITS or not number.isdigit():
        raise argparse.ArgumentTypeError(f"{text!r} is not a size: write e.g. 512MiB or 16GiB")
    value = int(number) * _SIZE_UNITS[unit]
    if value < 1:
        raise argparse.ArgumentTypeError("a size is at least 1 byte")
    return value


def _seconds(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of seconds (at least 1)")
    return int(text)


def add_log_arguments(parser: argparse.ArgumentParser) -> None:
    """Add `--log` (the level) and `--log-format` (text or JSON)."""
    parser.add_argument("--log", default="info", choices=["debug", "info", "warning", "error"])
    parser.add_argument("--log-format", default="text", choices=["text", "json"])


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `xpl node`."""
    p = sub.add_parser("node", help="run a node", description=__doc__)
    p.add_argument("--dev", action="store_true", help="dev chain, //Alice validates, temporary db")
    p.add_argument("--chain", default=None, help="dev, local, or a chain spec file")
    p.add_argument("--base-path", type=Path, default=None, help="where the database lives")
    p.add_argument("--name", default="xpl-node", help="this node's name in logs and RPC")
    p.add_argument("--validator", action="store_true", help="author and finalize blocks")
    p.add_argument("--key-file", type=Path, help="the validator's encrypted key file")
    p.add_argument("--password-env", metavar="VAR", help="read the key file's password from VAR")
    p.add_argument("--dev-key", metavar="//NAME", help="a development key as validator key")
    p.add_argument("--port", type=_port, default=30333, help="p2p port (0: any free port)")
    p.add_argument(
        "--listen-host", default="127.0.0.1", help="p2p address to listen on (0.0.0.0: all)"
    )
    p.add_argument(
        "--bootnodes",
        nargs="+",
        default=[],
        metavar="MULTIADDR",
        help="peers to dial and keep connected: /ip4/127.0.0.1/tcp/30333/p2p/PEERID",
    )
    p.add_argument(
        "--reserved-nodes",
        nargs="+",
        default=[],
        metavar="PEERID",
        help="peer ids (the other validators' nodes) let in whatever the peer limits",
    )
    p.add_argument(
        "--node-key-file",
        type=Path,
        help="the node's libp2p identity (created if missing; default: BASE/network/node_key)",
    )
    add_rpc_arguments(p)
    add_prometheus_arguments(p)
    p.add_argument(
        "--pruning", type=_pruning, default=256, help="finalized states to keep, or 'archive'"
    )
    p.add_argument(
        "--verify-device",
        default="auto",
        choices=list(DEVICES),
        help="where a validator recomputes audited results (auto: the GPU if any, else the CPU)",
    )
    p.add_argument(
        "--verifier-behaviour",
        default="honest",
        choices=list(BEHAVIOURS),
        help="test and research only: answer checks lazily (made-up hashes), never (silent), or "
        "always 'unavailable' -- what a rational but lazy validator would do; the chain "
        "penalizes each",
    )
    p.add_argument(
        "--author-behaviour",
        default="honest",
        choices=list(AUTHOR_BEHAVIOURS),
        help="test and research only: grind -- build --grind-variants blocks in each slot and "
        "publish the one that audits --grind-against's jobs least (the VRF draws leave it "
        "nothing to gain)",
    )
    p.add_argument("--grind-against", metavar="ACCOUNT", help="the worker a grinding author spares")
    p.add_argument(
        "--grind-variants",
        type=int,
        default=32,
        help=f"blocks a grinding author builds per slot (1 to {MAX_GRIND_VARIANTS})",
    )
    p.add_argument(
        "--test-rpc",
        action="store_true",
        help="test networks only: serve test_setBlockedPeers (a network filter for partitions)",
    )
    p.add_argument(
        "--test-equivocate",
        action="store_true",
        help="test networks only: the validator votes twice in each round, to be caught",
    )
    p.add_argument(
        "--blob-max-bytes",
        type=_byte_size,
        default=MAX_STORED_BYTES,
        metavar="SIZE",
        help="what stored blobs and uploads in progress may take in all; uploads past it are "
        "refused (default: 16GiB)",
    )
    p.add_argument(
        "--blob-account-bytes",
        type=_byte_size,
        default=ACCOUNT_QUOTA_BYTES,
        metavar="SIZE",
        help="what one account's blobs that no job references, and its uploads in progress, may "
        "take (default: 1GiB)",
    )
    p.add_argument(
        "--blob-retention",
        type=_seconds,
        default=BLOB_RETENTION_MS // 1000,
        metavar="SECONDS",
        help="how long a blob that no open job or upload references is kept (default: 86400)",
    )
    p.add_argument(
        "--check-invariants",
        action="store_true",
        help="check every runtime invariant after each block; stop with an error if one breaks",
    )
    add_log_arguments(p)
    p.set_defaults(run=run)


def _grinding(args: argparse.Namespace) -> Grinding | None:
    """The grinding author's aim, for `--author-behaviour grind`."""
    if args.author_behaviour != "grind":
        return None
    if args.grind_against is None:
        raise CliError("--author-behaviour grind needs --grind-against ACCOUNT")
    try:
        return Grinding(parse_account(args.grind_against), args.grind_variants)
    except (InvalidAddress, ValueError) as exc:
        raise CliError(f"--grind-against, --grind-variants: {exc}") from exc


def _validator_key(args: argparse.Namespace, spec: ChainSpec) -> Keypair | None:
    if args.dev and not (args.key_file or args.dev_key):
        return keypair_from_suri("//Alice")
    if not args.validator and not args.dev:
        if args.key_file or args.dev_key:
            raise CliError("--key-file and --dev-key are for validators: add --validator")
        return None
    if args.key_file and args.dev_key:
        raise CliError("give either --key-file or --dev-key, not both")
    if args.dev_key:
        if spec.chain_type == "Live":
            raise CliError("development keys are refused on a live chain")
        return keypair_from_suri(args.dev_key)
    if not args.key_file:
        raise CliError("a validator needs --key-file (or --dev-key on a dev or local chain)")
    password = password_from_env(args.password_env) if args.password_env else prompt_password(False)
    return read_key_file(args.key_file, password)


def run(args: argparse.Namespace) -> int:
    """`xpl node`: run a node until Ctrl-C."""
    setup_logging(args.log, args.log_format)
    if args.dev and args.chain not in (None, "dev"):
        raise CliError("--dev runs the dev chain; drop --chain or --dev")
    try:
        spec = builtin_spec(args.chain or "dev")
    except ChainSpecError as exc:
        raise CliError(str(exc)) from exc
    key = _validator_key(args, spec)
    if key is not None and key.public not in spec.genesis.validator_keys:
        raise CliError("the validator key is not in this chain's validator set")
    if key is not None and args.verify_device == "cuda":
        try:
            select_device("cuda")
        except DeviceError as exc:
            raise CliError(f"--verify-device cuda: {exc}") from exc
    temporary = None
    base_path = args.base_path
    if base_path is None:
        if not args.dev:
            raise CliError("--base-path is required (or use --dev for a temporary chain)")
        temporary = Path(tempfile.mkdtemp(prefix="xpl-dev-"))
        base_path = temporary
    grinding = _grinding(args)
    if (args.test_rpc or args.test_equivocate or grinding) and spec.chain_type == "Live":
        raise CliError(
            "--test-rpc, --test-equivocate and --author-behaviour grind are refused on a live chain"
        )
    for address in args.bootnodes:
        try:
            parse_peer_address(address)
        except NetworkConfigError as exc:
            raise CliError(f"--bootnodes: {exc}") from exc
    reserved = []
    for text in args.reserved_nodes:
        try:
            reserved.append(parse_peer_id(text))
        except NetworkConfigError as exc:
            raise CliError(f"--reserved-nodes: {exc}") from exc
    limits, access = rpc_settings(args)
    warn_external(args, access)
    node_key_file = args.node_key_file or base_path / "network" / "node_key"
    try:
        node_key = load_or_create_node_key(node_key_file)
    except NodeKeyError as exc:
        raise CliError(f"--node-key-file: {exc}") from exc
    config = NodeConfig(
        spec=spec,
        base_path=base_path,
        name=args.name,
        validator_key=key,
        rpc_host="0.0.0.0" if args.rpc_external else "127.0.0.1",
        rpc_port=args.rpc_port,
        rpc_limits=limits,
        rpc_access=access,
        prometheus_host="0.0.0.0" if args.prometheus_external else "127.0.0.1",
        prometheus_port=None if args.no_prometheus else args.prometheus_port,
        pruning=args.pruning,
        verify_device=args.verify_device,
        verifier_behaviour=args.verifier_behaviour,
        network=NetworkSettings(
            node_key=node_key,
            port=args.port,
            listen_host=args.listen_host,
            bootnodes=tuple(args.bootnodes),
            reserved_peers=tuple(reserved),
        ),
        test_rpc=args.test_rpc,
        test_equivocate=args.test_equivocate,
        grinding=grinding,
        check_invariants=args.check_invariants,
        blobs=BlobSettings(
            max_stored_bytes=args.blob_max_bytes,
            account_quota_bytes=args.blob_account_bytes,
            retention_ms=args.blob_retention * 1000,
        ),
    )
    try:
        trio.run(lambda: run_node(config, handle_signals=True))
    except (StoreError, ChainStoreError, NetworkError, NetworkConfigError) as exc:
        raise CliError(str(exc)) from exc
    except OSError as exc:
        raise CliError(f"cannot start the node: {exc}") from exc
    except InvariantsBroken as exc:
        raise CliError(str(exc)) from exc
    finally:
        if temporary is not None:
            shutil.rmtree(temporary, ignore_errors=True)
    return 0
