"""One exception class per business rule, each carrying the numbers that broke it.

Every refusal renders as one line naming the rule and the figures; the CLI prints it and exits 2,
the HTTP ingress returns it as a field error. :class:`InputRefused` and its subclasses mean "the
input was refused and nothing changed"; other :class:`ArledgerError` subclasses are failures of
arledger itself (a bug, or a guard that caught one).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any


class ArledgerError(Exception):
    """Base of every error arledger raises on purpose."""

    exit_code = 1
    field: str | None = None

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    def __str__(self) -> str:
        return self.message


class InputRefused(ArledgerError):
    """The request was refused; nothing was changed. CLI exit status 2, HTTP 400."""

    exit_code = 2

    def __init__(self, message: str, *, field: str | None = None, **details: Any) -> None:
        super().__init__(message, **details)
        self.field = field


class NotFound(InputRefused):
    """The request names something that does not exist."""


class Conflict(InputRefused):
    """The request contradicts something already recorded under the same key (HTTP 409)."""


# --- money -------------------------------------------------------------------------------------


class AmountNotADecimalString(InputRefused):
    def __init__(self, what: str, value: object) -> None:
        if isinstance(value, str):
            shown = f'"{value}"'
        elif isinstance(value, Decimal | int) and not isinstance(value, bool):
            # JSON numbers arrive as Decimal or int (never float): name them as what they were.
            shown = f"the JSON number {value}"
        else:
            shown = f"{value!r} ({type(value).__name__})"
        super().__init__(
            f'{what} must be a decimal string such as "12.50", got {shown}', field=what
        )


class AmountTooPrecise(InputRefused):
    def __init__(self, amount: Decimal | str, currency: str, places: int) -> None:
        super().__init__(
            f"amount {amount} has more decimal places than {currency} allows ({places})",
            field="amount",
            amount=str(amount),
            currency=currency,
            places=places,
        )


class AmountTooLarge(InputRefused):
    def __init__(self, amount: object, currency: str) -> None:
        super().__init__(f"amount {amount} {currency} is too large", field="amount")


class UnknownCurrency(InputRefused):
    def __init__(self, code: object) -> None:
        super().__init__(
            f"unknown currency {code!r}: expected an ISO 4217 code such as USD", field="currency"
        )


class CurrencyMismatch(InputRefused):
    def __init__(self, expected: str, got: str, *, what: str = "amount") -> None:
        super().__init__(
            f"currency mismatch: {what} is in {got} but the order is in {expected}",
            field="currency",
            expected=expected,
            got=got,
        )


class AmountNotPositive(InputRefused):
    def __init__(self, what: str, amount: object) -> None:
        super().__init__(f"{what} must be greater than zero, got {amount}", field=what)


# --- not found ---------------------------------------------------------------------------------


class UnknownOrder(NotFound):
    def __init__(self, number: str) -> None:
        super().__init__(f"unknown order {number}", field="order")


class UnknownLine(NotFound):
    def __init__(self, order: str, line: int) -> None:
        super().__init__(f"order {order} has no line {line}", field="line")


class UnknownAccount(NotFound):
    def __init__(self, code: str, *, field: str = "account") -> None:
        super().__init__(f"unknown GL account {code}", field=field)


class InactiveAccount(InputRefused):
    def __init__(self, code: str, *, field: str = "account") -> None:
        super().__init__(f"GL account {code} is inactive", field=field)


class UnknownReceipt(NotFound):
    def __init__(self, receipt_id: object) -> None:
        super().__init__(f"unknown receipt {receipt_id}", field="receipt")


class UnknownWriteOff(NotFound):
    def __init__(self, write_off_id: object) -> None:
        super().__init__(f"unknown write-off {write_off_id}", field="write_off")


class UnknownCustomer(NotFound):
    def __init__(self, customer: str) -> None:
        super().__init__(f"unknown customer {customer}", field="customer")


class UnknownReason(InputRefused):
    def __init__(self, reason: str, allowed: list[str]) -> None:
        super().__init__(
            f"unknown write-off reason {reason!r}: must be one of {', '.join(allowed)}",
            field="reason",
        )


class UnknownOrgUnit(NotFound):
    def __init__(self, code: str) -> None:
        super().__init__(f"unknown org unit {code}", field="org_unit")


class NoOrgUnit(InputRefused):
    def __init__(self) -> None:
        super().__init__(
            "a receipt with no order needs an org unit: pass --org-unit or set "
            "ARLEDGER_DEFAULT_ORG_UNIT",
            field="org_unit",
        )


# --- write-offs --------------------------------------------------------------------------------


class WriteOffExceedsBalance(InputRefused):
    def __init__(self, amount: object, balance: object) -> None:
        super().__init__(f"write-off {amount} exceeds the line balance {balance}", field="amount")


class WriteOffExceedsLineAmount(InputRefused):
    def __init__(self, amount: object, line_amount: object) -> None:
        super().__init__(
            f"write-off {amount} on a zero-balance line exceeds the line amount {line_amount}",
            field="amount",
        )


class WriteOffExceedsCreditBalance(InputRefused):
    def __init__(self, amount: object, credit: object) -> None:
        super().__init__(
            f"credit-balance write-off {amount} exceeds the line's credit balance {credit}",
            field="amount",
        )


class ProductNotShipped(InputRefused):
    def __init__(self, order: str, line: int, product: str) -> None:
        super().__init__(
            f"order {order} line {line}: {product} is an inventoried product that has not been "
            "shipped; it cannot be written off",
            field="line",
        )


class ChildWriteOffMustBeFullBalance(InputRefused):
    def __init__(self, customer: str, amount: object, balance: object) -> None:
        super().__init__(
            f"customer {customer} is billed to a parent: only the full line balance {balance} "
            f"can be written off, not {amount}",
            field="amount",
        )


class ChildOrderAlreadyPaid(InputRefused):
    def __init__(self, customer: str, order: str, paid: object) -> None:
        super().__init__(
            f"customer {customer} is billed to a parent and {paid} has been paid on order "
            f"{order}: its lines can no longer be written off",
            field="order",
        )


class WriteOffAccountIsArAccount(InputRefused):
    def __init__(self, code: str) -> None:
        super().__init__(
            f"write-off account {code} is the line's AR account; choose an expense or income "
            "account",
            field="account",
        )


class WriteOffReversalExceedsUnreversed(InputRefused):
    def __init__(self, write_off: object, amount: object, unreversed: object) -> None:
        # ``write_off`` is the domain's key, or the id an operator named it by; the figures are
        # kept so a service can name it the operator's way.
        super().__init__(
            f"reversal {amount} exceeds the unreversed amount {unreversed} of write-off "
            f"{write_off}",
            field="amount",
        )
        self.amount = amount
        self.unreversed = unreversed


class NothingToWriteOff(InputRefused):
    def __init__(self, order: str) -> None:
        super().__init__(
            f"order {order} has no line with a balance owed to write off", field="order"
        )


# --- periods -----------------------------------------------------------------------------------


class PeriodClosed(InputRefused):
    def __init__(self, day: object, period: str) -> None:
        super().__init__(f"posting date {day} falls in closed period {period}", field="date")


# --- receipts ----------------------------------------------------------------------------------


class ReceiptAlreadyReversed(InputRefused):
    def __init__(self, receipt_id: int) -> None:
        super().__init__(f"receipt {receipt_id} has already been reversed", field="receipt")


class ReceiptNotProcessed(InputRefused):
    def __init__(self, receipt_id: int, status: str) -> None:
        super().__init__(
            f"receipt {receipt_id} is {status}: it has not been distributed yet", field="receipt"
        )


class NothingUnapplied(InputRefused):
    def __init__(self, receipt_id: int) -> None:
        super().__init__(f"receipt {receipt_id} has no unapplied money", field="receipt")


class ApplyExceedsUnapplied(InputRefused):
    def __init__(self, receipt_id: int, amount: object, unapplied: object) -> None:
        super().__init__(
            f"cannot apply {amount} of receipt {receipt_id}: only {unapplied} is unapplied",
            field="amount",
        )


class IdempotencyConflict(Conflict):
    """The same intake key (an external id, an event id, a gateway payment) with another payload."""

    def __init__(self, what: str, differences: list[str], *, field: str = "external_id") -> None:
        super().__init__(
            f"{what} was already used for a different request: {'; '.join(differences)}",
            field=field,
        )


# --- input files and generic validation --------------------------------------------------------


class InvalidInput(InputRefused):
    """Input that failed validation at the boundary (pydantic), rendered as one line."""


class UnbalancedJournal(ArledgerError):
    """A journal whose debits and credits differ: always a bug, never a user error."""

    def __init__(self, journal_type: str, debits: object, credits: object) -> None:
        super().__init__(f"unbalanced {journal_type} journal: debits {debits} != credits {credits}")
