"""The kernels' on-disk cache goes stale when a module a kernel is built from changes
(`gpu_worker.kernels.kernel_cache`), not only when the kernel's own file does."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numba

from gpu_worker.kernels import kernel_cache

REPO = Path(__file__).resolve().parents[2]
PACKAGE = REPO / "gpu_worker"


def _run_kernel(root: Path) -> str:
    """A fresh process's answer from the cached kernel of the package `kpkg` under `root`."""
    code = textwrap.dedent(f"""
        import sys
        from gpu_worker.kernels.kernel_cache import stamp_package
        stamp_package({str(root / "kpkg")!r})
        sys.path.insert(0, {str(root)!r})
        from kpkg import main
        print(main.kernel())
    """)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("NUMBA_DISABLE_JIT", None)
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_a_kernel_recompiles_when_an_intrinsic_it_calls_changed(tmp_path: Path) -> None:
    package = tmp_path / "kpkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    dep = package / "dep.py"
    dep.write_text("import numba\n\n\n@numba.njit\ndef value():\n    return 1\n")
    (package / "main.py").write_text(
        "import numba\n\nfrom kpkg import dep\n\n\n"
        "@numba.njit(cache=True)\ndef kernel():\n    return dep.value()\n"
    )
    assert _run_kernel(tmp_path) == "1"
    assert list((package / "__pycache__").glob("main.kernel-*.nbi"))  # cached
    dep.write_text("import numba\n\n\n@numba.njit\ndef value():\n    return 2\n")
    assert _run_kernel(tmp_path) == "2"


def test_freivalds_and_audit_kernels_are_stamped_with_the_intrinsics_they_call() -> None:
    kernels = PACKAGE / "kernels"
    freivalds = kernel_cache.dependencies(str(PACKAGE / "freivalds.py"))
    assert str(kernels / "freivalds_cpu.py") in freivalds
    assert str(kernels / "llvm_ir.py") in freivalds
    assert str(PACKAGE / "freivalds_leaves.py") in freivalds
    audit = kernel_cache.dependencies(str(kernels / "audit_vnni.py"))
    assert str(kernels / "llvm_ir.py") in audit


def test_every_cached_kernel_uses_the_stamped_locator() -> None:
    from gpu_worker import freivalds, freivalds_leaves
    from gpu_worker.kernels import (
        audit_cpu,
        audit_vnni,
        blake3_nodes,
        blake3_proofs,
        blake3_tiles,
        cpu,
        mlp_cpu,
        witness_cpu,
    )

    modules = (freivalds, freivalds_leaves, audit_cpu, audit_vnni, blake3_nodes, blake3_proofs)
    modules += (blake3_tiles, cpu, mlp_cpu, witness_cpu)
    cached = 0
    for module in modules:
        for value in vars(module).values():
            cache = getattr(value, "_cache", None)
            if isinstance(value, numba.core.dispatcher.Dispatcher) and hasattr(cache, "_impl"):
                assert isinstance(cache._impl.locator, kernel_cache.DependencyStampedLocator)
                cached += 1
    assert cached > 20
    on_disk = {p.name for p in PACKAGE.rglob("*.py") if "cache=True" in p.read_text()}
    assert on_disk == {f"{m.__name__.rsplit('.', 1)[1]}.py" for m in modules}
