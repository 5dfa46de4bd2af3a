"""The statement-level foreign-key checks of 0009 probe the parent's key index, with a plan kept
per session (issue 17).

0009 checked each key column of a statement's rows by an anti-join that ``EXECUTE`` planned for
the statement at hand. Measured in the pipeline (``pg_stat_statements`` with nested statements;
docs/performance.md, "What the pipeline's own statements cost"), that cost a planning price per
statement and key, which dominated the gateway's writes of a few rows, and the planner took a
hash anti-join reading the whole parent for a batch of a few hundred rows: at N = 20,000 the
``order_lines`` check of each 2,200-line batch read all 60,000 lines, so its cost grew with the
ledger, against docs/rules.md's "cost per receipt does not grow with the database".

Each check is now one static query per key column: the statement's distinct non-NULL values,
each probed in the parent's unique key index (a nested-loop anti-join, ``LIMIT 1``). The
function's own settings (``enable_hashjoin``, ``enable_mergejoin``, ``enable_seqscan`` off) fix
that plan whatever the sizes of a session's first statement, so PL/pgSQL plans it once per
session and a statement costs its distinct keys times one index probe, whatever the size of the
parent. A statement of ``PLANNED_FROM`` rows or more (a bulk load) keeps 0009's checks, planned
for it with the planner's usual choices, where one scan of the parent is cheaper than the probes.
Every other part of 0009 stands: the same keys, the same error (constraint, column and one
offending value), NULL passing, the row-level UPDATE checks and the parents' refusals.

Downgrade restores 0009's functions.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03
"""

from collections.abc import Sequence

from alembic import op

from ledger.persistence.migrate import migration_module

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

PREVIOUS = migration_module("0009")
REPLACED: dict[str, tuple[tuple[str, str, str, str], ...]] = PREVIOUS.REPLACED

# The plan every check must have, whatever the planner would guess from the first statement's
# sizes: the statement's distinct keys, each looked up in the parent's key index.
PLAN_SETTINGS = ("enable_hashjoin", "enable_mergejoin", "enable_seqscan")

# From this many rows a statement (a bulk load, never a distribution batch: those are at most
# 5,000 receipts, about 22,000 lines) is checked by 0009's query, planned for it, where a scan of
# the parent costs less than one probe per key (docs/performance.md, "What the pipeline's own
# statements cost").
PLANNED_FROM = 50_000


def insert_check(table: str, keys: Sequence[tuple[str, str, str, str]]) -> str:
    """The function the statement-level INSERT trigger of ``table`` runs: each of ``keys``
    checked over the statement's rows (``new_rows``), one index probe per distinct value; or,
    from ``PLANNED_FROM`` rows, 0009's checks with the planner's usual choices back."""
    probes = "".join(
        f"""
            SELECT n.k::text INTO bad
              FROM (SELECT DISTINCT {column} AS k FROM new_rows WHERE {column} IS NOT NULL) n
             WHERE NOT EXISTS (SELECT 1 FROM {parent} p WHERE p.{key} = n.k)
             LIMIT 1;
            IF bad IS NOT NULL THEN
                RAISE EXCEPTION 'insert or update on table "{table}" violates foreign key '
                    'constraint "{name}": key ({column})=(%) is not present in table "{parent}"',
                    bad USING ERRCODE = 'foreign_key_violation', CONSTRAINT = '{name}',
                              TABLE = '{table}', COLUMN = '{column}';
            END IF;"""
        for name, column, parent, key in keys
    )
    # A SET clause confines set_config(..., true) to the function: the planner's defaults come
    # back for the planned branch only, and the caller's settings at exit.
    restore = "".join(
        f"\n            PERFORM set_config('{name}', 'on', true);" for name in PLAN_SETTINGS
    )
    return f"""
    CREATE OR REPLACE FUNCTION arledger_fk_check_{table}() RETURNS trigger
    {" ".join(f"SET {name} = off" for name in PLAN_SETTINGS)}
    AS $$
    DECLARE
        bad text;
        rows_written bigint;
    BEGIN
        SELECT count(*) INTO rows_written FROM new_rows;
        IF rows_written < {PLANNED_FROM} THEN{probes}
        ELSE{restore}{PREVIOUS.key_checks(table, keys)}
        END IF;
        RETURN NULL;
    END;
    $$ LANGUAGE plpgsql
    """


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table, keys in REPLACED.items():
            op.execute(insert_check(table, keys))


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table, keys in REPLACED.items():
            # CREATE OR REPLACE keeps a function's SET clauses unless it names its own: reset them.
            op.execute(f"ALTER FUNCTION arledger_fk_check_{table}() RESET ALL")
            op.execute(PREVIOUS.insert_check(table, keys))
