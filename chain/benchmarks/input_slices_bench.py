"""The memory a validator takes to verify one leaf of a job with a large input blob: reading the
whole input (as members did before `chain.service.input_slices`) against reading only the
chunks the leaf reads.

A gemm_i8 job whose A is a stored blob of `a_mib` MiB (16,384 columns, one row per leaf, B
generated) is put in a LevelDB blob store on disk, as a node keeps it. Then, for each way of
reading it, a fresh Python process plays the node: it gathers one leaf's input from the store and
has it recomputed in a verifying process (`chain.service.verify_process`, memory-capped as a
node's is). Printed side by side: the node's peak resident memory (and what it had before
reading), the verifying process's, and the bytes that crossed between them.
"""

from __future__ import annotations

import pickle
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import Any, Final

from chain.client.blobs import chunk_file
from chain.service.input_slices import InputSlices
from chain.service.recomputation import Material, gather_material, recompute_hashes
from chain.service.verify_process import (
    IsolatedProcess,
    IsolatedRunFailed,
    _peak_rss_bytes,
    _reset_peak_rss,
)
from chain.storage.blobs import BlobStore
from chain.storage.kv import LevelDBStore
from gpu_worker.inputs import generate_inputs
from gpu_worker.jobs import JobSpec, recompute_leaf
from runtime.pallets import market
from runtime.primitives.merkle import leaf_hash, merkle_root
from runtime.workloads import workload_shape

COLUMNS: Final = 16_384
"""A's columns: a leaf (one row of C) reads 16 KiB of A."""
CACHE_BYTES: Final = 8 * 1024 * 1024
"""LevelDB's block cache in the measuring processes, the same for both ways of reading."""
MODES: Final = ("whole", "slices")


@dataclass(frozen=True)
class InputReadFigures:
    """Verifying one leaf, reading its input blob one way."""

    mode: str
    input_bytes: int
    held_bytes: int
    """Input bytes handed to the verifying process."""
    crossed_bytes: int
    """The pickled request the verifying process received."""
    node_base_rss_bytes: int
    node_peak_rss_bytes: int
    verify_peak_rss_bytes: int
    verdict: str
    seconds: float

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def job_spec(a_mib: int) -> JobSpec:
    """The gemm_i8 job whose A is `a_mib` MiB, one row of C per leaf."""
    spec = JobSpec("gemm_i8", (a_mib * 1024 * 1024 // COLUMNS, COLUMNS, 16, 1), seed=13)
    workload_shape(spec.workload, spec.params)  # accepted, or WorkloadError
    return spec


def whole_input(blobs: BlobStore, root: bytes) -> bytes:
    """An input blob read as members read it before slices: every leaf, the root recomputed over
    them, then joined."""
    info = blobs.info(root)
    assert info is not None
    leaves = [blobs.leaf(root, index)[0] for index in range(info.leaf_count)]
    if merkle_root(leaves) != root:
        raise ValueError(f"input blob 0x{root.hex()} does not match its root")
    return b"".join(leaves)


def _rss_bytes() -> int:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def committed_job(spec: JobSpec, roots: dict[str, bytes], result_root: bytes = b"") -> market.Job:
    """A committed job of `spec` whose blob inputs are `roots` (by name; the others generated),
    as a verifier reads it from the state: what a member's recomputation starts from."""
    return market.Job(
        requester=bytes(32),
        workload=spec.workload,
        params=spec.params,
        inputs=tuple(sorted(roots.items())),
        seed=spec.seed,
        max_price=0,
        cost_units=0,
        leaves=spec.shape.leaves,
        escrow=0,
        mode="sampled",
        deadline_blocks=1,
        expires_at=0,
        submitted_at=0,
        state="committed",
        result_root=result_root,
    )


def _verify_one(
    mode: str, path: str, spec: JobSpec, root: bytes, leaf: int, expected: bytes
) -> InputReadFigures:
    """In a fresh process (the node): gather leaf `leaf`'s input `mode`-wise, recompute it in a
    verifying process, and measure both."""
    blobs = BlobStore(LevelDBStore(Path(path), cache_bytes=CACHE_BYTES))
    job = committed_job(spec, {"a": root})
    verifier = IsolatedProcess()
    try:
        verifier.run(len, b"")  # started before measuring: the interpreter is not the input
        base = _rss_bytes()
        _reset_peak_rss()
        started = time.perf_counter()
        if mode == "whole":
            material = Material(spec, {"a": whole_input(blobs, root)}, (leaf,), {})
        else:
            material = gather_material(job, [leaf], blobs)
        held = sum(
            data.held_bytes if isinstance(data, InputSlices) else len(data)
            for data in material.inputs.values()
        )
        crossed = len(pickle.dumps((recompute_hashes, (material,), {"device": "numpy"})))
        try:
            run = verifier.run(recompute_hashes, material, device="numpy")
            verdict = "pass" if run.value == (expected,) else "fail"
            verify_peak = run.peak_rss_bytes
        except IsolatedRunFailed as exc:
            verdict, verify_peak = f"error: {exc}", 0
        seconds = time.perf_counter() - started
        node_peak = _peak_rss_bytes()
    finally:
        verifier.close()
    return InputReadFigures(
        mode=mode,
        input_bytes=len(material.inputs["a"]),
        held_bytes=held,
        crossed_bytes=crossed,
        node_base_rss_bytes=base,
        node_peak_rss_bytes=node_peak,
        verify_peak_rss_bytes=verify_peak,
        verdict=verdict,
        seconds=round(seconds, 3),
    )


def run_input_slices_benchmark(
    *, a_mib: int = 64, base_path: Path | None = None
) -> list[InputReadFigures]:
    """Verify the last leaf of `job_spec(a_mib)` reading its A whole, then reading only its
    chunks, each in a fresh process on the same stored blob."""
    spec = job_spec(a_mib)
    leaf = spec.shape.leaves - 1
    with tempfile.TemporaryDirectory(dir=base_path) as tmp:
        path = str(Path(tmp) / "blobs")
        store = LevelDBStore(Path(path), cache_bytes=CACHE_BYTES)
        inputs = generate_inputs(spec.workload, spec.params, spec.seed)
        root = BlobStore(store).store_leaves(chunk_file(inputs["a"])).root
        expected = leaf_hash(recompute_leaf(spec, inputs, leaf, {}, device="numpy"))
        store.close()
        del inputs
        # Opening replays LevelDB's log into tables: done here, so both measured processes
        # open the same tables.
        LevelDBStore(Path(path), cache_bytes=CACHE_BYTES).close()
        figures = []
        for mode in MODES:
            with ProcessPoolExecutor(1, mp_context=get_context("spawn")) as pool:
                figures.append(
                    pool.submit(_verify_one, mode, path, spec, root, leaf, expected).result()
                )
        return figures


__all__ = ["InputReadFigures", "job_spec", "run_input_slices_benchmark", "whole_input"]
