"""Accounting periods and the posting-date rules of docs/rules.md section 2.

Periods are optional. A date no period covers is postable. An operator action dated in a closed
period is refused; an automated receipt dated in a closed period posts on the first day after
that period that is not itself closed, keeping its original date.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass
from datetime import date, timedelta

from ledger.domain.errors import PeriodClosed


@dataclass(frozen=True, slots=True)
class Period:
    """An accounting period: postings dated in it are refused (operator) or moved (automated) when closed."""

    name: str
    start: date
    end: date
    open: bool


class Calendar:
    """The accounting periods, answering which date a posting may carry."""

    def __init__(self, periods: list[Period]) -> None:
        self._periods = sorted(periods, key=lambda period: period.start)
        self._starts = [period.start for period in self._periods]

    def period_of(self, day: date) -> Period | None:
        index = bisect_right(self._starts, day) - 1
        # Periods may leave gaps but should not overlap; the load refuses overlaps.
        if index >= 0 and self._periods[index].end >= day:
            return self._periods[index]
        return None

    def operator_date(self, day: date) -> date:
        """The date itself, or PeriodClosed when it falls in a closed period."""
        period = self.period_of(day)
        if period is not None and not period.open:
            raise PeriodClosed(day, period.name)
        return day

    def automated_date(self, day: date) -> date:
        """The first postable date on or after ``day`` (docs/rules.md: the first day of the next open period)."""
        period = self.period_of(day)
        while period is not None and not period.open:
            day = period.end + timedelta(days=1)
            period = self.period_of(day)
        return day
