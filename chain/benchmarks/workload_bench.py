"""How fast this machine computes a compute workload, and what committing to and checking the
result costs next to it.

One job of the workload at a size set by `n` (`job_for`), its inputs generated from a seed, then,
in one run, each figure the best of `repeat` timings:

1. compute: the device's kernel on the job's arrays (on cuda, with the copies to and from the
   GPU), after a warm-up call that compiles it (the whole job through `compute_leaves`, whose
   leaves every later step checks against): the job's cost units per second;
2. gemm_i8 only: the same product through float32 BLAS, exact because K is cut in slices of at
   most 1,024 (|a·b| ≤ 2^14, so a slice's sums stay below 2^24) and the slices are added in
   int32; it must equal the kernel's result;
3. commit: what committing costs the worker on top of the kernel: the job computed and
   committed together (`gpu_worker.committing.compute_committed`), timed in turn with the kernel
   alone, as (committed − kernel) / kernel; the Merkle root of the leaves read in place from the
   kernel's output after the fact (tiles and row bands hashed by the BLAKE3 tile kernel on every
   core, `gpu_worker.commitment.tile_leaf_hashes`, inner levels by the node kernel); and, for
   comparison, the same root over encoded copies of the leaves (`commit_copy`, the copies hashed
   by the `blake3` package on a thread pool);
4. audit: what a committee does with AUDIT_LEAVES leaves: prove the committed leaves they
   build on, recompute the leaves' hashes with `recompute_leaf_hashes` (one call: the inputs are
   read once, a gemm_i8 check's tiles are one kernel call (on two cores where the work pays)
   hashed where they lie, and a qmlp_i8 check carries its rows through the layers together,
   each layer for the rows whose leaves reach it, its leaves hashed where they lie), and check
   the worker's proofs for them against the root with the recomputed hashes
   (`merkle.verify_hash_proofs`, every proof in one compiled walk); and, as `answer`, what a
   committee member computes for the same leaves (`chain.service.recomputation.recompute_answer`:
   each leaf with its recomputation witness);
5. freivalds: `check_result` over the whole result, as a requester does before the dispute window
   closes (for sgd_fxp, a spot check of a few steps; for mlp_fxp, every checkpoint, which is
   also what its audit recomputes: `runtime.workloads.mlp_shape` says why).

Steps 3 to 5 are given as shares of the compute time, the figures the protocol's fees and
parameters are judged by.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, Final

import numpy as np

from chain.client.jobs.inputs import GEMM_TILE_ROWS, gemm_blocks_for
from chain.service.recomputation import Material, recompute_answer
from gpu_worker import freivalds
from gpu_worker.commitment import (
    HashLevel,
    result_root,
    root_of_levels,
    tile_leaf_hashes,
    tree_of,
)
from gpu_worker.committing import compute_committed
from gpu_worker.devices import DEVICES, backend, select_device
from gpu_worker.inputs import I8, I32, batch_order, batch_order_rows, generate_inputs
from gpu_worker.jobs import (
    JobSpec,
    _arrays,
    _blocks,
    _leaf,
    compute_leaves,
    gemm_blocks,
    leaf_dependencies,
    leaves_dependencies,
    recompute_leaf_hashes,
    tile_leaves,
)
from gpu_worker.kernels.blake3_proofs import walk_proofs
from gpu_worker.mlp_checkpoints import trainer
from gpu_worker.mlp_fxp import initial_parameters
from runtime.primitives.merkle import (
    MerkleProofError,
    leaf_hash,
    merkle_root,
    proof_from_levels,
    tree_levels,
    verify_hash_proofs,
)
from runtime.workloads import MAX_LEAF_VERIFY_UNITS, WORKLOADS, WorkloadError, mlp_layout

AUDIT_LEAVES: Final = 16
ANSWER_MASK: Final = 0x9E3779B9
"""The witness mask of the benchmark's committee answer (any nonzero 32-bit mask costs alike)."""
QMLP_ROW_BLOCK: Final = 1
"""qmlp_i8 leaves are single rows by default: an audited leaf recomputes its rows through the
layers below it, so an audit of 16 leaves costs about 16 · row_block / batch of the job
(measured at n = 2,048: 1.0% of the compute's CPU time at row block 1, 1.2% at 2, 4.9% at 4)."""
BLAS_K_SLICE: Final = 1024
"""float32 sums of int8 products are exact up to 1,024 terms: 1,024 · 2^14 = 2^24."""
MAX_N: Final = {"gemm_i8": 16_384, "qmlp_i8": 8_192, "sgd_fxp": 4_096, "mlp_fxp": 512}
DEFAULT_N: Final = {"gemm_i8": 1024, "qmlp_i8": 1024, "sgd_fxp": 1024, "mlp_fxp": 64}
QMLP_CLASSES: Final = 10
SGD_OUTPUTS: Final = 16
SGD_BATCH: Final = 256
SGD_STEPS: Final = 2000
SGD_FRAC_BITS: Final = 16
SGD_LR_SHIFT: Final = 24
MLP_SAMPLES: Final = 2048
MLP_BATCH: Final = 32
MLP_CHECKPOINTS: Final = 16
MLP_EVERY: Final = 100
"""Steps a checkpoint at most (fewer where its audit would pass MAX_LEAF_VERIFY_UNITS)."""
SEED: Final = 1


@dataclass(frozen=True)
class WorkloadFigures:
    """What one run measured; shares are fractions of `compute_s`."""

    workload: str
    device: str
    n: int
    params: tuple[int, ...]
    cost_units: int
    leaves: int
    result_bytes: int
    repeat: int
    compute_s: float
    gops: float
    blas_s: float | None
    blas_gops: float | None
    blas_ratio: float | None
    commit_s: float
    commit_share: float
    committed_s: float
    """The job computed and committed together (compute_committed), timed in turn with the
    kernel alone."""
    overlapped_commit_share: float
    """(committed_s − compute_s) / compute_s: what committing adds to the worker's kernel."""
    commit_copy_s: float
    commit_copy_share: float
    audit_leaves: int
    audit_s: float
    audit_share: float
    answer_s: float
    """A committee member's answer for the same leaves (`recompute_answer`): each recomputed
    with its witness, hashed, and the witnesses digested."""
    answer_share: float
    freivalds_s: float
    freivalds_share: float

    def to_json(self) -> dict[str, object]:
        """The figures as one JSON object, for `--json`."""
        document = asdict(self)
        document["params"] = list(self.params)
        return document


def job_for(
    workload: str, n: int, row_block: int | None = None, col_block: int | None = None
) -> JobSpec:
    """The benchmark's job of `workload` at size n; WorkloadError for a bad name or size.

    gemm_i8: n×n×n, cut by default in the tiles a requester's client chooses
    (`gemm_blocks_for`: 8 rows × 128 columns at n = 2,048); `row_block` alone gives bands of
    whole rows, `col_block` alone tiles of 8 rows. qmlp_i8: a batch of n through layers
    n → n → n → 10, a leaf per row (QMLP_ROW_BLOCK). sgd_fxp: 2,000 steps of a batch of 256
    samples with n features and 16 outputs (about a second on 2 cores at n = 1,024; 64 KiB of
    weights per step). mlp_fxp: n → n → 10 on 2,048 samples, batches of 32, 16 checkpoints of
    up to 100 steps (the digits job's shape at n = 64).
    """
    if workload not in WORKLOADS:
        known = ", ".join(sorted(WORKLOADS))
        raise WorkloadError(f"unknown workload {workload!r} (known: {known})")
    if type(n) is not int or not 1 <= n <= MAX_N[workload]:
        raise WorkloadError(f"--n must be from 1 to {MAX_N[workload]} for {workload}, not {n}")
    trains = workload in ("sgd_fxp", "mlp_fxp")
    if row_block is not None and (trains or not 1 <= row_block <= n):
        raise WorkloadError(
            f"--row-block must be from 1 to --n ({n}) for gemm_i8 and qmlp_i8, not {row_block}"
            if not trains
            else f"--row-block is for gemm_i8 and qmlp_i8 (a {workload} leaf is a checkpoint)"
        )
    if col_block is not None and (workload != "gemm_i8" or not 1 <= col_block <= n):
        raise WorkloadError(
            f"--col-block must be from 1 to --n ({n}) for gemm_i8, not {col_block}"
            if workload == "gemm_i8"
            else "--col-block is for gemm_i8 (a qmlp_i8 leaf is a band of whole rows)"
        )
    if workload == "gemm_i8":
        if row_block is None and col_block is None:
            return JobSpec(workload, (n, n, n, *gemm_blocks_for(n, n, n)), SEED)
        rows = min(n, GEMM_TILE_ROWS) if row_block is None else row_block
        if col_block is not None:
            return JobSpec(workload, (n, n, n, rows, col_block), SEED)
        return JobSpec(workload, (n, n, n, rows), SEED)
    if workload == "qmlp_i8":
        rows = QMLP_ROW_BLOCK if row_block is None else row_block
        return JobSpec(workload, (n, rows, n, n, n, QMLP_CLASSES), SEED)
    if workload == "mlp_fxp":
        per_step = 6 * MLP_BATCH * (n * n + n * QMLP_CLASSES)
        every = max(1, min(MLP_EVERY, MAX_LEAF_VERIFY_UNITS // per_step))
        steps = MLP_CHECKPOINTS * every
        mlp = (MLP_SAMPLES, MLP_BATCH, steps, every, 16, 20, n, n, QMLP_CLASSES)
        return JobSpec(workload, mlp, SEED)
    samples = max(4 * SGD_BATCH, 2 * n)
    params = (samples, n, SGD_OUTPUTS, SGD_BATCH, SGD_STEPS, SGD_FRAC_BITS, SGD_LR_SHIFT)
    return JobSpec(workload, params, SEED)


def _best_of_each(repeat: int, runs: dict[str, Callable[[], Any]]) -> dict[str, float]:
    """The best of `repeat` timings of each run, the runs taking turns (each round starting
    with the next run), so that a machine busier in some moments than others slows each of
    them alike: on the shared 2-core machine the first run of a round was measured up to twice
    as fast as the one after it."""
    best = dict.fromkeys(runs, float("inf"))
    names = list(runs)
    for round_ in range(max(repeat, len(names))):
        for name in names[round_ % len(names) :] + names[: round_ % len(names)]:
            started = time.perf_counter()
            runs[name]()
            best[name] = min(best[name], time.perf_counter() - started)
    return best


def _best(repeat: int, run: Callable[[], Any]) -> float:
    """The best of `repeat` timings of `run`."""
    return _best_of_each(repeat, {"run": run})["run"]


def _kernel_call(
    spec: JobSpec, arrays: dict[str, Any], kernels: Any, device: str
) -> Callable[[], Any]:
    """The job's computation on its arrays, without the leaves' encoding."""
    p = spec.params
    if spec.workload == "gemm_i8":
        return lambda: kernels.gemm(arrays["a"], arrays["b"])
    if spec.workload == "qmlp_i8":
        return lambda: kernels.qmlp(arrays["x"], arrays["layers"])
    if spec.workload == "mlp_fxp":
        samples, batch, steps, every, frac_bits, lr_shift, dims = mlp_layout(p)
        start = initial_parameters(spec.seed, dims, frac_bits)
        rows = batch_order_rows(spec.seed, samples, batch, steps, 0, steps, "mlp_fxp")
        train = trainer(device)
        return lambda: list(
            train(arrays["x"], arrays["y"], rows, every, frac_bits, lr_shift, start, dims)[0]
        )
    order = batch_order(spec.seed, p[0], p[3], p[4])
    return lambda: kernels.sgd(arrays["x"], arrays["y"], order, p[5], p[6])


def _encode(spec: JobSpec, output: Any) -> list[bytes]:
    """The leaves of a kernel's output, encoded as compute_leaves does."""
    p = spec.params
    if spec.workload == "gemm_i8":
        return tile_leaves(output, *gemm_blocks(spec))
    if spec.workload == "qmlp_i8":
        return [_leaf(acc[rows]) for acc in output for rows in _blocks(p[0], p[1])]
    return [_leaf(w) for w in output]


def _commit(spec: JobSpec, output: Any) -> bytes:
    """The worker's root over the kernel's output, its leaves hashed where they lie (no copy)."""
    p = spec.params
    if spec.workload == "gemm_i8":
        hashes = tile_leaf_hashes(output, *gemm_blocks(spec))
    elif spec.workload == "qmlp_i8":
        bands = [tile_leaf_hashes(acc, p[1], acc.shape[1]).data for acc in output]
        hashes = HashLevel(b"".join(bands))
    else:
        return result_root(list(output))
    return root_of_levels(tree_of(hashes))


def exact_blas_gemm(a: I8, b: I8) -> I32:
    """A·B through float32 BLAS, exact: K in slices of at most BLAS_K_SLICE, added in int32."""
    a32 = a.astype(np.float32)
    b32 = b.astype(np.float32)
    k = a.shape[1]
    out: I32 = (a32[:, :BLAS_K_SLICE] @ b32[:BLAS_K_SLICE]).astype(np.int32)
    for start in range(BLAS_K_SLICE, k, BLAS_K_SLICE):
        part = a32[:, start : start + BLAS_K_SLICE] @ b32[start : start + BLAS_K_SLICE]
        np.add(out, part, out=out, casting="unsafe")
    return out


def _audit(
    spec: JobSpec,
    inputs: dict[str, bytes],
    leaves: list[bytes],
    levels: list[list[bytes]],
    root: bytes,
    picks: list[int],
    device: str,
) -> None:
    """A committee's audit of `picks`: the committed leaves they build on proven, the picks
    recomputed together and hashed, and the worker's proofs for them checked against the root
    with the recomputed hashes, all proofs in one compiled walk (the audit passes when the
    recomputed leaves are the committed ones)."""
    count = len(leaves)
    built_on = leaves_dependencies(spec, picks)
    if built_on:
        verify_hash_proofs(
            root,
            [leaf_hash(leaves[d]) for d in built_on],
            built_on,
            count,
            [proof_from_levels(levels, d) for d in built_on],
            walk=walk_proofs,
        )
    deps = {d: leaves[d] for d in built_on}
    hashes = recompute_leaf_hashes(spec, inputs, picks, deps, device=device)
    proofs = [proof_from_levels(levels, index) for index in picks]
    try:
        verify_hash_proofs(root, hashes, picks, count, proofs, walk=walk_proofs)
    except MerkleProofError as exc:
        raise AssertionError("a recomputed leaf differs from the committed one") from exc


def run_workload_benchmark(
    workload: str,
    *,
    n: int | None = None,
    row_block: int | None = None,
    col_block: int | None = None,
    device: str = "auto",
    repeat: int = 3,
    progress: Callable[[str], None] = lambda _msg: None,
) -> WorkloadFigures:
    """Measure one job of `workload` (see the module docstring); raises WorkloadError for a bad
    workload or size, DeviceError for a device that is not there, ValueError for repeat < 1."""
    if repeat < 1:
        raise ValueError(f"--repeat must be at least 1, not {repeat}")
    if device not in DEVICES:
        raise ValueError(f"unknown device {device!r} (choose from {', '.join(DEVICES)})")
    size = DEFAULT_N.get(workload, 1) if n is None else n
    spec = job_for(workload, size, row_block, col_block)
    device = select_device(device)
    kernels = backend(device)
    shape = spec.shape
    inputs = generate_inputs(spec.workload, spec.params, spec.seed)
    arrays = _arrays(spec, inputs)
    progress(f"{workload} {list(spec.params)}: {shape.cost_units / 1e9:.2f} G cost units")

    progress(f"warming up on {device} (compiles the kernels)")
    leaves = compute_leaves(spec, inputs, device=device)
    call = _kernel_call(spec, arrays, kernels, device)
    computed: list[Any] = [None]

    def compute() -> None:
        computed[0] = call()

    committed = compute_committed(spec, inputs, device=device)
    if committed.root != merkle_root(leaves):
        raise AssertionError("computing and committing together gives another root")
    timings = _best_of_each(
        repeat,
        {"compute": compute, "committed": lambda: compute_committed(spec, inputs, device=device)},
    )
    compute_s, committed_s = timings["compute"], timings["committed"]
    output = computed[0]
    progress(
        f"compute: {compute_s * 1e3:.1f} ms, computed and committed: {committed_s * 1e3:.1f} ms"
    )

    if _encode(spec, output) != leaves:
        raise AssertionError("the kernel's output encodes to other leaves than compute_leaves")
    root = merkle_root(leaves)
    if _commit(spec, output) != root:  # also the warm-up: loads the hashing kernels
        raise AssertionError("the root over the output in place differs from merkle_root")
    commit_s = _best(repeat, lambda: _commit(spec, output))
    commit_copy_s = _best(repeat, lambda: result_root(_encode(spec, output)))
    levels = tree_levels([leaf_hash(leaf) for leaf in leaves])
    rng = np.random.default_rng(SEED)
    drawn = rng.choice(len(leaves), size=min(AUDIT_LEAVES, len(leaves)), replace=False)
    picks = sorted(int(index) for index in drawn)
    audit_s = _best(repeat, lambda: _audit(spec, inputs, leaves, levels, root, picks, device))
    material = Material(
        spec,
        inputs,
        tuple(picks),
        {d: leaves[d] for i in picks for d in leaf_dependencies(spec, i)},
    )
    answer = recompute_answer(material, ANSWER_MASK, device=device)  # also the warm-up
    if answer[0] != tuple(levels[0][i] for i in picks):
        raise AssertionError("a committee member's answer differs from the committed leaves")
    answer_s = _best(repeat, lambda: recompute_answer(material, ANSWER_MASK, device=device))
    progress(
        f"commit: {commit_s * 1e3:.1f} ms (of copied leaves {commit_copy_s * 1e3:.1f} ms), "
        f"audit: {audit_s * 1e3:.1f} ms, a member's answer with witnesses: "
        f"{answer_s * 1e3:.1f} ms"
    )

    def check() -> None:
        if freivalds.check_result(spec, inputs, leaves, rng=rng) is not None:
            raise AssertionError("Freivalds' check rejects a correct result")

    check()
    freivalds_s = _best(repeat, check)
    progress(f"Freivalds: {freivalds_s * 1e3:.1f} ms")

    blas_s: float | None = None
    if workload == "gemm_i8":
        # Last, so OpenBLAS's threads, which spin for a while after a call, slow nothing else.
        if not np.array_equal(exact_blas_gemm(arrays["a"], arrays["b"]), output):
            raise AssertionError("float32 BLAS and the kernel disagree")
        blas_s = _best(repeat, lambda: exact_blas_gemm(arrays["a"], arrays["b"]))
        progress(f"float32 BLAS: {blas_s * 1e3:.1f} ms")

    gops = shape.cost_units / compute_s / 1e9
    blas_gops = None if blas_s is None else shape.cost_units / blas_s / 1e9
    return WorkloadFigures(
        workload=workload,
        device=device,
        n=size,
        params=spec.params,
        cost_units=shape.cost_units,
        leaves=shape.leaves,
        result_bytes=shape.result_bytes,
        repeat=repeat,
        compute_s=compute_s,
        gops=gops,
        blas_s=blas_s,
        blas_gops=blas_gops,
        blas_ratio=None if blas_gops is None else gops / blas_gops,
        commit_s=commit_s,
        commit_share=commit_s / compute_s,
        committed_s=committed_s,
        overlapped_commit_share=(committed_s - compute_s) / compute_s,
        commit_copy_s=commit_copy_s,
        commit_copy_share=commit_copy_s / compute_s,
        audit_leaves=len(picks),
        audit_s=audit_s,
        audit_share=audit_s / compute_s,
        answer_s=answer_s,
        answer_share=answer_s / compute_s,
        freivalds_s=freivalds_s,
        freivalds_share=freivalds_s / compute_s,
    )
