"""The fault suite's figures: counters the fault tests fill from the real state they observe, and
the summary printed at the end of the session.

The plugin is loaded with ``-p tests.support.figures`` (pyproject's ``addopts``) rather than from
``tests/fault/conftest.py`` because under xdist the controller process never collects the tests,
so a sub-folder conftest's ``pytest_terminal_summary`` would never run there. Each xdist worker
hands its counters to the controller through ``workeroutput``; the controller adds them up.

Counters are recorded *before* the test asserts on them, so a failing run still prints the cents
it lost or doubled.
"""

from __future__ import annotations

import os
from collections import Counter
from typing import Any

import pytest

# (key, label) in the order the summary prints them.
FIGURES = (
    ("faults_injected", "faults injected"),
    ("messages_sent", "task messages sent"),
    ("duplicates_delivered", "duplicate messages delivered"),
    ("sink_repeats", "journals repeated on the GL sink (same id)"),
    ("items_audited", "intake items audited to the cent"),
    ("hostile_inputs", "hostile inputs tried"),
    ("cents_lost", "cents lost"),
    ("cents_doubled", "cents doubled"),
    ("invariant_violations", "invariant violations"),
)
_WORKER_KEY = "arledger_fault_figures"

_counts: Counter[str] = Counter()


def soak() -> bool:
    """True when the longer soak was asked for (``ARLEDGER_SOAK=1``): more kills, more items."""
    return os.environ.get("ARLEDGER_SOAK", "") not in ("", "0")


def scaled(ci: int, soak_value: int) -> int:
    """``ci`` in the ordinary suite, ``soak_value`` in the soak."""
    return soak_value if soak() else ci


def record(**counts: int) -> None:
    """Add to the session's counters (keys from FIGURES)."""
    known = {key for key, _ in FIGURES}
    unknown = set(counts) - known
    if unknown:
        raise KeyError(f"unknown fault figures: {sorted(unknown)}")
    for key, value in counts.items():
        _counts[key] += int(value)
    _counts["_touched"] = 1


def pytest_sessionfinish(session: pytest.Session) -> None:
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:
        workeroutput[_WORKER_KEY] = dict(_counts)


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: object) -> None:
    """xdist controller: a worker finished; add its counters to ours."""
    for key, value in getattr(node, "workeroutput", {}).get(_WORKER_KEY, {}).items():
        _counts[key] += int(value)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not _counts.get("_touched"):
        return  # no fault test ran in this session
    terminalreporter.section("arledger fault suite" + (" (soak)" if soak() else ""))
    width = max(len(label) for _, label in FIGURES)
    for key, label in FIGURES:
        terminalreporter.write_line(f"{label:<{width}}  {_counts.get(key, 0):>8}")
