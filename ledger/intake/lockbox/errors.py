"""The lockbox package's errors: a refused file, an unusable profile, an item a writer cannot carry.

The first two are :class:`~ledger.domain.errors.InputRefused` (the input is refused, nothing
changes); the third is a bug in the caller of a writer.
"""

from __future__ import annotations

from ledger.domain.errors import ArledgerError, InputRefused


class LockboxRefused(InputRefused):
    """The lockbox file was refused as a whole; nothing from it may post."""

    def __init__(self, line: int | None, reason: str) -> None:
        where = f"line {line}: " if line is not None else ""
        super().__init__(f"lockbox file refused: {where}{reason}", field="file", line=line)
        self.line = line
        self.reason = reason


class LockboxProfileInvalid(InputRefused):
    """A lockbox profile that cannot describe a file (bad JSON, overlapping fields, …)."""

    def __init__(self, source: str, reason: str) -> None:
        super().__init__(f"lockbox profile {source} is invalid: {reason}", field="profile")
        self.reason = reason


class LockboxItemDoesNotFit(ArledgerError):
    """A writer was given an item its format cannot carry; the writer's caller has a bug."""

    def __init__(self, what: str, reason: str) -> None:
        super().__init__(f"cannot write {what}: {reason}")
        self.reason = reason
