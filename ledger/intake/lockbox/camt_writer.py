"""Writing camt.054 / camt.053 files, for tests, the demo sample and the benchmark generator.

:func:`write_camt` streams entries (:class:`CamtEntry`, each with its transactions) to a binary
file as one notification or statement with its ``TxsSummry`` totals, in any version .001.02 to
.001.08 (the elements that changed between versions follow the version asked for). Entries are
written as they come; the totals, which come before the entries, are counted in a first pass
over a list, or given by the caller for a generated stream (:func:`write_camt_items`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import BinaryIO
from xml.sax.saxutils import escape, quoteattr

from ledger.domain.money import Money
from ledger.intake.lockbox.items import LockboxItem


@dataclass(frozen=True)
class CamtTransaction:
    """One ``TxDtls``: its amount (None: none written), references, debtor and remittance."""

    amount: Money | None = None
    end_to_end: str | None = None
    debtor: str | None = None
    debtor_account: str | None = None  # an IBAN when it looks like one, else Othr/Id
    unstructured: tuple[str, ...] = ()
    documents: tuple[str, ...] = ()  # Strd/RfrdDocInf/Nb
    creditor_reference: str | None = None  # Strd/CdtrRefInf/Ref


@dataclass(frozen=True)
class CamtEntry:
    """One ``Ntry``: amount, direction, status, dates, bank reference and transactions."""

    amount: Money
    booking_date: date
    credit: bool = True
    status: str = "BOOK"
    bank_reference: str | None = None
    transactions: tuple[CamtTransaction, ...] = field(default_factory=tuple)


def _amount(money: Money) -> str:
    return f"<Amt Ccy={quoteattr(money.currency)}>{money.amount}</Amt>"


def _text(name: str, value: str) -> str:
    return f"<{name}>{escape(value)}</{name}>"


def _is_iban(value: str) -> bool:
    return len(value) >= 15 and value[:2].isalpha() and value[2:4].isdigit()


def _account(value: str) -> str:
    if _is_iban(value):
        return f"<Id>{_text('IBAN', value)}</Id>"
    return f"<Id><Othr>{_text('Id', value)}</Othr></Id>"


def _transaction(transaction: CamtTransaction, version: int) -> str:
    parts = ["<TxDtls>"]
    if transaction.end_to_end is not None:
        parts.append(f"<Refs>{_text('EndToEndId', transaction.end_to_end)}</Refs>")
    if transaction.amount is not None:
        if version == 2:  # .02 has no TxDtls/Amt
            parts.append(f"<AmtDtls><TxAmt>{_amount(transaction.amount)}</TxAmt></AmtDtls>")
        else:
            parts.append(_amount(transaction.amount))
    if transaction.debtor is not None or transaction.debtor_account is not None:
        parts.append("<RltdPties>")
        if transaction.debtor is not None:
            name = _text("Nm", transaction.debtor)
            parts.append(
                f"<Dbtr><Pty>{name}</Pty></Dbtr>" if version >= 8 else f"<Dbtr>{name}</Dbtr>"
            )
        if transaction.debtor_account is not None:
            parts.append(f"<DbtrAcct>{_account(transaction.debtor_account)}</DbtrAcct>")
        parts.append("</RltdPties>")
    if transaction.unstructured or transaction.documents or transaction.creditor_reference:
        parts.append("<RmtInf>")
        parts.extend(_text("Ustrd", line) for line in transaction.unstructured)
        if transaction.documents or transaction.creditor_reference:
            parts.append("<Strd>")
            parts.extend(
                f"<RfrdDocInf>{_text('Nb', number)}</RfrdDocInf>"
                for number in transaction.documents
            )
            if transaction.creditor_reference is not None:
                parts.append(
                    f"<CdtrRefInf>{_text('Ref', transaction.creditor_reference)}</CdtrRefInf>"
                )
            parts.append("</Strd>")
        parts.append("</RmtInf>")
    parts.append("</TxDtls>")
    return "".join(parts)


def _entry(entry: CamtEntry, version: int) -> str:
    status = (
        _text("Sts", entry.status) if version <= 5 else f"<Sts>{_text('Cd', entry.status)}</Sts>"
    )
    parts = [
        "<Ntry>",
        _amount(entry.amount),
        _text("CdtDbtInd", "CRDT" if entry.credit else "DBIT"),
        status,
        f"<BookgDt><Dt>{entry.booking_date.isoformat()}</Dt></BookgDt>",
        f"<ValDt><Dt>{entry.booking_date.isoformat()}</Dt></ValDt>",
    ]
    if entry.bank_reference is not None:
        parts.append(_text("AcctSvcrRef", entry.bank_reference))
    if entry.transactions:
        parts.append("<NtryDtls>")
        parts.extend(_transaction(transaction, version) for transaction in entry.transactions)
        parts.append("</NtryDtls>")
    parts.append("</Ntry>\n")
    return "".join(parts)


def write_camt(
    stream: BinaryIO,
    entries: Iterable[CamtEntry],
    *,
    message_id: str,
    account: str,
    currency: str = "EUR",
    kind: str = "054",
    version: int = 8,
    statement_id: str = "1",
    created: str = "2026-12-03T08:00:00",
    totals: tuple[int, Decimal] | None = None,
) -> None:
    """Write one camt.``kind`` (053 or 054) message of ``version`` (2 to 8) with ``entries``.

    ``totals`` (number of entries, unsigned sum) is what ``TxsSummry`` states; by default it is
    counted from ``entries``, which are then read twice (give a list). Pass totals that disagree
    to write a file the parser must refuse.
    """
    if kind not in ("053", "054") or not 2 <= version <= 8:
        raise ValueError(f"camt.{kind}.001.0{version} is not written")
    if totals is None:
        entries = list(entries)
        totals = (len(entries), sum((entry.amount.amount for entry in entries), Decimal(0)))
    message, statement = (
        ("BkToCstmrDbtCdtNtfctn", "Ntfctn") if kind == "054" else ("BkToCstmrStmt", "Stmt")
    )
    namespace = f"urn:iso:std:iso:20022:tech:xsd:camt.{kind}.001.0{version}"
    head = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<Document xmlns="{namespace}">\n<{message}>\n'
        f"<GrpHdr>{_text('MsgId', message_id)}<CreDtTm>{created}</CreDtTm></GrpHdr>\n"
        f"<{statement}>{_text('Id', statement_id)}<CreDtTm>{created}</CreDtTm>"
        f"<Acct>{_account(account)}{_text('Ccy', currency)}</Acct>\n"
        f"<TxsSummry><TtlNtries><NbOfNtries>{totals[0]}</NbOfNtries>"
        f"<Sum>{totals[1]}</Sum></TtlNtries></TxsSummry>\n"
    )
    stream.write(head.encode())
    buffer: list[str] = []
    for entry in entries:
        buffer.append(_entry(entry, version))
        if len(buffer) >= 1000:
            stream.write("".join(buffer).encode())
            buffer.clear()
    stream.write("".join(buffer).encode())
    stream.write(f"</{statement}>\n</{message}>\n</Document>\n".encode())


def bank_reference(batch: str, item: str, salt: str) -> str:
    """The bank reference :func:`camt_entries` gives a lockbox item: the same for the same item
    and salt, and short enough for Max35Text."""
    digest = hashlib.blake2b(f"{salt}\x1f{batch}\x1f{item}".encode(), digest_size=12)
    return f"R{digest.hexdigest()}"


def camt_entries(items: Iterable[LockboxItem], salt: str = "") -> Iterator[CamtEntry]:
    """One booked credit entry per lockbox item: its amount, a bank reference, its remittance.

    The bank reference is a digest of ``salt`` and the item's batch and item: give two files
    of the same batches different salts, or their credits are one receipt.

    An item's orders, when it names any, become its remittance text (``Ustrd``), so the matching
    rules place it as the lockbox file would have.
    """
    for item in items:
        remittance = item.remittance or " ".join(order for order, _ in item.allocations)
        yield CamtEntry(
            amount=item.amount,
            booking_date=item.deposit_date,
            bank_reference=bank_reference(item.batch, item.item, salt),
            transactions=(
                CamtTransaction(
                    amount=item.amount,
                    end_to_end=item.check_number[:35] or None,
                    debtor=item.customer,
                    debtor_account=item.payer_account,
                    unstructured=(remittance[:140],) if remittance else (),
                ),
            ),
        )
