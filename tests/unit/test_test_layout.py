"""The suite's own layout: tests share helpers only through ``tests/support/``.

A test module imported by another runs its module-level code twice under two names and drags its
tests' dependencies along; a conftest imported as a module is a second copy of the one pytest
loaded; ``benchmarks/`` are scripts, not a library. So no module under ``tests/`` imports a test
module, a conftest, anything from ``benchmarks``, or a helper kept anywhere in ``tests`` but
``tests.support``. Read with ``ast``, so nothing is imported to check it.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent.parent


def module_name(path: Path) -> str:
    """The dotted name a file under tests/ is imported as (``tests.unit.test_money``)."""
    parts = path.relative_to(TESTS.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_names(
    source: str, module: str, *, is_package: bool = False
) -> Iterator[tuple[int, str]]:
    """(line, dotted name) of every module an import statement may load: for ``from a import b``
    both ``a`` and ``a.b`` (``b`` may be a module); relative imports resolved against ``module``."""
    package = module.split(".") if is_package else module.split(".")[:-1]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            base_parts = package[: len(package) - node.level + 1] if node.level else []
            base = ".".join([*base_parts, *([node.module] if node.module else [])])
            if base:
                yield node.lineno, base
            for alias in node.names:
                yield node.lineno, f"{base}.{alias.name}" if base else alias.name


def why_forbidden(name: str) -> str | None:
    """Why a module under tests/ must not import ``name``, or None when it may."""
    parts = name.split(".")
    if parts[0] == "benchmarks":
        return "imports from benchmarks/"
    if "conftest" in parts:
        return "imports a conftest"
    if any(part.startswith("test_") for part in parts):
        return "imports a test module"
    if parts[0] == "tests" and len(parts) > 1 and parts[1] != "support":
        return "imports a helper from outside tests/support/"
    return None


def layout_violations(path: Path) -> list[str]:
    found: dict[int, str] = {}  # one finding per import statement, naming what it imports
    for line, name in imported_names(
        path.read_text(), module_name(path), is_package=path.name == "__init__.py"
    ):
        reason = why_forbidden(name)
        if reason and line not in found:
            found[line] = f"{path.relative_to(TESTS.parent)}:{line} {reason}: {name}"
    return list(found.values())


def test_no_module_under_tests_imports_a_test_module_a_conftest_or_the_benchmarks():
    files = sorted(TESTS.rglob("*.py"))
    # The walk must see the suite itself, or an empty result would prove nothing.
    assert TESTS / "conftest.py" in files
    assert Path(__file__).resolve() in files
    assert any(path.parent == TESTS / "support" for path in files)
    violations = [v for path in files for v in layout_violations(path)]
    assert violations == []


@pytest.mark.parametrize(
    ("source", "module", "reason"),
    [
        ("from tests.e2e.test_cli import Cli", "tests.e2e.test_x", "imports a test module"),
        (
            "from tests.integration import test_concurrency",
            "tests.fault.test_x",
            "imports a test module",
        ),
        ("from .test_cli import Cli", "tests.e2e.test_x", "imports a test module"),
        ("import tests.unit.test_money", "tests.unit.test_x", "imports a test module"),
        ("from tests.conftest import SAMPLE", "tests.unit.test_x", "imports a conftest"),
        ("from .conftest import ORDERS", "tests.fault.test_x", "imports a conftest"),
        ("from benchmarks.support import Process", "tests.support.x", "imports from benchmarks/"),
        ("import benchmarks.lockbox", "tests.e2e.test_x", "imports from benchmarks/"),
        (
            "from tests.fault import harness",
            "tests.fault.test_x",
            "imports a helper from outside tests/support/",
        ),
    ],
)
def test_the_layout_check_names_each_forbidden_import(source: str, module: str, reason: str):
    reasons = [why_forbidden(name) for _, name in imported_names(source, module)]
    assert reason in reasons


@pytest.mark.parametrize(
    "source",
    [
        "from tests.support.databases import reset_postgres",
        "from tests.support import figures",
        "import tests.support",
        "from . import figures",
        "from ledger.domain.money import Money",
        "from sqlalchemy import select",
    ],
)
def test_the_layout_check_allows_the_shared_helpers_and_everything_outside_tests(source: str):
    names = [name for _, name in imported_names(source, "tests.support.fault")]
    assert names
    assert [why_forbidden(name) for name in names] == [None] * len(names)
