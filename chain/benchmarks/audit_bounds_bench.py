"""What auditing the costliest job the workload bounds accept takes a validator on this machine.

For each workload, the job whose leaves are the most expensive to verify that `workload_shape`
still accepts (`largest_jobs`): its worst leaf reads close to MAX_LEAF_INPUT_BYTES of input, or
costs close to MAX_LEAF_VERIFY_UNITS to recompute, or both. The job is computed honestly here,
then an audit of `audit_leaves` of its costliest leaves is verified the way a validator does it:
in the separate, memory-capped verifying process (`chain.service.verify_process`), from inputs
generated slice by slice. Printed: the wall time of the audit (the process already started, and
the time to start it), the verifying process's peak resident memory, and the commit window the
audit must fit in (commit_window blocks × the slot duration). Side by side in the same process, the
same audit as committee members verify it: each leaf recomputed together with its witness under a
check's mask (`gpu_worker.witness`), with its own wall time and peak memory.

`shrink` divides the jobs' dimensions, so that the test suite runs the same path in seconds.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, Final

from chain.service.recomputation import Material, recompute_hashes, select_device
from chain.service.verify_process import IsolatedProcess
from gpu_worker import jobs
from gpu_worker.inputs import generate_inputs
from gpu_worker.jobs import JobSpec, compute_leaves, leaf_dependencies
from gpu_worker.witness import recompute_leaf_witness
from runtime.pallets.compute import DEFAULT_COMPUTE_PARAMS
from runtime.primitives.merkle import leaf_hash
from runtime.workloads import MAX_LEAF_VERIFY_UNITS, VERIFIER_UNITS_PER_S, workload_shape

SEED: Final = 11
QMLP_LAYERS: Final = 16
MASK: Final = 0x9E3779B9
"""The witness mask of the measured checks (any mask but 0 costs the same)."""


@dataclass(frozen=True)
class AuditFigures:
    """One workload's audit of its costliest accepted job."""

    workload: str
    params: tuple[int, ...]
    leaves: tuple[int, ...]
    leaf_verify_units: int
    leaf_input_bytes: int
    verdict: str
    audit_s: float
    start_s: float
    peak_rss_bytes: int
    window_ms: int
    bound_ms: int
    """audit_leaves × MAX_LEAF_VERIFY_UNITS at VERIFIER_UNITS_PER_S: what the guard allows."""
    witness_verdict: str
    """The leaves recomputed with their witnesses against the worker's: "pass" or "fail"."""
    witness_audit_s: float
    witness_peak_rss_bytes: int

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def largest_jobs(shrink: int = 1) -> dict[str, JobSpec]:
    """Per workload, the job the bounds accept whose leaves cost the most to verify (dimensions
    divided by `shrink`):

    gemm_i8  a row of A against a B of 64 MiB (the input bound; 1.3·10^8 units, memory-bound);
    qmlp_i8  16 layers of 2,000 (a model of 64 MiB) on single rows: a last-layer leaf
             recomputes its row through all 16 layers, 1.3·10^8 units;
    sgd_fxp  a step of a batch of 128 on 4,096 features and 64 outputs (1.3·10^8 units), with
             15,000 samples (62 MiB of x and y).
    """
    d = 2000 // shrink
    jobs = {
        "gemm_i8": JobSpec("gemm_i8", (64 // shrink, 16_384 // shrink, 4095 // shrink, 1), SEED),
        "qmlp_i8": JobSpec("qmlp_i8", (64 // shrink, 1, *[d] * (QMLP_LAYERS + 1)), SEED),
        "sgd_fxp": JobSpec(
            "sgd_fxp", (15_000 // shrink, 4096 // shrink, 64 // shrink, 128, 32, 16, 24), SEED
        ),
    }
    for spec in jobs.values():
        workload_shape(spec.workload, spec.params)  # accepted, or WorkloadError
    return jobs


def costliest_leaves(spec: JobSpec, count: int) -> tuple[int, ...]:
    """`count` of the job's leaves that cost the most to verify: the last layer's for qmlp_i8,
    steps after the first for sgd_fxp, spread over the rows for gemm_i8."""
    leaves = spec.shape.leaves
    if spec.workload == "sgd_fxp":
        return tuple(range(max(1, leaves - count), leaves))
    return tuple(range(leaves - 1, max(-1, leaves - 1 - count), -1))


def plain_audit(material: Material, device: str) -> tuple[bytes, ...]:
    """`recompute_hashes` from cold caches of generated input slices (as a fresh check starts)."""
    jobs._generated_slice.cache_clear()
    return recompute_hashes(material, device=device)


def witness_audit(
    material: Material, mask: int, device: str
) -> tuple[tuple[bytes, ...], tuple[bytes, ...]]:
    """The named leaves' hashes and witness digests under `mask`, recomputed in one pass each,
    from cold caches of generated input slices."""
    jobs._generated_slice.cache_clear()
    hashes: list[bytes] = []
    digests: list[bytes] = []
    for index in material.named:
        deps = {d: material.committed[d] for d in leaf_dependencies(material.spec, index)}
        leaf, digest = recompute_leaf_witness(
            material.spec, material.inputs, index, deps, mask, device=device
        )
        hashes.append(leaf_hash(leaf))
        digests.append(digest)
    return tuple(hashes), tuple(digests)


def load_witness_kernels(device: str) -> None:
    """Compile or load `device`'s witness kernels (a node does it once, as its self-test)."""
    for spec in (JobSpec("gemm_i8", (2, 64, 4, 1)), JobSpec("sgd_fxp", (4, 3, 2, 2, 1, 8, 6))):
        recompute_leaf_witness(spec, {}, 0, {}, 1, device=device)
    recompute_leaf_witness(JobSpec("qmlp_i8", (1, 1, 3, 2, 2)), {}, 1, {}, 1, device=device)


def audit_largest(
    workload: str,
    *,
    shrink: int = 1,
    slot_ms: int = 1000,
    process: IsolatedProcess | None = None,
    progress: Callable[[str], None] = lambda _: None,
) -> AuditFigures:
    """Audit the costliest accepted job of `workload` in a verifying process, as a validator."""
    spec = largest_jobs(shrink)[workload]
    params = DEFAULT_COMPUTE_PARAMS
    progress(f"{workload} {list(spec.params)}: computing the job")
    leaves = compute_leaves(
        spec, generate_inputs(spec.workload, spec.params, spec.seed), device="cpu"
    )
    named = costliest_leaves(spec, params.audit_leaves)
    needed = {i for index in named for i in leaf_dependencies(spec, index)}
    material = Material(spec, {}, named, {i: leaves[i] for i in sorted(needed)})
    committed = tuple(leaf_hash(leaves[i]) for i in named)
    del leaves
    own = process is None
    verifier = IsolatedProcess() if process is None else process
    try:
        started = time.perf_counter()
        verifier.run(select_device, "cpu")
        verifier.run(load_witness_kernels, "cpu")
        start_s = time.perf_counter() - started
        progress(f"{workload}: verifying {len(named)} leaves, then with their witnesses")
        run = verifier.run(plain_audit, material, "cpu")
        witnessed = verifier.run(witness_audit, material, MASK, "cpu")
    finally:
        if own:
            verifier.close()
    shape = spec.shape
    return AuditFigures(
        workload=workload,
        params=spec.params,
        leaves=named,
        leaf_verify_units=shape.leaf_verify_units,
        leaf_input_bytes=shape.leaf_input_bytes,
        verdict="pass" if run.value == committed else "fail",
        audit_s=round(run.seconds, 3),
        start_s=round(start_s, 3),
        peak_rss_bytes=run.peak_rss_bytes,
        window_ms=params.commit_window * slot_ms,
        bound_ms=-(-params.audit_leaves * MAX_LEAF_VERIFY_UNITS * 1000 // VERIFIER_UNITS_PER_S),
        witness_verdict="pass" if witnessed.value[0] == committed else "fail",
        witness_audit_s=round(witnessed.seconds, 3),
        witness_peak_rss_bytes=witnessed.peak_rss_bytes,
    )


def run_audit_bounds_benchmark(
    *, shrink: int = 1, slot_ms: int = 1000, progress: Callable[[str], None] = lambda _: None
) -> list[AuditFigures]:
    """`audit_largest` for every workload, in one verifying process (as a node keeps one)."""
    process = IsolatedProcess()
    try:
        return [
            audit_largest(w, shrink=shrink, slot_ms=slot_ms, process=process, progress=progress)
            for w in largest_jobs(shrink)
        ]
    finally:
        process.close()


__all__ = [
    "AuditFigures",
    "audit_largest",
    "costliest_leaves",
    "largest_jobs",
    "load_witness_kernels",
    "plain_audit",
    "run_audit_bounds_benchmark",
    "witness_audit",
]
