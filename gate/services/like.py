"""Searches by prefix or fragment: the one place LIKE patterns are built, always escaped.

A visitor, a resident or an integration types the search text; `%` and `_` in it must match
those characters, not "anything". SQLAlchemy's autoescape escapes them (and the escape
character itself) with an ESCAPE clause that SQLite and PostgreSQL both honour. Use these
two instead of `.like()`, `.startswith()` or `.contains()` on a column.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement


def starts_with(column: ColumnElement, text: str) -> ColumnElement[bool]:
    """SQL: the column begins with `text`, taken literally."""
    return column.startswith(text, autoescape=True)


def contains(column: ColumnElement, text: str) -> ColumnElement[bool]:
    """SQL: the column holds `text` somewhere, taken literally."""
    return column.contains(text, autoescape=True)
