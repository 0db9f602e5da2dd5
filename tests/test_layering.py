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
import subprocess
import sys
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
        "datetime",
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


KERNELS: Final = ("runtime", "gpu_worker")
"""gpu_worker's kernels, inputs, commitments and checks sit right above the runtime."""
CLIENT: Final = (*KERNELS, "chain.client")
NODE: Final = (*CLIENT, "chain.spec", "chain.storage", "chain.core", "chain.service", "p2p")

SIM: Final = ("runtime", "chain.spec", "chain.storage", "chain.core", "sim")
SIM_AGENTS: Final = (
    "gpu_worker.inputs",
    "gpu_worker.jobs",
    "gpu_worker.commitment",
    "gpu_worker.freivalds",
    "gpu_worker.worker.cheating",
    "gpu_worker.worker.decline_rule",
    "gpu_worker.worker.response",
    "chain.client.blob_info",
    "chain.service.committee_duties",
    "chain.service.recomputation",
)
"""What the simulator's agents use besides the simulator's own layers: the worker's kernels,
commitment, cheating, responses and decline rule, and the node's committee duties and
recomputation (the same code its verification service runs); never the node service's I/O, p2p
or the RPC client."""

ALLOWED: Final[tuple[tuple[str, tuple[str, ...]], ...]] = (
    # The most specific package first: a module follows the first entry it lies within.
    ("runtime", ("runtime",)),
    ("p2p", ("p2p",)),
    ("gpu_worker.worker", (*CLIENT,)),
    ("gpu_worker", KERNELS),
    ("chain.client", CLIENT),
    ("chain.spec", ("runtime", "chain.spec")),
    ("chain.keystore", ("runtime", "chain.keystore")),
    ("chain.storage", ("runtime", "chain.storage", "chain.client.blob_info")),
    ("chain.core", ("runtime", "chain.storage", "chain.core")),
    ("chain.service", NODE),
    ("sim.agents", (*SIM, *SIM_AGENTS)),
    ("sim", SIM),
    ("chain.cli", ()),
    ("chain.localnet", ()),
    ("chain.benchmarks", ()),
    ("chain.logs", ()),
    ("chain", ()),
)
"""What each package may import (README's architecture section says the same); an empty tuple
for the top of the stack (the CLI, the local network, the benchmarks), which may import anything.
Moving a module below one it needs, or adding an import upwards, fails here."""


def _allowed(module: str) -> tuple[str, ...] | None:
    """The packages `module` may import from, or None if it may import anything."""
    for package, allowed in ALLOWED:
        if _within(module, package):
            return allowed or None
    raise AssertionError(f"{module} is in no package of the import contract")


def _violations(module: str) -> list[str]:
    allowed = _allowed(module)
    if allowed is None:
        return []
    # The simulator's agents may use the worker's cheating, response and decline rule modules,
    # and only them (SIM_AGENTS).
    below_worker = not _within(module, "gpu_worker.worker", "sim.agents")
    refused = ["gpu_worker.worker"] if below_worker else []
    return sorted(
        target
        for target in _edges()[module]
        if not _within(target, *allowed) or _within(target, *refused)
    )


def test_the_package_tree_is_found() -> None:
    """A guard for the rest: the graph covers the packages and sees their imports."""
    edges = _edges()
    assert {"runtime.executive", "chain.core.node", "p2p.network", "sim.network"} <= set(edges)
    assert "runtime.state" in edges["runtime.executive"]


@pytest.mark.parametrize("module", sorted(_modules()))
def test_a_module_imports_only_what_its_package_may(module: str) -> None:
    """runtime imports none of the others; p2p knows nothing of the chain; gpu_worker uses only
    the client SDK of chain; the client SDK no node code; the core only the runtime and storage;
    sim never p2p nor the node service; nothing below the worker daemon imports it."""
    assert _violations(module) == [], f"{module} may not import {_violations(module)}"


def test_the_node_core_does_no_io() -> None:
    found = {
        module: sorted(_third_party(module) & CORE_IO)
        for module in _modules()
        if _within(module, "chain.core")
    }
    assert {m: names for m, names in found.items() if names} == {}


@pytest.mark.parametrize(
    ("module", "kept_out"),
    [
        ("gpu_worker.worker.daemon", ("chain.service", "chain.core", "chain.storage", "p2p")),
        ("chain.client.jobs", ("chain.service", "chain.core", "chain.storage", "p2p")),
        ("chain.core.node", ("chain.service", "chain.client.rpc", "p2p", "trio", "httpx")),
        ("sim.network", ("p2p", "chain.service", "trio")),
        ("sim.world.context", ("p2p", "chain.service", "trio")),
        ("sim.agents", ("p2p", "chain.client.rpc", "httpx", "chain.service.verification")),
    ],
)
def test_importing_a_layer_loads_nothing_above_it(module: str, kept_out: tuple[str, ...]) -> None:
    """What Python really loads, parent packages' `__init__` included, which the static graph
    does not follow."""
    script = (
        f"import sys, {module}; "
        f"print('\\n'.join(m for m in sys.modules if m.startswith({kept_out!r})))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    assert loaded == []


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
