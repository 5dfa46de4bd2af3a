"""What a team watches on the ledger, read at once: the read model behind the ingress's
``GET /metrics`` (docs/gateways.md, "Watching it").

:func:`ledger_watch` reads, in four statements whatever the size of the ledger:

- the receipts, counted by source and status (one aggregate; nothing but counts leaves the
  database);
- the journals committed and not yet published, and when the oldest of them was committed
  (the commits after the publisher's cursor, as the outbox defines them);
- the exception queue of `exceptions list`, counted by kind (receipt, event, message) with the
  creation time of the oldest of each: the same statements that list it
  (:func:`ledger.queries.views.exception_receipts` and its siblings), wrapped in a count;
- the cash-application report of `report cash-application` over the receipts received in the
  last :data:`RATE_WINDOW_DAYS` days: its automatic-application rate is the share of those
  receipts placed by the matching rules. A window, not all time, so that a scrape does not read
  one row per receipt ever received.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, DateTime, func, literal, select, type_coerce, union_all
from sqlalchemy.exc import SQLAlchemyError

from ledger.persistence.db import connect
from ledger.persistence.tables import (
    COMMITS,
    JOURNALS,
    PUBLISHER_CURSOR,
    RECEIPT_STATUSES,
    RECEIPTS,
)
from ledger.queries.matching import cash_application_report
from ledger.queries.views import exception_events, exception_messages, exception_receipts

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

log = logging.getLogger(__name__)

# Days of receipts (today included) the automatic-application rate covers.
RATE_WINDOW_DAYS = 7

EXCEPTION_KINDS = ("receipt", "event", "message")


@dataclass(frozen=True, slots=True)
class Backlog:
    """Things waiting: how many, and when the oldest of them was made (None when none is)."""

    count: int
    oldest: datetime | None

    def age_seconds(self, now: datetime) -> float:
        """Seconds the oldest has waited at ``now``; 0 when nothing waits."""
        return age_seconds(self.oldest, now)


def age_seconds(oldest: datetime | None, now: datetime) -> float:
    """Seconds from ``oldest`` to ``now`` (an aware time), never negative; 0 for None.

    SQLite hands back the naive UTC time its ``CURRENT_TIMESTAMP`` wrote, PostgreSQL an aware
    one: a naive time is read as UTC. A database clock a little ahead of this process's would
    make a fresh row's age negative; it is 0 instead.
    """
    if oldest is None:
        return 0.0
    if oldest.tzinfo is None:
        oldest = oldest.replace(tzinfo=UTC)
    return max(0.0, (now - oldest).total_seconds())


@dataclass(frozen=True, slots=True)
class LedgerWatch:
    """The ledger's state as the metrics show it."""

    receipts: Mapping[tuple[str, str], int]  # (source, status) -> receipts
    unpublished: Backlog  # journals not yet published, and when the oldest was committed
    exceptions: Mapping[str, Backlog]  # kind (EXCEPTION_KINDS) -> the exceptions waiting
    window_start: date  # the first received date the cash-application figures cover
    cash_application: Mapping[str, Any]  # `report cash-application --json` over the window

    @property
    def automatic_rate(self) -> float:
        """The share of the window's receipts placed by the matching rules (0 to 1)."""
        return float(self.cash_application["automatic_rate"])


def ledger_watch(connection: Session | Connection, today: date) -> LedgerWatch:
    """The ledger's counts, backlogs and rate as of ``today`` (four statements)."""
    window_start = today - timedelta(days=RATE_WINDOW_DAYS - 1)
    return LedgerWatch(
        receipts=_receipts_by_source_and_status(connection),
        unpublished=_unpublished(connection),
        exceptions=_exceptions(connection),
        window_start=window_start,
        cash_application=cash_application_report(connection, window_start, None),
    )


def read_ledger_watch(url: str, today: date) -> LedgerWatch | None:
    """:func:`ledger_watch` on the database at ``url``, or None (logged) when it cannot be read:
    a scrape then still sends the webhook counts, and says the ledger's figures are missing."""
    try:
        with connect(url) as connection:
            return ledger_watch(connection, today)
    except SQLAlchemyError as exc:
        log.warning("metrics: the ledger could not be read (%s)", exc)
        return None


def receipt_counts_by_status(
    counts: Mapping[tuple[str, str], int],
) -> dict[tuple[str, str], int]:
    """Every status of every source seen, zero where no receipt has it: a status that empties
    then reads 0 rather than vanishing from the series."""
    sources = sorted({source for source, _ in counts})
    return {
        (source, status): counts.get((source, status), 0)
        for source in sources
        for status in RECEIPT_STATUSES
    }


def _receipts_by_source_and_status(
    connection: Session | Connection,
) -> dict[tuple[str, str], int]:
    rows = connection.execute(
        select(RECEIPTS.c.source, RECEIPTS.c.status, func.count()).group_by(
            RECEIPTS.c.source, RECEIPTS.c.status
        )
    ).all()
    return {(source, status): int(count) for source, status, count in rows}


def _unpublished(connection: Session | Connection) -> Backlog:
    cursor = (
        select(PUBLISHER_CURSOR.c.published_seq).where(PUBLISHER_CURSOR.c.id == 1).scalar_subquery()
    )
    count, oldest = connection.execute(
        select(func.count(JOURNALS.c.id), func.min(COMMITS.c.committed_at))
        .select_from(JOURNALS)
        .join(COMMITS, COMMITS.c.id == JOURNALS.c.commit_id)
        .where(COMMITS.c.seq > cursor)
    ).one()
    return Backlog(int(count), oldest)


def _exceptions(connection: Session | Connection) -> dict[str, Backlog]:
    parts = []
    for kind, statement in zip(
        EXCEPTION_KINDS,
        (exception_receipts(), exception_events(), exception_messages()),
        strict=True,
    ):
        # The listing's own FROM and WHERE, its columns swapped for a count and the oldest row.
        table = statement.get_final_froms()[0]
        parts.append(
            statement.with_only_columns(
                literal(kind).label("kind"),
                func.count().label("waiting"),
                func.min(table.c.created_at).label("oldest"),
            )
        )
    union = union_all(*parts).subquery()
    # Typed again after the union, so SQLite's stored text comes back as a datetime.
    rows = connection.execute(
        select(union.c.kind, union.c.waiting, type_coerce(union.c.oldest, DateTime(timezone=True)))
    ).all()
    return {kind: Backlog(int(waiting), oldest) for kind, waiting, oldest in rows}
