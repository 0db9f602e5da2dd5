"""A job's computation as the worker, the validators and the requester all see it.

    spec = JobSpec("gemm_i8", (256, 256, 256, 64), seed=7)
    inputs = generate_inputs(spec.workload, spec.params, spec.seed)
    leaves = compute_leaves(spec, inputs, device="cpu")      # the worker
    root = merkle_root(leaves)                               # what it commits on chain
    deps = {d: leaves[d] for d in leaf_dependencies(spec, 3)}
    assert recompute_leaf(spec, {}, 3, deps) == leaves[3]    # a validator's audit of leaf 3

A leaf is recomputed from only the slices of the inputs it reads (`leaf_input_ranges`; an input
the caller does not pass is generated from the seed, that slice alone) and, for sgd_fxp, from the
committed step before it (`leaf_dependencies`), which the verifier takes from the worker's
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
    InputError,
    batch_order,
    batch_order_rows,
    check_inputs,
    generate_input_range,
    parse_model,
)
from runtime.workloads import WorkloadShape, builds_on, workload_shape


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
        m, k, n, _ = p
        return {
            "a": np.frombuffer(inputs["a"], np.int8).reshape(m, k),
            "b": np.frombuffer(inputs["b"], np.int8).reshape(k, n),
        }
    if spec.workload == "qmlp_i8":
        return {
            "x": np.frombuffer(inputs["x"], np.int8).reshape(p[0], p[2]),
            "layers": parse_model(p[2:], inputs["model"]),
        }
    samples, features, outputs = p[0], p[1], p[2]
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


# The whole job (the worker)


def compute_leaves(
    spec: JobSpec, inputs: Mapping[str, bytes], *, device: str = "auto"
) -> list[bytes]:
    """Every result leaf of a job, in order."""
    kernels = backend(device)
    arrays = _arrays(spec, inputs)
    p = spec.params
    if spec.workload == "gemm_i8":
        c = kernels.gemm(arrays["a"], arrays["b"])
        return [_leaf(c[rows]) for rows in _blocks(p[0], p[3])]
    if spec.workload == "qmlp_i8":
        accs = kernels.qmlp(arrays["x"], arrays["layers"])
        return [_leaf(acc[rows]) for acc in accs for rows in _blocks(p[0], p[1])]
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
    weights for sgd_fxp."""
    check_leaf_sizes(spec, leaves)
    p = spec.params
    if spec.workload == "gemm_i8":
        return [np.frombuffer(b"".join(leaves), "<i4").astype(np.int32).reshape(p[0], p[2])]
    if spec.workload == "qmlp_i8":
        per_layer = _block_count(p[0], p[1])
        return [
            np.frombuffer(b"".join(leaves[j * per_layer : (j + 1) * per_layer]), "<i4")
            .astype(np.int32)
            .reshape(p[0], width)
            for j, width in enumerate(p[3:])
        ]
    return [_int32(leaf, p[1], p[2], f"step {t}") for t, leaf in enumerate(leaves)]


# One leaf (the verifiers)


class InputBytes(Protocol):
    """An input as recomputing a leaf reads it: its length and byte slices. `bytes`, or a reader
    that holds or fetches only the slices asked for (`chain.service.input_slices`)."""

    def __len__(self) -> int: ...

    def __getitem__(self, key: slice, /) -> bytes: ...


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


def leaf_input_ranges(spec: JobSpec, index: int) -> dict[str, tuple[int, int]]:
    """The byte range of each input that recomputing leaf `index` reads."""
    _check_index(spec, index)
    sizes = {input_.name: input_.size for input_ in spec.shape.inputs}
    p = spec.params
    if spec.workload == "gemm_i8":
        rows = _block(p[0], p[3], index)
        return {"a": (rows.start * p[1], rows.stop * p[1]), "b": (0, sizes["b"])}
    if spec.workload == "qmlp_i8":
        _, rows, _ = _qmlp_position(spec, index)
        return {"x": (rows.start * p[2], rows.stop * p[2]), "model": (0, sizes["model"])}
    return {"x": (0, sizes["x"]), "y": (0, sizes["y"])}


GENERATED_SLICES: Final = 3
"""Generated input slices kept for the next leaf of the same job: a check recomputes several
leaves that read the same B, model, or x and y."""


@functools.lru_cache(maxsize=GENERATED_SLICES)
def _generated_slice(
    workload: str, params: tuple[int, ...], name: str, seed: int, start: int, stop: int
) -> bytes:
    return generate_input_range(workload, params, name, seed, start, stop)


def _leaf_inputs(spec: JobSpec, inputs: Mapping[str, InputBytes], index: int) -> dict[str, bytes]:
    """The slices of the inputs leaf `index` reads: cut from `inputs`, or generated from the
    seed for an input the caller did not pass."""
    sizes = {input_.name: input_.size for input_ in spec.shape.inputs}
    for name, data in inputs.items():
        if name not in sizes:
            raise InputError(f"{spec.workload} takes inputs {sorted(sizes)}, not {name!r}")
        if len(data) != sizes[name]:
            raise InputError(
                f"input {name!r} of {spec.workload} {list(spec.params)} must be "
                f"{sizes[name]} bytes, not {len(data)}"
            )
    slices: dict[str, bytes] = {}
    for name, (start, stop) in leaf_input_ranges(spec, index).items():
        given = inputs.get(name)
        slices[name] = (
            given[start:stop]
            if given is not None
            else _generated_slice(spec.workload, spec.params, name, spec.seed, start, stop)
        )
    return slices


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
    checked_dependencies(spec, index, deps)
    kernels = backend(device)
    data = _leaf_inputs(spec, inputs, index)
    p = spec.params
    if spec.workload == "gemm_i8":
        _, k, n, _ = p
        a_rows = np.frombuffer(data["a"], np.int8).reshape(-1, k)
        return _leaf(kernels.gemm(a_rows, np.frombuffer(data["b"], np.int8).reshape(k, n)))
    if spec.workload == "qmlp_i8":
        layer, rows, _ = _qmlp_position(spec, index)
        layers = parse_model(p[2:], data["model"])
        x_rows: I8 = np.frombuffer(data["x"], np.int8).reshape(rows.stop - rows.start, p[2])
        return _leaf(kernels.qmlp(x_rows, layers[: layer + 1])[-1])
    samples, features, outputs, batch, steps, frac_bits, lr_shift = p
    order = batch_order_rows(spec.seed, samples, batch, steps, index, index + 1)
    start = _sgd_start(spec, index, deps)
    x: I8 = np.frombuffer(data["x"], np.int8).reshape(samples, features)
    y: I16 = np.frombuffer(data["y"], "<i2").astype(np.int16).reshape(samples, outputs)
    (weights,) = kernels.sgd(x, y, order, frac_bits, lr_shift, start=start)
    return _leaf(weights)


__all__ = [
    "InputBytes",
    "JobSpec",
    "check_leaf_sizes",
    "checked_dependencies",
    "compute_leaves",
    "leaf_dependencies",
    "leaf_input_ranges",
    "recompute_leaf",
    "result_arrays",
]
