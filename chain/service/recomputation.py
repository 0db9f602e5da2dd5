"""Recomputing a check's leaves into Merkle leaf hashes: the data it takes, and the device.

A committee member recomputes the leaves a check names from the job's inputs alone (generated
from its seed, or its input blobs checked against their roots) plus, where a leaf builds on an
earlier one (an sgd step on the step before it, a qmlp layer on the layer below), that committed
leaf, proven against the job's result root. It never reads the worker's copy of the named leaves
themselves: it commits to what it computed, and the chain compares. What the node's blob store
lacks is asked of its peers first (`chain.service.network`); anything missing or unprovable makes
the member's answer "unavailable" (the empty list of hashes).

`gather_material` collects the data; `recompute_answer` is the one call that does the work: the
leaf hashes and, in the same pass, the witness that shows they were recomputed, not copied from
the worker's published result (`gpu_worker.witness`).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final, Protocol

from chain.client.blob_info import BlobInfo
from chain.storage.blobs import BlobError, BlobStore
from gpu_worker import devices
from gpu_worker.devices import DeviceError
from gpu_worker.inputs import generate_inputs
from gpu_worker.jobs import JobSpec, compute_leaves, leaf_dependencies, recompute_leaf
from gpu_worker.witness import recompute_leaf_witness
from runtime.pallets import compute, market
from runtime.primitives.hashing import blake2b_256
from runtime.primitives.merkle import MerkleProofError, leaf_hash, merkle_root, verify_merkle_proof
from runtime.workloads import WorkloadError, workload_shape

log = logging.getLogger("xpl.verify")

UNBUILDABLE: Final = leaf_hash(b"")
"""What a member reveals for a leaf whose committed predecessor has the wrong size: no real leaf
is empty, so this never equals the worker's leaf hash, and every honest member reveals the same
(the worker committed a malformed result, and the check fails)."""


class Unavailable(Exception):
    """Data a recomputation needs is missing or does not match its commitment."""


class ResultWithheld(Unavailable):
    """A committed result leaf that the checked leaves build on could not be had (from the
    worker, whose duty it is to serve it): the member reveals `compute.RESULT_WITHHELD`."""


@dataclass(frozen=True, slots=True)
class Material:
    """What recomputing a check's leaves takes: the job, its inputs, the committed leaves the
    named ones build on."""

    spec: JobSpec
    inputs: Mapping[str, bytes]
    named: tuple[int, ...]
    committed: Mapping[int, bytes]
    """The leaves the named ones build on, each proven against the result root."""


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
    """The committed leaves that recomputing `leaves` reads: those they build on."""
    spec = JobSpec(job.workload, job.params, job.seed)
    needed: dict[int, None] = {}
    for index in leaves:
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
        raise ResultWithheld(f"result leaf {index} of 0x{root.hex()}: {exc}") from exc
    try:
        verify_merkle_proof(root, leaf, index, job.leaves, proof)
    except MerkleProofError as exc:
        raise ResultWithheld(f"result leaf {index} does not prove against 0x{root.hex()}") from exc
    return leaf


def gather_material(job: market.Job, leaves: Sequence[int], blobs: LeafSource) -> Material:
    """What recomputing `leaves` of the job takes; Unavailable saying what is missing."""
    spec = JobSpec(job.workload, job.params, job.seed)
    inputs = job_inputs(job, blobs)
    committed = {index: committed_leaf(blobs, job, index) for index in needed_leaves(job, leaves)}
    return Material(spec, inputs, tuple(leaves), committed)


def recompute_hashes(material: Material, *, device: str = "numpy") -> tuple[bytes, ...]:
    """The Merkle leaf hash of each named leaf, recomputed on `device`, in the check's order
    (`UNBUILDABLE` for a leaf whose committed predecessor has the wrong size)."""
    spec = material.spec
    sizes = spec.shape.leaf_sizes
    hashes: list[bytes] = []
    for index in material.named:
        deps = {d: material.committed[d] for d in leaf_dependencies(spec, index)}
        if any(len(leaf) != sizes[dep] for dep, leaf in deps.items()):
            hashes.append(UNBUILDABLE)
            continue
        hashes.append(leaf_hash(recompute_leaf(spec, material.inputs, index, deps, device=device)))
    return tuple(hashes)


def recompute_answer(
    material: Material, mask: int, *, device: str = "numpy"
) -> tuple[tuple[bytes, ...], bytes]:
    """What a member attests: the Merkle leaf hash of each named leaf and the witness digest of
    the recomputation (`compute.witness_digest` over each leaf's `gpu_worker.witness` digest
    under the round's `mask`), both in one pass on `device`. A leaf whose committed predecessor
    has the wrong size is UNBUILDABLE, its witness too: every honest member finds the same."""
    spec = material.spec
    sizes = spec.shape.leaf_sizes
    hashes: list[bytes] = []
    witnesses: list[bytes] = []
    for index in material.named:
        deps = {d: material.committed[d] for d in leaf_dependencies(spec, index)}
        if any(len(leaf) != sizes[dep] for dep, leaf in deps.items()):
            hashes.append(UNBUILDABLE)
            witnesses.append(UNBUILDABLE)
            continue
        leaf, witness = recompute_leaf_witness(
            spec, material.inputs, index, deps, mask, device=device
        )
        hashes.append(leaf_hash(leaf))
        witnesses.append(witness)
    return tuple(hashes), compute.witness_digest(witnesses)


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
    "Unavailable",
    "WithPeerLeaves",
    "gather_material",
    "job_inputs",
    "made_up_hashes",
    "made_up_witness",
    "needed_leaves",
    "published_hashes",
    "recompute_answer",
    "recompute_hashes",
    "select_device",
]
