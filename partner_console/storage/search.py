"""Prefix search that an index can serve, on SQLite and PostgreSQL alike.

"Starts with p" is written as the byte-order range p <= value < p + U+10FFFF. SQLite compares
text in byte order already; on PostgreSQL the comparison is made in the "C" collation, which
the migration's indexes use, so the plan holds even for prepared (generic) statements.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, and_
from sqlalchemy.sql.elements import ColumnClause

_TOP = "\U0010ffff"


def normalise(text: str | None) -> str:
    return " ".join((text or "").lower().split())


def starts_with(column: ColumnClause[str] | ColumnElement[str], prefix: str,
                dialect: str) -> ColumnElement[bool]:
    value = column.collate("C") if dialect == "postgresql" else column
    return and_(value >= prefix, value < prefix + _TOP)
