"""The audit chain's digest format: compact UTF-8 JSON, the same bytes whatever writes it."""

from __future__ import annotations

import hashlib
import json
from datetime import date
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.persistence.audit import JOURNAL_FIELDS, LINE_FIELDS, WRITE_OFF_FIELDS, commit_digest

# What a posted row holds: integers (ids and minor units, within a bigint), text (any Unicode,
# quotes, backslashes and control characters included), booleans and nulls.
VALUES = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**63), max_value=2**63 - 1), st.text()
)


def _row(fields: tuple[str, ...]) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {
            name: (st.one_of(st.none(), st.dates()) if name.endswith("_date") else VALUES)
            for name in fields
        }
    ).map(lambda row: {**row, "id": abs(hash(repr(row))) % 2**62})


def _reference(*tables: list[dict[str, Any]]) -> str:
    """The digest as the standard library writes its payload (the format's definition)."""
    payload = []
    for rows, fields in zip(tables, (JOURNAL_FIELDS, LINE_FIELDS, WRITE_OFF_FIELDS), strict=True):
        out = []
        for row in rows:
            values = [row[name] for name in fields]
            out.append([v.isoformat() if isinstance(v, date) else v for v in values])
        payload.append(sorted(out, key=lambda values: values[0]))
    text = json.dumps(payload, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


@settings(max_examples=300)
@given(
    st.lists(_row(JOURNAL_FIELDS), max_size=4, unique_by=lambda row: row["id"]),
    st.lists(_row(LINE_FIELDS), max_size=6, unique_by=lambda row: row["id"]),
    st.lists(_row(WRITE_OFF_FIELDS), max_size=3, unique_by=lambda row: row["id"]),
)
def test_a_commit_digest_is_the_standard_librarys_json_hashed(journals, lines, write_offs):
    """Chains written before the digest's payload moved to orjson still verify: the bytes
    hashed are the ones ``json.dumps`` writes, for every value a row can hold."""
    assert commit_digest(journals, lines, write_offs) == _reference(journals, lines, write_offs)


def test_a_known_commit_keeps_its_digest():
    """One commit's digest, fixed: any change to the format shows here first."""
    journal = dict.fromkeys(JOURNAL_FIELDS) | {
        "id": 7, "type": "RECEIPT", "code": "RCPT", "currency": "USD", "amount_minor": 12000,
        "posting_date": date(2026, 11, 5), "memo": "Café \"quoted\" \\ \n tab\t",
    }  # fmt: skip
    line = {"id": 9, "journal_id": 7, "account": "1000", "debit_minor": 12000}
    line |= {"credit_minor": 0, "order_id": None, "line_id": None}
    # Computed by the code before orjson (the standard library's json.dumps).
    expected = "79de41c903af87dcec916e9a5dd8794be731e14c1aa835080839129b7361e36c"
    assert commit_digest([journal], [line], []) == _reference([journal], [line], []) == expected
