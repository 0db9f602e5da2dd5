"""An audit's gemm_i8 tiles recomputed on the CPU in one call: B read as stored, no transpose.

A committee member recomputes a few tiles of C (8 rows × 64 or 128 columns each) from their rows
of A and columns of B. The job's kernel (`gpu_worker.kernels.cpu`) multiplies rows of A by rows
of a transposed copy of B; for a tile, transposing its columns of B costs more than multiplying
them (128 columns × 2,048 rows of B: 256 KiB moved for 2 M multiply-adds). This kernel reads B
as it is stored instead: two rows of B at a time, 16 columns of each widened to int16 and
interleaved, so that one `vpmaddwd` against a broadcast pair (a[i, p], a[i, p + 1]) gives
a[i, p]·b[p, j] + a[i, p + 1]·b[p + 1, j] for 8 columns at once. A block of 8 rows × 16 columns
keeps its 16 int32 vector sums in registers while K streams past. The kernel runs on the calling
thread and releases the GIL, so a caller runs an audit's tiles as one call a core: on the loaded
2-core machine a Numba parallel loop's start and join stalled an audit of 0.3 ms for 30–60 ms
when one of its threads waited for a core.

Where the target has AVX-512 VNNI (`llvm_ir.VNNI`) the tiles are multiplied by `vpdpbusd`
instead (`audit_vnni`: 64 multiply-adds an instruction, the tiles of an audit of 16 at
n = 1,024 in 68 µs where this module's kernel takes 126); `QUADS` says which runs.

Sums are int32 modulo 2^32, as the job's kernels' are, so the bits equal theirs (and the
reference's) for every K, on both paths (tests/gpu_worker/test_audit_quads.py runs both).

`gemm_tiles_witness` does the same for a committee member's answer, which also needs each tile's
recomputation witness (`gpu_worker.witness`): the three int32 sums `witness_cpu` keeps per
output (Σ t, Σ (t & 0x7FFF) ^ m_lo, Σ t >> 15) formed from B's interleaved rows in int16 lanes,
each pair of terms added by one `vpmaddwd`, and folded into the int64 witness as `witness_cpu`
folds them, so the tile and its witness are bit-equal to `witness_cpu.product_witness`'s.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Final, TypeAlias

import numba
import numpy as np
from llvmlite import ir  # type: ignore[import-untyped]
from numba import types
from numba.extending import intrinsic

from gpu_worker.inputs import I8, I16, I32, I64
from gpu_worker.kernels import kernel_cache  # noqa: F401  (stamps the kernels' cache)
from gpu_worker.kernels.audit_vnni import TALL_BYTES, TALL_ROWS, _padded_rows, gemm_tiles_vnni
from gpu_worker.kernels.cpu import requantize_value
from gpu_worker.kernels.llvm_ir import (
    VNNI,
    counted_loop,
    interleave,
    load_widened,
    pair_sums,
    splat,
)
from gpu_worker.kernels.witness_cpu import LOW, SPAN

Tiles: TypeAlias = Sequence[tuple[int, int, int, int]] | I64
"""Tiles of a·b as (row start, row stop, column start, column stop): tuples or a (T, 4) array."""
Spread: TypeAlias = Callable[[Callable[[I64], None], I64], None]
"""How a caller runs a kernel over a tile table: spread(run, table) calls run on shares of the
table's rows (each a C-contiguous slice; all of them together once), on whatever threads it
likes. The tiles' places in the output travel in the table, so shares write side by side."""
BLOCK_ROWS: Final = 8
BLOCK_COLS: Final = 16
QUADS: bool = VNNI
"""Whether an audit's tiles are multiplied by `vpdpbusd` (`audit_vnni`, where the target has
VNNI) rather than by `vpmaddwd` (`_gemm_tiles`, everywhere); the bits are the same, and tests
clear it to run the portable kernel on a machine with VNNI."""


def _b_pairs(builder: Any, b_base: Any, stride: Any, p: Any) -> tuple[Any, Any]:
    """B's rows p and p + 1 from `b_base` (an i8 pointer), 16 columns widened to int16 and
    interleaved: (b[p, c], b[p + 1, c]) for c < 8, then for 8 ≤ c < 16."""
    row_p = builder.gep(b_base, [builder.mul(p, stride)])
    row_q = builder.gep(row_p, [stride])
    return interleave(builder, load_widened(builder, row_p), load_widened(builder, row_q))


def _a_pair(builder: Any, row: Any, offset: Any) -> Any:
    """The int16 pair at byte `offset` of A's row `row`, (a[i, p], a[i, p + 1]), 8 times over."""
    address = builder.bitcast(builder.gep(row, [offset]), ir.IntType(32).as_pointer())
    word = builder.load(address, align=2)
    return builder.bitcast(splat(builder, word, 8), ir.VectorType(ir.IntType(16), 16))


def _stream_block(rows: int) -> Any:
    """An intrinsic: out[i + r, j + c] = Σ_{p0 ≤ p < p1} a16[i + r, p]·b[p, bj + c] for r < rows,
    c < 16, with p1 − p0 even; a16 int16, b int8, out int32, each 2-D and C-contiguous."""

    def typer(typingctx: Any, a16: Any, b: Any, out: Any, i: Any, j: Any, bj: Any, p0: Any,
              p1: Any) -> Any:  # fmt: skip
        for arr, dtype in ((a16, types.int16), (b, types.int8), (out, types.int32)):
            if not (isinstance(arr, types.Array) and arr.dtype == dtype and arr.ndim == 2):
                return None
            if arr.layout != "C":
                return None
        return types.void(a16, b, out, i, j, bj, p0, p1), codegen

    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        i8, i32, i64 = ir.IntType(8), ir.IntType(32), ir.IntType(64)
        v8i32 = ir.VectorType(i32, 8)
        arg_types = signature.args
        a_arr = context.make_array(arg_types[0])(context, builder, args[0])
        b_arr = context.make_array(arg_types[1])(context, builder, args[1])
        o_arr = context.make_array(arg_types[2])(context, builder, args[2])
        i, j, bj, p0, p1 = (
            context.cast(builder, args[n], arg_types[n], types.int64) for n in range(3, 8)
        )
        a_data = builder.bitcast(a_arr.data, i8.as_pointer())
        b_data = builder.bitcast(b_arr.data, i8.as_pointer())
        o_data = builder.bitcast(o_arr.data, i8.as_pointer())
        a_stride = builder.extract_value(a_arr.strides, 0)
        b_stride = builder.extract_value(b_arr.strides, 0)
        o_stride = builder.extract_value(o_arr.strides, 0)
        a_rows = [
            builder.gep(a_data, [builder.mul(builder.add(i, ir.Constant(i64, r)), a_stride)])
            for r in range(rows)
        ]
        b_base = builder.gep(b_data, [bj])

        def step(p: Any, running: list[Any]) -> list[Any]:
            pairs = _b_pairs(builder, b_base, b_stride, p)
            offset = builder.mul(p, ir.Constant(i64, 2))
            sums = []
            for r in range(rows):
                a_pair = _a_pair(builder, a_rows[r], offset)
                for half in range(2):
                    total = pair_sums(builder, pairs[half], a_pair)
                    sums.append(builder.add(running[2 * r + half], total))
            return sums

        finals = counted_loop(builder, "stream", p0, p1, 2, 2 * rows, v8i32, step)
        for r in range(rows):
            row = builder.add(i, ir.Constant(i64, r))
            column = builder.mul(j, ir.Constant(i64, 4))
            base = builder.gep(o_data, [builder.add(builder.mul(row, o_stride), column)])
            for half in range(2):
                address = builder.gep(base, [ir.Constant(i64, 32 * half)])
                builder.store(
                    finals[2 * r + half], builder.bitcast(address, v8i32.as_pointer()), align=4
                )
        return context.get_dummy_value()

    typer.__name__ = f"stream_block_{rows}x16"
    return intrinsic(typer)


_stream_8 = _stream_block(BLOCK_ROWS)
_stream_1 = _stream_block(1)

WITNESS_ROWS: Final = 4
"""Rows of a witness block: 4 rows × 16 columns × 3 sums are 24 vector registers."""


def _witness_block(rows: int) -> Any:
    """An intrinsic: for r < rows, c < 16, over the terms t = a16[i + r, p]·b[p, bj + c],
    p0 ≤ p < p1 (p1 − p0 even): out[i + r, j + c] = Σ t, u[...] = Σ (t & 0x7FFF) ^ m_lo and
    s[...] = Σ t >> 15, the three sums `witness_cpu._span` keeps, as int32.

    A term of two int8 fits int16 (|t| ≤ 2^14), so the terms are formed 16 at a time in int16
    lanes (`vpmullw`) from B's rows interleaved in pairs, and each of the three sums adds the
    pair of terms of the same output with one `vpmaddwd` (against A's pair for Σ t, against ones
    for the others): a few instructions for 16 terms, where int32 lanes take as many for 8."""

    def typer(typingctx: Any, a16: Any, b: Any, out: Any, u: Any, s: Any, i: Any, j: Any,
              bj: Any, p0: Any, p1: Any, m_lo: Any) -> Any:  # fmt: skip
        arrays = ((a16, types.int16), (b, types.int8), (out, types.int32), (u, types.int32),
                  (s, types.int32))  # fmt: skip
        for arr, dtype in arrays:
            if not (isinstance(arr, types.Array) and arr.dtype == dtype and arr.ndim == 2):
                return None
            if arr.layout != "C":
                return None
        return types.void(a16, b, out, u, s, i, j, bj, p0, p1, m_lo), codegen

    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        i8, i16, i32, i64 = ir.IntType(8), ir.IntType(16), ir.IntType(32), ir.IntType(64)
        v16i16, v8i32 = ir.VectorType(i16, 16), ir.VectorType(i32, 8)
        arg_types = signature.args
        arrays = [context.make_array(arg_types[n])(context, builder, args[n]) for n in range(5)]
        i, j, bj, p0, p1 = (
            context.cast(builder, args[n], arg_types[n], types.int64) for n in range(5, 10)
        )
        m_lo = builder.trunc(context.cast(builder, args[10], arg_types[10], types.int32), i16)
        data = [builder.bitcast(arr.data, i8.as_pointer()) for arr in arrays]
        strides = [builder.extract_value(arr.strides, 0) for arr in arrays]
        a_rows = [
            builder.gep(data[0], [builder.mul(builder.add(i, ir.Constant(i64, r)), strides[0])])
            for r in range(rows)
        ]
        b_base = builder.gep(data[1], [bj])
        ones = ir.Constant(v16i16, [1] * 16)
        low_bits = ir.Constant(v16i16, [0x7FFF] * 16)
        fifteen = ir.Constant(v16i16, [15] * 16)
        mask_vec = splat(builder, m_lo, 16)

        def step(p: Any, running: list[Any]) -> list[Any]:
            pairs = _b_pairs(builder, b_base, strides[1], p)
            offset = builder.mul(p, ir.Constant(i64, 2))
            sums = []
            for r in range(rows):
                a_pair = _a_pair(builder, a_rows[r], offset)
                for half in range(2):
                    terms = builder.mul(a_pair, pairs[half])
                    masked = builder.xor(builder.and_(terms, low_bits), mask_vec)
                    signs = builder.ashr(terms, fifteen)
                    at = 6 * r + 3 * half
                    sums.append(builder.add(running[at], pair_sums(builder, pairs[half], a_pair)))
                    sums.append(builder.add(running[at + 1], pair_sums(builder, masked, ones)))
                    sums.append(builder.add(running[at + 2], pair_sums(builder, signs, ones)))
            return sums

        finals = counted_loop(builder, "witness", p0, p1, 2, 6 * rows, v8i32, step)
        column = builder.mul(j, ir.Constant(i64, 4))
        for r in range(rows):
            row = builder.add(i, ir.Constant(i64, r))
            for which in range(3):
                target, stride = data[2 + which], strides[2 + which]
                base = builder.gep(target, [builder.add(builder.mul(row, stride), column)])
                for half in range(2):
                    address = builder.gep(base, [ir.Constant(i64, 32 * half)])
                    value = finals[6 * r + 3 * half + which]
                    builder.store(value, builder.bitcast(address, v8i32.as_pointer()), align=4)
        return context.get_dummy_value()

    typer.__name__ = f"witness_block_{rows}x16"
    return intrinsic(typer)


_witness_4 = _witness_block(WITNESS_ROWS)
_witness_1 = _witness_block(1)


@numba.njit(cache=True, nogil=True)
def _block(a16: I16, b: I8, out: I32, i0: int, i1: int, j: int, bj: int, k: int) -> None:
    """out[i0:i1, j:j+16] = a16[i0:i1]·b[:, bj:bj+16], K's last odd term added after."""
    ke = k - k % 2
    i = i0
    while i + BLOCK_ROWS <= i1:
        _stream_8(a16, b, out, i, j, bj, 0, ke)
        i += BLOCK_ROWS
    while i < i1:
        _stream_1(a16, b, out, i, j, bj, 0, ke)
        i += 1
    if ke < k:
        for r in range(i0, i1):
            x = np.int32(a16[r, k - 1])
            for c in range(BLOCK_COLS):
                out[r, j + c] += x * np.int32(b[k - 1, bj + c])


@numba.njit(cache=True, nogil=True)
def _narrow(a: I8, b: I8, out: I32, r0: int, r1: int, j0: int, j1: int, bj: int) -> None:
    """out[:, j0:j1] = a[r0:r1]·b[:, bj + j0 : bj + j1], plainly: a tile's last < 16 columns."""
    k = a.shape[1]
    for r in range(r1 - r0):
        for c in range(j0, j1):
            out[r, c] = 0
    for p in range(k):
        for r in range(r1 - r0):
            x = np.int32(a[r0 + r, p])
            for c in range(j0, j1):
                out[r, c] += x * np.int32(b[p, bj + c])


@numba.njit(cache=True, nogil=True)
def _gemm_tiles(a: I8, b: I8, tiles: I64, out: I32) -> None:
    """Tile t = rows tiles[t, 0]:tiles[t, 1] × columns tiles[t, 2]:tiles[t, 3] of a·b, written
    row-major at out[tiles[t, 4]:], for every t, on the calling thread (the GIL released)."""
    k = a.shape[1]
    for t in range(tiles.shape[0]):
        r0, r1, c0, c1, base = tiles[t, 0], tiles[t, 1], tiles[t, 2], tiles[t, 3], tiles[t, 4]
        height, width = r1 - r0, c1 - c0
        tile = out[base : base + height * width].reshape((height, width))
        rows = np.empty((height, k), np.int16)  # the pairs (a[i, p], a[i, p + 1]) as int16
        for r in range(height):
            for p in range(k):
                rows[r, p] = a[r0 + r, p]
        j = 0
        while j + BLOCK_COLS <= width:
            _block(rows, b, tile, 0, height, j, c0 + j, k)
            j += BLOCK_COLS
        if j < width:
            _narrow(a, b, tile, r0, r1, j, width, c0)


def tile_weight(depth: int) -> int:
    """The work of one output of a product over `depth` terms, counted in the portable
    kernel's terms (what `tile_threads.spread_tiles` weighs a share by): half of `depth` where the
    VNNI kernel multiplies (it ran 1.85× faster for an audit's tiles), so a table is shared
    among threads only where each share still takes about as long as before."""
    return depth // 2 if QUADS else depth


def _read_only(matrix: I8) -> I8:
    """`matrix` typed as Numba types a job's input (a read-only view of its bytes): an array's
    writability is part of a kernel's signature, and each signature costs a compilation of
    several seconds (in a fresh verifying process, at its first check), so every call passes
    read-only operands."""
    if not matrix.flags.writeable:
        return matrix
    view = matrix.view()
    view.flags.writeable = False
    return view


def _places(table: I64, bases: I64) -> list[tuple[int, int, tuple[int, int]]]:
    """Each tile's (start, stop) in the flat output and its shape."""
    heights = (table[:, 1] - table[:, 0]).tolist()
    widths = (table[:, 3] - table[:, 2]).tolist()
    starts, stops = bases[:-1].tolist(), bases[1:].tolist()
    return list(zip(starts, stops, zip(heights, widths, strict=True), strict=True))


def on_this_thread(run: Callable[[I64], None], table: I64) -> None:
    """The `Spread` that runs the whole table in one call on the calling thread."""
    run(table)


def gemm_tiles_flat(a: I8, b: I8, tiles: Tiles, spread: Spread = on_this_thread) -> I32:
    """The tiles (row start, row stop, column start, column stop) of a·b, each row-major, one
    after the other in one flat int32 array; a and b int8, C-contiguous. The kernel runs on the
    shares `spread` makes, each one compiled call that releases the GIL (no Python work on the
    threads)."""
    table, bases = _table(tiles)
    return _tiles_into(a, b, table, bases, spread)


def _tiles_into(a: I8, b: I8, table: I64, bases: I64, spread: Spread) -> I32:
    out = np.zeros(int(bases[-1]), np.int32)
    if len(table) and a.shape[1]:
        a, b = _read_only(a), _read_only(b)
        kernel = gemm_tiles_vnni if QUADS else _gemm_tiles
        spread(lambda share: kernel(a, b, share, out), table)
    return out


def gemm_tiles(a: I8, b: I8, tiles: Tiles, spread: Spread = on_this_thread) -> list[I32]:
    """`gemm_tiles_flat`, each tile a C-contiguous int32 matrix (a view of the flat output)."""
    table, bases = _table(tiles)
    out = _tiles_into(a, b, table, bases, spread)
    return [out[start:stop].reshape(shape) for start, stop, shape in _places(table, bases)]


@numba.njit(cache=True, nogil=True)
def _witness_terms(
    a: I8, b: I8, r0: int, c0: int, j0: int, j1: int, p0: int, p1: int, m_lo: Any,
    c: I32, u: I32, s: I32,
) -> None:  # fmt: skip
    """c, u, s[:, j0:j1] += the three sums over terms p0..p1 one at a time (a tile's last
    columns, K's odd last term)."""
    for p in range(p0, p1):
        for r in range(c.shape[0]):
            x = np.int32(a[r0 + r, p])
            for col in range(j0, j1):
                t = x * np.int32(b[p, c0 + col])
                c[r, col] += t
                u[r, col] += (t & LOW) ^ m_lo
                s[r, col] += t >> 15


@numba.njit(cache=True, nogil=True)
def _gemm_tiles_witness(a: I8, b: I8, tiles: I64, mask: Any, out: I32, w_out: I64) -> None:
    """`_gemm_tiles`, and w_out (laid out as out) the witness Σ (a[i, p]·b[p, j]) ^ mask of each
    tile element, folded from the three int32 sums over spans of SPAN terms exactly as
    `witness_cpu._product_witness` folds them."""
    k = a.shape[1]
    m_lo = np.int32(mask & LOW)
    m_hi = np.int64(mask) >> 15
    per_term = m_hi << 15
    per_negative = (np.int64(1) << 15) + (m_hi << 16)
    for t in range(tiles.shape[0]):
        r0, r1, c0, c1, base = tiles[t, 0], tiles[t, 1], tiles[t, 2], tiles[t, 3], tiles[t, 4]
        height, width = r1 - r0, c1 - c0
        rows = np.empty((height, k), np.int16)
        for r in range(height):
            for p in range(k):
                rows[r, p] = a[r0 + r, p]
        c = np.zeros((height, width), np.int32)
        wide = np.zeros((height, width), np.int64)
        part = np.empty((height, width), np.int32)
        u = np.empty_like(part)
        s = np.empty_like(part)
        for p0 in range(0, k, SPAN):
            p1 = min(p0 + SPAN, k)
            even = p1 - (p1 - p0) % 2
            part[:] = 0
            u[:] = 0
            s[:] = 0
            j = 0
            while j + BLOCK_COLS <= width:
                i = 0
                while i + WITNESS_ROWS <= height:
                    _witness_4(rows, b, part, u, s, i, j, c0 + j, p0, even, m_lo)
                    i += WITNESS_ROWS
                while i < height:
                    _witness_1(rows, b, part, u, s, i, j, c0 + j, p0, even, m_lo)
                    i += 1
                j += BLOCK_COLS
            _witness_terms(a, b, r0, c0, j, width, p0, even, m_lo, part, u, s)
            _witness_terms(a, b, r0, c0, 0, width, even, p1, m_lo, part, u, s)
            terms = (p1 - p0) * per_term
            for r in range(height):
                for col in range(width):
                    c[r, col] += part[r, col]
                    unsigned = np.int64(u[r, col]) & 0xFFFFFFFF
                    wide[r, col] += unsigned + terms + np.int64(s[r, col]) * per_negative
        out[base : base + height * width] = c.reshape(-1)
        w_out[base : base + height * width] = wide.reshape(-1)


@numba.njit(cache=True, nogil=True)
def _grid_tiles(
    indices: I64, m: int, n: int, row_block: int, col_block: int
) -> tuple[I64, int, int]:
    cols = (n + col_block - 1) // col_block
    table = np.empty((indices.shape[0], 4), np.int64)
    first, stop = n, 0
    for t in range(indices.shape[0]):
        r0 = indices[t] // cols * row_block
        c0 = indices[t] % cols * col_block
        table[t, 0], table[t, 1] = r0, min(r0 + row_block, m)
        table[t, 2], table[t, 3] = c0, min(c0 + col_block, n)
        first, stop = min(first, c0), max(stop, table[t, 3])
    return table, first, stop


def grid_tiles(
    indices: Sequence[int], m: int, n: int, row_block: int, col_block: int
) -> tuple[I64, int, int]:
    """The tiles of leaves `indices` (each in range, checked by the caller) of an m × n result
    cut in row_block × col_block tiles, row-major: a (T, 4) table of (row start, row stop,
    column start, column stop), and the first and the last + 1 column any tile reads (n and 0
    for no tiles). One compiled call: for an audit's 16 tiles, Python's loop cost 8 µs."""
    wanted = np.fromiter(indices, np.int64, len(indices))
    table, first, stop = _grid_tiles(wanted, m, n, row_block, col_block)
    return table, int(first), int(stop)


@numba.njit(cache=True, nogil=True)
def _placed(tiles: I64) -> tuple[I64, I64]:
    """`_table` of a (T, 4) int64 array, in one compiled call (NumPy's per-call costs were
    more than the work for an audit's 16 tiles)."""
    count = tiles.shape[0]
    table = np.empty((count, 5), np.int64)
    bases = np.zeros(count + 1, np.int64)
    for t in range(count):
        for i in range(4):
            table[t, i] = tiles[t, i]
        table[t, 4] = bases[t]
        bases[t + 1] = bases[t] + (tiles[t, 1] - tiles[t, 0]) * (tiles[t, 3] - tiles[t, 2])
    return table, bases


def _table(tiles: Tiles) -> tuple[I64, I64]:
    """The kernels' tile table (each tile's place in the flat output last) and the offsets."""
    return _placed(np.asarray(tiles, np.int64).reshape(-1, 4))


def gemm_tiles_witness(
    a: I8, b: I8, tiles: Tiles, mask: int, spread: Spread = on_this_thread
) -> list[tuple[I32, I64]]:
    """`gemm_tiles`, each tile with its witness W (int64, the tile's shape) under `mask`, as
    `witness_cpu.product_witness(a[rows], b[:, cols], 0, mask)` gives them."""
    table, bases = _table(tiles)
    out = np.zeros(int(bases[-1]), np.int32)
    w_out = np.zeros(int(bases[-1]), np.int64)
    if len(tiles) and a.shape[1]:
        a, b, m = _read_only(a), _read_only(b), np.int64(mask)
        spread(lambda share: _gemm_tiles_witness(a, b, share, m, out, w_out), table)
    return [
        (out[start:stop].reshape(shape), w_out[start:stop].reshape(shape))
        for start, stop, shape in _places(table, bases)
    ]


@numba.njit(cache=True, nogil=True)
def _biased(acc: I32, bias: I32, mult: int, shift: int, next_input: bool, out: I8) -> None:
    """acc[i] += bias (modulo 2^32, as NumPy adds int32) for every row i, and, if
    `next_input`, out = the next layer's input from the biased acc (`cpu.requantize`'s rule)."""
    rows, cols = acc.shape
    for i in range(rows):
        for j in range(cols):
            v = np.int32(acc[i, j] + bias[j])
            acc[i, j] = v
            if next_input:
                out[i, j] = requantize_value(v, mult, shift)


@numba.njit(cache=True, nogil=True)
def _one_tile(h: I8, w: I8, acc: I32) -> tuple[np.ndarray, np.ndarray]:
    """The tile table of the whole product h·w as one tile, and `acc` as the zeroed flat output
    the tile kernels add into."""
    table = np.zeros((1, 5), np.int64)
    table[0, 1], table[0, 3] = h.shape[0], w.shape[1]
    flat = acc.reshape(-1)
    flat[:] = 0
    return table, flat


@numba.njit(cache=True, nogil=True)
def _layer_quads(h: I8, w: I8, bias: I32, mult: int, shift: int, next_input: bool, acc: I32,
                 out: I8) -> None:  # fmt: skip
    """acc = h·w + bias by `gemm_tiles_vnni` (all rows one tile), and, if `next_input`, out =
    the next layer's input: `_biased` after the product, in one call."""
    table, flat = _one_tile(h, w, acc)
    if h.shape[1]:
        gemm_tiles_vnni(h, w, table, flat)
    _biased(acc, bias, mult, shift, next_input, out)


@numba.njit(cache=True, nogil=True)
def _layer_pairs(h: I8, w: I8, bias: I32, mult: int, shift: int, next_input: bool, acc: I32,
                 out: I8) -> None:  # fmt: skip
    """`_layer_quads` by the portable kernel (`_gemm_tiles`)."""
    table, flat = _one_tile(h, w, acc)
    if h.shape[1]:
        _gemm_tiles(h, w, table, flat)
    _biased(acc, bias, mult, shift, next_input, out)


def rows_worth(rows: int, columns: int) -> int:
    """The most rows a product of `rows` rows costs as much as when it reads `columns` bytes of
    B (K × the width): the VNNI kernel multiplies rows in blocks of 16, 12 or 8, padding the
    last (`audit_vnni._padded_rows`), so a caller that has them computes those instead of a
    padded copy; `rows` for the portable kernel."""
    if not QUADS:
        return rows
    rest = rows % TALL_ROWS
    return rows - rest + int(_padded_rows(rest, columns <= TALL_BYTES))


def layer_rows(
    h: I8, weights: I8, bias: I32, mult: int, shift: int, next_input: bool, acc: I32
) -> I8:
    """A qmlp_i8 layer for a check's few rows (h, C-contiguous int8) in one compiled call on
    this thread: `acc` (rows × width, C-contiguous) set to h·weights + bias and, if
    `next_input`, the next layer's input returned (else an empty array), as `gemm_tiles_flat`
    and `biased` give them. The per-call costs of those two (the tile table, the spread, the
    dispatches: about 6 µs a layer) were a tenth of a qmlp_i8 audit's Python. The caller checks
    mult and shift (`check_requantization`)."""
    out = np.empty(acc.shape if next_input else (0, 0), np.int8)
    kernel = _layer_quads if QUADS else _layer_pairs
    kernel(_read_only(h), _read_only(weights), bias, mult, shift, next_input, acc, out)
    return out


def biased(acc: I32, bias: I32, mult: int, shift: int, next_input: bool) -> I8:
    """A qmlp_i8 layer's accumulators of a check's rows finished in one compiled call: the
    bias added to `acc` in place and, if `next_input`, the next layer's input returned (else an
    empty array). The caller checks mult and shift (`arguments.check_requantization`)."""
    out = np.empty(acc.shape if next_input else (0, 0), np.int8)
    _biased(acc, bias, mult, shift, next_input, out)
    return out
