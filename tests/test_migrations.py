"""Migrations that cannot drift: a database migrated from nothing, step by step, is exactly what
tables.py says (columns, types, nullability, keys, indexes, unique constraints), on both
databases; and no step calls live code that a later edit could change."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from sqlalchemy import UniqueConstraint, inspect

from partner_console.storage import make_engine, migrate
from partner_console.storage import migrations as migrations_module
from partner_console.storage.migrations import LATEST
from partner_console.storage.tables import FTS_TABLES, MIGRATION_ONLY_INDEXES, metadata


def _family(column_type) -> tuple[str, int | None]:
    """A type as the database keeps it: its SQL family and, for strings, its length."""
    affinity = column_type._type_affinity.__name__  # DATETIME and TIMESTAMP are both DateTime
    return affinity, getattr(column_type, "length", None)


@pytest.fixture
def migrated(database_url):
    engine = make_engine(database_url)
    for version in range(1, LATEST + 1):  # one step at a time, as databases met them
        assert migrate(engine, target=version) == version
    yield engine
    engine.dispose()


def test_a_migrated_database_is_exactly_what_tables_py_describes(migrated):
    found = inspect(migrated)
    names = set(found.get_table_names())
    fts = {n for n in names if n.startswith(FTS_TABLES)}
    assert migrated.dialect.name == "sqlite" or not fts  # (FTS5 is SQLite's)
    assert names - fts == set(metadata.tables)
    for name, table in metadata.tables.items():
        columns = {c["name"]: c for c in found.get_columns(name)}
        assert list(columns) == [c.name for c in table.columns] or set(columns) == set(
            table.columns.keys()), name
        for column in table.columns:
            there = columns[column.name]
            assert _family(there["type"]) == _family(column.type), (name, column.name)
            if not column.primary_key:
                assert bool(there["nullable"]) == bool(column.nullable), (name, column.name)
        assert found.get_pk_constraint(name)["constrained_columns"] == list(
            table.primary_key.columns.keys()), name
        described = {tuple(c.columns.keys()) for c in table.constraints
                     if isinstance(c, UniqueConstraint)}
        assert {tuple(u["column_names"]) for u in found.get_unique_constraints(name)} == \
            described, name
        indexes = {i["name"]: i for i in found.get_indexes(name)
                   if not i["name"].startswith("sqlite_autoindex")
                   and not i.get("duplicates_constraint")}  # (PostgreSQL's unique's index)
        declared = {i.name: i for i in table.indexes}
        assert set(indexes) - MIGRATION_ONLY_INDEXES == set(declared), name
        for index_name, index in declared.items():
            assert tuple(indexes[index_name]["column_names"]) == tuple(index.columns.keys())
            assert bool(indexes[index_name]["unique"]) == bool(index.unique), index_name
    every_index = {i["name"] for n in names - fts for i in found.get_indexes(n)}
    expected_there = {n for n in MIGRATION_ONLY_INDEXES if "trgm" not in n} | (
        {"ix_providers_search_trgm", "ix_activity_search_trgm"}
        if migrated.dialect.name == "postgresql" else set())
    assert expected_there <= every_index


def test_no_migration_step_calls_code_a_later_edit_could_change():
    """A step spells out its tables and carries frozen copies of the helpers it uses: it imports
    nothing of the console but the schema_migrations table and its own error."""
    tree = ast.parse(Path(migrations_module.__file__).read_text(encoding="utf-8"))
    imported = {(node.module, alias.name) for node in ast.walk(tree)
                if isinstance(node, ast.ImportFrom) and node.module
                and node.module.startswith("partner_console") for alias in node.names}
    assert imported == {("partner_console.storage.errors", "MigrationError"),
                        ("partner_console.storage.tables", "schema_migrations")}


def test_the_frozen_helpers_wrote_what_todays_code_writes(database_url):
    """Today the frozen copies and the live helpers agree: an old database with providers in
    it, upgraded, holds the search columns and Overview's aggregates today's code computes."""
    from sqlalchemy import select, text

    from partner_console.storage import onboarding
    from partner_console.storage.search import search_columns
    from partner_console.storage.tables import onboarding_weeks, signup_days

    engine = make_engine(database_url)
    assert migrate(engine, target=8) == 8
    people = [("Zoë", "O'Neil", "zoe@example.com", "EMP-1", "created", "2026-03-02 10:00:00",
               "2026-03-09 09:00:00"),
              ("Siobhán", "Müller-Ó", "s@example.com", None, "links_lost", "2026-03-04 23:59:00",
               None),
              ("Ann", "Lee", "ann@example.com", "x", "failed", "2026-03-05 08:00:00", None)]
    with engine.begin() as conn:
        for first, last, email, ref, status, created, signed in people:
            conn.execute(text(
                "INSERT INTO providers (created_at, updated_at, created_by, key_fingerprint, "
                "organization_id, status, source, email, email_normalized, first_name, "
                "last_name, partner_user_id, signed_up_at) VALUES (:c, :c, 'Ann', 'fp', 'org', "
                ":s, 'form', :e, :e, :f, :l, :r, :u)"),
                {"c": created, "s": status, "e": email, "f": first, "l": last, "r": ref,
                 "u": signed})
    assert migrate(engine) == LATEST  # step 9 fills Overview's aggregates from these rows
    with engine.begin() as conn:
        weeks = sorted(tuple(r) for r in conn.execute(select(onboarding_weeks)))
        days = sorted(tuple(r) for r in conn.execute(select(signup_days)))
        onboarding.rebuild(conn)  # today's code, over the same rows
        assert sorted(tuple(r) for r in conn.execute(select(onboarding_weeks))) == weeks
        assert sorted(tuple(r) for r in conn.execute(select(signup_days))) == days
    assert weeks == [("fp", "org", "", "2026-03-02", 2, 0), ("fp", "org", "", "2026-03-09", 0, 1)]
    assert days == [("fp", "org", "", 6, 1)]  # (6 days 23 hours; the failed one is not counted)
    for first, last, email, ref, *_ in people:  # what steps 4 and 6 back-fill, and live code
        assert _frozen_columns(first, last, email, ref) == search_columns(first, last, email,
                                                                          ref)
    engine.dispose()


def _frozen_columns(first: str, last: str, email: str, ref: str | None) -> dict:
    m = migrations_module
    return {"name_normalized": m._normalise_v4(f"{first} {last}"),
            "last_name_normalized": m._normalise_v4(last),
            "partner_user_id_normalized": m._normalise_v4(ref) or None,
            "search_text": m._search_text_v6(first, last, email, ref)}
