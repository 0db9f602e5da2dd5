"""Checking a whole result cheaply: Freivalds' algorithm for gemm_i8 and qmlp_i8, spot checks
for sgd_fxp.

To check C = A·B + b without multiplying again, draw a random matrix R (N×rounds) and compare
C·R with A·(B·R) + b·R: O(n²) work instead of O(n³). All of it runs in exact int64: entries of R
are drawn from [0, 2^bits) with bits small enough that no product or sum can overflow, even for
adversarial int32 outputs, so a correct result always passes, and a wrong row escapes a round
with probability at most 2^−bits; rounds are drawn until that is at most 2^−SECURITY_BITS. The
rows whose checks differ are the wrong rows; the leaf named is the first (in leaf order) whose
tile holds a wrong entry of a flagged row, found by recomputing only the flagged rows of the
candidate tiles exactly, so the leaf a fraud proof names is found even when leaves are tiles
(row block × column block) and a row is spread over several leaves.

The work, for each layer: W·R once (k·n·rounds multiply-adds), then one pass over the rows that
forms h·(W·R) + b·R and C·R for every round together. qmlp_i8 checks all its layers in that one
pass: a row of layer j+1 depends only on the same row of layer j, so the pass requantizes the
claimed accumulators of row i into the next layer's input while it reads them for C·R, and never
writes a requantized layer out (checking layer j+1 against the requantization of the claimed
layer j is sound: a correct layer j is requantized to the true h_{j+1}, and a wrong row of layer j
is flagged at layer j, which comes first in leaf order). C is read where it lies, in the leaves'
own buffers: copying a large result into one array costs as much as the whole check. A list of
bytes leaves is found in one compiled pass over its item pointers and each leaf's header (its
type and size, CPython's layout, checked at import), so thousands of tiles cost no Python step
a leaf; a leaf of another type or of the wrong size sends the result the one-by-one way, which
refuses a wrong size before anything is read.

The multiply-adds use the instructions that fit their bounds (`gpu_worker.kernels.freivalds_cpu`,
with a portable path of the same bits): W·R and h·(W·R) as int8 rows against byte planes of the
wide operand (AVX-512 VNNI, 64 products an instruction), C·R as 52-bit fused multiply-adds
(AVX-512 IFMA; R's entries stay below 2^IFMA_BITS = 2^20 for it, which costs no round).

sgd_fxp steps are not linear maps of their inputs (each step rounds its gradient), so
`check_result` recomputes `sgd_spot_checks(T)` distinct random steps, each from the committed
weights before it. What that guarantees: call a step inconsistent when its leaf differs from one
step applied to the committed leaf before it. A result is right exactly when no step is
inconsistent (the steps chain from zero weights). With a fraction f of the T steps inconsistent,
k distinct steps drawn uniformly miss them all with probability C(T−fT, k)/C(T, k) ≤ (1 − f)^k.
A worker that skips the work of a step and publishes anything but that step's exact int32 weights
publishes an inconsistent step, so saving a fraction f of the work is caught with probability at
least 1 − (1 − f)^k; k grows with T so that the check costs about SGD_CHECK_SHARE of the job (at
T = 2,000: k = 40, a cheater saving 10% is caught with probability 0.985, saving 5% with 0.87).
A cheater that computes every step but one, and that one wrong (a model changed at one step, then
trained on honestly), saves nothing and is caught only with probability k/T by this check: that
is what the committee's audit and the dispute are for, and a requester that needs certainty
recomputes every step (`recompute_leaf` on each).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, TypeVar, cast

import numba
import numpy as np
import numpy.typing as npt
from numba import prange
from numba.np.numpy_support import carray

from gpu_worker.freivalds_leaves import (
    Leaf,
    _addresses,
    _Grid,
    _held,
    _int32_pointer,
    _leaf_addresses,
    _native_blocks,
    _prefetch,
)
from gpu_worker.inputs import I8, I32, I64, QmlpLayer
from gpu_worker.jobs import (
    JobSpec,
    _arrays,
    check_leaf_sizes,
    leaf_dependencies,
    leaf_tile,
    recompute_leaf,
)
from gpu_worker.kernels import (
    cpu,
    kernel_cache,  # noqa: F401  (stamps the kernels' cache)
)
from gpu_worker.kernels.arguments import read_only
from gpu_worker.kernels.freivalds_cpu import (
    ACC_VECTORS,
    CHUNK,
    IFMA_BITS,
    ROW_STEP,
    planes_dot,
    rows_dot,
)
from gpu_worker.kernels.freivalds_cpu import acc_sums as _acc_sums
from runtime.workloads import MAX_DIM, MAX_K

SECURITY_BITS: Final = 40
"""Rounds are drawn until a wrong row escapes with probability at most 2^−SECURITY_BITS."""
SGD_SPOT_CHECKS: Final = 8
"""The fewest sgd_fxp steps a check recomputes (all of them when the job has fewer)."""
SGD_CHECK_SHARE: Final = 0.02
"""Beyond SGD_SPOT_CHECKS, an sgd_fxp check recomputes this share of the job's steps."""
ROW_CHUNKS: Final = 64
"""The row pass hands rows to threads in this many chunks, each with its own scratch rows."""
ROW_BLOCK: Final = 16
"""Rows taken through each side of the row pass at a time."""
MAX_PREFETCH: Final = 4096
"""At most this many entries of the next tile are asked for ahead of reading it."""
PREFETCH_LINES: Final = 4
"""The first cache lines of each of the next rows asked for ahead of reading them."""
ROWS_PER_TASK: Final = 64
"""Rows of W a thread of W·R takes at a time."""
R_LIMBS: Final = 3
"""Bytes of an entry of R (below 2^IFMA_BITS) in W·R's planes."""
WR_OFFSET: Final = 1 << 38
"""Added to W·R before it is cut into bytes: |W·R| ≤ 128·(2^bits − 1)·N < 2^38, as
bits + ⌈log₂ N⌉ ≤ 31 (`random_bits`), so W·R + WR_OFFSET lies in (0, 2^39): WR_LIMBS bytes."""
WR_LIMBS: Final = 5
H_PLANES: Final = 2 * WR_LIMBS + 1
"""A pair of rounds' planes of W·R, then a plane of ones (Σ h, for the offset)."""
_DOT_R: Final = planes_dot(2 * R_LIMBS)
_DOT_H2: Final = planes_dot(H_PLANES, rows=2)
_DOT_C: Final = rows_dot()
_DOT_CQ: Final = rows_dot(requantize=True)

_F = TypeVar("_F", bound=Callable[..., Any])
Flags = npt.NDArray[np.bool_]
U8 = npt.NDArray[np.uint8]


def _kernel(*, parallel: bool) -> Callable[[_F], _F]:
    return cast(Callable[[_F], _F], numba.njit(cache=True, parallel=parallel, nogil=True))


def random_bits(inner: int, cols: int) -> int:
    """Bits per entry of R that keep A·(B·R) + b·R and C·R exact in int64 (|A|, |B| ≤ 128,
    |C|, |b| ≤ 2^31, inner dimension `inner`, `cols` columns).

    C·R and b·R stay under 2^(31 + bits + ⌈log₂ cols⌉) ≤ 2^62, and A·(B·R) under
    2^(14 + bits + ⌈log₂ inner⌉ + ⌈log₂ cols⌉) ≤ 2^62, so their sum never reaches 2^63.
    """
    log_n = max(1, math.ceil(math.log2(max(cols, 2))))
    log_k = max(1, math.ceil(math.log2(max(inner, 2))))
    return max(1, min(31 - log_n, 48 - log_k - log_n))


def _bits(inner: int, cols: int) -> int:
    """Bits per entry of R: `random_bits`, at most IFMA_BITS, which costs no round where
    random_bits ≥ IFMA_BITS (two rounds of 20 bits already reach SECURITY_BITS = 40) and keeps
    every product of C·R within the 52 bits of an IFMA multiply (`freivalds_cpu.rows_dot`)."""
    return min(random_bits(inner, cols), IFMA_BITS)


def sgd_spot_checks(steps: int) -> int:
    """How many distinct sgd_fxp steps a check recomputes: about SGD_CHECK_SHARE of them, at
    least SGD_SPOT_CHECKS (all when there are fewer)."""
    return min(steps, max(SGD_SPOT_CHECKS, math.ceil(SGD_CHECK_SHARE * steps)))


# A result read in place: each layer's tiles, by band of rows and by column tile


def _widths(spec: JobSpec) -> list[int]:
    p = spec.params
    return [p[2]] if spec.workload == "gemm_i8" else list(p[3:])


def _grids(spec: JobSpec, leaf_count: int) -> list[_Grid]:
    """Each layer's grid, read off the first tile of each layer and checked at its last; a
    ValueError for a layout that is not one (the tests compare every leaf with `leaf_tile`)."""
    grids: list[_Grid] = []
    first = 0
    for layer, width in enumerate(_widths(spec)):
        head = leaf_tile(spec, first) if first < leaf_count else None
        if head is None or (head.layer, head.rows.start, head.cols.start) != (layer, 0, 0):
            raise ValueError(f"leaf {first} does not start layer {layer} of the result")
        grid = _Grid(
            first,
            spec.params[0],
            width,
            head.rows.stop - head.rows.start,
            head.cols.stop - head.cols.start,
        )
        last = first + grid.leaves - 1
        if last >= leaf_count or leaf_tile(spec, last) != grid.tile(layer, last):
            raise ValueError(f"layer {layer}'s leaves are not a grid of tiles")
        grids.append(grid)
        first += grid.leaves
    if first != leaf_count:
        raise ValueError(f"the layers' grids hold {first} leaves, the job {leaf_count}")
    return grids


# Wide operands cut into byte planes for `planes_dot`


@_kernel(parallel=False)
def _byte_planes(values: I64, limbs: int, offset: int, ones: bool) -> U8:
    """planes[q // 2, (q % 2)·limbs + L] = byte L of values[q] + offset (non-negative, below
    2^(8·limbs)) for an even number of rounds q, then (where `ones`) a plane of ones after each
    pair. (Compiled: NumPy's steps on these short rows cost about 0.1 ms a job.)"""
    rounds, length = values.shape
    planes = np.empty((rounds // 2, 2 * limbs + ones, length), np.uint8)
    for q in range(rounds):
        for p in range(length):
            v = values[q, p] + offset
            for limb in range(limbs):
                planes[q // 2, (q % 2) * limbs + limb, p] = (v >> (8 * limb)) & 0xFF
    if ones:
        planes[:, 2 * limbs] = 1
    return planes


# The kernels


@_kernel(parallel=True)
def _project(weights: I8, planes: U8, rt: I32, out: I64) -> None:
    """out[q, p] = Σ_j W[p, j]·R[q, j]: the weights times R, for every round, each row of W
    against R's byte planes (planes[q // 2, (q % 2)·limbs + L] = byte L of R[q]; `planes_dot`),
    the last width % CHUNK entries in int64."""
    inner, width = weights.shape
    rounds = rt.shape[0]
    limbs = R_LIMBS
    chunks = width // CHUNK
    for block in prange((inner + ROWS_PER_TASK - 1) // ROWS_PER_TASK):
        sums = np.zeros(2 * R_LIMBS, np.int64)
        for p in range(block * ROWS_PER_TASK, min((block + 1) * ROWS_PER_TASK, inner)):
            row = weights[p]
            for pair in range(rounds // 2):
                _DOT_R(row.ctypes.data, planes[pair].ctypes.data, width, chunks, sums.ctypes.data)
                for r in range(2):
                    q = 2 * pair + r
                    total = np.int64(0)
                    for limb in range(limbs):
                        total += sums[r * limbs + limb] << (8 * limb)
                    for c in range(chunks * CHUNK, width):
                        total += np.int64(row[c]) * np.int64(rt[q, c])
                    out[q, p] = total


@_kernel(parallel=False)
def _four_rows(
    a0: int, a1: int, a2: int, a3: int, rt: I32, q: int, start: int, w: int, acc: I64
) -> None:
    """Adds to `rows_dot`'s running sums acc (ACC_VECTORS × 8) the products of the int32 rows
    c_r at addresses a_r (w entries each) with R's rounds q, q + 1 from column `start`: the
    first w − w % ROW_STEP entries by `rows_dot`, the rest here, into lane 0 without the offset
    (acc_sums takes the offset off the sums of R that rows_dot adds, and only those)."""
    chunks = w // ROW_STEP
    r0 = rt[q].ctypes.data + 4 * start
    r1 = rt[q + 1].ctypes.data + 4 * start
    _DOT_C(a0, a1, a2, a3, r0, r1, chunks, acc.ctypes.data)
    done = chunks * ROW_STEP
    if done < w:
        for r, at in enumerate((a0, a1, a2, a3)):
            row = carray(_int32_pointer(at), w)
            for p in range(done, w):
                v = np.int64(row[p])
                acc[2 * r, 0] += v * np.int64(rt[q, start + p])
                acc[2 * r + 1, 0] += v * np.int64(rt[q + 1, start + p])


@_kernel(parallel=False)
def _four_rows_requantized(
    a0: int, a1: int, a2: int, a3: int, rt: I32, w: int, acc: I64, outs: I64, requant: I64
) -> None:
    """`_four_rows` for rounds 0 and 1 of whole rows, each row's first w − w % ROW_STEP entries
    also requantized (requant = (1, mult, shift)) to the address in outs[r] as they are read."""
    chunks = w // ROW_STEP
    scale = np.array([requant[1], np.int64(1) << (requant[2] - 1), requant[2]])
    r0, r1 = rt[0].ctypes.data, rt[1].ctypes.data
    _DOT_CQ(a0, a1, a2, a3, r0, r1, chunks, acc.ctypes.data, outs.ctypes.data, scale.ctypes.data)
    done = chunks * ROW_STEP
    if done < w:
        for r, at in enumerate((a0, a1, a2, a3)):
            row = carray(_int32_pointer(at), w)
            for p in range(done, w):
                v = np.int64(row[p])
                acc[2 * r, 0] += v * np.int64(rt[0, p])
                acc[2 * r + 1, 0] += v * np.int64(rt[1, p])


@_kernel(parallel=False)
def _requantize_into(row: I32, requant: I64, out: I8) -> None:
    """out = row requantized with requant = (1, mult, shift)."""
    mult, shift = np.int64(np.int32(requant[1])), requant[2]
    half = np.int64(1) << (shift - 1)
    for j in range(row.shape[0]):
        out[j] = min(max((np.int64(row[j]) * mult + half) >> shift, 0), 127)


@_kernel(parallel=False)
def _row_address(addresses: I64, grids: I64, j: int, i: int, width: int) -> int:
    """Where row i of layer j lies, where its band is one leaf (one tile wide)."""
    first, row_block = grids[j, 0], grids[j, 1]
    band = i // row_block
    return int(addresses[first + band] + (i - band * row_block) * width * 4)


@_kernel(parallel=False)
def _prefetch_head(address: int) -> None:
    """Ask for the first PREFETCH_LINES cache lines from `address` on."""
    for line in range(PREFETCH_LINES):
        _prefetch(address + 64 * line)


@_kernel(parallel=False)
def _add_sums(claimed: I64, k: int, valid: int, acc: I64, sums: I64) -> None:
    """claimed[k + r, 2·pair + s] += the sum of rows k + r and round 2·pair + s in acc[pair]
    (`rows_dot`'s running sums of a pair of rounds), for the first `valid` of four rows."""
    for pair in range(acc.shape[0]):
        _acc_sums(acc[pair].ctypes.data, sums.ctypes.data)
        for r in range(valid):
            claimed[k + r, 2 * pair] += sums[2 * r]
            claimed[k + r, 2 * pair + 1] += sums[2 * r + 1]


@_kernel(parallel=False)
def _rows_side(
    addresses: I64,
    grids: I64,
    j: int,
    width: int,
    rt: I32,
    top: int,
    end: int,
    claimed: I64,
    out: I8,
    requant: I64,
    acc: I64,
    sums: I64,
) -> None:
    """claimed[i − top] = row i · R for rows top..end of a layer whose bands are one leaf each,
    four rows to a load of R, rows read where they lie; requantized into out when asked."""
    rounds = rt.shape[0]
    claimed[:, :] = 0
    for i in range(top, end, 4):
        for ahead in range(i + 4, min(i + 8, end)):
            _prefetch_head(_row_address(addresses, grids, j, ahead, width))
        i1, i2, i3 = min(i + 1, end - 1), min(i + 2, end - 1), min(i + 3, end - 1)
        a0 = _row_address(addresses, grids, j, i, width)
        a1 = _row_address(addresses, grids, j, i1, width)
        a2 = _row_address(addresses, grids, j, i2, width)
        a3 = _row_address(addresses, grids, j, i3, width)
        acc[0] = 0
        first = 0
        if requant[0]:  # the first pair of rounds requantizes the rows as it reads them
            outs = np.array([out[g - top].ctypes.data for g in (i, i1, i2, i3)])
            _four_rows_requantized(a0, a1, a2, a3, rt, width, acc[0, 0], outs, requant)
            for g, at in ((i, a0), (i1, a1), (i2, a2), (i3, a3)):
                done = width - width % ROW_STEP
                row = carray(_int32_pointer(at), width)
                _requantize_into(row[done:], requant, out[g - top, done:])
            first = 2
        for q in range(first, rounds, 2):
            _four_rows(a0, a1, a2, a3, rt, q, 0, width, acc[0, q // 2])
        _add_sums(claimed, i - top, min(4, end - i), acc[0], sums)


@_kernel(parallel=False)
def _tiles_side(
    addresses: I64,
    grids: I64,
    j: int,
    width: int,
    rt: I32,
    top: int,
    end: int,
    claimed: I64,
    out: I8,
    requant: I64,
    acc: I64,
    sums: I64,
) -> None:
    """As _rows_side for a layer cut in column tiles: each band's rows are read tile by tile,
    in the order they lie in memory, the next tile asked for ahead, their running sums kept
    across the band's tiles (acc[g] for its g-th four rows). (Reading a row across its tiles
    instead is a run of short reads the hardware cannot prefetch: 5× slower.)"""
    rounds = rt.shape[0]
    first, row_block, col_block = grids[j, 0], grids[j, 1], grids[j, 2]
    col_tiles = (width + col_block - 1) // col_block
    leaves = addresses.shape[0]
    claimed[:, :] = 0
    i = top
    while i < end:
        band = i // row_block
        stop = min((band + 1) * row_block, end)
        local = i - band * row_block
        acc[:] = 0
        for t in range(col_tiles):
            start = t * col_block
            w = min(col_block, width - start)
            leaf = first + band * col_tiles + t
            if leaf + 1 < leaves:
                later = addresses[leaf + 1]
                for line in range(0, min(w * row_block, MAX_PREFETCH) * 4, 64):
                    _prefetch(later + line)
            base = addresses[leaf] + local * w * 4
            for g in range(i, stop, 4):
                g1, g2, g3 = min(g + 1, stop - 1), min(g + 2, stop - 1), min(g + 3, stop - 1)
                a0 = base + (g - i) * w * 4
                a1 = base + (g1 - i) * w * 4
                a2 = base + (g2 - i) * w * 4
                a3 = base + (g3 - i) * w * 4
                for q in range(0, rounds, 2):
                    _four_rows(a0, a1, a2, a3, rt, q, start, w, acc[(g - i) // 4, q // 2])
                if requant[0]:
                    for gg, at in ((g, a0), (g1, a1), (g2, a2), (g3, a3)):
                        row = carray(_int32_pointer(at), w)
                        _requantize_into(row, requant, out[gg - top, start:])
        for g in range(i, stop, 4):
            _add_sums(claimed, g - top, min(4, stop - g), acc[(g - i) // 4], sums)
        i = stop


@_kernel(parallel=False)
def _expected_rows(
    h0: I8, h1: I8, inner: int, planes: U8, wr: I64, bias_r: I64, sums: I64, out: I64
) -> None:
    """out[r, q] = h_r·(W·R)[q] + (b·R)[q] for rows h0, h1 and every round q: the first
    inner − inner % CHUNK entries by `planes_dot` against W·R's byte planes (planes[q // 2],
    `_byte_planes` of W·R + WR_OFFSET, with a plane of ones for Σ h), both rows to a load of a
    plane, the rest in int64. Exact: every partial sum is at most
    Σ_p |h_p|·(W·R + WR_OFFSET)_p < 2^17·2^7·2^39 = 2^63 in magnitude (K ≤ MAX_K)."""
    chunks = inner // CHUNK
    stride = planes.shape[2]
    for pair in range(out.shape[1] // 2):
        at = planes[pair].ctypes.data
        _DOT_H2(h0.ctypes.data, h1.ctypes.data, at, stride, chunks, sums.ctypes.data)
        for row, h in enumerate((h0, h1)):
            base = row * H_PLANES
            for r in range(2):
                q = 2 * pair + r
                total = np.int64(0)
                for limb in range(WR_LIMBS):
                    total += sums[base + r * WR_LIMBS + limb] << (8 * limb)
                total -= sums[base + 2 * WR_LIMBS] * WR_OFFSET
                for c in range(chunks * CHUNK, inner):
                    total += np.int64(h[c]) * wr[q, c]
                out[row, q] = total + bias_r[q]


@_kernel(parallel=True)
def _row_pass(
    x: I8,
    wr: I64,
    hplanes: U8,
    rt: I32,
    bias_r: I64,
    dims: I64,
    requant: I64,
    grids: I64,
    addresses: I64,
    bad: Flags,
) -> None:
    """bad[j, i] = whether row i of layer j's claimed result differs from h_j·W_j + b_j, for
    every layer j together; h_0 = x, h_{j+1} = the claimed layer j requantized (requant[j] =
    (1, mult, shift)). grids[j] = (first leaf, row_block, col_block) of layer j's tiles.

    Rows go ROW_BLOCK at a time through each side of the check, so that W·R's byte planes (for
    h·(W·R), two rows at a time: `_expected_rows`) and R (for C·R) each stay in cache while their
    side runs, and four at a time through C·R, so that a load of R serves four rows (a block's
    last rows repeat its last row to make up four).
    """
    layers, rounds = rt.shape[0], rt.shape[1]
    rows = x.shape[0]
    widest = 0
    for d in dims:
        widest = max(widest, d)
    chunks = min(rows, ROW_CHUNKS)
    req = requant.copy()
    req[layers - 1, 0] = 0  # the last layer's accumulators are the output: none to requantize
    for chunk in prange(chunks):
        hs = np.empty((2, ROW_BLOCK, widest), np.int8)
        expected = np.zeros((ROW_BLOCK + 3, rounds), np.int64)
        claimed = np.zeros((ROW_BLOCK + 3, rounds), np.int64)
        sums = np.zeros(2 * H_PLANES, np.int64)
        four = np.zeros(8, np.int64)
        acc = np.zeros((ROW_BLOCK // 4 + 1, rounds // 2, ACC_VECTORS, 8), np.int64)
        stop = (chunk + 1) * rows // chunks
        for top in range(chunk * rows // chunks, stop, ROW_BLOCK):
            end = min(top + ROW_BLOCK, stop)
            for j in range(layers):
                inner, width = dims[j], dims[j + 1]
                for i in range(top, end, 2):  # two rows at a time (the last may repeat)
                    i1 = min(i + 1, end - 1)
                    if j == 0:
                        h0, h1 = x[i], x[i1]
                    else:
                        h0, h1 = hs[(j - 1) % 2, i - top], hs[(j - 1) % 2, i1 - top]
                    two = expected[i - top : i - top + 2]
                    _expected_rows(h0, h1, inner, hplanes[j], wr[j], bias_r[j], sums, two)
                if (width + grids[j, 2] - 1) // grids[j, 2] == 1:
                    _rows_side(
                        addresses,
                        grids,
                        j,
                        width,
                        rt[j],
                        top,
                        end,
                        claimed,
                        hs[j % 2],
                        req[j],
                        acc,
                        four,
                    )
                else:
                    _tiles_side(
                        addresses,
                        grids,
                        j,
                        width,
                        rt[j],
                        top,
                        end,
                        claimed,
                        hs[j % 2],
                        req[j],
                        acc,
                        four,
                    )
                for i in range(top, end):
                    differs = False
                    for q in range(rounds):
                        if expected[i - top, q] != claimed[i - top, q]:
                            differs = True
                    bad[j, i] = differs


# The check


@dataclass(frozen=True)
class _Layer:
    """What the row pass needs of one layer: its weights, bias and requantization."""

    weights: I8
    bias: I32 | None
    mult: int = 1
    shift: int = 1

    def requantized(self, acc: I32) -> I8:
        """The next layer's input from these accumulators (the workload's plain definition)."""
        bias = np.zeros(0, np.int32) if self.bias is None else self.bias
        return cpu.requantize(acc, QmlpLayer(self.weights, bias, self.mult, self.shift))


def _rounds(layers: Sequence[_Layer]) -> int:
    """Rounds enough for SECURITY_BITS, rounded up to an even number: the kernels take the
    rounds in pairs (q, q + 1), and an odd last round would be summed twice on one side."""
    bits = min(_bits(*layer.weights.shape) for layer in layers)
    rounds = max(2, -(-SECURITY_BITS // bits))
    return rounds + rounds % 2


def _flag_rows(
    lhs: I8,
    layers: Sequence[_Layer],
    grids: Sequence[_Grid],
    addresses: I64,
    rng: np.random.Generator,
) -> Flags:
    """bad[j, i]: whether row i of layer j is wrong (exact for a correct row: never flagged)."""
    rounds = _rounds(layers)
    dims = np.array([lhs.shape[1], *(layer.weights.shape[1] for layer in layers)], np.int64)
    count = len(layers)
    wr = np.zeros((count, rounds, int(dims[:-1].max())), np.int64)
    rt = np.zeros((count, rounds, int(dims[1:].max())), np.int32)
    bias_r = np.zeros((count, rounds), np.int64)
    requant = np.zeros((count, 3), np.int64)
    hplanes = np.zeros((count, rounds // 2, H_PLANES, int(dims[:-1].max())), np.uint8)
    # One draw for every layer, each layer's entries cut to its bits (low bits of a uniform
    # draw are uniform): a call of the generator costs about 20 µs whatever its size.
    drawn = rng.integers(0, 1 << IFMA_BITS, size=rt.shape, dtype=np.int32)
    for j, layer in enumerate(layers):
        inner, width = layer.weights.shape
        bits = _bits(inner, width)
        rt[j, :, :width] = drawn[j, :, :width] & ((1 << bits) - 1)
        projected = np.empty((rounds, inner), np.int64)
        planes = _byte_planes(rt[j, :, :width].astype(np.int64), R_LIMBS, 0, False)
        # Inputs of one layout whatever the layer (a narrower layer's R is a strided slice):
        # the kernel is compiled once.
        weights = read_only(np.ascontiguousarray(layer.weights))
        _project(weights, planes, np.ascontiguousarray(rt[j, :, :width]), projected)
        wr[j, :, :inner] = projected
        hplanes[j, :, :, :inner] = _byte_planes(projected, WR_LIMBS, WR_OFFSET, True)
        if layer.bias is not None:
            bias_r[j] = rt[j, :, :width].astype(np.int64) @ layer.bias.astype(np.int64)
        requant[j] = (1, layer.mult, layer.shift)
    table = np.array([(g.first, g.row_block, g.col_block) for g in grids], np.int64)
    bad = np.zeros((count, lhs.shape[0]), np.bool_)
    if bad.size:
        x = read_only(np.ascontiguousarray(lhs, dtype=np.int8))
        _row_pass(x, wr, hplanes, rt, bias_r, dims, requant, table, addresses, bad)
    return bad


def _claimed_rows(grid: _Grid, leaves: Sequence[Leaf], rows: Sequence[int]) -> I32:
    """The given rows of one layer, gathered from its tiles."""
    out = np.empty((len(rows), grid.width), np.int32)
    for index, i in enumerate(rows):
        band, local = divmod(i, grid.row_block)
        for t in range(grid.col_tiles):
            start = t * grid.col_block
            w = min(grid.col_block, grid.width - start)
            leaf = leaves[grid.first + band * grid.col_tiles + t]
            out[index, start : start + w] = np.frombuffer(leaf, "<i4", w, local * w * 4)
    return out


def _first_wrong_leaf(
    lhs: I8,
    layers: Sequence[_Layer],
    grids: Sequence[_Grid],
    leaves: Sequence[Leaf],
    bad: Flags,
) -> int | None:
    """The first leaf, in leaf order, whose tile holds a wrong entry of a flagged row.

    A flagged row is wrong, so a band of one tile is named at once; in a band of several tiles
    the flagged rows are recomputed (from the claimed layer before) to find the tile. The first
    flagged band has a wrong tile, so this recomputes at most one band's flagged rows.
    """
    for j, (layer, grid) in enumerate(zip(layers, grids, strict=True)):
        flagged = np.flatnonzero(bad[j])
        for band in map(int, np.unique(flagged // grid.row_block)):
            first = grid.first + band * grid.col_tiles
            if grid.col_tiles == 1:
                return first
            rows = [int(i) for i in flagged if i // grid.row_block == band]
            if j == 0:
                h = lhs[rows]
            else:
                h = layers[j - 1].requantized(_claimed_rows(grids[j - 1], leaves, rows))
            expected = cpu.gemm(h, layer.weights)
            if layer.bias is not None:
                expected += layer.bias
            claimed = _claimed_rows(grid, leaves, rows)
            for t in range(grid.col_tiles):
                cols = slice(t * grid.col_block, (t + 1) * grid.col_block)
                if not np.array_equal(expected[:, cols], claimed[:, cols]):
                    return first + t
    return None


def _check_layers(
    lhs: I8,
    layers: Sequence[_Layer],
    grids: Sequence[_Grid],
    leaves: Sequence[Leaf],
    rng: np.random.Generator,
    addresses: I64 | None = None,
) -> int | None:
    """The first wrong leaf of layers whose leaves are laid out by `grids` (and are of their
    tiles' sizes), or None; `addresses`, where given, say where the leaves lie."""
    leaves = _held(leaves)
    blocks = _native_blocks(leaves)  # kept alive while they are read
    if addresses is None:
        addresses = _leaf_addresses(grids, leaves)
    if addresses is None:
        # Views held while the blocks are read: a bytearray leaf cannot be resized (its data
        # moved) under the check.
        blocks = [np.frombuffer(block, np.uint8) for block in blocks]
        addresses = _addresses(blocks)
    bad = _flag_rows(lhs, layers, grids, addresses, rng)
    if not bad.any():
        return None
    return _first_wrong_leaf(lhs, layers, grids, leaves, bad)


def bad_rows(
    lhs: I8, rhs: I8, claimed: I32, rng: np.random.Generator, bias: I32 | None = None
) -> I64:
    """Indices of the rows where `claimed` differs from lhs·rhs (+ bias), found in O(n²).

    Exact within the workloads' limits: K ≤ 131,071 and N ≤ 65,536.
    """
    m, k = lhs.shape
    n = rhs.shape[1]
    if rhs.shape[0] != k or claimed.shape != (m, n):
        raise ValueError(
            f"cannot check a {claimed.shape} result of {lhs.shape} × {rhs.shape} matrices"
        )
    if k > MAX_K or n > MAX_DIM:
        raise ValueError(f"{lhs.shape} × {rhs.shape} is beyond the workloads' limits")
    matrix = np.ascontiguousarray(claimed, dtype=np.int32)
    row_bias = None if bias is None else np.broadcast_to(bias, (1, n)).reshape(n).astype(np.int32)
    layer = _Layer(np.ascontiguousarray(rhs, dtype=np.int8), row_bias)
    grid = _Grid(0, m, n, max(m, 1), max(n, 1))
    return np.flatnonzero(_flag_rows(lhs, [layer], [grid], _addresses([matrix]), rng)[0])


def _check_steps(
    spec: JobSpec, inputs: Mapping[str, bytes], leaves: Sequence[Leaf], rng: np.random.Generator
) -> int | None:
    """sgd_fxp: the first wrong step among sgd_spot_checks(T) distinct random steps, each
    recomputed from the committed weights before it; mlp_fxp: the first wrong checkpoint, every
    one recomputed from the one before (a faked checkpoint can make every later one cheap and
    right: `runtime.workloads.mlp_shape`)."""
    steps = len(leaves)
    picks = (
        np.arange(steps)
        if spec.workload == "mlp_fxp"
        else np.sort(rng.choice(steps, size=sgd_spot_checks(steps), replace=False))
    )
    for t in picks.tolist():
        deps = {d: bytes(leaves[d]) for d in leaf_dependencies(spec, t)}
        if recompute_leaf(spec, inputs, t, deps, device="cpu") != leaves[t]:
            return int(t)
    return None


def check_result(
    spec: JobSpec,
    inputs: Mapping[str, bytes],
    leaves: Sequence[Leaf],
    *,
    rng: np.random.Generator | None = None,
) -> int | None:
    """The first wrong leaf of a result, or None when it passes.

    gemm_i8 and qmlp_i8 are checked whole with Freivalds (a wrong row escapes with probability
    at most 2^−SECURITY_BITS); sgd_fxp by recomputing sgd_spot_checks(T) random steps, mlp_fxp
    every checkpoint. The
    leaves must already match the committed root.
    """
    rng = rng if rng is not None else np.random.default_rng()
    arrays = _arrays(spec, inputs)
    if spec.workload in ("sgd_fxp", "mlp_fxp"):
        check_leaf_sizes(spec, cast(Sequence[bytes], leaves))
        return _check_steps(spec, inputs, leaves, rng)
    grids = _grids(spec, spec.shape.leaves)
    leaves = _held(leaves)  # read where they lie, so kept alive by the check's own list
    # Bytes leaves of the right sizes are known so in one compiled pass; others are checked
    # one by one.
    addresses = _leaf_addresses(grids, leaves)
    if addresses is None:
        check_leaf_sizes(spec, cast(Sequence[bytes], leaves))
    if spec.workload == "gemm_i8":
        layer = _Layer(arrays["b"], None)
        return _check_layers(arrays["a"], [layer], grids, leaves, rng, addresses)
    qmlp: list[QmlpLayer] = arrays["layers"]
    layers = [_Layer(q.weights, q.bias, q.mult, q.shift) for q in qmlp]
    return _check_layers(arrays["x"], layers, grids, leaves, rng, addresses)


__all__ = [
    "SECURITY_BITS",
    "SGD_CHECK_SHARE",
    "SGD_SPOT_CHECKS",
    "bad_rows",
    "check_result",
    "random_bits",
    "sgd_spot_checks",
]
