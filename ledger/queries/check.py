"""`arledger check`: verify every invariant of docs/rules.md section 9 against the database.

Each check reads the stored rows independently of the code that wrote them and reports every
violation it finds as one line naming the invariant and the figures. The property tests run the
same function after every step.

1. every journal balances (and has at least two lines, each one-sided, adding up to its amount);
2. for every AR account, the GL balance equals the sum of its lines' balances — and each line's
   cached balance equals the AR entries posted to it;
3. for every receipt, applied + unapplied + reversed = amount, each part non-negative, and the
   cash it brought in equals its amount;
4. a write-off's reversed amount stays within [0, amount]; advanced-adjustment (and credit-
   balance) write-offs are never reversed by a receipt;
5. no posted row was changed or deleted: the audit chain recomputed from the rows matches the
   chain sealed at each commit, and every commit is sealed in an unbroken sequence;
6. every intake key was processed at most once: keys are unique and each receipt was
   distributed in a single commit.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Integer, case, func, select
from sqlalchemy.orm import Session

from ledger.persistence.audit import GENESIS_HASH, chain, commit_digest
from ledger.persistence.schema import (
    CLOCK,
    COMMITS,
    JOURNAL_LINES,
    JOURNALS,
    LINES,
    ORDERS,
    ORG_UNITS,
    RECEIPTS,
    WRITE_OFFS,
)

_CHUNK = 500


@dataclass(frozen=True)
class Violation:
    """One broken invariant, with the figures that show it."""

    invariant: int
    message: str

    def __str__(self) -> str:
        return f"invariant {self.invariant}: {self.message}"


def check_invariants(session: Session) -> list[Violation]:
    """Every violation of docs/rules.md section 9 the database shows; empty when the ledger is sound."""
    violations: list[Violation] = []
    violations += _journals_balance(session)
    violations += _ar_accounts_agree(session)
    violations += _receipts_add_up(session)
    violations += _write_offs_within_bounds(session)
    violations += _audit_chain_holds(session)
    violations += _intake_processed_once(session)
    return violations


def _journals_balance(session: Session) -> list[Violation]:
    sums = (
        select(
            JOURNALS.c.id,
            JOURNALS.c.type,
            JOURNALS.c.amount_minor,
            func.coalesce(func.sum(JOURNAL_LINES.c.debit_minor), 0).label("debits"),
            func.coalesce(func.sum(JOURNAL_LINES.c.credit_minor), 0).label("credits"),
            func.count(JOURNAL_LINES.c.id).label("legs"),
            func.sum(
                (JOURNAL_LINES.c.debit_minor < 0).cast(Integer)
                + (JOURNAL_LINES.c.credit_minor < 0).cast(Integer)
                + ((JOURNAL_LINES.c.debit_minor > 0) == (JOURNAL_LINES.c.credit_minor > 0)).cast(
                    Integer
                )
            ).label("bad_legs"),
        )
        .outerjoin(JOURNAL_LINES, JOURNAL_LINES.c.journal_id == JOURNALS.c.id)
        .group_by(JOURNALS.c.id, JOURNALS.c.type, JOURNALS.c.amount_minor)
    )
    violations = []
    for row in session.execute(sums):
        if row.debits != row.credits:
            violations.append(
                Violation(
                    1,
                    f"journal {row.id} ({row.type}) debits {row.debits} != credits {row.credits} (minor units)",
                )
            )
        if row.legs < 2:
            violations.append(Violation(1, f"journal {row.id} ({row.type}) has {row.legs} lines"))
        if row.debits != row.amount_minor:
            violations.append(
                Violation(
                    1,
                    f"journal {row.id} ({row.type}) lines total {row.debits}, its amount is {row.amount_minor}",
                )
            )
        if row.bad_legs:
            violations.append(
                Violation(
                    1,
                    f"journal {row.id} ({row.type}) has {row.bad_legs} lines that are not one positive side",
                )
            )
    return violations


def _ar_accounts_agree(session: Session) -> list[Violation]:
    violations = []
    ar_accounts = set(session.execute(select(LINES.c.ar_account).distinct()).scalars()) | set(
        session.execute(select(ORG_UNITS.c.ar_account)).scalars()
    )
    gl = dict(
        session.execute(
            select(
                JOURNAL_LINES.c.account,
                func.sum(JOURNAL_LINES.c.debit_minor - JOURNAL_LINES.c.credit_minor),
            )
            .where(JOURNAL_LINES.c.account.in_(ar_accounts))
            .group_by(JOURNAL_LINES.c.account)
        ).all()
    )
    lines = dict(
        session.execute(
            select(LINES.c.ar_account, func.sum(LINES.c.balance_minor)).group_by(LINES.c.ar_account)
        ).all()
    )
    for account in sorted(ar_accounts):
        gl_balance, line_total = int(gl.get(account) or 0), int(lines.get(account) or 0)
        if gl_balance != line_total:
            violations.append(
                Violation(
                    2,
                    f"AR account {account}: GL balance {gl_balance} != sum of line balances {line_total} (minor units)",
                )
            )
    posted = (
        select(
            JOURNAL_LINES.c.line_id,
            func.sum(JOURNAL_LINES.c.debit_minor - JOURNAL_LINES.c.credit_minor).label("posted"),
        )
        .join(
            LINES,
            (LINES.c.id == JOURNAL_LINES.c.line_id)
            & (LINES.c.ar_account == JOURNAL_LINES.c.account),
        )
        .group_by(JOURNAL_LINES.c.line_id)
        .subquery()
    )
    for row in session.execute(
        select(
            LINES.c.id,
            LINES.c.line_no,
            ORDERS.c.number,
            LINES.c.balance_minor,
            func.coalesce(posted.c.posted, 0).label("posted"),
        )
        .join(ORDERS, ORDERS.c.id == LINES.c.order_id)
        .outerjoin(posted, posted.c.line_id == LINES.c.id)
        .where(LINES.c.balance_minor != func.coalesce(posted.c.posted, 0))
    ):
        violations.append(
            Violation(
                2,
                f"order {row.number} line {row.line_no}: balance {row.balance_minor} != its AR entries {row.posted} (minor units)",
            )
        )
    return violations


@dataclass(frozen=True)
class _ReceiptAmounts:
    """Where a receipt's money is, recomputed here from the journals (not by the write path's
    own split), in minor units."""

    applied: int = 0
    unapplied: int = 0
    reversed: int = 0
    cash_in: int = 0  # debits to cash by its RECEIPT and UNAPPLIED journals


def _receipt_amounts(session: Session, receipt_ids: list[int]) -> dict[int, _ReceiptAmounts]:
    """A RECEIPT applies money; an UNAPPLIED parks it; a TRANSFER moves parked money onto lines;
    a journal mirrored by a RECEIPT_REVERSAL is undone and its money counts as reversed."""
    totals: dict[int, list[int]] = {rid: [0, 0, 0, 0] for rid in receipt_ids}
    for start in range(0, len(receipt_ids), _CHUNK):
        chunk = receipt_ids[start : start + _CHUNK]
        rows = session.execute(
            select(
                JOURNALS.c.id,
                JOURNALS.c.receipt_id,
                JOURNALS.c.type,
                JOURNALS.c.amount_minor,
                JOURNALS.c.reverses_id,
            ).where(JOURNALS.c.receipt_id.in_(chunk))
        ).all()
        undone = {row.reverses_id for row in rows if row.type == "RECEIPT_REVERSAL"}
        for row in rows:
            parts = totals[row.receipt_id]
            amount = row.amount_minor
            if row.type in ("RECEIPT", "UNAPPLIED"):
                parts[3] += amount
                parts[2 if row.id in undone else (0 if row.type == "RECEIPT" else 1)] += amount
            elif row.type == "TRANSFER" and row.id not in undone:
                parts[0] += amount
                parts[1] -= amount
    return {rid: _ReceiptAmounts(*values) for rid, values in totals.items()}


def _receipts_add_up(session: Session) -> list[Violation]:
    violations = []
    receipts = session.execute(
        select(RECEIPTS.c.id, RECEIPTS.c.amount_minor, RECEIPTS.c.status)
    ).all()
    amounts = _receipt_amounts(session, [r.id for r in receipts])
    for receipt in receipts:
        parts = amounts[receipt.id]
        if receipt.status in ("queued", "failed"):
            if parts.cash_in:
                violations.append(
                    Violation(
                        3,
                        f"receipt {receipt.id} is {receipt.status} but brought in {parts.cash_in}",
                    )
                )
            continue
        total = parts.applied + parts.unapplied + parts.reversed
        if total != receipt.amount_minor:
            violations.append(
                Violation(
                    3,
                    f"receipt {receipt.id}: applied {parts.applied} + unapplied {parts.unapplied} + reversed {parts.reversed} = {total} != amount {receipt.amount_minor}",
                )
            )
        if parts.cash_in != receipt.amount_minor:
            violations.append(
                Violation(
                    3,
                    f"receipt {receipt.id}: cash in {parts.cash_in} != amount {receipt.amount_minor}",
                )
            )
        if min(parts.applied, parts.unapplied, parts.reversed) < 0:
            violations.append(Violation(3, f"receipt {receipt.id}: a negative part ({parts})"))
        expected = {
            "reversed": parts.reversed == receipt.amount_minor,
            "applied": parts.unapplied == 0 and parts.reversed == 0,
            "unapplied": parts.unapplied > 0 and parts.reversed == 0,
            "unidentified": parts.unapplied > 0 and parts.reversed == 0,
        }
        if not expected.get(receipt.status, False):
            violations.append(
                Violation(
                    3, f"receipt {receipt.id} is {receipt.status} but its amounts are {parts}"
                )
            )
    mirrors = (
        select(JOURNALS.c.id, JOURNALS.c.amount_minor, JOURNALS.c.reverses_id)
        .where(JOURNALS.c.type == "RECEIPT_REVERSAL")
        .subquery()
    )
    for row in session.execute(
        select(mirrors.c.id, mirrors.c.amount_minor, JOURNALS.c.amount_minor.label("original"))
        .join(JOURNALS, JOURNALS.c.id == mirrors.c.reverses_id)
        .where(JOURNALS.c.amount_minor != mirrors.c.amount_minor)
    ):
        violations.append(
            Violation(
                3,
                f"reversal journal {row.id} moves {row.amount_minor}, the journal it reverses {row.original}",
            )
        )
    return violations


def _write_offs_within_bounds(session: Session) -> list[Violation]:
    violations = []
    # Reversals minus the receipt reversals undoing them, summed here by the check's own query.
    reversed_minor_of = (
        select(
            WRITE_OFFS.c.id,
            WRITE_OFFS.c.amount_minor,
            func.coalesce(
                func.sum(
                    case(
                        (JOURNALS.c.type == "WRITE_OFF_REVERSAL", JOURNALS.c.amount_minor),
                        (JOURNALS.c.type == "RECEIPT_REVERSAL", -JOURNALS.c.amount_minor),
                        else_=0,
                    )
                ),
                0,
            ).label("reversed_minor"),
        )
        .outerjoin(JOURNALS, JOURNALS.c.write_off_id == WRITE_OFFS.c.id)
        .group_by(WRITE_OFFS.c.id, WRITE_OFFS.c.amount_minor)
    )
    for write_off in session.execute(reversed_minor_of):
        reversed_minor = int(write_off.reversed_minor)
        if not 0 <= reversed_minor <= write_off.amount_minor:
            violations.append(
                Violation(
                    4,
                    f"write-off {write_off.id}: reversed {reversed_minor} outside 0..{write_off.amount_minor}",
                )
            )
    protected = (WRITE_OFFS.c.advanced.is_(True)) | (WRITE_OFFS.c.kind == "credit")
    for row in session.execute(
        select(
            JOURNALS.c.id,
            WRITE_OFFS.c.id.label("write_off"),
            WRITE_OFFS.c.advanced,
            WRITE_OFFS.c.kind,
        )
        .join(WRITE_OFFS, WRITE_OFFS.c.id == JOURNALS.c.write_off_id)
        .where(
            JOURNALS.c.type == "WRITE_OFF_REVERSAL", JOURNALS.c.receipt_id.is_not(None), protected
        )
    ):
        what = "an advanced-adjustment" if row.advanced else "a credit-balance"
        violations.append(
            Violation(4, f"journal {row.id}: a receipt reversed {what} write-off {row.write_off}")
        )
    return violations


def _audit_chain_holds(session: Session) -> list[Violation]:
    violations = []
    clock = session.execute(select(CLOCK)).one()
    unsealed = session.execute(
        select(func.count()).select_from(COMMITS).where(COMMITS.c.seq.is_(None))
    ).scalar_one()
    if unsealed:
        violations.append(Violation(5, f"{unsealed} ledger commits were never sealed"))
    commits = session.execute(
        select(COMMITS.c.id, COMMITS.c.seq, COMMITS.c.chain_hash)
        .where(COMMITS.c.seq.is_not(None))
        .order_by(COMMITS.c.seq)
    ).all()
    previous = GENESIS_HASH
    for expected_seq, commit in enumerate(commits, start=1):
        if commit.seq != expected_seq:
            violations.append(
                Violation(
                    5,
                    f"commit sequence jumps from {expected_seq - 1} to {commit.seq}: commits are missing",
                )
            )
            break
    for start in range(0, len(commits), _CHUNK):
        chunk = commits[start : start + _CHUNK]
        rows = _commit_rows(session, [c.id for c in chunk])
        for commit in chunk:
            journals, lines, write_offs = rows[commit.id]
            recomputed = chain(previous, commit_digest(journals, lines, write_offs))
            if recomputed != commit.chain_hash:
                violations.append(
                    Violation(
                        5,
                        f"commit {commit.seq}: its journals, lines or write-offs were changed or deleted after posting (audit hash mismatch)",
                    )
                )
            previous = commit.chain_hash
    last = commits[-1] if commits else None
    if (last.seq if last else 0) != clock.last_seq or (
        last.chain_hash if last else GENESIS_HASH
    ) != clock.chain_hash:
        violations.append(
            Violation(
                5, f"the outbox clock (seq {clock.last_seq}) does not match the last sealed commit"
            )
        )
    orphans = session.execute(
        select(func.count())
        .select_from(JOURNAL_LINES)
        .outerjoin(JOURNALS, JOURNALS.c.id == JOURNAL_LINES.c.journal_id)
        .where(JOURNALS.c.id.is_(None))
    ).scalar_one()
    if orphans:
        violations.append(Violation(5, f"{orphans} journal lines belong to no journal"))
    return violations


def _commit_rows(
    session: Session, commit_ids: list[int]
) -> dict[int, tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]]:
    result: dict[int, tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]] = {
        commit_id: ([], [], []) for commit_id in commit_ids
    }
    journal_commit: dict[int, int] = {}
    for row in session.execute(
        select(JOURNALS).where(JOURNALS.c.commit_id.in_(commit_ids))
    ).mappings():
        journal_commit[row["id"]] = row["commit_id"]
        result[row["commit_id"]][0].append(dict(row))
    ids = list(journal_commit)
    for start in range(0, len(ids), 5000):
        part = ids[start : start + 5000]
        for row in session.execute(
            select(JOURNAL_LINES).where(JOURNAL_LINES.c.journal_id.in_(part))
        ).mappings():
            result[journal_commit[row["journal_id"]]][1].append(dict(row))
        for row in session.execute(
            select(WRITE_OFFS, JOURNALS.c.commit_id.label("_commit"))
            .join(
                JOURNALS,
                (JOURNALS.c.write_off_id == WRITE_OFFS.c.id) & (JOURNALS.c.type == "WRITE_OFF"),
            )
            .where(JOURNALS.c.id.in_(part))
        ).mappings():
            result[row["_commit"]][2].append(dict(row))
    return result


def _intake_processed_once(session: Session) -> list[Violation]:
    violations = []
    for key, count in session.execute(
        select(RECEIPTS.c.external_key, func.count())
        .group_by(RECEIPTS.c.external_key)
        .having(func.count() > 1)
    ):
        violations.append(Violation(6, f"intake key {key} was recorded {count} times"))
    distributions: dict[int, set[int]] = defaultdict(set)
    for receipt_id, commit_id in session.execute(
        select(JOURNALS.c.receipt_id, JOURNALS.c.commit_id)
        .where(JOURNALS.c.type.in_(("RECEIPT", "UNAPPLIED")))
        .distinct()
    ):
        distributions[receipt_id].add(commit_id)
    for receipt_id, commits in sorted(distributions.items()):
        if len(commits) > 1:
            violations.append(
                Violation(6, f"receipt {receipt_id} was distributed {len(commits)} times")
            )
    return violations
