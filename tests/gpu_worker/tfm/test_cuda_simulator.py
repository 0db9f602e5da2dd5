"""The tfm_i8 CUDA kernels' tests, run in Numba's CUDA simulator in a subprocess, so machines
without a GPU check them too (the simulator must be switched on before numba is imported)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

KERNEL_TESTS = str(Path(__file__).with_name("test_kernels.py"))
ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.timeout(200)
def test_the_cuda_kernels_pass_in_the_simulator() -> None:
    env = {**os.environ, "NUMBA_ENABLE_CUDASIM": "1"}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-k", "cuda",
         KERNEL_TESTS],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=180,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert " passed" in result.stdout and "skipped" not in result.stdout, result.stdout
