"""The tfm_i8 scheme's per-value arithmetic, once, for the CPU and the GPU kernels.

Plain Python on integers: `gpu_worker.tfm.cpu` compiles each function with numba.njit and
`gpu_worker.tfm.cuda` with numba.cuda.jit(device=True), so both devices run the same source. Each
is self-contained (a compiled function may call only compiled ones) and follows
`gpu_worker.tfm.spec` step by step; `gpu_worker.tfm.reference` writes the same steps over arrays.
"""

from __future__ import annotations

from gpu_worker.tfm.spec import (
    ERF_A,
    ERF_CLIP,
    EXP_B,
    EXP_C,
    EXP_MAX_SHIFT,
    LN2_Q,
    PROB_ONE,
)


def rq_value(a: int, mult: int, shift: int, lo: int, hi: int) -> int:
    """clamp((a·mult + 2^(s−1)) >> s, lo, hi), s = clamp(shift, 1, 62)."""
    s = min(max(shift, 1), 62)
    v = (a * mult + (1 << (s - 1))) >> s
    return min(max(v, lo), hi)


def isqrt_value(n: int) -> int:
    """⌊√n⌋ for n ≥ 0, by Newton's iteration from a power of two above the root."""
    if n < 2:
        return n
    bits = 0
    m = n
    while m > 0:
        m >>= 1
        bits += 1
    x = 1 << ((bits + 1) // 2)
    while True:
        y = (x + n // x) >> 1
        if y >= x:
            return x
        x = y


def i_exp_value(d: int) -> int:
    """I-BERT's integer exp of d ≤ 0 (Q10), in units of 1 / (0.3585·2^20)."""
    k = (-d) // LN2_Q
    if k > EXP_MAX_SHIFT:
        return 0
    r = d + k * LN2_Q + EXP_B
    return (r * r + EXP_C) >> k


def probability_value(e: int, total: int) -> int:
    """⌊(2·127·e + total) / 2·total⌋: e / total as an int8 probability, rounded half up."""
    return (2 * PROB_ONE * e + total) // (2 * total)


def i_gelu_value(g: int) -> int:
    """I-BERT's integer GELU of g in Q10, in Q10."""
    a = min(abs(g), ERF_CLIP)
    t = a - ERF_CLIP
    sign = 1 if g > 0 else (-1 if g < 0 else 0)
    erf = sign * ((1 << 20) + ((ERF_A * t * t) >> 16))
    return (g * ((1 << 20) + erf)) >> 21
