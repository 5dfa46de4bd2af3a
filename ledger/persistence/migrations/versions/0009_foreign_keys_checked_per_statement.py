"""The foreign keys of the tables the pipeline writes in bulk, checked once per statement (issue 17).

PostgreSQL checks a foreign key with one query per row written (``SELECT … FOR KEY SHARE``
through SPI), which also writes a row lock on the parent. For the 16 keys of ``journal_lines``,
``journals``, ``order_lines`` and ``receipts`` that was 80 to 91 % of the gap between the guarded
COPY floor and the raw one (docs/performance.md, "What each guard costs"). This revision drops
those 16 constraints and enforces the same references with triggers, so the guarantee stays
exactly as strong: no row of these tables ever names a key that does not exist.

The writing half, on each child table:

- one statement-level ``AFTER INSERT`` trigger with ``REFERENCING NEW TABLE`` that checks every key
  column of the statement's rows as a set (an anti-join against the parent), so INSERT, multi-row
  INSERT and COPY pay one query per key column and statement instead of one per row;
- one row-level ``AFTER UPDATE OF <column>`` trigger per key column, ``WHEN`` the new value is set
  and differs from the old one. Not statement-level: a trigger with transition tables cannot be
  limited to some columns, so it would fire, and copy every row into its transition tables, for
  every balance and status update the pipeline makes, though none of them touches a key. This one
  is never even considered unless the UPDATE sets the column.

Either raises ``foreign_key_violation`` (SQLAlchemy's ``IntegrityError``, as before) naming the
constraint, the column and one offending value. NULL passes, as under ``MATCH SIMPLE``. Like the
constraints they replace, both run at the end of the statement, so a row may point at another row
of the same statement (a reversal at the journal it reverses).

The other half, on each parent table: a referenced row never disappears or changes key. No code
path deletes or re-keys any of the parents (gl_accounts, journals, order_lines, orders,
ledger_commits, receipts, write_offs, products, customers, lockbox_files, org_units): the ledger is
append-only, receipts, order lines and ledger commits already refuse DELETE (0001), and reference
data is upserted by key, never deleted. So each parent refuses, outright and whether referenced or
not, every DELETE of a row and every UPDATE that changes its key (row-level ``BEFORE`` triggers,
``foreign_key_violation``), and TRUNCATE while a replaced key still names a row of it (a
statement-level ``AFTER TRUNCATE`` trigger, which runs once every table of the statement is
emptied, so truncating parent and children together still works; TRUNCATE … CASCADE no longer
reaches the children through these keys, it is refused instead). Because no parent row can go
away or be re-keyed by any transaction, there is no race between a check and a concurrent delete,
and the checks take no ``FOR KEY SHARE`` lock: what a check saw stays true until the child
commits. (A parent inserted by a transaction that has not committed is invisible to the check and
refused, as by the constraint.)

What the constraints did and the triggers do not: disabling user triggers on a table
(``ALTER TABLE … DISABLE TRIGGER USER``, which needs the table's owner, who can also drop a
constraint) now disables these checks too, and ``session_replication_role = replica`` skips both,
as before.

``ledger/persistence/tables.py`` keeps the ``ForeignKey()`` declarations: they make SQLite's
schema (which keeps its declared foreign keys) and the ORM's relationships. Downgrade drops the
triggers and adds the 16 constraints back as 0001 and 0002 declared them.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03
"""

from collections.abc import Iterable, Sequence

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

# child table: ((constraint, column, parent table, parent key), ...) — every foreign key of the
# tables the pipeline writes (benchmarks/floor.py WRITTEN_TABLES) as 0001 and 0002 declared them.
REPLACED: dict[str, tuple[tuple[str, str, str, str], ...]] = {
    "journal_lines": (
        ("fk_journal_lines_account_gl_accounts", "account", "gl_accounts", "code"),
        ("fk_journal_lines_journal_id_journals", "journal_id", "journals", "id"),
        ("fk_journal_lines_line_id_order_lines", "line_id", "order_lines", "id"),
        ("fk_journal_lines_order_id_orders", "order_id", "orders", "id"),
    ),
    "journals": (
        ("fk_journals_commit_id_ledger_commits", "commit_id", "ledger_commits", "id"),
        ("fk_journals_order_id_orders", "order_id", "orders", "id"),
        ("fk_journals_receipt_id_receipts", "receipt_id", "receipts", "id"),
        ("fk_journals_reverses_id_journals", "reverses_id", "journals", "id"),
        ("fk_journals_write_off_id_write_offs", "write_off_id", "write_offs", "id"),
    ),
    "order_lines": (
        ("fk_order_lines_ar_account_gl_accounts", "ar_account", "gl_accounts", "code"),
        ("fk_order_lines_order_id_orders", "order_id", "orders", "id"),
        ("fk_order_lines_product_products", "product", "products", "code"),
    ),
    "receipts": (
        ("fk_receipts_customer_id_customers", "customer_id", "customers", "id"),
        ("fk_receipts_lockbox_file_id_lockbox_files", "lockbox_file_id", "lockbox_files", "id"),
        ("fk_receipts_org_unit_org_units", "org_unit", "org_units", "code"),
        ("fk_receipts_replaces_id_receipts", "replaces_id", "receipts", "id"),
    ),
}


def _parents() -> dict[str, tuple[str, list[tuple[str, str]]]]:
    """parent table: (its key, [(child table, column), ...])."""
    parents: dict[str, tuple[str, list[tuple[str, str]]]] = {}
    for table, keys in REPLACED.items():
        for _name, column, parent, key in keys:
            parents.setdefault(parent, (key, []))[1].append((table, column))
    return parents


PARENTS = _parents()


def insert_check(table: str, keys: Sequence[tuple[str, str, str, str]], lock: bool = False) -> str:
    """The function the statement-level INSERT trigger of ``table`` runs: each of ``keys``
    checked over the statement's rows (``new_rows``) by one anti-join. ``lock``: also lock the
    parents ``FOR KEY SHARE`` as the constraint's check does (benchmarks/guards.py measures it;
    the migration does not, see the docstring)."""
    return f"""
    CREATE OR REPLACE FUNCTION arledger_fk_check_{table}() RETURNS trigger AS $$
    DECLARE
        bad text;
    BEGIN{key_checks(table, keys, lock)}
        RETURN NULL;
    END;
    $$ LANGUAGE plpgsql
    """


def key_checks(table: str, keys: Sequence[tuple[str, str, str, str]], lock: bool = False) -> str:
    """The PL/pgSQL of ``insert_check``'s checks (0010 keeps them for its bulk statements).

    Each check is an ``EXECUTE``, planned for the statement at hand: PL/pgSQL would plan a static
    query once per session, with the row count of the first statement's transition table, and
    keep a hash anti-join that reads the whole parent table (right for a COPY of 87,000 lines,
    ruinous for the next insert of three lines against a million journals) or a nested loop
    probing the parent's index once per row (three times as dear for the COPY). No ``LIMIT 1``
    either: it makes the planner prefer the nested loop whatever the rows."""
    checks = []
    for name, column, parent, key in keys:
        locking = (
            f"EXECUTE 'SELECT 1 FROM {parent} p WHERE p.{key} IN "
            f"(SELECT {column} FROM new_rows) FOR KEY SHARE';"
            if lock
            else ""
        )
        checks.append(
            f"""
        {locking}
        EXECUTE 'SELECT n.{column}::text FROM new_rows n WHERE n.{column} IS NOT NULL
                 AND NOT EXISTS (SELECT 1 FROM {parent} p WHERE p.{key} = n.{column})' INTO bad;
        IF bad IS NOT NULL THEN
            RAISE EXCEPTION 'insert or update on table "{table}" violates foreign key constraint '
                '"{name}": key ({column})=(%) is not present in table "{parent}"', bad
                USING ERRCODE = 'foreign_key_violation', CONSTRAINT = '{name}',
                      TABLE = '{table}', COLUMN = '{column}';
        END IF;"""
        )
    return "".join(checks)


# One key column changed by an UPDATE (arguments: constraint, column, parent, key).
_UPDATE_CHECK = """
    CREATE FUNCTION arledger_fk_check_row() RETURNS trigger AS $$
    DECLARE
        present boolean;
        value text;
    BEGIN
        EXECUTE format('SELECT EXISTS (SELECT 1 FROM %I p WHERE p.%I = ($1).%I), ($1).%I::text',
                       TG_ARGV[2], TG_ARGV[3], TG_ARGV[1], TG_ARGV[1])
           INTO present, value USING NEW;
        IF NOT present THEN
            RAISE EXCEPTION 'insert or update on table "%" violates foreign key constraint "%": '
                'key (%)=(%) is not present in table "%"',
                TG_TABLE_NAME, TG_ARGV[0], TG_ARGV[1], value, TG_ARGV[2]
                USING ERRCODE = 'foreign_key_violation', CONSTRAINT = TG_ARGV[0],
                      TABLE = TG_TABLE_NAME, COLUMN = TG_ARGV[1];
        END IF;
        RETURN NULL;
    END;
    $$ LANGUAGE plpgsql
"""

# A parent's row deleted or re-keyed (arguments: its key, the referencing tables and columns).
_REFUSE_UNKEYING = """
    CREATE FUNCTION arledger_refuse_unkeying() RETURNS trigger AS $$
    DECLARE
        value text;
    BEGIN
        EXECUTE format('SELECT ($1).%I::text', TG_ARGV[0]) INTO value USING OLD;
        RAISE EXCEPTION '% of % row (%)=(%) refused: % may point at it, and a referenced row is '
            'never deleted or re-keyed (foreign keys checked by trigger, migration 0009)',
            TG_OP, TG_TABLE_NAME, TG_ARGV[0], value, TG_ARGV[1]
            USING ERRCODE = 'foreign_key_violation', TABLE = TG_TABLE_NAME;
    END;
    $$ LANGUAGE plpgsql
"""

# A parent truncated while a child row still names one of its keys (arguments: child table and
# column, in pairs).
_REFUSE_TRUNCATE = """
    CREATE FUNCTION arledger_refuse_truncate_referenced() RETURNS trigger AS $$
    DECLARE
        referenced boolean;
    BEGIN
        FOR i IN 0 .. TG_NARGS - 1 BY 2 LOOP
            EXECUTE format('SELECT EXISTS (SELECT 1 FROM %I WHERE %I IS NOT NULL)',
                           TG_ARGV[i], TG_ARGV[i + 1]) INTO referenced;
            IF referenced THEN
                RAISE EXCEPTION 'TRUNCATE of % refused: rows of % still point at it by %',
                    TG_TABLE_NAME, TG_ARGV[i], TG_ARGV[i + 1]
                    USING ERRCODE = 'foreign_key_violation', TABLE = TG_TABLE_NAME;
            END IF;
        END LOOP;
        RETURN NULL;
    END;
    $$ LANGUAGE plpgsql
"""


def _literals(values: Iterable[str]) -> str:
    return ", ".join(f"'{value}'" for value in values)


def insert_trigger(table: str) -> str:
    return (
        f"CREATE TRIGGER {table}_fk_insert AFTER INSERT ON {table} "
        "REFERENCING NEW TABLE AS new_rows "
        f"FOR EACH STATEMENT EXECUTE FUNCTION arledger_fk_check_{table}()"
    )


def update_trigger(table: str, name: str, column: str, parent: str, key: str) -> str:
    return (
        f"CREATE TRIGGER {table}_fk_update_{column} AFTER UPDATE OF {column} ON {table} "
        f"FOR EACH ROW WHEN (NEW.{column} IS NOT NULL AND NEW.{column} IS DISTINCT FROM "
        f"OLD.{column}) EXECUTE FUNCTION arledger_fk_check_row({_literals((name, column, parent, key))})"
    )


def drop_checks(table: str, keys: Sequence[tuple[str, str, str, str]]) -> list[str]:
    """The writing half of ``table``'s keys removed (benchmarks/guards.py times the floor
    without them; the downgrade starts with it)."""
    return [
        f"DROP TRIGGER {table}_fk_insert ON {table}",
        f"DROP FUNCTION arledger_fk_check_{table}()",
        *(f"DROP TRIGGER {table}_fk_update_{column} ON {table}" for _n, column, _p, _k in keys),
    ]


def _parent_triggers(parent: str, key: str, children: list[tuple[str, str]]) -> list[str]:
    pointing = ", ".join(f"{table}.{column}" for table, column in children)
    return [
        f"CREATE TRIGGER {parent}_referenced_no_delete BEFORE DELETE ON {parent} FOR EACH ROW "
        f"EXECUTE FUNCTION arledger_refuse_unkeying({_literals((key, pointing))})",
        f"CREATE TRIGGER {parent}_referenced_key_fixed BEFORE UPDATE OF {key} ON {parent} "
        f"FOR EACH ROW WHEN (OLD.{key} IS DISTINCT FROM NEW.{key}) "
        f"EXECUTE FUNCTION arledger_refuse_unkeying({_literals((key, pointing))})",
        f"CREATE TRIGGER {parent}_referenced_no_truncate AFTER TRUNCATE ON {parent} "
        "FOR EACH STATEMENT EXECUTE FUNCTION arledger_refuse_truncate_referenced("
        f"{_literals(value for child in children for value in child)})",
    ]


POSTGRES_UPGRADE = [
    *[
        f"ALTER TABLE {table} DROP CONSTRAINT {name}"
        for table, keys in REPLACED.items()
        for name, *_ in keys
    ],
    _UPDATE_CHECK,
    _REFUSE_UNKEYING,
    _REFUSE_TRUNCATE,
    *[insert_check(table, keys) for table, keys in REPLACED.items()],
    *[insert_trigger(table) for table in REPLACED],
    *[update_trigger(table, *key) for table, keys in REPLACED.items() for key in keys],
    *[
        statement
        for parent, (key, children) in PARENTS.items()
        for statement in _parent_triggers(parent, key, children)
    ],
]

POSTGRES_DOWNGRADE = [
    *[statement for table, keys in REPLACED.items() for statement in drop_checks(table, keys)],
    *[
        f"DROP TRIGGER {parent}_referenced_{what} ON {parent}"
        for parent in PARENTS
        for what in ("no_delete", "key_fixed", "no_truncate")
    ],
    "DROP FUNCTION arledger_fk_check_row()",
    "DROP FUNCTION arledger_refuse_unkeying()",
    "DROP FUNCTION arledger_refuse_truncate_referenced()",
    *[
        f"ALTER TABLE {table} ADD CONSTRAINT {name} FOREIGN KEY ({column}) "
        f"REFERENCES {parent} ({key})"
        for table, keys in REPLACED.items()
        for name, column, parent, key in keys
    ],
]


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for statement in POSTGRES_UPGRADE:
            op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for statement in POSTGRES_DOWNGRADE:
            op.execute(statement)
