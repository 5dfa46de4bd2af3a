"""Hypothesis state machine over the ledger services, on SQLite and on PostgreSQL.

Random orders, receipts (to known, unknown and no orders; operator and automated; repeated),
write-offs (line and whole-order, standard and advanced, debit, zero and credit balances),
operator write-off reversals, receipt applications and receipt reversals. After every step the
invariants of docs/rules.md section 9 must hold (`arledger check` finds nothing), and every refused
request must have changed nothing.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    consumes,
    initialize,
    invariant,
    multiple,
    rule,
    run_state_machine_as_test,
)

from config.settings import Settings
from ledger.domain.errors import InputRefused
from ledger.domain.money import Money
from ledger.intake.commands import ReceiptRequest
from ledger.intake.inputs import validate_load_file
from ledger.persistence.db import get_engine, unit_of_work
from ledger.queries.check import check_invariants
from ledger.queries.views import order_view
from ledger.services.receipts import (
    WriteOffRequest,
    apply_receipt,
    create_write_off,
    distribute_receipt,
    load_file,
    reverse_receipt,
    reverse_write_off,
    submit_receipt,
)
from tests.support.databases import fresh_sqlite, ledger_fingerprint, reset_postgres
from tests.support.paths import SAMPLE

NOV = date(2026, 11, 5)
CLOSED_OCT = date(2026, 10, 20)
PRODUCTS = ["DUES", "COURSE", "BOOK", "JOURNAL", "DONATION"]
REASONS = ["BAD_DEBT", "GOODWILL", "SMALL_BALANCE", "OTHER"]


class LedgerMachine(RuleBasedStateMachine):
    """One example = one empty database, the sample organisation, and a random walk of commands."""

    new_database: Callable[[], str]

    orders = Bundle("orders")
    receipts = Bundle("receipts")
    write_offs = Bundle("write_offs")

    def __init__(self) -> None:
        super().__init__()
        self.url = self.new_database()
        self.settings = Settings(database_url=self.url, broker_url=None)
        self.counter = 0

    # --- helpers -------------------------------------------------------------------------------

    def refused_or_done(self, action: Callable[[], object]) -> object | None:
        before = ledger_fingerprint(self.url)
        try:
            result = action()
        except InputRefused as exc:
            event(f"refused: {type(exc).__name__}")
            assert ledger_fingerprint(self.url) == before, "a refused request changed the ledger"
            return None
        event(f"done: {getattr(action, '__qualname__', '').split('.')[1]}")
        return result

    def line_balance_minor(self, number: str, line: int) -> int | None:
        with unit_of_work(self.url) as session:
            for entry in order_view(session, number)["lines"]:
                if entry["line"] == line:
                    return Money.parse(entry["balance"], "USD").minor
        return None

    # --- rules ---------------------------------------------------------------------------------

    @initialize(target=orders)
    def load_sample(self):
        load_file(self.settings, validate_load_file(SAMPLE.read_bytes()))
        return multiple("O-100", "O-101", "O-102")

    @rule(
        target=orders,
        lines=st.lists(
            st.tuples(st.sampled_from(PRODUCTS), st.integers(0, 40_000), st.booleans()),
            min_size=1,
            max_size=4,
        ),
    )
    def load_order(self, lines):
        self.counter += 1
        number = f"P-{self.counter}"
        data = {
            "orders": [
                {
                    "number": number,
                    "customer": "C-3" if self.counter % 5 == 0 else "C-1",
                    "org_unit": "ASSN",
                    "currency": "USD",
                    "date": "2026-11-04",
                    "lines": [
                        {
                            "line": i + 1,
                            "product": product,
                            "amount": str(Money.from_minor(cents, "USD")),
                            "shipped": shipped,
                        }
                        for i, (product, cents, shipped) in enumerate(lines)
                    ],
                }
            ]
        }
        load_file(self.settings, validate_load_file(json.dumps(data)))
        return number

    @rule(
        target=receipts,
        order=orders | st.just("O-NOWHERE") | st.none(),
        cents=st.integers(1, 60_000),
        automated=st.booleans(),
        customer=st.sampled_from([None, "C-2"]),
    )
    def receive(self, order, cents, automated, customer):
        self.counter += 1
        amount = Money.from_minor(cents, "USD")
        request = ReceiptRequest(
            source="lockbox" if automated else "operator",
            external_id=f"K-{self.counter}",
            amount=amount,
            received_date=CLOSED_OCT if automated and cents % 2 else NOV,
            customer=customer,
            allocations=((order, amount),) if order else (),
            automated=automated,
        )
        intake = submit_receipt(self.settings, request)
        view = distribute_receipt(self.settings, intake.receipt_id)
        assert view["status"] in ("applied", "unapplied", "unidentified")
        event(f"receipt {view['status']}")
        return (intake.receipt_id, request)

    @rule(receipt=receipts)
    def resubmit_applies_nothing_twice(self, receipt):
        receipt_id, request = receipt
        before = ledger_fingerprint(self.url)
        intake = submit_receipt(self.settings, request)
        distribute_receipt(self.settings, intake.receipt_id)
        assert (intake.receipt_id, intake.created) == (receipt_id, False)
        assert ledger_fingerprint(self.url) == before

    @rule(receipt=receipts, order=orders, part=st.sampled_from([None, 1, 50, 10_000]))
    def apply_unapplied(self, receipt, order, part):
        amount = None if part is None else str(Money.from_minor(part, "USD"))
        self.refused_or_done(lambda: apply_receipt(self.settings, receipt[0], order, amount))

    @rule(receipt=consumes(receipts))
    def reverse(self, receipt):
        self.refused_or_done(lambda: reverse_receipt(self.settings, receipt[0], "returned check"))

    @rule(
        target=write_offs,
        order=orders,
        line=st.integers(1, 4),
        share=st.sampled_from(["all", "half", "cent", "too_much", "line_amount"]),
        reason=st.sampled_from(REASONS),
        advanced=st.booleans(),
        whole_order=st.booleans(),
    )
    def write_off(self, order, line, share, reason, advanced, whole_order):
        if whole_order:
            result = self.refused_or_done(
                lambda: create_write_off(
                    self.settings,
                    WriteOffRequest(order, None, None, reason, posting_date=NOV, advanced=advanced),
                )
            )
            return multiple(*(result["ids"] if result else ()))
        balance = self.line_balance_minor(order, line)
        if balance is None:
            cents = 100
        else:
            magnitude = abs(balance)
            cents = {
                "all": magnitude,
                "half": magnitude // 2,
                "cent": 1,
                "too_much": magnitude + 1,
                "line_amount": magnitude or 5_000,
            }[share]
        amount = str(Money.from_minor(max(cents, 1), "USD"))
        result = self.refused_or_done(
            lambda: create_write_off(
                self.settings,
                WriteOffRequest(order, line, amount, reason, posting_date=NOV, advanced=advanced),
            )
        )
        return multiple(result["id"]) if result else multiple()

    @rule(write_off=write_offs, part=st.sampled_from([None, 1, 500, 100_000]))
    def reverse_write_off(self, write_off, part):
        amount = None if part is None else str(Money.from_minor(part, "USD"))
        self.refused_or_done(
            lambda: reverse_write_off(self.settings, write_off, amount, posting_date=NOV)
        )

    @rule(order=orders)
    def dry_run_changes_nothing(self, order):
        before = ledger_fingerprint(self.url)
        self.refused_or_done(
            lambda: create_write_off(
                self.settings,
                WriteOffRequest(order, 1, "0.01", "OTHER", posting_date=NOV),
                dry_run=True,
            )
        )
        assert ledger_fingerprint(self.url) == before

    # --- docs/rules.md section 9 -----------------------------------------------------------------------

    @invariant()
    def every_invariant_holds(self):
        with unit_of_work(self.url) as session:
            violations = [str(v) for v in check_invariants(session)]
        assert violations == []

    def teardown(self) -> None:
        if self.url.startswith("sqlite"):
            get_engine(self.url).dispose()


MACHINE_SETTINGS = settings(
    max_examples=30,
    stateful_step_count=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


def test_ledger_invariants_hold_on_sqlite(sqlite_template: Path, tmp_path: Path) -> None:
    class SqliteMachine(LedgerMachine):
        new_database = staticmethod(lambda: fresh_sqlite(sqlite_template, tmp_path))

    run_state_machine_as_test(SqliteMachine, settings=MACHINE_SETTINGS)


def test_ledger_invariants_hold_on_postgres(pg_run_database: str) -> None:
    def emptied() -> str:
        reset_postgres(pg_run_database)
        return pg_run_database

    class PostgresMachine(LedgerMachine):
        new_database = staticmethod(emptied)

    run_state_machine_as_test(PostgresMachine, settings=MACHINE_SETTINGS)


pytestmark = pytest.mark.property
