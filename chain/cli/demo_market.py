"""The compute-market part of `xpl demo`: real jobs through a worker, audits, payments, a cheater.

The demo's network is a local chain of three validators (//Alice, //Bob, //Charlie) whose
verification windows are short (so a job settles in seconds); everything else is the local
chain's defaults. //Dave runs an honest worker attached to Bob's node, //Ferdie pays for jobs
through Alice's node, the validators audit them (fetching the job's data from the nodes that hold
it), and //Eve runs a worker started with `--cheat` on Charlie's node, whose corrupted result an
audit catches.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import numpy as np
from rich.console import Console
from rich.table import Table

from chain.cli.errors import CliError
from chain.client.blobs import upload_file
from chain.client.chain import XplClient, make_call
from chain.client.jobs import fetch_result
from chain.client.rpc import ClientSubscription
from chain.spec import local_spec
from gpu_worker.freivalds import check_result
from gpu_worker.inputs import generate_inputs
from gpu_worker.jobs import JobSpec
from gpu_worker.models.digits import (
    digits_job,
    digits_test_set,
    predictions_from_leaves,
    train_digits_model,
)
from runtime.accounts import TREASURY
from runtime.primitives.address import decode_address
from runtime.primitives.amount import format_amount, parse_amount
from runtime.primitives.keys import dev_keypair
from runtime.workloads import payment_for

DEMO_COMMIT_WINDOW: Final = 5
"""Blocks the demo's committees have to commit to their recomputation (and then to reveal)."""
DEMO_DISPUTE_WINDOW: Final = 18
"""Blocks a result stays open to disputes: more than the longest draw delay and the commit and
reveal windows."""
GEMM_PARAMS: Final = (512, 512, 512, 64)
ASKS: Final = ("gemm_i8=1XPL", "qmlp_i8=5XPL")
CHEAP_ASKS: Final = ("gemm_i8=0.5XPL",)
MAX_PRICES: Final = {"gemm_i8": "2XPL", "qmlp_i8": "10XPL"}
JOB_TIMEOUT_S: Final = 120.0
END_EVENTS: Final = ("JobSettled", "JobFailed", "JobExpired", "JobCancelled", "JobVoided")


VALIDATORS: Final = ("Alice", "Bob", "Charlie")
WORKER: Final = "Dave"
CHEATER: Final = "Eve"
REQUESTER: Final = "Ferdie"


def demo_spec_json() -> dict[str, Any]:
    """A local chain of three validators with verification windows short enough to watch."""
    spec = local_spec(validators=len(VALIDATORS), name="XPL Demo", chain_id="demo").to_json()
    spec["genesis"]["compute"]["commitWindow"] = DEMO_COMMIT_WINDOW
    spec["genesis"]["compute"]["revealWindow"] = DEMO_COMMIT_WINDOW
    spec["genesis"]["compute"]["disputeWindow"] = DEMO_DISPUTE_WINDOW
    return spec


@dataclass
class Timeline:
    """What happened to one job, block by block."""

    job_id: int
    label: str
    steps: list[tuple[int, str]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ended(self) -> str | None:
        """The event that ended the job, if one has."""
        for event in self.events:
            if event["event"] in END_EVENTS:
                return str(event["event"])
        return None


def _describe(event: dict[str, Any]) -> str | None:
    name, data = event["event"], event["data"]
    if name == "JobMatched":
        return f"matched to {_who(data['worker'])} at {format_amount(int(data['price']))}/GOP"
    if name == "ResultCommitted":
        return f"result committed: root {data['root'][:14]}..., {data['leaves']} leaves"
    if name == "ChallengeDrawn":
        if not data["audited"]:
            return "not drawn for an audit"
        return f"audit drawn: leaves {data['leaves']}, committee {_who_list(data['committee'])}"
    if name == "AttestationCommitted":
        return f"{_who(data['member'])} commits to its leaf hashes"
    if name == "WorkerResponded":
        return "the worker responds"
    if name == "AttestationRevealed":
        return f"{_who(data['member'])} reveals"
    if name == "MemberPenalized":
        return f"{_who(data['member'])} penalized {format_amount(int(data['amount']))}"
    if name == "JobVoided":
        return "[yellow]voided[/]: no committee agreed, requester refunded"
    if name == "CheckDecided":
        return f"audit decided: [bold]{data['outcome']}[/]"
    if name == "JobSettled":
        return (
            f"[green]settled[/]: worker paid {format_amount(int(data['payment']))}, verifiers "
            f"{format_amount(int(data['verification_fee']))}, treasury "
            f"{format_amount(int(data['protocol_fee']))}, "
            f"refund {format_amount(int(data['refund']))}"
        )
    if name == "JobFailed":
        return (
            f"[red]failed[/]: worker slashed {format_amount(int(data['slashed']))}, requester "
            f"refunded {format_amount(int(data['refund']))}"
        )
    if name == "JobExpired":
        return "expired unmatched, refunded"
    if name == "DeadlineMissed":
        return f"deadline missed: penalty {format_amount(int(data['penalty']))}"
    return None


NAMES: Final = {dev_keypair(n).public: n for n in (*VALIDATORS, WORKER, CHEATER, REQUESTER)}


def _who(address: str) -> str:
    return NAMES.get(decode_address(address), address[:10] + "...")


def _who_list(addresses: list[str]) -> str:
    return ", ".join(_who(a) for a in addresses)


class WorkerProcess:
    """`xpl worker` in a subprocess, its output in a log file."""

    def __init__(
        self, name: str, rpc_url: str, base: Path, asks: tuple[str, ...], extra: list[str]
    ) -> None:
        self.name = name
        self.log_path = base / f"worker-{name.lower()}.log"
        command = [
            sys.executable,
            "-m",
            "chain.cli.main",
            "worker",
            "--rpc",
            rpc_url,
            "--dev-key",
            f"//{name}",
            "--stake",
            "1000XPL",
            "--state-dir",
            str(base / f"worker-{name.lower()}"),
            *[arg for ask in asks for arg in ("--ask", ask)],
            *extra,
        ]
        self._log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            command,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )

    def wait_registered(self, client: XplClient, timeout: float = 60.0) -> None:
        """Wait until the worker is registered on chain; CliError if it exits or times out."""
        who = dev_keypair(self.name).public
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise CliError(f"{self.name}'s worker exited; its log: {self.log_path}")
            if who in client.workers():
                return
            time.sleep(0.3)
        raise CliError(f"{self.name}'s worker did not register in {timeout:.0f} s")

    def stop(self) -> int:
        """SIGINT, then SIGKILL after 15 s; the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()
        return self.process.returncode


def _submit(
    client: XplClient, workload: str, params: tuple[int, ...], roots: dict[str, bytes], seed: int
) -> int:
    requester = dev_keypair(REQUESTER)
    names = list(roots)
    call = make_call(
        "market",
        "submit_job",
        workload,
        list(params),
        names,
        [roots[n] for n in names],
        seed,
        parse_amount(MAX_PRICES[workload]),
        20,
        20,
        "always",
    )
    outcome = client.submit_and_watch(client.sign(requester, call), until="inBlock")
    if not outcome.success:
        raise CliError(f"submitting the {workload} job failed: {outcome.error}")
    (event,) = [e for e in outcome.events if e["event"] == "JobSubmitted"]
    return int(event["data"]["job"])


def _follow(console: Console, client: XplClient, timelines: list[Timeline]) -> None:
    """Print each job's events as they happen, until every job has ended."""
    subscriptions: dict[int, ClientSubscription] = {}
    try:
        for timeline in timelines:
            subscription = client.subscribe_job(timeline.job_id)
            subscriptions[timeline.job_id] = subscription
            job = subscription.next(timeout=10)["job"]
            passed = [
                f"{what} #{job[key]}"
                for what, key in (("submitted", "submittedAt"), ("matched", "matchedAt"))
                if job[key] is not None
            ]
            if job["committedAt"] is not None:
                passed.append(f"committed #{job['committedAt']}")
            console.print(
                f"  job {timeline.job_id} ({timeline.label}): {job['state']} ({', '.join(passed)})"
            )
        deadline = time.monotonic() + JOB_TIMEOUT_S
        while any(t.ended is None for t in timelines):
            if time.monotonic() > deadline:
                raise CliError(f"the jobs did not end within {JOB_TIMEOUT_S:.0f} s")
            for timeline in timelines:
                if timeline.ended is not None:
                    continue
                try:
                    update = subscriptions[timeline.job_id].next(timeout=0.2)
                except TimeoutError:
                    continue
                for event in update["events"]:
                    timeline.events.append(event)
                    text = _describe(event)
                    if text is not None:
                        timeline.steps.append((update["number"], text))
                        console.print(
                            f"  #{update['number']:<4} job {timeline.job_id} "
                            f"({timeline.label}): {text}"
                        )
    finally:
        for subscription in subscriptions.values():
            subscription.close()


def run_market(console: Console, client: XplClient, base: Path, worker_rpc: dict[str, str]) -> None:
    """The market demo on a running network: honest jobs, their checks and payments, a cheater.

    `client` is the requester's node; `worker_rpc` names the node each worker attaches to.
    """
    console.rule("[bold]The compute market")
    model = train_digits_model()
    console.print(
        f"trained the digits classifier (64→64→10 MLP, scikit-learn digits): float accuracy "
        f"{model.float_accuracy:.2%}; quantized to int8 for qmlp_i8"
    )
    workers: list[WorkerProcess] = []
    try:
        honest = WorkerProcess(
            WORKER, worker_rpc[WORKER], base, ASKS, ["--device", "auto", "--capacity", "2"]
        )
        workers.append(honest)
        with console.status(
            f"starting //{WORKER}'s worker (it measures its device, then registers)"
        ):
            honest.wait_registered(client)
        console.print(
            f"//{WORKER}'s worker registered through {worker_rpc[WORKER]}: stake 1000XPL, asks "
            f"{', '.join(ASKS)} per GOP"
        )
        accounts = {name: dev_keypair(name).public for name in (REQUESTER, WORKER, *VALIDATORS)}
        accounts["Treasury"] = TREASURY
        before = {name: client.account(who).free for name, who in accounts.items()}
        params, inputs = digits_job()
        requester = dev_keypair(REQUESTER)
        roots = {
            name: upload_file(client.rpc, data, signer=requester).root
            for name, data in inputs.items()
        }
        console.print(
            f"//{REQUESTER} uploaded the test images ({len(inputs['x'])} bytes) and the model "
            f"({len(inputs['model'])} bytes) as blobs to its node; the worker's node and the "
            "validators fetch them over the network's blob protocol"
        )
        digits_id = _submit(client, "qmlp_i8", params, roots, seed=0)
        gemm_id = _submit(client, "gemm_i8", GEMM_PARAMS, {"a": b"", "b": b""}, seed=42)
        timelines = [
            Timeline(digits_id, f"digits inference, qmlp_i8 {list(params)}"),
            Timeline(gemm_id, f"gemm_i8 {list(GEMM_PARAMS)}, inputs from seed 42"),
        ]
        console.print(f"//{REQUESTER} submitted two jobs (mode: always audited); their timeline:")
        _follow(console, client, timelines)

        leaves = fetch_result(client, digits_id).leaves
        spec = JobSpec("qmlp_i8", params, 0)
        bad = check_result(spec, inputs, leaves)
        predicted = predictions_from_leaves(params, leaves)
        _, labels = digits_test_set()
        accuracy = float(np.mean(predicted == labels))
        console.print(
            f"digits result downloaded ({len(leaves)} leaves, each proven against the committed "
            f"root), Freivalds check: {'passed' if bad is None else f'leaf {bad} is wrong'}"
        )
        console.print(
            f"[bold]accuracy on {len(labels)} test images: int8 on the worker {accuracy:.2%}, "
            f"float model {model.float_accuracy:.2%}[/]"
        )
        gemm_leaves = fetch_result(client, gemm_id).leaves
        gemm_spec = JobSpec("gemm_i8", GEMM_PARAMS, 42)
        gemm_bad = check_result(gemm_spec, generate_inputs("gemm_i8", GEMM_PARAMS, 42), gemm_leaves)
        console.print(
            f"gemm_i8 result: {sum(len(x) for x in gemm_leaves)} bytes, Freivalds check "
            f"{'passed' if gemm_bad is None else f'failed at leaf {gemm_bad}'}"
        )
        after = {name: client.account(who).free for name, who in accounts.items()}
        _payments(console, client, before, after, [digits_id, gemm_id])

        console.rule("[bold]A cheating worker")
        honest.stop()
        cheat_flags = ["--device", "auto", "--cheat", "0.25"]
        cheater = WorkerProcess(CHEATER, worker_rpc[CHEATER], base, CHEAP_ASKS, cheat_flags)
        workers.append(cheater)
        with console.status(f"starting //{CHEATER}'s worker with --cheat 0.25"):
            cheater.wait_registered(client)
        console.print(
            f"//{CHEATER}'s worker asks less ({', '.join(CHEAP_ASKS)} per GOP), so it wins the "
            "next job; it corrupts a quarter of its result leaves (--cheat 0.25)"
        )
        stake_before = client.workers()[dev_keypair(CHEATER).public].stake
        cheat_id = _submit(client, "gemm_i8", GEMM_PARAMS, {"a": b"", "b": b""}, seed=7)
        cheat = Timeline(cheat_id, f"gemm_i8 on //{CHEATER}'s worker")
        _follow(console, client, [cheat])
        cheat_worker = client.workers().get(dev_keypair(CHEATER).public)
        stake_after = 0 if cheat_worker is None else cheat_worker.stake
        outcome = cheat.ended
        if outcome == "JobFailed":
            console.print(
                f"[bold]caught[/]: the audit recomputed the drawn leaves and found corrupted "
                f"ones; //{CHEATER}'s stake {format_amount(stake_before)} → "
                f"{format_amount(stake_after)}, //{REQUESTER} refunded in full"
            )
        elif outcome == "JobSettled":
            console.print(
                "[yellow]the audit missed the corrupted leaves this time[/]: a worker corrupting "
                "a fraction f of its leaves escapes k audited leaves with probability (1 − f)^k"
            )
        else:
            raise CliError(f"the cheating worker's job ended with {outcome}, not a verdict")
    finally:
        for worker in workers:
            worker.stop()


def _payments(
    console: Console,
    client: XplClient,
    before: dict[str, int],
    after: dict[str, int],
    job_ids: list[int],
) -> None:
    table = Table(title="Payments for the two jobs")
    for column in ("account", "role", "before", "after", "change"):
        table.add_column(column)
    roles = {
        REQUESTER: "requester (pays escrow, gets the rest back)",
        WORKER: "worker (price × units)",
        **{name: "validator (verification fees, block fees)" for name in VALIDATORS},
        "Treasury": "protocol fee, fee share",
    }
    for name, role in roles.items():
        change = after[name] - before[name]
        table.add_row(
            name,
            role,
            format_amount(before[name]),
            format_amount(after[name]),
            ("+" if change >= 0 else "-") + format_amount(abs(change)),
        )
    console.print(table)
    for job_id in job_ids:
        view = client.job(job_id)
        if view is not None and view.job.worker is not None:
            paid = payment_for(view.job.cost_units, view.job.price)
            console.print(
                f"job {job_id}: {view.job.cost_units:,} cost units at "
                f"{format_amount(view.job.price)}/GOP = {format_amount(paid)}"
            )
