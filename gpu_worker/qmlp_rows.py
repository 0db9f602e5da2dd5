"""A qmlp_i8 check's few rows of x carried through the layers on the CPU, and their leaves
hashed without leaf bytes.

An audit of a qmlp_i8 job recomputes a few rows (a leaf of layer j is its rows through layers
0..j). For so few rows the job's parallel kernels cost more to start than to run, so each
layer's product is the audit kernel's (`kernels.audit_cpu`: W read as stored, rows in tiles of
CHECK_ROWS) and the requantization runs in groups on this thread; `jobs.recompute_leaves` and
`jobs.recompute_leaf_hashes` call it through `jobs`, which reads the rows and the model.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final, NamedTuple

import numpy as np

from gpu_worker import tile_threads
from gpu_worker.inputs import I8, I32, QmlpLayer, parse_model
from gpu_worker.kernels.arguments import check_requantization
from gpu_worker.tile_threads import cores, spread_for
from runtime.primitives.merkle import HASH_LEN, LEAF_KEY, leaf_hash


def _leaf(array: np.ndarray) -> bytes:
    return np.ascontiguousarray(array, dtype="<i4").tobytes()


PARSED_MODELS: Final = 2
"""Parsed qmlp_i8 models kept for the next check of the same model (parsing costs about 45 µs,
a tenth of an audit of 16 leaves at n = 1,024)."""
_parsed: dict[tuple[int, tuple[int, ...]], tuple[bytes, list[QmlpLayer]]] = {}


def parsed_model(dims: tuple[int, ...], model: bytes) -> list[QmlpLayer]:
    """`parse_model(dims, model)`, kept while `model` (immutable bytes, held here, so its id
    names it) is among the last PARSED_MODELS parsed. The weights are read-only views of the
    bytes; the biases stay writable arrays (a kernel's signature includes its arrays'
    writability, and a new one costs a compilation), which no caller writes."""
    key = (id(model), dims)
    kept = _parsed.get(key)
    if kept is not None and kept[0] is model:
        return kept[1]
    layers = parse_model(dims, model)
    while len(_parsed) >= PARSED_MODELS:
        del _parsed[next(iter(_parsed))]
    _parsed[key] = (model, layers)
    return layers


CHECK_ROWS: Final = 16
"""Rows of x a tile of a qmlp_i8 check's layer product holds: the audit kernel multiplies 16
rows at a time against one quad of W's rows where the target has VNNI (16 rows of a 1,024-wide
layer: 80 µs as one tile, 96 as two of 8)."""


class Carried(NamedTuple):
    """A check's rows carried through the layers: each layer's accumulators (rows × width)
    and, where they lie end to end in one buffer (the CPU's few-row path), that buffer and each
    layer's first word in it (else None and no starts)."""

    accs: list[I32]
    flat: I32 | None
    starts: tuple[int, ...]


def carry_rows(
    x: I8, layers: Sequence[Any], kernels: Any, counts: Sequence[int] | None = None
) -> Carried:
    """`kernels.qmlp(x, layers)`, layer j for the first counts[j] rows of x only where counts
    are given (not rising: the rows a later layer needs come first; all rows by default, and
    on the job's kernels). On the CPU, for a check's few rows, each layer's product by
    the audit kernel (`audit_cpu`: W read as stored, no transposed copy; rows in tiles of
    CHECK_ROWS, or of 8 shared among the tile threads where the work pays for a second thread:
    qmlp_i8 at n = 2,048, not at 1,024),
    the bias and the requantization in one compiled call on this thread: no Numba parallel
    launch; the layers' accumulators end to end in one buffer.
    Measured for 16 rows of qmlp_i8 n = 1,024 on the loaded 2-core machine: the parallel
    kernels' start and join stalled to a median of 76 ms a call (a thread of theirs waiting for
    a core; 0.3 ms when they did not), the few-row kernels in groups on the tile threads took
    1.5 ms, the audit kernel 0.7–0.8 ms on one thread."""
    few = getattr(kernels, "FEW_ROWS", 0) if kernels.__name__.endswith(".cpu") else 0
    if not few or x.shape[0] > few * cores() * 4:
        return Carried(kernels.qmlp(x, layers), None, ())
    from gpu_worker.kernels import audit_cpu  # Numba and LLVM load only where a CPU audits

    h = np.ascontiguousarray(x)
    needed = [h.shape[0]] * len(layers) if counts is None else list(counts)
    for j, layer in enumerate(layers):  # rows the kernel pads to anyway, where there are some
        worth = audit_cpu.rows_worth(needed[j], layer.weights.size)
        needed[j] = min(worth, needed[j - 1] if j else h.shape[0])
    widths = [layer.weights.shape[1] for layer in layers]
    starts = [0]
    for rows, width in zip(needed, widths, strict=True):
        starts.append(starts[-1] + rows * width)
    flat = np.empty(starts[-1], np.int32)
    out: list[I32] = []
    for j, layer in enumerate(layers):
        last = j + 1 == len(layers)
        if not last:
            check_requantization(layer)
        rows, width = needed[j], widths[j]
        h = h[:rows]
        weights = np.ascontiguousarray(layer.weights)
        bias = np.ascontiguousarray(layer.bias, dtype=np.int32)
        acc = flat[starts[j] : starts[j + 1]].reshape(rows, width)
        out.append(acc)
        depth = audit_cpu.tile_weight(h.shape[1])
        shares = min(cores(), rows * width * depth // tile_threads.SPREAD_MIN_TERMS)
        if rows <= CHECK_ROWS and shares < 2:  # one tile, one thread: one compiled call
            h = audit_cpu.layer_rows(h, weights, bias, layer.mult, layer.shift, not last, acc)
            continue
        # Rows in tiles of CHECK_ROWS, or of BLOCK_ROWS where the work pays for more threads.
        step = audit_cpu.BLOCK_ROWS if shares > 1 else CHECK_ROWS
        tiles = [(r, min(r + step, rows), 0, width) for r in range(0, rows, step)]
        acc[:] = audit_cpu.gemm_tiles_flat(h, weights, tiles, spread_for(depth)).reshape(acc.shape)
        h = audit_cpu.biased(acc, bias, layer.mult, layer.shift, not last)
    return Carried(out, flat, tuple(starts[:-1]))


def carried_leaf_hashes(
    carried: Carried, places: Sequence[tuple[int, int, int]], row_block: int
) -> list[bytes]:
    """`leaf_hash` of each leaf at (layer, first row, stop) of `places`: where the layers lie
    in one buffer, every leaf hashed where it lies in one compiled call
    (`blake3_tiles.leaf_hashes_at`: 16 BLAKE3 chunks side by side, leaves of any length), else
    `gathered_leaf_hashes`."""
    if carried.flat is None or not places:
        return gathered_leaf_hashes(carried.accs, places, row_block)
    from gpu_worker.kernels.blake3_tiles import leaf_hashes_at

    widths = [acc.shape[1] for acc in carried.accs]
    starts = [carried.starts[layer] + first * widths[layer] for layer, first, _ in places]
    sizes = [(stop - first) * widths[layer] for layer, first, stop in places]
    ones = np.ones(len(places), np.int64)
    words = np.array(sizes, np.int64)
    joined = leaf_hashes_at(
        carried.flat, np.array(starts, np.int64), ones, words, words, LEAF_KEY
    ).tobytes()
    return [joined[at : at + HASH_LEN] for at in range(0, len(joined), HASH_LEN)]


def gathered_leaf_hashes(
    accs: Sequence[I32], places: Sequence[tuple[int, int, int]], row_block: int
) -> list[bytes]:
    """`leaf_hash` of each leaf at (layer, first row, stop) of `places` in the layers'
    accumulators `accs`: the leaves of a whole row block and of one width (whatever their
    layer) gathered end to end and hashed in one compiled call (`run_hashes`: 16 BLAKE3 chunks
    side by side), no leaf bytes made; a short last row block on its own."""
    from gpu_worker.kernels.blake3_tiles import run_hashes

    hashes: list[bytes] = [b""] * len(places)
    by_width: dict[int, tuple[list[int], list[I32]]] = {}
    for i, (layer, first, stop) in enumerate(places):
        acc = accs[layer]
        if stop - first == row_block:
            which, parts = by_width.setdefault(acc.shape[1], ([], []))
            which.append(i)
            parts.append(acc[first:stop])
        else:
            hashes[i] = leaf_hash(_leaf(acc[first:stop]))
    for width, (which, parts) in by_width.items():
        joined = run_hashes(np.concatenate(parts).reshape(-1), row_block * width, LEAF_KEY)
        for n, i in enumerate(which):
            hashes[i] = joined[n * HASH_LEN : (n + 1) * HASH_LEN]
    return hashes
