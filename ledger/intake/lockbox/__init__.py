"""Bank lockbox files: a streaming, validating parser and writer (docs/rules.md section 6).

A lockbox file lists the checks a bank deposited for us, each naming the orders it pays. Two
formats are read, told apart by content, never by file name:

- CSV with the header ``batch,item,deposit_date,check_number,check_amount,currency,customer,
  order,applied_amount``; adjacent rows with the same ``batch,item`` are one check split across
  orders;
- BAI-style fixed-width records (``1`` file header, ``5`` batch header, ``6`` check, ``4``
  overflow, ``7`` batch total, ``8`` lockbox total, ``9`` file trailer) whose field positions
  come from a declarative :class:`LockboxProfile` loaded from JSON, so that a bank's variant is a
  new profile file and not new code.

A file is used in two passes. :func:`validate_file` reads it whole, checks structure, amounts,
dates and every control total, hashes its bytes, and refuses it with a line number and a reason
(:class:`LockboxRefused`) before anything posts. :func:`iter_items` then streams its checks as
:class:`LockboxItem` values. Neither pass holds the file or its items in memory: lines are read
in blocks, and the only thing that grows with the file is 8 bytes per check, kept to find a
``batch,item`` that appears twice. Whatever the bytes, the parser either succeeds or raises
:class:`LockboxRefused`.

:func:`write_bai` and :func:`write_csv` write valid files (control records included) from a
stream of items, for tests, the demo and the benchmark generator.

The modules, each importing only from those listed before it:

- ``errors``: :class:`LockboxRefused`, :class:`LockboxProfileInvalid`,
  :class:`LockboxItemDoesNotFit`;
- ``items``: :class:`LockboxItem`, :class:`LockboxSummary`, the CSV columns and header, and the
  check both parsers produce;
- ``lines``: reading a file as lines, in blocks, hashed, with line-length and character limits;
- ``profile``: the declarative BAI profile (:class:`LockboxProfile`), :func:`load_profile` and
  the bundled default;
- ``csv_format``: the CSV parser;
- ``bai_records``: reading and writing one fixed-width record through a profile;
- ``bai_format``: the BAI parser (record order and control totals);
- ``bai2_format``: the BAI2 bank statement reader (detected by a first line starting ``01,``);
- ``camt_format``: the ISO 20022 camt.053 / camt.054 parser (lxml, streaming, no DOCTYPE);
- ``passes``: :func:`validate_file` and :func:`iter_items`, with the repeated-key check;
- ``writer``: :func:`write_bai` and :func:`write_csv`;
- ``bai2_writer``: :func:`~ledger.intake.lockbox.bai2_writer.write_bai2`, through the ``bai2``
  package's record writers;
- ``camt_writer``: ``write_camt`` (camt.053 / camt.054 files for tests, demo and benchmark).

This package re-exports the names the rest of arledger uses; the documentation of both formats
and of the default profile is ``docs/lockbox.md``.
"""

from ledger.intake.lockbox.errors import (
    LockboxItemDoesNotFit,
    LockboxProfileInvalid,
    LockboxRefused,
)
from ledger.intake.lockbox.items import CSV_HEADER, BankCredit, LockboxItem, LockboxSummary
from ledger.intake.lockbox.passes import iter_items, validate_file
from ledger.intake.lockbox.profile import LockboxProfile, load_profile
from ledger.intake.lockbox.writer import write_bai, write_csv

__all__ = [
    "CSV_HEADER",
    "BankCredit",
    "LockboxItem",
    "LockboxItemDoesNotFit",
    "LockboxProfile",
    "LockboxProfileInvalid",
    "LockboxRefused",
    "LockboxSummary",
    "iter_items",
    "load_profile",
    "validate_file",
    "write_bai",
    "write_csv",
]
