"""The import contract: DESIGN section 2's layering, checked on every change.

Every import in the five packages counts, at module level or inside a function or an
`if TYPE_CHECKING:` block alike, since a circle hidden by a local import is still a circle.
Layers, lowest first: `runtime` → `gpu_worker`'s kernels, commitments and checks → the client SDK
(`chain.client`) → the node core (`chain.core`, `chain.storage`) → the node service (the rest of
`chain`) → the worker daemon (`gpu_worker.worker`), the simulator (`sim`), the CLI (`chain.cli`).
`p2p` stands apart: it knows nothing of the chain, and only the node service adapts it.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Final

import pytest

ROOT: Final = Path(__file__).resolve().parent.parent
PACKAGES: Final = ("runtime", "gpu_worker", "chain", "p2p", "sim")

CORE_IO: Final = frozenset(
    {
        "asyncio",
        "concurrent",
        "httpx",
        "hypercorn",
        "multiprocessing",
        "os",
        "plyvel",
        "prometheus_client",
        "random",
        "secrets",
        "socket",
        "subprocess",
        "threading",
        "time",
        "trio",
        "websockets",
    }
)
"""What the node core may not import: I/O, threads, the wall clock and ambient randomness (time
and randomness are handed in, so that the simulator can replay a run from its seed)."""


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


@cache
def _modules() -> dict[str, Path]:
    return {
        _module_name(path): path
        for package in PACKAGES
        for path in sorted((ROOT / package).rglob("*.py"))
    }


def _own(name: str) -> str | None:
    """The project module that an imported name lives in, or None for another library's."""
    modules = _modules()
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def _imported_names(module: str) -> Iterator[str]:
    """Every dotted name `module` imports, resolving relative imports: `from a import b` names
    the module `a.b` where there is one, else `a` itself."""
    path = _modules()[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, *([base] if base else [])])
            for alias in node.names:
                submodule = f"{base}.{alias.name}"
                yield submodule if submodule in _modules() else base


@cache
def _edges() -> dict[str, frozenset[str]]:
    """Module → the project modules it imports (a name imported from a package counts as its
    submodule when there is one)."""
    graph: dict[str, frozenset[str]] = {}
    for module in _modules():
        targets = set()
        for name in _imported_names(module):
            target = _own(name)
            if target is not None and target != module:
                targets.add(target)
        graph[module] = frozenset(targets)
    return graph


def _third_party(module: str) -> set[str]:
    return {name.split(".")[0] for name in _imported_names(module) if _own(name) is None}


def _within(module: str, *prefixes: str) -> bool:
    return any(module == p or module.startswith(p + ".") for p in prefixes)


WORKER_DAEMON: Final = ("gpu_worker.worker", "gpu_worker.job_state")
CLIENT: Final = ("chain.client",)
NODE_CORE: Final = ("chain.core", "chain.storage")
NODE_SERVICE: Final = 4
"""The lowest layer that may use `p2p` (the node service adapts it to the core)."""
TOP: Final = ("chain.cli", "chain.benchmarks", "chain.localnet", "sim", *WORKER_DAEMON)


def _layer(module: str) -> int:
    """0 runtime, 1 gpu_worker's kernels and checks, 2 the client SDK, 3 the node core,
    4 the node service, 5 the worker daemon, the simulator, the CLI; p2p is -1 (apart)."""
    if _within(module, "runtime"):
        return 0
    if _within(module, *TOP):
        return 5
    if _within(module, "gpu_worker"):
        return 1
    if _within(module, *CLIENT):
        return 2
    if _within(module, *NODE_CORE):
        return 3
    if _within(module, "chain"):
        return 4
    return -1


def _violations(rule: str, allowed: tuple[str, ...], modules: tuple[str, ...]) -> list[str]:
    return [
        f"{rule}: {module} imports {target}"
        for module, targets in sorted(_edges().items())
        if _within(module, *modules)
        for target in sorted(targets)
        if not _within(target, *allowed)
    ]


def test_the_package_tree_is_found() -> None:
    """A guard for the rest: the graph covers the packages and sees their imports."""
    edges = _edges()
    assert {"runtime.executive", "chain.core.node", "p2p.network", "sim.network"} <= set(edges)
    assert "runtime.state" in edges["runtime.executive"]


def test_runtime_imports_none_of_the_others() -> None:
    assert _violations("runtime", ("runtime",), ("runtime",)) == []


def test_p2p_knows_nothing_of_the_chain() -> None:
    assert _violations("p2p", ("p2p",), ("p2p",)) == []


def test_gpu_worker_never_imports_the_node() -> None:
    """The worker is a client of the node: from `chain` it may use the client SDK only."""
    allowed = ("runtime", "gpu_worker", *CLIENT)
    assert _violations("gpu_worker", allowed, ("gpu_worker",)) == []


def test_the_client_sdk_depends_on_no_node_code() -> None:
    lower = tuple(m for m in _modules() if 0 <= _layer(m) <= 2)
    assert _violations("client", lower, CLIENT) == []


def test_sim_never_imports_p2p() -> None:
    """The simulator drives the same core over a simulated network, never the libp2p one."""
    assert _violations("sim", tuple(m for m in _modules() if not _within(m, "p2p")), ("sim",)) == []


def test_the_node_core_does_no_io() -> None:
    found = {
        module: sorted(_third_party(module) & CORE_IO)
        for module in _modules()
        if _within(module, "chain.core")
    }
    assert {m: names for m, names in found.items() if names} == {}


@pytest.mark.parametrize("module", sorted(_modules()))
def test_a_module_imports_only_its_layer_or_below(module: str) -> None:
    layer = _layer(module)
    if layer < 0:
        return
    above = sorted(
        t for t in _edges()[module] if _layer(t) > layer or (_layer(t) < 0 and layer < NODE_SERVICE)
    )
    assert above == [], f"{module} (layer {layer}) imports {above}"


def _cycles() -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan's algorithm)."""
    graph = _edges()
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_no_two_modules_import_each_other_in_a_circle() -> None:
    assert _cycles() == []
