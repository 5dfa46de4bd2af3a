"""``arledger receipt …``: submit, show, reverse and apply receipts."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from ledger.domain.errors import InvalidInput
from workers.cli.common import JsonOption, parse_date, published, receipt_app, settings
from workers.cli.render import note, show_receipt

if TYPE_CHECKING:
    from config.settings import Settings


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
    remittance: Annotated[
        str | None,
        typer.Option(help="Remittance text that may name orders (matching reads it)."),
    ] = None,
    payer_account: Annotated[
        str | None, typer.Option(help="The payer's bank account (routing/account or IBAN).")
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
        remittance=remittance.strip() or None if remittance is not None else None,
        payer_account=payer_account.strip() or None if payer_account is not None else None,
    )
    intake = submit_receipt(config, request)
    if order and order_code is None:
        note(f"order {order} not found: matching reads it as remittance text")
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


@receipt_app.command("show")
def receipt_show(receipt_id: int, as_json: JsonOption = False) -> None:
    """Show a receipt: where its money went."""
    from workers.cli.reads import read_receipt

    read_receipt(receipt_id, as_json)


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
