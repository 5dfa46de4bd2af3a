"""``arledger demo``: the whole flow on a fresh SQLite database (the flow is in ``demo_flow``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from workers.cli.common import app
from workers.cli.render import stdout


@app.command()
def demo(
    directory: Annotated[Path, typer.Option(help="Where to create the demo database.")] = Path(
        "arledger-demo"
    ),
) -> None:
    """Run the whole flow on a fresh SQLite database with bundled sample data."""
    from workers.cli.demo_flow import run_demo

    run_demo(directory, stdout())
