"""The workloads on the CPU: Numba @njit kernels, bit-exact with gpu_worker.reference.

gemm_i8 is the hot path. C = A·B is computed as dot products of rows of A against rows of a
contiguous copy of Bᵀ, in tiles of 16 rows × 64 columns run in parallel, each tile in blocks of
2 rows × 4 columns whose 8 dot products share their loads, and K in slices that keep a tile's Bᵀ
rows in the L2 cache. The block is written in LLVM IR: on x86 with AVX2 it multiplies with
`vpmaddwd` (16 int16 products summed in pairs into 8 int32 lanes per instruction), the
instruction int8 GEMM libraries use there; elsewhere it is the same arithmetic in portable
vector IR. Accumulation is int32, exact for K ≤ 131,071 (|a·b| ≤ 2^14); sums are modulo 2^32
in any case, which is what the reference's int64-then-int32 cast gives, so the bits always match.

qmlp_i8 layers reuse the gemm kernel with the bias added; requantization and sgd_fxp run in int64
exactly as the reference writes them.

Parallel kernels run on Numba's default threading layer (OpenMP where present): on the 2-core
development machine it started short parallel calls in about 30 µs, four times faster than
`workqueue`, and unlike `workqueue` it accepts parallel calls from several threads at once.
Kernels are compiled at their first call (a few seconds) and cached next to this module.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Final, TypeVar, cast

import numba
import numpy as np
from numba import prange

from gpu_worker.inputs import I8, I16, I32, I64, QmlpLayer
from gpu_worker.kernels import kernel_cache  # noqa: F401  (stamps the kernels' cache)
from gpu_worker.kernels.arguments import (
    I32_MAX,
    I32_MIN,
    check_product,
    check_requantization,
    int8_matrix,
    layer_arrays,
    read_only,
    run_layers,
    sgd_arguments,
)
from gpu_worker.kernels.blake3_tiles import (
    LeafHashing,
    _chunk_counts,
    _chunk_owners,
    _hash_task,
    band_leaves,
    leaf_hashes_at,
)
from gpu_worker.kernels.int8_blocks import (
    LANES,
    _dot_1x1,
    _dot_1x4,
    _dot_2x1,
    _dot_2x4,
    _transpose_16x16,
)
from gpu_worker.kernels.llvm_ir import AVX2
from runtime.primitives.merkle import LEAF_KEY

TILE_ROWS: Final = 16
TILE_COLS: Final = 64
K_SLICE: Final = 2048
"""K per pass over a tile: 64 rows of Bᵀ × 2048 bytes = 128 KiB stay in L2."""
SGD_SLICE: Final = 128
"""Features per parallel task of an SGD gradient: its int64 sums stay in L1 for few outputs."""
TRANSPOSED_BYTES: Final = 64 * 1024 * 1024
"""Transposed job inputs kept for the next product with the same matrix: at most this many
bytes, counting the inputs they keep alive."""
FEW_ROWS: Final = 8
"""Products of at most this many rows (a verifier's leaf, a qmlp row block) stream B as it is
stored: transposing B for the tiled kernel costs as much as multiplying ten or more of its rows."""
BANDS: Final = 1
"""Bands `gpu_worker.committing` cuts a job into on the CPU: one. The kernel holds every core,
so hashing a band while the next computes only moves the hashing onto cores the kernel needs;
and on the shared 2-core machine each parallel call of a band waited for its slowest thread
(8 bands: the job took 1.5 to 4 times as long; 1 band and the leaves hashed on every core:
the kernel plus the hashing alone)."""
HASH_WHILE_COMPUTING: Final = False
"""Whether `gpu_worker.committing` hashes finished leaves while the kernel goes on (a qmlp_i8
layer's while the next layer computes): not on the CPU, for the same reason."""
HASH_IN_KERNEL: Final = True
"""Whether `gpu_worker.committing` has the kernel hash the leaves (`LeafHashing`): each task
computes a few tiles of one column of tiles (or a few whole rows) and hashes them at once,
while they are in its core's cache, so the product and its leaves' hashes are one parallel
call with no second pass over the result (which came back from memory: hashing a result
evicted from the cache took 1.16 ms for 4 MiB against 0.82 ms for one in it). Leaves that
are not the product's tiles, and products of FEW_ROWS rows, are hashed after the product."""
MIN_BAND_ROWS: Final = 32
"""Rows below which a band (`gemm_bands`) makes a parallel call too short to pay its start."""
SERIAL_WORK: Final = 1 << 17
"""Multiply-adds below which an SGD step runs on one thread: starting the others costs more."""

_F = TypeVar("_F", bound=Callable[..., Any])


def _kernel(*, parallel: bool = False) -> Callable[[_F], _F]:
    """numba.njit with the project's settings: cached on disk, no Python fallback."""
    return cast(Callable[[_F], _F], numba.njit(cache=True, parallel=parallel, nogil=True))


# gemm and the qmlp layer


@_kernel()
def _clamp(v: Any, lo: int, hi: int) -> Any:
    return min(max(v, lo), hi)


@_kernel(parallel=True)
def _transpose_i8(b: I8) -> I8:
    """Bᵀ, contiguous: 16×16 blocks through vector registers, strips of 64 columns in parallel."""
    k, n = b.shape
    bt = np.empty((n, k), np.int8)
    k16 = k - k % 16
    n16 = n - n % 16
    for strip in prange((n16 + 63) // 64):
        j0 = strip * 64
        j1 = min(j0 + 64, n16)
        for p in range(0, k16, 16):
            for j in range(j0, j1, 16):
                _transpose_16x16(b, p, j, bt)
    for p in range(k16, k):
        for j in range(n):
            bt[j, p] = b[p, j]
    for j in range(n16, n):
        for p in range(k16):
            bt[j, p] = b[p, j]
    return bt


@_kernel()
def _gemm_tile(
    a: I8, bt: I8, bias: I32, out: I32, i0: int, i1: int, j0: int, j1: int, kv: int
) -> None:
    k = a.shape[1]
    # Bias and the last K % LANES products first, then the vector slices on top.
    for i in range(i0, i1):
        for j in range(j0, j1):
            acc = np.int32(bias[j])
            for p in range(kv, k):
                acc = np.int32(acc + np.int32(a[i, p]) * np.int32(bt[j, p]))
            out[i, j] = acc
    for p0 in range(0, kv, K_SLICE):
        p1 = min(p0 + K_SLICE, kv)
        i = i0
        while i < i1:
            if i + 2 <= i1:
                j = j0
                while j + 4 <= j1:
                    r = _dot_2x4(a, bt, i, j, p0, p1)
                    out[i, j] += r[0]
                    out[i, j + 1] += r[1]
                    out[i, j + 2] += r[2]
                    out[i, j + 3] += r[3]
                    out[i + 1, j] += r[4]
                    out[i + 1, j + 1] += r[5]
                    out[i + 1, j + 2] += r[6]
                    out[i + 1, j + 3] += r[7]
                    j += 4
                while j < j1:
                    s = _dot_2x1(a, bt, i, j, p0, p1)
                    out[i, j] += s[0]
                    out[i + 1, j] += s[1]
                    j += 1
                i += 2
            else:
                j = j0
                while j + 4 <= j1:
                    q = _dot_1x4(a, bt, i, j, p0, p1)
                    out[i, j] += q[0]
                    out[i, j + 1] += q[1]
                    out[i, j + 2] += q[2]
                    out[i, j + 3] += q[3]
                    j += 4
                while j < j1:
                    u = _dot_1x1(a, bt, i, j, p0, p1)
                    out[i, j] += u[0]
                    j += 1
                i += 1


@_kernel(parallel=True)
def _gemm_bias(a: I8, bt: I8, bias: I32, out: I32) -> None:
    """out = a·btᵀ + bias (int32, modulo 2^32), tiles in parallel."""
    m, k = a.shape
    n = bt.shape[0]
    kv = k - k % LANES
    row_tiles = (m + TILE_ROWS - 1) // TILE_ROWS
    col_tiles = (n + TILE_COLS - 1) // TILE_COLS
    for t in prange(row_tiles * col_tiles):
        i0 = (t // col_tiles) * TILE_ROWS
        j0 = (t % col_tiles) * TILE_COLS
        _gemm_tile(a, bt, bias, out, i0, min(i0 + TILE_ROWS, m), j0, min(j0 + TILE_COLS, n), kv)


@_kernel(parallel=True)
def _gemm_bias_leaves(a: I8, bt: I8, bias: I32, out: I32, rb: int, cb: int) -> None:
    """a·btᵀ + bias as gemm_i8's tile leaves, one after another in `out` (flat, m·n int32):
    tile (r, c) of rb×cb (smaller at the edges), tile-major, each tile row-major. A tile is a
    C-contiguous matrix of its own inside `out`, so the tiled kernel writes into it directly,
    in blocks of at most TILE_ROWS×TILE_COLS, with no copy; the tiles run in parallel."""
    m, k = a.shape
    n = bt.shape[0]
    kv = k - k % LANES
    row_tiles = (m + rb - 1) // rb
    col_tiles = (n + cb - 1) // cb
    for t in prange(row_tiles * col_tiles):
        r = t // col_tiles
        c = t % col_tiles
        r0 = r * rb
        c0 = c * cb
        height = min(rb, m - r0)
        width = min(cb, n - c0)
        base = r0 * n + c0 * height
        tile = out[base : base + height * width].reshape((height, width))
        rows = a[r0 : r0 + height]
        cols = bt[c0 : c0 + width]
        part = bias[c0 : c0 + width]
        for i0 in range(0, height, TILE_ROWS):
            for j0 in range(0, width, TILE_COLS):
                i1 = min(i0 + TILE_ROWS, height)
                j1 = min(j0 + TILE_COLS, width)
                _gemm_tile(rows, cols, part, tile, i0, i1, j0, j1, kv)


@_kernel(parallel=True)
def _gemm_bias_hashed(
    a: I8, bt: I8, bias: I32, out: I32, words: Any, rb: int, cb: int, group: int,
    starts: I64, heights: I64, sizes: I64, first: I64, owner: I64, key: Any, cvs: Any,
    hashes: Any,
) -> None:  # fmt: skip
    """`_gemm_bias_leaves` whose tasks hash the tiles they wrote (`words` is `out` as uint32)
    while they are in the core's cache: a task is `group` tiles of one column of tiles (one
    slice of Bᵀ read for all), or `group` · rb rows where a tile is whole rows (cb ≥ n). The
    leaves are listed column of tiles after column (tile (r, c) is leaf c · row_tiles + r):
    leaf i is out[starts[i] : starts[i] + sizes[i]]; its hash goes to hashes[8i : 8i + 8]."""
    m, k = a.shape
    n = bt.shape[0]
    kv = k - k % LANES
    row_tiles = (m + rb - 1) // rb
    col_tiles = (n + cb - 1) // cb
    groups = (row_tiles + group - 1) // group
    for t in prange(col_tiles * groups):
        c = t // groups
        r_first = (t % groups) * group
        r_last = min(r_first + group, row_tiles)
        if cb >= n:
            r0, r1 = r_first * rb, min(r_last * rb, m)
            block = out[r0 * n : r1 * n].reshape((r1 - r0, n))
            for i0 in range(0, r1 - r0, TILE_ROWS):
                for j0 in range(0, n, TILE_COLS):
                    i1, j1 = min(i0 + TILE_ROWS, r1 - r0), min(j0 + TILE_COLS, n)
                    _gemm_tile(a[r0:r1], bt, bias, block, i0, i1, j0, j1, kv)
        else:
            c0 = c * cb
            width = min(cb, n - c0)
            for r in range(r_first, r_last):
                r0 = r * rb
                height = min(rb, m - r0)
                base = r0 * n + c0 * height
                tile = out[base : base + height * width].reshape((height, width))
                for i0 in range(0, height, TILE_ROWS):
                    for j0 in range(0, width, TILE_COLS):
                        i1, j1 = min(i0 + TILE_ROWS, height), min(j0 + TILE_COLS, width)
                        _gemm_tile(
                            a[r0 : r0 + height], bt[c0 : c0 + width], bias[c0 : c0 + width],
                            tile, i0, i1, j0, j1, kv,
                        )  # fmt: skip
        _hash_task(
            words, starts, heights, sizes, sizes, first, owner, key, c * row_tiles + r_first,
            c * row_tiles + r_last, cvs, hashes,
        )  # fmt: skip


def _tile_sizes(m: int, n: int, rb: int, cb: int) -> I64:
    """The sizes (words) of the rb × cb tiles of an m × n product, tile-major."""
    heights = np.minimum(rb, m - np.arange(0, m, rb, dtype=np.int64))
    widths = np.minimum(cb, n - np.arange(0, n, cb, dtype=np.int64))
    sizes: I64 = np.outer(heights, widths).reshape(-1)
    return sizes


TILE_GROUP: Final = 16
"""Tiles of one column a task of `_gemm_bias_hashed` computes, then hashes: 16 tiles of
8 × 64 (n = 1,024) are 32 KiB, in the core's cache when hashed with its slice of Bᵀ."""
_KEY_WORDS: Final = np.frombuffer(LEAF_KEY, "<u4").astype(np.uint32)


def _product_hashed(
    a: I8, b: I8, bias: I32, part: I32, blocks: tuple[int, int] | None, hashing: LeafHashing,
    offset: int,
) -> None:  # fmt: skip
    """part (flat) = a·b + bias as `blocks` (rows, columns) tiles (None: by rows), each leaf
    hashed into hashing.out by the task that wrote it; `offset`: part's bytes in the layer's
    result. Few rows, or leaves that are not the product's tiles: computed, then hashed."""
    m, n = a.shape[0], b.shape[1]
    first, last, starts, sizes = band_leaves(hashing, offset, part.nbytes)
    rb, cb = blocks or ((int(sizes[0]) // n if len(sizes) and n else 0), n)
    tiled = bool(part.size) and rb >= 1 and np.array_equal(sizes, _tile_sizes(m, n, rb, cb))
    if m <= FEW_ROWS or not (tiled and np.array_equal(starts[1:], np.cumsum(sizes)[:-1])):
        product: I32 = np.empty((m, n), np.int32)
        _band_product(a, b, bias, product)(slice(0, m))
        layout_rows, layout_cols = blocks or (m, n)
        tiles_of(product, layout_rows, layout_cols, part)
        ones = np.ones_like(sizes)
        hashing.out[first:last] = leaf_hashes_at(part, starts, ones, sizes, sizes, LEAF_KEY)
        return
    # Leaves listed column of tiles after column: a task's tiles are consecutive leaves.
    row_tiles, col_tiles = -(-m // rb), -(-n // cb)
    order = np.arange(len(sizes)).reshape(row_tiles, col_tiles).T.reshape(-1)
    starts, sizes = starts[order], sizes[order]
    chunks = _chunk_counts(np.ones_like(sizes), sizes)
    owner = _chunk_owners(chunks)
    cvs = np.empty(8 * owner.shape[0], np.uint32)
    hashes = np.empty((col_tiles, row_tiles, 8), np.uint32)
    group = max(1, TILE_ROWS // rb) if cb >= n else TILE_GROUP
    _gemm_bias_hashed(
        a, _transposed(b), bias, part, part.view(np.uint32), rb, cb, group, starts,
        np.ones_like(sizes), sizes, chunks, owner, _KEY_WORDS, cvs, hashes.reshape(-1),
    )  # fmt: skip
    hashing.out[first:last] = hashes.transpose(1, 0, 2).reshape(-1, 8).view(np.uint8)


@_kernel(parallel=True)
def _matmul_bias_wide(h: I32, w: I8, bias: I32, out: I32) -> None:
    """out = h·w + bias for int32 h, accumulated in int64 and kept modulo 2^32."""
    m, k = h.shape
    n = w.shape[1]
    for i in prange(m):
        acc = np.zeros(n, np.int64)
        for p in range(k):
            x = np.int64(h[i, p])
            for j in range(n):
                acc[j] += x * np.int64(w[p, j])
        for j in range(n):
            out[i, j] = np.int32(acc[j] + np.int64(bias[j]))


_kept: OrderedDict[tuple[int, int, tuple[int, ...], tuple[int, ...]], tuple[bytes, I8]] = (
    OrderedDict()
)
_kept_lock = threading.Lock()


def _transposed(b: I8) -> I8:
    """Bᵀ for the gemm kernel, kept when B is a view of immutable bytes (a job's input).

    A validator auditing k leaves of a job multiplies a few rows of A by the same B k times, and
    transposing B costs as much as multiplying ten or more of its rows. The entry holds the bytes
    object, so its id cannot be reused by another while the entry lives; entries are dropped
    oldest first beyond TRANSPOSED_BYTES.
    """
    owner: Any = b
    while isinstance(owner, np.ndarray):
        owner = owner.base
    if not (isinstance(owner, bytes) and b.flags.c_contiguous):
        transposed: I8 = _transpose_i8(b)
        return transposed
    if len(owner) + b.nbytes > TRANSPOSED_BYTES:
        transposed = _transpose_i8(b)
        return transposed
    key = (id(owner), int(b.__array_interface__["data"][0]), b.shape, b.strides)
    with _kept_lock:
        hit = _kept.get(key)
        if hit is not None:
            _kept.move_to_end(key)
            return hit[1]
    bt: I8 = _transpose_i8(b)
    with _kept_lock:
        _kept[key] = (owner, bt)
        while sum(len(kept) + bt.nbytes for kept, bt in _kept.values()) > TRANSPOSED_BYTES:
            _kept.popitem(last=False)
    return bt


@_kernel()
def _gemm_bias_few_rows(a: I8, b: I8, bias: I32, out: I32) -> None:
    """out = a·b + bias for a few rows of a, streaming b once in its own layout (no transpose),
    on one thread (measured faster than the parallel loop for these shapes: the rows of b are
    read once, at memory speed). int32 sums wrap modulo 2^32, as the tiled kernel's results do."""
    m, k = a.shape
    n = b.shape[1]
    acc = np.zeros((m, n), np.int32)
    for p in range(k):
        for i in range(m):
            x = np.int32(a[i, p])
            for j in range(n):
                acc[i, j] += x * np.int32(b[p, j])
    for i in range(m):
        for j in range(n):
            out[i, j] = np.int32(np.int64(acc[i, j]) + np.int64(bias[j]))


def _gemm_plus(a: I8, b: I8, bias: I32) -> I32:
    check_product(a.shape, b.shape)
    out: I32 = np.empty((a.shape[0], b.shape[1]), np.int32)
    if not out.size:
        return out
    if a.shape[0] <= FEW_ROWS:
        _gemm_bias_few_rows(a, b, bias, out)
    else:
        _gemm_bias(a, _transposed(b), bias, out)
    return out


def gemm(a: I8, b: I8) -> I32:
    """C = A·B with int32 accumulation (exact for K ≤ 131,071)."""
    a, b = int8_matrix(a, "a"), int8_matrix(b, "b")
    return _gemm_plus(a, b, read_only(np.zeros(b.shape[1], np.int32)))


def _band_product(a: I8, b: I8, bias: I32, out: I32) -> Callable[[slice], None]:
    """A function that fills out[rows] = a[rows]·b + bias for one band of rows at a time."""
    if a.shape[0] <= FEW_ROWS:
        return lambda rows: _gemm_bias_few_rows(a[rows], b, bias, out[rows])
    bt = _transposed(b)
    return lambda rows: _gemm_bias(a[rows], bt, bias, out[rows])


def gemm_bands(
    a: I8, b: I8, bands: Sequence[slice], *, hashing: Sequence[LeafHashing] | None = None
) -> tuple[I32, Iterator[slice]]:
    """C = A·B computed one band of rows at a time: C (filled as the iterator runs) and an
    iterator that computes each band of `bands` in turn and yields it once its rows are final.

    Each band is one parallel call (about 30 µs to start), and the kernels release the GIL, so
    a caller can hash a finished band on another thread while the next one computes.
    """
    a, b = int8_matrix(a, "a"), int8_matrix(b, "b")
    check_product(a.shape, b.shape)
    out: I32 = np.empty((a.shape[0], b.shape[1]), np.int32)
    bias: I32 = read_only(np.zeros(b.shape[1], np.int32))
    n = b.shape[1]

    def run() -> Iterator[slice]:
        if not out.size:
            yield from bands
            return
        product = _band_product(a, b, bias, out)
        for rows in bands:
            if hashing:
                part = out[rows].reshape(-1)
                _product_hashed(a[rows], b, bias, part, None, hashing[0], 4 * rows.start * n)
            else:
                product(rows)
            yield rows

    return out, run()


def tiles_of(c: I32, row_block: int, col_block: int, out: I32) -> None:
    """Write matrix c into flat `out` as gemm_i8's tile leaves: tiles of row_block×col_block
    (smaller at the edges), tile-major, each tile row-major."""
    m, n = c.shape
    offset = 0
    for r0 in range(0, m, row_block):
        for c0 in range(0, n, col_block):
            tile = c[r0 : r0 + row_block, c0 : c0 + col_block]
            out[offset : offset + tile.size] = tile.reshape(-1)
            offset += tile.size


def gemm_tile_bands(
    a: I8,
    b: I8,
    row_block: int,
    col_block: int,
    bands: Sequence[slice],
    *,
    hashing: Sequence[LeafHashing] | None = None,
) -> tuple[I32, Iterator[slice]]:
    """`gemm_bands` with C laid out as gemm_i8's tile leaves (`tiles_of`) in one flat array, so
    each leaf is a contiguous part of it: the kernel writes every tile where its leaf lies, and
    no copy is made to encode or hash it. Each band is a whole number of rows of tiles."""
    a, b = int8_matrix(a, "a"), int8_matrix(b, "b")
    check_product(a.shape, b.shape)
    m, n = a.shape[0], b.shape[1]
    if row_block < 1 or col_block < 1:
        raise ValueError(f"tiles of {row_block}×{col_block} do not exist")
    out: I32 = np.empty(m * n, np.int32)
    bias: I32 = read_only(np.zeros(n, np.int32))

    def run() -> Iterator[slice]:
        bt = _transposed(b) if out.size and m > FEW_ROWS else b
        for rows in bands:
            if rows.start % row_block:
                raise ValueError(f"band {rows} does not start at a row of tiles")
            part = out[rows.start * n : min(rows.stop, m) * n]
            if hashing:
                blocks = (row_block, col_block)
                at = 4 * rows.start * n
                _product_hashed(a[rows], b, bias, part, blocks, hashing[0], at)
            elif part.size and m > FEW_ROWS:
                _gemm_bias_leaves(a[rows], bt, bias, part, row_block, col_block)
            elif part.size:
                band: I32 = np.empty((part.size // n, n), np.int32)
                _gemm_bias_few_rows(a[rows], b, bias, band)
                tiles_of(band, row_block, col_block, part)
            yield rows

    return out, run()


def qmlp_bands(
    x: I8,
    layers: Sequence[QmlpLayer],
    bands: Sequence[slice],
    *,
    hashing: Sequence[LeafHashing] | None = None,
) -> tuple[list[I32], Iterator[tuple[int, slice]]]:
    """qmlp one band of rows at a time, through every layer before the next band (a row's
    activations depend on that row alone): each layer's accumulators (filled as the iterator
    runs) and an iterator that yields (layer, rows) as those accumulators become final."""
    x = int8_matrix(x, "x")
    rows_total = x.shape[0]
    accs: list[I32] = []
    for layer in layers:
        weights, _ = layer_arrays(layer)
        check_requantization(layer)
        accs.append(np.empty((rows_total, weights.shape[1]), np.int32))

    def run() -> Iterator[tuple[int, slice]]:
        for rows in bands:
            h: I8 = x[rows]
            for j, layer in enumerate(layers):
                weights, bias = layer_arrays(layer)
                check_product(h.shape, weights.shape)
                out = accs[j][rows]
                if hashing:
                    at = 4 * rows.start * out.shape[1]
                    _product_hashed(h, weights, bias, out.reshape(-1), None, hashing[j], at)
                elif out.size:
                    local = slice(0, h.shape[0])
                    _band_product(h, weights, bias, out)(local)
                yield j, rows
                if j + 1 < len(layers):
                    h = read_only(requantize(out, layer))

    return accs, run()


def gemm_transposed(a: I8, bt: I8) -> I32:
    """C = A·Btᵀ, for a right-hand side already stored transposed (the kernel's own layout)."""
    a, bt = int8_matrix(a, "a"), int8_matrix(bt, "bt")
    if a.shape[1] != bt.shape[1]:
        raise ValueError(
            f"cannot multiply {a.shape[0]}×{a.shape[1]} by {bt.shape[1]}×{bt.shape[0]}"
        )
    out: I32 = np.empty((a.shape[0], bt.shape[0]), np.int32)
    if out.size:
        _gemm_bias(a, bt, read_only(np.zeros(bt.shape[0], np.int32)), out)
    return out


def qmlp_layer(h: I8 | I32, layer: QmlpLayer) -> I32:
    """One layer's accumulators acc = h·W + b (exact in int32 under the workload's limits)."""
    weights, bias = layer_arrays(layer)
    if h.dtype == np.int8:
        return _gemm_plus(int8_matrix(h, "h"), weights, bias)
    if h.ndim != 2 or h.shape[1] != weights.shape[0]:
        raise ValueError(f"cannot multiply h of shape {h.shape} by weights {weights.shape}")
    wide: I32 = read_only(np.ascontiguousarray(h, dtype=np.int32))
    if not np.array_equal(wide, h):
        raise ValueError(f"h must hold int8 or int32 values, not {h.dtype}")
    out: I32 = np.empty((h.shape[0], weights.shape[1]), np.int32)
    _matmul_bias_wide(wide, weights, bias, out)
    return out


@_kernel()
def requantize_value(acc: Any, mult: int, shift: int) -> Any:
    """clamp((acc·mult + 2^(shift−1)) >> shift, 0, 127) in int64, for use inside kernels."""
    v = (np.int64(acc) * mult + (np.int64(1) << (shift - 1))) >> shift
    return _clamp(v, 0, 127)


@_kernel(parallel=True)
def _requantize(acc: I32, mult: int, shift: int, out: I8) -> None:
    rows, cols = acc.shape
    for i in prange(rows):
        for j in range(cols):
            out[i, j] = requantize_value(acc[i, j], mult, shift)


@_kernel()
def _requantize_few_rows(acc: I32, mult: int, shift: int, out: I8) -> None:
    rows, cols = acc.shape
    for i in range(rows):
        for j in range(cols):
            out[i, j] = requantize_value(acc[i, j], mult, shift)


def requantize(acc: I32, layer: QmlpLayer) -> I8:
    """The next layer's input: clamp((acc·mult + 2^(shift−1)) >> shift, 0, 127) in int64."""
    if acc.ndim != 2:
        raise ValueError(f"accumulators must be a matrix, not an array of shape {acc.shape}")
    check_requantization(layer)
    out: I8 = np.empty(acc.shape, np.int8)
    # A few rows (a verifier's leaf) on one thread: starting the others costs more.
    kernel = _requantize_few_rows if acc.shape[0] <= FEW_ROWS else _requantize
    kernel(read_only(np.ascontiguousarray(acc, dtype=np.int32)), layer.mult, layer.shift, out)
    return out


def qmlp(x: I8, layers: Sequence[QmlpLayer]) -> list[I32]:
    """Every layer's accumulators for a batch `x`; the last are the logits."""
    return run_layers(x, layers, qmlp_layer, requantize)


# sgd_fxp


@_kernel(parallel=True)
def _sgd(x: I8, y: I16, order: I64, frac_bits: int, lr_shift: int, start: I32, out: I32) -> None:
    """out[t] = the weights after step t, from `start`; int64 arithmetic as in the reference.

    pred = X·W as dot products of sample rows against rows of Wᵀ; grad = Xᵀ·err as sums of
    sample rows scaled by their errors, in slices of SGD_SLICE features, so no transposed copy
    of the batch is needed.
    """
    steps, batch = order.shape
    features = x.shape[1]
    outputs = y.shape[1]
    wt = np.empty((outputs, features), np.int32)
    for f in range(features):
        for o in range(outputs):
            wt[o, f] = start[f, o]
    err = np.empty((batch, outputs), np.int32)
    half = np.int64(1) << (lr_shift - 1)
    slices = (features + SGD_SLICE - 1) // SGD_SLICE
    for t in range(steps):
        rows = order[t]
        for b in prange(batch):
            xr = x[rows[b]]
            yr = y[rows[b]]
            for o in range(outputs):
                wo = wt[o]
                pred = np.int64(0)
                for f in range(features):
                    pred += np.int64(xr[f]) * np.int64(wo[f])
                e = pred - (np.int64(yr[o]) << frac_bits)
                err[b, o] = _clamp(e, I32_MIN, I32_MAX)
        for s in prange(slices):
            f0 = s * SGD_SLICE
            f1 = min(f0 + SGD_SLICE, features)
            width = f1 - f0
            grad = np.zeros((outputs, width), np.int64)
            for b in range(batch):
                xr = x[rows[b], f0:f1]
                for o in range(outputs):
                    e = np.int64(err[b, o])
                    go = grad[o]
                    for f in range(width):
                        go[f] += np.int64(xr[f]) * e
            for f in range(width):
                for o in range(outputs):
                    updated = np.int64(wt[o, f0 + f]) - ((grad[o, f] + half) >> lr_shift)
                    value = _clamp(updated, I32_MIN, I32_MAX)
                    wt[o, f0 + f] = value
                    out[t, f0 + f, o] = value


def sgd(
    x: I8, y: I16, order: I64, frac_bits: int, lr_shift: int, *, start: I32 | None = None
) -> list[I32]:
    """The weights after each step, from zero weights (or `start`), batches by `order`."""
    x, w0 = sgd_arguments(x, y, order, frac_bits, lr_shift, start)
    features, outputs = w0.shape
    out: I32 = np.empty((order.shape[0], features, outputs), np.int32)
    threads = numba.get_num_threads()
    if 2 * order.shape[1] * features * outputs < SERIAL_WORK:
        numba.set_num_threads(1)
    try:
        _sgd(
            x,
            read_only(np.ascontiguousarray(y)),
            read_only(np.ascontiguousarray(order, dtype=np.int64)),
            frac_bits,
            lr_shift,
            w0,
            out,
        )
    finally:
        numba.set_num_threads(threads)
    return list(out)


__all__ = [
    "AVX2",
    "LeafHashing",
    "gemm",
    "gemm_bands",
    "gemm_tile_bands",
    "gemm_transposed",
    "qmlp",
    "qmlp_bands",
    "qmlp_layer",
    "requantize",
    "requantize_value",
    "sgd",
    "tiles_of",
]
