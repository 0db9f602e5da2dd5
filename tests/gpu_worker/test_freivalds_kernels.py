"""Freivalds' CPU kernels (`gpu_worker.kernels.freivalds_cpu`): int8 rows against byte planes by
VNNI and C·R by IFMA equal their plain definitions in unbounded integers, on the AVX-512 path
and on the portable path alike, at the extremes the bounds allow (int8 −128, bytes 255, int32
accumulators at ±2^31, R at 2^20 − 1, the longest rows)."""

from __future__ import annotations

from typing import Any

import numba
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gpu_worker import freivalds
from gpu_worker.inputs import I8, I32, I64, QmlpLayer
from gpu_worker.kernels import cpu
from gpu_worker.kernels.freivalds_cpu import (
    ACC_VECTORS,
    CHUNK,
    IFMA,
    IFMA_BITS,
    ROW_STEP,
    VNNI,
    acc_sums,
    planes_dot,
    rows_dot,
)
from runtime.workloads import MAX_K

PATHS = [pytest.param(True, id="avx512"), pytest.param(False, id="portable")]
_DOT6 = {flag: planes_dot(6, vnni=flag) for flag in (True, False)}
_DOT6_TWO = {flag: planes_dot(6, vnni=flag, rows=2) for flag in (True, False)}
_ROWS = {flag: rows_dot(ifma=flag) for flag in (True, False)}
_ROWS_Q = {flag: rows_dot(ifma=flag, requantize=True) for flag in (True, False)}


def _planes_caller(dot: Any) -> Any:
    @numba.njit
    def call(row: I8, planes: Any, chunks: int, out: I64) -> None:
        dot(row.ctypes.data, planes.ctypes.data, planes.shape[1], chunks, out.ctypes.data)

    return call


def _two_rows_caller(dot: Any) -> Any:
    @numba.njit
    def call(row: I8, row1: I8, planes: Any, chunks: int, out: I64) -> None:
        dot(row.ctypes.data, row1.ctypes.data, planes.ctypes.data, planes.shape[1], chunks,
            out.ctypes.data)  # fmt: skip

    return call


def _rows_caller(dot: Any) -> Any:
    @numba.njit
    def call(c: I32, r: I32, chunks: int, acc: I64, out: I64) -> None:
        a = c.ctypes.data
        step = c.shape[1] * 4
        dot(a, a + step, a + 2 * step, a + 3 * step, r.ctypes.data, r.ctypes.data + r.shape[1] * 4,
            chunks, acc.ctypes.data)  # fmt: skip
        acc_sums(acc.ctypes.data, out.ctypes.data)

    return call


def _rows_requantized_caller(dot: Any) -> Any:
    @numba.njit
    def call(c: I32, r: I32, chunks: int, acc: I64, q: I8, scale: I64, out: I64) -> None:
        a = c.ctypes.data
        step = c.shape[1] * 4
        outs = np.array([q[k].ctypes.data for k in range(4)])
        dot(a, a + step, a + 2 * step, a + 3 * step, r.ctypes.data, r.ctypes.data + r.shape[1] * 4,
            chunks, acc.ctypes.data, outs.ctypes.data, scale.ctypes.data)  # fmt: skip
        acc_sums(acc.ctypes.data, out.ctypes.data)

    return call


_PLANES_CALL = {flag: _planes_caller(dot) for flag, dot in _DOT6.items()}
_TWO_ROWS_CALL = {flag: _two_rows_caller(dot) for flag, dot in _DOT6_TWO.items()}
_ROWS_CALL = {flag: _rows_caller(dot) for flag, dot in _ROWS.items()}
_ROWS_Q_CALL = {flag: _rows_requantized_caller(dot) for flag, dot in _ROWS_Q.items()}


def _skip_unless(flag: bool, present: bool, name: str) -> None:
    if flag and not present:
        pytest.skip(f"this CPU has no {name}")


def _planes_definition(row: I8, planes: Any, length: int) -> list[int]:
    return [sum(int(row[p]) * int(plane[p]) for p in range(length)) for plane in planes]


@pytest.mark.parametrize("vnni", PATHS)
@settings(max_examples=40, deadline=None)
@given(chunks=st.integers(0, 4), seed=st.integers(0, 2**32 - 1), extreme=st.booleans())
def test_planes_dot_equals_its_definition(
    vnni: bool, chunks: int, seed: int, extreme: bool
) -> None:
    _skip_unless(vnni, VNNI, "AVX-512 VNNI")
    rng = np.random.default_rng(seed)
    length = chunks * CHUNK + 5  # entries past 64·chunks are not read
    row = rng.integers(-128, 128, length, dtype=np.int8)
    planes = rng.integers(0, 256, (6, length), dtype=np.uint8)
    if extreme:
        row[: length // 2] = -128
        planes[:, : length // 2] = 255
    out = np.zeros(6, np.int64)
    _PLANES_CALL[vnni](row, planes, chunks, out)
    assert out.tolist() == _planes_definition(row, planes, chunks * CHUNK)
    row1 = rng.integers(-128, 128, length, dtype=np.int8)
    both = np.zeros(12, np.int64)
    _TWO_ROWS_CALL[vnni](row, row1, planes, chunks, both)
    assert both.tolist() == out.tolist() + _planes_definition(row1, planes, chunks * CHUNK)


@pytest.mark.parametrize("vnni", PATHS)
def test_planes_dot_int32_lanes_hold_at_the_longest_row(vnni: bool) -> None:
    """A row of MAX_K entries (2,048 chunks), every product −128·255: each int32 lane takes
    2,048·4 of them, −267,386,880, with no wrap."""
    _skip_unless(vnni, VNNI, "AVX-512 VNNI")
    chunks = -(-MAX_K // CHUNK)
    row = np.full(chunks * CHUNK, -128, np.int8)
    planes = np.full((6, chunks * CHUNK), 255, np.uint8)
    planes[1] = 0
    planes[2, ::2] = 1
    out = np.zeros(6, np.int64)
    _PLANES_CALL[vnni](row, planes, chunks, out)
    assert out.tolist() == [int(p.astype(np.int64) @ row.astype(np.int64)) for p in planes]
    assert out[0] == -128 * 255 * chunks * CHUNK


def wrapped(value: int) -> int:
    """`value` modulo 2^64, as a signed int64 (running sums wrap)."""
    return (value + 2**63) % 2**64 - 2**63


def _rows_definition(c: I32, r: I32, length: int) -> list[int]:
    return [
        sum(int(c[k, p]) * int(r[q, p]) for p in range(length)) for k in range(4) for q in range(2)
    ]


@pytest.mark.parametrize("ifma", PATHS)
@settings(max_examples=40, deadline=None)
@given(chunks=st.integers(0, 6), seed=st.integers(0, 2**32 - 1), extreme=st.booleans())
def test_rows_dot_equals_its_definition(ifma: bool, chunks: int, seed: int, extreme: bool) -> None:
    _skip_unless(ifma, IFMA, "AVX-512 IFMA")
    rng = np.random.default_rng(seed)
    length = chunks * ROW_STEP + 3
    c = rng.integers(-(2**31), 2**31, (4, length), dtype=np.int32)
    r = rng.integers(0, 2**IFMA_BITS, (2, length), dtype=np.int32)
    if extreme:
        c[0], c[1, ::2], c[2] = -(2**31), 2**31 - 1, 2**31 - 1
        r[:, : length // 2] = 2**IFMA_BITS - 1
    acc = rng.integers(-(2**40), 2**40, (ACC_VECTORS, 8))  # running sums start anywhere
    start = acc.copy()
    out = np.zeros(8, np.int64)
    _ROWS_CALL[ifma](c, r, chunks, acc, out)
    before = [int(start[k].sum()) - (int(start[8 + k % 2].sum()) << 31) for k in range(8)]
    sums = _rows_definition(c, r, chunks * ROW_STEP)
    expected = [b + d for b, d in zip(before, sums, strict=True)]
    assert out.tolist() == [wrapped(v) for v in expected]


@pytest.mark.parametrize("ifma", PATHS)
@pytest.mark.parametrize("value", [-(2**31), 2**31 - 1])
def test_rows_dot_at_int32_extremes_and_the_widest_rows(ifma: bool, value: int) -> None:
    """Rows of ±2^31 against R at 2^20 − 1 over 2^11 entries: each product uses all 52 bits of an
    IFMA multiply, and the lanes wrap modulo 2^64 before the offset is taken off."""
    _skip_unless(ifma, IFMA, "AVX-512 IFMA")
    length = 2**11
    c = np.full((4, length), value, np.int32)
    r = np.full((2, length), 2**IFMA_BITS - 1, np.int32)
    acc = np.zeros((ACC_VECTORS, 8), np.int64)
    out = np.zeros(8, np.int64)
    _ROWS_CALL[ifma](c, r, length // ROW_STEP, acc, out)
    assert out.tolist() == [value * (2**IFMA_BITS - 1) * length] * 8


@pytest.mark.parametrize("ifma", PATHS)
@settings(max_examples=30, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    mult=st.integers(-(2**31), 2**31 - 1),
    shift=st.integers(1, 62),
)
def test_rows_dot_requantizes_as_the_workload_does(
    ifma: bool, seed: int, mult: int, shift: int
) -> None:
    _skip_unless(ifma, IFMA, "AVX-512 IFMA")
    rng = np.random.default_rng(seed)
    length = 3 * ROW_STEP
    c = rng.integers(-(2**31), 2**31, (4, length), dtype=np.int32)
    c[0, :4] = (-(2**31), 2**31 - 1, 0, -1)
    r = rng.integers(0, 2**IFMA_BITS, (2, length), dtype=np.int32)
    acc = np.zeros((ACC_VECTORS, 8), np.int64)
    q = np.zeros((4, length), np.int8)
    out = np.zeros(8, np.int64)
    scale = np.array([mult, 1 << (shift - 1), shift], np.int64)
    _ROWS_Q_CALL[ifma](c, r, 3, acc, q, scale, out)
    assert out.tolist() == _rows_definition(c, r, length)
    layer = QmlpLayer(np.zeros((1, length), np.int8), np.zeros(length, np.int32), mult, shift)
    assert np.array_equal(q, cpu.requantize(c, layer))


def test_r_stays_within_ifma_bits_at_no_cost_in_rounds() -> None:
    """R's entries are capped at 2^IFMA_BITS: two rounds still reach SECURITY_BITS wherever
    random_bits ≥ IFMA_BITS (n ≤ 2,048), and more bits are never drawn than are exact."""
    for inner, width in [(16, 16), (1024, 1024), (2048, 2048), (MAX_K, 2**16)]:
        bits = freivalds._bits(inner, width)
        assert bits == min(freivalds.random_bits(inner, width), IFMA_BITS)
        layer = freivalds._Layer(np.zeros((inner, width), np.int8), None)
        rounds = freivalds._rounds([layer])
        assert rounds * bits >= freivalds.SECURITY_BITS
        if freivalds.random_bits(inner, width) >= IFMA_BITS:
            assert rounds == 2


@settings(max_examples=40, deadline=None)
@given(
    pairs=st.integers(1, 2),
    length=st.integers(1, 70),
    limbs=st.sampled_from([freivalds.R_LIMBS, freivalds.WR_LIMBS]),
    ones=st.booleans(),
    seed=st.integers(0, 2**32 - 1),
)
def test_byte_planes_hold_each_byte_of_each_round(
    pairs: int, length: int, limbs: int, ones: bool, seed: int
) -> None:
    """Plane (q % 2)·limbs + L of pair q // 2 is byte L of round q's entries plus the offset
    (W·R from −(2^38 − 1) to 2^38 − 1 with its offset), then a plane of ones where asked."""
    rng = np.random.default_rng(seed)
    offset = freivalds.WR_OFFSET if limbs == freivalds.WR_LIMBS else 0
    low, high = (-(2**38) + 1, 2**38) if offset else (0, 2**IFMA_BITS)
    values = rng.integers(low, high, (2 * pairs, length))
    values[0, 0] = low
    values[-1, -1] = high - 1
    planes = freivalds._byte_planes(values, limbs, offset, ones)
    assert planes.shape == (pairs, 2 * limbs + ones, length)
    for q in range(2 * pairs):
        for limb in range(limbs):
            expected = [((int(v) + offset) >> (8 * limb)) & 0xFF for v in values[q]]
            assert planes[q // 2, (q % 2) * limbs + limb].tolist() == expected
    assert ((int(values.max()) + offset) >> (8 * limbs)) == 0
    if ones:
        assert (planes[:, 2 * limbs] == 1).all()
