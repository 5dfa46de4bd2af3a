"""ISO 20022 camt.053 / camt.054 bank files: a streaming, hardened parser (docs/rules.md section 13).

:class:`_CamtParser` reads a camt.053 statement or camt.054 credit notification, versions
.001.02 to .001.08 (told by the root's namespace), with lxml's ``iterparse`` (libxml2) with
entity resolution, DTD loading and network access switched off. Before libxml2 sees a byte,
:mod:`~ledger.intake.lockbox.camt_prolog` reads what precedes the root element and refuses a
``DOCTYPE`` there, so an XML bomb is never expanded and nothing an XXE file names is ever read.

libxml2 reports only the structural elements (``Document``, the message, ``GrpHdr``, the
statement, ``Ntry``, ``TxDtls``); what lies between them is read from the tree when the next of
them comes, then dropped, so Python touches the elements the import reads and memory holds one
entry's own elements at a time. That every element is in the file's namespace is checked by
libxml2's own tree walk, looking for the namespaces the file declared besides its own.

Every booked credit entry gives one check per ``TxDtls`` (the entry itself when it has none);
debit entries are counted and skipped, entries not booked are skipped. Checked: each statement's
``TxsSummry/TtlNtries`` (number and unsigned sum of every entry) and that the transactions of an
entry add up to its amount. Refusals name the entry number and the element path.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, NoReturn

from lxml import etree

from ledger.domain.errors import InputRefused
from ledger.domain.money import currency_decimals
from ledger.intake.lockbox.camt_prolog import DOCTYPE_REFUSED, PrologGuard
from ledger.intake.lockbox.errors import LockboxRefused
from ledger.intake.lockbox.items import MAX_REMITTANCE_LENGTH, _Check

# lxml ships no type hints: its elements are Any to mypy.
Element = Any

_NAMESPACE = re.compile(r"urn:iso:std:iso:20022:tech:xsd:camt\.(053|054)\.001\.0([2-8])")
_ROOTS = {"053": ("BkToCstmrStmt", "Stmt"), "054": ("BkToCstmrDbtCdtNtfctn", "Ntfctn")}
_MESSAGES = frozenset(tag for tag, _ in _ROOTS.values())
# The elements libxml2 reports (in any namespace, so that a foreign one is refused as it comes).
_XML_NAMESPACE = "http://www.w3.org/XML/1998/namespace"  # bound without a declaration
_STRUCTURE = (
    *(f"{{*}}{name}" for name in ("Document", "GrpHdr", "Ntry", "TxDtls", *_MESSAGES)),
    *(f"{{*}}{name}" for _, name in _ROOTS.values()),
    f"{{{_XML_NAMESPACE}}}*",
)
# ISO identifiers are Max35Text; a longer one is not a camt file, and keys must stay short.
_MAX_IDENTIFIER = 35
_AMOUNT = re.compile(r"\d{1,18}(\.\d{1,5})?")
_WHITESPACE = re.compile(r"\s+")
# What no text we keep may hold (XML 1.0 already refuses C0 controls other than whitespace).
_CONTROL = re.compile(r"[\x7f-\x9f]")
_NOT_PROVIDED = "NOTPROVIDED"


def looks_like_xml(path: Path) -> bool:
    """Whether the file starts (after a byte-order mark and blanks) with ``<``: an XML file."""
    with path.open("rb") as stream:
        head = stream.read(64)
    head = head.removeprefix(b"\xef\xbb\xbf").lstrip()
    return head[:1] == b"<"


def _local(tag: str) -> str:
    return tag.rpartition("}")[2]


@dataclass(slots=True)
class _Entry:
    """An entry (``Ntry``) as its children are read; its transactions are handled one by one."""

    number: int  # in the file
    path: str
    amount: int | None = None
    amount_text: str | None = None
    currency: str | None = None
    credit: bool | None = None
    booked: bool | None = None
    booking_date: date | None = None
    value_date: date | None = None
    bank_reference: str | None = None
    entry_reference: str | None = None
    transactions: int = 0
    transactions_total: int = 0
    other_currency: bool = False
    # The first transaction waits: whether it is the entry's only one decides where a missing
    # amount comes from.
    pending: _Transaction | None = None


@dataclass(slots=True)
class _Transaction:
    position: int
    path: str
    amount: int | None
    currency: str | None
    end_to_end: str | None
    reference: str | None
    payer: str | None
    payer_account: str | None
    remittance: str | None


@dataclass(slots=True)
class _Statement:
    """A ``Ntfctn`` or ``Stmt``: its id, account, stated totals and what its entries add to."""

    position: int
    path: str
    identifier: str | None = None
    account: str | None = None
    stated_count: int | None = None
    stated_sum: Decimal | None = None
    entries: int = 0
    entries_sum: Decimal = field(default_factory=Decimal)


class _CamtParser:
    """Validates a camt.053/054 file as it streams, yielding each booked credit's checks."""

    def __init__(self, path: Path, digest: hashlib._Hash) -> None:
        self.path = path
        self.digest = digest
        self.bank_file_id: str | None = None
        self.debits_skipped = 0
        self.message_id: str | None = None
        self.entry_number = 0
        # "{uri}*" for each namespace other than the file's that the file declared so far ("{}*"
        # for none): only elements in those can be foreign, so libxml2 looks for them.
        self._foreign: tuple[str, ...] = ()
        self._stream = path.open("rb")
        self._events = etree.iterparse(
            PrologGuard(self._stream, digest),
            events=("start", "end", "start-ns"),
            tag=_STRUCTURE,
            resolve_entities=False,
            no_network=True,
            load_dtd=False,
            dtd_validation=False,
            attribute_defaults=False,
            huge_tree=False,
            remove_comments=True,
            remove_pis=True,
        )
        declared: list[str] = []
        while True:
            try:
                event, item = self._next()
            except StopIteration:  # pragma: no cover - libxml2 refuses a file without a root
                self._refuse(None, "not a camt.053 or camt.054 file: no Document element")
            if event != "start-ns":
                break
            declared.append(item[1])
        root = item.getroottree().getroot()
        docinfo = root.getroottree().docinfo
        if docinfo.doctype or docinfo.internalDTD is not None or docinfo.externalDTD is not None:
            # PrologGuard refuses any DOCTYPE before libxml2 sees it; this is the second lock.
            self._refuse(None, DOCTYPE_REFUSED)
        match = (
            _NAMESPACE.fullmatch(root.tag[1:].partition("}")[0]) if root.tag[:1] == "{" else None
        )
        if _local(root.tag) != "Document" or match is None:
            self._refuse(
                None,
                f"not a camt.053 or camt.054 file: the root element is {root.tag}, expected "
                "Document in the namespace urn:iso:std:iso:20022:tech:xsd:camt.05x.001.0N "
                "(N 2 to 8)",
            )
        self.kind = match.group(1)
        self.format = f"camt{self.kind}"
        self.namespace = root.tag[1:].partition("}")[0]
        self.message_tag, self.statement_tag = _ROOTS[self.kind]
        self.root = root
        self._prefix = f"{{{self.namespace}}}"
        for uri in declared:
            self._declare(uri)
        if root.nsmap.get(None) != self.namespace:
            self._declare("")  # a prefixed root: its unprefixed descendants are in no namespace
        self._tags = {
            name: self._prefix + name
            for name in (
                "Amt",
                "AmtDtls",
                "TxAmt",
                "Refs",
                "EndToEndId",
                "AcctSvcrRef",
                "RltdPties",
                "Dbtr",
                "Pty",
                "Nm",
                "DbtrAcct",
                "Id",
                "IBAN",
                "Othr",
                "RmtInf",
                "Ustrd",
                "Strd",
                "RfrdDocInf",
                "Nb",
                "CdtrRefInf",
                "Ref",
                "Cd",
                "Dt",
                "DtTm",
                "TtlNtries",
                "NbOfNtries",
                "Sum",
                "MsgId",
            )
        }

    # --- reading ------------------------------------------------------------------------------

    def _declare(self, uri: str) -> None:
        pattern = f"{{{uri}}}*"
        if uri != self.namespace and pattern not in self._foreign:
            self._foreign = (*self._foreign, pattern)

    def _next(self) -> tuple[str, Any]:
        try:
            return next(self._events)  # type: ignore[no-any-return]
        except StopIteration:
            self._stream.close()
            raise
        except etree.LxmlError as exc:
            self._stream.close()
            raise _malformed(exc) from None
        except LockboxRefused:
            self._stream.close()
            raise

    def _refuse(self, entry: int | None, reason: str, path: str | None = None) -> NoReturn:
        self._stream.close()
        where = ""
        if entry is not None:
            where = f"entry {entry}"
        if path is not None:
            where = f"{where} at {path}" if where else f"at {path}"
        raise LockboxRefused(None, f"{where}: {reason}" if where else reason)

    def checks(self) -> Iterator[_Check]:
        """The file's checks in file order; raises LockboxRefused at the first fault."""
        try:
            yield from self._walk()
        finally:
            self._stream.close()

    def _path(self, element: Element) -> str:
        """The path of ``element``'s parent, from Document: where a foreign element is."""
        cut = len(self._prefix)
        ancestors = [ancestor.tag[cut:] for ancestor in element.iterancestors()]
        return "/".join(reversed(ancestors))

    def _foreign_element(self, element: Element, entry: int | None) -> None:
        """Refuses the file if ``element`` or a descendant is outside the file's namespace."""
        if not self._foreign:
            return
        found = next(element.iter(*self._foreign), None)
        if found is not None:
            self._refuse(
                entry,
                f"element {found.tag[:80]} is not in the file's namespace {self.namespace}",
                self._path(found),
            )

    def _walk(self) -> Iterator[_Check]:
        # The elements libxml2 reports are placed by their parents: a statement must be a child
        # of the current message, an entry of the current statement, a transaction a child of a
        # child of the current entry; one elsewhere is read with what holds it. What lies
        # between them is read (and checked) when the next of them comes. A transaction, an
        # entry, a statement is removed once handled, so the tree holds one entry at a time.
        prefix = self._prefix
        cut = len(prefix)
        root = self.root
        message: Element = None
        statement_element: Element = None
        statement_read: Element = None  # the statement's last child read
        entry_element: Element = None
        entry_read: Element = None  # the entry's last child read
        statement: _Statement | None = None
        statements = 0
        entry: _Entry | None = None
        message_seen = False
        try:
            for event, element in self._events:
                if event == "start-ns":
                    self._declare(element[1])
                    continue
                tag = element.tag
                if not tag.startswith(prefix):
                    self._refuse(
                        entry.number if entry else None,
                        f"element {tag[:80]} is not in the file's namespace {self.namespace}",
                        self._path(element),
                    )
                name = tag[cut:]
                if name == "TxDtls":
                    if event == "start" or entry is None:
                        continue
                    holder = element.getparent()
                    if holder.getparent() is not entry_element:
                        continue
                    if not holder.tag.startswith(prefix):
                        self._refuse(
                            entry.number,
                            f"element {holder.tag[:80]} is not in the file's namespace "
                            f"{self.namespace}",
                            self._path(holder),
                        )
                    entry_read = self._read(entry_element, entry_read, holder, entry)
                    if element.getprevious() is not None:
                        self._skip(holder, element, entry.number)
                    if self._foreign:
                        self._foreign_element(element, entry.number)
                    assert statement is not None
                    yield from self._transaction(statement, entry, element)
                    holder.remove(element)
                    continue
                parent = element.getparent()
                if name == "Ntry":
                    if parent is not statement_element or statement is None:
                        continue
                    if event == "start":
                        statement_read = self._read(
                            statement_element, statement_read, element, statement
                        )
                        statement.entries += 1
                        self.entry_number += 1
                        entry = _Entry(
                            self.entry_number, f"{statement.path}/Ntry[{statement.entries}]"
                        )
                        entry_element, entry_read = element, None
                        if statement.account is None:
                            self._refuse(
                                entry.number,
                                "the account (Acct) must come before the entries",
                                entry.path,
                            )
                    elif entry is not None:
                        self._read(entry_element, entry_read, None, entry)
                        yield from self._close_entry(statement, entry)
                        statement_element.remove(element)
                        entry = entry_element = entry_read = None
                elif name == self.statement_tag:
                    if parent is not message or message is None:
                        continue
                    if event == "start":
                        self._skip(message, element, None)
                        if self.message_id is None:
                            self._refuse(
                                None,
                                "GrpHdr/MsgId must come first",
                                f"Document/{self.message_tag}/{name}",
                            )
                        statements += 1
                        statement = _Statement(
                            statements, f"{self.message_tag}/{name}[{statements}]"
                        )
                        statement_element, statement_read = element, None
                    elif statement is not None:
                        self._read(statement_element, statement_read, None, statement)
                        self._close_statement(statement)
                        message.remove(element)
                        statement = statement_element = statement_read = None
                elif name == "GrpHdr":
                    if event == "end" and parent is message and message is not None:
                        self._skip(message, element, None)
                        self._foreign_element(element, None)
                        self._group_header(element)
                        message_seen = True
                        message.remove(element)
                elif name in _MESSAGES:
                    if parent is not root:
                        continue
                    if event == "start":
                        self._misplaced(element)
                        if name != self.message_tag:
                            self._refuse(None, f"expected {self.message_tag}", f"Document/{name}")
                        message = element
                    else:
                        self._skip(element, None, None)
                        root.remove(element)
                        message = None
                elif name == "Document" and element is root and event == "end":
                    self._misplaced(None)
        except etree.LxmlError as exc:
            self._stream.close()
            raise _malformed(exc) from None
        if not message_seen:
            self._refuse(None, f"{self.message_tag}/GrpHdr is missing")
        if statements == 0:
            self._refuse(None, f"the file has no {self.statement_tag}")

    def _read(
        self,
        parent: Element,
        after: Element,
        until: Element,
        what: _Entry | _Statement,
    ) -> Element:
        """Reads ``parent``'s children after ``after`` (from the first for None) and before
        ``until`` (to the last for None) as an entry's or a statement's, in file order, each
        checked for foreign elements first; returns the last one read (``after`` if none).

        They stay in the tree (they go with their entry or statement): a removal costs more
        than a mark.
        """
        # Each child is in the file's namespace: a foreign one is refused first.
        cut = len(self._prefix)
        children = parent.iterchildren() if after is None else after.itersiblings()
        if isinstance(what, _Entry):
            foreign = self._foreign
            for child in children:
                if child is until:
                    break
                if foreign:
                    self._foreign_element(child, what.number)
                self._entry_child(what, child.tag[cut:], child)
                after = child
        else:
            for child in children:
                if child is until:
                    break
                self._foreign_element(child, None)
                self._statement_child(what, child.tag[cut:], child)
                after = child
        return after

    def _skip(self, parent: Element, until: Element, entry: int | None) -> None:
        """Checks ``parent``'s children before ``until`` (all for None) for foreign elements,
        then removes them: elements the import does not read."""
        skipped = []
        for child in parent:
            if child is until:
                break
            self._foreign_element(child, entry)
            skipped.append(child)
        for child in skipped:
            parent.remove(child)

    def _misplaced(self, until: Element) -> None:
        """Refuses any child of Document before ``until`` (all for None): only the message
        belongs there, and each is removed when read."""
        for child in self.root:
            if child is until:
                break
            self._foreign_element(child, None)
            self._refuse(None, f"expected {self.message_tag}", f"Document/{_local(child.tag)}")

    # --- the group header and the statement ------------------------------------------------------

    def _group_header(self, header: Element) -> None:
        path = f"{self.message_tag}/GrpHdr/MsgId"
        message_id = self._text(header, "MsgId", None, path, required=True)
        assert message_id is not None
        self.message_id = message_id
        self.bank_file_id = f"{self.format}:{message_id}"

    def _statement_child(self, statement: _Statement, name: str, element: Element) -> None:
        if name == "Id":
            statement.identifier = self._identifier(element, None, f"{statement.path}/Id")
        elif name == "Acct":
            account_id = self._child(element, "Id")
            account = _account(self, account_id, None, f"{statement.path}/Acct/Id")
            if account is None:
                self._refuse(
                    None, "the account has no IBAN or Othr/Id", f"{statement.path}/Acct/Id"
                )
            statement.account = account
        elif name == "TxsSummry":
            totals = self._child(element, "TtlNtries")
            if totals is None:
                return
            path = f"{statement.path}/TxsSummry/TtlNtries"
            count = self._text(totals, "NbOfNtries", None, f"{path}/NbOfNtries")
            if count is not None:
                if not count.isdigit() or len(count) > 15:
                    self._refuse(None, f"NbOfNtries {count!r} is not a count", f"{path}/NbOfNtries")
                statement.stated_count = int(count)
            total = self._text(totals, "Sum", None, f"{path}/Sum")
            if total is not None:
                statement.stated_sum = self._decimal(total, None, f"{path}/Sum")

    def _close_statement(self, statement: _Statement) -> None:
        if statement.identifier is None:
            self._refuse(None, "the statement has no Id", statement.path)
        if statement.account is None:
            self._refuse(None, "the statement has no account (Acct)", statement.path)
        path = f"{statement.path}/TxsSummry/TtlNtries"
        if statement.stated_count is not None and statement.stated_count != statement.entries:
            self._refuse(
                None,
                f"NbOfNtries says {statement.stated_count} entries, the statement has "
                f"{statement.entries}",
                f"{path}/NbOfNtries",
            )
        if statement.stated_sum is not None and statement.stated_sum != statement.entries_sum:
            self._refuse(
                None,
                f"Sum says {statement.stated_sum}, the entries add up to "
                f"{statement.entries_sum} (every entry, credits and debits, unsigned)",
                f"{path}/Sum",
            )

    # --- entries ----------------------------------------------------------------------------------

    def _entry_child(self, entry: _Entry, name: str, element: Element) -> None:
        path = f"{entry.path}/{name}"
        if name == "Amt":
            text = (element.text or "").strip()
            currency = element.get("Ccy")
            entry.amount, entry.currency = self._amount(text, currency, entry.number, path)
            entry.amount_text = text
        elif name == "CdtDbtInd":
            indicator = (element.text or "").strip()
            if indicator not in ("CRDT", "DBIT"):
                self._refuse(
                    entry.number, f"CdtDbtInd {indicator!r} is neither CRDT nor DBIT", path
                )
            entry.credit = indicator == "CRDT"
        elif name == "Sts":
            # Sts is text up to version .04 (.05 for camt.054 in some banks) and Sts/Cd after.
            code = self._child(element, "Cd")
            status = ((code.text if code is not None else element.text) or "").strip()
            if not status:
                self._refuse(entry.number, "the status is empty", path)
            entry.booked = status == "BOOK"
        elif name in ("BookgDt", "ValDt"):
            day = self._date(element, entry.number, path)
            if name == "BookgDt":
                entry.booking_date = day
            else:
                entry.value_date = day
        elif name == "AcctSvcrRef":
            entry.bank_reference = self._identifier(element, entry.number, path)
        elif name == "NtryRef":
            entry.entry_reference = self._identifier(element, entry.number, path)

    def _entry_ready(self, entry: _Entry, path: str) -> None:
        if entry.amount is None:
            self._refuse(entry.number, "the entry has no Amt before its details", path)
        if entry.credit is None:
            self._refuse(entry.number, "the entry has no CdtDbtInd before its details", path)
        if entry.booked is None:
            self._refuse(entry.number, "the entry has no Sts before its details", path)

    def _transaction(
        self, statement: _Statement, entry: _Entry, element: Element
    ) -> Iterator[_Check]:
        self._entry_ready(entry, entry.path)
        entry.transactions += 1
        path = f"{entry.path}/NtryDtls/TxDtls[{entry.transactions}]"
        tags = self._tags
        children = self._children(element)
        amount_element = children.get(tags["Amt"])
        if amount_element is None:
            details = children.get(tags["AmtDtls"])
            transaction = self._child(details, "TxAmt") if details is not None else None
            amount_element = self._child(transaction, "Amt") if transaction is not None else None
            amount_path = f"{path}/AmtDtls/TxAmt/Amt"
        else:
            amount_path = f"{path}/Amt"
        amount: int | None = None
        currency: str | None = None
        if amount_element is not None:
            amount, currency = self._amount(
                (amount_element.text or "").strip(),
                amount_element.get("Ccy"),
                entry.number,
                amount_path,
            )
            if currency == entry.currency:
                entry.transactions_total += amount
            else:
                entry.other_currency = True
        refs = children.get(tags["Refs"])
        end_to_end = reference = None
        if refs is not None:
            references = self._children(refs)
            end_to_end = self._optional_identifier(
                references, "EndToEndId", entry.number, f"{path}/Refs"
            )
            reference = self._optional_identifier(
                references, "AcctSvcrRef", entry.number, f"{path}/Refs"
            )
        payer, payer_account = self._parties(children.get(tags["RltdPties"]), entry.number, path)
        found = _Transaction(
            position=entry.transactions,
            path=path,
            amount=amount,
            currency=currency,
            end_to_end=None if end_to_end == _NOT_PROVIDED else end_to_end,
            reference=reference,
            payer=payer,
            payer_account=payer_account,
            remittance=self._remittance(children.get(tags["RmtInf"]), entry.number, path),
        )
        if entry.transactions == 1:
            entry.pending = found
            return
        if entry.pending is not None:
            yield from self._emit(statement, entry, entry.pending)
            entry.pending = None
        yield from self._emit(statement, entry, found)

    def _close_entry(self, statement: _Statement, entry: _Entry) -> Iterator[_Check]:
        self._entry_ready(entry, entry.path)
        assert entry.amount is not None and entry.amount_text is not None
        if entry.booking_date is None and entry.value_date is None:
            self._refuse(entry.number, "the entry has neither BookgDt nor ValDt", entry.path)
        statement.entries_sum += Decimal(entry.amount_text)
        if entry.transactions > 1 or (
            entry.transactions == 1 and entry.pending and entry.pending.amount is not None
        ):
            if entry.other_currency and entry.transactions > 1:
                self._refuse(
                    entry.number,
                    "a transaction of this batch entry is in another currency than the entry: "
                    "its amounts cannot be checked against the entry's",
                    entry.path,
                )
            if not entry.other_currency and entry.transactions_total != entry.amount:
                self._refuse(
                    entry.number,
                    f"the entry's Amt is {entry.amount_text} {entry.currency}, its transactions "
                    f"(TxDtls) add up to {_decimal_text(entry.transactions_total, entry.currency)}",
                    f"{entry.path}/Amt",
                )
        if not entry.credit:
            self.debits_skipped += 1
        if entry.transactions == 0:
            yield from self._emit(
                statement,
                entry,
                _Transaction(1, entry.path, None, None, None, None, None, None, None),
            )
        elif entry.pending is not None:
            yield from self._emit(statement, entry, entry.pending)
            entry.pending = None

    def _emit(
        self, statement: _Statement, entry: _Entry, transaction: _Transaction
    ) -> Iterator[_Check]:
        amount, currency = transaction.amount, transaction.currency
        if amount is None:
            if entry.transactions > 1:
                self._refuse(
                    entry.number,
                    "a transaction of a batch entry needs its own Amt or AmtDtls/TxAmt/Amt",
                    transaction.path,
                )
            amount, currency = entry.amount, entry.currency
        if not entry.credit or not entry.booked:
            return
        assert amount is not None and currency is not None and statement.account is not None
        if amount == 0:
            self._refuse(entry.number, "a credit of zero cannot be received", transaction.path)
        deposit_date = entry.booking_date or entry.value_date
        assert deposit_date is not None
        if entry.bank_reference is not None:
            batch = statement.account
            item = f"{entry.bank_reference}/{transaction.position}"
            key = f"{statement.account}:{entry.bank_reference}:{transaction.position}"
        else:
            batch = f"{statement.identifier}"
            item = f"{statement.entries}/{transaction.position}"
            key = f"{self.message_id}:{statement.identifier}:{statement.entries}:{transaction.position}"
        check_number = (
            transaction.reference
            or transaction.end_to_end
            or entry.bank_reference
            or entry.entry_reference
            or f"entry {entry.number}"
        )
        yield _Check(
            batch=batch,
            item=item,
            deposit_date=deposit_date,
            check_number=check_number,
            amount=amount,
            currency=currency,
            customer=None,
            allocations=(),
            line=entry.number,
            remittance=transaction.remittance,
            payer_account=transaction.payer_account,
            key=key,
            payer_name=transaction.payer,
            where=f"entry {entry.number} at {transaction.path}",
        )

    # --- transaction details ------------------------------------------------------------------

    def _parties(
        self, parties: Element | None, entry: int, path: str
    ) -> tuple[str | None, str | None]:
        if parties is None:
            return None, None
        children = self._children(parties)
        debtor = children.get(self._tags["Dbtr"])
        name: str | None = None
        if debtor is not None:
            # Version .08 wraps the party in Pty (Party40Choice); earlier versions do not.
            party = self._child(debtor, "Pty")
            name = self._text(
                party if party is not None else debtor, "Nm", entry, f"{path}/RltdPties/Dbtr"
            )
        account = children.get(self._tags["DbtrAcct"])
        account_id = self._child(account, "Id") if account is not None else None
        payer_account = _account(self, account_id, entry, f"{path}/RltdPties/DbtrAcct/Id")
        return name, payer_account

    def _remittance(self, information: Element | None, entry: int, path: str) -> str | None:
        if information is None:
            return None
        parts: list[str] = []
        for child in information:
            name = _local(child.tag)
            if name == "Ustrd":
                parts.append(self._clean(child.text, entry, f"{path}/RmtInf/Ustrd"))
            elif name == "Strd":
                for part in child:
                    part_name = _local(part.tag)
                    if part_name == "RfrdDocInf":
                        number = self._text(part, "Nb", entry, f"{path}/RmtInf/Strd/RfrdDocInf")
                        if number:
                            parts.append(number)
                    elif part_name == "CdtrRefInf":
                        reference = self._text(part, "Ref", entry, f"{path}/RmtInf/Strd/CdtrRefInf")
                        if reference:
                            parts.append(reference)
        text = " ".join(part for part in parts if part)
        # A bank file cannot be corrected by us: overlong remittance is cut, not refused.
        return text[:MAX_REMITTANCE_LENGTH] or None

    # --- values ----------------------------------------------------------------------------------

    def _child(self, element: Element | None, name: str) -> Element | None:
        """``element``'s first child ``name`` in the file's namespace (``find``'s answer, without
        its path parsing: these elements have a child or two)."""
        if element is None:
            return None
        tag = self._tags.get(name) or self._prefix + name
        for child in element:
            if child.tag == tag:
                return child
        return None

    def _children(self, element: Element) -> dict[str, Element]:
        """``element``'s first child of each tag, read once for the several looked up."""
        children: dict[str, Element] = {}
        for child in element:
            children.setdefault(child.tag, child)
        return children

    def _clean(self, text: str | None, entry: int | None, path: str) -> str:
        if text is None:
            return ""
        if text.isprintable() and "  " not in text:
            # The common case, and the same answer: the only blank a printable text can hold is
            # the space, and it has no control character.
            return text.strip()
        value = _WHITESPACE.sub(" ", text or "").strip()
        if _CONTROL.search(value):
            self._refuse(entry, "control character in the text", path)
        return value

    def _text(
        self, parent: Element, name: str, entry: int | None, path: str, *, required: bool = False
    ) -> str | None:
        element = self._child(parent, name)
        value = self._clean(element.text if element is not None else None, entry, f"{path}/{name}")
        if not value:
            if required:
                self._refuse(entry, f"{name} is missing or empty", f"{path}")
            return None
        if name != "Nm" and len(value) > _MAX_IDENTIFIER:
            self._refuse(entry, f"{name} is longer than {_MAX_IDENTIFIER} characters", path)
        return value[:140]

    def _identifier(self, element: Element, entry: int | None, path: str) -> str:
        value = self._clean(element.text, entry, path)
        if not value:
            self._refuse(entry, "empty identifier", path)
        if len(value) > _MAX_IDENTIFIER:
            self._refuse(entry, f"longer than {_MAX_IDENTIFIER} characters", path)
        return value

    def _optional_identifier(
        self, children: dict[str, Element], name: str, entry: int, path: str
    ) -> str | None:
        element = children.get(self._tags[name])
        return None if element is None else self._identifier(element, entry, f"{path}/{name}")

    def _decimal(self, text: str, entry: int | None, path: str) -> Decimal:
        if not _AMOUNT.fullmatch(text):
            self._refuse(entry, f"{text[:40]!r} is not a decimal number", path)
        try:
            return Decimal(text)
        except InvalidOperation:  # pragma: no cover - the pattern admits only numbers
            self._refuse(entry, f"{text[:40]!r} is not a decimal number", path)

    def _amount(self, text: str, currency: str | None, entry: int, path: str) -> tuple[int, str]:
        if currency is None:
            self._refuse(entry, "the amount has no Ccy", path)
        try:
            places = currency_decimals(currency)
        except InputRefused:
            self._refuse(entry, f"unknown currency {currency[:8]!r}", path)
        value = self._decimal(text, entry, path)
        minor = value.scaleb(places)
        if minor != minor.to_integral_value():
            self._refuse(entry, f"{text} has more than {places} decimals for {currency}", path)
        return int(minor), currency

    def _date(self, element: Element, entry: int, path: str) -> date:
        children = self._children(element)
        day = children.get(self._tags["Dt"])
        moment = children.get(self._tags["DtTm"])
        text = (day.text if day is not None else moment.text if moment is not None else None) or ""
        try:
            return date.fromisoformat(text.strip()[:10])
        except ValueError:
            self._refuse(entry, f"{text.strip()[:40]!r} is not a date (Dt or DtTm)", path)


def _account(
    parser: _CamtParser, account_id: Element | None, entry: int | None, path: str
) -> str | None:
    if account_id is None:
        return None
    children = parser._children(account_id)
    iban = children.get(parser._tags["IBAN"])
    if iban is not None:
        return parser._identifier(iban, entry, f"{path}/IBAN")
    other = children.get(parser._tags["Othr"])
    if other is not None:
        return parser._text(other, "Id", entry, f"{path}/Othr")
    return None


def _decimal_text(minor: int, currency: str | None) -> str:
    places = currency_decimals(currency) if currency else 0
    return str(Decimal(minor).scaleb(-places))


def _malformed(exc: Exception) -> LockboxRefused:
    # Never libxml2's message: it may quote the file. The line is the error's, else the log's.
    line = getattr(exc, "lineno", None) or None
    if line is None:
        log = getattr(exc, "error_log", None)
        last = log.last_error if log is not None else None
        line = last.line if last is not None and last.line > 0 else None
    return LockboxRefused(line, "not well-formed XML")
