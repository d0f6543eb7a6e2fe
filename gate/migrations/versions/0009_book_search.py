"""Book search: partial expression indexes on the shift book's JSON references

Revision ID: 0009_book_search
Revises: 0008_console
Create Date: 2026-11-28 01:00:00.000000

One index per reference key (visit_id, unit_id, ...), holding only the entries whose data
names that key, so a search for a record referenced by a few entries reads those entries and
not the whole book. The expressions and predicates are written exactly as
gate.services.book_search.reference_sql() writes them in queries (the planner matches them
textually). They are dialect-specific expression indexes, so they live here and not in the
models' __table_args__.
"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '0009_book_search'
down_revision = '0008_console'
branch_labels = None
depends_on = None

KEYS = ("device_event_id", "pass_id", "session_id", "slip_id", "unit_id", "vehicle_id",
        "violation_id", "visit_id", "visitor_id")


def _value(dialect: str, key: str) -> str:
    if dialect == "postgresql":
        return f"(jsonb_extract_path_text(CAST(data AS JSONB), '{key}'))"
    return f"CAST(json_extract(data, '$.{key}') AS VARCHAR)"


def upgrade():
    dialect = op.get_bind().dialect.name
    for key in KEYS:
        op.execute(f"CREATE INDEX ix_shift_book_entry_ref_{key} ON shift_book_entry "
                   f"(site, {_value(dialect, key)}, seq) WHERE data LIKE '%\"{key}\":%'")


def downgrade():
    for key in KEYS:
        op.execute(f"DROP INDEX ix_shift_book_entry_ref_{key}")
