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

import platform
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Final, TypeVar, cast

import numba
import numpy as np
from llvmlite import binding as llvm_binding  # type: ignore[import-untyped]
from llvmlite import ir
from numba import prange, types
from numba.core import cgutils
from numba.extending import intrinsic

from gpu_worker.inputs import I8, I16, I32, I64, QmlpLayer
from gpu_worker.kernels.arguments import (
    I32_MAX,
    I32_MIN,
    check_product,
    check_requantization,
    int8_matrix,
    layer_arrays,
    run_layers,
    sgd_arguments,
)

TILE_ROWS: Final = 16
TILE_COLS: Final = 64
K_SLICE: Final = 2048
"""K per pass over a tile: 64 rows of Bᵀ × 2048 bytes = 128 KiB stay in L2."""
LANES: Final = 16
"""int8 elements per vector step of a dot product (one 128-bit load, 16 int16 after widening)."""
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
MIN_BAND_ROWS: Final = 32
"""Rows below which a band (`gemm_bands`) makes a parallel call too short to pay its start."""
SERIAL_WORK: Final = 1 << 17
"""Multiply-adds below which an SGD step runs on one thread: starting the others costs more."""

_F = TypeVar("_F", bound=Callable[..., Any])


def _kernel(*, parallel: bool = False) -> Callable[[_F], _F]:
    """numba.njit with the project's settings: cached on disk, no Python fallback."""
    return cast(Callable[[_F], _F], numba.njit(cache=True, parallel=parallel, nogil=True))


def _target_has_avx2() -> bool:
    """Whether Numba compiles for a CPU with AVX2 (host CPU unless NUMBA_CPU_* say otherwise)."""
    features = getattr(numba.config, "CPU_FEATURES", None)
    if features:
        return "+avx2" in str(features).split(",")
    if getattr(numba.config, "CPU_NAME", None):
        return False
    if platform.machine().lower() not in ("x86_64", "amd64"):
        return False
    return bool(llvm_binding.get_host_cpu_features().get("avx2", False))


AVX2: Final = _target_has_avx2()
_UniTuple: Any = types.UniTuple
_declare: Any = cgutils.get_or_insert_function


# The dot-product block, in LLVM IR


def _dot_block(rows: int, cols: int) -> Any:
    """An intrinsic: the rows×cols dot products of rows i.. of A and rows j.. of Bᵀ over
    [p0, p1), a multiple of LANES long, as a tuple of int32 (row-major)."""

    def typer(typingctx: Any, a: Any, bt: Any, i: Any, j: Any, p0: Any, p1: Any) -> Any:
        for arr in (a, bt):
            if not (isinstance(arr, types.Array) and arr.dtype == types.int8 and arr.ndim == 2):
                return None
            if arr.layout != "C":
                return None
        sig = _UniTuple(types.int32, rows * cols)(a, bt, i, j, p0, p1)
        return sig, _codegen

    def _codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        i8, i16, i32, i64 = ir.IntType(8), ir.IntType(16), ir.IntType(32), ir.IntType(64)
        v16i8, v16i16, v8i32 = ir.VectorType(i8, 16), ir.VectorType(i16, 16), ir.VectorType(i32, 8)
        arg_types = signature.args
        a_arr = context.make_array(arg_types[0])(context, builder, args[0])
        b_arr = context.make_array(arg_types[1])(context, builder, args[1])
        i, j, p0, p1 = (
            context.cast(builder, args[n], arg_types[n], types.int64) for n in range(2, 6)
        )
        a_data = builder.bitcast(a_arr.data, i8.as_pointer())
        b_data = builder.bitcast(b_arr.data, i8.as_pointer())
        a_stride = builder.extract_value(a_arr.strides, 0)
        b_stride = builder.extract_value(b_arr.strides, 0)

        def row(data: Any, stride: Any, first: Any, offset: int) -> Any:
            index = builder.add(first, ir.Constant(i64, offset))
            return builder.gep(data, [builder.mul(index, stride)])

        a_rows = [row(a_data, a_stride, i, r) for r in range(rows)]
        b_rows = [row(b_data, b_stride, j, c) for c in range(cols)]
        module = builder.module
        pmadd = _declare(module, ir.FunctionType(v8i32, [v16i16, v16i16]), "llvm.x86.avx2.pmadd.wd")
        reduce_add = _declare(module, ir.FunctionType(i32, [v8i32]), "llvm.vector.reduce.add.v8i32")
        even = ir.Constant(ir.VectorType(i32, 8), list(range(0, 16, 2)))
        odd = ir.Constant(ir.VectorType(i32, 8), list(range(1, 16, 2)))
        zero = ir.Constant(v8i32, [0] * 8)

        entry = builder.basic_block
        loop = builder.append_basic_block("dot.loop")
        done = builder.append_basic_block("dot.done")
        builder.cbranch(builder.icmp_signed("<", p0, p1), loop, done)

        builder.position_at_end(loop)
        p = builder.phi(i64)
        accs = [builder.phi(v8i32) for _ in range(rows * cols)]

        def load(base: Any) -> Any:
            address = builder.bitcast(builder.gep(base, [p]), v16i8.as_pointer())
            return builder.sext(builder.load(address, align=1), v16i16)

        a_vecs = [load(base) for base in a_rows]
        b_vecs = [load(base) for base in b_rows]

        def pair_products(x: Any, y: Any) -> Any:
            if AVX2:
                return builder.call(pmadd, [x, y])
            parts = []
            for lanes in (even, odd):
                xs = builder.sext(builder.shuffle_vector(x, x, lanes), v8i32)
                ys = builder.sext(builder.shuffle_vector(y, y, lanes), v8i32)
                parts.append(builder.mul(xs, ys))
            return builder.add(parts[0], parts[1])

        sums = [
            builder.add(accs[r * cols + c], pair_products(a_vecs[r], b_vecs[c]))
            for r in range(rows)
            for c in range(cols)
        ]
        p_next = builder.add(p, ir.Constant(i64, LANES))
        p.add_incoming(p0, entry)
        p.add_incoming(p_next, loop)
        for acc, total in zip(accs, sums, strict=True):
            acc.add_incoming(zero, entry)
            acc.add_incoming(total, loop)
        builder.cbranch(builder.icmp_signed("<", p_next, p1), loop, done)

        builder.position_at_end(done)
        finals = []
        for total in sums:
            final = builder.phi(v8i32)
            final.add_incoming(zero, entry)
            final.add_incoming(total, loop)
            finals.append(final)
        results = [builder.call(reduce_add, [final]) for final in finals]
        return context.make_tuple(builder, signature.return_type, results)

    typer.__name__ = f"dot_block_{rows}x{cols}"
    return intrinsic(typer)


def _transpose_16x16_typer(typingctx: Any, b: Any, p: Any, j: Any, bt: Any) -> Any:
    """An intrinsic: bt[j:j+16, p:p+16] = b[p:p+16, j:j+16]ᵀ, for int8 C-contiguous b and bt.

    Four rounds of interleaving row i with row i+8 (byte by byte, low and high halves) transpose
    a 16×16 block: 16 loads, 64 shuffles and 16 stores, where a byte at a time would take 512
    memory operations, most of them to lines 2^k bytes apart that evict each other.
    """
    for arr in (b, bt):
        if not (isinstance(arr, types.Array) and arr.dtype == types.int8 and arr.ndim == 2):
            return None
        if arr.layout != "C":
            return None

    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        i8, i32, i64 = ir.IntType(8), ir.IntType(32), ir.IntType(64)
        v16i8 = ir.VectorType(i8, 16)
        arg_types = signature.args
        b_arr = context.make_array(arg_types[0])(context, builder, args[0])
        t_arr = context.make_array(arg_types[3])(context, builder, args[3])
        p0 = context.cast(builder, args[1], arg_types[1], types.int64)
        j0 = context.cast(builder, args[2], arg_types[2], types.int64)
        b_data = builder.bitcast(b_arr.data, i8.as_pointer())
        t_data = builder.bitcast(t_arr.data, i8.as_pointer())
        b_stride = builder.extract_value(b_arr.strides, 0)
        t_stride = builder.extract_value(t_arr.strides, 0)

        def address(data: Any, stride: Any, row: Any, offset: int, col: Any) -> Any:
            index = builder.add(
                builder.mul(builder.add(row, ir.Constant(i64, offset)), stride), col
            )
            return builder.bitcast(builder.gep(data, [index]), v16i8.as_pointer())

        rows = [builder.load(address(b_data, b_stride, p0, r, j0), align=1) for r in range(16)]
        low = ir.Constant(ir.VectorType(i32, 16), [x for i in range(8) for x in (i, i + 16)])
        high = ir.Constant(ir.VectorType(i32, 16), [x for i in range(8, 16) for x in (i, i + 16)])
        for _ in range(4):
            mixed = []
            for i in range(8):
                mixed.append(builder.shuffle_vector(rows[i], rows[i + 8], low))
                mixed.append(builder.shuffle_vector(rows[i], rows[i + 8], high))
            rows = mixed
        for c in range(16):
            builder.store(rows[c], address(t_data, t_stride, j0, c, p0), align=1)
        return context.get_dummy_value()

    return types.void(b, p, j, bt), codegen


_transpose_16x16: Any = intrinsic(_transpose_16x16_typer)
_dot_2x4 = _dot_block(2, 4)
_dot_1x4 = _dot_block(1, 4)
_dot_2x1 = _dot_block(2, 1)
_dot_1x1 = _dot_block(1, 1)


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
    return _gemm_plus(a, b, np.zeros(b.shape[1], np.int32))


def _band_product(a: I8, b: I8, bias: I32, out: I32) -> Callable[[slice], None]:
    """A function that fills out[rows] = a[rows]·b + bias for one band of rows at a time."""
    if a.shape[0] <= FEW_ROWS:
        return lambda rows: _gemm_bias_few_rows(a[rows], b, bias, out[rows])
    bt = _transposed(b)
    return lambda rows: _gemm_bias(a[rows], bt, bias, out[rows])


def gemm_bands(a: I8, b: I8, bands: Sequence[slice]) -> tuple[I32, Iterator[slice]]:
    """C = A·B computed one band of rows at a time: C (filled as the iterator runs) and an
    iterator that computes each band of `bands` in turn and yields it once its rows are final.

    Each band is one parallel call (about 30 µs to start), and the kernels release the GIL, so
    a caller can hash a finished band on another thread while the next one computes.
    """
    a, b = int8_matrix(a, "a"), int8_matrix(b, "b")
    check_product(a.shape, b.shape)
    out: I32 = np.empty((a.shape[0], b.shape[1]), np.int32)
    bias: I32 = np.zeros(b.shape[1], np.int32)

    def run() -> Iterator[slice]:
        if not out.size:
            yield from bands
            return
        product = _band_product(a, b, bias, out)
        for rows in bands:
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
    a: I8, b: I8, row_block: int, col_block: int, bands: Sequence[slice]
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
    bias: I32 = np.zeros(n, np.int32)

    def run() -> Iterator[slice]:
        bt = _transposed(b) if out.size and m > FEW_ROWS else b
        for rows in bands:
            if rows.start % row_block:
                raise ValueError(f"band {rows} does not start at a row of tiles")
            part = out[rows.start * n : min(rows.stop, m) * n]
            if part.size and m > FEW_ROWS:
                _gemm_bias_leaves(a[rows], bt, bias, part, row_block, col_block)
            elif part.size:
                band: I32 = np.empty((part.size // n, n), np.int32)
                _gemm_bias_few_rows(a[rows], b, bias, band)
                tiles_of(band, row_block, col_block, part)
            yield rows

    return out, run()


def qmlp_bands(
    x: I8, layers: Sequence[QmlpLayer], bands: Sequence[slice]
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
                if out.size:
                    local = slice(0, h.shape[0])
                    _band_product(h, weights, bias, out)(local)
                yield j, rows
                if j + 1 < len(layers):
                    h = requantize(out, layer)

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
        _gemm_bias(a, bt, np.zeros(bt.shape[0], np.int32), out)
    return out


def qmlp_layer(h: I8 | I32, layer: QmlpLayer) -> I32:
    """One layer's accumulators acc = h·W + b (exact in int32 under the workload's limits)."""
    weights, bias = layer_arrays(layer)
    if h.dtype == np.int8:
        return _gemm_plus(int8_matrix(h, "h"), weights, bias)
    if h.ndim != 2 or h.shape[1] != weights.shape[0]:
        raise ValueError(f"cannot multiply h of shape {h.shape} by weights {weights.shape}")
    wide: I32 = np.ascontiguousarray(h, dtype=np.int32)
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
    kernel(np.ascontiguousarray(acc, dtype=np.int32), layer.mult, layer.shift, out)
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
            np.ascontiguousarray(y),
            np.ascontiguousarray(order, dtype=np.int64),
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
