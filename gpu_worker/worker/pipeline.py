"""The job pipeline: a matched job's inputs fetched, its leaves computed, uploaded and committed;
a committed job's result kept readable and its checks reported; an ended job's files deleted.

Every phase is written to disk (`gpu_worker.worker.job_state`) before the next begins, so a worker
killed at any moment resumes each job where it stood."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Final

from chain.client.blobs import BlobVerificationError, download_blob, upload_blob
from chain.client.chain import JobView, TransactionFailed, XplClient, make_call
from chain.client.rpc import RpcClientError, RpcConnectionError
from gpu_worker.commitment import result_root
from gpu_worker.committing import Leaf, compute_committed
from gpu_worker.devices import device_info
from gpu_worker.inputs import InputError, check_inputs, generate_input
from gpu_worker.jobs import JobSpec, compute_leaves
from gpu_worker.worker.cheating import cheat_indices, corrupt_leaves
from gpu_worker.worker.config import COMMIT_TIMEOUT_S, WorkerConfig
from gpu_worker.worker.declining import Decliner
from gpu_worker.worker.job_state import JobRecord, JobStateError, JobStore
from gpu_worker.worker.responding import Responder
from runtime.pallets.market import Job
from runtime.primitives.address import encode_address
from runtime.primitives.amount import format_amount
from runtime.primitives.hashing import to_hex
from runtime.primitives.merkle import merkle_root
from runtime.workloads import GOP, WorkloadError

log = logging.getLogger("xpl.worker")

JOB_LIST_LIMIT: Final = 1_000


class JobProblem(Exception):
    """A job this worker cannot take forward now (bad inputs, a refusal); reported, not fatal."""


def lost_node(exc: TransactionFailed) -> bool:
    """Whether a transaction failed because the node went away, not because the chain refused it."""
    return isinstance(exc.__cause__, RpcConnectionError)


class JobPipeline:
    """The jobs of one worker on one chain: their records on disk and what each needs next."""

    def __init__(
        self,
        config: WorkerConfig,
        device: str,
        store: JobStore,
        records: dict[int, JobRecord],
        stop: threading.Event,
    ) -> None:
        self.config = config
        self.account = config.keypair.public
        self.device = device
        self.store = store
        self._stop = stop
        self._records = records
        self._reported: dict[int, str] = {}
        self._unworkable: set[int] = set()
        self._announced: dict[int, int] = {}
        """Matched jobs already reported, by their matched_at."""
        self._responder = Responder(config.keypair)
        self.decliner = Decliner(config.keypair, device_info(device)[1] * 2**20)

    @classmethod
    def open(
        cls, config: WorkerConfig, device: str, directory: Path, stop: threading.Event
    ) -> JobPipeline:
        """The pipeline of the job store in `directory`, resuming the jobs on disk."""
        store = JobStore(directory)
        records: dict[int, JobRecord] = {}
        for job_id in store.job_ids():
            try:
                record = store.load(job_id)
            except JobStateError as exc:
                log.error("%s; the chain will tell what became of the job", exc)
                continue
            if record is not None and record.phase != "ended":
                records[job_id] = record
        if records:
            phases = ", ".join(f"#{r.job_id} {r.phase}" for r in records.values())
            log.info("resuming jobs from disk: %s", phases, extra={"step": "resume"})
        return cls(config, device, store, records, stop)

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def step(self, client: XplClient, head: int) -> None:
        """One pass over this worker's jobs at block `head`."""
        self.decliner.clock.observe(head)
        views = client.jobs(
            worker=self.account, states=["matched", "committed"], limit=JOB_LIST_LIMIT
        )
        views.sort(key=lambda v: (v.job.commit_by, v.id))
        for view in views:
            if self.stopping:
                return  # the rest waits for the next run; nothing is half written
            try:
                # Between jobs, so that committing many does not hold responses past their phase.
                self._responder.respond_due(client, self._committed_leaves)
                if view.state == "matched":
                    self._work(client, view, head)
                else:
                    self._keep(client, view)
            except TransactionFailed as exc:
                if lost_node(exc):
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
        self.store.save(record)
        self._records[record.job_id] = record
        return record

    # A matched job: fetch, compute, upload, commit

    def _work(self, client: XplClient, view: JobView, head: int) -> None:
        job = view.job
        record = self._records.get(view.id)
        if record is not None and not record.is_of(view.id, job):
            # A fork replaced the job this record is about with another one of the same id.
            log.warning("job #%d is another job than the one on disk; starting it afresh", view.id)
            self._forget(view.id)
            record = None
        elif record is not None and not record.digest:
            record = self._save(replace(record, digest=view.digest))  # written before digests
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
        if record is None and self._declined(client, view.id, job, head):
            return
        record = self._records.get(view.id)
        if record is None:
            record = self._fetch(client, view.id, job)
        if record.phase == "fetched" and not self.stopping:
            record = self._compute(client, record, job)
        if record.phase == "computed" and not self.stopping:
            record = self._upload(client, record)
        if record.phase == "uploaded" and not self.stopping:
            self._commit(client, record)

    def _declined(self, client: XplClient, job_id: int, job: Job, head: int) -> bool:
        """Decline a newly matched job this worker cannot finish (`declining`), its inputs
        fetched first if nothing else stops it; whether it was declined."""
        reason = self.decliner.reason(client, job, head)
        if reason is not None:
            return self.decliner.decline(client, job_id, job, head, reason)
        try:
            self._fetch(client, job_id, job)
        except (JobProblem, InputError, BlobVerificationError, RpcClientError) as exc:
            self._unworkable.add(job_id)
            if not self.decliner.decline(client, job_id, job, head, f"its inputs: {exc}"):
                raise
            return True
        return False

    def _inputs(self, client: XplClient, record: JobRecord) -> dict[str, bytes]:
        """The job's inputs: generated from the seed, kept on disk, or downloaded from blobs."""
        store = self.store
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
        store = self.store
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
        # Computed and committed together: each finished band is hashed while the next computes.
        committed = compute_committed(spec, inputs, device=self.device)
        leaves: Sequence[Leaf] = committed.leaves
        root = committed.root
        seconds = time.perf_counter() - start
        gops = job.cost_units / max(seconds, 1e-9) / GOP
        log.info(
            "job #%d computed and committed on %s in %.2f s at %.2f GOP/s: %d leaves",
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
            # Only a worker told to cheat copies its leaves out of the result, to change them.
            plain = [bytes(leaf) for leaf in leaves]
            corrupted = corrupt_leaves(plain, cheated, self.config.cheat_seed, record.job_id)
            root = result_root(corrupted)
            leaves = list(corrupted)
            log.warning(
                "job #%d: corrupted %d of %d leaves on purpose (--cheat %g): %s",
                record.job_id,
                len(cheated),
                len(leaves),
                self.config.cheat,
                list(cheated),
                extra={"job": record.job_id, "step": "cheated", "cheated": list(cheated)},
            )
        self.store.save_leaves(record.job_id, leaves)
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
        leaves = self.store.load_leaves(record.job_id, record.root)
        if leaves is not None:
            return leaves
        log.warning("job #%d: its leaves are not on disk; computing them again", record.job_id)
        spec = JobSpec(record.workload, record.params, record.seed)
        leaves = compute_leaves(spec, self._inputs(client, record), device=self.device)
        if record.cheated:
            leaves = corrupt_leaves(leaves, record.cheated, self.config.cheat_seed, record.job_id)
        if merkle_root(leaves) != record.root:
            raise JobProblem("its leaves are lost and computing them again gives another root")
        self.store.save_leaves(record.job_id, leaves)
        return leaves

    def _upload(self, client: XplClient, record: JobRecord) -> JobRecord:
        leaves = self._leaves(client, record)
        start = time.perf_counter()
        info = upload_blob(client.rpc, leaves, signer=self.config.keypair)
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
        call = make_call(
            "compute", "commit_result", record.job_id, record.digest, record.root, record.leaves
        )
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
        if record is None or record.root != job.result_root or not record.is_of(view.id, job):
            record = self._adopt(client, view)
        elif not record.digest:
            record = self._save(replace(record, digest=view.digest))  # written before digests
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
            upload_blob(client.rpc, leaves, signer=self.config.keypair)
            log.warning(
                "job #%d: the node had lost the result blob; uploaded it again from disk",
                view.id,
                extra={"job": view.id, "step": "reuploaded"},
            )
        self._report_checks(record, view)

    def _committed_leaves(self, job_id: int, root: bytes) -> list[bytes] | None:
        """The leaves of a job committed under `root`, from disk; None if not at hand."""
        record = self._records.get(job_id)
        if record is None or record.root != root:
            return None
        return self.store.load_leaves(job_id, root)

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
        self.store.save_leaves(view.id, leaves)
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
                        "job #%d audit drawn on leaves %s (round %d): committee of %d, "
                        "respond after block #%d, by block #%d",
                        view.id,
                        list(check.leaves),
                        check.round,
                        len(check.committee),
                        check.commit_deadline,
                        check.reveal_deadline,
                        extra={"job": view.id, "step": "audit", "leaves": list(check.leaves)},
                    )
                else:
                    challenger = encode_address(check.challenger) if check.challenger else "?"
                    log.warning(
                        "job #%d dispute opened on leaf %s by %s (round %d)",
                        view.id,
                        ", ".join(map(str, check.leaves)),
                        challenger,
                        check.round,
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
        self.store.end(record, outcome)
        self._forget(record.job_id)
