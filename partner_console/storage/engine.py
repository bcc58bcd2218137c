"""One SQLAlchemy engine from DATABASE_URL: SQLite (WAL, a file under data/) or PostgreSQL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, Row, Select, create_engine, event, text
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import make_url

from partner_console.storage.errors import NotFoundError


def make_engine(url: str) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record):  # type: ignore[no-untyped-def]
            # The driver's own transaction handling is replaced by explicit BEGIN IMMEDIATE,
            # so two processes never deadlock upgrading a read lock to a write lock.
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(connection):  # type: ignore[no-untyped-def]
            connection.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=10)


def refresh_statistics(engine: Engine) -> bool:
    """Re-analyse the history tables when their size has changed more than twofold since the
    planner last looked, so History's queries keep index plans (no sort of every row).
    Returns whether it analysed."""
    with engine.begin() as conn:
        rows = conn.execute(text("SELECT count(*) FROM providers")).scalar_one()
        if conn.dialect.name == "sqlite":
            has_stats = conn.execute(text(
                "SELECT count(*) FROM sqlite_master WHERE name = 'sqlite_stat1'")).scalar_one()
            known = conn.execute(text(
                "SELECT stat FROM sqlite_stat1 WHERE tbl = 'providers' LIMIT 1")).scalar() \
                if has_stats else None
            seen = int(str(known).split()[0]) if known else 0
        else:
            seen = conn.execute(text(
                "SELECT reltuples FROM pg_class WHERE relname = 'providers'")).scalar() or 0
        if rows < 1000 or (seen > 0 and seen / 2 <= rows <= seen * 2):
            return False
        conn.execute(text("ANALYZE"))
        return True


def insert_ignore(conn: Connection, table: Any, values: dict[str, Any]) -> bool:
    """Insert unless the key is taken; True when inserted. (RETURNING, not rowcount: psycopg
    reports -1 for an INSERT ... ON CONFLICT DO NOTHING.)"""
    statement = (postgresql_insert(table) if conn.dialect.name == "postgresql"
                 else sqlite_insert(table)).values(**values).on_conflict_do_nothing()
    key = next(iter(table.primary_key.columns))
    return conn.execute(statement.returning(key)).first() is not None


def one_or_missing(engine: Engine, query: Select[Any], missing: str) -> Row[Any]:
    """The first row `query` selects; NotFoundError(`missing`) when there is none."""
    with engine.connect() as conn:
        row = conn.execute(query).first()
    if row is None:
        raise NotFoundError(missing)
    return row
