"""Peak memory of reading an N-entry BAI2 file: the ``bai2`` package's parser against ours.

    python benchmarks/bai2_package.py --items 100000 [--ours-only] [--json]

Writes one account of N credits (with ``write_bai2``), then reads it in two fresh processes:
``bai2.parse_from_file`` (which builds the whole file as objects, then checks its totals), and
``validate_file`` followed by a full ``iter_items`` pass (what the importer does). Prints the peak
RSS and the seconds of each; docs/lockbox.md quotes them.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ledger.intake.lockbox.bai2_writer import CREDIT, Bai2Account, Bai2Entry, Bai2Group, write_bai2

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = """
import json, resource, sys, time
from bai2 import bai2
started = time.monotonic()
with open(sys.argv[1]) as f:
    parsed = bai2.parse_from_file(f)
count = sum(len(a.children) for g in parsed.children for a in g.children)
print(json.dumps({"entries": count, "seconds": round(time.monotonic() - started, 2),
    "peak_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}))
"""
OURS = """
import json, resource, sys, time
from ledger.intake.lockbox import iter_items, validate_file
started = time.monotonic()
validate_file(sys.argv[1])
count = sum(1 for _ in iter_items(sys.argv[1]))
print(json.dumps({"entries": count, "seconds": round(time.monotonic() - started, 2),
    "peak_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}))
"""


def entries(count: int):
    for n in range(count):
        yield Bai2Entry(CREDIT, 10_000 + n, f"R{n}", f"C{n % 97}", f"payment for order B-{n}")


def measure(script: str, path: Path) -> dict:
    result = subprocess.run(
        [sys.executable, "-c", script, str(path)],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    return json.loads(result.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--ours-only", action="store_true", help="skip the bai2 package")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="arledger-bai2-") as directory:
        path = Path(directory) / "bank.bai2"
        with path.open("w") as out:
            account = Bai2Account("BENCH", entries(args.items), currency="USD")
            write_bai2([Bai2Group(date(2026, 11, 6), [account])], out)
        report = {"items": args.items, "file_mb": round(path.stat().st_size / 2**20, 1)}
        report["ours"] = measure(OURS, path)
        if not args.ours_only:
            report["bai2_package"] = measure(PACKAGE, path)
    print(json.dumps(report) if args.json else json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
