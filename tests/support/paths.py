"""Where the repository is, and the bundled sample organisation most tests load."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
SAMPLE = ROOT / "ledger" / "data" / "sample.json"
