"""The ledger services on real databases — SQLite and PostgreSQL in turn (the ``settings`` fixture).

Each test drives a service as the CLI, a task or the ingress would, then reads the result back
from the database and runs `arledger check`'s invariants.
"""

from __future__ import annotations

import json
from datetime import date

import pytest
from sqlalchemy import func, select, text

from ledger.domain.errors import (
    ApplyExceedsUnapplied,
    ChildWriteOffMustBeFullBalance,
    CurrencyMismatch,
    IdempotencyConflict,
    InactiveAccount,
    InvalidInput,
    NothingUnapplied,
    PeriodClosed,
    ProductNotShipped,
    ReceiptAlreadyReversed,
    UnknownAccount,
    UnknownCustomer,
    UnknownOrder,
    WriteOffExceedsBalance,
)
from ledger.domain.money import Money
from ledger.intake.commands import ReceiptRequest
from ledger.intake.inputs import validate_load_file
from ledger.persistence import schema
from ledger.persistence.db import unit_of_work
from ledger.queries.check import check_invariants
from ledger.queries.views import journal_dicts, journal_ids, order_view, receipt_view
from ledger.services.receipts import (
    WriteOffRequest,
    apply_receipt,
    create_write_off,
    distribute_receipt,
    load_file,
    retry_receipt,
    reverse_receipt,
    reverse_write_off,
    submit_receipt,
)

NOV = date(2026, 11, 5)


def usd(text_: str) -> Money:
    return Money.parse(text_, "USD")


def receive(
    settings,
    external_id,
    amount,
    order=None,
    *,
    day=NOV,
    automated=False,
    customer=None,
    currency="USD",
):
    money = Money.parse(amount, currency)
    intake = submit_receipt(
        settings,
        ReceiptRequest(
            source="operator" if not automated else "lockbox",
            external_id=external_id,
            amount=money,
            received_date=day,
            customer=customer,
            allocations=((order, money),) if order else (),
            automated=automated,
        ),
    )
    return distribute_receipt(settings, intake.receipt_id)


def balances(settings, number):
    with unit_of_work(settings.database_url) as session:
        view = order_view(session, number)
    return [line["balance"] for line in view["lines"]]


def assert_sound(settings):
    with unit_of_work(settings.database_url) as session:
        assert [str(v) for v in check_invariants(session)] == []


def counts(settings):
    with unit_of_work(settings.database_url) as session:
        return tuple(
            session.execute(select(func.count()).select_from(table)).scalar_one()
            for table in (schema.Journal, schema.JournalLine, schema.WriteOff, schema.Receipt)
        )


def write_off(settings, order, line, amount, reason="BAD_DEBT", **options):
    return create_write_off(
        settings, WriteOffRequest(order, line, amount, reason, posting_date=NOV, **options)
    )


# --- load --------------------------------------------------------------------------------------


def test_loading_posts_one_balanced_sale_journal_per_order(loaded):
    with unit_of_work(loaded.database_url) as session:
        sales = journal_dicts(session, journal_ids(session, journal_type="SALE"))
    assert [j["order"] for j in sales] == ["O-100", "O-101", "O-102"]
    first = sales[0]
    assert first["lines"][:2] == [
        {"account": "1100", "debit": "200.00", "credit": "0.00", "order": "O-100", "line": 1},
        {"account": "4000", "debit": "0.00", "credit": "200.00", "order": "O-100", "line": 1},
    ]
    assert balances(loaded, "O-100") == ["200.00", "50.00", "100.00"]
    assert_sound(loaded)


def test_loading_the_same_file_twice_changes_nothing(loaded):
    from tests.support.paths import SAMPLE

    before = counts(loaded)
    summary = load_file(loaded, validate_load_file(SAMPLE.read_bytes()))
    assert summary.created == {} and summary.updated == {} and summary.sale_journals == 0
    assert counts(loaded) == before


def test_loading_upserts_reference_data_and_adds_new_lines(loaded):
    data = {
        "accounts": [{"code": "6100", "name": "Bad debts", "type": "expense"}],
        "orders": [
            {
                "number": "O-100",
                "customer": "C-1",
                "org_unit": "ASSN",
                "currency": "USD",
                "date": "2026-11-01",
                "lines": [{"line": 4, "product": "DUES", "amount": "15.00"}],
            }
        ],
    }
    summary = load_file(loaded, validate_load_file(json.dumps(data)))
    assert summary.updated == {"accounts": 1, "orders": 1} and summary.sale_journals == 1
    assert balances(loaded, "O-100") == ["200.00", "50.00", "100.00", "15.00"]
    assert_sound(loaded)


def test_an_invoiced_line_amount_cannot_change_on_reload(loaded):
    data = {
        "orders": [
            {
                "number": "O-100",
                "customer": "C-1",
                "org_unit": "ASSN",
                "currency": "USD",
                "date": "2026-11-01",
                "lines": [{"line": 1, "product": "COURSE", "amount": "210.00"}],
            }
        ]
    }
    before = counts(loaded)
    with pytest.raises(InvalidInput, match="line 1 is invoiced as COURSE 200.00"):
        load_file(loaded, validate_load_file(json.dumps(data)))
    assert counts(loaded) == before


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            {
                "orders": [
                    {
                        "number": "O-9",
                        "customer": "NOBODY",
                        "org_unit": "ASSN",
                        "currency": "USD",
                        "date": "2026-11-01",
                        "lines": [{"line": 1, "product": "DUES", "amount": "1.00"}],
                    }
                ]
            },
            "unknown customer NOBODY",
        ),
        (
            {
                "orders": [
                    {
                        "number": "O-9",
                        "customer": "C-1",
                        "org_unit": "ASSN",
                        "currency": "USD",
                        "date": "2026-11-01",
                        "lines": [{"line": 1, "product": "NOPE", "amount": "1.00"}],
                    }
                ]
            },
            "unknown product NOPE",
        ),
        (
            {
                "products": [
                    {
                        "code": "X",
                        "subsystem": "MTG",
                        "priority": 1,
                        "revenue_account": "9999",
                        "writeoff_account": "6100",
                    }
                ]
            },
            "unknown GL account 9999",
        ),
        (
            {
                "products": [
                    {
                        "code": "X",
                        "subsystem": "MTG",
                        "priority": 1,
                        "revenue_account": "1100",
                        "writeoff_account": "6100",
                    }
                ]
            },
            "is an AR account",
        ),
        ({"periods": [{"name": "X", "start": "2026-11-15", "end": "2026-12-15"}]}, "overlap"),
    ],
)
def test_a_load_file_that_contradicts_the_database_is_refused_whole(loaded, data, message):
    before = counts(loaded)
    with pytest.raises(InvalidInput, match=message):
        load_file(
            loaded,
            validate_load_file(
                json.dumps(
                    {"accounts": [{"code": "7000", "name": "New", "type": "expense"}], **data}
                )
            ),
        )
    assert counts(loaded) == before
    with unit_of_work(loaded.database_url) as session:
        assert session.get(schema.Account, "7000") is None


# --- receipts ----------------------------------------------------------------------------------


def test_a_receipt_is_distributed_by_priority_and_stored_balanced(loaded):
    view = receive(loaded, "R1", "150.00", "O-101")
    assert (view["status"], view["applied"], view["unapplied"]) == ("applied", "150.00", "0.00")
    assert balances(loaded, "O-101") == ["75.00", "10.00", "0.00"]
    assert_sound(loaded)


def test_worked_example_end_to_end_on_the_database(loaded):
    write_off(loaded, "O-100", 2, "30.00")
    write_off(loaded, "O-100", 3, "10.00", "OTHER", advanced=True)
    view = receive(loaded, "R1", "400.00", "O-100")
    assert balances(loaded, "O-100") == ["-60.00", "0.00", "0.00"]
    with unit_of_work(loaded.database_url) as session:
        receipt_journal, reversal = journal_dicts(session, view["journals"])
    assert receipt_journal["type"] == "RECEIPT"
    assert [
        (x["account"], x["debit"], x["credit"], x.get("line")) for x in receipt_journal["lines"]
    ] == [
        ("1000", "400.00", "0.00", None),
        ("1100", "0.00", "90.00", 3),
        ("1100", "0.00", "200.00", 1),
        ("1100", "0.00", "20.00", 2),
        ("1100", "0.00", "30.00", 2),
        ("1100", "0.00", "60.00", 1),
    ]
    assert reversal["type"] == "WRITE_OFF_REVERSAL"
    assert [(x["account"], x["debit"], x["credit"]) for x in reversal["lines"]] == [
        ("1100", "30.00", "0.00"),
        ("6100", "0.00", "30.00"),
    ]
    assert_sound(loaded)


def test_a_repeated_external_id_applies_nothing_twice(loaded):
    first = receive(loaded, "R1", "50.00", "O-100")
    before = counts(loaded)
    again = receive(loaded, "R1", "50.00", "O-100")
    assert again["id"] == first["id"] and counts(loaded) == before
    assert balances(loaded, "O-100") == ["200.00", "50.00", "50.00"]


@pytest.mark.parametrize(("amount", "order"), [("51.00", "O-100"), ("50.00", "O-101")])
def test_the_same_external_id_with_a_different_amount_or_order_is_refused(loaded, amount, order):
    receive(loaded, "R1", "50.00", "O-100")
    before = counts(loaded)
    with pytest.raises(IdempotencyConflict, match="external id R1 was already used"):
        receive(loaded, "R1", amount, order)
    assert counts(loaded) == before


def test_distributing_a_receipt_twice_changes_nothing_the_second_time(loaded):
    view = receive(loaded, "R1", "50.00", "O-100")
    before = counts(loaded)
    assert distribute_receipt(loaded, view["id"])["status"] == "applied"
    assert counts(loaded) == before


def test_a_receipt_for_an_unknown_order_is_kept_unapplied_for_its_customer(loaded):
    view = receive(loaded, "R1", "60.00", "O-999", customer="C-2")
    assert (view["status"], view["unapplied"], view["customer"]) == ("unapplied", "60.00", "C-2")
    assert "O-999 not found" in view["reason"]
    with unit_of_work(loaded.database_url) as session:
        (journal,) = journal_dicts(session, view["journals"])
    assert journal["type"] == "UNAPPLIED" and journal["code"] == 1
    assert [(x["account"], x["debit"], x["credit"]) for x in journal["lines"]] == [
        ("1000", "60.00", "0.00"),
        ("2100", "0.00", "60.00"),
    ]
    assert_sound(loaded)


def test_a_receipt_with_no_customer_and_no_order_is_unidentified(loaded):
    assert receive(loaded, "R1", "60.00")["status"] == "unidentified"


def test_an_unapplied_receipt_applied_later_runs_the_same_distribution(loaded):
    parked = receive(loaded, "R1", "100.00", customer="C-2")
    view = apply_receipt(loaded, parked["id"], "O-101", "60.00")
    assert (view["status"], view["applied"], view["unapplied"]) == ("unapplied", "60.00", "40.00")
    assert balances(loaded, "O-101") == ["75.00", "40.00", "60.00"]
    view = apply_receipt(loaded, parked["id"], "O-101")
    assert (view["status"], view["applied"], view["unapplied"]) == ("applied", "100.00", "0.00")
    with unit_of_work(loaded.database_url) as session:
        transfers = journal_dicts(session, journal_ids(session, journal_type="TRANSFER"))
    assert [t["lines"][0]["account"] for t in transfers] == ["2100", "2100"]
    with pytest.raises(NothingUnapplied):
        apply_receipt(loaded, parked["id"], "O-101")
    assert_sound(loaded)


def test_applying_more_than_is_unapplied_or_to_an_unknown_order_is_refused(loaded):
    parked = receive(loaded, "R1", "10.00", customer="C-2")
    before = counts(loaded)
    with pytest.raises(ApplyExceedsUnapplied):
        apply_receipt(loaded, parked["id"], "O-101", "10.01")
    with pytest.raises(UnknownOrder):
        apply_receipt(loaded, parked["id"], "O-404")
    assert counts(loaded) == before


def test_exceptions_retry_applies_a_receipt_once_its_order_exists(loaded):
    parked = receive(loaded, "R1", "40.00", "O-200", customer="C-1")
    data = {
        "orders": [
            {
                "number": "O-200",
                "customer": "C-1",
                "org_unit": "ASSN",
                "currency": "USD",
                "date": "2026-11-09",
                "lines": [{"line": 1, "product": "DUES", "amount": "40.00"}],
            }
        ]
    }
    load_file(loaded, validate_load_file(json.dumps(data)))
    assert retry_receipt(loaded, parked["id"])["status"] == "applied"
    assert balances(loaded, "O-200") == ["0.00"]
    assert_sound(loaded)


def test_an_operator_receipt_in_another_currency_than_its_order_is_refused(loaded):
    before = counts(loaded)
    with pytest.raises(CurrencyMismatch):
        receive(loaded, "R1", "10.00", "O-100", currency="EUR")
    assert counts(loaded) == before


def test_an_operator_receipt_for_an_unknown_customer_is_refused(loaded):
    with pytest.raises(UnknownCustomer):
        receive(loaded, "R1", "10.00", customer="C-404")


def test_an_operator_receipt_dated_in_a_closed_period_is_refused(loaded):
    before = counts(loaded)
    with pytest.raises(PeriodClosed):
        receive(loaded, "R1", "10.00", "O-100", day=date(2026, 10, 20))
    assert counts(loaded) == before


def test_an_automated_receipt_dated_in_a_closed_period_posts_on_the_next_open_day(loaded):
    view = receive(loaded, "R1", "10.00", "O-100", day=date(2026, 10, 20), automated=True)
    with unit_of_work(loaded.database_url) as session:
        (journal,) = journal_dicts(session, view["journals"])
    assert (journal["date"], journal["original_date"]) == ("2026-11-01", "2026-10-20")
    assert view["date"] == "2026-10-20"


# --- receipt reversal --------------------------------------------------------------------------


def test_a_receipt_reversal_restores_the_order_and_the_write_offs_it_reversed(loaded):
    write_off(loaded, "O-100", 2, "30.00")
    before = balances(loaded, "O-100")
    view = receive(loaded, "R1", "400.00", "O-100")
    reversed_view = reverse_receipt(loaded, view["id"], "returned check")
    assert (reversed_view["status"], reversed_view["reversed"], reversed_view["applied"]) == (
        "reversed",
        "400.00",
        "0.00",
    )
    assert balances(loaded, "O-100") == before
    with unit_of_work(loaded.database_url) as session:
        order = order_view(session, "O-100")
        mirrors = journal_dicts(session, journal_ids(session, journal_type="RECEIPT_REVERSAL"))
    assert order["lines"][1]["write_offs"][0]["reversed"] == "0.00"
    assert sorted(m["reverses"] for m in mirrors) == sorted(view["journals"])
    assert all(m["memo"] == "returned check" for m in mirrors)
    assert_sound(loaded)


def test_a_receipt_cannot_be_reversed_twice(loaded):
    view = receive(loaded, "R1", "10.00", "O-100")
    reverse_receipt(loaded, view["id"], "chargeback")
    with pytest.raises(ReceiptAlreadyReversed):
        reverse_receipt(loaded, view["id"], "chargeback")


def test_reversing_an_unapplied_receipt_after_part_was_applied_returns_all_of_it(loaded):
    parked = receive(loaded, "R1", "100.00", customer="C-2")
    apply_receipt(loaded, parked["id"], "O-101", "30.00")
    view = reverse_receipt(loaded, parked["id"], "returned check")
    assert (view["applied"], view["unapplied"], view["reversed"]) == ("0.00", "0.00", "100.00")
    assert balances(loaded, "O-101") == ["75.00", "40.00", "120.00"]
    assert_sound(loaded)


# --- write-offs --------------------------------------------------------------------------------


def test_a_dry_run_returns_the_write_off_balance_and_journal_and_changes_nothing(loaded):
    before = counts(loaded)
    preview = create_write_off(
        loaded, WriteOffRequest("O-100", 1, "25.00", "GOODWILL", posting_date=NOV), dry_run=True
    )
    assert (preview["dry_run"], preview["new_balance"], preview["id"]) == (True, "175.00", None)
    assert [(x["account"], x["debit"], x["credit"]) for x in preview["journal"]["lines"]] == [
        ("6100", "25.00", "0.00"),
        ("1100", "0.00", "25.00"),
    ]
    assert counts(loaded) == before and balances(loaded, "O-100")[0] == "200.00"


def test_write_off_refusals_change_nothing(loaded):
    before = counts(loaded)
    for request, error in [
        (WriteOffRequest("O-100", 1, "200.01", "BAD_DEBT"), WriteOffExceedsBalance),
        (WriteOffRequest("O-102", 2, "25.00", "BAD_DEBT"), ProductNotShipped),
        (WriteOffRequest("O-102", 1, "20.00", "BAD_DEBT"), ChildWriteOffMustBeFullBalance),
        (WriteOffRequest("O-100", 1, "1.00", "BAD_DEBT", account="9999"), UnknownAccount),
        (WriteOffRequest("O-404", 1, "1.00", "BAD_DEBT"), UnknownOrder),
        (
            WriteOffRequest("O-100", 1, "1.00", "BAD_DEBT", posting_date=date(2026, 10, 3)),
            PeriodClosed,
        ),
    ]:
        with pytest.raises(error):
            create_write_off(loaded, request)
    assert counts(loaded) == before


def test_an_inactive_override_account_is_refused(loaded):
    load_file(
        loaded,
        validate_load_file(
            json.dumps(
                {"accounts": [{"code": "6200", "name": "Old", "type": "expense", "active": False}]}
            )
        ),
    )
    with pytest.raises(InactiveAccount):
        write_off(loaded, "O-100", 1, "1.00", account="6200")


def test_a_child_billed_to_its_parent_can_write_off_a_full_unpaid_line(loaded):
    result = write_off(loaded, "O-102", 1, "60.00")
    assert result["new_balance"] == "0.00"
    assert_sound(loaded)


def test_a_credit_balance_write_off_and_its_reversal_on_the_database(loaded):
    receive(loaded, "R1", "360.00", "O-100")  # 10.00 over: line 1 ends at -10.00
    result = write_off(loaded, "O-100", 1, "10.00", "SMALL_BALANCE")
    assert (result["kind"], result["account"], result["new_balance"]) == ("credit", "2200", "0.00")
    reversal = reverse_write_off(loaded, result["id"], "4.00")
    assert (reversal["unreversed"], reversal["line_balance"]) == ("6.00", "-4.00")
    assert_sound(loaded)


def test_a_whole_order_write_off_is_one_write_off_per_owed_line(loaded):
    receive(loaded, "R1", "100.00", "O-100")  # pays DUES
    result = create_write_off(
        loaded, WriteOffRequest("O-100", None, None, "BAD_DEBT", posting_date=NOV)
    )
    assert [(w["line"], w["amount"]) for w in result["write_offs"]] == [(1, "200.00"), (2, "50.00")]
    assert balances(loaded, "O-100") == ["0.00", "0.00", "0.00"]
    assert_sound(loaded)


# --- guards in the database itself -------------------------------------------------------------


def test_posted_journals_cannot_be_updated_or_deleted(loaded):
    from sqlalchemy.exc import DatabaseError

    receive(loaded, "R1", "10.00", "O-100")
    write_off(loaded, "O-100", 1, "5.00")
    for statement in (
        "UPDATE journal_lines SET debit_minor = debit_minor + 1 WHERE debit_minor > 0",
        "DELETE FROM journals",
        "UPDATE write_offs SET amount_minor = 1",
        "UPDATE order_lines SET amount_minor = 1",
        "DELETE FROM receipts",
    ):
        with (
            unit_of_work(loaded.database_url) as session,
            pytest.raises(DatabaseError, match="refused"),
        ):
            session.execute(text(statement))
            session.flush()


def test_check_reports_a_tampered_ledger(loaded):
    """With the guard triggers dropped (as a careless migration might), check still catches it."""
    receive(loaded, "R1", "50.00", "O-100")
    with unit_of_work(loaded.database_url) as session:
        if session.get_bind().dialect.name == "postgresql":
            session.execute(text("ALTER TABLE journal_lines DISABLE TRIGGER USER"))
        else:
            session.execute(text("DROP TRIGGER journal_lines_no_update"))
        session.execute(
            text(
                "UPDATE journal_lines SET credit_minor = credit_minor + 100 WHERE credit_minor > 0 AND journal_id = (SELECT MAX(id) FROM journals)"
            )
        )
        session.commit()
    with unit_of_work(loaded.database_url) as session:
        found = {v.invariant for v in check_invariants(session)}
    assert {1, 2, 5} <= found


def test_check_reports_a_write_off_marked_automatic_after_posting(loaded):
    """Whether matching or a clerk made a write-off is part of what the audit hash seals."""
    write_off(loaded, "O-100", 1, "25.00")
    with unit_of_work(loaded.database_url) as session:
        assert check_invariants(session) == []
        if session.get_bind().dialect.name == "postgresql":
            session.execute(text("ALTER TABLE write_offs DISABLE TRIGGER USER"))
        else:
            session.execute(text("DROP TRIGGER write_offs_no_update"))
        changed = session.execute(
            text(
                "UPDATE write_offs SET automatic = NOT automatic WHERE id = (SELECT MIN(id) FROM write_offs)"
            )
        ).rowcount
        session.commit()
    assert changed == 1
    with unit_of_work(loaded.database_url) as session:
        found = [v for v in check_invariants(session) if v.invariant == 5]
    assert found and "audit hash mismatch" in found[0].message


def test_postgres_refuses_to_commit_an_unbalanced_journal(pg_run_database):
    """The deferred constraint trigger is PostgreSQL's; on SQLite the domain check and `check` guard."""
    from sqlalchemy.exc import IntegrityError

    from tests.support.databases import reset_postgres
    from tests.support.paths import SAMPLE

    reset_postgres(pg_run_database)
    from config.settings import Settings

    load_file(Settings(database_url=pg_run_database), validate_load_file(SAMPLE.read_bytes()))
    with unit_of_work(pg_run_database) as session:
        session.execute(text("INSERT INTO ledger_commits (id) VALUES (999)"))
        session.execute(
            text(
                "INSERT INTO journals (id, commit_id, type, code, currency, amount_minor, posting_date) "
                "VALUES (999, 999, 'RECEIPT', 1, 'USD', 100, '2026-11-05')"
            )
        )
        session.execute(
            text(
                "INSERT INTO journal_lines (id, journal_id, account, debit_minor, credit_minor) VALUES (9991, 999, '1000', 100, 0)"
            )
        )
        session.execute(
            text(
                "INSERT INTO journal_lines (id, journal_id, account, debit_minor, credit_minor) VALUES (9992, 999, '1100', 0, 99)"
            )
        )
        with pytest.raises(IntegrityError, match="unbalanced journal 999"):
            session.commit()


def test_intake_keys_are_unique_in_the_database(loaded):
    from sqlalchemy.exc import IntegrityError

    receive(loaded, "R1", "1.00", "O-100")
    with unit_of_work(loaded.database_url) as session, pytest.raises(IntegrityError):
        session.execute(
            text(
                "INSERT INTO receipts (source, external_key, payload_hash, currency, amount_minor, received_date, "
                "automated, request, status) VALUES ('operator', 'operator:R1', 'x', 'USD', 100, '2026-11-05', false, '{}', 'queued')"
            )
        )
        session.flush()


def test_receipt_view_reports_where_the_money_went(loaded):
    view = receive(loaded, "R1", "10.00", "O-100")
    with unit_of_work(loaded.database_url) as session:
        assert receipt_view(session, view["id"])["orders"] == ["O-100"]


@pytest.mark.parametrize(
    ("customer", "org_unit", "stored", "reason"),
    [
        ("C-1", "ASSN", ("C-1", "ASSN"), None),
        ("C-404", "NOWHERE", (None, None), "unknown customer C-404"),
        (None, None, (None, None), None),
    ],
)
def test_an_automated_receipt_is_recorded_whatever_names_it_carries(
    loaded, customer, org_unit, stored, reason
):
    """Gateway and bank receipts are never refused for an unknown customer or org unit: the
    names stay in the request, the columns stay empty, the reason names the customer; the same
    intake again is recognised, not recorded twice."""
    amount = Money.parse("10.00", "USD")
    request = ReceiptRequest(
        "gateway",
        "evt-auto",
        amount,
        date(2026, 11, 5),
        customer=customer,
        org_unit=org_unit,
        automated=True,
        reference="stripe:pi-auto",
    )
    first = submit_receipt(loaded, request)
    again = submit_receipt(loaded, request)
    assert first.created and not again.created and again.receipt_id == first.receipt_id
    with unit_of_work(loaded.database_url) as session:
        row = session.get(schema.Receipt, first.receipt_id)
        assert (row.customer_id, row.org_unit) == stored
        assert (row.status, row.status_reason) == ("queued", reason)
        assert json.loads(row.request)["customer"] == customer
