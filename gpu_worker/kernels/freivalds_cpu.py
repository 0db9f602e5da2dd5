"""Freivalds' int8 sweeps on the CPU: one int8 row against byte planes, 64 bytes an instruction.

Freivalds' check (`gpu_worker.freivalds`) forms W·R (int8 weights against R, entries below
2^30) and h·(W·R) (int8 rows against W·R, entries below 2^38 in magnitude) exactly in int64.
Multiplying an int8 by an int64 costs a 64-bit multiply and an add a pair of entries, 8 pairs an
instruction. Here the wide operand is cut into bytes instead: a "plane" holds one byte (limb) of
every entry, so that x·v = Σ_L 2^(8L)·(x·v_L) for v = Σ_L 2^(8L)·v_L with unsigned bytes v_L,
and each x·v_L is a sum of int8 × uint8 products, which AVX-512 VNNI's `vpdpbusd` forms 64 at a
time into 16 int32 lanes (four products a lane).

Why int32 lanes are exact: a product is at most 255·128 = 32,640 in magnitude, a lane takes four
a chunk of 64 bytes, and a row has at most ⌈MAX_K / 64⌉ = 2,048 chunks (MAX_K = 131,071 ≥ every
length the check passes: K for h·(W·R), N ≤ MAX_DIM for W·R), so a lane stays below
2,048·4·32,640 = 267,386,880 < 2^31. The lanes are summed in int64 at the end.

`planes_dot(count)` is the intrinsic for `count` planes; where the target has no AVX-512 VNNI
(`llvm_ir.VNNI`), the same products and sums are formed in portable vector IR, with the same
bits. `rows_dot` forms C·R by AVX-512 IFMA where the target has it (`IFMA`, decided as
`llvm_ir.target_has` decides every feature), likewise with a portable path.
"""

from __future__ import annotations

from typing import Any, Final

from llvmlite import ir  # type: ignore[import-untyped]
from numba import types
from numba.extending import intrinsic

from gpu_worker.kernels.llvm_ir import VNNI, counted_loop, quad_sums, splat, target_has

CHUNK: Final = 64
"""Bytes of a row (and of each plane) one pass of `planes_dot` takes."""


_I8: Final = ir.IntType(8)
_I32: Final = ir.IntType(32)
_I64: Final = ir.IntType(64)
_BYTES: Final = ir.VectorType(_I8, CHUNK)
_LANES: Final = ir.VectorType(_I32, CHUNK // 4)


def _dot_bytes(builder: Any, acc: Any, unsigned: Any, signed: Any, vnni: bool) -> Any:
    """acc[l] + Σ_{i<4} unsigned[4l + i]·signed[4l + i] for the 16 int32 lanes l."""
    if vnni:
        return quad_sums(
            builder, acc, builder.bitcast(unsigned, _LANES), builder.bitcast(signed, _LANES)
        )
    wide = ir.VectorType(_I32, CHUNK)
    products = builder.mul(builder.zext(unsigned, wide), builder.sext(signed, wide))
    total = acc
    for i in range(4):
        lanes = ir.Constant(_LANES, [4 * lane + i for lane in range(CHUNK // 4)])
        total = builder.add(total, builder.shuffle_vector(products, products, lanes))
    return total


def _planes_dot_typer(count: int, vnni: bool, rows: int) -> Any:
    def typed(args: tuple[Any, ...]) -> Any:
        if not all(isinstance(arg, types.Integer) for arg in args):
            return None
        return types.void(*([types.int64] * len(args))), codegen

    def typer(typingctx: Any, row: Any, planes: Any, stride: Any, chunks: Any, out: Any) -> Any:
        return typed((row, planes, stride, chunks, out))

    def typer_two(
        typingctx: Any, row: Any, row1: Any, planes: Any, stride: Any, chunks: Any, out: Any
    ) -> Any:
        return typed((row, row1, planes, stride, chunks, out))

    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        *rows_at, planes_at, stride, chunks, out_at = args
        row_bases = [builder.inttoptr(at, _I8.as_pointer()) for at in rows_at]
        planes = builder.inttoptr(planes_at, _I8.as_pointer())

        def load(base: Any, offset: Any) -> Any:
            address = builder.bitcast(builder.gep(base, [offset]), _BYTES.as_pointer())
            return builder.load(address, align=1)

        def step(c: Any, sums: list[Any]) -> list[Any]:
            offset = builder.mul(c, ir.Constant(_I64, CHUNK))
            xs = [load(base, offset) for base in row_bases]
            out = list(sums)
            for k in range(count):
                at = builder.add(offset, builder.mul(stride, ir.Constant(_I64, k)))
                plane = load(planes, at)
                for r, x in enumerate(xs):
                    out[r * count + k] = _dot_bytes(builder, sums[r * count + k], plane, x, vnni)
            return out

        zero = ir.Constant(_I64, 0)
        finals = counted_loop(builder, "planes", zero, chunks, 1, rows * count, _LANES, step)
        wide = ir.VectorType(_I64, CHUNK // 4)
        reduce = builder.module.globals.get("llvm.vector.reduce.add.v16i64") or ir.Function(
            builder.module, ir.FunctionType(_I64, [wide]), "llvm.vector.reduce.add.v16i64"
        )
        out = builder.inttoptr(out_at, _I64.as_pointer())
        for k, total in enumerate(finals):
            value = builder.call(reduce, [builder.sext(total, wide)])
            builder.store(value, builder.gep(out, [ir.Constant(_I64, k)]))
        return context.get_dummy_value()

    return typer_two if rows == 2 else typer


def planes_dot(count: int, *, vnni: bool = VNNI, rows: int = 1) -> Any:
    """An intrinsic planes_dot(row, planes, stride, chunks, out) (all int64 addresses or counts):
    out[k] = Σ_{p < 64·chunks} int8 row[p] · uint8 planes[k·stride + p] for k < count, in int64
    (chunks ≤ 2,048: see the module docstring). Reads 64·chunks bytes of the row and of each
    plane; no alignment needed. With rows=2, planes_dot(row, row1, planes, stride, chunks, out)
    does the same for two rows, each load of a plane serving both: out[count + k] for row1."""
    if rows not in (1, 2):
        raise ValueError(f"planes_dot takes one or two rows, not {rows}")
    return intrinsic(_planes_dot_typer(count, vnni, rows))


# C·R: four int32 rows of a claimed result against two rounds of R

IFMA: Final = target_has("avx512ifma")
IFMA_BITS: Final = 20
"""R's entries stay below 2^IFMA_BITS, so that (C + 2^31)·r < 2^32·2^20 = 2^52 fits the 52-bit
product that `vpmadd52luq` keeps."""
ROW_STEP: Final = 16
"""Entries of each row one pass of `rows_dot` takes."""
ACC_VECTORS: Final = 10
"""`rows_dot`'s running sums: a vector for each of four rows and two rounds, then Σ r_q."""
_SIGN: Final = 1 << 31
_V8I32: Final = ir.VectorType(_I32, 8)
_V8I64: Final = ir.VectorType(_I64, 8)


def _times_r(builder: Any, acc: Any, c: Any, r: Any, ifma: bool) -> Any:
    """acc + (c + 2^31)·r lane by lane in 8 int64 lanes (c: 8 int32 of C, r: 8 int32 of R below
    2^IFMA_BITS): by IFMA where the target has it (the product is below 2^52, all of it kept)."""
    sign = ir.Constant(_V8I64, [_SIGN] * 8)
    if not ifma:
        unsigned = builder.add(builder.sext(c, _V8I64), sign)
        return builder.add(acc, builder.mul(unsigned, builder.zext(r, _V8I64)))
    name = "llvm.x86.avx512.vpmadd52l.uq.512"
    madd = builder.module.globals.get(name) or ir.Function(
        builder.module, ir.FunctionType(_V8I64, [_V8I64, _V8I64, _V8I64]), name
    )
    unsigned = builder.xor(builder.zext(c, _V8I64), sign)  # C + 2^31, in [0, 2^32)
    return builder.call(madd, [acc, unsigned, builder.zext(r, _V8I64)])


def _requantize(builder: Any, c: Any, scale: tuple[Any, Any, Any]) -> Any:
    """8 int32 entries c requantized to int8: min(max((c·mult + half) >> shift, 0), 127), the
    product in int64 (mult an int32: `cpu.requantize`)."""
    mult, half, shift = scale
    v = builder.add(builder.mul(builder.sext(c, _V8I64), mult), half)
    v = builder.ashr(v, shift)
    low = builder.icmp_signed("<", v, ir.Constant(_V8I64, [0] * 8))
    v = builder.select(low, ir.Constant(_V8I64, [0] * 8), v)
    high = builder.icmp_signed(">", v, ir.Constant(_V8I64, [127] * 8))
    v = builder.select(high, ir.Constant(_V8I64, [127] * 8), v)
    return builder.trunc(v, ir.VectorType(_I8, 8))


def _rows_dot_typer(ifma: bool, requantize: bool) -> Any:
    def typed(args: tuple[Any, ...]) -> Any:
        if not all(isinstance(arg, types.Integer) for arg in args):
            return None
        return types.void(*([types.int64] * len(args))), codegen

    def typer(
        typingctx: Any, c0: Any, c1: Any, c2: Any, c3: Any, r0: Any, r1: Any, chunks: Any, acc: Any
    ) -> Any:
        return typed((c0, c1, c2, c3, r0, r1, chunks, acc))

    def typer_requantizing(
        typingctx: Any,
        c0: Any,
        c1: Any,
        c2: Any,
        c3: Any,
        r0: Any,
        r1: Any,
        chunks: Any,
        acc: Any,
        outs: Any,
        scale: Any,
    ) -> Any:
        return typed((c0, c1, c2, c3, r0, r1, chunks, acc, outs, scale))

    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        *rows_at, r0_at, r1_at, chunks, acc_at = args[:8]
        i32p = _I32.as_pointer()
        rows = [builder.inttoptr(at, i32p) for at in rows_at]
        rs = [builder.inttoptr(at, i32p) for at in (r0_at, r1_at)]
        outs: list[Any] = []
        scale: tuple[Any, Any, Any] | None = None
        if requantize:
            table = builder.inttoptr(args[8], _I64.as_pointer())
            outs = [
                builder.inttoptr(
                    builder.load(builder.gep(table, [ir.Constant(_I64, k)])), _I8.as_pointer()
                )
                for k in range(4)
            ]
            values = builder.inttoptr(args[9], _I64.as_pointer())
            mult, half, shift = (
                builder.load(builder.gep(values, [ir.Constant(_I64, k)])) for k in range(3)
            )
            mult = builder.sext(builder.trunc(mult, _I32), _I64)
            scale = (splat(builder, mult, 8), splat(builder, half, 8), splat(builder, shift, 8))

        def load(base: Any, offset: Any) -> Any:
            address = builder.bitcast(builder.gep(base, [offset]), _V8I32.as_pointer())
            return builder.load(address, align=4)

        def step(c: Any, sums: list[Any]) -> list[Any]:
            sums = list(sums)
            for part in range(ROW_STEP // 8):
                offset = builder.add(
                    builder.mul(c, ir.Constant(_I64, ROW_STEP)), ir.Constant(_I64, 8 * part)
                )
                r = [load(base, offset) for base in rs]
                for k, row in enumerate(rows):
                    x = load(row, offset)
                    for q in range(2):
                        sums[2 * k + q] = _times_r(builder, sums[2 * k + q], x, r[q], ifma)
                    if scale is not None:
                        at = builder.gep(outs[k], [offset])
                        target = builder.bitcast(at, ir.VectorType(_I8, 8).as_pointer())
                        builder.store(_requantize(builder, x, scale), target, align=1)
                for q in range(2):
                    sums[8 + q] = builder.add(sums[8 + q], builder.zext(r[q], _V8I64))
            return sums

        zero = ir.Constant(_I64, 0)
        finals = counted_loop(builder, "rows", zero, chunks, 1, ACC_VECTORS, _V8I64, step)
        acc = builder.inttoptr(acc_at, _V8I64.as_pointer())
        for k, total in enumerate(finals):
            at = builder.gep(acc, [ir.Constant(_I64, k)])
            builder.store(builder.add(builder.load(at, align=8), total), at, align=8)
        return context.get_dummy_value()

    return typer_requantizing if requantize else typer


def rows_dot(*, ifma: bool = IFMA, requantize: bool = False) -> Any:
    """An intrinsic rows_dot(c0, c1, c2, c3, r0, r1, chunks, acc) (int64 addresses or counts)
    for four int32 rows c_k of C and two int32 rows r_q of R (entries in [0, 2^IFMA_BITS)),
    their first 16·chunks entries: adds to acc (ACC_VECTORS vectors of 8 int64 lanes, 8-byte
    aligned) (c_k + 2^31)·r_q into vector 2k + q lane by lane and r_q into vector 8 + q, lanes
    wrapping modulo 2^64; `acc_sums` takes the offset off. (The offset makes C's entries the
    unsigned operands an IFMA multiply takes; the portable path adds it too, for the same bits.)

    With `requantize`, two more arguments, outs and scale: the addresses of four int64 (where
    each row's int8 requantization goes) and of (mult, half, shift); each entry read is also
    requantized, as `cpu.requantize` does, in the same pass."""
    return intrinsic(_rows_dot_typer(ifma, requantize))


def _acc_sums_typer(typingctx: Any, acc: Any, out: Any) -> Any:
    if not all(isinstance(arg, types.Integer) for arg in (acc, out)):
        return None

    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        acc = builder.inttoptr(args[0], _V8I64.as_pointer())
        out = builder.inttoptr(args[1], _I64.as_pointer())
        reduce = builder.module.globals.get("llvm.vector.reduce.add.v8i64") or ir.Function(
            builder.module, ir.FunctionType(_I64, [_V8I64]), "llvm.vector.reduce.add.v8i64"
        )
        totals = [
            builder.call(reduce, [builder.load(builder.gep(acc, [ir.Constant(_I64, k)]), align=8)])
            for k in range(ACC_VECTORS)
        ]
        for k in range(8):
            offset = builder.shl(totals[8 + k % 2], ir.Constant(_I64, 31))
            builder.store(builder.sub(totals[k], offset), builder.gep(out, [ir.Constant(_I64, k)]))
        return context.get_dummy_value()

    return types.void(types.int64, types.int64), codegen


acc_sums: Final[Any] = intrinsic(_acc_sums_typer)
"""An intrinsic acc_sums(acc, out) (int64 addresses): out[2k + q] = Σ c_k·r_q from `rows_dot`'s
running sums: the lanes of vector 2k + q summed, less 2^31 times the lanes of vector 8 + q, all
modulo 2^64, which is exact where the true sum lies in int64 (every sum the check forms is below
2^62 in magnitude: `gpu_worker.freivalds.random_bits`)."""
