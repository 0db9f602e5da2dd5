"""Numba's on-disk cache of the kernels, stale once any module a kernel is built from changes.

Numba stamps a cached kernel with its own source file only. A kernel in `gpu_worker.freivalds`
calls intrinsics of `kernels.freivalds_cpu`, which build on `kernels.llvm_ir`; one in
`kernels.audit_vnni` calls `llvm_ir.quad_sums`. Left to Numba, a change to one of those modules
(a fix to an intrinsic, a constant such as IFMA_BITS that the Python side reads fresh) leaves
every kernel that calls it running its old machine code from the cache until its own file changes:
a node would check results with arithmetic that no longer matches its source.

Importing this module (every module with cached kernels does, before defining them) puts a locator
ahead of Numba's for the files of this package (`gpu_worker`): its stamp is the hash of the
kernel's file together with those of the package's modules it imports, and, through each of them
that uses Numba or llvmlite (whose code can end up inside a kernel), theirs in turn.
"""

from __future__ import annotations

import ast
import hashlib
import os
from functools import cache
from typing import Any, ClassVar

from numba.core import config
from numba.core.caching import CacheImpl, _CacheLocator, _SourceFileBackedLocatorMixin
from numba.misc.appdirs import AppDirs

_PACKAGE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
"""The `gpu_worker` package's folder."""


def _source_file(package: str, module: str) -> str | None:
    """The file of `module` (dotted), if it is a module of the package in folder `package`."""
    root, name = os.path.split(package)
    parts = module.split(".")
    if parts[0] != name:
        return None
    base = os.path.join(root, *parts)
    for path in (base + ".py", os.path.join(base, "__init__.py")):
        if os.path.isfile(path):
            return path
    return None


@cache
def _imports(path: str, mtime_ns: int, size: int) -> tuple[tuple[str, ...], bool]:
    """The modules `path` imports (anywhere in it, and each `from` name as a possible module),
    and whether it uses Numba or llvmlite; cached by the file's modification time and size."""
    with open(path, "rb") as f:
        tree = ast.parse(f.read(), path)
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.append(node.module)
            names.extend(f"{node.module}.{alias.name}" for alias in node.names)
    compiled = any(name.split(".")[0] in ("numba", "llvmlite") for name in names)
    return tuple(names), compiled


@cache
def _digest(path: str, mtime_ns: int, size: int) -> str:
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def dependencies(path: str, package: str = _PACKAGE) -> list[str]:
    """`path` and the files of the package in folder `package` whose change may change a kernel
    defined in `path` (see the module), sorted."""
    start = os.path.abspath(path)
    seen = {start}
    todo = [start]
    while todo:
        current = todo.pop()
        st = os.stat(current)
        names, compiled = _imports(current, st.st_mtime_ns, st.st_size)
        if current != start and not compiled:
            continue  # imported for its Python side only: its own imports build no kernel here
        for name in names:
            found = _source_file(package, name)
            if found is not None and found not in seen:
                seen.add(found)
                todo.append(found)
    return sorted(seen)


def stamp(path: str, package: str = _PACKAGE) -> tuple[tuple[str, str], ...]:
    """The content hashes of `dependencies(path, package)`, by path relative to `package`."""
    out = []
    for dep in dependencies(path, package):
        st = os.stat(dep)
        out.append((os.path.relpath(dep, package), _digest(dep, st.st_mtime_ns, st.st_size)))
    return tuple(out)


class DependencyStampedLocator(_SourceFileBackedLocatorMixin, _CacheLocator):
    """A cache locator stamped with `stamp`, for the files of a package registered with
    `stamp_package` (any other file falls to Numba's locators). The cache goes where Numba's own
    would put it: under NUMBA_CACHE_DIR where that is set, else in `__pycache__` beside the file,
    else (not writable) in the user's cache folder."""

    packages: ClassVar[list[str]] = []

    def __init__(self, py_func: Any, py_file: str, package: str, cache_path: str) -> None:
        self._py_file = py_file
        self._lineno = py_func.__code__.co_firstlineno
        self._package = package
        self._cache_path = cache_path

    def get_cache_path(self) -> str:
        """Where the kernel's cache files go."""
        return self._cache_path

    def get_source_stamp(self) -> Any:
        """The hashes of the kernel's file and of the files it is built from."""
        return stamp(self._py_file, self._package)

    @classmethod
    def from_function(cls, py_func: Any, py_file: str) -> Any:
        """A locator for a function of a registered package; None for any other."""
        path = os.path.abspath(py_file)
        package = next((p for p in cls.packages if path.startswith(p + os.sep)), None)
        if package is None:
            return None
        subpath: str = cls.get_suitable_cache_subpath(path)  # type: ignore[no-untyped-call]
        cache_dir: str = getattr(config, "CACHE_DIR", "")
        if cache_dir:
            places = [os.path.join(cache_dir, subpath)]
        else:
            dirs = AppDirs(appname="numba", appauthor=False)  # type: ignore[no-untyped-call]
            user: str = dirs.user_cache_dir
            beside = os.path.join(os.path.dirname(path), "__pycache__")
            places = [beside, os.path.join(user, subpath)]
        for place in places:
            locator = cls(py_func, path, package, place)
            try:
                locator.ensure_cache_path()  # type: ignore[no-untyped-call]
            except OSError:
                continue
            return locator
        return None


def stamp_package(package: str = _PACKAGE) -> None:
    """Stamp the cached kernels of the package in folder `package` (by default `gpu_worker`)
    with their dependencies (idempotent)."""
    package = os.path.abspath(package)
    if package not in DependencyStampedLocator.packages:
        DependencyStampedLocator.packages.append(package)
    locators: list[Any] = CacheImpl._locator_classes
    if DependencyStampedLocator not in locators:
        locators.insert(0, DependencyStampedLocator)


stamp_package()
