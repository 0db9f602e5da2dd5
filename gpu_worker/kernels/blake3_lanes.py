"""BLAKE3's compression function on 16 inputs side by side, written in LLVM vector IR.

`compress16(data, pad, offsets, step, params, keep, add, cv)` runs one BLAKE3 compression (the
BLAKE3 paper, section 2.2) in each of 16 lanes: lane l hashes the 64-byte block at word
`offsets[l] + step` of `data` (or, where `offsets[l]` is negative, the lane's own 16 words of
`pad`, which holds a last block padded with zeros or a block gathered across the rows of a
tile), with its chaining value from `cv` (8 rows of 16 lanes) and its counter, block length and
flags from `params` (4 rows of 16 lanes: counter low, counter high, length, flags; the flags
used are `(flags & keep) | add`); the new chaining values (the first 8 words of the output,
which for a block flagged ROOT is the hash) go back into `cv`. `step`, `keep` and `add` let a
caller walk 16 chunks block by block without rewriting the lanes' offsets and flags.

Why IR and not plain Numba: the state is 16 vectors of 16 uint32 (one AVX-512 register each),
kept in registers through the 7 rounds; rotations are `llvm.fshr` (one `vprord` on AVX-512);
the 16 message blocks are loaded whole, one per lane, and transposed with shuffles (`vpermt2d`)
where element-by-element code gathers 256 words. The same lanes written as loops over arrays
reached 1.2 to 1.4 GiB/s a core on the development machine (AMD Zen 4), held back by the state
going through memory and by the gathers. Elsewhere (AVX2, NEON) LLVM splits each vector in two
or four; the arithmetic is the same.
"""

from __future__ import annotations

from typing import Any, Final

from llvmlite import ir  # type: ignore[import-untyped]
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

from gpu_worker.kernels.llvm_ir import splat, transpose_16

LANES: Final = 16
"""Inputs compressed side by side: 16 uint32 lanes, one AVX-512 register."""
IV: Final = (0x6A09E667, 0xBB67AE85, 0x3C6EF372, 0xA54FF53A)
"""The first half of BLAKE3's IV (SHA-256's), which fills state words 8 to 11."""
PERMUTATION: Final = (2, 6, 3, 10, 7, 0, 4, 13, 1, 11, 12, 5, 9, 14, 15, 8)
"""BLAKE3's message permutation between rounds."""
CHUNK_START: Final = 1
CHUNK_END: Final = 2
PARENT: Final = 4
ROOT: Final = 8
KEYED_HASH: Final = 16
CHUNK_WORDS: Final = 256
"""A BLAKE3 chunk: 1,024 bytes, 16 blocks of 16 words."""
BLOCK_WORDS: Final = 16

_declare: Any = cgutils.get_or_insert_function
_ARRAYS: Final = ((types.uint32, 1), (types.uint32, 1), (types.int64, 1), (types.uint32, 1))


def _is_array(ty: Any, dtype: Any) -> bool:
    return isinstance(ty, types.Array) and ty.dtype == dtype and ty.ndim == 1 and ty.layout == "C"


def _compress16_typer(
    typingctx: Any, data: Any, pad: Any, offsets: Any, step: Any, params: Any, keep: Any,
    add: Any, cv: Any,
) -> Any:  # fmt: skip
    """The intrinsic's signature: uint32 data, uint32 pad, int64 offsets, an integer step,
    uint32 params, integer flag masks keep and add, uint32 cv (arrays 1-D C-contiguous)."""
    for ty, (dtype, _) in zip((data, pad, offsets, params), _ARRAYS, strict=True):
        if not _is_array(ty, dtype):
            return None
    if not _is_array(cv, types.uint32):
        return None
    if not all(isinstance(ty, types.Integer) for ty in (step, keep, add)):
        return None

    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        i32, i64 = ir.IntType(32), ir.IntType(64)
        vec = ir.VectorType(i32, LANES)
        vec_ptr = vec.as_pointer()
        arrays = [
            context.make_array(signature.args[n])(context, builder, args[n])
            for n in (0, 1, 2, 4, 7)
        ]
        step, keep, add = (
            context.cast(builder, args[n], signature.args[n], types.int64) for n in (3, 5, 6)
        )
        keep_vec = splat(builder, builder.trunc(keep, i32), LANES)
        add_vec = splat(builder, builder.trunc(add, i32), LANES)
        data_ptr = builder.bitcast(arrays[0].data, i32.as_pointer())
        pad_ptr = builder.bitcast(arrays[1].data, i32.as_pointer())
        offsets_ptr = builder.bitcast(arrays[2].data, i64.as_pointer())
        params_ptr = builder.bitcast(arrays[3].data, i32.as_pointer())
        cv_ptr = builder.bitcast(arrays[4].data, i32.as_pointer())

        def row(base: Any, index: int) -> Any:
            return builder.bitcast(builder.gep(base, [ir.Constant(i64, LANES * index)]), vec_ptr)

        zero = ir.Constant(i64, 0)
        blocks = []
        for lane in range(LANES):
            offset = builder.load(builder.gep(offsets_ptr, [ir.Constant(i64, lane)]))
            own = builder.gep(pad_ptr, [ir.Constant(i64, BLOCK_WORDS * lane)])
            at = builder.gep(data_ptr, [builder.add(offset, step)])
            source = builder.select(builder.icmp_signed(">=", offset, zero), at, own)
            blocks.append(builder.load(builder.bitcast(source, vec_ptr), align=4))
        m = transpose_16(builder, blocks)

        fshr = _declare(builder.module, ir.FunctionType(vec, [vec, vec, vec]), "llvm.fshr.v16i32")

        def rotr(x: Any, n: int) -> Any:
            return builder.call(fshr, [x, x, ir.Constant(vec, [n] * LANES)])

        def g(v: list[Any], a: int, b: int, c: int, d: int, x: Any, y: Any) -> None:
            v[a] = builder.add(builder.add(v[a], v[b]), x)
            v[d] = rotr(builder.xor(v[d], v[a]), 16)
            v[c] = builder.add(v[c], v[d])
            v[b] = rotr(builder.xor(v[b], v[c]), 12)
            v[a] = builder.add(builder.add(v[a], v[b]), y)
            v[d] = rotr(builder.xor(v[d], v[a]), 8)
            v[c] = builder.add(v[c], v[d])
            v[b] = rotr(builder.xor(v[b], v[c]), 7)

        chaining = [builder.load(row(cv_ptr, i), align=4) for i in range(8)]
        v = [
            *chaining,
            *(ir.Constant(vec, [word] * LANES) for word in IV),
            *(builder.load(row(params_ptr, i), align=4) for i in range(3)),
            builder.or_(builder.and_(builder.load(row(params_ptr, 3), align=4), keep_vec), add_vec),
        ]
        for _ in range(7):
            g(v, 0, 4, 8, 12, m[0], m[1])
            g(v, 1, 5, 9, 13, m[2], m[3])
            g(v, 2, 6, 10, 14, m[4], m[5])
            g(v, 3, 7, 11, 15, m[6], m[7])
            g(v, 0, 5, 10, 15, m[8], m[9])
            g(v, 1, 6, 11, 12, m[10], m[11])
            g(v, 2, 7, 8, 13, m[12], m[13])
            g(v, 3, 4, 9, 14, m[14], m[15])
            m = [m[p] for p in PERMUTATION]
        for i in range(8):
            builder.store(builder.xor(v[i], v[i + 8]), row(cv_ptr, i), align=4)
        return context.get_dummy_value()

    return types.void(data, pad, offsets, step, params, keep, add, cv), codegen


compress16: Any = intrinsic(_compress16_typer)
"""compress16(data, pad, offsets, step, params, keep, add, cv): one BLAKE3 compression in each of
16 lanes (see the module docstring); `params` and `cv` are rows of 16 lanes (4 and 8 rows)."""
