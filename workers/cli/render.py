"""All output of the command line: Rich tables for people, exact JSON (docs/rules.md section 10) for machines.

Commands compute a plain dict or list and hand it to one function here; nothing else prints.
Rich is imported when something is first printed through it (``stdout()``, ``stderr()``, a
table), not with this module: ``--json`` output does without it (about 25 ms).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from functools import cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table


@cache
def stdout() -> Console:
    """The console of results, on stdout."""
    from rich.console import Console

    return Console(highlight=False, soft_wrap=True)


@cache
def stderr() -> Console:
    """The console of remarks, errors and progress, on stderr."""
    from rich.console import Console

    return Console(stderr=True, highlight=False, soft_wrap=True)


def _table(**options: Any) -> Table:
    from rich.table import Table

    return Table(**options)


def emit_json(value: Any) -> None:
    """The ``--json`` form of a result, indented, on stdout."""
    sys.stdout.write(json.dumps(value, indent=2, ensure_ascii=False) + "\n")


def show(value: Any, as_json: bool, printer: Callable[[Any], None]) -> None:
    """A result as ``--json`` asks: JSON on stdout, or the command's own text form."""
    if as_json:
        emit_json(value)
    else:
        printer(value)


def note(message: str) -> None:
    """A one-line remark on stderr that does not change the exit status."""
    stderr().print(f"arledger: {message}", markup=False)


def fail_line(message: str) -> None:
    """The one error line a failed command prints on stderr."""
    stderr().print(f"arledger: error: {message}", markup=False)


def line(text: str) -> None:
    """One plain line on stdout, never read as Rich markup."""
    stdout().print(text, markup=False)


def key_value_table(title: str, rows: dict[str, Any]) -> Table:
    """A two-column table of one record; lists joined, dicts as JSON, None as blank."""
    table = _table(title=title, show_header=False, title_justify="left")
    table.add_column(style="bold")
    table.add_column()
    for key, value in rows.items():
        if isinstance(value, list):
            shown = ", ".join(str(v) for v in value)
        elif isinstance(value, dict):
            shown = json.dumps(value)
        else:
            shown = "" if value is None else str(value)
        table.add_row(key, shown)
    return table


def print_record(title: str, rows: dict[str, Any]) -> None:
    """One record as a key/value table."""
    stdout().print(key_value_table(title, rows))


def show_receipt(view: dict[str, Any], as_json: bool) -> None:
    """A receipt view: JSON, or a key/value table titled with its id."""
    if as_json:
        emit_json(view)
        return
    print_record(f"receipt {view['id']}", {k: v for k, v in view.items() if k != "id"})


def print_load_summary(title: str, summary: dict[str, Any]) -> None:
    """What a load file created, updated and left unchanged, per kind."""
    table = _table(title=title, title_justify="left")
    for column in ("kind", "created", "updated", "unchanged"):
        table.add_column(column)
    kinds = sorted(set(summary["created"]) | set(summary["updated"]) | set(summary["unchanged"]))
    for kind in kinds:
        table.add_row(
            kind,
            *(str(summary[bucket].get(kind, 0)) for bucket in ("created", "updated", "unchanged")),
        )
    stdout().print(table)
    stdout().print(f"SALE journals posted: {summary['sale_journals']}")


def print_order(view: dict[str, Any]) -> None:
    """An order's lines by payment priority, with their write-offs."""
    table = _table(
        title=f"order {view['order']}  customer {view['customer']}  {view['currency']}  balance {view['balance']}",
        title_justify="left",
    )
    for column in (
        "line",
        "product",
        "priority",
        "amount",
        "balance",
        "write-offs (id amount reversed)",
    ):
        table.add_column(
            column, justify="right" if column in ("amount", "balance", "priority") else "left"
        )
    for line in view["lines"]:
        write_offs = "; ".join(
            f"#{w['id']} {w['amount']} rev {w['reversed']} {w['reason']}{' advanced' if w['advanced'] else ''}"
            for w in line["write_offs"]
        )
        table.add_row(
            str(line["line"]),
            line["product"],
            str(line["priority"]),
            line["amount"],
            line["balance"],
            write_offs,
        )
    stdout().print(table)


def print_journals(journals: list[dict[str, Any]]) -> None:
    """Journals and their lines; zero debits and credits left blank."""
    table = _table(title_justify="left", title=f"{len(journals)} journals")
    for column in ("id", "type", "date", "account", "debit", "credit", "order", "line"):
        table.add_column(column, justify="right" if column in ("debit", "credit") else "left")
    for journal in journals:
        for index, line in enumerate(journal["lines"]):
            table.add_row(
                str(journal["id"] or "(new)") if index == 0 else "",
                journal["type"] if index == 0 else "",
                journal["date"] if index == 0 else "",
                line["account"],
                "" if line["debit"].strip("0.") == "" else line["debit"],
                "" if line["credit"].strip("0.") == "" else line["credit"],
                line.get("order") or "",
                str(line.get("line") or ""),
            )
        table.add_section()
    stdout().print(table)


def print_write_offs(result: dict[str, Any], dry_run: bool) -> None:
    """Created (or previewed) write-offs, each with its journal."""
    for write_off in result.get("write_offs", [result]):
        title = "write-off preview (nothing saved)" if dry_run else f"write-off {write_off['id']}"
        print_record(title, {k: v for k, v in write_off.items() if k not in ("id", "journal")})
        print_journals([write_off["journal"]])


def print_statement(view: dict[str, Any]) -> None:
    """A customer statement: one table per order, adjustments without internal comments."""
    stdout().print(f"Statement for {view['name']} ({view['customer']})", markup=False)
    for order in view["orders"]:
        table = _table(
            title=f"order {order['order']}  {order['date']}  balance {order['balance']} {order['currency']}",
            title_justify="left",
        )
        for column in ("line", "product", "amount", "balance", "adjustments"):
            table.add_column(column)
        for line in order["lines"]:
            adjustments = "; ".join(f"{a['amount']} {a['reason']}" for a in line["adjustments"])
            table.add_row(
                str(line["line"]), line["product"], line["amount"], line["balance"], adjustments
            )
        stdout().print(table)


def print_exceptions(items: list[dict[str, Any]]) -> None:
    """Every exception with its reference, status, amounts and reason."""
    table = _table(title=f"{len(items)} exceptions", title_justify="left")
    for column in (
        "ref",
        "status",
        "amount",
        "unapplied",
        "customer / task",
        "orders / payment",
        "reason",
    ):
        table.add_column(column)
    for item in items:
        amount = f"{item['amount']} {item['currency']}" if "amount" in item else ""
        # A bank credit that found no customer still says who paid (camt's debtor name).
        payer = f"payer {item['payer_name']}" if item.get("payer_name") else ""
        who = item.get("customer") or payer or item.get("task") or ""
        what = ", ".join(item.get("requested_orders", [])) or item.get("payment") or ""
        table.add_row(
            item["ref"],
            item["status"],
            amount,
            item.get("unapplied", ""),
            who,
            what,
            item["reason"] or "",
        )
    stdout().print(table)


def print_lockbox_summary(summary: dict[str, Any]) -> None:
    """A lockbox file's totals per currency and what became of its checks."""
    print_record(
        f"lockbox file {summary['id']}: {summary['name']}",
        {
            "format": summary["format"],
            "items": summary["items"],
            **({"debits skipped": summary["debits_skipped"]} if summary["debits_skipped"] else {}),
            **{f"amount {c}": a["amount"] for c, a in summary["amounts"].items()},
            **{f"applied {c}": a["applied"] for c, a in summary["amounts"].items()},
            **{f"unapplied {c}": a["unapplied"] for c, a in summary["amounts"].items()},
            "checks applied": summary["applied_items"],
            "checks unapplied": summary["unapplied_items"],
            "checks refused": summary["refused_items"],
            "checks still queued": summary["pending_items"],
            **{f"placed by {rule}": n for rule, n in summary["by_rule"].items() if rule != "none"},
            "time": f"{summary['seconds']} s",
        },
    )


def print_matching(view: dict[str, Any]) -> None:
    """An org unit's matching rules (in the order they run) and its tolerances."""
    table = _table(title=f"matching for org unit {view['org_unit']}", title_justify="left")
    table.add_column("rule")
    table.add_column("on")
    for rule, on in view["rules"].items():
        table.add_row(rule, "on" if on else "off")
    stdout().print(table)
    if not view["tolerance"]:
        stdout().print("tolerance: off in every currency", markup=False)
        return
    tolerances = _table(title="tolerance", title_justify="left")
    for column in ("currency", "amount", "percent"):
        tolerances.add_column(column)
    for currency, tolerance in view["tolerance"].items():
        tolerances.add_row(currency, tolerance["amount"], tolerance["percent"] or "")
    stdout().print(tolerances)


def print_cash_application(report: dict[str, Any]) -> None:
    """The cash-application counts, then receipts and amounts per rule and per source."""
    summary = _table(title="cash application", show_header=False, title_justify="left")
    summary.add_column(style="bold")
    summary.add_column(justify="right")
    for key in ("receipts", "applied_automatically", "applied_by_operator", "unapplied"):
        summary.add_row(key.replace("_", " "), str(report[key]))
    summary.add_row("automatic rate", report["automatic_rate"])
    stdout().print(summary)
    for title in ("by_rule", "by_source"):
        table = _table(title=title.replace("_", " "), title_justify="left")
        table.add_column(title.removeprefix("by_"))
        table.add_column("receipts", justify="right")
        table.add_column("amount", justify="right")
        for name, group in report[title].items():
            amount = group["amount"]
            shown = (
                amount
                if isinstance(amount, str)
                else ", ".join(f"{value} {currency}" for currency, value in amount.items())
            )
            table.add_row(name, str(group["receipts"]), shown)
        stdout().print(table)
