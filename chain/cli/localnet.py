"""`xpl localnet`: a network of validator processes (and workers) on 127.0.0.1, until Ctrl-C.

    xpl localnet --validators 4 --workers 1 --base-path /tmp/xpl-net

Prints each node's RPC, metrics and p2p addresses and where its log is; Ctrl-C (or SIGTERM)
stops every process cleanly. Without --base-path the network lives in a temporary folder that is
deleted afterwards; with it, a second run on the same folder resumes the same chain.
"""

from __future__ import annotations

import argparse
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path
from types import FrameType

from chain.cli.errors import CliError
from chain.localnet import Localnet, LocalnetError
from chain.spec import ChainSpec, ChainSpecError


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `xpl localnet`."""
    p = sub.add_parser(
        "localnet",
        help="run a local network of validators (and workers) until Ctrl-C",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--validators", type=int, default=4, help="validator nodes (default 4)")
    p.add_argument("--full-nodes", type=int, default=0, help="non-validator nodes (default 0)")
    p.add_argument("--workers", type=int, default=0, help="compute workers (default 0)")
    p.add_argument("--slot-ms", type=int, default=1000, help="slot duration (default 1000)")
    p.add_argument("--base-path", type=Path, default=None, help="where everything lives")
    p.add_argument(
        "--node-arg",
        action="append",
        default=[],
        metavar="ARG",
        help="an extra argument for every node, e.g. --node-arg=--log=debug (repeatable)",
    )
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """`xpl localnet`: start the network, print its nodes, stop every process on Ctrl-C."""
    temporary = args.base_path is None
    base_path = Path(tempfile.mkdtemp(prefix="xpl-localnet-")) if temporary else args.base_path
    spec = None
    spec_path = base_path / "spec.json"
    if spec_path.exists():
        try:
            spec = ChainSpec.load(spec_path)
        except ChainSpecError as exc:
            raise CliError(f"{spec_path}: {exc}") from exc
        if len(spec.genesis.validators) != args.validators:
            raise CliError(
                f"{spec_path} has {len(spec.genesis.validators)} validators, not "
                f"{args.validators}: use another --base-path"
            )
    try:
        net = Localnet(
            base_path,
            validators=args.validators,
            full_nodes=args.full_nodes,
            workers=args.workers,
            slot_ms=args.slot_ms,
            node_args=args.node_arg,
            spec=spec,
        )
    except LocalnetError as exc:
        raise CliError(str(exc)) from exc
    stopping = False

    def on_signal(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        try:
            net.start()
        except LocalnetError as exc:
            raise CliError(str(exc)) from exc
        print(f"chain spec {net.spec_path}", flush=True)
        print(f"{'node':<10} {'rpc':<24} {'metrics':<32} log")
        for node in net.nodes:
            print(f"{node.name:<10} {node.rpc_url:<24} {node.metrics_url:<32} {node.log_path}")
            print(f"{'':<10} p2p {node.p2p_address}")
        for worker in net.workers:
            print(f"worker {worker.key_uri} on {worker.node.name}: log {worker.process.log_path}")
        print("running; Ctrl-C stops every process", flush=True)
        reported: set[str] = set()
        while not stopping:
            time.sleep(0.5)
            for node in net.nodes:
                if not node.running and node.name not in reported:
                    reported.add(node.name)
                    print(f"node {node.name} exited; its log: {node.log_path}", file=sys.stderr)
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        codes = net.stop()
        print("stopped: " + ", ".join(f"{name} ({code})" for name, code in codes.items()))
        if temporary:
            shutil.rmtree(base_path, ignore_errors=True)
    return 0
