"""One Stripe payment's events delivered in any order and however often, on PostgreSQL
(docs/rules.md section 12): the payment, two cumulative refunds, a dispute's withdrawal and its
reinstatement end where delivery in order ends, and at no moment is more of the payment's money
on the ledger than the payment brought.

Each example is an empty database, the sample organisation, and a delivery: a permutation of
the five events with some of them sent again at random places. Every event goes through the
adapter's translation and the services, and its work is dispatched in-process as the embedded
ingress does; no sweep runs, so what waited must have been released by what it waited for.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from config.settings import Settings
from ledger.intake import stripe_webhook
from ledger.intake.inputs import parse_json, validate_load_file
from ledger.persistence.db import unit_of_work
from ledger.queries.check import check_invariants
from ledger.services.gateways import submit_notice
from ledger.services.receipts import load_file
from tasks import dispatch
from tests.support.databases import line_balances, reset_postgres
from tests.support.gateway_payloads import (
    charge,
    dispute,
    payment_intent,
    stripe_body,
    stripe_event,
)
from tests.support.paths import SAMPLE

pytestmark = pytest.mark.property

PAID = 12000  # minor units of the payment, on O-101
REFUNDED = (1000, 3000)  # the two refunds' cumulative amount_refunded


def events(disputed: int) -> list[tuple[str, dict]]:
    """The payment's events in the order Stripe sends them when nothing is late."""
    return [
        ("payment_intent.succeeded", payment_intent(amount=PAID)),
        ("charge.refunded", charge(amount=PAID, refunded=REFUNDED[0])),
        ("charge.refunded", charge(amount=PAID, refunded=REFUNDED[1])),
        ("charge.dispute.funds_withdrawn", dispute(amount=disputed)),
        ("charge.dispute.funds_reinstated", dispute(amount=disputed, status="won")),
    ]


def deliver(settings_: Settings, disputed: int, order: list[int]) -> list[int]:
    """Send the events in ``order`` (indexes into :func:`events`), each with its own event id;
    after each, the money the payment's live receipts hold."""
    held = []
    announced = events(disputed)
    for index in order:
        kind, obj = announced[index]
        body = stripe_body(stripe_event(kind, obj, f"evt_{index}", created=1793872800 + index))
        intake = submit_notice(settings_, stripe_webhook.translate(parse_json(body), body))
        dispatch.intake(settings_, *intake.work())
        held.append(live_money(settings_))
    return held


def live_money(settings_: Settings) -> int:
    with unit_of_work(settings_.database_url) as session:
        return int(
            session.execute(
                text(
                    "SELECT coalesce(sum(amount_minor), 0) FROM receipts WHERE status <> 'reversed'"
                )
            ).scalar_one()
        )


def end_state(settings_: Settings) -> tuple[object, ...]:
    """What delivery order must not change: every order line's balance, every GL account's net
    movement, the money live receipts hold, and the inbox (nothing left waiting or failed)."""
    with unit_of_work(settings_.database_url) as session:
        accounts = tuple(
            session.execute(
                text(
                    "SELECT account, sum(debit_minor) - sum(credit_minor) FROM journal_lines "
                    "GROUP BY account ORDER BY account"
                )
            ).all()
        )
        unsettled = session.execute(
            text("SELECT count(*) FROM intake_events WHERE status <> 'done'")
        ).scalar_one()
        assert [str(v) for v in check_invariants(session)] == []
        return line_balances(session), accounts, unsettled


# The end state of delivery in order, by disputed amount: the same in every example.
IN_ORDER: dict[int, tuple[object, ...]] = {}


def fresh(url: str) -> Settings:
    reset_postgres(url)
    settings_ = Settings(database_url=url, broker_url=None)
    load_file(settings_, validate_load_file(SAMPLE.read_bytes()))
    return settings_


@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    disputed=st.sampled_from([2000, PAID - REFUNDED[1]]),  # part of it, or all still held
    order=st.permutations(range(5)),
    again=st.lists(st.tuples(st.integers(0, 4), st.integers(0, 9)), max_size=4),
)
def test_any_delivery_order_with_repeats_ends_as_delivery_in_order_does(
    pg_run_database, disputed, order, again
):
    if disputed not in IN_ORDER:
        in_order = fresh(pg_run_database)
        deliver(in_order, disputed, list(range(5)))
        IN_ORDER[disputed] = end_state(in_order)
    expected = IN_ORDER[disputed]
    assert expected[2] == 0  # in order, every event is settled

    delivery = list(order)
    for index, place in again:
        delivery.insert(min(place, len(delivery)), index)
    settings_ = fresh(pg_run_database)
    held = deliver(settings_, disputed, delivery)
    # Never for a moment more money than the payment brought (a reinstatement taken before its
    # withdrawal would count the disputed amount twice).
    assert max(held) <= PAID, (delivery, held)
    assert end_state(settings_) == expected, delivery
    assert held[-1] == PAID - REFUNDED[1]
