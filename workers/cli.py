"""The `arledger` command line (SPEC section 11), on Typer with Rich tables.

Every command is a thin shell over one service: parse the options, call it, print the result —
a readable table by default, the exact JSON of SPEC section 11 with ``--json``. Exit status: 0
done; 2 input refused (one line on stderr naming the problem, nothing changed); 1 anything else.
"""

from __future__ import annotations

import json
import sys
from datetime import date
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.table import Table
from typer.exceptions import TyperException

from config.settings import Settings, get_settings
from ledger.domain.errors import ArledgerError, InputRefused, InvalidInput

app = typer.Typer(
    name="arledger",
    help="Accounts-receivable cash application: receipts, write-offs, balanced GL journals.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
receipt_app = typer.Typer(help="Submit, apply and reverse receipts.", no_args_is_help=True)
writeoff_app = typer.Typer(
    help="Create, preview and reverse line write-offs.", no_args_is_help=True
)
order_app = typer.Typer(help="Show orders.", no_args_is_help=True)
gl_app = typer.Typer(help="General-ledger journals.", no_args_is_help=True)
exceptions_app = typer.Typer(
    help="Receipts and messages waiting for an operator.", no_args_is_help=True
)
lockbox_app = typer.Typer(help="Bank lockbox files.", no_args_is_help=True)
gateway_app = typer.Typer(help="Payment gateway events.", no_args_is_help=True)
app.add_typer(receipt_app, name="receipt")
app.add_typer(writeoff_app, name="writeoff")
app.add_typer(order_app, name="order")
app.add_typer(gl_app, name="gl")
app.add_typer(exceptions_app, name="exceptions")
app.add_typer(lockbox_app, name="lockbox")
app.add_typer(gateway_app, name="gateway")

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)

JsonOption = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]


def settings() -> Settings:
    return get_settings()


def published(config: Settings) -> None:
    """After a command posts journals: publish them (in-process) or ask the workers to."""
    from tasks import dispatch

    dispatch.publish(config)


def emit_json(value: Any) -> None:
    sys.stdout.write(json.dumps(value, indent=2, ensure_ascii=False) + "\n")


def note(message: str) -> None:
    err.print(f"arledger: {message}", markup=False)


def parse_date(value: str | None, option: str = "--date") -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise InvalidInput(f"{option} {value!r} is not a date (YYYY-MM-DD)", field="date") from None


def key_value_table(title: str, rows: dict[str, Any]) -> Table:
    table = Table(title=title, show_header=False, title_justify="left")
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


# --- init, load, check -------------------------------------------------------------------------


@app.command()
def init() -> None:
    """Create or upgrade the schema (Alembic)."""
    from ledger.persistence.migrate import upgrade

    config = settings()
    upgrade(config.database_url)
    out.print(f"schema is up to date ({_safe_url(config.database_url)})", markup=False)


def _safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


@app.command()
def load(
    file: Annotated[Path, typer.Argument(help="The JSON load file (SPEC section 11).")],
    as_json: JsonOption = False,
) -> None:
    """Load reference data and orders from a JSON file (upsert; posts SALE journals)."""
    from ledger.intake.inputs import validate_load_file
    from ledger.services.receipts import load_file

    data = validate_load_file(_read(file))
    config = settings()
    summary = load_file(config, data).as_dict()
    published(config)
    if as_json:
        emit_json(summary)
        return
    table = Table(title=f"loaded {file}", title_justify="left")
    for column in ("kind", "created", "updated", "unchanged"):
        table.add_column(column)
    kinds = sorted(set(summary["created"]) | set(summary["updated"]) | set(summary["unchanged"]))
    for kind in kinds:
        table.add_row(
            kind,
            *(str(summary[bucket].get(kind, 0)) for bucket in ("created", "updated", "unchanged")),
        )
    out.print(table)
    out.print(f"SALE journals posted: {summary['sale_journals']}")


def _read(file: Path) -> bytes:
    try:
        return file.read_bytes()
    except OSError as exc:
        raise InvalidInput(f"cannot read {file}: {exc.strerror}") from None


@app.command()
def check(as_json: JsonOption = False) -> None:
    """Verify every invariant of SPEC section 10; exit 1 naming each violation."""
    from ledger.persistence.db import unit_of_work
    from ledger.queries.check import check_invariants

    with unit_of_work(settings().database_url) as session:
        violations = check_invariants(session)
    if as_json:
        emit_json(
            {
                "ok": not violations,
                "violations": [
                    {"invariant": v.invariant, "message": v.message} for v in violations
                ],
            }
        )
    elif violations:
        for violation in violations:
            err.print(str(violation), markup=False)
    else:
        out.print("ok: every invariant of SPEC section 10 holds")
    if violations:
        raise typer.Exit(1)


# --- receipts ----------------------------------------------------------------------------------


@receipt_app.command("submit")
def receipt_submit(
    amount: Annotated[str, typer.Option(help="Decimal amount, e.g. 120.00.")],
    external_id: Annotated[
        str, typer.Option(help="The payer's or source's id; a repeat applies nothing twice.")
    ],
    order: Annotated[
        str | None, typer.Option(help="Order number to apply it to (omit: unapplied).")
    ] = None,
    currency: Annotated[
        str | None, typer.Option(help="ISO 4217 code (default: the order's).")
    ] = None,
    customer: Annotated[str | None, typer.Option(help="Paying customer id.")] = None,
    date_: Annotated[
        str | None, typer.Option("--date", help="Receipt date, YYYY-MM-DD (default today).")
    ] = None,
    org_unit: Annotated[
        str | None, typer.Option(help="Org unit of a receipt with no order.")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Record money received and distribute it over the order's lines."""
    from ledger.domain.money import Money
    from ledger.services.receipts import ReceiptRequest, order_currency, submit_receipt, today

    config = settings()
    if not external_id.strip():
        raise InvalidInput("--external-id must not be empty", field="external_id")
    order_code = order_currency(config, order) if order else None
    code = currency or order_code or config.default_currency
    money = Money.parse(amount, code)
    request = ReceiptRequest(
        source="operator",
        external_id=external_id,
        amount=money,
        received_date=parse_date(date_) or today(),
        customer=customer,
        allocations=((order, money),) if order else (),
        org_unit=org_unit,
    )
    intake = submit_receipt(config, request)
    if order and order_code is None:
        note(f"order {order} not found: the receipt is kept unapplied")
    if not intake.created:
        note(
            f"external id {external_id} was already recorded as receipt {intake.receipt_id}; nothing new applied"
        )
    view = dispatch_receipt(config, intake.receipt_id)
    show_receipt(view, as_json)


def dispatch_receipt(config: Settings, receipt_id: int) -> dict[str, Any]:
    """Hand a persisted receipt to distribution: in-process when no broker is configured."""
    from tasks.dispatch import distribute_now

    return distribute_now(config, receipt_id)


def show_receipt(view: dict[str, Any], as_json: bool) -> None:
    if as_json:
        emit_json(view)
        return
    out.print(
        key_value_table(f"receipt {view['id']}", {k: v for k, v in view.items() if k != "id"})
    )


@receipt_app.command("show")
def receipt_show(receipt_id: int, as_json: JsonOption = False) -> None:
    """Show a receipt: where its money went."""
    from ledger.persistence.db import unit_of_work
    from ledger.queries.views import receipt_view

    with unit_of_work(settings().database_url) as session:
        show_receipt(receipt_view(session, receipt_id), as_json)


@receipt_app.command("reverse")
def receipt_reverse(
    receipt_id: int,
    reason: Annotated[str, typer.Option(help="Why: returned check, chargeback…")],
    as_json: JsonOption = False,
) -> None:
    """Reverse a receipt: its orders end as if it had never been distributed."""
    from ledger.services.receipts import reverse_receipt

    config = settings()
    view = reverse_receipt(config, receipt_id, reason)
    published(config)
    show_receipt(view, as_json)


@receipt_app.command("apply")
def receipt_apply(
    receipt_id: int,
    order: Annotated[str, typer.Option(help="Order number to apply the unapplied money to.")],
    amount: Annotated[
        str | None, typer.Option(help="Part of the unapplied money (default: all).")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Apply an unapplied receipt to an order (a TRANSFER, distributed by payment priority)."""
    from ledger.services.receipts import apply_receipt

    config = settings()
    view = apply_receipt(config, receipt_id, order, amount)
    published(config)
    show_receipt(view, as_json)


# --- write-offs --------------------------------------------------------------------------------


@writeoff_app.command("create")
def writeoff_create(
    order: Annotated[str, typer.Option(help="Order number.")],
    reason: Annotated[
        str,
        typer.Option(
            help="BAD_DEBT, GOODWILL, BILLING_ERROR, SALES_RETURN, PROMOTIONAL_DISCOUNT, SMALL_BALANCE or OTHER."
        ),
    ],
    line: Annotated[
        int | None,
        typer.Option(help="Line number (omit, with no --amount, to write off every owed line)."),
    ] = None,
    amount: Annotated[
        str | None, typer.Option(help="Amount to write off, in the order's currency.")
    ] = None,
    comment: Annotated[
        str | None, typer.Option(help="Internal comment; never shown to the customer.")
    ] = None,
    date_: Annotated[
        str | None, typer.Option("--date", help="Transaction date, YYYY-MM-DD (default today).")
    ] = None,
    account: Annotated[
        str | None, typer.Option(help="Write-off account override (an active GL account).")
    ] = None,
    advanced: Annotated[
        bool,
        typer.Option(
            "--advanced", help="An advanced adjustment: never reversed by an overpayment."
        ),
    ] = False,
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run", help="Preview the write-off, new balance and journal; change nothing."
        ),
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Write off (part of) a line balance."""
    from ledger.services.receipts import WriteOffRequest, create_write_off

    config = settings()
    result = create_write_off(
        config,
        WriteOffRequest(
            order=order,
            line=line,
            amount=amount,
            reason=reason,
            comment=comment,
            posting_date=parse_date(date_),
            account=account,
            advanced=advanced,
        ),
        dry_run=dry_run,
    )
    if not dry_run:
        published(config)
    if as_json:
        emit_json(result)
        return
    for write_off in result.get("write_offs", [result]):
        title = "write-off preview (nothing saved)" if dry_run else f"write-off {write_off['id']}"
        out.print(
            key_value_table(
                title, {k: v for k, v in write_off.items() if k not in ("id", "journal")}
            )
        )
        print_journals([write_off["journal"]])


@writeoff_app.command("reverse")
def writeoff_reverse(
    write_off_id: int,
    amount: Annotated[
        str | None, typer.Option(help="Part to reverse (default: all that is unreversed).")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Reverse a write-off, fully or partly."""
    from ledger.services.receipts import reverse_write_off

    config = settings()
    result = reverse_write_off(config, write_off_id, amount)
    published(config)
    if as_json:
        emit_json(result)
        return
    out.print(
        key_value_table(
            f"write-off {write_off_id} reversed",
            {k: v for k, v in result.items() if k != "journal"},
        )
    )
    print_journals([result["journal"]])


# --- orders and journals -----------------------------------------------------------------------


@order_app.command("show")
def order_show(number: str, as_json: JsonOption = False) -> None:
    """An order with its balance, its lines by payment priority and their write-offs."""
    from ledger.persistence.db import unit_of_work
    from ledger.queries.views import order_view

    with unit_of_work(settings().database_url) as session:
        view = order_view(session, number)
    if as_json:
        emit_json(view)
        return
    print_order(view)


def print_order(view: dict[str, Any]) -> None:
    table = Table(
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
    out.print(table)


@gl_app.command("journals")
def gl_journals(
    order: Annotated[str | None, typer.Option(help="Only journals of this order.")] = None,
    type_: Annotated[
        str | None, typer.Option("--type", help="Only journals of this type (RECEIPT, SALE…).")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Every journal in posting order, or those of one order or type."""
    from ledger.domain.journal import TxnType
    from ledger.persistence.db import unit_of_work
    from ledger.queries.views import journal_dicts, journal_ids

    if type_ is not None and type_ not in TxnType.__members__:
        raise InvalidInput(
            f"unknown journal type {type_!r}: one of {', '.join(TxnType.__members__)}", field="type"
        )
    with unit_of_work(settings().database_url) as session:
        journals = journal_dicts(session, journal_ids(session, order=order, journal_type=type_))
    if as_json:
        emit_json(journals)
        return
    print_journals(journals)


def print_journals(journals: list[dict[str, Any]]) -> None:
    table = Table(title_justify="left", title=f"{len(journals)} journals")
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
    out.print(table)


@app.command()
def statement(customer: str, as_json: JsonOption = False) -> None:
    """A customer statement: orders, balances and adjustments (no internal comments)."""
    from ledger.persistence.db import unit_of_work
    from ledger.queries.views import statement_view

    with unit_of_work(settings().database_url) as session:
        view = statement_view(session, customer)
    if as_json:
        emit_json(view)
        return
    out.print(f"Statement for {view['name']} ({view['customer']})", markup=False)
    for order in view["orders"]:
        table = Table(
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
        out.print(table)


# --- exceptions --------------------------------------------------------------------------------


@exceptions_app.command("list")
def exceptions_list(as_json: JsonOption = False) -> None:
    """Unapplied, unidentified and failed receipts, waiting or failed gateway events, and poison
    messages, each with its reason."""
    from ledger.persistence.db import unit_of_work
    from ledger.queries.views import exceptions_view

    with unit_of_work(settings().database_url) as session:
        items = exceptions_view(session)
    if as_json:
        emit_json(items)
        return
    table = Table(title=f"{len(items)} exceptions", title_justify="left")
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
        who = item.get("customer") or item.get("task") or ""
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
    out.print(table)


@exceptions_app.command("retry")
def exceptions_retry(
    ref: Annotated[
        str,
        typer.Argument(
            help="receipt:ID (or just ID), event:ID or message:ID, as `exceptions list` shows."
        ),
    ],
    as_json: JsonOption = False,
) -> None:
    """Re-run one exception after its cause is fixed (an order loaded, a period opened, a bug fixed)."""
    from ledger.services.operations import retry_event, take_poison_message
    from ledger.services.receipts import retry_receipt
    from tasks import dispatch

    config = settings()
    kind, _, number = ref.rpartition(":")
    if not number.isdigit() or kind not in ("", "receipt", "event", "message"):
        raise InvalidInput(
            f"{ref!r} is not an exception reference (receipt:ID, event:ID or message:ID)"
        )
    if kind in ("", "receipt"):
        view = retry_receipt(config, int(number))
        published(config)
        show_receipt(view, as_json)
        return
    if kind == "event":
        retry_event(config, int(number))
        dispatch.process_events(config, [int(number)])
        result: dict[str, Any] = {"ref": ref, "status": "requeued"}
    else:
        task, args = take_poison_message(config, int(number))
        dispatch.resend(config, task, args)
        result = {"ref": ref, "status": "resent", "task": task}
    if as_json:
        emit_json(result)
    else:
        out.print(f"{ref}: {result['status']}", markup=False)


# --- lockbox and gateway -----------------------------------------------------------------------


@lockbox_app.command("import")
def lockbox_import(
    file: Annotated[Path, typer.Argument(help="A lockbox file: CSV or BAI-style 80-column.")],
    profile: Annotated[
        Path | None,
        typer.Option(help="A bank's field-position profile (JSON); default: docs/lockbox.md."),
    ] = None,
    wait: Annotated[
        bool, typer.Option("--wait/--no-wait", help="Wait for every check to be distributed.")
    ] = True,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for the workers.")] = 3600.0,
    as_json: JsonOption = False,
) -> None:
    """Validate a whole lockbox file, receive its checks as receipts, and distribute them."""
    import time

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from ledger.intake.lockbox import load_profile
    from ledger.services.lockbox import file_summary, import_lockbox, progress
    from tasks import dispatch
    from tasks.registry import TaskName

    config = settings()
    started = time.monotonic()
    if not file.is_file():
        raise InvalidInput(f"cannot read {file}: no such file")
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    # The bar appears once the file is validated, so a refused file prints one line, no bar.
    bar = Progress(*columns, console=err, transient=False, disable=as_json)
    task = bar.add_task(f"distributing {file.name}", total=None)

    def validated(summary: Any) -> None:
        bar.update(task, total=summary.items)
        bar.start()

    def received(receipt_ids: list[int]) -> None:
        # Each committed chunk is dispatched at once: distribution overlaps the reading.
        if config.broker_url:
            dispatch.distribute(config, receipt_ids, task=TaskName.DISTRIBUTE_LOCKBOX_BATCH)
        else:
            dispatch.distribute(
                config, receipt_ids, on_batch=lambda count: bar.advance(task, count)
            )

    try:
        imported = import_lockbox(
            config,
            file,
            profile=load_profile(profile) if profile else None,
            on_received=received,
            on_validated=validated,
        )
        deadline = time.monotonic() + timeout
        while config.broker_url and wait:
            done, total = progress(config, imported.file_id)
            bar.update(task, completed=done)
            if done >= total or time.monotonic() > deadline:
                break
            time.sleep(0.25)
    finally:
        bar.stop()
    if imported.resumed:
        note(f"{file.name} had been partly imported before; the missing checks were received")
    summary = file_summary(config, imported.file_id)
    summary["seconds"] = round(time.monotonic() - started, 3)
    if as_json:
        emit_json(summary)
        return
    table = key_value_table(
        f"lockbox file {summary['id']}: {summary['name']}",
        {
            "format": summary["format"],
            "items": summary["items"],
            **{f"amount {c}": a["amount"] for c, a in summary["amounts"].items()},
            **{f"applied {c}": a["applied"] for c, a in summary["amounts"].items()},
            **{f"unapplied {c}": a["unapplied"] for c, a in summary["amounts"].items()},
            "checks applied": summary["applied_items"],
            "checks unapplied": summary["unapplied_items"],
            "checks refused": summary["refused_items"],
            "checks still queued": summary["pending_items"],
            "time": f"{summary['seconds']} s",
        },
    )
    out.print(table)


@gateway_app.command("submit")
def gateway_submit(
    file: Annotated[
        Path, typer.Argument(help="A gateway event as JSON, exactly as the webhook takes it.")
    ],
    as_json: JsonOption = False,
) -> None:
    """Submit a gateway event (payment, refund, dispute) without the HTTP signature."""
    from ledger.intake.gateway import parse_event
    from ledger.services.events import submit_event
    from tasks import dispatch

    config = settings()
    event = parse_event(_read(file))
    intake = submit_event(config, event)
    if not intake.created:
        note(f"event {event.event_id} was already received; nothing new applied")
    dispatch.intake(config, *intake.work())
    result = {**intake.body(), "event": event.key, "type": event.type, "created": intake.created}
    if intake.receipt_id is not None:
        from ledger.persistence.db import unit_of_work
        from ledger.queries.views import receipt_view

        with unit_of_work(config.database_url) as session:
            result["receipt"] = receipt_view(session, intake.receipt_id)
            result["status"] = result["receipt"]["status"]
    if as_json:
        emit_json(result)
    else:
        out.print(
            key_value_table(
                f"gateway event {event.key}", {k: v for k, v in result.items() if k != "receipt"}
            )
        )


# --- processes ---------------------------------------------------------------------------------


@app.command()
def worker(
    concurrency: Annotated[
        int | None, typer.Option(help="Worker processes (default ARLEDGER_WORKER_CONCURRENCY).")
    ] = None,
    queues: Annotated[
        str, typer.Option(help="Queues to consume, comma-separated.")
    ] = "receipts,lockbox,gl",
    loglevel: Annotated[str, typer.Option(help="Celery log level.")] = "INFO",
) -> None:
    """The Celery worker."""
    from tasks.celery_tasks import register
    from tasks.registry import QUEUES
    from workers.celery_app import celery_app

    config = settings()
    if not config.broker_url:
        raise InvalidInput(
            "the worker needs a broker: set ARLEDGER_BROKER_URL (e.g. redis://127.0.0.1:6379/0)"
        )
    wanted = [q.strip() for q in queues.split(",") if q.strip()]
    unknown = sorted(set(wanted) - set(QUEUES))
    if unknown or not wanted:
        raise InvalidInput(
            f"unknown queue {', '.join(unknown) or '(none)'}: the queues are {', '.join(QUEUES)}"
        )
    celery = celery_app(config)
    register(celery)
    celery.worker_main(
        [
            "worker",
            f"--loglevel={loglevel}",
            f"--concurrency={concurrency or config.worker_concurrency}",
            "-Q",
            ",".join(wanted),
            "--without-gossip",
            "--without-mingle",
        ]
    )


@app.command()
def beat(
    schedule: Annotated[Path, typer.Option(help="Where beat keeps its schedule state.")] = Path(
        "celerybeat-schedule"
    ),
    loglevel: Annotated[str, typer.Option(help="Celery log level.")] = "INFO",
) -> None:
    """The periodic schedule: the outbox publisher every second, the intake sweep every 15 s."""
    from workers.celery_app import celery_app

    config = settings()
    if not config.broker_url:
        raise InvalidInput("beat needs a broker: set ARLEDGER_BROKER_URL")
    celery_app(config).start(["beat", f"--loglevel={loglevel}", f"--schedule={schedule}"])


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    workers: Annotated[
        int,
        typer.Option(
            min=1,
            help="Server processes. One process handles about 200 events/s on one core; more "
            "processes use more cores (each holds its own database connections).",
        ),
    ] = 1,
) -> None:
    """The HTTP ingress: the signed gateway webhook and /health."""
    import uvicorn

    from workers.ingress import app_from_environment

    application = app_from_environment()  # refuses to start without a webhook secret
    if workers == 1:
        uvicorn.run(application, host=host, port=port, log_level="info", access_log=False)
        return
    # Several processes need the app by import path: each builds its own from the environment.
    uvicorn.run(
        "workers.ingress:app_from_environment",
        factory=True,
        workers=workers,
        host=host,
        port=port,
        log_level="info",
        access_log=False,
    )


@app.command()
def sweep(as_json: JsonOption = False) -> None:
    """Re-dispatch intake persisted but not processed (what the beat schedule runs every 15 s)."""
    from tasks import dispatch

    result = dispatch.sweep(settings())
    if as_json:
        emit_json(result)
    else:
        out.print(f"re-dispatched {result['receipts']} receipts and {result['events']} events")


@gl_app.command("publish")
def gl_publish(as_json: JsonOption = False) -> None:
    """Publish every unpublished journal to the configured sink now."""
    from ledger.outbox.publisher import publish_pending, sink_for

    config = settings()
    sink = sink_for(config)
    count = publish_pending(config, sink)
    if as_json:
        emit_json({"published": count, "sink": sink.describe()})
    else:
        out.print(f"published {count} journals to {sink.describe()}", markup=False)


# --- demo --------------------------------------------------------------------------------------


@app.command()
def demo(
    directory: Annotated[Path, typer.Option(help="Where to create the demo database.")] = Path(
        "arledger-demo"
    ),
) -> None:
    """Run the whole flow on a fresh SQLite database with bundled sample data."""
    from workers.demo import run_demo

    run_demo(directory, out)


# --- entry point -------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> NoReturn:
    """Run the CLI with SPEC section 11 exit codes and one-line errors."""
    try:
        result = app(args=argv, standalone_mode=False)
    except InputRefused as exc:
        _fail(2, exc.message)
    except ArledgerError as exc:
        _fail(exc.exit_code, exc.message)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except TyperException as exc:
        # Typer vendors its own click: usage errors arrive as TyperException subclasses that
        # carry click's exit code (2 for a usage error) and message.
        if type(exc).__name__ == "NoArgsIsHelpError":
            context = getattr(exc, "ctx", None)
            sys.stdout.write(context.get_help() + "\n" if context is not None else "")
            sys.exit(0)
        if isinstance(exc, typer.Abort):
            _fail(1, "aborted")
        format_message = getattr(exc, "format_message", None)
        _fail(exc.exit_code or 1, format_message() if callable(format_message) else str(exc))
    except KeyboardInterrupt:
        _fail(130, "interrupted")
    except Exception as exc:
        _fail(1, f"{type(exc).__name__}: {exc}".splitlines()[0])
    sys.exit(result if isinstance(result, int) else 0)


def _fail(code: int, message: str) -> NoReturn:
    err.print(f"arledger: error: {message}", markup=False)
    sys.exit(code)


if __name__ == "__main__":
    main()
