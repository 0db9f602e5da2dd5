"""The audit kernel's int16 witness lanes at the extremes of int8: every term the largest it can
be (−128·−128 = 2^14) or the most negative, over more than a span of the int32 sums, with masks
whose low 15 bits are all set, none set, or whose bit 15 is set (which must not reach a lane)."""

from __future__ import annotations

import numpy as np
import pytest

from gpu_worker.kernels.audit_cpu import gemm_tiles_witness
from gpu_worker.kernels.witness_cpu import SPAN, product_witness
from tests.gpu_worker.job_arrays import as_job_input


@pytest.mark.parametrize("k", [1, 2, SPAN, SPAN + 1, 2 * SPAN + 3])
@pytest.mark.parametrize("values", [(-128, -128), (-128, 127), (127, 127)])
def test_extreme_terms_give_the_witness_kernels_bits(k: int, values: tuple[int, int]) -> None:
    a = as_job_input(np.full((5, k), values[0], np.int8))
    b = as_job_input(np.full((k, 35), values[1], np.int8))
    for mask in (0, 0x7FFF, 0x8000, 0xFFFFFFFF):
        ((tile, witness),) = gemm_tiles_witness(a, b, [(0, 5, 1, 34)], mask)
        c, expected = product_witness(
            a, as_job_input(np.ascontiguousarray(b[:, 1:34])), np.zeros(33, np.int32), mask
        )
        assert np.array_equal(tile, c)
        assert np.array_equal(witness, expected)
