"""Commands over the schema and the reference data: ``init``, ``load`` and ``check``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from workers.cli.common import JsonOption, app, published, read_file, settings
from workers.cli.render import emit_json, line, print_load_summary, stderr, stdout


@app.command()
def init() -> None:
    """Create or upgrade the schema (Alembic)."""
    from ledger.persistence.migrate import upgrade
    from ledger.services.operations import display_url

    config = settings()
    upgrade(config.database_url)
    line(f"schema is up to date ({display_url(config.database_url)})")


@app.command()
def load(
    file: Annotated[Path, typer.Argument(help="The JSON load file (docs/rules.md section 10).")],
    as_json: JsonOption = False,
) -> None:
    """Load reference data and orders from a JSON file (upsert; posts SALE journals)."""
    from ledger.intake.inputs import validate_load_file
    from ledger.services.receipts import load_file

    data = validate_load_file(read_file(file))
    config = settings()
    summary = load_file(config, data).as_dict()
    published(config)
    if as_json:
        emit_json(summary)
        return
    print_load_summary(f"loaded {file}", summary)


@app.command()
def check(as_json: JsonOption = False) -> None:
    """Verify every invariant of docs/rules.md section 9; exit 1 naming each violation."""
    from ledger.persistence.db import unit_of_work
    from ledger.queries.check import check_invariants

    with unit_of_work(settings().database_url) as session:
        violations = check_invariants(session)
    if as_json:
        emit_json(
            {
                "ok": not violations,
                "violations": [
                    {"invariant": v.invariant, "message": v.message} for v in violations
                ],
            }
        )
    elif violations:
        for violation in violations:
            stderr().print(str(violation), markup=False)
    else:
        stdout().print("ok: every invariant of docs/rules.md section 9 holds")
    if violations:
        raise typer.Exit(1)
