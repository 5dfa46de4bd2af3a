"""The CLI's read commands load only what they use, and workers/ keeps its layering.

Structural pins, never timings: a read command runs in a fresh interpreter and the test names the
packages it must not have imported (the broker, the HTTP stack, the write path, pydantic-settings;
and for the plain forms that skip Typer, Typer itself, pydantic and the PostgreSQL dialect).
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

READ_COMMANDS = [
    ["order", "show", "O-1"],
    ["receipt", "show", "1"],
    ["exceptions", "list"],
    ["gl", "journals"],
    ["statement", "C-1"],
    ["matching", "show", "ASSN"],
    ["report", "cash-application", "--from", "2026-11-01"],
]

# Nothing a read command needs; each costs tens to hundreds of milliseconds to import.
NEVER_LOADED = [
    "celery",
    "kombu",
    "redis",
    "fastapi",
    "starlette",
    "uvicorn",
    "alembic",
    "psycopg",
    "pydantic_settings",
    "dotenv",
    "tasks",
    "ledger.services",
    "ledger.intake",
    "ledger.outbox",
    "workers.celery_app",
    "workers.ingress",
    "workers.cli.demo_flow",
    # The ORM (~0.3 s) and the write path: the reads run on Core tables and a Core connection.
    "sqlalchemy.orm",
    "ledger.persistence.schema",
    "ledger.persistence.orders",
    "ledger.persistence.receipts",
]

# What the plain forms of the read commands (workers.cli.reads.shortcut) load neither: Typer with
# its click and the pydantic it builds parameters with, the pydantic settings (the URL comes from
# config.environment), the PostgreSQL dialect (the partial indexes name it lazily). Not asyncio:
# SQLAlchemy 2.1 imports it itself (sqlalchemy.util.compat).
SHORTCUT_NEVER_LOADED = [
    "typer",
    "click",
    "pydantic",
    "pydantic_core",
    "config.settings",
    "workers.cli.commands",
    "sqlalchemy.dialects.postgresql",
]

PROBE = """
import json, sys
sys.argv = ["arledger", *json.loads(sys.argv[1])]
from workers.cli import main
try:
    main()
except SystemExit as exc:
    code = exc.code
print(json.dumps({"code": code, "modules": sorted(sys.modules)}))
"""


def _modules_loaded_by(command: list[str], tmp_path: Path) -> set[str]:
    # An empty database: the command runs its whole import path and its first query, which
    # fails for want of tables (exit 1), after every import it needs has happened.
    env = {"ARLEDGER_DATABASE_URL": f"sqlite:///{tmp_path / 'empty.db'}", "PATH": ""}
    result = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(command)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        check=False,
        timeout=60,
    )
    report = json.loads(result.stdout.splitlines()[-1])
    assert report["code"] == 1, result.stderr
    assert "no such table" in result.stderr
    modules = set(report["modules"])
    # The probe did reach the query.
    assert "ledger.queries.views" in modules or "ledger.queries.matching" in modules
    return modules


def _loaded(names: list[str], modules: set[str]) -> list[str]:
    return sorted(
        name for name in names if any(m == name or m.startswith(name + ".") for m in modules)
    )


@pytest.mark.parametrize("command", READ_COMMANDS, ids=" ".join)
def test_read_command_imports_only_what_it_uses(command: list[str], tmp_path: Path) -> None:
    modules = _modules_loaded_by(command, tmp_path)
    assert _loaded(NEVER_LOADED + SHORTCUT_NEVER_LOADED, modules) == []


def test_a_read_command_typer_parses_still_loads_no_write_path(tmp_path: Path) -> None:
    # `--order=…` is a form the shortcut leaves to Typer.
    modules = _modules_loaded_by(["gl", "journals", "--order=O-1"], tmp_path)
    assert "typer" in modules
    assert _loaded(NEVER_LOADED, modules) == []


def _imports(path: Path) -> set[str]:
    """Every module a file imports, at its top or inside a function."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def test_no_module_under_workers_imports_sqlalchemy() -> None:
    offenders = sorted(
        _module_name(path)
        for path in (ROOT / "workers").rglob("*.py")
        if any(name.split(".")[0] == "sqlalchemy" for name in _imports(path))
    )
    assert offenders == []


def test_workers_modules_import_no_cycle() -> None:
    modules = {_module_name(path): path for path in (ROOT / "workers").rglob("*.py")}
    graph = {
        name: {target for target in _imports(path) if target in modules and target != name}
        for name, path in modules.items()
    }

    def reaches(start: str, goal: str) -> bool:
        seen: set[str] = set()
        stack = list(graph[start])
        while stack:
            current = stack.pop()
            if current == goal:
                return True
            if current not in seen:
                seen.add(current)
                stack.extend(graph[current])
        return False

    cycles = sorted(
        (name, target)
        for name, targets in graph.items()
        for target in targets
        if reaches(target, name)
    )
    assert cycles == []
