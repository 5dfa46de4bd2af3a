"""Where the settings come from: ``ARLEDGER_*`` variables and an optional ``.env``, without pydantic.

:class:`config.settings.Settings` validates what this module reads. The read commands of the CLI
need only the database URL and take it from :func:`database_url`, which gives the value
``Settings().database_url`` would, without importing pydantic (about 50 ms of every command).
"""

from __future__ import annotations

import os
from collections.abc import Collection, Mapping
from pathlib import Path

ENV_PREFIX = "ARLEDGER_"
ENV_FILE = ".env"
DEFAULT_DATABASE_URL = "sqlite:///arledger.db"


def from_environment(fields: Collection[str]) -> dict[str, str]:
    """The ``fields`` set by the ``.env`` file, overridden by those set in the environment."""
    found: dict[str, str] = {}
    if Path(ENV_FILE).is_file():
        # python-dotenv's parser (quotes, `export`, comments), loaded only when there is a file.
        from dotenv import dotenv_values  # noqa: PLC0415

        found.update(_ours(dotenv_values(ENV_FILE), fields))
    found.update(_ours(os.environ, fields))
    return found


def database_url() -> str:
    """The configured database URL, as ``Settings().database_url`` reads it."""
    return from_environment(("database_url",)).get("database_url", DEFAULT_DATABASE_URL)


def _ours(variables: Mapping[str, str | None], fields: Collection[str]) -> dict[str, str]:
    """The ``ARLEDGER_*`` variables that name one of ``fields``, keyed by field; names ignore case."""
    prefix = ENV_PREFIX.lower()
    found: dict[str, str] = {}
    for name, value in variables.items():
        key = name.lower()
        field = key[len(prefix) :]
        if key.startswith(prefix) and field in fields and value is not None:
            found[field] = value
    return found
