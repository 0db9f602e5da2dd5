"""The worker daemon: stake, take matched jobs, compute and commit them, keep results readable.

    daemon = WorkerDaemon(WorkerConfig(rpc_url, keypair, stake, asks=(("gemm_i8", price),)))
    daemon.run()              # until request_stop(); survives the node going away and coming back

or, driven one step at a time (the tests do):

    daemon.connect()          # reach the node, register or update the worker, open the job store
    daemon.step()             # one pass over this worker's jobs at the best block

A step lists the worker's matched and committed jobs. A matched job goes through its phases
(`gpu_worker.worker.job_state`): its inputs are fetched (generated from the seed, or downloaded from
blobs and checked), its leaves computed on the device, its leaves uploaded to the node as a blob
(whose root is the result root), and the root committed on chain before the job's deadline. A
committed job's blob is kept on the node (uploaded again from disk if the node lost it), and its
audits and disputes are reported. When a job leaves the worker (settled, failed, or taken back
after a missed deadline) the outcome is reported and the job's files are deleted.

Every phase is written to disk before the next begins, so a worker killed at any moment and
started again resumes each job where it stood: it never recomputes leaves that are on disk, and a
job committed on chain is kept even if the record on disk had not caught up.

The parts live beside this loop: `config` (settings and their checks), `registration`,
`following` (the node's head), `pipeline` (each job's phases) and `cheating` (`--cheat FRACTION`
corrupts that share of each result's leaves, to test the audits); the device is chosen by
`gpu_worker.devices`.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Final

from chain.client.chain import TransactionFailed, XplClient
from chain.client.rpc import RpcClientError, RpcConnectionError
from gpu_worker.devices import DeviceError, select_device
from gpu_worker.worker.config import WorkerConfig, WorkerError, check_config, default_state_dir
from gpu_worker.worker.following import HeadFollower
from gpu_worker.worker.job_state import JobStateError, JobStore, locked_state_dir
from gpu_worker.worker.pipeline import JobPipeline, lost_node
from gpu_worker.worker.registration import register
from runtime.primitives.address import encode_address

log = logging.getLogger("xpl.worker")

FIRST_BACKOFF_S: Final = 0.5
MAX_BACKOFF_S: Final = 5.0


def open_device(device: str) -> str:
    """The concrete device `device` names ("auto" resolved), checked to have its kernels."""
    try:
        return select_device(device)
    except DeviceError as exc:
        raise WorkerError(str(exc)) from exc


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
        self._pipeline: JobPipeline | None = None
        self._genesis: bytes | None = None

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
        return self._require_pipeline().store

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

    def _require_pipeline(self) -> JobPipeline:
        if self._pipeline is None:
            raise JobStateError("the job store is not open: connect first")
        return self._pipeline

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
            directory = self.state_dir / f"chain-{genesis[:8].hex()}"
            self._pipeline = JobPipeline.open(self.config, self.device, directory, self._stop)
            self._genesis = genesis
        try:
            register(client, self.config, self.device)
        except TransactionFailed as exc:
            if lost_node(exc):
                raise RpcConnectionError(str(exc)) from exc
            raise WorkerError(f"registering the worker failed: {exc}") from exc
        except RpcClientError as exc:
            raise WorkerError(f"the node refused the worker's registration: {exc.message}") from exc

    # One step

    def step(self, head: int | None = None) -> None:
        """One pass over this worker's jobs at the best block (`head`, or asked for)."""
        client = self._require_client()
        if head is None:
            head = client.best_number()
        self._require_pipeline().step(client, head)
