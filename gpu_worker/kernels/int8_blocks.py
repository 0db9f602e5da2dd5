"""The int8 dot-product blocks of the CPU gemm kernel, in LLVM IR (Numba intrinsics).

A block computes the dot products of 1 or 2 rows of A against 1 or 4 rows of Bᵀ over a slice
of K, its products sharing their loads: on x86 with AVX2 by `vpmaddwd` (16 int16 products summed
in pairs into 8 int32 lanes per instruction), elsewhere the same arithmetic in portable vector
IR (`gpu_worker.kernels.llvm_ir`). `_transpose_16x16` moves a 16 × 16 block of int8 through
vector registers. Used by `gpu_worker.kernels.cpu` (the tiled gemm).
"""

from __future__ import annotations

from typing import Any, Final

from llvmlite import ir  # type: ignore[import-untyped]
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

from gpu_worker.kernels.llvm_ir import counted_loop, load_widened, pair_sums, transpose_16

LANES: Final = 16
"""int8 elements per vector step of a dot product (one 128-bit load, 16 int16 after widening)."""


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
        i8, i32, i64 = ir.IntType(8), ir.IntType(32), ir.IntType(64)
        v8i32 = ir.VectorType(i32, 8)
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

        def step(p: Any, running: list[Any]) -> list[Any]:
            a_vecs = [load_widened(builder, builder.gep(base, [p])) for base in a_rows]
            b_vecs = [load_widened(builder, builder.gep(base, [p])) for base in b_rows]
            return [
                builder.add(running[r * cols + c], pair_sums(builder, a_vecs[r], b_vecs[c]))
                for r in range(rows)
                for c in range(cols)
            ]

        finals = counted_loop(builder, "dot", p0, p1, LANES, rows * cols, v8i32, step)
        reduce_add = _declare(
            builder.module, ir.FunctionType(i32, [v8i32]), "llvm.vector.reduce.add.v8i32"
        )
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
        i8, i64 = ir.IntType(8), ir.IntType(64)
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
        rows = transpose_16(builder, rows)
        for c in range(16):
            builder.store(rows[c], address(t_data, t_stride, j0, c, p0), align=1)
        return context.get_dummy_value()

    return types.void(b, p, j, bt), codegen


_transpose_16x16: Any = intrinsic(_transpose_16x16_typer)
_dot_2x4 = _dot_block(2, 4)
_dot_1x4 = _dot_block(1, 4)
_dot_2x1 = _dot_block(2, 1)
_dot_1x1 = _dot_block(1, 1)
