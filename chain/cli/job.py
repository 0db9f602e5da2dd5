"""`xpl job`: submit compute jobs, follow them, fetch and check their results, dispute them.

    xpl job submit --workload gemm_i8 --params 256,256,256,64 --seed 7 --max-price 2XPL \\
        --from //Charlie --wait
    xpl job submit --workload gemm_i8 --input a=A.npy --input b=B.npy --max-price 2XPL ...
    xpl job submit --model 3 --params 64,1,64,64,10 --input x=X.npy --max-price 2XPL ...
    xpl job status 7
    xpl job list --mine --from //Charlie
    xpl job result 7 --out C.npy                      # checks it and saves it if it is right
    xpl job result 7 --out C.npy --from //Charlie     # ...and disputes it if it is wrong
    xpl job cancel 7 --from //Charlie

The work is done by `chain.client.jobs`; this module reads arguments and shows what happens.
"""

from __future__ import annotations

import argparse
import functools
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, MofNCompleteColumn, Progress, TextColumn
from rich.status import Status
from rich.table import Table

from chain.cli.common import add_rpc_argument, add_signer_arguments, connect, node_error, signer
from chain.cli.errors import CliError
from chain.cli.job_history import current_worker, match_lines, submitted_row
from chain.client import jobs as jc
from chain.client import models as mc
from chain.client.chain import JobView, TransactionFailed, XplClient
from chain.client.checks import phase, reveal_vote
from chain.client.rpc import RpcClientError, RpcConnectionError
from gpu_worker.freivalds import sgd_spot_checks
from runtime.pallets import compute, market
from runtime.primitives.address import encode_address, parse_account
from runtime.primitives.amount import format_amount, parse_amount
from runtime.primitives.hashing import to_hex
from runtime.primitives.keys import DEV_ACCOUNT_NAMES, Keypair, dev_keypair
from runtime.workloads import WORKLOADS


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `xpl job` and its actions."""
    job = sub.add_parser("job", help="submit compute jobs, follow them, fetch their results")
    job_sub = job.add_subparsers(dest="job_command", metavar="ACTION", required=True)

    s = job_sub.add_parser("submit", help="submit a job and hold its escrow")
    s.add_argument("--workload", help=f"one of {', '.join(sorted(WORKLOADS))}")
    s.add_argument(
        "--model",
        type=_job_id,
        metavar="ID",
        help="run registered model ID (its weights are on chain; the workload is its family)",
    )
    s.add_argument("--model-version", type=_job_id, metavar="V", help="default: the latest live")
    s.add_argument(
        "--params",
        help="the workload's parameters, e.g. 256,256,256,8,64 (gemm_i8: m,k,n,row_block,col_block"
        "; m,k,n alone takes the default tiles)",
    )
    s.add_argument(
        "--input",
        action="append",
        default=[],
        metavar="NAME=FILE",
        help="an input from a file (a .npy array, or raw bytes); repeat per input. "
        "Inputs not given are generated from --seed",
    )
    s.add_argument("--seed", type=_seed, help="seed of generated inputs (default: random)")
    s.add_argument(
        "--max-price", required=True, help="highest price per 10^9 cost units, e.g. 2XPL"
    )
    s.add_argument(
        "--deadline",
        type=int,
        default=jc.DEFAULT_DEADLINE_BLOCKS,
        metavar="BLOCKS",
        help=f"blocks the worker has to commit (default {jc.DEFAULT_DEADLINE_BLOCKS})",
    )
    s.add_argument(
        "--wait-blocks",
        type=int,
        default=jc.DEFAULT_WAIT_BLOCKS,
        metavar="BLOCKS",
        help=f"blocks to wait for a worker before expiring (default {jc.DEFAULT_WAIT_BLOCKS})",
    )
    s.add_argument("--mode", choices=market.MODES, default="sampled", help="verification mode")
    s.add_argument("--wait", action="store_true", help="follow the job until it ends")
    s.add_argument("--json", action="store_true", help="print one JSON object")
    add_signer_arguments(s)
    add_rpc_argument(s)
    s.set_defaults(run=submit)

    st = job_sub.add_parser("status", help="a job's state, worker, payment, checks and deadlines")
    st.add_argument("id", type=_job_id)
    st.add_argument("--json", action="store_true", help="print one JSON object")
    add_rpc_argument(st)
    st.set_defaults(run=status)

    ls = job_sub.add_parser("list", help="jobs, newest first")
    ls.add_argument("--state", action="append", choices=market.JOB_STATES, help="repeatable")
    who = ls.add_mutually_exclusive_group()
    who.add_argument("--requester", metavar="ADDR", help="jobs submitted by this account")
    who.add_argument("--mine", action="store_true", help="jobs submitted by the --from account")
    ls.add_argument("--worker", metavar="ADDR", help="jobs taken by this worker")
    ls.add_argument("--limit", type=int, default=50, help="at most this many (default 50)")
    ls.add_argument("--json", action="store_true", help="print one JSON array")
    _add_optional_signer(ls)
    add_rpc_argument(ls)
    ls.set_defaults(run=list_jobs)

    r = job_sub.add_parser(
        "result", help="fetch a job's result, check it, and dispute it if it is wrong"
    )
    r.add_argument("id", type=_job_id)
    r.add_argument("--out", type=Path, required=True, metavar="FILE.npy", help="where to save it")
    r.add_argument("--no-check", action="store_true", help="save the result without checking it")
    r.add_argument(
        "--no-dispute", action="store_true", help="report a wrong result without disputing it"
    )
    _add_optional_signer(r, "the account that files a dispute (and bonds the fraud bond)")
    add_rpc_argument(r)
    r.set_defaults(run=result)

    c = job_sub.add_parser("cancel", help="cancel a job still waiting for a worker")
    c.add_argument("id", type=_job_id)
    add_signer_arguments(c)
    add_rpc_argument(c)
    c.set_defaults(run=cancel)


def _job_id(text: str) -> int:
    if not text.isascii() or not text.isdigit():
        raise argparse.ArgumentTypeError(f"job id {text!r}: expected a whole number")
    return int(text)


def _seed(text: str) -> int:
    if not text.isascii() or not text.isdigit() or int(text) >= 2**64:
        raise argparse.ArgumentTypeError(f"seed {text!r}: expected a whole number below 2^64")
    return int(text)


def _add_optional_signer(parser: argparse.ArgumentParser, what: str = "the account") -> None:
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--from", dest="suri", metavar="//NAME", help=f"{what}: a development key")
    group.add_argument("--key-file", type=Path, help=f"{what}: an encrypted key file")
    parser.add_argument(
        "--password-env", metavar="VAR", help="read the key file's password from VAR"
    )


def _has_signer(args: argparse.Namespace) -> bool:
    return bool(args.suri or args.key_file)


@contextmanager
def _talking_to_node(args: argparse.Namespace) -> Iterator[XplClient]:
    """A client; the errors of the node, of transactions and of the job turned into one line."""
    with connect(args) as client:
        try:
            yield client
        except (RpcClientError, RpcConnectionError) as exc:
            raise node_error(exc, args.rpc) from exc
        except (TransactionFailed, jc.JobClientError) as exc:
            raise CliError(str(exc)) from exc


def _console() -> Console:
    # Tables are wide: give them room even when the output is not a terminal.
    return Console(width=None if sys.stdout.isatty() else 140, highlight=False)


@functools.cache
def _dev_names() -> dict[bytes, str]:
    return {dev_keypair(name).public: name for name in DEV_ACCOUNT_NAMES}


def _who(account: bytes | None, *, short: bool = False) -> str:
    """A dev account by name (with the start of its address), any other by its address
    shortened."""
    if account is None:
        return "-"
    address = encode_address(account)
    name = _dev_names().get(account)
    if name is not None:
        return name if short else f"{name} ({address[:8]}…)"
    return f"{address[:8]}…{address[-4:]}"


# submit


def _parse_inputs(specs: list[str]) -> dict[str, Path]:
    files: dict[str, Path] = {}
    for spec in specs:
        name, sep, path = spec.partition("=")
        if not sep or not name or not path:
            raise CliError(f"--input {spec!r}: expected NAME=FILE, for example a=A.npy")
        if name in files:
            raise CliError(f"--input {name} is given twice")
        files[name] = Path(path)
    return files


def submit(args: argparse.Namespace) -> int:
    """`xpl job submit`: check the job, upload its inputs, hold the escrow; follow with --wait."""
    max_price = parse_amount(args.max_price)
    model = None
    if args.model is not None:
        with _talking_to_node(args) as client:
            model = mc.model_ref(client, args.model, args.model_version)
        if args.workload not in (None, model.family):
            raise CliError(f"model {model.model_id} is a {model.family} model, not {args.workload}")
    elif args.workload is None:
        raise CliError("give --workload, or --model to run a registered model")
    try:
        params = None if args.params is None else jc.parse_params(args.params)
        request = jc.make_request(
            args.workload if model is None else model.family,
            params,
            _parse_inputs(args.input),
            max_price=max_price,
            seed=args.seed,
            deadline_blocks=args.deadline,
            wait_blocks=args.wait_blocks,
            mode=args.mode,
            model=model,
        )
    except jc.JobRequestError as exc:
        raise CliError(str(exc)) from exc
    keypair = signer(args)
    console = _console()
    with _talking_to_node(args) as client:
        quote = jc.quote_job(client, keypair.public, request)
        if quote.unmatchable:
            raise CliError(_no_worker(request, quote))
        job = _submit_with_progress(client, keypair, request, console, quiet=args.json)
        summary = _submitted_json(job, request, keypair.public)
        if not args.json:
            _show_submitted(console, job, request, keypair.public)
        if not args.wait:
            if args.json:
                print(json.dumps(summary))
            return 0
        watcher = _JobWatcher(console, jc.dispute_window(client), quiet=args.json)
        with watcher.running():
            outcome = jc.follow_job(client, job.id, on_start=watcher.start, on_event=watcher.event)
    summary["outcome"] = _outcome_json(outcome)
    if args.json:
        print(json.dumps(summary))
    else:
        console.print(_outcome_line(outcome), soft_wrap=True)
    if outcome.state != "settled":
        raise CliError(_outcome_error(outcome, request, watcher.given_back))
    return 0


def _no_worker(request: jc.JobRequest, quote: jc.Quote) -> str:
    """Why the chain would refuse a job no worker asks as little as (NoEligibleWorker)."""
    if quote.cheapest_ask is None:
        why = f"no registered worker offers {request.workload}"
    else:
        why = (
            f"no worker asks as little as {format_amount(request.max_price)} per 10^9 units for "
            f"{request.workload} (the cheapest asks {format_amount(quote.cheapest_ask)})"
        )
    return f"{why}: the chain refuses a job that no worker could take"


def _submit_with_progress(
    client: XplClient, keypair: Keypair, request: jc.JobRequest, console: Console, *, quiet: bool
) -> jc.SubmittedJob:
    if quiet or not request.inputs or not console.is_terminal:
        return jc.submit_job(client, keypair, request)
    with Progress(
        TextColumn("uploading {task.description}"),
        BarColumn(),
        DownloadColumn(),
        console=console,
        transient=True,
    ) as progress:
        tasks = {
            name: progress.add_task(name, total=len(given.data))
            for name, given in request.inputs.items()
        }

        def uploaded(name: str, sent: int, total: int) -> None:
            progress.update(tasks[name], completed=sent, total=total)

        return jc.submit_job(client, keypair, request, on_upload=uploaded)


def _submitted_json(
    job: jc.SubmittedJob, request: jc.JobRequest, requester: bytes
) -> dict[str, Any]:
    return {
        "job": job.id,
        "block": job.block,
        "requester": encode_address(requester),
        "workload": request.workload,
        "params": list(request.params),
        "seed": job.seed,
        "inputs": {name: to_hex(root) if root else None for name, root in job.inputs},
        "costUnits": job.cost_units,
        "maxPrice": format_amount(request.max_price),
        "escrow": format_amount(job.escrow),
        "fee": format_amount(job.fee),
        "worker": None if job.match is None else encode_address(job.match.worker),
        "price": None if job.match is None else format_amount(job.match.price),
        "commitBy": None if job.match is None else job.match.commit_by,
        "model": None
        if request.model is None
        else {
            "id": request.model.model_id,
            "version": request.model.version,
            "fee": format_amount(request.model.fee),
        },
    }


def _show_submitted(
    console: Console, job: jc.SubmittedJob, request: jc.JobRequest, requester: bytes
) -> None:
    console.print(f"[bold]job {job.id} submitted[/] in block #{job.block} by {_who(requester)}")
    shape = request.shape
    rows = [
        ("workload", f"{request.workload} {list(request.params)}"),
        ("size", f"{shape.cost_units} cost units, {shape.leaves} result leaves"),
        (
            "inputs",
            ", ".join(
                f"{name} = blob {to_hex(root)[:18]}…" if root else f"{name} from seed {job.seed}"
                for name, root in job.inputs
            ),
        ),
        ("escrow", f"{format_amount(job.escrow)} held (max price {_price(request.max_price)})"),
        ("fee", format_amount(job.fee)),
    ]
    if request.model is not None:
        model = request.model
        rows.append(
            (
                "model",
                f"{model.model_id} version {model.version}, "
                f"{format_amount(model.fee)} a use (in the escrow)",
            )
        )
    if job.match is not None:
        rows.append(
            (
                "worker",
                f"{_who(job.match.worker)} at {_price(job.match.price)}, "
                f"commits by #{job.match.commit_by}",
            )
        )
    else:
        rows.append(("worker", f"none yet: waits until #{job.block + request.wait_blocks}"))
    for key, value in rows:
        console.print(f"  {key:>9}  {value}", soft_wrap=True)


def _price(price: int) -> str:
    return f"{format_amount(price)} per 10^9 units"


class _JobWatcher:
    """Shows a job's life as it happens: one line per event, a spinner saying what it waits on."""

    def __init__(self, console: Console, window: int, *, quiet: bool) -> None:
        self.console = console
        self.window = window
        self.quiet = quiet
        self.status: Status | None = None
        self.disputes_until: int | None = None
        self.given_back = 0
        """Matches its workers gave back (declined or missed) while it was followed."""

    @contextmanager
    def running(self) -> Iterator[None]:
        if self.quiet:
            yield
            return
        with self.console.status("following the job...") as status:
            self.status = status
            try:
                yield
            finally:
                self.status = None

    def _waiting(self, text: str) -> None:
        if self.status is not None:
            self.status.update(text)

    def _line(self, number: int | None, text: str) -> None:
        if not self.quiet:
            block = f"#{number}" if number is not None else ""
            self.console.print(f"  {block:>7}  {text}", soft_wrap=True)

    def start(self, view: JobView) -> None:
        job = view.job
        if job.state == "pending":
            self._waiting(f"waiting for a worker (until block #{job.expires_at})")
        elif job.state == "matched":
            self._waiting(f"waiting for {_who(job.worker)} to commit (by block #{job.commit_by})")
        elif job.state == "committed":
            self.disputes_until = job.committed_at + self.window
            self._line(job.committed_at, f"result committed: root {to_hex(job.result_root)[:18]}…")
            self._waiting(f"dispute window open until block #{self.disputes_until}")

    def event(self, number: int, event: dict[str, Any]) -> None:
        data = event["data"]
        name = event["event"]
        text = None
        if name == "JobMatched":
            worker = parse_account(data["worker"])
            text = (
                f"matched to {_who(worker)} at {_price(int(data['price']))}; "
                f"it commits by #{data['commit_by']}"
            )
            self._waiting(f"waiting for the result (by block #{data['commit_by']})")
        elif name in ("DeadlineMissed", "JobDeclined"):
            did = "missed its deadline" if name == "DeadlineMissed" else "declined the job"
            self.given_back += 1
            text = (
                f"{_who(parse_account(data['worker']))} {did} (penalty "
                f"{format_amount(int(data['penalty']))} paid to the treasury); offered to the "
                "next worker"
            )
            self._waiting("waiting for a worker")
        elif name == "ResultCommitted":
            text = (
                f"result committed: root {data['root'][:18]}…, {data['leaves']} leaves; "
                f"disputes open until #{number + self.window}"
            )
            self.disputes_until = number + self.window
            self._waiting(f"audit draw, then the dispute window until #{self.disputes_until}")
        elif name == "ChallengeDrawn":
            if data["audited"]:
                text = (
                    f"audit drawn (check {data['check']}): leaves {data['leaves']}, committee of "
                    f"{len(data['committee'])}, commits by #{data['commit_deadline']}, reveals "
                    f"by #{data['reveal_deadline']}"
                )
            else:
                text = "not drawn for an audit"
            self._waiting(f"dispute window open until block #{self.disputes_until}")
        elif name == "DisputeOpened":
            text = (
                f"dispute (check {data['check']}) of leaf {data['leaf']} by "
                f"{_who(parse_account(data['challenger']))}; committee drawn at #{data['draw_at']}"
            )
        elif name == "AttestationCommitted":
            text = f"{_who(parse_account(data['member']))} committed on check {data['check']}"
        elif name == "WorkerResponded":
            text = f"the worker responded on check {data['check']}"
        elif name == "AttestationRevealed":
            vote = "matches the worker" if data["matches"] else "does not match the worker (yet)"
            text = (
                f"{_who(parse_account(data['member']))} revealed on check {data['check']}: "
                f"[bold]{vote}[/]"
            )
        elif name == "MemberPenalized":
            text = (
                f"{_who(parse_account(data['member']))} penalized "
                f"{format_amount(int(data['amount']))} on check {data['check']}"
            )
        elif name == "JobVoided":
            text = "[bold]voided[/]: no committee agreed; the requester is refunded"
        elif name == "CheckDecided":
            text = f"check {data['check']} decided: [bold]{data['outcome']}[/]"
        if text is not None:
            self._line(number, text)


def _outcome_json(outcome: jc.JobOutcome) -> dict[str, Any]:
    def amount(value: int | None) -> str | None:
        return None if value is None else format_amount(value)

    return {
        "state": outcome.state,
        "block": outcome.block,
        "payment": amount(outcome.payment),
        "verificationFee": amount(outcome.verification_fee),
        "protocolFee": amount(outcome.protocol_fee),
        "refund": amount(outcome.refund),
        "slashed": amount(outcome.slashed),
    }


def _outcome_line(outcome: jc.JobOutcome) -> str:
    at = f" in block #{outcome.block}" if outcome.block is not None else ""
    parts = [f"job {outcome.job_id} {outcome.state}{at}"]
    for label, value in (
        ("worker paid", outcome.payment),
        ("verification fee", outcome.verification_fee),
        ("protocol fee", outcome.protocol_fee),
        ("worker slashed", outcome.slashed),
        ("refunded to the requester", outcome.refund),
    ):
        if value is not None:
            parts.append(f"{label} {format_amount(value)}")
    return "; ".join(parts)


def _outcome_error(outcome: jc.JobOutcome, request: jc.JobRequest, given_back: int = 0) -> str:
    refund = "" if outcome.refund is None else f"; {format_amount(outcome.refund)} refunded"
    if outcome.state == "expired" and given_back:
        return (
            f"job {outcome.job_id} expired: {given_back} matched worker(s) gave it back "
            f"(declined it or missed the deadline) and no other worker took it{refund}"
        )
    if outcome.state == "expired":
        return (
            f"job {outcome.job_id} expired: no worker took it within {request.wait_blocks} "
            f"blocks at {_price(request.max_price)}{refund}"
        )
    if outcome.state == "failed":
        return (
            f"job {outcome.job_id} failed: its result was proven wrong and its worker slashed"
            f"{refund}"
        )
    return f"job {outcome.job_id} was {outcome.state}{refund}"


# status and list


def status(args: argparse.Namespace) -> int:
    """`xpl job status`: everything the chain knows about one job."""
    with _talking_to_node(args) as client:
        view = jc.require_job(client, args.id)
        window = jc.dispute_window(client)
        ended = jc.ended_at(client, view)
        best = client.best_number()
    summary = jc.job_summary(view, window)
    summary["endedAt"] = ended
    if args.json:
        print(json.dumps(summary))
        return 0
    console = _console()
    job = view.job
    rows: list[tuple[str, str]] = [
        ("job", str(view.id)),
        ("state", f"[bold]{job.state}[/]" + (f" in block #{ended}" if ended else "")),
        ("workload", f"{job.workload} {list(job.params)}, mode {job.mode}"),
        ("size", f"{job.cost_units} cost units, {job.leaves} result leaves"),
        (
            "inputs",
            ", ".join(
                f"{name} = blob {to_hex(root)}" if root else f"{name} from seed {job.seed}"
                for name, root in job.inputs
            ),
        ),
        ("requester", encode_address(job.requester)),
        ("worker", current_worker(job)),
        ("max price", _price(job.max_price)),
        ("escrow", format_amount(job.escrow)),
    ]
    if job.model is not None:
        rows.append(
            (
                "model",
                f"{job.model.model_id} version {job.model.version} by "
                f"{encode_address(job.model.owner)}, {format_amount(job.model.fee)} a use "
                "(in the escrow; the owner's when the job settles)",
            )
        )
    if job.worker is not None:
        rows += [
            ("price", _price(job.price)),
            ("payment", format_amount(job.payment)),
            ("slash", f"{format_amount(job.slash)} bonded from the worker's stake"),
        ]
    rows.append(("submitted", submitted_row(job)))
    for index, line in enumerate(match_lines(job, _who)):
        rows.append(("matches" if index == 0 else "", line))
    if job.result_root:
        rows += [
            ("result", to_hex(job.result_root)),
            ("committed", f"#{job.committed_at}, disputes until #{job.committed_at + window}"),
        ]
    if view.settles_at is not None:
        rows.append(("settles", f"at #{view.settles_at} unless a check fails"))
    for key, value in rows:
        console.print(f"{key:>10}  {value}", soft_wrap=True)
    if view.checks:
        table = Table(title="Checks")
        columns = ("#", "kind", "round", "leaves", "phase", "commits", "reveals", "response")
        for column in (*columns, "outcome"):
            table.add_column(column)
        for index, check in enumerate(view.checks):
            kind = check.kind
            if check.challenger is not None:
                kind += (
                    f" by {_who(check.challenger, short=True)}, bond {format_amount(check.bond)}"
                )
            table.add_row(
                str(index),
                kind,
                str(check.round),
                ", ".join(str(leaf) for leaf in check.leaves),
                _check_phase(check, best),
                f"{len(check.commits)} of {len(check.committee)}",
                ", ".join(
                    f"{_who(m, short=True)}: {reveal_vote(check, h)}" for m, h in check.reveals
                )
                or "none yet",
                "given" if check.response else "none yet",
                check.outcome or "open",
            )
        console.print(table)
    return 0


def _check_phase(check: compute.Check, best: int) -> str:
    """A check's phase for the next block, with the block it ends at."""
    now = phase(check, best + 1)
    if now == "commit":
        return f"commit until #{check.commit_deadline}"
    if now == "reveal":
        return f"reveal until #{check.reveal_deadline}"
    if now == "drawing":
        return f"committee drawn at #{check.draw_at}"
    return now


def list_jobs(args: argparse.Namespace) -> int:
    """`xpl job list`: a table of jobs, newest first."""
    if args.mine and not _has_signer(args):
        raise CliError("--mine needs the account: give --from or --key-file")
    if not 1 <= args.limit <= 1000:
        raise CliError("--limit must be from 1 to 1000")
    requester = signer(args).public if args.mine else None
    if args.requester is not None:
        requester = parse_account(args.requester)
    worker = None if args.worker is None else parse_account(args.worker)
    with _talking_to_node(args) as client:
        views = client.jobs(states=args.state, worker=worker, requester=requester, limit=args.limit)
        window = jc.dispute_window(client)
    if args.json:
        print(json.dumps([jc.job_summary(view, window) for view in views]))
        return 0
    console = _console()
    if not views:
        console.print("no jobs")
        return 0
    table = Table(title=f"Jobs ({len(views)}, newest first)")
    for column in ("id", "state", "workload", "params", "requester", "worker", "price", "escrow"):
        table.add_column(column)
    table.add_column("submitted", justify="right")
    for view in views:
        job = view.job
        price = format_amount(job.price) if job.worker is not None else "-"
        table.add_row(
            str(view.id),
            job.state,
            job.workload,
            ",".join(str(p) for p in job.params),
            _who(job.requester, short=True),
            _who(job.worker, short=True),
            f"{price} (max {format_amount(job.max_price)})",
            format_amount(job.escrow),
            f"#{job.submitted_at}",
        )
    console.print(table)
    return 0


# result


def result(args: argparse.Namespace) -> int:
    """`xpl job result`: fetch every leaf (proven), check the result, and save it; a result
    found wrong is not saved, and is disputed by the account given with --from or --key-file
    (asked for only then)."""
    console = _console()
    with _talking_to_node(args) as client:
        fetched = _fetch_with_progress(client, args.id, console)
        spec = fetched.spec
        if args.no_check:
            _save(args.out, jc.result_output(spec, fetched.leaves))
            console.print(
                f"saved the result of job {args.id} to {args.out} (proven against the committed "
                "root, not checked against the inputs)",
                soft_wrap=True,
            )
            return 0
        with console.status("checking the result against the job's inputs..."):
            inputs = jc.fetch_inputs(client, fetched.view)
            bad = jc.find_bad_leaf(spec, inputs, fetched.leaves)
        if bad is None:
            _save(args.out, jc.result_output(spec, fetched.leaves))
            how = {
                "sgd_fxp": f"passes spot checks of {sgd_spot_checks(len(fetched.leaves))} of "
                f"its {len(fetched.leaves)} steps",
                "mlp_fxp": f"passes: each of its {len(fetched.leaves)} checkpoints recomputed "
                "from the one before",
            }.get(spec.workload, "checks out against its inputs (Freivalds' check)")
            console.print(f"the result of job {args.id} {how}; saved to {args.out}", soft_wrap=True)
            return 0
        wrong = (
            f"the result of job {args.id} was checked and is wrong: leaf {bad} does not match "
            "the inputs"
        )
        if args.no_dispute:
            raise CliError(f"{wrong}; not saved, no dispute filed (--no-dispute)")
        if not _has_signer(args):
            raise CliError(_how_to_dispute(wrong, args, bad, fetched.view.job.state))
        keypair = signer(args)
        try:
            dispute = jc.dispute_leaf(client, keypair, args.id, bad)
        except jc.JobClientError as exc:
            raise CliError(f"{wrong}; not saved, and no dispute is possible: {exc}") from exc
    if dispute.filed:
        raise CliError(
            f"{wrong}; not saved. Dispute filed: check {dispute.check} of job {args.id} on leaf "
            f"{bad}, bond {format_amount(dispute.bond)}, in block #{dispute.block}, committee "
            f"drawn at #{dispute.draw_at}"
        )
    raise CliError(
        f"{wrong}; not saved. Leaf {bad} is already disputed: check {dispute.check}, committee "
        f"drawn at #{dispute.draw_at}"
    )


def _how_to_dispute(wrong: str, args: argparse.Namespace, bad: int, state: str) -> str:
    """What to do about a wrong result when no account was given to dispute it."""
    if state == "failed":
        return f"{wrong}; not saved. Its check already failed it: the worker was slashed"
    if state != "committed":
        return f"{wrong}; not saved. The job is {state}: its dispute window is over"
    return (
        f"{wrong}; not saved. To dispute it (a fraud proof naming leaf {bad}, which bonds the "
        "fraud bond; a recheck that finds the leaf wrong returns it with a share of the "
        "worker's slash), run again with the account that files it: "
        f"xpl job result {args.id} --out {args.out} --from //NAME (or --key-file FILE), "
        "within the job's dispute window"
    )


def _fetch_with_progress(client: XplClient, job_id: int, console: Console) -> jc.JobResult:
    if not console.is_terminal:
        return jc.fetch_result(client, job_id)
    with Progress(
        TextColumn(f"fetching the result of job {job_id}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("leaves"),
        console=console,
        transient=True,
    ) as progress:
        task = progress.add_task("leaves", total=None)

        def fetched(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        return jc.fetch_result(client, job_id, progress=fetched)


def _save(path: Path, array: np.ndarray[Any, Any]) -> None:
    try:
        with path.open("wb") as out:
            np.save(out, array, allow_pickle=False)
    except OSError as exc:
        raise CliError(f"cannot write {path}: {exc.strerror or exc}") from exc


# cancel


def cancel(args: argparse.Namespace) -> int:
    """`xpl job cancel`: cancel a job that no worker has taken; its escrow comes back."""
    keypair = signer(args)
    with _talking_to_node(args) as client:
        refund = jc.cancel_job(client, keypair, args.id)
    print(f"job {args.id} cancelled; {format_amount(refund)} refunded")
    return 0
