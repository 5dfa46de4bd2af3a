"""The layers, as the imports show them (docs/architecture.md draws the same picture).

Read from the source with ``ast``, not by importing: an import that runs only inside a function
still ties two modules together, so every import counts except those under ``TYPE_CHECKING``.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("config", "ledger", "tasks", "workers")
INFRASTRUCTURE = {
    "alembic",
    "celery",
    "click",
    "fastapi",
    "httpx",
    "kombu",
    "psycopg",
    "pydantic_settings",
    "redis",
    "sqlalchemy",
    "starlette",
    "uvicorn",
}
# What each layer may import from the project, besides itself (a prefix allows its submodules).
ALLOWED = {
    "ledger.domain": (),
    "ledger.intake": ("ledger.domain",),
    "ledger.persistence": ("ledger.domain", "config"),
    "ledger.queries": ("ledger.domain", "ledger.persistence", "config"),
    "ledger.outbox": ("ledger.domain", "ledger.persistence", "ledger.queries", "config"),
    "ledger.services": (
        "ledger.domain",
        "ledger.intake",
        "ledger.persistence",
        "ledger.queries",
        "config",
    ),
}


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@cache
def _modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if "migrations" not in path.parts:
                found[_module_name(path)] = path
    return found


def _imports(name: str, path: Path | None = None) -> set[str]:
    path = path or _modules()[name]
    tree = ast.parse(path.read_text(), str(path))
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.dump(node.test):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package[: len(package) - node.level + 1] + ([base] if base else []))
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


def _project_imports(name: str) -> set[str]:
    """The project's modules ``name`` imports (``from a import b`` counts as ``a.b`` when that is
    a module, else as ``a``)."""
    modules = _modules()
    return {i for i in _imports(name) if i in modules and i != name}


def _within(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def _layer_modules(prefix: str) -> Iterator[str]:
    return (name for name in _modules() if _within(name, prefix))


def test_no_import_cycles() -> None:
    graph = {name: _project_imports(name) for name in _modules()}
    # A package importing its own submodules is not a cycle through the package's parent.
    graph = {
        name: {i for i in targets if not _within(i, name) and i != name.rsplit(".", 1)[0]}
        for name, targets in graph.items()
    }
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))
    state: dict[str, int] = {}
    path: list[str] = []
    cycles: list[list[str]] = []

    def walk(node: str) -> None:
        state[node] = 1
        path.append(node)
        for target in sorted(graph[node]):
            if state.get(target) == 1:
                cycles.append([*path[path.index(target) :], target])
            elif target not in state:
                walk(target)
        path.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            walk(node)
    assert cycles == []


@pytest.mark.parametrize("layer", sorted(ALLOWED))
def test_each_layer_imports_only_the_layers_below_it(layer: str) -> None:
    wrong = {}
    for name in _layer_modules(layer):
        outside = {
            i
            for i in _project_imports(name)
            if not _within(i, layer) and not any(_within(i, ok) for ok in ALLOWED[layer])
        }
        if outside:
            wrong[name] = sorted(outside)
    assert wrong == {}


def test_the_domain_imports_no_infrastructure() -> None:
    wrong = {
        name: sorted(i for i in _imports(name) if i.split(".")[0] in INFRASTRUCTURE)
        for name in _layer_modules("ledger.domain")
    }
    assert {name: found for name, found in wrong.items() if found} == {}


@pytest.mark.parametrize("layer", ["ledger.services", "tasks", "workers"])
def test_no_sql_outside_persistence_and_queries(layer: str) -> None:
    wrong = sorted(
        name
        for name in _layer_modules(layer)
        if any(_within(i, "sqlalchemy") for i in _imports(name))
    )
    assert wrong == []


def test_check_is_an_independent_oracle() -> None:
    """`arledger check` recomputes the invariants from rows with its own queries: it reads the
    schema and nothing from the write path (domain, services, repositories).

    It may share ``persistence.audit``: that module is the audit chain's format (which fields a
    commit's digest covers, the hash), pure functions with no import of the project. Verifying a
    hash needs its definition, as checking a checksum needs the algorithm; the oracle still
    recomputes every digest from the rows it reads itself."""
    imported = _project_imports("ledger.queries.check")
    assert imported <= {
        "ledger.persistence",
        "ledger.persistence.schema",
        "ledger.persistence.db",
        "ledger.persistence.audit",
    }
    assert _project_imports("ledger.persistence.audit") == set()


def test_the_task_registry_is_a_leaf() -> None:
    """Every process imports the registry; it must import nothing of the project, nor Celery."""
    assert _project_imports("tasks.registry") == set()
    assert not any(i.split(".")[0] in INFRASTRUCTURE for i in _imports("tasks.registry"))


def test_the_walker_sees_function_level_imports_and_skips_type_checking(tmp_path: Path) -> None:
    """A function-level import still ties two modules (the kind that hides a cycle); an import
    under TYPE_CHECKING does not run."""
    module = tmp_path / "example.py"
    module.write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n"
        "    from ledger.queries import views\n"
        "def f():\n"
        "    from ledger.services import receipts\n"
        "    from . import sibling\n"
    )
    found = _imports("ledger.domain.example", module)
    assert "ledger.services.receipts" in found
    assert "ledger.domain.sibling" in found
    assert not any(name.startswith("ledger.queries") for name in found)
