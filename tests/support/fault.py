"""What the fault tests share: a seeded organisation, lockbox files to import, and audits that read
the real state back — the cash each intake item brought in, the journals on the GL stream, the
broker's queues — so every figure the suite prints is measured, never assumed.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import redis
from sqlalchemy import func, select

from config.settings import Settings
from ledger.domain.money import Money
from ledger.intake.inputs import validate_load_file
from ledger.intake.lockbox import LockboxItem, write_bai
from ledger.persistence import schema
from ledger.persistence.db import dispose_engines, unit_of_work
from ledger.persistence.schema import (
    INTAKE_EVENTS,
    JOURNAL_LINES,
    JOURNALS,
    POISON_MESSAGES,
    RECEIPTS,
)
from ledger.queries.check import check_invariants
from ledger.queries.views import journal_ids
from ledger.services.receipts import WriteOffRequest, create_write_off, load_file
from tests.support import figures
from tests.support.databases import line_balances
from tests.support.paths import SAMPLE
from tests.support.processes import ARLEDGER, pipeline_env, run_ok, wait_until

DEPOSITED = date(2026, 11, 6)
CASH = "1000"  # the sample org unit's cash account
PRODUCTS = ("COURSE", "DUES", "DONATION", "JOURNAL")
ORDERS = figures.scaled(60, 400)  # the size of the organisation the `faulty` fixture seeds


# --- the organisation ------------------------------------------------------------------------


def seed(settings: Settings, orders: int, *, write_offs: bool = True, seed_value: int = 6) -> None:
    """The sample organisation plus ``orders`` orders F-0000… of three lines each; with
    ``write_offs``, every third order carries a standard write-off (reversible by an
    overpayment) and every fifth an advanced adjustment (never reversed by a receipt)."""
    rng = random.Random(seed_value)
    load_file(settings, validate_load_file(SAMPLE.read_bytes()))
    data = {
        "orders": [
            {
                "number": f"F-{n:04d}",
                "customer": "C-1" if n % 2 else "C-2",
                "org_unit": "ASSN",
                "currency": "USD",
                "date": "2026-11-01",
                "lines": [
                    {
                        "line": line,
                        "product": rng.choice(PRODUCTS),
                        "amount": str(Money.from_minor(rng.randint(1_000, 30_000), "USD")),
                    }
                    for line in (1, 2, 3)
                ],
            }
            for n in range(orders)
        ]
    }
    load_file(settings, validate_load_file(json.dumps(data).encode()))
    if write_offs:
        for n in range(0, orders, 3):
            create_write_off(
                settings,
                WriteOffRequest(f"F-{n:04d}", 2, "5.00", "BAD_DEBT", posting_date=DEPOSITED),
            )
        for n in range(0, orders, 5):
            create_write_off(
                settings,
                WriteOffRequest(
                    f"F-{n:04d}", 3, "3.00", "GOODWILL", posting_date=DEPOSITED, advanced=True
                ),
            )
    dispose_engines()


# --- lockbox files ---------------------------------------------------------------------------


@dataclass(frozen=True)
class LockboxFile:
    """A written lockbox file and, per intake key suffix (``batch:item``), the cents it holds."""

    path: Path
    amounts: dict[str, int]


def lockbox_file(
    path: Path, items: int, orders: int, *, bank_file_id: str, seed_value: int = 7
) -> LockboxFile:
    """A BAI lockbox of ``items`` checks on orders F-0000…: most pay one order, some split across
    two (the rest unapplied), one in ten names an order that does not exist and no customer
    (unidentified). Those name no customer so that matching has nobody's orders to try: a check
    for C-1 naming no usable order would be matched against C-1's balances as they stand when it
    is distributed, which depends on the order the batches run in, and the fault tests compare a
    faulted run with a clean one."""
    rng = random.Random(seed_value)
    checks: list[LockboxItem] = []
    for i in range(items):
        amount = rng.randint(100, 40_000)
        kind = rng.random()
        if kind < 0.1:
            allocations = ((f"NOPE-{i}", Money.from_minor(amount, "USD")),)
        elif kind < 0.25 and amount > 200:
            first = rng.randint(50, amount // 2)
            allocations = (
                (f"F-{rng.randrange(orders):04d}", Money.from_minor(first, "USD")),
                (f"F-{rng.randrange(orders):04d}", Money.from_minor(amount // 2, "USD")),
            )
        else:
            allocations = ((f"F-{rng.randrange(orders):04d}", Money.from_minor(amount, "USD")),)
        checks.append(
            LockboxItem(
                # Unpadded, as the reader gives them back (the BAI writer pads to the field).
                batch=str(1 + i // 50),
                item=str(i % 50 + 1),
                deposit_date=DEPOSITED,
                check_number=f"{20_000 + i}",
                amount=Money.from_minor(amount, "USD"),
                customer=None if kind < 0.1 else "C-1",
                allocations=allocations,
                line=0,
            )
        )
    with path.open("w") as handle:
        write_bai(checks, handle, bank_file_id=bank_file_id, created=DEPOSITED)
    return LockboxFile(path, {f"{c.batch}:{c.item}": c.amount.minor for c in checks})


def import_lockbox_no_wait(env: dict[str, str], path: Path) -> dict:
    """`arledger lockbox import FILE --json --no-wait`, as an operator runs it."""
    result = run_ok([ARLEDGER, "lockbox", "import", str(path), "--json", "--no-wait"], env)
    return json.loads(result.stdout)


def run_sweep(env: dict[str, str]) -> dict:
    """`arledger sweep --json` with no grace period: re-dispatch every unprocessed intake."""
    result = run_ok([ARLEDGER, "sweep", "--json"], {**env, "ARLEDGER_SWEEP_GRACE_SECONDS": "0"})
    return json.loads(result.stdout)


# --- reading the state back ------------------------------------------------------------------


def unprocessed(url: str) -> int:
    """Receipts still queued plus events still queued or waiting: intake not yet processed."""
    with unit_of_work(url) as session:
        receipts = session.execute(
            select(func.count()).where(RECEIPTS.c.status == "queued")
        ).scalar_one()
        events = session.execute(
            select(func.count()).where(INTAKE_EVENTS.c.status.in_(("queued", "waiting")))
        ).scalar_one()
    return int(receipts) + int(events)


def pending_summary(url: str) -> str:
    """What is still unprocessed, for a failure message: receipt and event ids with statuses."""
    with unit_of_work(url) as session:
        receipts = session.execute(
            select(RECEIPTS.c.id, RECEIPTS.c.source, RECEIPTS.c.status_reason)
            .where(RECEIPTS.c.status == "queued")
            .limit(10)
        ).all()
        events = session.execute(
            select(INTAKE_EVENTS.c.id, INTAKE_EVENTS.c.status, INTAKE_EVENTS.c.status_reason)
            .where(INTAKE_EVENTS.c.status.in_(("queued", "waiting")))
            .limit(10)
        ).all()
    return f"queued receipts {[tuple(r) for r in receipts]}, events {[tuple(e) for e in events]}"


def wait_until_processed(url: str, timeout: float = 90, what: str = "the intake") -> None:
    """Wait until no intake is unprocessed; on timeout, say which intake is left."""
    try:
        wait_until(lambda: unprocessed(url) == 0, timeout=timeout, what=what)
    except AssertionError as exc:
        raise AssertionError(f"{exc}; left: {pending_summary(url)}") from None


def poison_messages(url: str) -> list[str]:
    with unit_of_work(url) as session:
        return [
            f"{row.task}: {row.reason}"
            for row in session.execute(select(POISON_MESSAGES.c.task, POISON_MESSAGES.c.reason))
        ]


def net_cash_by_key(url: str) -> dict[str, int]:
    """For every receipt, by intake key: the cash its journals moved (debits minus credits on the
    cash account) — what the bank's money became in the ledger, read from the journal lines."""
    with unit_of_work(url) as session:
        keys = dict(session.execute(select(RECEIPTS.c.id, RECEIPTS.c.external_key)).all())
        cash = dict(
            session.execute(
                select(
                    JOURNALS.c.receipt_id,
                    func.sum(JOURNAL_LINES.c.debit_minor - JOURNAL_LINES.c.credit_minor),
                )
                .join(JOURNALS, JOURNALS.c.id == JOURNAL_LINES.c.journal_id)
                .where(JOURNAL_LINES.c.account == CASH, JOURNALS.c.receipt_id.is_not(None))
                .group_by(JOURNALS.c.receipt_id)
            ).all()
        )
    return {key: int(cash.get(receipt_id, 0)) for receipt_id, key in keys.items()}


def cents_audit(expected: dict[str, int], actual: dict[str, int]) -> tuple[int, int]:
    """(cents lost, cents doubled): per intake key, money that should be in the ledger and is
    not, and money that is in it more than once (or that no intake explains)."""
    lost = doubled = 0
    for key in expected.keys() | actual.keys():
        difference = actual.get(key, 0) - expected.get(key, 0)
        if difference < 0:
            lost -= difference
        else:
            doubled += difference
    return lost, doubled


def lockbox_cash(url: str, file: LockboxFile, sha256: str) -> dict[str, int]:
    """The audit of a lockbox file: expected cents per intake key from the file as written."""
    expected = {f"lockbox:{sha256}:{suffix}": cents for suffix, cents in file.amounts.items()}
    actual = {k: v for k, v in net_cash_by_key(url).items() if k.startswith("lockbox:")}
    lost, doubled = cents_audit(expected, actual)
    figures.record(items_audited=len(expected), cents_lost=lost, cents_doubled=doubled)
    return {"lost": lost, "doubled": doubled}


def violations(url: str) -> list[str]:
    """`arledger check`'s findings, recorded in the figures before anyone asserts on them."""
    with unit_of_work(url) as session:
        found = [str(v) for v in check_invariants(session)]
    figures.record(invariant_violations=len(found))
    return found


def ledger_state(url: str) -> tuple[object, ...]:
    """The final state that must not depend on delivery order or faults: every line balance,
    every receipt's status, every write-off's reversed amount, every account's GL balance.

    Unlike ``ledger_fingerprint`` it leaves out journal counts: when two receipts on one order
    are distributed in the other order, an overpayment may reverse the same write-offs in a
    different number of journals — same amounts, same balances.
    """
    from ledger.persistence.orders import reversed_of, write_offs_with_reversed

    with unit_of_work(url) as session:
        balances = line_balances(session)
        statuses = tuple(
            session.execute(
                select(RECEIPTS.c.external_key, RECEIPTS.c.status).order_by(RECEIPTS.c.external_key)
            ).all()
        )
        accounts = tuple(
            session.execute(
                select(
                    JOURNAL_LINES.c.account,
                    func.sum(JOURNAL_LINES.c.debit_minor - JOURNAL_LINES.c.credit_minor),
                )
                .group_by(JOURNAL_LINES.c.account)
                .order_by(JOURNAL_LINES.c.account)
            ).all()
        )
        reversed_ = tuple(
            (int(row.id), reversed_of(row))
            for row in session.execute(
                write_offs_with_reversed().order_by(schema.WRITE_OFFS.c.id)
            ).all()
        )
    return balances, statuses, accounts, reversed_


# --- the GL stream and the broker ------------------------------------------------------------


STREAM = "arledger:gl"


def stream_audit(redis_url: str, database_url: str) -> dict[str, object]:
    """Compare the journals on the Redis stream with the ledger: ``first_seen`` in stream order
    must equal the journal ids in commit order (none lost, none out of order, no stranger);
    ``repeats`` are entries of an id already seen, ``conflicts`` repeats whose body differs."""
    entries = redis.Redis.from_url(redis_url).xrange(STREAM)
    seen: dict[int, bytes] = {}
    order: list[int] = []
    repeats = conflicts = 0
    for _, fields in entries:
        body = fields[b"journal"]
        journal_id = int(json.loads(body)["id"])
        if journal_id in seen:
            repeats += 1
            conflicts += seen[journal_id] != body
        else:
            seen[journal_id] = body
            order.append(journal_id)
    with unit_of_work(database_url) as session:
        committed = journal_ids(session)
    return {"first_seen": order, "committed": committed, "repeats": repeats, "conflicts": conflicts}


def stream_complete(redis_url: str, database_url: str) -> bool:
    audit = stream_audit(redis_url, database_url)
    return set(audit["first_seen"]) >= set(audit["committed"])  # type: ignore[arg-type]


def file_sink_audit(path: Path, database_url: str) -> dict[str, object]:
    """The same comparison for the JSON-lines file sink."""
    order: list[int] = []
    seen: set[int] = set()
    repeats = 0
    lines = path.read_text().splitlines() if path.exists() else []
    for line in lines:
        journal_id = int(json.loads(line)["id"])
        if journal_id in seen:
            repeats += 1
        else:
            seen.add(journal_id)
            order.append(journal_id)
    with unit_of_work(database_url) as session:
        committed = journal_ids(session)
    return {"first_seen": order, "committed": committed, "repeats": repeats}


BROKER_QUEUES = ("receipts", "lockbox", "gl")


def redis_broker_idle(broker_url: str) -> bool:
    """Nothing waiting on the Redis broker's queues and nothing delivered but unacknowledged."""
    client = redis.Redis.from_url(broker_url)
    waiting = sum(int(client.llen(queue)) for queue in BROKER_QUEUES)
    return waiting == 0 and int(client.hlen("unacked")) == 0


def worker_env(settings: Settings, **extra: str) -> dict[str, str]:
    assert settings.broker_url is not None
    return pipeline_env(settings.database_url, settings.broker_url, settings.gl_sink, **extra)


def received_messages(log: Path, *tasks: str) -> int:
    """How many messages of these tasks the worker logged as received."""
    lines = log.read_text(errors="replace").splitlines()
    return sum(
        1
        for line in lines
        if line.rstrip().endswith("received") and any(f"Task {task}[" in line for task in tasks)
    )


# --- operator and gateway intake -------------------------------------------------------------


@dataclass
class Intake:
    """Persisted intake not yet dispatched: the messages it needs, and the cents each intake key
    must end up holding in cash (a fully refunded payment ends at zero)."""

    receipts: list[int]
    events: list[int]
    expected_cash: dict[str, int]

    def messages(self) -> list[tuple[str, list[object]]]:
        """One task message per receipt and per refund event, as the pipeline sends them."""
        return [("arledger.distribute_receipts", [[r]]) for r in self.receipts] + [
            ("arledger.process_event", [e]) for e in self.events
        ]


def submit_intake(
    settings: Settings, orders: int, receipts: int, payments: int, *, prefix: str, seed_value: int
) -> Intake:
    """Persist operator receipts and gateway payments on orders F-…, and full refunds of every
    third payment, without dispatching anything.

    A refunded payment gets an order of its own, the last ones of the range. A refund restores
    the lines its payment paid, so when another receipt on the same order is distributed between
    them the end state legitimately depends on that order of events; on an order of its own it
    cannot, and the final state must not depend on delivery order at all.
    """
    from ledger.intake.gateway import parse_event, receipt_request
    from ledger.services.events import submit_event
    from ledger.services.receipts import ReceiptRequest, submit_receipt

    rng = random.Random(seed_value)
    refunded = -(-payments // 3)
    shared = orders - refunded
    assert shared > 0, "too few orders for the refunded payments to have their own"
    intake = Intake([], [], {})
    for i in range(receipts):
        amount = Money.from_minor(rng.randint(100, 25_000), "USD")
        number = f"F-{rng.randrange(shared):04d}" if i % 7 else f"GONE-{i}"
        request = ReceiptRequest(
            "operator", f"{prefix}-R{i}", amount, DEPOSITED, allocations=((number, amount),)
        )
        intake.receipts.append(submit_receipt(settings, request).receipt_id)
        intake.expected_cash[request.external_key] = amount.minor
    for i in range(payments):
        cents = rng.randint(100, 25_000)
        body = {
            "event_id": f"{prefix}-evt-{i}",
            "type": "payment.succeeded",
            "gateway": "stripe",
            "payment_id": f"{prefix}-pi-{i}",
            "amount": str(Money.from_minor(cents, "USD")),
            "currency": "USD",
            "order": f"F-{shared + i // 3:04d}" if i % 3 == 0 else f"F-{rng.randrange(shared):04d}",
            "occurred_at": "2026-11-06T10:00:00Z",
        }
        event = parse_event(json.dumps(body))
        submitted = submit_event(settings, event)
        assert submitted.receipt_id is not None
        intake.receipts.append(submitted.receipt_id)
        key = receipt_request(event).external_key
        intake.expected_cash[key] = cents
        if i % 3 == 0:
            refund = parse_event(
                json.dumps({**body, "event_id": f"{prefix}-refund-{i}", "type": "payment.refunded"})
            )
            refunded = submit_event(settings, refund)
            assert refunded.event_row is not None
            intake.events.append(refunded.event_row)
            intake.expected_cash[key] = 0
    dispose_engines()
    return intake


@dataclass(frozen=True)
class BankFile:
    """A written bank statement and, per intake key (``bank:…``), the cents each credit holds."""

    path: Path
    amounts: dict[str, int]


def bai2_file(
    path: Path, items: int, orders: int, *, file_id: str, seed_value: int = 8
) -> BankFile:
    """A BAI2 statement of ``items`` credits on one account (and a debit every tenth entry, which
    the import skips). The first ``orders`` credits each name a different order F-0000… in their
    text, so where each lands does not depend on the order the batches run in (the fault tests
    compare a faulted run with a clean one); the others name nothing and are unidentified. Every
    other credit carries a bank reference, so both kinds of bank key are audited."""
    from ledger.intake.lockbox import iter_items
    from ledger.intake.lockbox.bai2_writer import (
        CREDIT,
        DEBIT,
        Bai2Account,
        Bai2Entry,
        Bai2Group,
        write_bai2,
    )

    rng = random.Random(seed_value)
    named = rng.sample(range(items), min(items, orders))
    order_of = {entry: n for n, entry in enumerate(named)}
    entries: list[Bai2Entry] = []
    written: list[int] = []
    for i in range(items):
        amount = rng.randint(100, 40_000)
        text = f"payment for order F-{order_of[i]:04d}" if i in order_of else f"no order, item {i}"
        entries.append(Bai2Entry(CREDIT, amount, f"FT{i:06d}" if i % 2 else None, None, text))
        written.append(amount)
        if i % 10 == 9:
            entries.append(Bai2Entry(DEBIT, 5_000, f"CK{i:06d}", None, "check paid"))
    with path.open("w") as out:
        account = Bai2Account("FAULT-ACCOUNT", entries, currency="USD")
        write_bai2([Bai2Group(DEPOSITED, [account])], out, file_id=file_id)
    read = list(iter_items(path))
    assert [item.amount.minor for item in read] == written
    return BankFile(path, {f"bank:{item.key}": item.amount.minor for item in read})


def camt_file(
    path: Path, items: int, orders: int, *, message_id: str, seed_value: int = 5
) -> BankFile:
    """A camt.054 of ``items`` booked credits: the first ``orders`` each name one order F-…
    (each order once, so the final state cannot depend on the order batches run in), the rest
    name no order and no payer (unidentified)."""
    from ledger.intake.lockbox import iter_items
    from ledger.intake.lockbox.camt_writer import CamtEntry, CamtTransaction, write_camt

    rng = random.Random(seed_value)
    entries = []
    for i in range(items):
        amount = Money.from_minor(rng.randint(100, 40_000), "USD")
        remittance = f"inv F-{i:04d} thanks" if i < orders else f"ref NOPE-{i}"
        entries.append(
            CamtEntry(
                amount=amount,
                booking_date=DEPOSITED,
                bank_reference=f"{message_id}-{i}",
                transactions=(CamtTransaction(amount, unstructured=(remittance,)),),
            )
        )
    with path.open("wb") as stream:
        write_camt(stream, entries, message_id=message_id, account="ACCT-K", currency="USD")
    read = list(iter_items(path))
    assert [item.amount for item in read] == [entry.amount for entry in entries]
    return BankFile(path, {f"bank:{item.key}": item.amount.minor for item in read})


def file_cash(url: str, expected: dict[str, int]) -> dict[str, int]:
    """The audit of a lockbox or bank file's import: ``expected`` cents per intake key
    (``lockbox:…`` or ``bank:…``) against the cash the ledger moved for every file's receipt."""
    actual = {k: v for k, v in net_cash_by_key(url).items() if k.startswith(("lockbox:", "bank:"))}
    lost, doubled = cents_audit(expected, actual)
    figures.record(items_audited=len(expected), cents_lost=lost, cents_doubled=doubled)
    return {"lost": lost, "doubled": doubled}
