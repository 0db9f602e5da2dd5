"""The validators' verification service: recompute the leaves a check names, attest the verdict.

When a committed job is audited, or one of its leaves disputed, the compute pallet opens a check
with a committee of validators (DESIGN 8). A validator node on that committee:

1. finds the check: a scan of `compute.Checks` at start (so a restart picks up what is still
   open), then the `ChallengeDrawn` and `DisputeOpened` events of each new best block (a full scan
   again after a reorg or a gap);
2. gathers the job's inputs (generated from its seed, or the input blobs, checked against their
   roots) and the named leaves with the committed leaves they build on, each checked by Merkle
   proof against the job's committed result root. What the node's blob store lacks is asked of
   its peers first (`chain.service.network`: whole input blobs, and just the needed result leaves).
   Anything missing or unprovable makes the verdict "unavailable";
3. recomputes each named leaf (`gpu_worker.jobs.recompute_leaf`) on the configured device: "pass"
   if every one equals the committed leaf, else "fail";
4. signs `compute.attest(job, check, verdict)` with its validator key and puts it in its own pool.

The decisions (which checks are mine, what the verdict is) are plain functions over a state
reader and a blob store. `VerificationService` is the trio part: it runs the gathering and the
recomputation in a worker thread, one check at a time, so the node keeps authoring, and it signs
and submits on the trio thread. A verification that fails here (a bug, a broken device) is not a
verdict: it is logged and tried again at a later block, at most `MAX_ATTEMPTS` times.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final, Protocol

import trio

from chain.client.blob_info import BlobInfo
from chain.client.chain import make_call
from chain.core.pool import PoolError
from chain.service.interfaces import AuditHost
from chain.service.verify_process import run_isolated, warm_up
from chain.storage.blobs import BlobError, BlobStore
from chain.storage.chain_store import ChainStore, ChainStoreError
from gpu_worker import devices
from gpu_worker.devices import DEVICES, DeviceError
from gpu_worker.inputs import generate_inputs
from gpu_worker.jobs import JobSpec, compute_leaves, leaf_dependencies, recompute_leaf
from runtime.block import Header
from runtime.executive import InvalidTransaction
from runtime.pallets import compute, market
from runtime.pallets.system import EVENTS_KEY
from runtime.primitives import codec
from runtime.primitives.codec import DecodeError
from runtime.primitives.keys import Keypair
from runtime.primitives.merkle import MerkleProofError, merkle_root, verify_merkle_proof
from runtime.primitives.trie import TrieError
from runtime.state import PrefixIterator, StateOverlay, StateReader
from runtime.transaction import Mortality, sign_transaction
from runtime.workloads import WorkloadError, workload_shape

log = logging.getLogger("xpl.verify")

MAX_ATTEMPTS: Final = 3
"""Tries at verifying one check before this node gives up on it (an error, not a verdict)."""
MAX_EVENT_WALK: Final = 64
"""New blocks read for opened checks at one step; more than this, and the state is scanned."""
ATTEST_MORTALITY: Final = 64
"""Blocks an attestation stays valid for, from its birth at the finalized head."""
BLOB_PROOF_CACHE_NODES: Final = 1 << 16
"""Tree nodes the verifier's own view of the blob store keeps for proofs (about 5 MB)."""

CheckKey = tuple[int, int]
"""(job id, check index)."""


class Unavailable(Exception):
    """Data a verification needs is missing or does not match its commitment."""


# Which checks are mine


@dataclass(frozen=True, slots=True)
class OpenCheck:
    """An open check of a committed job, as read from the state."""

    job_id: int
    index: int
    job: market.Job
    check: compute.Check

    @property
    def key(self) -> CheckKey:
        return (self.job_id, self.index)


def awaits_vote(check: compute.Check, member: bytes, best_number: int) -> bool:
    """Whether `member` should attest on `check` now: it is open, names the member as one of
    its committee, has no vote of the member's, and an attestation in the next block still
    counts (the check takes votes until its deadline block)."""
    return (
        not check.outcome
        and member in check.committee
        and check.commitment_of(member) is None
        and check.commit_deadline > best_number
    )


def read_open_check(read: StateReader, job_id: int, index: int) -> OpenCheck | None:
    """Check `index` of job `job_id` if the job is committed and the check still open."""
    state = StateOverlay(read)
    job = market.Jobs.get(state, job_id)
    if job is None or job.state != "committed":
        return None
    checks = compute.Checks.get(state, job_id) or ()
    if not 0 <= index < len(checks) or checks[index].outcome:
        return None
    return OpenCheck(job_id, index, job, checks[index])


def my_open_checks(
    read: StateReader, iterate: PrefixIterator, member: bytes, best_number: int
) -> list[OpenCheck]:
    """Every check in the state that awaits `member`'s attestation, by job id then index."""
    state = StateOverlay(read)
    found: list[OpenCheck] = []
    for key, raw in iterate(compute.Checks.prefix):
        job_id = int.from_bytes(compute.Checks.key_suffix(key), "big")
        waiting = [
            (index, check)
            for index, check in enumerate(compute.Checks.decode(raw))
            if awaits_vote(check, member, best_number)
        ]
        if not waiting:
            continue
        job = market.Jobs.get(state, job_id)
        if job is None or job.state != "committed":
            continue
        found.extend(OpenCheck(job_id, index, job, check) for index, check in waiting)
    return found


_OPENING_EVENTS: Final = {
    (compute.ChallengeDrawn.pallet, compute.ChallengeDrawn.name): len(
        compute.ChallengeDrawn.fields
    ),
    (compute.DisputeOpened.pallet, compute.DisputeOpened.name): len(compute.DisputeOpened.fields),
}


def checks_opened(raw_events: bytes | None) -> list[CheckKey]:
    """The checks a block opened (audits drawn, disputes opened), from its stored events."""
    if raw_events is None:
        return []
    opened: list[CheckKey] = []
    for i, value in enumerate(codec.expect_array(codec.decode_raw(raw_events), 10**6, "events")):
        record = codec.expect_list(value, 4, f"events[{i}]")
        count = _OPENING_EVENTS.get((record[1], record[2]))
        if count is None:
            continue
        args = codec.expect_list(record[3], count, f"events[{i}].args")
        if record[2] == compute.ChallengeDrawn.name and args[2] is not True:
            continue  # drawn, but not audited: no check
        opened.append(
            (codec.expect_u64(args[0], "event.job"), codec.expect_u32(args[1], "event.check"))
        )
    return opened


def checks_opened_since(
    store: ChainStore, best_hash: bytes, known_hash: bytes, *, limit: int = MAX_EVENT_WALK
) -> list[CheckKey] | None:
    """Checks opened in the blocks after `known_hash` up to `best_hash`, newest first; None if
    `known_hash` is not an ancestor of `best_hash` within `limit` blocks (a reorg, a long gap) or
    a block's state is gone, so that the caller scans the whole state instead."""
    known = store.header(known_hash)
    if known is None:
        return None
    opened: list[CheckKey] = []
    block_hash = best_hash
    for _ in range(limit + 1):
        if block_hash == known_hash:
            return opened
        header = store.header(block_hash)
        if header is None or header.number <= known.number:
            return None
        try:
            raw = store.reader(block_hash)(EVENTS_KEY)
        except (ChainStoreError, TrieError):
            return None
        opened.extend(checks_opened(raw))
        block_hash = header.parent_hash
    return None


# What the verdict is


@dataclass(frozen=True, slots=True)
class Verdict:
    """A verdict on a check and, for the log, why."""

    verdict: str
    """"pass", "fail" or "unavailable"."""
    reason: str


@dataclass(frozen=True, slots=True)
class Material:
    """What recomputing a check's leaves takes: the job, its inputs, the committed leaves."""

    spec: JobSpec
    inputs: Mapping[str, bytes]
    named: tuple[int, ...]
    committed: Mapping[int, bytes]
    """The named leaves and the leaves they build on, each proven against the result root."""


class LeafSource(Protocol):
    """Where verification reads blobs: the node's blob store, or it with leaves from peers."""

    def info(self, root: bytes) -> BlobInfo | None:
        """The blob with this root (leaf count and size), or None if it is not held."""
        ...

    def leaf(self, root: bytes, index: int) -> tuple[bytes, list[bytes]]:
        """Leaf `index` of blob `root` with its Merkle proof; BlobError if it is not held."""
        ...


class WithPeerLeaves:
    """The local blob store, plus single leaves fetched from peers (with their proofs)."""

    def __init__(self, blobs: BlobStore) -> None:
        self.blobs = blobs
        self.fetched: dict[tuple[bytes, int], tuple[bytes, list[bytes]]] = {}
        self.infos: dict[bytes, BlobInfo] = {}

    def info(self, root: bytes) -> BlobInfo | None:
        """The local blob's info, else that of a blob whose leaves were fetched from peers."""
        return self.blobs.info(root) or self.infos.get(root)

    def leaf(self, root: bytes, index: int) -> tuple[bytes, list[bytes]]:
        """Leaf `index` of blob `root` with its proof: one fetched from peers, else the local
        store's."""
        found = self.fetched.get((root, index))
        if found is not None:
            return found
        return self.blobs.leaf(root, index)


def needed_leaves(job: market.Job, leaves: Sequence[int]) -> list[int]:
    """The committed leaves that checking `leaves` reads: those, and what they build on."""
    spec = JobSpec(job.workload, job.params, job.seed)
    needed: dict[int, None] = {}
    for index in leaves:
        needed[index] = None
        needed.update(dict.fromkeys(leaf_dependencies(spec, index)))
    return sorted(needed)


def read_input_blob(blobs: LeafSource, root: bytes, size: int) -> bytes:
    """An input blob's bytes (its leaves concatenated), checked against `root` and `size`."""
    info = blobs.info(root)
    if info is None:
        raise Unavailable(f"input blob 0x{root.hex()} is not in the local blob store")
    if info.size != size:
        raise Unavailable(f"input blob 0x{root.hex()} holds {info.size} bytes, the job {size}")
    try:
        leaves = [blobs.leaf(root, index)[0] for index in range(info.leaf_count)]
    except BlobError as exc:
        raise Unavailable(f"input blob 0x{root.hex()} cannot be read: {exc}") from exc
    if merkle_root(leaves) != root or sum(map(len, leaves)) != size:
        raise Unavailable(f"input blob 0x{root.hex()} does not match its root")
    return b"".join(leaves)


def job_inputs(job: market.Job, blobs: LeafSource) -> dict[str, bytes]:
    """A job's blob inputs by name, read from the blob store. A generated input is left out:
    recomputing a leaf generates only the slice of it that the leaf reads."""
    sizes = {spec.name: spec.size for spec in workload_shape(job.workload, job.params).inputs}
    inputs: dict[str, bytes] = {}
    for name, root in job.inputs:
        if name not in sizes:
            raise WorkloadError(f"{job.workload} has no input {name!r}")
        if root:
            inputs[name] = read_input_blob(blobs, root, sizes[name])
    return inputs


def committed_leaf(blobs: LeafSource, job: market.Job, index: int) -> bytes:
    """Leaf `index` of the job's result from the blob store, proven against its result root."""
    root = job.result_root
    try:
        leaf, proof = blobs.leaf(root, index)
    except BlobError as exc:
        raise Unavailable(f"result leaf {index} of 0x{root.hex()}: {exc}") from exc
    try:
        verify_merkle_proof(root, leaf, index, job.leaves, proof)
    except MerkleProofError as exc:
        raise Unavailable(f"result leaf {index} does not prove against 0x{root.hex()}") from exc
    return leaf


def gather_material(
    job: market.Job, leaves: Sequence[int], blobs: LeafSource
) -> Material | Verdict:
    """What recomputing `leaves` of the job takes, or the verdict "unavailable" saying what
    is missing."""
    spec = JobSpec(job.workload, job.params, job.seed)
    try:
        inputs = job_inputs(job, blobs)
        committed = {
            index: committed_leaf(blobs, job, index) for index in needed_leaves(job, leaves)
        }
    except Unavailable as exc:
        return Verdict("unavailable", str(exc))
    return Material(spec, inputs, tuple(leaves), committed)


def judge(material: Material, *, device: str = "numpy") -> Verdict:
    """Recompute each named leaf on `device`: "pass" if all equal the committed ones."""
    spec = material.spec
    sizes = spec.shape.leaf_sizes
    for index in material.named:
        deps = {d: material.committed[d] for d in leaf_dependencies(spec, index)}
        for dep, leaf in deps.items():
            if len(leaf) != sizes[dep]:
                return Verdict(
                    "fail", f"committed leaf {dep} is {len(leaf)} bytes, not {sizes[dep]}"
                )
        recomputed = recompute_leaf(spec, material.inputs, index, deps, device=device)
        if recomputed != material.committed[index]:
            return Verdict("fail", f"leaf {index} differs from its recomputation")
    return Verdict("pass", f"{len(material.named)} leaves recomputed equal")


def verify_leaves(
    job: market.Job, leaves: Sequence[int], blobs: LeafSource, *, device: str = "numpy"
) -> Verdict:
    """The verdict on `leaves` of a committed job, from `blobs`."""
    material = gather_material(job, leaves, blobs)
    if isinstance(material, Verdict):
        return material
    return judge(material, device=device)


# The device


def _self_test(device: str) -> None:
    """DeviceError unless `device` recomputes a small job of each workload as NumPy does."""
    for spec in (
        JobSpec("gemm_i8", (8, 16, 8, 4), seed=1),
        JobSpec("qmlp_i8", (8, 4, 16, 8, 4), seed=2),
        JobSpec("sgd_fxp", (16, 8, 2, 4, 3, 8, 6), seed=3),
    ):
        inputs = generate_inputs(spec.workload, spec.params, spec.seed)
        expected = compute_leaves(spec, inputs, device="numpy")
        last = len(expected) - 1
        deps = {d: expected[d] for d in leaf_dependencies(spec, last)}
        if recompute_leaf(spec, inputs, last, deps, device=device) != expected[last]:
            raise DeviceError(f"device {device} disagrees with the reference on {spec.workload}")


def select_device(requested: str) -> str:
    """The device to verify on: `requested` if its kernels load and agree with NumPy's on a
    small job of each workload; for "auto" and "cpu", else "numpy" with a warning; for "cuda",
    else DeviceError."""
    try:
        return devices.select_device(requested, self_test=_self_test, fall_back=_warn_fall_back)
    except devices.DeviceUnusable as exc:
        found = "; ".join(f"{device}: {problem}" for device, problem in exc.problems)
        raise DeviceError(f"device {requested} cannot verify: {found}") from exc


def _warn_fall_back(found: str) -> None:
    log.warning("verification falls back to the NumPy reference: %s", found)


# The service


class VerificationService:
    """Attests, as `key`, on the checks of this node's state whose committee names `key`."""

    def __init__(
        self,
        node: AuditHost,
        key: Keypair,
        *,
        device: str = "auto",
        max_attempts: int = MAX_ATTEMPTS,
    ) -> None:
        if device not in DEVICES:
            raise DeviceError(f"unknown device {device!r} (choose from {', '.join(DEVICES)})")
        self.node = node
        self.key = key
        self.requested_device = device
        self.device: str | None = None
        """Chosen at the first verification, so that a node that never verifies never compiles
        a kernel."""
        self.max_attempts = max_attempts
        # Its own view of the blob store: the worker thread must not share the RPC's proof cache.
        self.blobs = BlobStore(node.blobs.kv, proof_cache_nodes=BLOB_PROOF_CACHE_NODES)
        self._limiter = trio.CapacityLimiter(1)
        self._wake = trio.Event()
        self._wake.set()
        self._known_hash: bytes | None = None
        self._candidates: dict[CheckKey, None] = {}
        self._attested: dict[CheckKey, tuple[bytes, str]] = {}
        """The attestations sent and not yet seen closed: (transaction hash, verdict)."""
        self._attempts: dict[CheckKey, int] = {}
        node.block_listeners.append(self.on_best_block)

    @property
    def attested(self) -> frozenset[CheckKey]:
        """The checks this service attested on that are still open."""
        return frozenset(self._attested)

    def on_best_block(self, header: Header) -> None:
        """A new best block: look for work at the next step."""
        self._wake.set()

    async def run(self) -> None:
        """Verify and attest until cancelled, a step after each new best block.

        The device is chosen (and its kernels compiled) first, off the node's thread, so that the
        first audit does not spend its window compiling.
        """
        log.info("verifying checks as validator 0x%s", self.key.public.hex())
        await self._choose_device()
        while True:
            await self._wake.wait()
            self._wake = trio.Event()
            try:
                await self.step()
            except Exception:
                log.exception("the verification step failed; trying again at the next block")

    async def step(self) -> None:
        """Find the checks that await this validator and verify each, one after another."""
        self._refresh()
        for key in list(self._candidates):
            current = self._due(key)
            if current is None:
                continue
            try:
                await self._verify_and_attest(current)
            except Exception:
                self._failed(key)
                log.exception(
                    "verifying job %d check %d failed (attempt %d of %d)",
                    *key,
                    self._attempts[key],
                    self.max_attempts,
                )

    def _due(self, key: CheckKey) -> OpenCheck | None:
        """The check if it is to be verified now; drops what needs nothing more."""
        store = self.node.core.store
        current = read_open_check(store.reader(store.best_hash), *key)
        if current is None:  # closed, or the job ended
            self._forget(key)
            return None
        sent = self._attested.get(key)
        if sent is not None:
            # Kept until the check closes, so that it is never verified twice; sent again only
            # if the transaction left the pool without its vote reaching the chain.
            tx_hash, verdict = sent
            best = store.best_header.number
            if tx_hash not in self.node.core.pool and awaits_vote(
                current.check, self.key.public, best
            ):
                log.warning(
                    "the attestation on job %d check %d left the pool unincluded; sending it again",
                    *key,
                )
                del self._attested[key]
                self._attest(key, verdict)
            return None
        if self._attempts.get(key, 0) >= self.max_attempts:
            return None
        if not awaits_vote(current.check, self.key.public, store.best_header.number):
            self._candidates.pop(key, None)
            return None
        return current

    def _refresh(self) -> None:
        """Add the checks opened since the last step (all open ones after a start or a reorg)."""
        store = self.node.core.store
        best = store.best_header
        if best.hash == self._known_hash:
            return
        opened = None
        if self._known_hash is not None:
            opened = checks_opened_since(store, best.hash, self._known_hash)
        if opened is None:
            found = my_open_checks(
                store.reader(best.hash),
                lambda prefix: store.iterate_state(best.hash, prefix),
                self.key.public,
                best.number,
            )
            opened = [check.key for check in found]
        for key in sorted(opened):
            self._candidates.setdefault(key)
        self._known_hash = best.hash

    def _forget(self, key: CheckKey) -> None:
        self._candidates.pop(key, None)
        self._attested.pop(key, None)
        self._attempts.pop(key, None)

    def _failed(self, key: CheckKey) -> None:
        self._attempts[key] = self._attempts.get(key, 0) + 1
        self.node.metrics.verification_errors.inc()

    async def _choose_device(self) -> str:
        if self.device is None:
            self.device = await trio.to_thread.run_sync(
                select_device, self.requested_device, limiter=self._limiter, abandon_on_cancel=True
            )
            log.info("verifying on device %s", self.device)
            await trio.to_thread.run_sync(
                warm_up, select_device, "cpu", limiter=self._limiter, abandon_on_cancel=True
            )
        return self.device

    async def _verify_and_attest(self, current: OpenCheck) -> None:
        device = await self._choose_device()
        leaves = current.check.leaves
        started = time.perf_counter()
        source = await self._with_peer_data(current.job, leaves)
        verdict = await trio.to_thread.run_sync(
            gather_material, current.job, leaves, source, limiter=self._limiter
        )
        if isinstance(verdict, Material):
            # In a spawned, memory-capped process on the CPU: a runaway check dies there.
            verdict = await trio.to_thread.run_sync(
                functools.partial(
                    run_isolated, judge, verdict, device="cpu" if device == "cuda" else device
                ),
                limiter=self._limiter,
                abandon_on_cancel=True,
            )
        seconds = time.perf_counter() - started
        self.node.metrics.verifications.labels(verdict.verdict).inc()
        self.node.metrics.verification_seconds.observe(seconds)
        log.info(
            "job %d check %d leaves %s: %s (%s) in %.2f s",
            current.job_id,
            current.index,
            list(leaves),
            verdict.verdict,
            verdict.reason,
            seconds,
            extra={
                "job": current.job_id,
                "check": current.index,
                "leaves": list(leaves),
                "verdict": verdict.verdict,
                "seconds": round(seconds, 3),
            },
        )
        self._attest(current.key, verdict.verdict)

    async def _with_peer_data(self, job: market.Job, leaves: Sequence[int]) -> LeafSource:
        """The local blob store, completed from peers where it lacks the job's data: whole input
        blobs (into the store), and the result leaves this check reads (kept aside)."""
        network = self.node.network
        source = WithPeerLeaves(self.blobs)
        if network is None:
            return source
        for _name, root in job.inputs:
            if root and self.blobs.info(root) is None:
                await network.fetch_blob(root)
        root = job.result_root
        if root and self.blobs.info(root) is None:
            for index in needed_leaves(job, leaves):
                found = await network.fetch_blob_leaf(root, index)
                if found is not None:
                    source.fetched[(root, index)] = (found.leaf, list(found.proof))
                    source.infos[root] = BlobInfo(root, found.leaf_count, found.size)
        return source

    def _attest(self, key: CheckKey, verdict: str) -> None:
        """Sign and pool `compute.attest`, if the check still awaits this validator's vote."""
        core = self.node.core
        best = core.store.best_header
        current = read_open_check(core.reader(best.hash), *key)
        if current is None or not awaits_vote(current.check, self.key.public, best.number):
            log.info("job %d check %d closed before the attestation was ready", *key)
            return
        finalized = core.finalized_header
        tx = sign_transaction(
            self.key,
            make_call("compute", "attest", key[0], key[1], verdict),
            nonce=core.next_nonce(self.key.public),
            genesis_hash=core.genesis_hash,
            mortality=Mortality(ATTEST_MORTALITY, finalized.number),
            birth_hash=finalized.hash,
        )
        try:
            self.node.submit(tx.raw)
        except (DecodeError, InvalidTransaction, PoolError) as exc:
            self._failed(key)
            log.warning(
                "the pool refused the attestation on job %d check %d (attempt %d of %d): %s",
                *key,
                self._attempts[key],
                self.max_attempts,
                exc,
            )
            return
        self._attested[key] = (tx.hash, verdict)


__all__ = [
    "MAX_ATTEMPTS",
    "Material",
    "OpenCheck",
    "Unavailable",
    "Verdict",
    "VerificationService",
    "awaits_vote",
    "checks_opened",
    "checks_opened_since",
    "gather_material",
    "job_inputs",
    "judge",
    "my_open_checks",
    "read_open_check",
    "select_device",
    "verify_leaves",
]
