"""The int8 dot-product blocks of the CPU gemm kernel, in LLVM IR (Numba intrinsics).

A block computes the dot products of 1 or 2 rows of A against 1 or 4 rows of Bᵀ over a slice
of K, its products sharing their loads: on x86 with AVX2 by `vpmaddwd` (16 int16 products summed
in pairs into 8 int32 lanes per instruction), elsewhere the same arithmetic in portable vector
IR. `_transpose_16x16` moves a 16 × 16 block of int8 through vector registers.
Used by `gpu_worker.kernels.cpu` (the tiled gemm) and the audit kernels (`AVX2`).
"""

from __future__ import annotations

import platform
from typing import Any, Final

import numba
from llvmlite import binding as llvm_binding  # type: ignore[import-untyped]
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

LANES: Final = 16
"""int8 elements per vector step of a dot product (one 128-bit load, 16 int16 after widening)."""


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
