"""Recomputing a check's leaves into Merkle leaf hashes: the data it takes, and the device.

A committee member recomputes the leaves a check names from the job's inputs alone (generated
from its seed, or read from its input blobs: only the 64 KiB chunks those leaves read, each
proven against the input's root, `chain.service.input_slices`) plus, where a leaf builds on an
earlier one (an sgd step on the step before it, a qmlp layer on the layer below), that committed
leaf, proven against the job's result root. It never reads the worker's copy of the named leaves
themselves: it commits to what it computed, and the chain compares. What the node's blob store
lacks is asked of its peers first (`chain.service.network`); anything missing or unprovable makes
the member's answer "unavailable" (the empty list of hashes).

`gather_material` collects the data; `recompute_answer` is the one call that does the work, in
the verifying process (`chain.service.verify_process`): the leaf hashes and, in the same pass,
the witness that shows they were recomputed, not copied from the worker's published result
(`gpu_worker.witness`). What crosses to that process is the `Material`, so the input slices,
never a whole input blob (a leaf of a 256 MiB input sends 64 KiB of it).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final

from chain.client.blob_info import BlobInfo
from chain.service.input_slices import (
    BlobInput,
    LeafSource,
    Read,
    Unavailable,
    covering_chunks,
)
from chain.storage.blobs import BlobError, BlobStore
from gpu_worker import devices
from gpu_worker.devices import DeviceError
from gpu_worker.inputs import generate_inputs
from gpu_worker.jobs import (
    InputBytes,
    JobSpec,
    compute_leaves,
    leaf_dependencies,
    leaf_input_ranges,
    recompute_leaf,
    recompute_leaves,
)
from gpu_worker.witness import recompute_leaf_witness, recompute_leaves_witness
from runtime.pallets import compute, market
from runtime.primitives.hashing import blake2b_256
from runtime.primitives.merkle import MerkleProofError, leaf_hash, merkle_root, verify_merkle_proof
from runtime.workloads import WorkloadError, workload_shape

log = logging.getLogger("xpl.verify")

UNBUILDABLE: Final = leaf_hash(b"")
"""What a member reveals for a leaf whose committed predecessor has the wrong size: no real leaf
is empty, so this never equals the worker's leaf hash, and every honest member reveals the same
(the worker committed a malformed result, and the check fails)."""


class ResultWithheld(Unavailable):
    """A committed result leaf that the checked leaves build on could not be had (from the
    worker, whose duty it is to serve it): the member reveals `compute.RESULT_WITHHELD`."""


@dataclass(frozen=True, slots=True)
class Material:
    """What recomputing a check's leaves takes: the job, its inputs, the committed leaves the
    named ones build on."""

    spec: JobSpec
    inputs: Mapping[str, InputBytes]
    """The blob inputs: only the slices the named leaves read (`InputSlices`), or whole bytes."""
    named: tuple[int, ...]
    committed: Mapping[int, bytes]
    """The leaves the named ones build on, each proven against the result root."""


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
    """The committed leaves that recomputing `leaves` reads: those they build on."""
    spec = JobSpec(job.workload, job.params, job.seed)
    needed: dict[int, None] = {}
    for index in leaves:
        needed.update(dict.fromkeys(leaf_dependencies(spec, index)))
    return sorted(needed)


def input_ranges(job: market.Job, leaves: Sequence[int]) -> dict[str, list[Read]]:
    """The bytes of each of the job's blob inputs that recomputing `leaves` reads, as runs (a
    generated input is left out: recomputing generates only its slice)."""
    spec = JobSpec(job.workload, job.params, job.seed)
    blob_inputs = {name for name, root in job.inputs if root}
    ranges: dict[str, list[Read]] = {name: [] for name in blob_inputs}
    for index in leaves:
        for name, read in leaf_input_ranges(spec, index).items():
            if name in blob_inputs:
                ranges[name].append(read)
    return ranges


def input_chunks(job: market.Job, leaves: Sequence[int]) -> dict[bytes, list[int]]:
    """The chunks of each input blob (by root; two inputs may be one blob) that recomputing
    `leaves` reads."""
    roots = dict(job.inputs)
    ranges: dict[bytes, list[Read]] = {}
    for name, read in input_ranges(job, leaves).items():
        ranges.setdefault(roots[name], []).extend(read)
    return {root: covering_chunks(read) for root, read in ranges.items()}


def job_input_slices(
    job: market.Job, leaves: Sequence[int], blobs: LeafSource
) -> dict[str, InputBytes]:
    """The slices of the job's blob inputs that recomputing `leaves` reads, by input name: only
    their covering chunks are read, each proven against the input's root."""
    sizes = {spec.name: spec.size for spec in workload_shape(job.workload, job.params).inputs}
    for name, _root in job.inputs:
        if name not in sizes:
            raise WorkloadError(f"{job.workload} has no input {name!r}")
    roots = dict(job.inputs)
    inputs: dict[str, InputBytes] = {}
    for name, read in input_ranges(job, leaves).items():
        root, size = roots[name], sizes[name]
        try:
            inputs[name] = BlobInput(blobs, root, size).slices(read)
        except Unavailable:
            if blobs.info(root) is None:
                raise
            # Committed over other leaves than CHUNK_BYTES chunks (a requester's own upload, of
            # any leaf count): read whole, as every member does, so the job is still verified.
            inputs[name] = read_input_blob(blobs, root, size)
    return inputs


def proven_chunks(source: LeafSource, job: market.Job, root: bytes, chunks: Sequence[int]) -> bool:
    """Whether `source` holds each of `chunks` of the job's input blob `root` as a `CHUNK_BYTES`
    chunk proven against it (False for an input committed over other leaves)."""
    sizes = {spec.name: spec.size for spec in workload_shape(job.workload, job.params).inputs}
    size = next((sizes.get(name, 0) for name, r in job.inputs if r == root), 0)
    blob = BlobInput(source, root, size)
    try:
        for index in chunks:
            blob.chunk(index)
    except Unavailable:
        return False
    return True


def read_input_blob(blobs: LeafSource, root: bytes, size: int) -> bytes:
    """An input blob's bytes (its leaves concatenated), checked against `root` and `size`: how
    an input committed over other leaves than `CHUNK_BYTES` chunks is read (at most
    MAX_BLOB_BYTES, in the node's memory)."""
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


def committed_leaf(blobs: LeafSource, job: market.Job, index: int) -> bytes:
    """Leaf `index` of the job's result from the blob store, proven against its result root."""
    root = job.result_root
    try:
        leaf, proof = blobs.leaf(root, index)
    except BlobError as exc:
        raise ResultWithheld(f"result leaf {index} of 0x{root.hex()}: {exc}") from exc
    try:
        verify_merkle_proof(root, leaf, index, job.leaves, proof)
    except MerkleProofError as exc:
        raise ResultWithheld(f"result leaf {index} does not prove against 0x{root.hex()}") from exc
    return leaf


def gather_material(job: market.Job, leaves: Sequence[int], blobs: LeafSource) -> Material:
    """What recomputing `leaves` of the job takes; Unavailable saying what is missing."""
    spec = JobSpec(job.workload, job.params, job.seed)
    inputs = job_input_slices(job, leaves, blobs)
    committed = {index: committed_leaf(blobs, job, index) for index in needed_leaves(job, leaves)}
    return Material(spec, inputs, tuple(leaves), committed)


def recompute_hashes(material: Material, *, device: str = "numpy") -> tuple[bytes, ...]:
    """The Merkle leaf hash of each named leaf, recomputed on `device`, in the check's order
    (`UNBUILDABLE` for a leaf whose committed predecessor has the wrong size)."""
    spec = material.spec
    sizes = spec.shape.leaf_sizes
    buildable: list[int] = []
    deps: dict[int, bytes] = {}
    for index in material.named:
        needed = {d: material.committed[d] for d in leaf_dependencies(spec, index)}
        if all(len(leaf) == sizes[dep] for dep, leaf in needed.items()):
            buildable.append(index)
            deps.update(needed)
    # Recomputed together: the inputs are read once, a qmlp_i8 check's rows go through the
    # layers together, and an audit costs about its share of the job.
    leaves = recompute_leaves(spec, material.inputs, buildable, deps, device=device)
    recomputed = {index: leaf_hash(leaf) for index, leaf in zip(buildable, leaves, strict=True)}
    return tuple(recomputed.get(index, UNBUILDABLE) for index in material.named)


def recompute_answer(
    material: Material, mask: int, *, device: str = "numpy"
) -> tuple[tuple[bytes, ...], bytes]:
    """What a member attests: the Merkle leaf hash of each named leaf and the witness digest of
    the recomputation (`compute.witness_digest` over each leaf's `gpu_worker.witness` digest
    under the round's `mask`), both in one pass on `device`. A leaf whose committed predecessor
    has the wrong size is UNBUILDABLE, its witness too: every honest member finds the same."""
    spec = material.spec
    sizes = spec.shape.leaf_sizes
    buildable: list[int] = []
    deps: dict[int, bytes] = {}
    for index in material.named:
        needed = {d: material.committed[d] for d in leaf_dependencies(spec, index)}
        if all(len(leaf) == sizes[dep] for dep, leaf in needed.items()):
            buildable.append(index)
            deps.update(needed)
    # Recomputed together: the inputs are read once, and a gemm_i8 check's tiles and their
    # witnesses are one kernel call a core.
    leaves, digests = recompute_leaves_witness(
        spec, material.inputs, buildable, deps, mask, device=device
    )
    answers = {
        index: (leaf_hash(leaf), digest)
        for index, leaf, digest in zip(buildable, leaves, digests, strict=True)
    }
    unbuildable = (UNBUILDABLE, UNBUILDABLE)
    named = [answers.get(index, unbuildable) for index in material.named]
    hashes = tuple(hashed for hashed, _ in named)
    return hashes, compute.witness_digest([witness for _, witness in named])


def made_up_witness(job_id: int, index: int) -> bytes:
    """A witness a lazy member reveals without recomputing anything (research and tests)."""
    return blake2b_256(b"xpl-lazy-witness" + job_id.to_bytes(8, "big") + index.to_bytes(4, "big"))


def published_hashes(
    job: market.Job, leaves: Sequence[int], blobs: LeafSource
) -> tuple[bytes, ...]:
    """The leaf hashes of the named leaves of the worker's published result, proven against its
    root: what a lazy member copies instead of recomputing (research and tests); ResultWithheld
    if a leaf cannot be had."""
    return tuple(leaf_hash(committed_leaf(blobs, job, index)) for index in leaves)


def made_up_hashes(job_id: int, index: int, count: int) -> tuple[bytes, ...]:
    """Leaf hashes a lazy member reveals without recomputing anything (research and tests)."""
    tag = job_id.to_bytes(8, "big") + index.to_bytes(4, "big")
    return tuple(blake2b_256(b"xpl-lazy" + tag + i.to_bytes(4, "big")) for i in range(count))


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
        mask = 0x9E3779B9
        witnessed = recompute_leaf_witness(spec, inputs, last, deps, mask, device=device)
        if witnessed != recompute_leaf_witness(spec, inputs, last, deps, mask, device="numpy"):
            raise DeviceError(
                f"device {device} disagrees with the reference's witness on {spec.workload}"
            )


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


__all__ = [
    "UNBUILDABLE",
    "LeafSource",
    "Material",
    "ResultWithheld",
    "Unavailable",
    "WithPeerLeaves",
    "gather_material",
    "input_chunks",
    "input_ranges",
    "job_input_slices",
    "made_up_hashes",
    "made_up_witness",
    "needed_leaves",
    "proven_chunks",
    "published_hashes",
    "read_input_blob",
    "recompute_answer",
    "recompute_hashes",
    "select_device",
]
