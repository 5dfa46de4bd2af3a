"""The row ids behind the domain's keys, kept per session.

The domain names an order by its number, a line by its number within the order and a write-off
by its :class:`~ledger.domain.journal.WriteOffKey`; the tables join on row ids. Whatever a
session loads (:func:`ledger.persistence.orders.load_orders`) or stores
(:func:`ledger.persistence.journals.write_journals`) is recorded here, so storing a journal maps
its keys to ids with dictionary lookups and no query, and a service can answer with the ids an
operator sees (the id of a journal just written, the key of the write-off an operator named).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

from ledger.domain.journal import Journal, WriteOffKey


@dataclass(eq=False, slots=True)
class RowIds:
    """Ids of the rows this session has loaded or written, by domain key."""

    orders: dict[str, int] = field(default_factory=dict)  # order number -> id
    lines: dict[str, dict[int, int]] = field(default_factory=dict)  # number -> line_no -> id
    write_offs: dict[WriteOffKey, int] = field(default_factory=dict)
    write_off_keys: dict[int, WriteOffKey] = field(default_factory=dict)
    # Journals are immutable and compare by identity: the journal written is the key.
    journals: dict[Journal, int] = field(default_factory=dict)

    def add_order(self, number: str, order_id: int, line_ids: dict[int, int]) -> None:
        """Record an order's id and the ids of (some of) its lines (line number -> id)."""
        self.orders[number] = order_id
        known = self.lines.get(number)
        if known is None:
            self.lines[number] = line_ids
        else:
            known.update(line_ids)

    def add_write_off(self, key: WriteOffKey, write_off_id: int) -> None:
        self.write_offs[key] = write_off_id
        self.write_off_keys[write_off_id] = key

    def journal_id(self, journal: Journal) -> int | None:
        """The id this session stored the journal under, or its own when it was read back; None
        for a journal never stored (a dry run's)."""
        return journal.id if journal.id is not None else self.journals.get(journal)

    def write_off_id(self, key: WriteOffKey) -> int | None:
        """The id of a write-off this session loaded or stored; None for one never stored."""
        return self.write_offs.get(key)

    def write_off_key(self, write_off_id: int) -> WriteOffKey | None:
        """The key of a write-off of an order this session loaded."""
        return self.write_off_keys.get(write_off_id)


def row_ids(session: Session) -> RowIds:
    """This session's map of keys to row ids (created empty on first use)."""
    ids = session.info.get("row_ids")
    if ids is None:
        ids = session.info["row_ids"] = RowIds()
    assert isinstance(ids, RowIds)
    return ids
