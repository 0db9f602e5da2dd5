"""The validators' verification service: recompute the leaves a check names, commit, reveal.

When a committed job is audited, or one of its leaves disputed, the compute pallet draws a
committee of validators for the check (DESIGN 8). A validator node on that committee:

1. finds the check: a scan of `compute.Checks` at start (so a restart picks up what is still
   open), then the `ChallengeDrawn` and `DisputeOpened` events of each new best block (a full scan
   again after a reorg or a gap); it keeps each check it may owe something until it closes;
2. in the check's commit phase, recomputes the named leaves into Merkle leaf hashes from the
   job's inputs (`chain.service.recomputation`: generated from the seed, or input blobs from the
   blob store or peers, and the committed leaves they build on), with the witness of that
   recomputation under the round's mask (`gpu_worker.witness`), and submits
   `compute.attest_commit(job, check_digest, check, attestation_commitment(job, check, member,
   hashes, witness, salt))`, naming the round's draw it recomputed (`compute.check_digest`); if
   the inputs cannot be obtained, it commits to the empty list and NO_WITNESS ("unavailable");
3. in the reveal phase, submits `compute.attest_reveal(job, check, hashes, witness, salt)` with
   the same hashes and witness and the salt (derived from its key) that hid them.
   Recomputation is deterministic, so a restarted node recomputes them; an in-memory cache keyed
   by (job, check, round, check digest) spares the work otherwise (the digest, because a reorg
   may draw the same job's round again with other leaves and another mask). The chain compares
   the reveals with the worker's response and decides.

Each transaction must land in its phase: it is submitted while the next block is in the phase,
and its mortality ends with the phase. The recomputation runs in a worker thread, one check at a
time, so the node keeps authoring; signing and submitting happen on the trio thread. A failure
here (a bug, a broken device, a refused transaction) is logged and tried again at a later block,
at most `MAX_ATTEMPTS` times per check.

`--verifier-behaviour` selects a test and research mode instead of "honest": what a rational but
lazy validator would do. "lazy" copies the hashes of the worker's published result leaves (made
up where it cannot get them) and makes up a witness, recomputing nothing; "silent" never
attests; "unavailable" reveals "unavailable" without trying. The chain penalizes each (its vote
is not the one honest recomputations reach, or it never reveals), which the process tests show.

What a member can still do within these rules: copy another member's hashes and witness before
committing, if that member shares them off chain (the commitment binds them to the member, not
to who computed them). That saves the copier its recomputation but changes no outcome: the
copied answer is an honest one, or the copier shares the penalty of whoever it copied; a member
that sells its answer this way gains nothing it would not have had. It cannot copy the worker's
published result (its made-up witness gives it away), nor change its answer after seeing
others' (its reveal must open its commitment).
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Sequence
from typing import Final

import trio

from chain.client.blob_info import BlobInfo
from chain.client.chain import make_call
from chain.core.pool import PoolError
from chain.service.committee_duties import (
    COMMIT,
    CheckKey,
    OpenCheck,
    attestation_call,
    checks_to_watch,
    duty,
    later_open_checks,
    may_owe,
    phase_mortality,
    read_open_check,
)
from chain.service.input_slices import fetch_chunks
from chain.service.interfaces import AuditHost
from chain.service.recomputation import (
    LeafSource,
    ResultWithheld,
    Unavailable,
    WithPeerLeaves,
    gather_material,
    input_chunks,
    made_up_hashes,
    made_up_witness,
    needed_leaves,
    proven_chunks,
    published_hashes,
    recompute_answer,
    select_device,
)
from chain.service.verify_process import IsolatedRunFailed, run_isolated
from chain.storage.blobs import BlobStore
from gpu_worker.devices import DEVICES, DeviceError
from runtime.block import Header
from runtime.executive import InvalidTransaction
from runtime.pallets import compute, market
from runtime.pallets.market.constants import MAX_INPUTS
from runtime.primitives.codec import DecodeError
from runtime.primitives.keys import Keypair
from runtime.state import StateOverlay
from runtime.transaction import sign_transaction
from runtime.workloads import MAX_INPUT_BYTES

log = logging.getLogger("xpl.verify")

MAX_ATTEMPTS: Final = 3
"""Tries at one check before this node gives up on it (an error, not an answer)."""
BLOB_PROOF_CACHE_NODES: Final = 1 << 16
"""Tree nodes the verifier's own view of the blob store keeps for proofs (about 5 MB)."""
MAX_CACHED_ANSWERS: Final = 1_024
"""Recomputed answers kept between a check's commit and its reveal (each at most 256 hashes)."""
CHECK_FETCH_MAX_BYTES: Final = MAX_INPUTS * MAX_INPUT_BYTES
"""What one check may fetch whole from peers: a job's inputs at their largest (what the market's
bounds already allow). What a requester can still make a member fetch is one job's inputs for as
long as the check runs, within the disk's reserve; they are deleted when the check ends."""

BEHAVIOURS: Final = ("honest", "lazy", "silent", "unavailable")
"""How a validator answers its checks: honestly, or one of the test and research modes."""

AnswerKey = tuple[int, int, int, bytes]
"""(job id, check index, round, `compute.check_digest`): a reorg may put another job under the
same id, or draw the same job's round again with other leaves and another mask."""
Answer = tuple[tuple[bytes, ...], bytes]
"""What a member attests: its recomputed leaf hashes and its witness digest."""


class VerificationService:
    """Commits and reveals, as `key`, on the checks of this node's state whose committee names
    `key`."""

    def __init__(
        self,
        node: AuditHost,
        key: Keypair,
        *,
        device: str = "auto",
        behaviour: str = "honest",
        max_attempts: int = MAX_ATTEMPTS,
    ) -> None:
        if device not in DEVICES:
            raise DeviceError(f"unknown device {device!r} (choose from {', '.join(DEVICES)})")
        if behaviour not in BEHAVIOURS:
            raise ValueError(f"unknown verifier behaviour {behaviour!r}")
        self.node = node
        self.key = key
        self.behaviour = behaviour
        self.requested_device = device
        self.device: str | None = None
        """Chosen at the first recomputation, so that a node that never verifies never compiles
        a kernel."""
        self.max_attempts = max_attempts
        # Its own view of the blob store: the worker thread must not share the RPC's proof cache.
        self.blobs = BlobStore(node.blobs.kv, proof_cache_nodes=BLOB_PROOF_CACHE_NODES)
        self._limiter = trio.CapacityLimiter(1)
        self._wake = trio.Event()
        self._wake.set()
        self._known_hash: bytes | None = None
        self._candidates: dict[CheckKey, None] = {}
        self._answers: dict[AnswerKey, Answer] = {}
        self._sent: dict[tuple[CheckKey, str], bytes] = {}
        """The attestations sent, by check and duty: their transaction hashes."""
        self._attempts: dict[CheckKey, int] = {}
        self._fetched_whole: dict[bytes, int] = {}
        """Blobs fetched whole for the checks in progress, and how many of them use each."""
        node.block_listeners.append(self.on_best_block)

    @property
    def attested(self) -> frozenset[CheckKey]:
        """The checks this service sent an attestation on that are still open."""
        return frozenset(key for key, _ in self._sent)

    def on_best_block(self, header: Header) -> None:
        """A new best block: look for work at the next step."""
        self._wake.set()

    async def run(self) -> None:
        """Verify and attest until cancelled, a step after each new best block.

        The device is chosen (its verifying process started and its kernels loaded) as soon as
        the chain has a registered worker, off the node's thread, so that the first audit does not
        spend its commit phase starting it, and a chain without a market never starts it.
        """
        log.info("verifying checks as validator 0x%s (%s)", self.key.public.hex(), self.behaviour)
        if self.behaviour == "silent":
            log.warning("--verifier-behaviour silent: this validator never attests")
            await trio.sleep_forever()
        while True:
            await self._wake.wait()
            self._wake = trio.Event()
            try:
                await self.step()
            except Exception:
                log.exception("the verification step failed; trying again at the next block")

    def _market_open(self) -> bool:
        """Whether the best state has a registered worker (jobs, and so audits, may follow)."""
        core = self.node.core
        state = StateOverlay(core.reader(core.store.best_header.hash))
        return bool(market.WorkerList.get(state))

    async def step(self) -> None:
        """Find the checks that await this validator and do what each owes, one after another
        (nothing, for a silent one)."""
        if self.behaviour == "silent":
            return
        if self.device is None and self.behaviour == "honest" and self._market_open():
            await self._choose_device()
        self._refresh()
        for key in list(self._candidates):
            due = self._due(key)
            if due is None:
                continue
            current, what = due
            try:
                answer = await self._answer(current)
                self._attest(key, what, answer, current.digest)
            except Exception:
                self._failed(key)
                log.exception(
                    "job %d check %d: the %s failed (attempt %d of %d)",
                    *key,
                    what,
                    self._attempts[key],
                    self.max_attempts,
                )

    def _due(self, key: CheckKey) -> tuple[OpenCheck, str] | None:
        """The check and what this validator owes it now, if anything; drops what needs nothing
        more."""
        store = self.node.core.store
        best = store.best_header.number
        read = store.reader(store.best_hash)
        current = read_open_check(read, *key)
        if current is None:  # closed (a fresh round may follow it), or the job ended
            self._forget(key)
            for later in later_open_checks(read, *key):
                self._candidates.setdefault(later)
            return None
        me = self.key.public
        if not may_owe(current.check, me, best):
            self._candidates.pop(key, None)
            return None
        what = duty(current.check, me, best)
        if what is None:
            return None
        sent = self._sent.get((key, what))
        if sent is not None:
            if sent in self.node.core.pool:
                return None
            # Sent, but it left the pool without reaching the chain: send it again.
            log.warning(
                "job %d check %d: the %s left the pool unincluded; sending again", *key, what
            )
            del self._sent[(key, what)]
        if self._attempts.get(key, 0) >= self.max_attempts:
            return None
        return current, what

    def _refresh(self) -> None:
        """Add the checks opened since the last step (all open ones after a start or a reorg)."""
        opened, self._known_hash = checks_to_watch(
            self.node.core.store, self.key.public, self._known_hash
        )
        for key in opened:
            self._candidates.setdefault(key)

    def _forget(self, key: CheckKey) -> None:
        self._candidates.pop(key, None)
        self._attempts.pop(key, None)
        for sent in [s for s in self._sent if s[0] == key]:
            del self._sent[sent]
        for answer in [a for a in self._answers if a[:2] == key]:
            del self._answers[answer]

    def _failed(self, key: CheckKey) -> None:
        self._attempts[key] = self._attempts.get(key, 0) + 1
        self.node.metrics.verification_errors.inc()

    async def _choose_device(self) -> str:
        if self.device is None:
            # The kernels load and self-test in the verifying process, never in the node's.
            try:
                self.device = await trio.to_thread.run_sync(
                    functools.partial(
                        run_isolated,
                        select_device,
                        self.requested_device,
                        gpu=self.requested_device in ("auto", "cuda"),
                    ),
                    limiter=self._limiter,
                    abandon_on_cancel=True,
                )
            except IsolatedRunFailed as exc:
                raise DeviceError(f"device {self.requested_device} cannot verify: {exc}") from exc
            log.info("verifying on device %s", self.device)
        return self.device

    async def _answer(self, current: OpenCheck) -> Answer:
        """The leaf hashes and witness this validator commits to and reveals for the check:
        recomputed (once per round; cached), or what its behaviour makes up."""
        check = current.check
        key = (current.job_id, current.index, check.round, current.digest)
        cached = self._answers.get(key)
        if cached is not None:
            return cached
        started = time.perf_counter()
        witness = compute.NO_WITNESS
        if self.behaviour == "lazy":
            hashes, outcome = await self._copy(current)
            witness = made_up_witness(current.job_id, current.index)
        elif self.behaviour == "unavailable":
            hashes, outcome = (), "not tried"
        else:
            (hashes, witness), outcome = await self._recompute(current)
        label = (
            self.behaviour
            if self.behaviour != "honest"
            else "unavailable"
            if not hashes
            else "recomputed"
        )
        seconds = time.perf_counter() - started
        self.node.metrics.verifications.labels(label).inc()
        self.node.metrics.verification_seconds.observe(seconds)
        log.info(
            "job %d check %d leaves %s: %s%s in %.2f s",
            current.job_id,
            current.index,
            list(check.leaves),
            label,
            f" ({outcome})" if outcome else "",
            seconds,
            extra={
                "job": current.job_id,
                "check": current.index,
                "round": check.round,
                "leaves": list(check.leaves),
                "verdict": label,
                "seconds": round(seconds, 3),
            },
        )
        if len(self._answers) >= MAX_CACHED_ANSWERS:
            del self._answers[next(iter(self._answers))]
        self._answers[key] = (hashes, witness)
        return hashes, witness

    async def _copy(self, current: OpenCheck) -> tuple[tuple[bytes, ...], str]:
        """What a lazy member reveals: the hashes of the worker's published leaves (copied, not
        recomputed), or made-up ones where the result cannot be had."""
        leaves = current.check.leaves
        fetched: list[bytes] = []
        try:
            source = await self._with_peer_data(
                current.job, leaves, also=leaves, fetched_whole=fetched
            )
            return published_hashes(current.job, leaves, source), "copied the published result"
        except Unavailable as exc:
            made_up = made_up_hashes(current.job_id, current.index, len(leaves))
            return made_up, f"made up: {exc}"
        finally:
            self._release_fetched(fetched)

    async def _recompute(self, current: OpenCheck) -> tuple[Answer, str]:
        """The recomputed leaf hashes and witness, or () and why the input data was unavailable,
        or RESULT_WITHHELD and why the worker's committed leaves they build on were."""
        device = await self._choose_device()
        leaves = current.check.leaves
        fetched: list[bytes] = []
        try:
            source = await self._with_peer_data(current.job, leaves, fetched_whole=fetched)
            material = await trio.to_thread.run_sync(
                gather_material, current.job, leaves, source, limiter=self._limiter
            )
        except ResultWithheld as exc:
            return (compute.RESULT_WITHHELD, compute.NO_WITNESS), str(exc)
        except Unavailable as exc:
            return ((), compute.NO_WITNESS), str(exc)
        finally:
            # The material is in memory now: what was fetched for it goes at once.
            self._release_fetched(fetched)
        # In a separate process with capped memory: a runaway check dies there, not here.
        answer: Answer = await trio.to_thread.run_sync(
            functools.partial(
                run_isolated,
                recompute_answer,
                material,
                current.check.mask,
                device=device,
                gpu=device == "cuda",
            ),
            limiter=self._limiter,
            abandon_on_cancel=True,
        )
        return answer, ""

    async def _with_peer_data(
        self,
        job: market.Job,
        leaves: Sequence[int],
        *,
        also: Sequence[int] = (),
        fetched_whole: list[bytes] | None = None,
    ) -> LeafSource:
        """The local blob store, completed from peers where it lacks the job's data: the input
        chunks this check's leaves read, the committed leaves they build on, and the result
        leaves named in `also` (kept aside). The blobs fetched whole go in `fetched_whole`, for the
        caller to release (`_release_fetched`) when the check no longer needs them; they stay
        within CHECK_FETCH_MAX_BYTES."""
        network = self.node.network
        source = WithPeerLeaves(self.blobs)
        if network is None:
            return source
        fetched_bytes = 0
        for root, chunks in input_chunks(job, leaves).items():
            if self.blobs.info(root) is None:
                fetched = await fetch_chunks(network.fetch_blob_leaf, root, chunks)
                source.fetched.update(fetched)
                if len(fetched) < len(chunks) or not proven_chunks(source, job, root, chunks):
                    # Not served in chunks (an input committed over other leaves, or peers that
                    # lack some): the whole blob, into the store, which reads it whole.
                    if fetched_bytes >= CHECK_FETCH_MAX_BYTES:
                        continue  # read as unavailable: a job's inputs never need more
                    whole = await network.fetch_blob(root)
                    if whole is not None:
                        fetched_bytes += whole.size
                        self._fetched_whole[root] = self._fetched_whole.get(root, 0) + 1
                        if fetched_whole is not None:
                            fetched_whole.append(root)
        root = job.result_root
        if root and self.blobs.info(root) is None:
            for index in sorted({*needed_leaves(job, leaves), *also}):
                found = await network.fetch_blob_leaf(root, index)
                if found is not None:
                    source.fetched[(root, index)] = (found.leaf, list(found.proof))
                    source.infos[root] = BlobInfo(root, found.leaf_count, found.size)
        return source

    def _release_fetched(self, roots: Sequence[bytes]) -> None:
        """A check is done with the blobs it fetched whole: delete each no other check in
        progress uses (`NodeNetwork.drop_fetched` keeps any an account has uploaded here)."""
        network = self.node.network
        for root in roots:
            users = self._fetched_whole.get(root, 0) - 1
            if users > 0:
                self._fetched_whole[root] = users
                continue
            self._fetched_whole.pop(root, None)
            if network is not None:
                network.drop_fetched(root)

    def _attest(self, key: CheckKey, what: str, answer: Answer, digest: bytes) -> None:
        """Sign and pool the commitment or reveal, if the check still awaits it, its phase lasts
        beyond the best block and its job is still the one recomputed (`digest`)."""
        core = self.node.core
        best = core.store.best_header
        current = read_open_check(core.reader(best.hash), *key)
        me = self.key.public
        if current is None or duty(current.check, me, best.number) != what:
            log.info("job %d check %d: its %s phase ended before the answer was ready", *key, what)
            return
        if current.digest != digest:
            log.info("job %d check %d: a reorg put another job or draw under this id", *key)
            return
        check = current.check
        phase_end = check.commit_deadline if what == COMMIT else check.reveal_deadline
        timing = phase_mortality(
            phase_end,
            best,
            core.finalized_header,
            drawn_at=check.drawn_at,
            header_of=core.header,
        )
        if timing is None:
            return
        mortality, birth = timing
        hashes, witness = answer
        pallet, name, args = attestation_call(key, what, self.key, hashes, witness, digest=digest)
        tx = sign_transaction(
            self.key,
            make_call(pallet, name, *args),
            nonce=core.next_nonce(me),
            genesis_hash=core.genesis_hash,
            mortality=mortality,
            birth_hash=birth.hash,
        )
        try:
            self.node.submit(tx.raw)
        except (DecodeError, InvalidTransaction, PoolError) as exc:
            self._failed(key)
            log.warning(
                "the pool refused the %s on job %d check %d (attempt %d of %d): %s",
                what,
                *key,
                self._attempts[key],
                self.max_attempts,
                exc,
            )
            return
        self._sent[(key, what)] = tx.hash
        log.info(
            "job %d check %d round %d: %s sent (%s)",
            *key,
            check.round,
            what,
            "unavailable" if not answer[0] else f"{len(answer[0])} leaf hashes",
        )


__all__ = [
    "BEHAVIOURS",
    "MAX_ATTEMPTS",
    "VerificationService",
    "attestation_call",
    "phase_mortality",
]
