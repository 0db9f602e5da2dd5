"""The workloads on an NVIDIA GPU: Numba @cuda.jit kernels, bit-exact with gpu_worker.reference.

Each public function takes and returns NumPy arrays, like gpu_worker.reference: it copies its
inputs to the GPU, launches, and copies the result back. Kernels are compiled at their first
launch, so importing this module needs no GPU.

gemm_i8 (and each qmlp_i8 layer, the same kernel with the bias added) is a shared-memory tiled
matrix product: a block of THREADS×THREADS threads computes a TILE×TILE tile of C, each thread
PER_THREAD×PER_THREAD outputs spaced THREADS apart (so a warp reads shared memory without bank
conflicts), stepping through K in slices of K_TILE that the block stages in shared memory as
int32. Accumulation is int32, exact for K ≤ 131,071 and modulo 2^32 in any case, which is what
the reference's int64-then-int32 cast gives. Requantization and sgd_fxp run in int64 as the
reference writes them; an SGD step is two launches (the errors of the batch, then the gradient
and the update of every weight), with the weights kept on the GPU across steps.

Under Numba's CUDA simulator (NUMBA_ENABLE_CUDASIM=1), which runs every GPU thread as a Python
thread, the tiles are smaller so tests stay fast; the code and the arithmetic are the same.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Final

import numba
import numpy as np
from numba import cuda as numba_cuda

from gpu_worker.inputs import I8, I16, I32, I64, QmlpLayer
from gpu_worker.kernels.arguments import (
    I32_MAX,
    I32_MIN,
    check_product,
    check_requantization,
    int8_matrix,
    layer_arrays,
    sgd_arguments,
)
from gpu_worker.kernels.cuda_blake3 import device_hasher, key_words

SIMULATOR: Final = bool(getattr(numba.config, "ENABLE_CUDASIM", 0))
THREADS: Final = 4 if SIMULATOR else 16
"""Threads along each side of a block."""
PER_THREAD: Final = 2 if SIMULATOR else 4
"""Outputs along each side that one thread computes."""
TILE: Final = THREADS * PER_THREAD
"""Rows and columns of C per block: 64 on a GPU."""
K_TILE: Final = 4 if SIMULATOR else 32
"""Elements of K staged in shared memory per step."""
BANDS: Final = 8
"""Bands `gpu_worker.committing` cuts a job into on a GPU: the host hashes band i while the GPU
computes band i + 1, so only the last band's hashing adds to the job's time."""
HASH_ON_DEVICE: Final = True
"""`gpu_worker.committing` has each band's leaves hashed on the GPU (`cuda_blake3`): from the
host a leaf costs a 1.5 to 2 µs call that holds the GIL, more than the GPU's work on a small
tile; on the GPU it is one thread's work, and only 32 bytes a leaf come back."""
HASH_THREADS: Final = 8 if SIMULATOR else 128
"""Threads per block of the leaf-hashing kernel (a leaf a thread)."""
MIN_BAND_ROWS: Final = 4 * TILE
"""Rows per band (`gemm_bands`) below which a band's launch leaves a large GPU's
multiprocessors idle: 256 rows of 1,024 columns are 64 blocks."""

cuda: Any = numba_cuda
"""numba.cuda, untyped: its kernel API (threadIdx, shared, syncthreads) is made at run time."""
_jit: Any = cuda.jit


# Kernels


def _gemm_bias_kernel(a: Any, b: Any, bias: Any, out: Any) -> None:
    """out = a·b + bias, one TILE×TILE tile of out per block."""
    m, k = a.shape
    n = b.shape[1]
    tx = cuda.threadIdx.x
    ty = cuda.threadIdx.y
    row0 = cuda.blockIdx.y * TILE
    col0 = cuda.blockIdx.x * TILE
    tid = ty * THREADS + tx
    sa = cuda.shared.array((TILE, K_TILE), np.int32)
    sb = cuda.shared.array((K_TILE, TILE), np.int32)
    acc = cuda.local.array((PER_THREAD, PER_THREAD), np.int32)
    for r in range(PER_THREAD):
        for c in range(PER_THREAD):
            acc[r, c] = 0
    for k0 in range(0, k, K_TILE):
        for e in range(tid, TILE * K_TILE, THREADS * THREADS):
            r = e // K_TILE
            q = e - r * K_TILE
            i = row0 + r
            p = k0 + q
            sa[r, q] = a[i, p] if i < m and p < k else 0
        for e in range(tid, K_TILE * TILE, THREADS * THREADS):
            q = e // TILE
            c = e - q * TILE
            p = k0 + q
            j = col0 + c
            sb[q, c] = b[p, j] if p < k and j < n else 0
        cuda.syncthreads()
        for q in range(K_TILE):
            for r in range(PER_THREAD):
                x = sa[ty + r * THREADS, q]
                for c in range(PER_THREAD):
                    acc[r, c] = np.int32(acc[r, c] + x * sb[q, tx + c * THREADS])
        cuda.syncthreads()
    for r in range(PER_THREAD):
        i = row0 + ty + r * THREADS
        for c in range(PER_THREAD):
            j = col0 + tx + c * THREADS
            if i < m and j < n:
                out[i, j] = np.int32(acc[r, c] + bias[j])


def _requantize_kernel(acc: Any, mult: Any, shift: Any, out: Any) -> None:
    """out = clamp((acc·mult + 2^(shift−1)) >> shift, 0, 127), one element per thread."""
    j, i = cuda.grid(2)
    if i < acc.shape[0] and j < acc.shape[1]:
        v = (np.int64(acc[i, j]) * mult + (np.int64(1) << (shift - 1))) >> shift
        out[i, j] = min(max(v, 0), 127)


def _sgd_errors_kernel(x: Any, y: Any, rows: Any, w: Any, frac_bits: Any, err: Any) -> None:
    """err[b, o] = clamp(x[rows[b]]·w[:, o] − y[rows[b], o]·2^frac_bits) to int32."""
    o, b = cuda.grid(2)
    if b < rows.shape[0] and o < w.shape[1]:
        r = rows[b]
        pred = np.int64(0)
        for f in range(x.shape[1]):
            pred += np.int64(x[r, f]) * np.int64(w[f, o])
        e = pred - (np.int64(y[r, o]) << frac_bits)
        err[b, o] = min(max(e, I32_MIN), I32_MAX)


def _sgd_update_kernel(
    x: Any, rows: Any, err: Any, half: Any, lr_shift: Any, w: Any, out: Any, t: Any
) -> None:
    """w[f, o] = clamp(w − ((Σ_b x[rows[b], f]·err[b, o] + half) >> lr_shift)); out[t] = w."""
    o, f = cuda.grid(2)
    if f < w.shape[0] and o < w.shape[1]:
        grad = np.int64(0)
        for b in range(rows.shape[0]):
            grad += np.int64(x[rows[b], f]) * np.int64(err[b, o])
        v = np.int64(w[f, o]) - ((grad + half) >> lr_shift)
        v = min(max(v, I32_MIN), I32_MAX)
        w[f, o] = v
        out[t, f, o] = v


def _tiles_kernel(c: Any, row_block: Any, col_block: Any, out: Any) -> None:
    """out (flat) = c laid out as gemm_i8's tile leaves: tiles of row_block×col_block (smaller
    at the edges), tile-major, each tile row-major; one element per thread."""
    j, i = cuda.grid(2)
    m, n = c.shape
    if i < m and j < n:
        r = i // row_block
        t = j // col_block
        height = min(row_block, m - r * row_block)
        width = min(col_block, n - t * col_block)
        base = r * row_block * n + t * col_block * height
        out[base + (i - r * row_block) * width + (j - t * col_block)] = c[i, j]


_gemm_bias = _jit(_gemm_bias_kernel)
_requantize = _jit(_requantize_kernel)
_tiles = _jit(_tiles_kernel)
_sgd_errors = _jit(_sgd_errors_kernel)
_sgd_update = _jit(_sgd_update_kernel)


# Host wrappers


def _blocks(rows: int, cols: int, side: int) -> tuple[int, int]:
    """Blocks of side×side covering rows×cols, as CUDA's (x = columns, y = rows)."""
    return (-(-cols // side), -(-rows // side))


def _gemm_bias_on_device(d_a: Any, d_b: Any, d_bias: Any, m: int, n: int) -> Any:
    d_out = cuda.device_array((m, n), np.int32)
    if m and n:
        _gemm_bias[_blocks(m, n, TILE), (THREADS, THREADS)](d_a, d_b, d_bias, d_out)
    return d_out


def gemm(a: I8, b: I8) -> I32:
    """C = A·B with int32 accumulation (exact for K ≤ 131,071)."""
    a, b = int8_matrix(a, "a"), int8_matrix(b, "b")
    check_product(a.shape, b.shape)
    m, n = a.shape[0], b.shape[1]
    if not (m and n):
        return np.zeros((m, n), np.int32)
    bias = cuda.to_device(np.zeros(n, np.int32))
    d_out = _gemm_bias_on_device(cuda.to_device(a), cuda.to_device(b), bias, m, n)
    out: I32 = d_out.copy_to_host()
    return out


@dataclass(frozen=True)
class LeafHashing:
    """One layer's leaves to hash on the GPU as its bands are computed: each leaf's byte offset
    and length in the layer's result laid out in leaf order (ascending offsets), and the host
    array (leaves × 32 bytes) their hashes are copied back into with the band."""

    starts: np.ndarray
    lengths: np.ndarray
    out: np.ndarray


class _Streamed:
    """Bands computed on one CUDA stream and copied back to pinned host memory on another, so
    that band i's copy overlaps band i + 1's kernel; the host waits for each band in turn.
    With LeafHashing, each band's leaves are hashed on the GPU after its kernel and only their
    hashes come back with it."""

    def __init__(self, hashing: Sequence[LeafHashing] | None = None) -> None:
        self.compute = cuda.stream()
        self.copy = cuda.stream()
        self.copied: list[Any] = []
        self.hashing = list(hashing or [])
        self.key = cuda.to_device(key_words(), stream=self.compute) if self.hashing else None
        self.leaves = [
            (
                cuda.to_device(np.ascontiguousarray(h.starts, np.int64), stream=self.compute),
                cuda.to_device(np.ascontiguousarray(h.lengths, np.int64), stream=self.compute),
                cuda.device_array(h.out.shape, np.uint8, stream=self.compute),
            )
            for h in self.hashing
        ]

    def copy_back(
        self, d_part: Any, host_part: Any, layer: int = 0, d_result: Any = None, part: Any = None
    ) -> None:
        """Queue the copy of d_part to host_part once the kernels queued so far are done; with
        hashing, first hash on the GPU the leaves of `layer` lying in bytes `part` of d_result."""
        pairs = [(d_part, host_part)]
        if self.hashing and d_result is not None:
            hashing = self.hashing[layer]
            first = int(np.searchsorted(hashing.starts, part.start))
            last = int(np.searchsorted(hashing.starts, part.stop))
            if last > first:
                d_starts, d_lengths, d_hashes = self.leaves[layer]
                data = d_result.view(np.uint8).reshape(-1)
                blocks = -(-(last - first) // HASH_THREADS)
                device_hasher()[blocks, HASH_THREADS, self.compute](
                    data,
                    d_starts[first:last],
                    d_lengths[first:last],
                    self.key,
                    d_hashes[first:last],
                )
                pairs.append((d_hashes[first:last], hashing.out[first:last]))
        computed = cuda.event()
        computed.record(self.compute)
        computed.wait(self.copy)
        for d, host in pairs:
            if d.size:
                d.copy_to_host(host, stream=self.copy)
        copied = cuda.event()
        copied.record(self.copy)
        self.copied.append(copied)

    def finished(self, index: int) -> None:
        """Wait until the index-th queued copy is on the host."""
        self.copied[index].synchronize()


def _launch_gemm(streamed: _Streamed, d_a: Any, d_b: Any, d_bias: Any, d_out: Any) -> None:
    rows, cols = d_out.shape
    if rows and cols:
        grid = _blocks(rows, cols, TILE)
        _gemm_bias[grid, (THREADS, THREADS), streamed.compute](d_a, d_b, d_bias, d_out)


def gemm_bands(
    a: I8, b: I8, bands: Sequence[slice], *, hashing: Sequence[LeafHashing] | None = None
) -> tuple[I32, Iterator[slice]]:
    """C = A·B one band of rows at a time: C (in pinned host memory, filled as the iterator
    runs) and an iterator that yields each band of `bands` once its rows are on the host.

    Every band's kernel is queued at once; each band is copied back as soon as its kernel ends,
    while the GPU computes the next, so the host can hash band i while band i + 1 computes.
    """
    a, b = int8_matrix(a, "a"), int8_matrix(b, "b")
    check_product(a.shape, b.shape)
    m, n = a.shape[0], b.shape[1]
    out: I32 = cuda.pinned_array((m, n), np.int32)

    def run() -> Iterator[slice]:
        if not (m and n):
            out.fill(0)
            yield from bands
            return
        streamed = _Streamed(hashing)
        d_a = cuda.to_device(a, stream=streamed.compute)
        d_b = cuda.to_device(b, stream=streamed.compute)
        d_bias = cuda.to_device(np.zeros(n, np.int32), stream=streamed.compute)
        d_out = cuda.device_array((m, n), np.int32, stream=streamed.compute)
        for rows in bands:
            _launch_gemm(streamed, d_a[rows], d_b, d_bias, d_out[rows])
            part = slice(4 * n * rows.start, 4 * n * min(rows.stop, m))
            streamed.copy_back(d_out[rows], out[rows], 0, d_out, part)
        for index, rows in enumerate(bands):
            streamed.finished(index)
            yield rows

    return out, run()


def gemm_tile_bands(
    a: I8,
    b: I8,
    row_block: int,
    col_block: int,
    bands: Sequence[slice],
    *,
    hashing: Sequence[LeafHashing] | None = None,
) -> tuple[I32, Iterator[slice]]:
    """`gemm_bands` with C laid out as gemm_i8's tile leaves in one flat array (pinned host
    memory): each band is computed, laid out as tiles on the GPU and copied back while the next
    band computes. Each band is a whole number of rows of tiles."""
    a, b = int8_matrix(a, "a"), int8_matrix(b, "b")
    check_product(a.shape, b.shape)
    m, n = a.shape[0], b.shape[1]
    if row_block < 1 or col_block < 1:
        raise ValueError(f"tiles of {row_block}×{col_block} do not exist")
    out: I32 = cuda.pinned_array(m * n, np.int32)

    def run() -> Iterator[slice]:
        if not (m and n):
            yield from bands
            return
        streamed = _Streamed(hashing)
        stream = streamed.compute
        d_a = cuda.to_device(a, stream=stream)
        d_b = cuda.to_device(b, stream=stream)
        d_bias = cuda.to_device(np.zeros(n, np.int32), stream=stream)
        d_c = cuda.device_array((m, n), np.int32, stream=stream)
        d_flat = cuda.device_array(m * n, np.int32, stream=stream)
        for rows in bands:
            if rows.start % row_block:
                raise ValueError(f"band {rows} does not start at a row of tiles")
            stop = min(rows.stop, m)
            part = slice(rows.start * n, stop * n)
            _launch_gemm(streamed, d_a[rows], d_b, d_bias, d_c[rows])
            if stop > rows.start:
                grid = _blocks(stop - rows.start, n, THREADS)
                _tiles[grid, (THREADS, THREADS), stream](
                    d_c[rows], np.int64(row_block), np.int64(col_block), d_flat[part]
                )
            streamed.copy_back(
                d_flat[part], out[part], 0, d_flat, slice(4 * part.start, 4 * part.stop)
            )
        for index, rows in enumerate(bands):
            streamed.finished(index)
            yield rows

    return out, run()


def qmlp_bands(
    x: I8,
    layers: Sequence[QmlpLayer],
    bands: Sequence[slice],
    *,
    hashing: Sequence[LeafHashing] | None = None,
) -> tuple[list[I32], Iterator[tuple[int, slice]]]:
    """qmlp one band of rows at a time, through every layer before the next band: each
    layer's accumulators (pinned host memory, filled as the iterator runs) and an iterator
    that yields (layer, rows) once those accumulators are on the host."""
    x = int8_matrix(x, "x")
    rows_total = x.shape[0]
    arrays = [layer_arrays(layer) for layer in layers]
    width = x.shape[1]
    for (weights, _), layer in zip(arrays, layers, strict=True):
        if width != weights.shape[0]:
            raise ValueError(f"cannot multiply h of width {width} by weights {weights.shape}")
        check_requantization(layer)
        width = weights.shape[1]
    accs: list[I32] = [cuda.pinned_array((rows_total, w.shape[1]), np.int32) for w, _ in arrays]

    def run() -> Iterator[tuple[int, slice]]:
        streamed = _Streamed(hashing)
        stream = streamed.compute
        d_x = cuda.to_device(x, stream=stream)
        d_layers = [
            (cuda.to_device(w, stream=stream), cuda.to_device(bias, stream=stream))
            for w, bias in arrays
        ]
        d_accs = [cuda.device_array(acc.shape, np.int32, stream=stream) for acc in accs]
        d_hs = [cuda.device_array(acc.shape, np.int8, stream=stream) for acc in accs[:-1]]
        order: list[tuple[int, slice]] = []
        for rows in bands:
            d_h = d_x[rows]
            for j, layer in enumerate(layers):
                d_w, d_bias = d_layers[j]
                _launch_gemm(streamed, d_h, d_w, d_bias, d_accs[j][rows])
                width = accs[j].shape[1]
                part = slice(4 * width * rows.start, 4 * width * min(rows.stop, rows_total))
                streamed.copy_back(d_accs[j][rows], accs[j][rows], j, d_accs[j], part)
                order.append((j, rows))
                if j + 1 < len(layers):
                    d_h = d_hs[j][rows]
                    _launch_requantize(stream, d_accs[j][rows], layer, d_h)
        for index, finished in enumerate(order):
            streamed.finished(index)
            yield finished

    return accs, run()


def _launch_requantize(stream: Any, d_acc: Any, layer: QmlpLayer, d_out: Any) -> None:
    rows, cols = d_acc.shape
    if rows and cols:
        _requantize[_blocks(rows, cols, THREADS), (THREADS, THREADS), stream](
            d_acc, np.int64(layer.mult), np.int64(layer.shift), d_out
        )


def _layer_on_device(d_h: Any, rows: int, layer: QmlpLayer) -> Any:
    weights, bias = layer_arrays(layer)
    if d_h.shape[1] != weights.shape[0]:
        raise ValueError(f"cannot multiply h of shape {d_h.shape} by weights {weights.shape}")
    return _gemm_bias_on_device(
        d_h, cuda.to_device(weights), cuda.to_device(bias), rows, weights.shape[1]
    )


def qmlp_layer(h: I8 | I32, layer: QmlpLayer) -> I32:
    """One layer's accumulators acc = h·W + b (exact in int32 under the workload's limits)."""
    if h.ndim != 2:
        raise ValueError(f"h must be a matrix, not an array of shape {h.shape}")
    if h.dtype not in (np.int8, np.int32):
        raise ValueError(f"h must be int8 or int32, not {h.dtype}")
    d_h = cuda.to_device(np.ascontiguousarray(h))
    out: I32 = _layer_on_device(d_h, h.shape[0], layer).copy_to_host()
    return out


def _requantize_on_device(d_acc: Any, layer: QmlpLayer) -> Any:
    check_requantization(layer)
    rows, cols = d_acc.shape
    d_out = cuda.device_array((rows, cols), np.int8)
    if rows and cols:
        _requantize[_blocks(rows, cols, THREADS), (THREADS, THREADS)](
            d_acc, np.int64(layer.mult), np.int64(layer.shift), d_out
        )
    return d_out


def requantize(acc: I32, layer: QmlpLayer) -> I8:
    """The next layer's input: clamp((acc·mult + 2^(shift−1)) >> shift, 0, 127) in int64."""
    if acc.ndim != 2:
        raise ValueError(f"accumulators must be a matrix, not an array of shape {acc.shape}")
    d_acc = cuda.to_device(np.ascontiguousarray(acc, dtype=np.int32))
    out: I8 = _requantize_on_device(d_acc, layer).copy_to_host()
    return out


def qmlp(x: I8, layers: Sequence[QmlpLayer]) -> list[I32]:
    """Every layer's accumulators for a batch `x`; the last are the logits.

    The activations stay on the GPU from one layer to the next; each layer's accumulators are
    copied back as they are part of the result.
    """
    x = int8_matrix(x, "x")
    d_h = cuda.to_device(x)
    out: list[I32] = []
    for j, layer in enumerate(layers):
        d_acc = _layer_on_device(d_h, x.shape[0], layer)
        out.append(d_acc.copy_to_host())
        if j + 1 < len(layers):
            d_h = _requantize_on_device(d_acc, layer)
    return out


def sgd(
    x: I8, y: I16, order: I64, frac_bits: int, lr_shift: int, *, start: I32 | None = None
) -> list[I32]:
    """The weights after each step, from zero weights (or `start`), batches by `order`."""
    x, w0 = sgd_arguments(x, y, order, frac_bits, lr_shift, start)
    features, outputs = w0.shape
    steps, batch = order.shape
    if not (steps and features and outputs):
        return list(np.empty((steps, features, outputs), np.int32))
    d_x = cuda.to_device(x)
    d_y = cuda.to_device(np.ascontiguousarray(y))
    d_order = cuda.to_device(np.ascontiguousarray(order, dtype=np.int64))
    d_w = cuda.to_device(w0)
    d_err = cuda.device_array((max(batch, 1), outputs), np.int32)
    d_out = cuda.device_array((steps, features, outputs), np.int32)
    threads = (THREADS, THREADS)
    error_blocks = _blocks(batch, outputs, THREADS)
    update_blocks = _blocks(features, outputs, THREADS)
    frac = np.int64(frac_bits)
    shift = np.int64(lr_shift)
    half = np.int64(1 << (lr_shift - 1))
    for t in range(steps):
        rows = d_order[t]
        if batch:
            _sgd_errors[error_blocks, threads](d_x, d_y, rows, d_w, frac, d_err)
        _sgd_update[update_blocks, threads](d_x, rows, d_err, half, shift, d_w, d_out, t)
    weights: I32 = d_out.copy_to_host()
    return list(weights)


__all__ = [
    "SIMULATOR",
    "LeafHashing",
    "gemm",
    "gemm_bands",
    "gemm_tile_bands",
    "qmlp",
    "qmlp_bands",
    "qmlp_layer",
    "requantize",
    "sgd",
]
