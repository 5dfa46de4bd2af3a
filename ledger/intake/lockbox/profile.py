"""The declarative BAI profile: where each field of each record sits, and the file's currency.

A bank's variant of the fixed-width format is a new JSON profile, not new code.
:class:`LockboxProfile` checks that a profile can describe a file (every field the parser reads,
no overlaps, nothing past the record length, date formats that fill their fields);
:func:`load_profile` reads one from a file, or returns the bundled default.
"""

from __future__ import annotations

import json
from datetime import date, datetime
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictInt,
    StrictStr,
    ValidationError,
    field_validator,
    model_validator,
)

from ledger.domain.errors import InputRefused
from ledger.domain.money import currency_decimals
from ledger.intake.lockbox.errors import LockboxProfileInvalid
from ledger.intake.lockbox.items import MAX_CODE_LENGTH

# A check amount must always make a valid Money (17 minor digits at most) whatever the profile.
_MAX_ITEM_AMOUNT_DIGITS = 15
_MAX_RECORD_LENGTH = 1000
# Dates a date format must write at the field's width and read back unchanged.
_FORMAT_PROBES = (date(2001, 2, 3), date(2028, 12, 31), date(2010, 10, 10))

FieldKind = Literal["text", "digits", "amount", "date"]
_IDENTIFIER_KINDS = frozenset({"text", "digits"})

# The fields the parser reads, per record, and the kinds each may have. Any other field a
# profile declares is checked against its kind and otherwise ignored: that is how a bank's
# extra columns are described. Optional fields, when declared, must agree with the record
# they repeat (a check's batch with its batch header, an overflow's item with its check).
_REQUIRED_FIELDS: dict[str, dict[str, frozenset[str]]] = {
    "file_header": {"bank_file_id": _IDENTIFIER_KINDS, "creation_date": frozenset({"date"})},
    "batch_header": {"batch": _IDENTIFIER_KINDS, "deposit_date": frozenset({"date"})},
    "check": {
        "item": _IDENTIFIER_KINDS,
        "amount": frozenset({"amount"}),
        "check_number": _IDENTIFIER_KINDS,
    },
    "overflow": {"order": _IDENTIFIER_KINDS, "amount": frozenset({"amount"})},
    "batch_total": {"item_count": frozenset({"digits"}), "total_amount": frozenset({"amount"})},
    "lockbox_total": {"item_count": frozenset({"digits"}), "total_amount": frozenset({"amount"})},
    "file_trailer": {"record_count": frozenset({"digits"}), "total_amount": frozenset({"amount"})},
}
_OPTIONAL_FIELDS: dict[str, dict[str, frozenset[str]]] = {
    "batch_header": {"lockbox": _IDENTIFIER_KINDS},
    "check": {"batch": _IDENTIFIER_KINDS, "customer": _IDENTIFIER_KINDS},
    "overflow": {"batch": _IDENTIFIER_KINDS, "item": _IDENTIFIER_KINDS},
    "batch_total": {"batch": _IDENTIFIER_KINDS},
    "lockbox_total": {"lockbox": _IDENTIFIER_KINDS},
}
# (record, field) pairs that repeat an identifier first given by another record.
_REPEATED_IDENTIFIERS = {
    ("check", "batch"): ("batch_header", "batch"),
    ("overflow", "batch"): ("batch_header", "batch"),
    ("overflow", "item"): ("check", "item"),
    ("batch_total", "batch"): ("batch_header", "batch"),
    ("lockbox_total", "lockbox"): ("batch_header", "lockbox"),
}
_IDENTIFIER_FIELDS = frozenset(
    {"bank_file_id", "batch", "lockbox", "item", "check_number", "customer", "order"}
)
_RECORD_NAMES = {
    "file_header": "file header",
    "batch_header": "batch header",
    "check": "check detail",
    "overflow": "overflow record",
    "batch_total": "batch total",
    "lockbox_total": "lockbox total",
    "file_trailer": "file trailer",
}


class _ProfileModel(BaseModel):
    # Not strict=True model-wide: that would refuse JSON arrays for the tuples. Numbers and
    # strings are strict field by field, so "start": 2.0 or "start": "2" is still refused.
    model_config = ConfigDict(extra="forbid", frozen=True)


class FieldSpec(_ProfileModel):
    """One fixed-width field: columns ``start`` .. ``start + length - 1`` (1-based)."""

    name: Annotated[StrictStr, Field(pattern=r"^[a-z][a-z0-9_]{0,39}$")]
    start: Annotated[StrictInt, Field(ge=2, le=_MAX_RECORD_LENGTH)]
    length: Annotated[StrictInt, Field(ge=1, le=_MAX_RECORD_LENGTH)]
    kind: FieldKind
    format: StrictStr | None = None

    @property
    def end(self) -> int:
        """The last column of the field (1-based, inclusive)."""
        return self.start + self.length - 1

    @model_validator(mode="after")
    def _date_format_fits(self) -> FieldSpec:
        if self.kind != "date":
            if self.format is not None:
                raise ValueError(f"field {self.name}: only date fields take a format")
            return self
        if not self.format:
            raise ValueError(f"date field {self.name} needs a strptime format such as %y%m%d")
        for probe in _FORMAT_PROBES:
            written = probe.strftime(self.format)
            if len(written) != self.length:
                raise ValueError(
                    f"date field {self.name}: format {self.format!r} writes {len(written)} "
                    f"characters, the field has {self.length}"
                )
            try:
                read_back = datetime.strptime(written, self.format).date()
            except ValueError as exc:
                raise ValueError(f"date field {self.name}: format {self.format!r}: {exc}") from None
            if read_back != probe:
                raise ValueError(
                    f"date field {self.name}: format {self.format!r} does not carry a whole date"
                )
        return self


class RecordLayout(_ProfileModel):
    """A record type: the character in column 1 that marks it, and its fields."""

    code: Annotated[StrictStr, Field(min_length=1, max_length=1, pattern=r"^[!-~]$")]
    fields: tuple[FieldSpec, ...]

    def field_named(self, name: str) -> FieldSpec | None:
        return next((spec for spec in self.fields if spec.name == name), None)


class RecordLayouts(_ProfileModel):
    """The seven record types of a BAI-style lockbox file."""

    file_header: RecordLayout
    batch_header: RecordLayout
    check: RecordLayout
    overflow: RecordLayout
    batch_total: RecordLayout
    lockbox_total: RecordLayout
    file_trailer: RecordLayout

    def by_role(self) -> dict[str, RecordLayout]:
        return {role: getattr(self, role) for role in _RECORD_NAMES}


class LockboxProfile(_ProfileModel):
    """Where each field of a BAI-style lockbox file sits, and the file's currency.

    BAI files carry no currency, so the profile names it; amounts are digits with the
    currency's decimals implied (``000000012345`` is 123.45 USD).
    """

    name: Annotated[StrictStr, Field(min_length=1, max_length=64)]
    description: StrictStr = ""
    currency: StrictStr = "USD"
    record_length: Annotated[StrictInt, Field(ge=2, le=_MAX_RECORD_LENGTH)] = 80
    records: RecordLayouts

    @field_validator("currency")
    @classmethod
    def _known_currency(cls, code: str) -> str:
        try:
            currency_decimals(code)
        except InputRefused as exc:
            raise ValueError(exc.message) from None
        return code

    @model_validator(mode="after")
    def _layouts_are_complete_and_fit(self) -> LockboxProfile:
        layouts = self.records.by_role()
        codes = [layout.code for layout in layouts.values()]
        if len(set(codes)) != len(codes):
            raise ValueError(f"record codes must be distinct, got {', '.join(codes)}")
        for role, layout in layouts.items():
            _check_layout(role, layout, self.record_length)
        for (role, name), (source_role, source_name) in _REPEATED_IDENTIFIERS.items():
            repeated = layouts[role].field_named(name)
            source = layouts[source_role].field_named(source_name)
            if repeated is None:
                continue
            if source is None:
                raise ValueError(
                    f"{role}.{name} repeats {source_role}.{source_name}, which is not declared"
                )
            if repeated.kind != source.kind:
                raise ValueError(
                    f"{role}.{name} is {repeated.kind} but {source_role}.{source_name} is "
                    f"{source.kind}: a repeated identifier must have the same kind"
                )
        return self


def _check_layout(role: str, layout: RecordLayout, record_length: int) -> None:
    names = [spec.name for spec in layout.fields]
    if len(set(names)) != len(names):
        raise ValueError(f"{role}: field names must be distinct")
    required = _REQUIRED_FIELDS[role]
    optional = _OPTIONAL_FIELDS.get(role, {})
    missing = [name for name in required if name not in names]
    if missing:
        raise ValueError(f"{role}: missing field(s) {', '.join(missing)}")
    previous: FieldSpec | None = None
    for spec in sorted(layout.fields, key=lambda spec: spec.start):
        if spec.end > record_length:
            raise ValueError(
                f"{role}.{spec.name} ends in column {spec.end}, past the record length "
                f"{record_length}"
            )
        if previous is not None and spec.start <= previous.end:
            raise ValueError(f"{role}.{spec.name} overlaps {role}.{previous.name}")
        previous = spec
        allowed = required.get(spec.name) or optional.get(spec.name)
        if allowed is not None and spec.kind not in allowed:
            raise ValueError(
                f"{role}.{spec.name} must be of kind {' or '.join(sorted(allowed))}, "
                f"not {spec.kind}"
            )
        if spec.name in _IDENTIFIER_FIELDS and spec.length > MAX_CODE_LENGTH:
            raise ValueError(f"{role}.{spec.name} may be at most {MAX_CODE_LENGTH} columns long")
        item_amount = role in ("check", "overflow") and spec.name == "amount"
        if item_amount and spec.length > _MAX_ITEM_AMOUNT_DIGITS:
            raise ValueError(f"{role}.amount may be at most {_MAX_ITEM_AMOUNT_DIGITS} digits long")


def load_profile(path: str | Path | None = None) -> LockboxProfile:
    """The BAI lockbox profile in the JSON file ``path``, or the bundled default for ``None``.

    Raises LockboxProfileInvalid if the file cannot be read or does not describe a usable layout
    (a missing or overlapping field, a field past the record length, a date format that does not
    fill its field…).
    """
    if path is None:
        return _default_profile()
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise LockboxProfileInvalid(source, f"cannot read it: {exc}") from None
    return _parse_profile(text, source)


@cache
def _default_profile() -> LockboxProfile:
    bundled = resources.files("ledger").joinpath("data/lockbox-default-profile.json")
    return _parse_profile(bundled.read_text(encoding="utf-8"), "lockbox-default-profile.json")


def _parse_profile(text: str, source: str) -> LockboxProfile:
    try:
        # Parsed by json first because pydantic's JSON reader lets a repeated key silently win;
        # in a profile, two "start"s for one field are a mistake worth reporting.
        data = json.loads(text, object_pairs_hook=_refuse_duplicate_keys)
        return LockboxProfile.model_validate(data)
    except json.JSONDecodeError as exc:
        raise LockboxProfileInvalid(source, f"not JSON: {exc}") from None
    except ValueError as exc:
        if isinstance(exc, ValidationError):
            first = exc.errors()[0]
            where = ".".join(str(part) for part in first["loc"])
            message = str(first["msg"]).removeprefix("Value error, ")
            reason = f"{where}: {message}" if where else message
            raise LockboxProfileInvalid(source, reason) from None
        raise LockboxProfileInvalid(source, str(exc)) from None


def _refuse_duplicate_keys(pairs: list[tuple[str, object]]) -> dict[str, object]:
    keys = [key for key, _ in pairs]
    repeated = sorted({key for key in keys if keys.count(key) > 1})
    if repeated:
        raise ValueError(f"duplicate key(s) {', '.join(repeated)}")
    return dict(pairs)
