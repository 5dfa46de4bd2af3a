"""The `arledger` executable as an operator runs it: a subprocess with ``ARLEDGER_*`` variables,
its exit status checked, and refusals checked to change nothing."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from tests.support.databases import ledger_fingerprint

ARLEDGER = shutil.which("arledger", path=str(Path(sys.executable).parent)) or "arledger"


class Cli:
    def __init__(self, url: str, cwd: Path) -> None:
        self.env = {**os.environ, "ARLEDGER_DATABASE_URL": url, "ARLEDGER_BROKER_URL": ""}
        self.cwd = cwd

    def run(self, *args: str, expect: int = 0) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [ARLEDGER, *args],
            env=self.env,
            cwd=self.cwd,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert result.returncode == expect, (
            f"arledger {' '.join(args)} exited {result.returncode}:\n{result.stdout}\n{result.stderr}"
        )
        return result

    def json(self, *args: str) -> object:
        return json.loads(self.run(*args, "--json").stdout)

    def refused(self, *args: str) -> str:
        """Run a command that must be refused: exit 2, one line on stderr, nothing changed."""
        before = ledger_fingerprint(self.url)
        result = self.run(*args, expect=2)
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1, result.stderr
        assert ledger_fingerprint(self.url) == before
        return lines[0]

    @property
    def url(self) -> str:
        return self.env["ARLEDGER_DATABASE_URL"]
