"""The pieces of LLVM IR that the CPU kernels' Numba intrinsics have in common.

`int8_blocks` (the gemm's dot-product blocks and its 16 × 16 transpose), `audit_cpu` (an audit's
tiles and their witnesses) and `blake3_lanes` (BLAKE3 in 16 lanes) write their inner loops in
LLVM IR through llvmlite. Each function here emits one such piece at the `builder`'s position:

- `pair_sums`: int16 products summed in pairs into int32 lanes, by `vpmaddwd` where the target
  has AVX2 (`AVX2`), elsewhere by the same arithmetic in portable vector IR;
- `load_widened`: 16 int8 loaded and widened to int16;
- `splat`: a vector of copies of one value;
- `interleave` and `transpose_16`: 16-lane vectors interleaved, and 16 of them transposed;
- `quad_sums`: unsigned × signed bytes summed in fours into int32 lanes (`vpdpbusd`; only where
  the target has `VNNI`);
- `counted_loop`: a loop over a range that carries its vector sums in registers.
"""

from __future__ import annotations

import platform
from collections.abc import Callable
from typing import Any, Final

import numba
from llvmlite import binding as llvm_binding  # type: ignore[import-untyped]
from llvmlite import ir
from numba.core import cgutils


def target_has(feature: str) -> bool:
    """Whether Numba compiles for a CPU with the x86 `feature` (LLVM's name, as "avx2"): the
    host CPU's features unless NUMBA_CPU_FEATURES or NUMBA_CPU_NAME say otherwise (a named CPU
    without a feature list counts as having none, so NUMBA_CPU_NAME=generic gives the portable
    paths)."""
    features = getattr(numba.config, "CPU_FEATURES", None)
    if features:
        return f"+{feature}" in str(features).split(",")
    if getattr(numba.config, "CPU_NAME", None):
        return False
    if platform.machine().lower() not in ("x86_64", "amd64"):
        return False
    return bool(llvm_binding.get_host_cpu_features().get(feature, False))


AVX2: Final = target_has("avx2")
VNNI: Final = target_has("avx512vnni") and target_has("avx512bw")
"""Whether the target has AVX-512 VNNI (`vpdpbusd`, used by `quad_sums`) with 512-bit byte
shuffles; kernels that use it keep a portable path giving the same bits."""
_declare: Any = cgutils.get_or_insert_function
_I32: Final = ir.IntType(32)
_I64: Final = ir.IntType(64)
_INTERLEAVE_LOW: Final = ir.Constant(
    ir.VectorType(_I32, 16), [x for i in range(8) for x in (i, i + 16)]
)
_INTERLEAVE_HIGH: Final = ir.Constant(
    ir.VectorType(_I32, 16), [x for i in range(8, 16) for x in (i, i + 16)]
)


def pair_sums(builder: Any, x: Any, y: Any) -> Any:
    """x[2l]·y[2l] + x[2l + 1]·y[2l + 1] in int32 lane l, for x and y of 16 int16."""
    v16i16, v8i32 = ir.VectorType(ir.IntType(16), 16), ir.VectorType(_I32, 8)
    if AVX2:
        pmadd = _declare(
            builder.module, ir.FunctionType(v8i32, [v16i16, v16i16]), "llvm.x86.avx2.pmadd.wd"
        )
        return builder.call(pmadd, [x, y])
    parts = []
    for first in (0, 1):
        lanes = ir.Constant(ir.VectorType(_I32, 8), list(range(first, 16, 2)))
        xs = builder.sext(builder.shuffle_vector(x, x, lanes), v8i32)
        ys = builder.sext(builder.shuffle_vector(y, y, lanes), v8i32)
        parts.append(builder.mul(xs, ys))
    return builder.add(parts[0], parts[1])


def quad_sums(builder: Any, acc: Any, unsigned: Any, signed: Any) -> Any:
    """acc[l] + Σ_{q<4} unsigned[4l + q]·signed[4l + q] in int32 lane l (modulo 2^32), for acc
    of 16 int32 and the others 64 bytes each as 16 int32: one `vpdpbusd` (the target must have
    `VNNI`). A lane's four products fit 18 bits, so nothing saturates; the sum wraps."""
    v16i32 = ir.VectorType(_I32, 16)
    dot = _declare(
        builder.module,
        ir.FunctionType(v16i32, [v16i32, v16i32, v16i32]),
        "llvm.x86.avx512.vpdpbusd.512",
    )
    return builder.call(dot, [acc, unsigned, signed])


def load_widened(builder: Any, address: Any) -> Any:
    """The 16 int8 at `address` (an i8 pointer, any alignment) as 16 int16."""
    v16i8 = ir.VectorType(ir.IntType(8), 16)
    loaded = builder.load(builder.bitcast(address, v16i8.as_pointer()), align=1)
    return builder.sext(loaded, ir.VectorType(ir.IntType(16), 16))


def splat(builder: Any, value: Any, count: int) -> Any:
    """The vector of `count` copies of the integer `value`."""
    vec = ir.VectorType(value.type, count)
    one = builder.insert_element(ir.Constant(vec, None), value, ir.Constant(_I32, 0))
    return builder.shuffle_vector(one, one, ir.Constant(ir.VectorType(_I32, count), [0] * count))


def interleave(builder: Any, x: Any, y: Any) -> tuple[Any, Any]:
    """Two 16-lane vectors interleaved lane by lane: (x0, y0, …, x7, y7), (x8, y8, …, x15, y15)."""
    return (
        builder.shuffle_vector(x, y, _INTERLEAVE_LOW),
        builder.shuffle_vector(x, y, _INTERLEAVE_HIGH),
    )


def transpose_16(builder: Any, rows: list[Any]) -> list[Any]:
    """The 16 × 16 transpose of 16 vectors of 16 lanes: four rounds interleaving row i with row
    i + 8 (each round is a perfect shuffle of the 256 elements; four of them transpose)."""
    for _ in range(4):
        mixed: list[Any] = []
        for i in range(8):
            mixed.extend(interleave(builder, rows[i], rows[i + 8]))
        rows = mixed
    return rows


def counted_loop(
    builder: Any,
    name: str,
    start: Any,
    stop: Any,
    by: int,
    sums: int,
    vector: Any,
    step: Callable[[Any, list[Any]], list[Any]],
) -> list[Any]:
    """The `sums` vectors (of type `vector`) that a loop over p in range(start, stop, by) leaves
    (start and stop i64 values): each starts at zero, and `step(p, running)` emits one pass's IR
    and returns the sums after it. Where start ≥ stop the loop is skipped and the sums are zero.
    The builder is left after the loop, in a block named `name`.done."""
    zero = ir.Constant(vector, [0] * vector.count)
    entry = builder.basic_block
    loop = builder.append_basic_block(f"{name}.loop")
    done = builder.append_basic_block(f"{name}.done")
    builder.cbranch(builder.icmp_signed("<", start, stop), loop, done)

    builder.position_at_end(loop)
    p = builder.phi(_I64)
    running = [builder.phi(vector) for _ in range(sums)]
    after = step(p, running)
    p_next = builder.add(p, ir.Constant(_I64, by))
    p.add_incoming(start, entry)
    p.add_incoming(p_next, loop)
    for acc, total in zip(running, after, strict=True):
        acc.add_incoming(zero, entry)
        acc.add_incoming(total, loop)
    builder.cbranch(builder.icmp_signed("<", p_next, stop), loop, done)

    builder.position_at_end(done)
    finals = []
    for total in after:
        final = builder.phi(vector)
        final.add_incoming(zero, entry)
        final.add_incoming(total, loop)
        finals.append(final)
    return finals
