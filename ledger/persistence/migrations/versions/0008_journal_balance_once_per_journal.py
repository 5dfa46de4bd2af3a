"""The journal balance check, once per journal at commit instead of once per line (issue 17).

0001's ``journal_lines_balance`` was a deferred constraint trigger FOR EACH ROW of
``journal_lines``: every line inserted queued an event that, at commit, re-summed every line of
its journal and read the journal (two queries per line, quadratic in a journal's lines). It was
the largest single cost of writing the ledger (docs/performance.md, "What each guard costs").

This revision keeps the guarantee of docs/rules.md section 3 (a journal is committed only if its
debits equal its credits, it has at least two lines and its debits make its amount) and checks
each journal once, at commit:

- statement-level triggers on ``journal_lines`` (INSERT, UPDATE, DELETE) and ``journals``
  (INSERT, UPDATE) copy the distinct journal ids of the statement's transition tables into
  ``journal_balance_pending``, tagged with the transaction's id, and add the transaction's row
  to ``journal_balance_commits`` once (``ON CONFLICT DO NOTHING``);
- a deferred constraint trigger on ``journal_balance_commits`` (a constraint trigger can only be
  FOR EACH ROW, so the one row per transaction is what makes it fire once) checks every pending
  journal of the transaction in one statement, refuses the commit naming the first journal that
  does not balance, and deletes the transaction's rows.

Every path that can change a journal's lines leaves the journal pending: lines added later to an
already-committed journal, lines of several journals in one statement, COPY, and UPDATE or DELETE
of a line (which the append-only guards refuse before it happens). A journal is now checked when
it is inserted too, so one with no lines at all, which 0001 let through (no line, no event), is
refused. Rows and queued events of a savepoint rolled back vanish together; after ``SET
CONSTRAINTS … IMMEDIATE`` the check runs and empties the transaction's rows, and the next change
queues a new one. TRUNCATE fires no row or transition trigger, as before.

Both tables are UNLOGGED: a row lives only inside its own transaction (written by a statement,
deleted by that transaction's check), so there is nothing in them a crash should keep, and
writing them to the WAL would be waste.

SQLite has never had a balance trigger: the domain's ``Journal`` cannot be built unbalanced and
``arledger check`` verifies every journal (docs/rules.md section 9). Nothing changes there.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03
"""

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

# Which journals a statement touched. The lines' function reads the journal id from both
# transition tables of an UPDATE, so a line moved to another journal leaves both pending.
_TOUCH = """
    CREATE FUNCTION {name}() RETURNS trigger AS $$
    DECLARE
        me xid8 := pg_current_xact_id();
        touched bigint := 0;
        added bigint;
    BEGIN
        IF TG_OP <> 'DELETE' THEN
            INSERT INTO journal_balance_pending (txid, journal_id)
                SELECT DISTINCT me, {column} FROM new_rows;
            GET DIAGNOSTICS added = ROW_COUNT;
            touched := touched + added;
        END IF;
        IF TG_OP <> 'INSERT' THEN
            INSERT INTO journal_balance_pending (txid, journal_id)
                SELECT DISTINCT me, {column} FROM old_rows;
            GET DIAGNOSTICS added = ROW_COUNT;
            touched := touched + added;
        END IF;
        IF touched > 0 THEN
            INSERT INTO journal_balance_commits (txid) VALUES (me) ON CONFLICT DO NOTHING;
        END IF;
        RETURN NULL;
    END;
    $$ LANGUAGE plpgsql
"""

# Transition tables cannot be declared by a trigger for more than one event: one per event.
_TRANSITIONS = {
    "INSERT": "NEW TABLE AS new_rows",
    "UPDATE": "OLD TABLE AS old_rows NEW TABLE AS new_rows",
    "DELETE": "OLD TABLE AS old_rows",
}
_TOUCHED_BY = {
    # table: (function, the column naming the journal, events)
    "journal_lines": (
        "arledger_journals_of_lines_touched",
        "journal_id",
        ("INSERT", "UPDATE", "DELETE"),
    ),
    "journals": ("arledger_journals_touched", "id", ("INSERT", "UPDATE")),
}

POSTGRES_UPGRADE = [
    "DROP TRIGGER journal_lines_balance ON journal_lines",
    "DROP FUNCTION arledger_check_journal_balance()",
    """
    CREATE UNLOGGED TABLE journal_balance_pending (
        txid xid8 NOT NULL,
        journal_id bigint NOT NULL
    )
    """,
    "CREATE INDEX ix_journal_balance_pending_txid ON journal_balance_pending (txid)",
    "CREATE UNLOGGED TABLE journal_balance_commits (txid xid8 PRIMARY KEY)",
    *[
        _TOUCH.format(name=function, column=column)
        for function, column, _events in _TOUCHED_BY.values()
    ],
    *[
        f"""
        CREATE TRIGGER {table}_touch_{event.lower()} AFTER {event} ON {table}
            REFERENCING {_TRANSITIONS[event]}
            FOR EACH STATEMENT EXECUTE FUNCTION {function}()
        """
        for table, (function, _column, events) in _TOUCHED_BY.items()
        for event in events
    ],
    # The check: one statement over the transaction's pending journals. Both the lateral sum and
    # the scalar read of the journal's amount run per pending journal through an index (neither
    # can be turned into a join that scans a whole table), so the cost follows the journals
    # touched, not the ledger's size. A journal that no longer exists is checked only if lines
    # still name it.
    """
    CREATE FUNCTION arledger_check_pending_journals() RETURNS trigger AS $$
    DECLARE
        bad record;
    BEGIN
        SELECT p.journal_id, s.debits, s.credits, s.legs, s.expected
          INTO bad
          FROM (SELECT DISTINCT journal_id FROM journal_balance_pending WHERE txid = NEW.txid) p
          CROSS JOIN LATERAL (
              SELECT COALESCE(SUM(l.debit_minor), 0) AS debits,
                     COALESCE(SUM(l.credit_minor), 0) AS credits,
                     COUNT(*) AS legs,
                     (SELECT j.amount_minor FROM journals j WHERE j.id = p.journal_id) AS expected
                FROM journal_lines l WHERE l.journal_id = p.journal_id
          ) s
         WHERE (s.expected IS NOT NULL OR s.legs > 0)
           AND (s.debits <> s.credits OR s.legs < 2 OR s.debits IS DISTINCT FROM s.expected)
         ORDER BY p.journal_id
         LIMIT 1;
        IF FOUND THEN
            IF bad.debits <> bad.credits THEN
                RAISE EXCEPTION 'unbalanced journal %: debits % <> credits %',
                    bad.journal_id, bad.debits, bad.credits USING ERRCODE = 'check_violation';
            END IF;
            RAISE EXCEPTION 'journal %: % lines totalling % do not make its amount %',
                bad.journal_id, bad.legs, bad.debits, bad.expected
                USING ERRCODE = 'check_violation';
        END IF;
        DELETE FROM journal_balance_pending WHERE txid = NEW.txid;
        DELETE FROM journal_balance_commits WHERE txid = NEW.txid;
        RETURN NULL;
    END;
    $$ LANGUAGE plpgsql
    """,
    """
    CREATE CONSTRAINT TRIGGER journal_balance_at_commit
        AFTER INSERT ON journal_balance_commits
        DEFERRABLE INITIALLY DEFERRED
        FOR EACH ROW EXECUTE FUNCTION arledger_check_pending_journals()
    """,
]

# 0001's check, as 0001 installed it (tests/unit/test_migrations.py pins that they are the same).
PREVIOUS_BALANCE_CHECK = [
    """
    CREATE FUNCTION arledger_check_journal_balance() RETURNS trigger AS $$
    DECLARE
        debits bigint;
        credits bigint;
        legs integer;
        expected bigint;
    BEGIN
        SELECT COALESCE(SUM(debit_minor), 0), COALESCE(SUM(credit_minor), 0), COUNT(*)
          INTO debits, credits, legs
          FROM journal_lines WHERE journal_id = NEW.journal_id;
        SELECT amount_minor INTO expected FROM journals WHERE id = NEW.journal_id;
        IF debits <> credits THEN
            RAISE EXCEPTION 'unbalanced journal %: debits % <> credits %',
                NEW.journal_id, debits, credits USING ERRCODE = 'check_violation';
        END IF;
        IF legs < 2 OR debits <> expected THEN
            RAISE EXCEPTION 'journal %: % lines totalling % do not make its amount %',
                NEW.journal_id, legs, debits, expected USING ERRCODE = 'check_violation';
        END IF;
        RETURN NULL;
    END;
    $$ LANGUAGE plpgsql
    """,
    """
    CREATE CONSTRAINT TRIGGER journal_lines_balance
        AFTER INSERT ON journal_lines
        DEFERRABLE INITIALLY DEFERRED
        FOR EACH ROW EXECUTE FUNCTION arledger_check_journal_balance()
    """,
]

# This revision's check removed (benchmarks/guards.py times the floor without it, too).
DROP_BALANCE_CHECK = [
    *[
        f"DROP TRIGGER {table}_touch_{event.lower()} ON {table}"
        for table, (_function, _column, events) in _TOUCHED_BY.items()
        for event in events
    ],
    *[f"DROP FUNCTION {function}()" for function, _column, _events in _TOUCHED_BY.values()],
    "DROP TABLE journal_balance_commits",  # drops its constraint trigger with it
    "DROP FUNCTION arledger_check_pending_journals()",
    "DROP TABLE journal_balance_pending",
]

POSTGRES_DOWNGRADE = [*DROP_BALANCE_CHECK, *PREVIOUS_BALANCE_CHECK]


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for statement in POSTGRES_UPGRADE:
            op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for statement in POSTGRES_DOWNGRADE:
            op.execute(statement)
