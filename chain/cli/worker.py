"""`xpl worker`: run a GPU worker that stakes, takes matched jobs, computes and commits them.

    xpl worker --rpc http://127.0.0.1:9944 --dev-key //Dave --stake 1000XPL --ask gemm_i8=1XPL

The worker registers (or updates its asks and capacity), then follows the chain: each job matched
to it is fetched, computed on the device, uploaded to the node as a blob and committed before its
deadline; committed jobs are kept readable until they settle or fail. It waits for the node when
the node is down, and stops cleanly on Ctrl-C or SIGTERM; a restarted worker resumes its jobs
from its state directory.
"""

from __future__ import annotations

import argparse
import logging
import signal
from pathlib import Path
from types import FrameType

from chain.cli.common import add_rpc_argument
from chain.cli.errors import CliError
from chain.cli.node import add_log_arguments
from chain.keystore import password_from_env, prompt_password, read_key_file
from chain.logs import setup_logging
from gpu_worker.devices import DEVICES
from gpu_worker.worker.config import WorkerConfig, WorkerError, parse_ask
from gpu_worker.worker.daemon import WorkerDaemon
from gpu_worker.worker.job_state import JobStateError
from runtime.primitives.amount import parse_amount
from runtime.primitives.keys import Keypair, keypair_from_suri

CHEAT_HELP = (
    "FOR TESTS, DEMOS AND RESEARCH ONLY: corrupt this fraction of each result's leaves (0 to 1; "
    "at least one leaf when above 0) before committing, to watch audits catch the worker and "
    "slash its stake"
)


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `xpl worker`."""
    p = sub.add_parser(
        "worker",
        help="run a GPU worker: take matched jobs, compute and commit them",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_rpc_argument(p)
    p.add_argument("--key-file", type=Path, help="the worker account's encrypted key file")
    p.add_argument("--password-env", metavar="VAR", help="read the key file's password from VAR")
    p.add_argument("--dev-key", metavar="//NAME", help="a development key, e.g. //Dave")
    p.add_argument("--device", default="auto", choices=DEVICES, help="where to compute (auto)")
    p.add_argument("--stake", help="stake to hold while working, e.g. 1000XPL (required)")
    p.add_argument(
        "--ask",
        action="append",
        default=[],
        metavar="WORKLOAD=PRICE",
        help="a workload and its price per 10^9 cost units, e.g. gemm_i8=1XPL (repeatable)",
    )
    p.add_argument("--capacity", default="1", help="jobs taken at once (default 1)")
    p.add_argument(
        "--state-dir",
        type=Path,
        default=None,
        help="job state (default: $XDG_DATA_HOME/xpl/worker/ADDRESS, ~/.local/share if unset)",
    )
    p.add_argument("--endpoint", default="", help="how requesters reach this worker (published)")
    p.add_argument(
        "--skip-measure",
        action="store_true",
        help="register a throughput of 0 instead of timing each asked workload on a small job",
    )
    p.add_argument("--cheat", default="0", metavar="FRACTION", help=CHEAT_HELP)
    p.add_argument(
        "--cheat-seed", default="0", metavar="N", help="seed of the leaves --cheat corrupts"
    )
    add_log_arguments(p)
    p.set_defaults(run=run)


def _number(text: str, name: str, kind: type[int] | type[float]) -> float:
    try:
        return kind(text)
    except ValueError as exc:
        what = "an integer" if kind is int else "a number"
        raise CliError(f"{name} must be {what}, not {text!r}") from exc


def _keypair(args: argparse.Namespace) -> Keypair:
    if args.key_file and args.dev_key:
        raise CliError("give either --key-file or --dev-key, not both")
    if args.dev_key:
        if args.password_env:
            raise CliError("--password-env is for --key-file")
        return keypair_from_suri(args.dev_key)
    if not args.key_file:
        raise CliError(
            "the worker needs its account's key: --key-file FILE (with --password-env VAR) "
            "or --dev-key //NAME on a development chain"
        )
    password = password_from_env(args.password_env) if args.password_env else prompt_password(False)
    return read_key_file(args.key_file, password)


def config_from_args(args: argparse.Namespace) -> WorkerConfig:
    """The worker's settings from the command line; CliError or ValueError for a bad one."""
    if args.stake is None:
        raise CliError("--stake is required, e.g. --stake 1000XPL")
    if not args.ask:
        raise CliError("give at least one --ask WORKLOAD=PRICE, e.g. --ask gemm_i8=1XPL")
    try:
        asks = tuple(parse_ask(text) for text in args.ask)
    except WorkerError as exc:
        raise CliError(str(exc)) from exc
    cheat = _number(args.cheat, "--cheat", float)
    if not 0.0 <= cheat <= 1.0:  # also refuses nan
        raise CliError(f"--cheat is a fraction of the leaves from 0 to 1, not {args.cheat}")
    stake = parse_amount(args.stake)
    capacity = int(_number(args.capacity, "--capacity", int))
    cheat_seed = int(_number(args.cheat_seed, "--cheat-seed", int))
    keypair = _keypair(args)
    return WorkerConfig(
        rpc_url=args.rpc,
        keypair=keypair,
        stake=stake,
        asks=asks,
        device=args.device,
        capacity=capacity,
        state_dir=args.state_dir,
        endpoint=args.endpoint,
        cheat=cheat,
        cheat_seed=cheat_seed,
        measure=not args.skip_measure,
        dev_key=bool(args.dev_key),
    )


def run(args: argparse.Namespace) -> int:
    """`xpl worker`: run the worker daemon until Ctrl-C."""
    config = config_from_args(args)
    try:
        daemon = WorkerDaemon(config)
    except WorkerError as exc:
        raise CliError(str(exc)) from exc
    setup_logging(args.log, args.log_format)

    def on_signal(signum: int, frame: FrameType | None) -> None:
        if daemon.stopping:
            raise KeyboardInterrupt  # asked twice: leave now; every file on disk is whole
        logging.getLogger("xpl.worker").info(
            "%s: stopping after the current step", signal.Signals(signum).name
        )
        daemon.request_stop()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        daemon.run()
    except (WorkerError, JobStateError) as exc:
        raise CliError(str(exc)) from exc
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    return 0
