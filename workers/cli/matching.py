"""``arledger matching show | set``: an org unit's matching rules and tolerances."""

from __future__ import annotations

from typing import Annotated

import typer

from workers.cli.common import JsonOption, matching_app, settings
from workers.cli.render import print_matching, show


@matching_app.command("show")
def matching_show(org_unit: str, as_json: JsonOption = False) -> None:
    """Which matching rules run for the org unit, and its tolerances per currency."""
    from workers.cli.reads import read_matching

    read_matching(org_unit, as_json)


@matching_app.command("set")
def matching_set(
    org_unit: str,
    rule: Annotated[
        list[str] | None,
        typer.Option(help="NAME=on or NAME=off (repeatable), e.g. oldest_first=on."),
    ] = None,
    tolerance: Annotated[
        list[str] | None,
        typer.Option(
            help="CUR:AMOUNT, CUR:AMOUNT:PERCENT, or CUR:off (repeatable), e.g. USD:0.50:1."
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Turn rules on or off and set tolerances for the org unit; prints the new configuration."""
    from ledger.intake.matching_changes import parse_changes
    from ledger.services.matching import set_matching

    change = parse_changes(rule or [], tolerance or [])
    show(set_matching(settings(), org_unit, change), as_json, print_matching)
