"""The read commands' shortcut makes the very call Typer would, and leaves Typer every other form.

``reads.shortcut`` parses the plain forms of ``order show``, ``receipt show``, ``exceptions list``,
``gl journals``, ``statement``, ``matching show`` and ``report cash-application`` without Typer. Each command line below goes through Typer (the
read functions replaced by a recorder) and through the shortcut; both must name the same function
with the same arguments, or the shortcut must decline.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from functools import partial
from typing import Any

import pytest

from workers.cli import commands, reads

READS = (
    "read_order",
    "read_receipt",
    "read_exceptions",
    "read_journals",
    "read_statement",
    "read_matching",
    "read_cash_application",
)

Call = tuple[str, dict[str, Any]]

TAKEN = [
    ["order", "show", "O-100"],
    ["order", "show", "O-100", "--json"],
    ["order", "show", "--json", "O 100"],
    ["order", "show", ""],
    ["receipt", "show", "7"],
    ["receipt", "show", "007", "--json"],
    ["exceptions", "list"],
    ["exceptions", "list", "--json"],
    ["gl", "journals"],
    ["gl", "journals", "--order", "O-100"],
    ["gl", "journals", "--type", "RECEIPT", "--json", "--order", "O-100"],
    ["gl", "journals", "--type", "NOPE"],
    ["statement", "C-1"],
    ["statement", "--json", "C-1"],
    ["matching", "show", "ASSN"],
    ["matching", "show", "--json", "ASSN"],
    ["report", "cash-application"],
    ["report", "cash-application", "--json", "--to", "2026-11-30", "--from", "2026-11-01"],
    ["report", "cash-application", "--from", "November"],
]

# Forms the shortcut leaves to Typer, which accepts them, answers with help or refuses them with
# its usage error: whichever, as before the shortcut.
LEFT_TO_TYPER = [
    ["gl", "journals", "--order=O-100"],
    ["gl", "journals", "--json", "--json"],
    ["gl", "journals", "--order"],
    ["gl", "journals", "--order", "--json"],
    ["gl", "journals", "--order", "O-1", "--order", "O-2"],
    ["order", "show"],
    ["order", "show", "--help"],
    ["order", "show", "O-1", "O-2"],
    ["order", "show", "O-1", "--verbose"],
    ["order", "show", "--", "-O-1"],
    ["receipt", "show", "+7"],
    ["receipt", "show", "-1"],
    ["receipt", "show", "1e3"],
    ["receipt", "show", "1.0"],
    ["receipt", "show", "٣"],
    ["exceptions", "list", "extra"],
    ["matching", "show"],
    ["matching", "show", "ASSN", "--verbose"],
    ["report", "cash-application", "--from=2026-11-01"],
    ["report", "cash-application", "2026"],
    ["exceptions"],
    ["order"],
    [],
]


def _normalised(
    function: Callable[..., None], args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Call:
    bound = inspect.signature(function).bind(*args, **kwargs)
    bound.apply_defaults()
    return function.__name__, dict(bound.arguments)


@pytest.fixture
def through_typer(monkeypatch: pytest.MonkeyPatch) -> Callable[[list[str]], list[Call]]:
    """Run a command line through Typer, recording the read function it calls instead of running it."""
    calls: list[Call] = []
    for name in READS:
        original = getattr(reads, name)

        def record(*args: Any, _original: Any = original, **kwargs: Any) -> None:
            calls.append(_normalised(_original, args, kwargs))

        monkeypatch.setattr(reads, name, record)

    def run(args: list[str]) -> list[Call]:
        calls.clear()
        commands.run(args)
        return list(calls)

    return run


def _shortcut_call(args: list[str]) -> Call | None:
    found = reads.shortcut(args)
    if found is None:
        return None
    assert isinstance(found, partial)
    return _normalised(found.func, found.args, found.keywords)


@pytest.mark.parametrize("args", TAKEN, ids=" ".join)
def test_the_shortcut_makes_the_call_typer_makes(
    args: list[str], through_typer: Callable[[list[str]], list[Call]]
) -> None:
    expected = through_typer(args)
    assert len(expected) == 1
    assert _shortcut_call(args) == expected[0]


@pytest.mark.parametrize("args", LEFT_TO_TYPER, ids=lambda a: " ".join(a) or "(none)")
def test_every_other_form_is_left_to_typer(
    args: list[str], through_typer: Callable[[list[str]], list[Call]]
) -> None:
    assert _shortcut_call(args) is None
    try:
        calls = through_typer(args)
    except SystemExit as exc:  # a usage error, or help
        assert exc.code in (0, 2)
    else:
        assert len(calls) <= 1
