"""Validation at the boundary: pydantic v2 models of everything arledger accepts from outside.

JSON is parsed with floats turned into Decimal and duplicate keys refused, then validated here;
an amount must be a decimal string (``"12.50"``), never a JSON number, so no float ever touches
money. A validation failure becomes one :class:`ledger.errors.InvalidInput` line naming the field
(``orders[0].lines[1].amount: …``).
"""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    ValidationError,
    field_validator,
    model_validator,
)

from ledger.domain.errors import ArledgerError, InvalidInput
from ledger.domain.journal import ACCOUNT_TYPES
from ledger.domain.matching_config import MatchConfig
from ledger.domain.money import currency_decimals, parse_decimal
from ledger.domain.remittance import payer_key


def _decimal_string(value: object) -> str:
    # Runs before pydantic's own str check so a JSON number gets the money-specific message.
    try:
        parse_decimal(value)
    except ArledgerError as exc:
        raise ValueError(exc.message) from None
    assert isinstance(value, str)
    return value


def _currency_code(value: object) -> str:
    try:
        currency_decimals(value)  # type: ignore[arg-type,unused-ignore]
    except ArledgerError as exc:
        raise ValueError(exc.message) from None
    assert isinstance(value, str)
    return value


def _match_config(value: object) -> MatchConfig:
    try:
        return MatchConfig.from_json(value)
    except ArledgerError as exc:
        raise ValueError(exc.message) from None


def _payer_accounts(value: object) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ValueError("must be a list of account strings")
    accounts: list[str] = []
    for raw in value:
        # Normalised as matching compares accounts: blanks and dashes dropped, upper case.
        account = payer_key(raw)
        if not 1 <= len(account) <= 100 or not account.isprintable():
            raise ValueError(f"payer account {raw!r} must be 1 to 100 printable characters")
        if account in accounts:
            raise ValueError(f"payer account {account} appears twice")
        accounts.append(account)
    return accounts


DecimalString = Annotated[str, BeforeValidator(_decimal_string)]
MatchingIn = Annotated[MatchConfig, BeforeValidator(_match_config)]
PayerAccounts = Annotated[list[str], BeforeValidator(_payer_accounts)]
CurrencyCode = Annotated[str, BeforeValidator(_currency_code)]
Code = Annotated[str, Field(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9_.:-]+$")]
LongCode = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:/#-]+$")]
Name = Annotated[str, Field(min_length=1, max_length=200)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=False)


class AccountIn(_Strict):
    """A GL account of the load file."""

    code: Code
    name: Name
    type: Literal["asset", "liability", "equity", "revenue", "expense"]
    active: StrictBool = True


assert set(ACCOUNT_TYPES) == {"asset", "liability", "equity", "revenue", "expense"}


class OrgUnitIn(_Strict):
    """An org unit, its default accounts and, optionally, its matching configuration
    (docs/rules.md section 14; left as stored when the file does not give it)."""

    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)

    code: Code
    cash_account: Code
    ar_account: Code
    unapplied_account: Code
    credit_writeoff_account: Code
    matching: MatchingIn | None = None


class SubsystemIn(_Strict):
    """A subsystem and its payment priority (0-99)."""

    code: Code
    priority: int = Field(ge=0, le=99, strict=True)


class ProductIn(_Strict):
    """A product: subsystem, priority, revenue and write-off accounts, inventoried flag."""

    code: LongCode
    subsystem: Code
    priority: int = Field(ge=0, le=99, strict=True)
    revenue_account: Code
    writeoff_account: Code
    inventoried: StrictBool = False


class CustomerIn(_Strict):
    """A customer, optionally a child account billed to its parent, with the payer accounts
    registered to it (normalised, each once)."""

    id: LongCode
    name: Name
    parent: LongCode | None = None
    bills_to_parent: StrictBool = False
    payer_accounts: PayerAccounts = []

    @model_validator(mode="after")
    def _parent_rules(self) -> CustomerIn:
        if self.parent == self.id:
            raise ValueError(f"customer {self.id} cannot be its own parent")
        if self.bills_to_parent and self.parent is None:
            raise ValueError(f"customer {self.id} bills to a parent but names none")
        return self


class PeriodIn(_Strict):
    """An accounting period, open or closed."""

    name: Code
    start: date
    end: date
    open: StrictBool = True

    @model_validator(mode="after")
    def _ordered(self) -> PeriodIn:
        if self.end < self.start:
            raise ValueError(
                f"period {self.name} ends ({self.end}) before it starts ({self.start})"
            )
        return self


class OrderLineIn(_Strict):
    """An order line: amount as a decimal string in the order's currency."""

    line: int = Field(ge=1, le=9999, strict=True)
    product: LongCode
    amount: DecimalString
    shipped: StrictBool = False
    ar_account: Code | None = None


class OrderIn(_Strict):
    """An order: one currency, one customer, lines numbered from 1."""

    number: LongCode
    customer: LongCode
    org_unit: Code
    currency: CurrencyCode
    date: date
    lines: list[OrderLineIn] = Field(min_length=1, max_length=999)

    @field_validator("lines")
    @classmethod
    def _distinct_line_numbers(cls, lines: list[OrderLineIn]) -> list[OrderLineIn]:
        seen: set[int] = set()
        for line in lines:
            if line.line in seen:
                raise ValueError(f"line {line.line} appears twice")
            seen.add(line.line)
        return lines

    @model_validator(mode="after")
    def _amounts_fit_currency(self) -> OrderIn:
        places = currency_decimals(self.currency)
        for line in self.lines:
            value = Decimal(line.amount)
            exponent = value.as_tuple().exponent
            assert isinstance(exponent, int)
            if value < 0:
                raise ValueError(f"line {line.line}: amount {line.amount} is negative")
            if -exponent > places:
                raise ValueError(
                    f"line {line.line}: amount {line.amount} has more decimal places than "
                    f"{self.currency} allows ({places})"
                )
        return self


class LoadFile(_Strict):
    """The `arledger load` file (docs/rules.md section 10); every list is optional."""

    accounts: list[AccountIn] = []
    org_units: list[OrgUnitIn] = []
    subsystems: list[SubsystemIn] = []
    products: list[ProductIn] = []
    customers: list[CustomerIn] = []
    periods: list[PeriodIn] = []
    orders: list[OrderIn] = []

    @model_validator(mode="after")
    def _unique_keys(self) -> LoadFile:
        for kind, key in (
            ("accounts", "code"),
            ("org_units", "code"),
            ("subsystems", "code"),
            ("products", "code"),
            ("customers", "id"),
            ("periods", "name"),
            ("orders", "number"),
        ):
            seen: set[str] = set()
            for item in getattr(self, kind):
                value = getattr(item, key)
                if value in seen:
                    raise ValueError(f"{kind}: {value} appears twice")
                seen.add(value)
        owners: dict[str, str] = {}
        for customer in self.customers:
            for account in customer.payer_accounts:
                other = owners.setdefault(account, customer.id)
                if other != customer.id:
                    raise ValueError(
                        f"customers: payer account {account} is listed for both {other} and "
                        f"{customer.id}"
                    )
        return self


# --- JSON parsing ------------------------------------------------------------------------------


def _refuse_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise InvalidInput(f"duplicate key {key!r} in JSON object")
        result[key] = value
    return result


def _refuse_constant(name: str) -> Any:
    raise InvalidInput(f"{name} is not a number arledger accepts")


def parse_json(raw: str | bytes, *, what: str = "JSON") -> Any:
    """Parse JSON exactly: numbers with a fraction become Decimal (never float), NaN/Infinity and
    duplicate keys are refused."""
    try:
        return json.loads(
            raw,
            parse_float=Decimal,
            parse_constant=_refuse_constant,
            object_pairs_hook=_refuse_duplicate_keys,
        )
    except ArledgerError:
        raise
    except (ValueError, RecursionError) as exc:
        raise InvalidInput(f"{what} is not valid JSON: {exc}") from None


def format_validation_error(exc: ValidationError) -> str:
    """One line naming the first problem and its place; the count of any others."""
    errors = exc.errors(include_url=False)
    first = errors[0]
    place = _location(first.get("loc", ()))
    message = str(first.get("msg", "invalid"))
    context = first.get("ctx") or {}
    error = context.get("error")
    if isinstance(error, ArledgerError):
        message = error.message
    elif message.startswith("Value error, "):
        message = message.removeprefix("Value error, ")
    more = f" (and {len(errors) - 1} more problems)" if len(errors) > 1 else ""
    return f"{place}: {message}{more}" if place else f"{message}{more}"


def _location(loc: tuple[Any, ...]) -> str:
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text


def validate_load_file(raw: str | bytes) -> LoadFile:
    data = parse_json(raw, what="load file")
    if not isinstance(data, dict):
        raise InvalidInput('load file must be a JSON object with lists such as "orders"')
    try:
        return LoadFile.model_validate(data)
    except ValidationError as exc:
        raise InvalidInput(f"load file: {format_validation_error(exc)}") from None
