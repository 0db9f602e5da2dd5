"""An audit's gemm_i8 tiles by AVX-512 VNNI (`vpdpbusd`), where the target has it.

`audit_cpu` multiplies an audit's tiles reading B as stored, two rows of B at a time widened to
int16, 16 multiply-adds a `vpmaddwd` on 256 bits. Here four rows of B's 16 columns are
byte-interleaved into one 512-bit vector, (b[p, c], …, b[p + 3, c]) in int32 lane c, and one
`vpdpbusd` against A's four bytes a[i, p..p + 3], broadcast from where A lies (no copy of A),
adds 64 multiply-adds into 16 int32 sums. A block of 8 rows × 32 columns, or of 16 (or 12)
rows × 16 columns where B's columns are small enough to stay in L2 (a qmlp_i8 check's layers
at n = 1,024: one interleaved quad feeds 16 rows), keeps its vector sums in registers while K
streams past. A tile's last rows short of a block are one block from a copy padded with zero
rows; its last columns short of 16 are read where they lie where B's bytes go on past them.

`vpdpbusd` takes one operand unsigned and the other signed. B's bytes enter as b + 128 (the top
bit flipped), so a lane sums a·(b + 128) and each row is corrected by 128·Σ_p a[i, p], summed
once a tile row: Σ a·(b + 128) − 128·Σ a = Σ a·b. A lane's four products fit 18 bits (nothing
saturates) and everything wraps modulo 2^32 as the job's kernels' int32 sums do, so the tiles are
bit-equal to theirs and to the portable kernel's for every K (tests/gpu_worker/
test_audit_quads.py: both paths, K up to 2^17 + 3 at the extremes of int8).

Measured alternating in one process on the loaded 2-core machine (Zen 4): 16 tiles of 8 × 64 at
n = 1,024 in 68–70 µs where the portable kernel took 126–128 µs.
"""

from __future__ import annotations

from typing import Any, Final

import numba
import numpy as np
from llvmlite import ir  # type: ignore[import-untyped]
from numba import types
from numba.extending import intrinsic

from gpu_worker.inputs import I8, I32, I64
from gpu_worker.kernels import kernel_cache  # noqa: F401  (stamps the kernels' cache)
from gpu_worker.kernels.llvm_ir import counted_loop, quad_sums, splat

BLOCK_COLS: Final = 16


QUAD_ROWS: Final = 8
"""Rows of a block: 8 rows × 2 vectors of 16 columns are 16 int32 vector sums (8 × 1 took
1.3× as long, 4 × 4 1.1×)."""
QUAD_VECTORS: Final = 2
TALL_ROWS: Final = 16
"""Rows of a tall block, 16 rows × 16 columns: one quad of B's rows (four loads and a byte
permutation) feeds 16 `vpdpbusd` where a block of 8 × 32 builds two for as many; 16 rows of
1,024 × 1,024 took 77 µs this way, 88 in blocks of 8 × 32."""
TALL_BYTES: Final = 1 << 20
"""Tall and middle blocks only where the columns of B a tile reads (K × its width) fit this
many bytes: a strip of 16 columns uses a quarter of each cache line it loads, and the next
three strips find the lines in L2 only while B is about that small (16 rows of 2,048 × 2,048:
563 µs in tall blocks, 519 in blocks of 8 × 32)."""
MID_ROWS: Final = 12
"""Rows of a middle block (12 × 16) for 9 to 12 rows: 60 µs for 12 rows of 1,024 × 1,024 where
a tall block takes 77 and two blocks of 8 rows 104."""


def _b_quads(builder: Any, b_base: Any, stride: Any, p: Any, vector: int) -> Any:
    """B's rows p..p + 3, columns 16·vector..16·vector + 15 from `b_base` (an i8 pointer), as
    16 int32 lanes of 4 bytes (b[p, c] + 128, …, b[p + 3, c] + 128) for the 16 columns c: the
    unsigned operand of `quad_sums` (b + 128 is b's byte with its top bit flipped)."""
    i8, i32 = ir.IntType(8), ir.IntType(32)
    v16i8, v64i8 = ir.VectorType(i8, 16), ir.VectorType(i8, 64)
    base = builder.gep(b_base, [ir.Constant(ir.IntType(64), 16 * vector)])
    rows = []
    for q in range(4):
        row = builder.gep(base, [builder.mul(builder.add(p, ir.Constant(p.type, q)), stride)])
        rows.append(builder.load(builder.bitcast(row, v16i8.as_pointer()), align=1))
    halves = [
        builder.shuffle_vector(
            rows[h], rows[h + 1], ir.Constant(ir.VectorType(i32, 32), list(range(32)))
        )
        for h in (0, 2)
    ]
    order = [c + 16 * q for c in range(16) for q in range(4)]
    quads = builder.shuffle_vector(halves[0], halves[1], ir.Constant(ir.VectorType(i32, 64), order))
    flipped = builder.xor(quads, ir.Constant(v64i8, [-128] * 64))
    return builder.bitcast(flipped, ir.VectorType(i32, 16))


def _quad_block(rows: int, vectors: int) -> Any:
    """An intrinsic: out[o + r, j + c] = Σ_{p0 ≤ p < p1} a[i + r, p]·b[p, bj + c] for r < rows,
    c < 16·vectors, with p1 − p0 a multiple of 4; a and b int8, out int32, each 2-D and
    C-contiguous, sums int32 with sums[o + r] = Σ_{p0 ≤ p < p1} a[i + r, p].

    `vpdpbusd` multiplies unsigned by signed bytes, so B's bytes are taken as b + 128 and the
    sums corrected: Σ a·(b + 128) − 128·Σ a = Σ a·b (modulo 2^32, where all of it wraps). A's
    four bytes a[i + r, p..p + 3] are one broadcast int32, read where A lies (no copy)."""

    def typer(typingctx: Any, a: Any, b: Any, out: Any, sums: Any, i: Any, o: Any, j: Any,
              bj: Any, p0: Any, p1: Any) -> Any:  # fmt: skip
        arrays = ((a, types.int8, 2), (b, types.int8, 2), (out, types.int32, 2),
                  (sums, types.int32, 1))  # fmt: skip
        for arr, dtype, ndim in arrays:
            if not (isinstance(arr, types.Array) and arr.dtype == dtype and arr.ndim == ndim):
                return None
            if arr.layout != "C":
                return None
        return types.void(a, b, out, sums, i, o, j, bj, p0, p1), codegen

    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        i8, i32, i64 = ir.IntType(8), ir.IntType(32), ir.IntType(64)
        v16i32 = ir.VectorType(i32, 16)
        arg_types = signature.args
        arrays = [context.make_array(arg_types[n])(context, builder, args[n]) for n in range(4)]
        i, o, j, bj, p0, p1 = (
            context.cast(builder, args[n], arg_types[n], types.int64) for n in range(4, 10)
        )
        data = [builder.bitcast(arr.data, i8.as_pointer()) for arr in arrays]
        a_stride, b_stride, o_stride = (builder.extract_value(arr.strides, 0) for arr in arrays[:3])
        a_rows = [
            builder.gep(data[0], [builder.mul(builder.add(i, ir.Constant(i64, r)), a_stride)])
            for r in range(rows)
        ]
        b_base = builder.gep(data[1], [bj])

        def step(p: Any, running: list[Any]) -> list[Any]:
            quads = [_b_quads(builder, b_base, b_stride, p, v) for v in range(vectors)]
            sums = []
            for r in range(rows):
                address = builder.bitcast(builder.gep(a_rows[r], [p]), i32.as_pointer())
                word = splat(builder, builder.load(address, align=1), 16)
                for v in range(vectors):
                    sums.append(quad_sums(builder, running[vectors * r + v], quads[v], word))
            return sums

        finals = counted_loop(builder, "quads", p0, p1, 4, rows * vectors, v16i32, step)
        sums_data = builder.bitcast(arrays[3].data, i32.as_pointer())
        column = builder.mul(j, ir.Constant(i64, 4))
        for r in range(rows):
            row = builder.add(o, ir.Constant(i64, r))
            row_sum = builder.load(builder.gep(sums_data, [row]))
            correction = splat(builder, builder.shl(row_sum, ir.Constant(i32, 7)), 16)
            base = builder.gep(data[2], [builder.add(builder.mul(row, o_stride), column)])
            for v in range(vectors):
                address = builder.gep(base, [ir.Constant(i64, 64 * v)])
                value = builder.sub(finals[vectors * r + v], correction)
                builder.store(value, builder.bitcast(address, v16i32.as_pointer()), align=4)
        return context.get_dummy_value()

    typer.__name__ = f"quad_block_{rows}x{16 * vectors}"
    return intrinsic(typer)


_quads_tall = _quad_block(TALL_ROWS, 1)
_quads_mid = _quad_block(MID_ROWS, 1)
_quads_wide = _quad_block(QUAD_ROWS, QUAD_VECTORS)
_quads_8 = _quad_block(QUAD_ROWS, 1)


@numba.njit(cache=True, nogil=True)
def _row_sums(a: I8, r0: int, height: int, k4: int, sums: I32) -> None:
    """sums[r] = Σ_{p < k4} a[r0 + r, p] modulo 2^32 for r < height: each row's correction."""
    for r in range(height):
        total = np.int32(0)
        for p in range(k4):
            total += np.int32(a[r0 + r, p])
        sums[r] = total


@numba.njit(cache=True, nogil=True)
def _quad_rows(a: I8, b: I8, tile: I32, sums: I32, r0: int, height: int, j1: int, bj: int,
               k4: int, tall: bool) -> None:  # fmt: skip
    """tile[r, :j1] = Σ_{p < k4} a[r0 + r, p]·b[p, bj + c] for r < height (a multiple of
    TALL_ROWS plus 0, QUAD_ROWS or MID_ROWS: `_padded_rows`) and j1 a multiple of 16: if `tall`,
    blocks of TALL_ROWS rows × 16 columns first (one quad of B's rows feeds 16 rows), then one
    of MID_ROWS × 16; then blocks of QUAD_ROWS rows × 32 columns, then × 16."""
    i = 0
    while tall and i + TALL_ROWS <= height:
        for j in range(0, j1, BLOCK_COLS):
            _quads_tall(a, b, tile, sums, r0 + i, i, j, bj + j, 0, k4)
        i += TALL_ROWS
    if tall and height - i == MID_ROWS:
        for j in range(0, j1, BLOCK_COLS):
            _quads_mid(a, b, tile, sums, r0 + i, i, j, bj + j, 0, k4)
        i += MID_ROWS
    wide = BLOCK_COLS * QUAD_VECTORS
    while i < height:
        j = 0
        while j + wide <= j1:
            _quads_wide(a, b, tile, sums, r0 + i, i, j, bj + j, 0, k4)
            j += wide
        if j < j1:
            _quads_8(a, b, tile, sums, r0 + i, i, j, bj + j, 0, k4)
        i += QUAD_ROWS


@numba.njit(cache=True, nogil=True)
def _last_terms(a: I8, b: I8, tile: I32, r0: int, j1: int, bj: int, p0: int) -> None:
    """tile[:, :j1] += the terms p0..K of a[r0 + r]·b[:, bj + c], one at a time (the last
    K % 4 terms the quads leave)."""
    for p in range(p0, a.shape[1]):
        for r in range(tile.shape[0]):
            x = np.int32(a[r0 + r, p])
            for c in range(j1):
                tile[r, c] += x * np.int32(b[p, bj + c])


@numba.njit(cache=True, nogil=True)
def _block_rows(a: I8, b: I8, tile: I32, r0: int, c0: int, k4: int, tall: bool) -> None:
    """tile = a[r0 : r0 + tile rows]·b[:, c0 : c0 + tile columns], tile's rows as `_quad_rows`
    takes them: the quads over K's first k4 terms and its whole 16-column strips, the last
    K % 4 terms plainly, a last strip of fewer than 16 columns by `_narrow_strip` (a qmlp_i8
    check's last layer is 10 wide)."""
    height, width = tile.shape
    sums = np.empty(height, np.int32)
    _row_sums(a, r0, height, k4, sums)
    j1 = width - width % BLOCK_COLS
    _quad_rows(a, b, tile, sums, r0, height, j1, c0, k4, tall)
    _last_terms(a, b, tile, r0, j1, c0, k4)
    if j1 < width:
        _narrow_strip(a, b, tile, r0, c0 + j1, j1, k4, tall)


@numba.njit(cache=True, nogil=True)
def _narrow_strip(a: I8, b: I8, tile: I32, r0: int, bj: int, j1: int, k4: int, tall: bool) -> None:
    """tile[:, j1:] = a[r0 : r0 + tile rows]·b[:, bj : bj + the tile's last < 16 columns]. The
    quads read 16 columns of B where they lie, the lanes past the strip (B's next bytes) thrown
    away, over the rows of B whose 16 bytes from column bj end inside B; the last rows' terms
    are added plainly. Where that leaves more than a few rows, through a copy of the strip
    padded to 16 columns."""
    height = tile.shape[0]
    k, n = b.shape
    rest = tile.shape[1] - j1
    # Row p's 16 bytes from column bj end inside B while p·n + bj + 16 ≤ k·n.
    inside = (k * n - bj - 16) // n + 1 if k * n >= bj + 16 else 0
    quads = min(k4, inside - inside % 4)
    part = np.empty((height, BLOCK_COLS), np.int32)
    sums = np.empty(height, np.int32)
    if quads >= k4 - 8:
        _row_sums(a, r0, height, quads, sums)
        _quad_rows(a, b, part, sums, r0, height, BLOCK_COLS, bj, quads, tall)
        _last_terms(a, b, part, r0, rest, bj, quads)
    else:
        padded = np.zeros((k, BLOCK_COLS), np.int8)
        for p in range(k):
            for c in range(rest):
                padded[p, c] = b[p, bj + c]
        _row_sums(a, r0, height, k4, sums)
        _quad_rows(a, padded, part, sums, r0, height, BLOCK_COLS, 0, k4, tall)
        _last_terms(a, padded, part, r0, BLOCK_COLS, 0, k4)
    for r in range(height):
        for c in range(rest):
            tile[r, j1 + c] = part[r, c]


@numba.njit(cache=True, nogil=True)
def gemm_tiles_vnni(a: I8, b: I8, tiles: I64, out: I32) -> None:
    """`audit_cpu._gemm_tiles` by `vpdpbusd` (the target must have VNNI): 4 terms of 16 outputs an
    instruction, A read where it lies; K's last k % 4 terms added plainly; a tile's last < 16
    columns by `_narrow_strip`. A tile's rows past its last multiple of TALL_ROWS are one block
    of QUAD_ROWS, MID_ROWS or TALL_ROWS rows (`_padded_rows`), from a copy of them padded with
    zero rows where they are fewer (a block costs about as much as its full height: one row
    alone took as long as 14 in a block)."""
    k = a.shape[1]
    k4 = k - k % 4
    for t in range(tiles.shape[0]):
        r0, r1, c0, c1, base = tiles[t, 0], tiles[t, 1], tiles[t, 2], tiles[t, 3], tiles[t, 4]
        height, width = r1 - r0, c1 - c0
        tile = out[base : base + height * width].reshape((height, width))
        tall = k * width <= TALL_BYTES
        rest = height % TALL_ROWS
        padded = _padded_rows(rest, tall)
        full = height if padded == rest else height - rest
        if full:
            whole = out[base : base + full * width].reshape((full, width))
            _block_rows(a, b, whole, r0, c0, k4, tall)
        if full < height:
            rows = np.zeros((padded, k), np.int8)
            for r in range(rest):
                for p in range(k):
                    rows[r, p] = a[r0 + full + r, p]
            part = np.empty((padded, width), np.int32)
            _block_rows(rows, b, part, 0, c0, k4, tall)
            for r in range(rest):
                for c in range(width):
                    tile[full + r, c] = part[r, c]


@numba.njit(cache=True, nogil=True)
def _padded_rows(rest: int, tall: bool) -> int:
    """The rows of the blocks that multiply `rest` (< TALL_ROWS) rows: QUAD_ROWS, MID_ROWS (only
    with `tall` blocks) or TALL_ROWS (one tall block, or two of QUAD_ROWS), the fewest that hold
    them (0 for none)."""
    if rest == 0:
        return 0
    if rest <= QUAD_ROWS:
        return QUAD_ROWS
    if tall and rest <= MID_ROWS:
        return MID_ROWS
    return TALL_ROWS
