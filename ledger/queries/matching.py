"""Read models of matching: an org unit's configuration and the cash-application report.

docs/rules.md section 14. ``matching show`` and ``report cash-application`` are read commands: they
run on a Core connection and never load the ORM.

The report counts the receipts received in a date range, each once, however it ended:

- money received again after a partial refund or a won dispute (a receipt that ``replaces``
  another) is not a new receipt: the receipt first received counts, with the status and rule
  of the last receipt of its chain, the one that holds the money now;
- ``applied_automatically``: all of it placed by a rule (``match_rule`` set, not ``operator``);
  ``applied_by_operator``: all of it placed, the last part by an operator (``operator``);
- ``unapplied``: some of it still parked or not yet placed — ``unapplied``, ``unidentified``,
  ``failed`` or still ``queued`` (a receipt with a rest counts here whatever placed the rest);
- a receipt reversed in full (a returned check, a full refund or a lost dispute) counts in
  ``receipts`` and in none of the three; so does an applied receipt with no rule recorded
  (distributed before matching recorded rules). The three therefore add up to at most
  ``receipts``.

``by_rule`` (a receipt with no rule under ``none``) and ``by_source`` give each group's
``receipts`` and ``amount``: the amount received, a decimal string when the group is in one
currency and an object of currency -> decimal string when it spans several.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from decimal import ROUND_HALF_EVEN, Decimal
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, exists, select

from ledger.domain.matching_config import MatchConfig
from ledger.domain.money import format_minor
from ledger.domain.receipt import ReceiptStatus
from ledger.persistence.matching import MatchingRepository
from ledger.persistence.tables import RECEIPTS

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

# What is left with money not (yet) on orders.
_UNAPPLIED = {
    ReceiptStatus.UNAPPLIED.value,
    ReceiptStatus.UNIDENTIFIED.value,
    ReceiptStatus.FAILED.value,
    ReceiptStatus.QUEUED.value,
}
_RATE = Decimal("0.0001")


def config_view(org_unit: str, config: MatchConfig) -> dict[str, Any]:
    """What `matching show --json` prints: the org unit, each rule on or off in the order the
    rules run, and the tolerance per currency (``percent`` null when none is set)."""
    return {"org_unit": org_unit, **config.to_json()}


def matching_view(connection: Session | Connection, org_unit: str) -> dict[str, Any]:
    """An org unit's configuration; UnknownOrgUnit when there is no such org unit."""
    return config_view(org_unit, MatchingRepository(connection).config(org_unit))


def cash_application_report(
    connection: Session | Connection, start: date | None = None, end: date | None = None
) -> dict[str, Any]:
    """The receipts received from ``start`` to ``end`` (both included, either open) and how
    they were placed, as `report cash-application --json` prints it. One statement."""
    rows = connection.execute(_report_statement(start, end)).all()
    # A receipt replaced twice over has one chain member holding the money; keep, per receipt
    # first received, the latest member (the highest id) in case of anything stranger.
    latest: dict[int, Any] = {}
    for row in rows:
        if row.root not in latest or row.member > latest[row.root].member:
            latest[row.root] = row
    counts = {"applied_automatically": 0, "applied_by_operator": 0, "unapplied": 0}
    by_rule: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    by_source: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    rule_counts: dict[str, int] = defaultdict(int)
    source_counts: dict[str, int] = defaultdict(int)
    for row in latest.values():
        rule = row.match_rule
        if row.status == ReceiptStatus.APPLIED.value and rule is not None:
            counts["applied_by_operator" if rule == "operator" else "applied_automatically"] += 1
        elif row.status in _UNAPPLIED:
            counts["unapplied"] += 1
        rule_name = rule or "none"
        by_rule[rule_name][row.currency] += row.amount_minor
        rule_counts[rule_name] += 1
        by_source[row.source][row.currency] += row.amount_minor
        source_counts[row.source] += 1
    receipts = len(latest)
    rate = (
        (Decimal(counts["applied_automatically"]) / Decimal(receipts)).quantize(
            _RATE, rounding=ROUND_HALF_EVEN
        )
        if receipts
        else Decimal("0.0000")
    )
    return {
        "receipts": receipts,
        **counts,
        "automatic_rate": f"{rate:f}",
        "by_rule": _groups(by_rule, rule_counts),
        "by_source": _groups(by_source, source_counts),
    }


def _groups(
    amounts: dict[str, dict[str, int]], counts: dict[str, int]
) -> dict[str, dict[str, Any]]:
    result: dict[str, dict[str, Any]] = {}
    for name in sorted(amounts):
        per_currency = {
            currency: format_minor(minor, currency)
            for currency, minor in sorted(amounts[name].items())
        }
        amount: Any = next(iter(per_currency.values())) if len(per_currency) == 1 else per_currency
        result[name] = {"receipts": counts[name], "amount": amount}
    return result


def _report_statement(start: date | None, end: date | None) -> Any:
    """Each receipt first received in the range (``root``) with the members of its chain of
    replacements: the money it received, and the status and rule of the member that nothing
    replaces (the receipt itself when it was never replaced)."""
    roots = select(RECEIPTS.c.id.label("root"), RECEIPTS.c.id.label("member")).where(
        RECEIPTS.c.replaces_id.is_(None)
    )
    if start is not None:
        roots = roots.where(RECEIPTS.c.received_date >= start)
    if end is not None:
        roots = roots.where(RECEIPTS.c.received_date <= end)
    chain = roots.cte("chain", recursive=True)
    chain = chain.union_all(
        select(chain.c.root, RECEIPTS.c.id).where(RECEIPTS.c.replaces_id == chain.c.member)
    )
    first = RECEIPTS.alias("first")
    last = RECEIPTS.alias("last")
    successor = RECEIPTS.alias("successor")
    return (
        select(
            chain.c.root,
            chain.c.member,
            first.c.source,
            first.c.currency,
            first.c.amount_minor,
            last.c.status,
            last.c.match_rule,
        )
        .join_from(chain, first, first.c.id == chain.c.root)
        .join(last, last.c.id == chain.c.member)
        .where(~exists().where(successor.c.replaces_id == chain.c.member))
    )
