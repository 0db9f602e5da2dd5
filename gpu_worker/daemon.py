"""The worker daemon: stake, take matched jobs, compute and commit them, keep results readable.

    daemon = WorkerDaemon(WorkerConfig(rpc_url, keypair, stake, asks=(("gemm_i8", price),)))
    daemon.run()              # until request_stop(); survives the node going away and coming back

or, driven one step at a time (the tests do):

    daemon.connect()          # reach the node, register or update the worker, open the job store
    daemon.step()             # one pass over this worker's jobs at the best block

A step lists the worker's matched and committed jobs. A matched job goes through its phases
(`gpu_worker.job_state`): its inputs are fetched (generated from the seed, or downloaded from
blobs and checked), its leaves computed on the device, its leaves uploaded to the node as a blob
(whose root is the result root), and the root committed on chain before the job's deadline. A
committed job's blob is kept on the node (uploaded again from disk if the node lost it), and its
audits and disputes are reported. When a job leaves the worker (settled, failed, or taken back
after a missed deadline) the outcome is reported and the job's files are deleted.

Every phase is written to disk before the next begins, so a worker killed at any moment and
started again resumes each job where it stood: it never recomputes leaves that are on disk, and a
job committed on chain is kept even if the record on disk had not caught up.

`--cheat FRACTION` corrupts that share of each result's leaves before committing: it exists to
test, demonstrate and study the audits that catch such workers.
"""

from __future__ import annotations

import logging
import os
import random
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Final
from urllib.parse import urlsplit

from chain.client.blobs import BlobVerificationError, download_blob, upload_blob
from chain.client.chain import JobView, TransactionFailed, XplClient, make_call
from chain.client.rpc import ClientSubscription, RpcClientError, RpcConnectionError
from gpu_worker.commitment import result_root
from gpu_worker.inputs import InputError, check_inputs, generate_input, generate_inputs
from gpu_worker.job_state import JobRecord, JobStateError, JobStore, locked_state_dir
from gpu_worker.jobs import DeviceError, JobSpec, backend, compute_leaves, resolve_device
from runtime.pallets.market import MAX_ASKS, MAX_JOB_CAPACITY, Job
from runtime.primitives.address import encode_address
from runtime.primitives.amount import InvalidAmount, format_amount, parse_amount
from runtime.primitives.hashing import to_hex
from runtime.primitives.keys import Keypair
from runtime.primitives.merkle import merkle_root
from runtime.transaction import Call
from runtime.workloads import GOP, WORKLOADS, WorkloadError

log = logging.getLogger("xpl.worker")

FIRST_BACKOFF_S: Final = 0.5
MAX_BACKOFF_S: Final = 5.0
HEAD_WAIT_S: Final = 0.5
"""How often a wait for the next head looks at whether the worker should stop."""
IDLE_STEP_S: Final = 5.0
"""A step runs at least this often, new head or not."""
POLL_S: Final = 1.0
"""Polling interval where the node offers no head subscription."""
COMMIT_TIMEOUT_S: Final = 60.0
JOB_LIST_LIMIT: Final = 1_000
MAX_ENDPOINT_BYTES: Final = 256
MAX_DEVICE_CHARS: Final = 32
MEASURE_PARAMS: Final[Mapping[str, tuple[int, ...]]] = {
    "gemm_i8": (128, 128, 128, 32),
    "qmlp_i8": (64, 32, 128, 128, 10),
    "sgd_fxp": (256, 64, 8, 32, 4, 8, 12),
}
"""The small jobs timed at registration to state each workload's throughput."""


class WorkerError(Exception):
    """A reason the worker cannot run: a bad setting, a device that is missing, a refusal."""


@dataclass(frozen=True)
class WorkerConfig:
    """How a worker runs: its node, key, stake, asks and device."""

    rpc_url: str
    keypair: Keypair
    stake: int
    asks: tuple[tuple[str, int], ...]
    """(workload, price per 10^9 cost units)."""
    device: str = "auto"
    capacity: int = 1
    state_dir: Path | None = None
    """Where job state lives; None: a directory per account under the user's data directory."""
    endpoint: str = ""
    cheat: float = 0.0
    """Share of each result's leaves to corrupt (tests and demos of the audits)."""
    cheat_seed: int = 0
    measure: bool = True
    """Time each asked workload when registering; False registers a throughput of 0."""
    dev_key: bool = False
    """The key is a development key, refused on a live chain."""


def parse_ask(text: str) -> tuple[str, int]:
    """`WORKLOAD=PRICE` (for example `gemm_i8=1XPL`) as (workload, price per 10^9 cost units)."""
    workload, sep, price_text = text.partition("=")
    workload = workload.strip()
    if not sep or not workload or not price_text.strip():
        raise WorkerError(f"--ask {text!r}: expected WORKLOAD=PRICE, for example gemm_i8=1XPL")
    if workload not in WORKLOADS:
        known = ", ".join(sorted(WORKLOADS))
        raise WorkerError(f"--ask {text!r}: unknown workload {workload!r} (known: {known})")
    try:
        price = parse_amount(price_text)
    except InvalidAmount as exc:
        raise WorkerError(f"--ask {text!r}: {exc}") from exc
    if price == 0:
        raise WorkerError(f"--ask {text!r}: the price must be above zero")
    return workload, price


def check_config(config: WorkerConfig) -> None:
    """WorkerError naming the first setting the worker cannot run with."""
    url = urlsplit(config.rpc_url)
    if url.scheme not in ("http", "https", "ws", "wss") or not url.netloc:
        raise WorkerError(f"--rpc {config.rpc_url!r}: expected http://HOST:PORT or ws://HOST:PORT")
    if not config.asks:
        raise WorkerError("give at least one --ask WORKLOAD=PRICE, for example gemm_i8=1XPL")
    if len(config.asks) > MAX_ASKS:
        raise WorkerError(f"at most {MAX_ASKS} asks")
    workloads = [w for w, _ in config.asks]
    for workload in workloads:
        if workloads.count(workload) > 1:
            raise WorkerError(f"--ask names {workload} twice")
        if workload not in WORKLOADS:
            raise WorkerError(f"unknown workload {workload!r}")
    if any(price <= 0 for _, price in config.asks):
        raise WorkerError("every ask's price must be above zero")
    if config.stake <= 0:
        raise WorkerError("--stake must be above zero")
    if not 1 <= config.capacity <= MAX_JOB_CAPACITY:
        raise WorkerError(f"--capacity must be from 1 to {MAX_JOB_CAPACITY}, not {config.capacity}")
    if not 0.0 <= config.cheat <= 1.0:
        raise WorkerError(f"--cheat is a fraction of the leaves from 0 to 1, not {config.cheat}")
    if not 0 <= config.cheat_seed < 2**64:
        raise WorkerError("--cheat-seed must be from 0 to 2^64 - 1")
    if len(config.endpoint.encode()) > MAX_ENDPOINT_BYTES:
        raise WorkerError(f"--endpoint is at most {MAX_ENDPOINT_BYTES} bytes")


def open_device(device: str) -> str:
    """The concrete device `device` names ("auto" resolved), checked to have its kernels."""
    try:
        resolved = resolve_device(device)
        backend(resolved)
    except DeviceError as exc:
        raise WorkerError(str(exc)) from exc
    except ImportError as exc:
        raise WorkerError(f"device {resolved} is not usable here: {exc}") from exc
    return resolved


def device_info(device: str) -> tuple[str, int]:
    """(name to publish, memory in MiB) of a resolved device."""
    if device == "cuda":
        try:
            from numba import cuda

            gpu = cuda.get_current_device()  # type: ignore[no-untyped-call]
            name = gpu.name.decode() if isinstance(gpu.name, bytes) else str(gpu.name)
            _, total = cuda.current_context().get_memory_info()  # type: ignore[no-untyped-call]
            return f"cuda:{name}"[:MAX_DEVICE_CHARS], int(total) // 2**20
        except Exception:  # numba raises several driver error types; the name is only a label
            return "cuda", 0
    try:
        memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError):
        memory = 0
    return device, min(memory // 2**20, 2**32 - 1)


def measure_throughput(workload: str, device: str) -> int:
    """Measured throughput of `workload` on `device`, in 10^9 cost units per second (at least 1).

    Times a small job (MEASURE_PARAMS) after one untimed run that warms up any compilation.
    """
    spec = JobSpec(workload, MEASURE_PARAMS[workload], seed=1)
    inputs = generate_inputs(spec.workload, spec.params, spec.seed)
    compute_leaves(spec, inputs, device=device)
    best = float("inf")
    for _ in range(2):
        start = time.perf_counter()
        compute_leaves(spec, inputs, device=device)
        best = min(best, time.perf_counter() - start)
    return max(1, round(spec.shape.cost_units / max(best, 1e-9) / GOP))


def default_state_dir(account: bytes) -> Path:
    """The worker's state directory for `account`: $XDG_DATA_HOME/xpl/worker/ADDRESS."""
    data_home = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(data_home) / "xpl" / "worker" / encode_address(account)


# Cheating, on purpose


def _cheat_rng(seed: int, job_id: int, purpose: str) -> random.Random:
    # A str seed goes through SHA-512: the same on every run and machine.
    return random.Random(f"xpl-cheat:{seed}:{job_id}:{purpose}")


def cheat_indices(leaf_count: int, fraction: float, seed: int, job_id: int) -> tuple[int, ...]:
    """The leaves a cheating worker corrupts in a job: round(fraction·count) of them, at least
    one when fraction > 0, drawn from (seed, job id), in ascending order."""
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"the cheat fraction must be from 0 to 1, not {fraction}")
    if fraction == 0.0 or leaf_count == 0:
        return ()
    count = min(leaf_count, max(1, round(fraction * leaf_count)))
    return tuple(sorted(_cheat_rng(seed, job_id, "leaves").sample(range(leaf_count), count)))


def corrupt_leaves(
    leaves: Sequence[bytes], indices: Sequence[int], seed: int, job_id: int
) -> list[bytes]:
    """`leaves` with each leaf in `indices` changed: one byte, drawn from the seed, inverted."""
    rng = _cheat_rng(seed, job_id, "bytes")
    out = list(leaves)
    for index in indices:
        leaf = bytearray(out[index]) or bytearray(1)
        leaf[rng.randrange(len(leaf))] ^= 0xFF
        out[index] = bytes(leaf)
    return out


# Following the chain


class HeadFollower:
    """The node's best block number as it moves: a new-heads subscription, else polling."""

    def __init__(self, client: XplClient) -> None:
        self._client = client
        self._subscription: ClientSubscription | None = None
        self._last = -1
        try:
            self._subscription = client.rpc.subscribe(
                "chain_subscribeNewHeads", [], "chain_unsubscribeNewHeads"
            )
        except RpcClientError as exc:
            log.info("the node offers no head subscription (%s); polling every %.0f s", exc, POLL_S)

    def wait(self, stop: threading.Event) -> int | None:
        """The best block number once there is a new one (or IDLE_STEP_S passed); None on stop.

        Raises RpcConnectionError when the node goes away.
        """
        deadline = time.monotonic() + IDLE_STEP_S
        while not stop.is_set():
            if self._subscription is None:
                number = self._client.best_number()
                if number != self._last or time.monotonic() > deadline:
                    self._last = number
                    return number
                stop.wait(POLL_S)
                continue
            try:
                header = self._subscription.next(timeout=HEAD_WAIT_S)
            except TimeoutError:
                if time.monotonic() > deadline:
                    return self._client.best_number()
                continue
            # Heads that queued up during a long step: only the newest matters.
            while True:
                try:
                    header = self._subscription.next(timeout=0)
                except TimeoutError:
                    break
            self._last = int(header["number"], 16)
            return self._last
        return None

    def close(self) -> None:
        if self._subscription is not None:
            self._subscription.close()


def _lost_node(exc: TransactionFailed) -> bool:
    return isinstance(exc.__cause__, RpcConnectionError)


class JobProblem(Exception):
    """A job this worker cannot take forward now (bad inputs, a refusal); reported, not fatal."""


# The daemon


class WorkerDaemon:
    """One worker: its account, device and job store, and the loop that runs it."""

    def __init__(
        self,
        config: WorkerConfig,
        *,
        client_factory: Callable[[str], XplClient] = XplClient,
    ) -> None:
        check_config(config)
        self.config = config
        self.account = config.keypair.public
        self.address = encode_address(self.account)
        self.device = open_device(config.device)
        self.state_dir = config.state_dir or default_state_dir(self.account)
        self._client_factory = client_factory
        self._stop = threading.Event()
        self._client: XplClient | None = None
        self._store: JobStore | None = None
        self._genesis: bytes | None = None
        self._records: dict[int, JobRecord] = {}
        self._reported: dict[int, str] = {}
        self._unworkable: set[int] = set()
        self._announced: dict[int, int] = {}
        """Matched jobs already reported, by their matched_at."""

    # Running

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def request_stop(self) -> None:
        """Stop after the current step (safe from a signal handler or another thread)."""
        self._stop.set()

    @property
    def store(self) -> JobStore:
        """The job store of the chain connected to (open once `connect` has run)."""
        return self._require_store()

    def close(self) -> None:
        """Drop the connection to the node (a later `connect` or `run` opens a new one)."""
        self._disconnect()

    def run(self) -> None:
        """Connect, register, then step on every new head until stopped.

        A node that cannot be reached (at the start, or later) is tried again with a growing
        pause; WorkerError (a setting the chain refuses) and JobStateError end the run.
        """
        with locked_state_dir(self.state_dir):
            log.info(
                "worker %s on %s: device %s, state in %s",
                self.address,
                self.config.rpc_url,
                self.device,
                self.state_dir,
                extra={"step": "start", "worker": self.address, "device": self.device},
            )
            backoff = FIRST_BACKOFF_S
            try:
                while not self.stopping:
                    try:
                        self.connect()
                        backoff = FIRST_BACKOFF_S
                        self._follow()
                    except RpcConnectionError as exc:
                        self._disconnect()
                        log.warning(
                            "node unreachable (%s); trying again in %.1f s",
                            exc,
                            backoff,
                            extra={"step": "reconnect"},
                        )
                        self._stop.wait(backoff)
                        backoff = min(2 * backoff, MAX_BACKOFF_S)
            finally:
                self.close()
            log.info("worker stopped", extra={"step": "stopped"})

    def _follow(self) -> None:
        heads = HeadFollower(self._require_client())
        try:
            while not self.stopping:
                head = heads.wait(self._stop)
                if head is None:
                    return
                self.step(head)
        finally:
            heads.close()

    def _disconnect(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def _require_client(self) -> XplClient:
        if self._client is None:
            raise RpcConnectionError("not connected to the node")
        return self._client

    def _require_store(self) -> JobStore:
        if self._store is None:
            raise JobStateError("the job store is not open: connect first")
        return self._store

    # Connecting and registering

    def connect(self) -> None:
        """Reach the node, check the chain, register or update the worker, open the job store."""
        if self._client is not None:
            self._client.close()
        client = self._client_factory(self.config.rpc_url)
        self._client = client
        genesis = client.genesis_hash()
        if self.config.dev_key and client.rpc.call("system_chainType") == "Live":
            raise WorkerError("development keys are refused on a live chain: use --key-file")
        if genesis != self._genesis:
            self._open_store(genesis)
        try:
            self._register(client)
        except TransactionFailed as exc:
            if _lost_node(exc):
                raise RpcConnectionError(str(exc)) from exc
            raise WorkerError(f"registering the worker failed: {exc}") from exc
        except RpcClientError as exc:
            raise WorkerError(f"the node refused the worker's registration: {exc.message}") from exc

    def _open_store(self, genesis: bytes) -> None:
        store = JobStore(self.state_dir / f"chain-{genesis[:8].hex()}")
        records: dict[int, JobRecord] = {}
        for job_id in store.job_ids():
            try:
                record = store.load(job_id)
            except JobStateError as exc:
                log.error("%s; the chain will tell what became of the job", exc)
                continue
            if record is not None and record.phase != "ended":
                records[job_id] = record
        self._store, self._records, self._genesis = store, records, genesis
        if records:
            phases = ", ".join(f"#{r.job_id} {r.phase}" for r in records.values())
            log.info("resuming jobs from disk: %s", phases, extra={"step": "resume"})

    def _register(self, client: XplClient) -> None:
        min_stake = client.market_params()[0].min_stake
        if self.config.stake < min_stake:
            raise WorkerError(
                f"--stake {format_amount(self.config.stake)} is below the chain's minimum stake "
                f"of {format_amount(min_stake)}"
            )
        workloads = [w for w, _ in self.config.asks]
        prices = [p for _, p in self.config.asks]
        asks_text = ", ".join(f"{w} at {format_amount(p)}/GOP" for w, p in self.config.asks)
        current = client.workers().get(self.account)
        if current is None:
            name, memory_mb = device_info(self.device)
            throughput = [
                measure_throughput(w, self.device) if self.config.measure else 0 for w in workloads
            ]
            call = make_call(
                "market",
                "register_worker",
                self.config.stake,
                name,
                memory_mb,
                workloads,
                prices,
                throughput,
                self.config.endpoint,
                self.config.capacity,
            )
            block = self._submit(client, call, "registration")
            measured = ", ".join(
                f"{w} {t} GOP/s" for w, t in zip(workloads, throughput, strict=True)
            )
            log.info(
                "registered in block #%d: stake %s, %s, capacity %d, device %s (%d MiB), "
                "throughput %s",
                block,
                format_amount(self.config.stake),
                asks_text,
                self.config.capacity,
                name,
                memory_mb,
                measured if self.config.measure else "not measured (0)",
                extra={"step": "registered", "block": block},
            )
            return
        add_stake = max(0, self.config.stake - current.stake)
        if (
            sorted(current.asks) != sorted(self.config.asks)
            or current.capacity != self.config.capacity
            or add_stake
        ):
            call = make_call(
                "market", "update_worker", workloads, prices, self.config.capacity, add_stake
            )
            block = self._submit(client, call, "update")
            log.info(
                "worker updated in block #%d: %s, capacity %d, stake %s",
                block,
                asks_text,
                self.config.capacity,
                format_amount(current.stake + add_stake),
                extra={"step": "updated", "block": block},
            )
            return
        log.info(
            "registered already: stake %s, %s, capacity %d, %d active jobs%s",
            format_amount(current.stake),
            asks_text,
            current.capacity,
            current.active,
            " (retiring)" if current.retiring else "",
            extra={"step": "registered"},
        )

    def _submit(self, client: XplClient, call: Call, what: str) -> int:
        """Sign and submit `call`; the block it went into. WorkerError if it failed there."""
        tx = client.sign(self.config.keypair, call)
        outcome = client.submit_and_watch(tx, until="inBlock", timeout=COMMIT_TIMEOUT_S)
        if not outcome.success:
            raise WorkerError(f"the chain refused the worker's {what}: {outcome.error}")
        return outcome.block_number

    # One step

    def step(self, head: int | None = None) -> None:
        """One pass over this worker's jobs at the best block (`head`, or asked for)."""
        client = self._require_client()
        if head is None:
            head = client.best_number()
        views = client.jobs(
            worker=self.account, states=["matched", "committed"], limit=JOB_LIST_LIMIT
        )
        views.sort(key=lambda v: (v.job.commit_by, v.id))
        for view in views:
            if self.stopping:
                return  # the rest waits for the next run; nothing is half written
            try:
                if view.state == "matched":
                    self._work(client, view, head)
                else:
                    self._keep(client, view)
            except TransactionFailed as exc:
                if _lost_node(exc):
                    raise RpcConnectionError(str(exc)) from exc
                self._report(view.id, logging.ERROR, f"job #{view.id}: {exc}")
            except (
                JobProblem,
                InputError,
                WorkloadError,
                BlobVerificationError,
                RpcClientError,
            ) as exc:
                self._report(view.id, logging.ERROR, f"job #{view.id}: {exc}")
        open_ids = {view.id for view in views}
        for job_id, record in list(self._records.items()):
            if job_id not in open_ids:
                self._close(client, record)
        for job_id in set(self._announced) - open_ids - set(self._records):
            self._forget(job_id)

    def _forget(self, job_id: int) -> None:
        """Drop what memory holds about a job that is no longer this worker's."""
        self._records.pop(job_id, None)
        self._announced.pop(job_id, None)
        self._reported.pop(job_id, None)
        self._unworkable.discard(job_id)

    def _report(self, job_id: int, level: int, message: str) -> None:
        """Log a job's problem once, not on every block while it lasts."""
        if self._reported.get(job_id) != message:
            self._reported[job_id] = message
            log.log(level, message, extra={"job": job_id, "step": "problem"})

    def _save(self, record: JobRecord) -> JobRecord:
        self._require_store().save(record)
        self._records[record.job_id] = record
        return record

    # A matched job: fetch, compute, upload, commit

    def _work(self, client: XplClient, view: JobView, head: int) -> None:
        job = view.job
        record = self._records.get(view.id)
        if record is None and self._announced.get(view.id) != job.matched_at:
            self._announced[view.id] = job.matched_at
            log.info(
                "job #%d matched: %s %s, pays %s, commit by block #%d",
                view.id,
                job.workload,
                list(job.params),
                format_amount(job.payment),
                job.commit_by,
                extra={"job": view.id, "step": "matched", "commit_by": job.commit_by},
            )
        elif record is not None and record.phase == "committed":
            # The record says committed, the chain says matched: the block with the commitment
            # was replaced. Commit again.
            log.warning("job #%d: its commitment is no longer on chain; committing again", view.id)
            record = self._save(replace(record, phase="uploaded", committed_at=0))
        if record is not None and record.commit_by != job.commit_by:
            record = self._save(replace(record, matched_at=job.matched_at, commit_by=job.commit_by))
        if head >= job.commit_by:
            self._report(
                view.id,
                logging.WARNING,
                f"job #{view.id}: its commit deadline (block #{job.commit_by}) has passed; "
                "the market takes it back",
            )
            return
        if view.id in self._unworkable:
            return
        if record is None:
            record = self._fetch(client, view.id, job)
        if record.phase == "fetched" and not self.stopping:
            record = self._compute(client, record, job)
        if record.phase == "computed" and not self.stopping:
            record = self._upload(client, record)
        if record.phase == "uploaded" and not self.stopping:
            self._commit(client, record)

    def _inputs(self, client: XplClient, record: JobRecord) -> dict[str, bytes]:
        """The job's inputs: generated from the seed, kept on disk, or downloaded from blobs."""
        store = self._require_store()
        inputs: dict[str, bytes] = {}
        for name, root in record.inputs:
            if not root:
                inputs[name] = generate_input(record.workload, record.params, name, record.seed)
                continue
            data = store.load_input(record.job_id, name)
            if data is None:
                data = download_blob(client.rpc, root)
            inputs[name] = data
        return inputs

    def _fetch(self, client: XplClient, job_id: int, job: Job) -> JobRecord:
        store = self._require_store()
        record = JobRecord.of_job(job_id, job, "fetched")
        start = time.perf_counter()
        inputs = self._inputs(client, record)
        try:
            check_inputs(job.workload, job.params, inputs)
        except (InputError, WorkloadError) as exc:
            self._unworkable.add(job_id)
            raise JobProblem(f"cannot be computed: {exc}; it will miss its deadline") from exc
        for name, root in job.inputs:
            if root:
                store.save_input(job_id, name, inputs[name])
        record = self._save(record)
        described = ", ".join(
            f"{name} ({'blob ' + to_hex(root)[:12] + '…' if root else 'generated'}, "
            f"{len(inputs[name])} B)"
            for name, root in job.inputs
        )
        seconds = time.perf_counter() - start
        log.info(
            "job #%d inputs fetched in %.2f s: %s",
            job_id,
            seconds,
            described,
            extra={"job": job_id, "step": "fetched", "seconds": round(seconds, 3)},
        )
        return record

    def _compute(self, client: XplClient, record: JobRecord, job: Job) -> JobRecord:
        inputs = self._inputs(client, record)
        spec = JobSpec(record.workload, record.params, record.seed)
        start = time.perf_counter()
        leaves = compute_leaves(spec, inputs, device=self.device)
        seconds = time.perf_counter() - start
        gops = job.cost_units / max(seconds, 1e-9) / GOP
        log.info(
            "job #%d computed on %s in %.2f s at %.2f GOP/s: %d leaves",
            record.job_id,
            self.device,
            seconds,
            gops,
            len(leaves),
            extra={
                "job": record.job_id,
                "step": "computed",
                "seconds": round(seconds, 3),
                "gops": round(gops, 3),
                "leaves": len(leaves),
            },
        )
        cheated = cheat_indices(
            len(leaves), self.config.cheat, self.config.cheat_seed, record.job_id
        )
        if cheated:
            leaves = corrupt_leaves(leaves, cheated, self.config.cheat_seed, record.job_id)
            log.warning(
                "job #%d: corrupted %d of %d leaves on purpose (--cheat %g): %s",
                record.job_id,
                len(cheated),
                len(leaves),
                self.config.cheat,
                list(cheated),
                extra={"job": record.job_id, "step": "cheated", "cheated": list(cheated)},
            )
        root = result_root(leaves)
        self._require_store().save_leaves(record.job_id, leaves)
        return self._save(
            record.advance(
                "computed",
                root=root,
                leaves=len(leaves),
                cheated=cheated,
                compute_seconds=round(seconds, 6),
            )
        )

    def _leaves(self, client: XplClient, record: JobRecord) -> list[bytes]:
        """The job's leaves from disk; recomputed (the same way) if the file is lost or damaged."""
        leaves = self._require_store().load_leaves(record.job_id, record.root)
        if leaves is not None:
            return leaves
        log.warning("job #%d: its leaves are not on disk; computing them again", record.job_id)
        spec = JobSpec(record.workload, record.params, record.seed)
        leaves = compute_leaves(spec, self._inputs(client, record), device=self.device)
        if record.cheated:
            leaves = corrupt_leaves(leaves, record.cheated, self.config.cheat_seed, record.job_id)
        if merkle_root(leaves) != record.root:
            raise JobProblem("its leaves are lost and computing them again gives another root")
        self._require_store().save_leaves(record.job_id, leaves)
        return leaves

    def _upload(self, client: XplClient, record: JobRecord) -> JobRecord:
        leaves = self._leaves(client, record)
        start = time.perf_counter()
        info = upload_blob(client.rpc, leaves)
        seconds = time.perf_counter() - start
        log.info(
            "job #%d uploaded: %d leaves, %d B in %.2f s, root %s",
            record.job_id,
            info.leaf_count,
            info.size,
            seconds,
            to_hex(info.root),
            extra={"job": record.job_id, "step": "uploaded", "root": to_hex(info.root)},
        )
        return self._save(record.advance("uploaded"))

    def _commit(self, client: XplClient, record: JobRecord) -> None:
        best = client.best_number()
        if best >= record.commit_by:
            self._report(
                record.job_id,
                logging.WARNING,
                f"job #{record.job_id}: computed too late for its deadline (block "
                f"#{record.commit_by}, now #{best}); the market takes it back",
            )
            return
        call = make_call("compute", "commit_result", record.job_id, record.root, record.leaves)
        tx = client.sign(self.config.keypair, call)
        outcome = client.submit_and_watch(tx, until="inBlock", timeout=COMMIT_TIMEOUT_S)
        block = outcome.block_number
        if not outcome.success:
            current = client.job(record.job_id)
            if (
                current is None
                or current.state != "committed"
                or current.job.worker != self.account
                or current.job.result_root != record.root
            ):
                raise JobProblem(f"the chain refused the commitment: {outcome.error}")
            block = current.job.committed_at  # an earlier attempt got in
        self._save(record.advance("committed", committed_at=block))
        log.info(
            "job #%d committed in block #%d: root %s, %d leaves",
            record.job_id,
            block,
            to_hex(record.root),
            record.leaves,
            extra={"job": record.job_id, "step": "committed", "block": block},
        )

    # A committed job: keep its leaves readable, report its checks

    def _keep(self, client: XplClient, view: JobView) -> None:
        job = view.job
        if view.id in self._unworkable:
            return
        record = self._records.get(view.id)
        if record is None or record.root != job.result_root:
            record = self._adopt(client, view)
        elif record.phase != "committed":
            # Killed after the commitment went in and before the record said so.
            record = self._save(record.advance("committed", committed_at=job.committed_at))
            log.info(
                "job #%d committed in block #%d (found on chain)",
                view.id,
                job.committed_at,
                extra={"job": view.id, "step": "committed", "block": job.committed_at},
            )
        if client.rpc.call("blob_info", to_hex(record.root)) is None:
            leaves = self._leaves(client, record)
            upload_blob(client.rpc, leaves)
            log.warning(
                "job #%d: the node had lost the result blob; uploaded it again from disk",
                view.id,
                extra={"job": view.id, "step": "reuploaded"},
            )
        self._report_checks(record, view)

    def _adopt(self, client: XplClient, view: JobView) -> JobRecord:
        """A job committed on chain that the state directory knows nothing (right) about."""
        job = view.job
        spec = JobSpec(job.workload, job.params, job.seed)
        inputs = {
            name: (
                generate_input(job.workload, job.params, name, job.seed)
                if not root
                else download_blob(client.rpc, root)
            )
            for name, root in job.inputs
        }
        leaves = compute_leaves(spec, inputs, device=self.device)
        if merkle_root(leaves) != job.result_root:
            self._unworkable.add(view.id)
            raise JobProblem(
                "committed on chain, but its leaves are not in the state directory and computing "
                "them again gives another root: validators cannot read them"
            )
        self._require_store().save_leaves(view.id, leaves)
        log.warning("job #%d: committed leaves were missing on disk; computed again", view.id)
        return self._save(
            JobRecord.of_job(
                view.id,
                job,
                "committed",
                root=job.result_root,
                leaves=len(leaves),
                committed_at=job.committed_at,
            )
        )

    def _report_checks(self, record: JobRecord, view: JobView) -> JobRecord:
        """Log audits and disputes of the job not reported yet, and their outcomes."""
        logged = list(record.checks_logged)
        for index, check in enumerate(view.checks):
            if index >= len(logged):
                logged.append("")
                if check.kind == "audit":
                    log.info(
                        "job #%d audit drawn on leaves %s: committee of %d, deadline block #%d",
                        view.id,
                        list(check.leaves),
                        len(check.committee),
                        check.deadline,
                        extra={"job": view.id, "step": "audit", "leaves": list(check.leaves)},
                    )
                else:
                    challenger = encode_address(check.challenger) if check.challenger else "?"
                    log.warning(
                        "job #%d dispute opened on leaf %s by %s: deadline block #%d",
                        view.id,
                        ", ".join(map(str, check.leaves)),
                        challenger,
                        check.deadline,
                        extra={"job": view.id, "step": "dispute", "leaves": list(check.leaves)},
                    )
            if check.outcome and logged[index] != check.outcome:
                logged[index] = check.outcome
                log.log(
                    logging.WARNING if check.outcome == "fail" else logging.INFO,
                    "job #%d %s %d decided: %s",
                    view.id,
                    check.kind,
                    index,
                    check.outcome,
                    extra={"job": view.id, "step": "check", "outcome": check.outcome},
                )
        if tuple(logged) != record.checks_logged:
            record = self._save(replace(record, checks_logged=tuple(logged)))
        return record

    # A job that is no longer this worker's

    def _close(self, client: XplClient, record: JobRecord) -> None:
        view = client.job(record.job_id)
        mine = view is not None and view.job.worker == self.account
        if view is not None and mine and view.state in ("matched", "committed"):
            return  # it moved between the listing and now; the next step sees it
        if view is not None and mine:
            record = self._report_checks(record, view)
        if view is not None and mine and view.state == "settled":
            outcome = "settled"
            log.info(
                "job #%d settled: paid %s",
                record.job_id,
                format_amount(view.job.payment),
                extra={"job": record.job_id, "step": "settled", "amount": str(view.job.payment)},
            )
        elif view is not None and mine and view.state == "failed":
            outcome = "failed"
            log.error(
                "job #%d failed: slashed %s",
                record.job_id,
                format_amount(view.job.slash),
                extra={"job": record.job_id, "step": "failed", "amount": str(view.job.slash)},
            )
        else:
            outcome = "lost"
            now = "gone from the chain" if view is None else f"{view.state}"
            log.warning(
                "job #%d is no longer this worker's (now %s): its commit deadline passed",
                record.job_id,
                now,
                extra={"job": record.job_id, "step": "lost"},
            )
        self._require_store().end(record, outcome)
        self._forget(record.job_id)


__all__ = [
    "WorkerConfig",
    "WorkerDaemon",
    "WorkerError",
    "cheat_indices",
    "check_config",
    "corrupt_leaves",
    "default_state_dir",
    "device_info",
    "measure_throughput",
    "open_device",
    "parse_ask",
]
