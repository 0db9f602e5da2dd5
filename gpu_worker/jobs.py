"""A job's computation as the worker, the validators and the requester all see it.

    spec = JobSpec("gemm_i8", (256, 256, 256, 32, 64), seed=7)  # tiles of 32 rows × 64 columns
    inputs = generate_inputs(spec.workload, spec.params, spec.seed)
    leaves = compute_leaves(spec, inputs, device="cpu")      # the worker
    root = merkle_root(leaves)                               # what it commits on chain
    leaf_tile(spec, 3)                                       # rows 0..32, columns 192..256
    deps = {d: leaves[d] for d in leaf_dependencies(spec, 3)}
    assert recompute_leaf(spec, {}, 3, deps) == leaves[3]    # a validator's audit of leaf 3
    recompute_leaves(spec, {}, [3, 9, 40], {})               # several leaves, inputs read once

Where each leaf lies in the result is `leaf_tile` (`leaf_tiles` for all, in leaf order): the
matrix of `result_arrays` it belongs to (`layer`) and its rows and columns there.

A leaf is recomputed from only the slices of the inputs it reads (`leaf_input_ranges`, runs of
bytes: a gemm_i8 tile reads its rows of A, contiguous, and its columns of B, one run a row; an
input the caller does not pass is generated from the seed, those runs alone where that is
cheaper than the span they lie in) and, for sgd_fxp and mlp_fxp, from the committed step
(checkpoint) before it (`leaf_dependencies`), which the verifier takes from the worker's
commitment, checked by Merkle proof. A qmlp_i8 leaf of layer j is recomputed from x's rows through
layers 0..j, trusting no committed leaf: a cheater who zeroes the layer-0 leaves fails on every
leaf of every layer. An sgd_fxp step still trusts the committed step before it: a cheater can fake
one step and compute the next from its fake, and starting from zero weights halves that step's
work (the forward pass is free); the incentive guard counts that saving
(`runtime.pallets.compute.guard`).

Devices (`gpu_worker.devices`): "numpy" is the reference, "cpu" the Numba @njit kernels, "cuda"
the Numba @cuda.jit kernels, and "auto" the GPU where one is present, else the CPU. Every device
gives the same bytes.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Protocol

import numpy as np

from gpu_worker.devices import backend
from gpu_worker.inputs import (
    I8,
    I16,
    I32,
    I64,
    ByteRuns,
    InputError,
    batch_order,
    batch_order_rows,
    check_inputs,
    generate_input_runs,
    generated_as_span,
    parse_model,
)
from gpu_worker.mlp_checkpoints import checkpoint_from, job_checkpoints
from gpu_worker.qmlp_rows import Carried, carried_leaf_hashes, carry_rows, parsed_model
from gpu_worker.tile_threads import spread_for
from runtime.primitives.merkle import HASH_LEN, LEAF_KEY, leaf_hash
from runtime.workloads import (
    WorkloadShape,
    builds_on,
    gemm_layout,
    mlp_layout,
    mlp_leaf_bytes,
    workload_shape,
)


@dataclass(frozen=True, slots=True)
class JobSpec:
    """What fixes a job's result: its workload, parameters and seed."""

    workload: str
    params: tuple[int, ...]
    seed: int = 0

    @property
    def shape(self) -> WorkloadShape:
        return _shape(self.workload, tuple(self.params))


@functools.lru_cache(maxsize=16)
def _shape(workload: str, params: tuple[int, ...]) -> WorkloadShape:
    """workload_shape, kept: it lists every leaf's size, and recomputing a leaf asks for it."""
    return workload_shape(workload, params)


# Inputs as arrays


def _blocks(rows: int, row_block: int) -> list[slice]:
    return [slice(start, min(start + row_block, rows)) for start in range(0, rows, row_block)]


def _block_count(rows: int, row_block: int) -> int:
    return -(-rows // row_block)


def _block(rows: int, row_block: int, index: int) -> slice:
    """Row block `index` of `rows`, without listing the others (jobs may have 65,536)."""
    start = index * row_block
    return slice(start, min(start + row_block, rows))


def _arrays(spec: JobSpec, inputs: Mapping[str, bytes]) -> dict[str, Any]:
    check_inputs(spec.workload, spec.params, inputs, spec.shape)
    p = spec.params
    if spec.workload == "gemm_i8":
        m, k, n = p[:3]
        return {
            "a": np.frombuffer(inputs["a"], np.int8).reshape(m, k),
            "b": np.frombuffer(inputs["b"], np.int8).reshape(k, n),
        }
    if spec.workload == "qmlp_i8":
        return {
            "x": np.frombuffer(inputs["x"], np.int8).reshape(p[0], p[2]),
            "layers": parse_model(p[2:], inputs["model"]),
        }
    # sgd_fxp's x is samples×features, y samples×outputs; mlp_fxp's samples×d0, samples×dL.
    samples, features, outputs = (p[0], p[6], p[-1]) if spec.workload == "mlp_fxp" else p[:3]
    return {
        "x": np.frombuffer(inputs["x"], np.int8).reshape(samples, features),
        "y": np.frombuffer(inputs["y"], "<i2").astype(np.int16).reshape(samples, outputs),
    }


ORDER_CACHE_ENTRIES: Final = 1 << 22
"""sgd_fxp batch orders up to this many indices (32 MiB) are kept for the next leaf."""


@functools.lru_cache(maxsize=2)
def _cached_batch_order(seed: int, samples: int, batch: int, steps: int) -> I64:
    order = batch_order(seed, samples, batch, steps)
    order.flags.writeable = False
    return order


def _batch_order(seed: int, samples: int, batch: int, steps: int) -> I64:
    """batch_order, kept while small: an audit recomputes several steps of one job, and each
    step needs only its own row of the whole order."""
    if batch * steps > ORDER_CACHE_ENTRIES:
        return batch_order(seed, samples, batch, steps)
    return _cached_batch_order(seed, samples, batch, steps)


def _leaf(array: np.ndarray) -> bytes:
    return np.ascontiguousarray(array, dtype="<i4").tobytes()


def _int32(leaf: bytes, rows: int, cols: int, what: str) -> I32:
    if len(leaf) != rows * cols * 4:
        raise InputError(f"{what} is {len(leaf)} bytes, not {rows * cols * 4}")
    return np.frombuffer(leaf, "<i4").astype(np.int32).reshape(rows, cols)


# The leaf layout


@dataclass(frozen=True, slots=True)
class LeafTile:
    """Where a leaf lies in the result: rows `rows` and columns `cols` of matrix `layer` of
    `result_arrays` (gemm_i8: C, layer 0; qmlp_i8: layer j's accumulators; sgd_fxp: step t's
    weights, whole; mlp_fxp: checkpoint t, one row of its parameter words). The leaf is that
    block, row-major, little-endian int32."""

    layer: int
    rows: slice
    cols: slice

    @property
    def shape(self) -> tuple[int, int]:
        return self.rows.stop - self.rows.start, self.cols.stop - self.cols.start


def leaf_tile(spec: JobSpec, index: int) -> LeafTile:
    """Where leaf `index` lies in the result (InputError for an index out of range)."""
    _check_index(spec, index)
    p = spec.params
    if spec.workload == "gemm_i8":
        m, _, n, row_block, col_block = gemm_layout(p)
        row_tile, col_tile = divmod(index, _block_count(n, col_block))
        return LeafTile(0, _block(m, row_block, row_tile), _block(n, col_block, col_tile))
    if spec.workload == "qmlp_i8":
        layer, rows, _ = _qmlp_position(spec, index)
        return LeafTile(layer, rows, slice(0, p[3 + layer]))
    if spec.workload == "mlp_fxp":
        return LeafTile(index, slice(0, 1), slice(0, mlp_leaf_bytes(p[6:]) // 4))
    return LeafTile(index, slice(0, p[1]), slice(0, p[2]))


def leaf_tiles(spec: JobSpec) -> list[LeafTile]:
    """Every leaf's place in the result, in leaf order."""
    return [leaf_tile(spec, index) for index in range(spec.shape.leaves)]


def gemm_blocks(spec: JobSpec) -> tuple[int, int]:
    """A gemm_i8 job's (row_block, col_block): col_block is n where the params leave it out."""
    _, _, _, row_block, col_block = gemm_layout(spec.params)
    return row_block, col_block


def tile_leaves(matrix: I32, row_block: int, col_block: int) -> list[bytes]:
    """The leaves of `matrix` cut in tiles of row_block × col_block, in tile-major order."""
    rows, cols = matrix.shape
    if col_block >= cols:
        return [_leaf(matrix[band]) for band in _blocks(rows, row_block)]
    return [
        _leaf(matrix[band, part])
        for band in _blocks(rows, row_block)
        for part in _blocks(cols, col_block)
    ]


# The whole job (the worker)


def compute_leaves(
    spec: JobSpec, inputs: Mapping[str, bytes], *, device: str = "auto"
) -> list[bytes]:
    """Every result leaf of a job, in leaf order (`leaf_tile`)."""
    kernels = backend(device)
    arrays = _arrays(spec, inputs)
    p = spec.params
    if spec.workload == "gemm_i8":
        c = kernels.gemm(arrays["a"], arrays["b"])
        return tile_leaves(c, *gemm_blocks(spec))
    if spec.workload == "qmlp_i8":
        accs = kernels.qmlp(arrays["x"], arrays["layers"])
        return [_leaf(acc[rows]) for acc in accs for rows in _blocks(p[0], p[1])]
    if spec.workload == "mlp_fxp":
        return job_checkpoints(p, spec.seed, arrays["x"], arrays["y"], device)
    samples, _, _, batch, steps, frac_bits, lr_shift = p
    order = _batch_order(spec.seed, samples, batch, steps)
    weights = kernels.sgd(arrays["x"], arrays["y"], order, frac_bits, lr_shift)
    return [_leaf(w) for w in weights]


def check_leaf_sizes(spec: JobSpec, leaves: Sequence[bytes]) -> None:
    """InputError unless `leaves` are as many, and each as large, as the job's result leaves."""
    sizes = spec.shape.leaf_sizes
    if len(leaves) != len(sizes):
        raise InputError(f"the result has {len(leaves)} leaves, the job {len(sizes)}")
    for index, (leaf, size) in enumerate(zip(leaves, sizes, strict=True)):
        if len(leaf) != size:
            raise InputError(f"leaf {index} is {len(leaf)} bytes, not {size}")


def result_arrays(spec: JobSpec, leaves: Sequence[bytes]) -> list[I32]:
    """A result as arrays: C for gemm_i8; each layer's accumulators for qmlp_i8; each step's
    weights for sgd_fxp; each checkpoint as one row of parameter words for mlp_fxp."""
    check_leaf_sizes(spec, leaves)
    p = spec.params
    if spec.workload == "gemm_i8":
        if gemm_blocks(spec)[1] >= p[2]:
            return [np.frombuffer(b"".join(leaves), "<i4").astype(np.int32).reshape(p[0], p[2])]
        c: I32 = np.empty((p[0], p[2]), np.int32)
        for leaf, tile in zip(leaves, leaf_tiles(spec), strict=True):
            c[tile.rows, tile.cols] = np.frombuffer(leaf, "<i4").reshape(tile.shape)
        return [c]
    if spec.workload == "qmlp_i8":
        per_layer = _block_count(p[0], p[1])
        return [
            np.frombuffer(b"".join(leaves[j * per_layer : (j + 1) * per_layer]), "<i4")
            .astype(np.int32)
            .reshape(p[0], width)
            for j, width in enumerate(p[3:])
        ]
    if spec.workload == "mlp_fxp":
        words = mlp_leaf_bytes(p[6:]) // 4
        return [_int32(leaf, 1, words, f"checkpoint {t}") for t, leaf in enumerate(leaves)]
    return [_int32(leaf, p[1], p[2], f"step {t}") for t, leaf in enumerate(leaves)]


# One leaf (the verifiers)


class InputBytes(Protocol):
    """An input as recomputing a leaf reads it: its length and byte slices. `bytes`, or a reader
    that holds or fetches only the slices asked for (`chain.service.input_slices`)."""

    def __len__(self) -> int: ...

    def __getitem__(self, key: slice, /) -> bytes | memoryview: ...


def _qmlp_position(spec: JobSpec, index: int) -> tuple[int, slice, int]:
    rows, row_block = spec.params[0], spec.params[1]
    layer, block = divmod(index, _block_count(rows, row_block))
    return layer, _block(rows, row_block, block), block


def _check_index(spec: JobSpec, index: int) -> None:
    leaves = spec.shape.leaves
    if not 0 <= index < leaves:
        raise InputError(f"leaf {index} is out of range: the job has {leaves} leaves")


def leaf_dependencies(spec: JobSpec, index: int) -> tuple[int, ...]:
    """The committed leaves that recomputing leaf `index` starts from: the step before, for an
    sgd_fxp step; none for the others (a qmlp_i8 leaf is recomputed from x)."""
    _check_index(spec, index)
    return builds_on(spec.workload, index)


def leaves_dependencies(spec: JobSpec, indices: Sequence[int]) -> list[int]:
    """`leaf_dependencies` of every leaf of `indices`, joined: each once, rising (an audit's
    leaves, the job's shape looked up once)."""
    leaves = spec.shape.leaves
    for index in indices:
        if not 0 <= index < leaves:
            _check_index(spec, index)
    return sorted({d for index in indices for d in builds_on(spec.workload, index)})


def leaf_input_ranges(spec: JobSpec, index: int) -> dict[str, ByteRuns]:
    """The bytes of each input that recomputing leaf `index` reads, as runs: a gemm_i8 tile's
    rows of A (one run) and its columns of B (a run of col_block bytes in each of B's k rows,
    or all of B for a band of whole rows)."""
    _check_index(spec, index)
    sizes = {input_.name: input_.size for input_ in spec.shape.inputs}
    p = spec.params
    if spec.workload == "gemm_i8":
        tile = leaf_tile(spec, index)
        k, n = p[1], p[2]
        height, width = tile.shape
        b = (
            ByteRuns(0, sizes["b"])
            if width == n
            else ByteRuns(tile.cols.start, width, stride=n, count=k)
        )
        return {"a": ByteRuns(tile.rows.start * k, height * k), "b": b}
    if spec.workload == "qmlp_i8":
        _, block, _ = _qmlp_position(spec, index)
        x = ByteRuns(block.start * p[2], (block.stop - block.start) * p[2])
        return {"x": x, "model": ByteRuns(0, sizes["model"])}
    return {"x": ByteRuns(0, sizes["x"]), "y": ByteRuns(0, sizes["y"])}


GENERATED_SLICES: Final = 3
"""Generated input slices kept for the next leaf of the same job: a check recomputes several
leaves that read the same B, model, or x and y."""


@functools.lru_cache(maxsize=GENERATED_SLICES)
def _generated_slice(
    workload: str, params: tuple[int, ...], name: str, seed: int, runs: ByteRuns
) -> bytes:
    return generate_input_runs(workload, params, name, seed, runs)


def _check_given(spec: JobSpec, inputs: Mapping[str, InputBytes]) -> None:
    sizes = {input_.name: input_.size for input_ in spec.shape.inputs}
    for name, data in inputs.items():
        if name not in sizes:
            raise InputError(f"{spec.workload} takes inputs {sorted(sizes)}, not {name!r}")
        if len(data) != sizes[name]:
            raise InputError(
                f"input {name!r} of {spec.workload} {list(spec.params)} must be "
                f"{sizes[name]} bytes, not {len(data)}"
            )


def _read_runs(given: InputBytes, runs: ByteRuns) -> I8:
    """The bytes of `runs` of an input, as a (count, length) int8 array: a view where the input
    is in memory, else one read of the span the runs lie in."""
    if isinstance(given, bytes | bytearray | memoryview):
        span: bytes | memoryview = memoryview(given)[runs.start : runs.stop]
    else:
        span = given[runs.start : runs.stop]
    flat = np.frombuffer(span, np.int8)
    if runs.count == 1:
        return flat.reshape(1, runs.length)
    view: I8 = np.lib.stride_tricks.as_strided(
        flat, (runs.count, runs.length), (runs.stride, 1), writeable=False
    )
    return view


def _read_inputs(
    spec: JobSpec, inputs: Mapping[str, InputBytes], reads: Mapping[str, ByteRuns]
) -> dict[str, I8]:
    """`reads` of the inputs, each a (count, length) int8 array: cut from `inputs`, or
    generated from the seed for an input the caller did not pass."""
    _check_given(spec, inputs)
    size = {input_.name: input_.size for input_ in spec.shape.inputs}
    arrays: dict[str, I8] = {}
    for name, runs in reads.items():
        given = inputs.get(name)
        if given is not None:
            arrays[name] = _read_runs(given, runs)
        elif (
            runs.count > 1
            and generated_as_span(runs)
            and 2 * (runs.stop - runs.start) >= size[name]
        ):
            # Columns spread over the input (a tile's columns of B): generate it whole once,
            # kept for the check's other leaves, which read other columns of it.
            whole = _generated_slice(
                spec.workload, spec.params, name, spec.seed, ByteRuns(0, size[name])
            )
            arrays[name] = _read_runs(whole, runs)
        else:
            data = _generated_slice(spec.workload, spec.params, name, spec.seed, runs)
            arrays[name] = np.frombuffer(data, np.int8).reshape(runs.count, runs.length)
    return arrays


def _leaf_inputs(spec: JobSpec, inputs: Mapping[str, InputBytes], index: int) -> dict[str, I8]:
    """The slices of the inputs leaf `index` reads (`leaf_input_ranges`), each as a
    (count, length) int8 array."""
    return _read_inputs(spec, inputs, leaf_input_ranges(spec, index))


def gemm_tile_operands(spec: JobSpec, data: Mapping[str, I8], index: int) -> tuple[I8, I8]:
    """A gemm_i8 tile's rows of A and columns of B from its `_leaf_inputs`."""
    k = spec.params[1]
    return data["a"].reshape(-1, k), data["b"].reshape(k, -1)


def _sgd_start(spec: JobSpec, index: int, deps: Mapping[int, bytes]) -> I32:
    """The weights sgd_fxp step `index` starts from: zero for the first, else the committed
    step before it (InputError if it has the wrong size)."""
    features, outputs = spec.params[1], spec.params[2]
    if index == 0:
        return np.zeros((features, outputs), np.int32)
    return _int32(deps[index - 1], features, outputs, f"leaf {index - 1}")


def checked_dependencies(spec: JobSpec, index: int, deps: Mapping[int, bytes]) -> tuple[int, ...]:
    """The leaves recomputing leaf `index` builds on; InputError unless `deps` has them all."""
    needed = leaf_dependencies(spec, index)
    missing = [d for d in needed if d not in deps]
    if missing:
        raise InputError(f"recomputing leaf {index} needs leaves {missing}")
    return needed


def recompute_leaf(
    spec: JobSpec,
    inputs: Mapping[str, InputBytes],
    index: int,
    deps: Mapping[int, bytes],
    *,
    device: str = "auto",
) -> bytes:
    """Leaf `index` recomputed from the slices of the inputs it reads and its dependencies
    (checked by the caller). `inputs` holds whole inputs by name (bytes, or readers of their
    slices); one it lacks is generated from the job's seed, only the slice this leaf reads."""
    return recompute_leaves(spec, inputs, [index], deps, device=device)[0]


def recompute_leaves(
    spec: JobSpec,
    inputs: Mapping[str, InputBytes],
    indices: Sequence[int],
    deps: Mapping[int, bytes],
    *,
    device: str = "auto",
) -> list[bytes]:
    """Leaves `indices` recomputed, as `recompute_leaf` recomputes each, in the order given.

    What several leaves share is done once: each input's runs are read (or generated) once, and
    a qmlp_i8 check carries its leaves' rows of x through the layers together, each layer in one
    kernel call for the rows whose leaves reach it (rows are independent, so each leaf's rows
    come out as on their own).
    """
    if spec.workload in ("sgd_fxp", "mlp_fxp"):
        for index in indices:
            checked_dependencies(spec, index, deps)
    else:  # leaves built from the inputs alone (`builds_on`): only the indices to check
        leaves = spec.shape.leaves
        for index in indices:
            if not 0 <= index < leaves:
                _check_index(spec, index)
    if not indices:
        return []
    kernels = backend(device)
    if spec.workload == "gemm_i8":
        return _recompute_gemm(spec, inputs, indices, device)
    if spec.workload == "qmlp_i8":
        return _recompute_qmlp(spec, inputs, indices, kernels)
    if spec.workload == "mlp_fxp":
        return _recompute_mlp(spec, inputs, indices, deps, device)
    p = spec.params
    samples, features, outputs, batch, steps, frac_bits, lr_shift = p
    data = _leaf_inputs(spec, inputs, indices[0])
    x: I8 = data["x"].reshape(samples, features)
    y: I16 = data["y"].reshape(-1).view("<i2").astype(np.int16).reshape(samples, outputs)
    out: list[bytes] = []
    for index in indices:
        order = batch_order_rows(spec.seed, samples, batch, steps, index, index + 1)
        start = _sgd_start(spec, index, deps)
        (weights,) = kernels.sgd(x, y, order, frac_bits, lr_shift, start=start)
        out.append(_leaf(weights))
    return out


def recompute_leaf_hashes(
    spec: JobSpec,
    inputs: Mapping[str, InputBytes],
    indices: Sequence[int],
    deps: Mapping[int, bytes],
    *,
    device: str = "auto",
) -> list[bytes]:
    """`merkle.leaf_hash` of each leaf `recompute_leaves` gives, in the order given: what an
    audit compares with the worker's proofs. gemm_i8 tiles of one shape recomputed on the CPU
    are hashed where they lie in the audit kernel's flat output by the compiled tile hashing
    (`commitment.tile_leaf_hashes`; no leaf bytes are made)."""
    kernels = backend(device)
    chained = spec.workload in ("sgd_fxp", "mlp_fxp")
    if chained or not indices or not kernels.__name__.endswith(".cpu"):
        return [
            leaf_hash(leaf) for leaf in recompute_leaves(spec, inputs, indices, deps, device=device)
        ]
    leaves = spec.shape.leaves
    for index in indices:
        if not 0 <= index < leaves:
            _check_index(spec, index)
    if spec.workload == "qmlp_i8":
        return _qmlp_leaf_hashes(spec, inputs, indices, kernels)
    from gpu_worker.commitment import KERNEL_LEAF_BYTES, tile_leaf_hashes
    from gpu_worker.kernels import audit_cpu
    from gpu_worker.kernels.blake3_tiles import PARALLEL_BYTES, run_hashes

    a, b, table = gemm_audit_operands(spec, inputs, indices)
    spread = spread_for(audit_cpu.tile_weight(a.shape[1]))
    shapes = {(r1 - r0, c1 - c0) for r0, r1, c0, c1 in table.tolist()}
    if len(shapes) > 1:  # ragged edge tiles: one at a time
        return [leaf_hash(_leaf(tile)) for tile in audit_cpu.gemm_tiles(a, b, table, spread)]
    ((height, width),) = shapes
    flat = audit_cpu.gemm_tiles_flat(a, b, table, spread)
    if height * width * 4 > KERNEL_LEAF_BYTES or flat.nbytes >= PARALLEL_BYTES:
        return list(tile_leaf_hashes(flat.reshape(-1, width), height, width))
    # The tiles lie end to end in the flat output: one compiled call hashes them all.
    joined = run_hashes(flat, height * width, LEAF_KEY)
    return [joined[at : at + HASH_LEN] for at in range(0, len(joined), HASH_LEN)]


def mlp_leaf_arrays(spec: JobSpec, inputs: Mapping[str, InputBytes]) -> tuple[I8, I16]:
    """An mlp_fxp job's x and y as arrays, read (or generated) whole: every checkpoint reads
    them all."""
    samples, _, _, _, _, _, dims = mlp_layout(spec.params)
    data = _leaf_inputs(spec, inputs, 0)
    x: I8 = data["x"].reshape(samples, dims[0])
    y: I16 = data["y"].reshape(-1).view("<i2").astype(np.int16).reshape(samples, dims[-1])
    return x, y


def _recompute_mlp(
    spec: JobSpec,
    inputs: Mapping[str, InputBytes],
    indices: Sequence[int],
    deps: Mapping[int, bytes],
    device: str,
) -> list[bytes]:
    """mlp_fxp checkpoints recomputed, each from the committed one before it (x and y read
    once)."""
    x, y = mlp_leaf_arrays(spec, inputs)
    return [
        checkpoint_from(spec.params, spec.seed, x, y, index, deps.get(index - 1), device)[0]
        for index in indices
    ]


def _recompute_gemm(
    spec: JobSpec, inputs: Mapping[str, InputBytes], indices: Sequence[int], device: str
) -> list[bytes]:
    """gemm_i8 tiles recomputed: B's columns the tiles read are read once (one span), each
    tile's rows of A once. On the CPU the tiles are one call a core of the audit kernel, which
    reads B as stored (`gpu_worker.kernels.audit_cpu`); elsewhere each tile is multiplied on
    its own."""
    kernels = backend(device)
    if kernels.__name__.endswith(".cpu"):
        return _recompute_gemm_tiles(spec, inputs, indices)
    k, n = spec.params[1], spec.params[2]
    tiles = _gemm_leaf_tiles(spec, indices)
    first = min(tile.cols.start for tile in tiles)
    stop = max(tile.cols.stop for tile in tiles)
    b_runs = ByteRuns(0, k * n) if stop - first == n else ByteRuns(first, stop - first, n, k)
    b = _read_inputs(spec, inputs, {"b": b_runs})["b"].reshape(k, stop - first)
    parts = _tile_rows_of_a(spec, inputs, tiles)
    return [
        _leaf(kernels.gemm(part, b[:, tile.cols.start - first : tile.cols.stop - first]))
        for part, tile in zip(parts, tiles, strict=True)
    ]


def _gemm_leaf_tiles(spec: JobSpec, indices: Sequence[int]) -> list[LeafTile]:
    """`leaf_tile` of each of a gemm_i8 job's `indices` (checked by the caller), the layout
    read once."""
    m, _, n, row_block, col_block = gemm_layout(spec.params)
    col_tiles = _block_count(n, col_block)
    tiles: list[LeafTile] = []
    for index in indices:
        row_tile, col_tile = divmod(index, col_tiles)
        r0, c0 = row_tile * row_block, col_tile * col_block
        rows, cols = slice(r0, min(r0 + row_block, m)), slice(c0, min(c0 + col_block, n))
        tiles.append(LeafTile(0, rows, cols))
    return tiles


def _tile_rows_of_a(
    spec: JobSpec, inputs: Mapping[str, InputBytes], tiles: Sequence[LeafTile]
) -> list[I8]:
    """Each tile's rows of A: views where A is in memory, else each read on its own."""
    k = spec.params[1]
    if isinstance(inputs.get("a"), bytes | bytearray | memoryview):
        a = _read_inputs(spec, inputs, {"a": ByteRuns(0, spec.params[0] * k)})["a"]  # a view
        return [a.reshape(-1, k)[tile.rows] for tile in tiles]
    return [
        _read_inputs(spec, inputs, {"a": ByteRuns(tile.rows.start * k, tile.shape[0] * k)})[
            "a"
        ].reshape(-1, k)
        for tile in tiles
    ]


TileTable = I64
"""gemm_i8 tiles as the audit kernels take them: a (T, 4) int64 array of (row start, row stop,
column start, column stop) in the operands `gemm_audit_operands` gives."""


def gemm_audit_operands(
    spec: JobSpec, inputs: Mapping[str, InputBytes], indices: Sequence[int]
) -> tuple[I8, I8, TileTable]:
    """What the CPU's audit kernels take to recompute gemm_i8 leaves `indices` (checked by the
    caller): A and B as C-contiguous matrices, each read once, and each leaf's tile in them.

    B is the whole input where it is in memory or generated whole, else the columns the tiles
    read, copied once; A is the whole input where it is in memory, else the tiles' rows stacked.
    """
    from gpu_worker.kernels.audit_cpu import grid_tiles

    if not len(indices):
        raise ValueError("the audit kernels' operands are for one leaf or more, not none")
    m, k, n, row_block, col_block = gemm_layout(spec.params)
    table, first, stop = grid_tiles(indices, m, n, row_block, col_block)
    given = inputs.get("b")
    whole = ByteRuns(0, k * n)
    runs = whole if stop - first == n else ByteRuns(first, stop - first, n, k)
    in_memory = isinstance(inputs.get("a"), bytes | bytearray | memoryview)
    b_whole = isinstance(given, bytes | bytearray | memoryview) or (
        given is None and generated_as_span(runs) and 2 * (runs.stop - runs.start) >= k * n
    )
    reads = {"b": whole if b_whole else runs}
    if in_memory:
        reads["a"] = ByteRuns(0, m * k)
    read = _read_inputs(spec, inputs, reads)
    if b_whole:
        b = read["b"].reshape(k, n)
    else:
        b = np.ascontiguousarray(read["b"].reshape(k, -1))
        table[:, 2:] -= first
    if in_memory:
        a = read["a"].reshape(m, k)
    else:
        parts = _tile_rows_of_a(spec, inputs, _gemm_leaf_tiles(spec, indices))
        a = np.ascontiguousarray(np.concatenate(parts))
        heights = table[:, 1] - table[:, 0]
        table[:, 1] = np.cumsum(heights)
        table[:, 0] = table[:, 1] - heights
    return a, b, table


def _recompute_gemm_tiles(
    spec: JobSpec, inputs: Mapping[str, InputBytes], indices: Sequence[int]
) -> list[bytes]:
    """gemm_i8 tiles recomputed by the CPU's audit kernel, one call a core."""
    from gpu_worker.kernels import audit_cpu  # Numba and LLVM load only where a CPU audits

    a, b, table = gemm_audit_operands(spec, inputs, indices)
    tiles = audit_cpu.gemm_tiles(a, b, table, spread_for(audit_cpu.tile_weight(a.shape[1])))
    return [_leaf(c) for c in tiles]


def qmlp_x_rows(spec: JobSpec, inputs: Mapping[str, InputBytes], rows: I64) -> I8:
    """Rows `rows` of a qmlp_i8 job's x: picked from a view where x is in memory, else read as
    runs of consecutive rows."""
    d0 = spec.params[2]
    if isinstance(inputs.get("x"), bytes | bytearray | memoryview):
        whole = _read_inputs(spec, inputs, {"x": ByteRuns(0, spec.params[0] * d0)})["x"]
        picked: I8 = whole.reshape(-1, d0)[rows]
        return picked
    reads: dict[str, ByteRuns] = {}
    runs: list[tuple[int, int]] = []
    for row in rows.tolist():
        if runs and runs[-1][1] == row:
            runs[-1] = (runs[-1][0], row + 1)
        else:
            runs.append((row, row + 1))
    parts: list[I8] = []
    for first, stop in runs:
        reads = {"x": ByteRuns(first * d0, (stop - first) * d0)}
        parts.append(_read_inputs(spec, inputs, reads)["x"].reshape(-1, d0))
    return np.concatenate(parts) if len(parts) > 1 else parts[0]


def qmlp_model(spec: JobSpec, inputs: Mapping[str, InputBytes], layers: int) -> list[Any]:
    """The first `layers` parsed layers of a qmlp_i8 job's model, read whole (its weights are
    views of the bytes given or generated, which lets the kernels keep their transposes for the
    check's next leaves)."""
    size = next(i.size for i in spec.shape.inputs if i.name == "model")
    _check_given(spec, inputs)
    given = inputs.get("model")
    model: bytes | memoryview
    if given is None:
        model = _generated_slice(spec.workload, spec.params, "model", spec.seed, ByteRuns(0, size))
    elif isinstance(given, bytes):
        model = given
    else:
        model = memoryview(given[0:size]).cast("B")
    if not isinstance(model, bytes):
        return parse_model(spec.params[2:], model)[:layers]
    return parsed_model(spec.params[2:], model)[:layers]


def _qmlp_accumulators(
    spec: JobSpec, inputs: Mapping[str, InputBytes], indices: Sequence[int], kernels: Any
) -> tuple[Carried, list[tuple[int, int, int]]]:
    """The accumulators of qmlp_i8 leaves `indices` (checked by the caller), their rows carried
    through the layers together, and each leaf's (layer, first row, stop) in them.

    The rows are ordered by the deepest layer a leaf of theirs is in, deepest first, so the
    rows each layer needs come first and a layer is computed for those alone (`carry_rows`'
    counts): of an audit's 16 rows of a three-layer model, about 11 reach the second layer."""
    total, row_block = spec.params[0], spec.params[1]
    per_layer = _block_count(total, row_block)
    reach: dict[int, int] = {}  # each block's deepest layer among the leaves
    for index in indices:
        layer, block = divmod(index, per_layer)
        if reach.get(block, -1) < layer:
            reach[block] = layer
    blocks = sorted(reach, key=lambda block: (-reach[block], block))
    deepest = reach[blocks[0]]
    counts = [0] * (deepest + 1)  # rows whose leaves reach layer j or deeper
    if row_block == 1:
        rows = blocks
        first_row = dict(zip(blocks, range(len(blocks)), strict=True))
        for at, block in enumerate(blocks):
            counts[reach[block]] = at + 1
    else:
        first_row = {}
        rows = []
        for block in blocks:
            first_row[block] = len(rows)
            rows.extend(range(block * row_block, min(block * row_block + row_block, total)))
            counts[reach[block]] = len(rows)
    for j in range(deepest - 1, -1, -1):
        counts[j] = max(counts[j], counts[j + 1])
    layers = qmlp_model(spec, inputs, deepest + 1)
    x = qmlp_x_rows(spec, inputs, np.fromiter(rows, np.int64, len(rows)))
    carried = carry_rows(x, layers, kernels, counts)
    places: list[tuple[int, int, int]] = []
    for index in indices:
        layer, block = divmod(index, per_layer)
        first = first_row[block]
        places.append((layer, first, first + min(row_block, total - block * row_block)))
    return carried, places


def _recompute_qmlp(
    spec: JobSpec, inputs: Mapping[str, InputBytes], indices: Sequence[int], kernels: Any
) -> list[bytes]:
    carried, places = _qmlp_accumulators(spec, inputs, indices, kernels)
    return [_leaf(carried.accs[layer][first:stop]) for layer, first, stop in places]


def _qmlp_leaf_hashes(
    spec: JobSpec, inputs: Mapping[str, InputBytes], indices: Sequence[int], kernels: Any
) -> list[bytes]:
    """`leaf_hash` of qmlp_i8 leaves `indices` (checked by the caller), no leaf bytes made
    (`qmlp_rows.carried_leaf_hashes`)."""
    carried, places = _qmlp_accumulators(spec, inputs, indices, kernels)
    return carried_leaf_hashes(carried, places, spec.params[1])


__all__ = [
    "InputBytes",
    "JobSpec",
    "LeafTile",
    "check_leaf_sizes",
    "checked_dependencies",
    "compute_leaves",
    "gemm_audit_operands",
    "gemm_blocks",
    "leaf_dependencies",
    "leaf_input_ranges",
    "leaf_tile",
    "leaf_tiles",
    "mlp_leaf_arrays",
    "recompute_leaf",
    "recompute_leaf_hashes",
    "recompute_leaves",
    "result_arrays",
    "tile_leaves",
]
