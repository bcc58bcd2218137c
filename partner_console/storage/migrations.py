"""Schema migrations, recorded in the database (table schema_migrations).

Each step is a function applied once, in order, inside one transaction, and never edited after
it ships: an existing database is upgraded in place, never dropped. Each step spells out its own
tables so that later edits to tables.py cannot change what an old step did. (A recorded version
table is simpler than Alembic here: the same dozen lines serve SQLite and PostgreSQL, with no
second configuration file and no code generation.)
"""

from __future__ import annotations

import logging
import unicodedata
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from sqlalchemy import (
    Boolean,
    Column,
    Connection,
    DateTime,
    Engine,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    select,
    text,
)

from partner_console.storage.errors import MigrationError
from partner_console.storage.tables import schema_migrations

log = logging.getLogger(__name__)

_LOCK_ID = 7_412_001  # PostgreSQL advisory lock: one migrating process at a time


# Frozen copies of the helpers the steps use, as they were when the steps shipped: search.py
# and onboarding.py may change; what migration 4, 6 or 9 wrote into an old database may not.
_DROPPED = {"'", "\u2019", "\u02bc", "`", "\u00b4"}


def _normalise_v4(text_value: str | None) -> str:
    """search.normalise as of migration 4: lower case, single spaces."""
    return " ".join((text_value or "").lower().split())


def _folded_v6(text_value: str | None) -> str:
    """search.folded as of migration 6."""
    kept: list[str] = []
    for char in unicodedata.normalize("NFKD", text_value or ""):
        if unicodedata.combining(char) or char in _DROPPED:
            continue
        kept.append(char if char.isalnum() else " ")
    return " ".join("".join(kept).casefold().split())


def _search_text_v6(first_name: str, last_name: str, email: str, reference: str | None) -> str:
    """search.search_text as of migration 6."""
    first, last = _folded_v6(first_name), _folded_v6(last_name)
    return " | ".join(part for part in (f"{first} {last}", f"{last} {first}",
                                        _folded_v6(email), _folded_v6(reference))
                      if part.strip())


def _monday_v9(moment: datetime) -> str:
    """onboarding.week_of as of migration 9: the Monday (UTC) of a stored time's week."""
    return (moment.date() - timedelta(days=moment.weekday())).isoformat()


def _stored_v9(value: datetime | str) -> datetime:
    return datetime.fromisoformat(value) if isinstance(value, str) else value


def _scoped_columns() -> list[Column]:
    return [
        Column("key_fingerprint", String(64), nullable=False),
        Column("organization_id", String(100)),
    ]


def _v1_providers(conn: Connection) -> None:
    meta = MetaData()
    providers = Table(
        "providers", meta,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("created_at", DateTime, nullable=False),
        Column("updated_at", DateTime, nullable=False),
        Column("created_by", String(200), nullable=False),
        *_scoped_columns(),
        Column("status", String(20), nullable=False),
        Column("request_token", String(64), unique=True),
        Column("source", String(20), nullable=False),
        Column("email", String(320), nullable=False),
        Column("email_normalized", String(320), nullable=False),
        Column("first_name", String(200), nullable=False),
        Column("last_name", String(200), nullable=False),
        Column("partner_user_id", String(200)),
        Column("phone_number", String(40)),
        Column("phone_country_code", String(10)),
        Column("locale", String(40)),
        Column("default_note_template_ids", Text),
        Column("national_provider_identifier", String(10)),
        Column("therapy_licence", String(200)),
        Column("note_identifier", String(40)),
        Column("user_id", String(100)),
        Column("invite_url", Text),
        Column("private_room_link", Text),
        Column("error_text", Text),
    )
    Index("ix_providers_org_created", providers.c.organization_id, providers.c.created_at)
    Index("ix_providers_key_created", providers.c.key_fingerprint, providers.c.created_at)
    Index("ix_providers_email", providers.c.email_normalized)
    Table(
        "key_organisations", meta,
        Column("key_fingerprint", String(64), primary_key=True),
        Column("organization_id", String(100), primary_key=True),
        Column("first_seen", DateTime, nullable=False),
    )
    meta.create_all(conn)


def _v2_templates_and_settings(conn: Connection) -> None:
    meta = MetaData()
    templates = Table(
        "note_templates", meta,
        Column("id", Integer, primary_key=True, autoincrement=True),
        *_scoped_columns(),
        Column("name", String(200), nullable=False),
        Column("template_id", String(36), nullable=False),
        Column("preselected", Boolean, nullable=False),
        Column("created_at", DateTime, nullable=False),
    )
    Index("ix_note_templates_org", templates.c.organization_id)
    settings = Table(
        "organisation_settings", meta,
        Column("id", Integer, primary_key=True, autoincrement=True),
        *_scoped_columns(),
        Column("name", String(100), nullable=False),
        Column("value", Text, nullable=False),
        Column("updated_at", DateTime, nullable=False),
    )
    Index("ix_org_settings_org", settings.c.organization_id, settings.c.name)
    meta.create_all(conn)
    conn.execute(text("CREATE INDEX ix_providers_created_by ON providers (created_by)"))


def _v3_bulk_jobs(conn: Connection) -> None:
    meta = MetaData()
    Table(
        "bulk_jobs", meta,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("created_at", DateTime, nullable=False),
        Column("updated_at", DateTime, nullable=False),
        Column("heartbeat_at", DateTime),
        Column("created_by", String(200), nullable=False),
        *_scoped_columns(),
        Column("file_name", String(300), nullable=False),
        Column("status", String(20), nullable=False),
        Column("start_token", String(64), unique=True),
        Column("total", Integer, nullable=False),
    )
    rows = Table(
        "bulk_job_rows", meta,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("job_id", Integer, nullable=False),
        Column("row_number", Integer, nullable=False),
        Column("state", String(20), nullable=False),
        Column("email", String(320), nullable=False),
        Column("cells", Text, nullable=False),  # JSON: the row as read, to rebuild a fix-up file
        Column("request", Text),  # JSON request body, when the row was valid
        Column("message", Text),
        Column("provider_id", Integer),
        Column("invite_url", Text),
        Column("private_room_link", Text),
        Column("updated_at", DateTime, nullable=False),
    )
    Index("ix_bulk_job_rows_job_state", rows.c.job_id, rows.c.state)
    meta.create_all(conn)


def _v4_search_columns(conn: Connection) -> None:
    """Normalised copies of the searched fields, with indexes, so History stays fast at 1M rows."""
    for column, size in (("name_normalized", 401), ("last_name_normalized", 200),
                         ("partner_user_id_normalized", 200)):
        conn.execute(text(f"ALTER TABLE providers ADD COLUMN {column} VARCHAR({size})"))
    rows = conn.execute(text("SELECT id, first_name, last_name, partner_user_id FROM providers"))
    batch: list[dict[str, object]] = []
    update = text("UPDATE providers SET name_normalized = :name, last_name_normalized = :last, "
                  "partner_user_id_normalized = :ref WHERE id = :id")
    for row in rows.fetchall():
        batch.append({"id": row.id, "name": _normalise_v4(f"{row.first_name} {row.last_name}"),
                      "last": _normalise_v4(row.last_name),
                      "ref": _normalise_v4(row.partner_user_id) if row.partner_user_id
                      else None})
        if len(batch) >= 5000:
            conn.execute(update, batch)
            batch = []
    if batch:
        conn.execute(update, batch)
    # Byte-order ("C") indexes serve prefix ranges on PostgreSQL whatever the database collation.
    collate = ' COLLATE "C"' if conn.dialect.name == "postgresql" else ""
    for column in ("email_normalized", "name_normalized", "last_name_normalized",
                   "partner_user_id_normalized"):
        conn.execute(text(f"CREATE INDEX ix_providers_prefix_{column} "
                          f"ON providers ({column}{collate})"))
    conn.execute(text("CREATE INDEX ix_providers_status ON providers (status)"))


def _v5_coordination(conn: Connection) -> None:
    """What must happen once across replicas is decided here: a job's lease and its control
    requests, each row's claim and attempt count, the key's shared rate budget, and the
    reservation of an email while its create is in flight."""
    for statement in (
        "ALTER TABLE bulk_jobs ADD COLUMN lease_owner VARCHAR(120)",
        "ALTER TABLE bulk_jobs ADD COLUMN lease_expires_at TIMESTAMP",
        "ALTER TABLE bulk_jobs ADD COLUMN control VARCHAR(20)",
        "ALTER TABLE bulk_job_rows ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0",
        "ALTER TABLE bulk_job_rows ADD COLUMN claimed_by VARCHAR(120)",
    ):
        conn.execute(text(statement))
    meta = MetaData()
    Table(
        "rate_budgets", meta,
        Column("key_fingerprint", String(64), primary_key=True),
        # GCRA's theoretical arrival time, in seconds since the epoch: the next free slot.
        Column("next_slot", Float(precision=53), nullable=False),
    )
    Table(
        "email_reservations", meta,
        Column("scope_key", String(100), primary_key=True),
        Column("email_normalized", String(320), primary_key=True),
        Column("provider_id", Integer, nullable=False),
        Column("created_by", String(200), nullable=False),
        Column("reserved_at", DateTime, nullable=False),
    )
    meta.create_all(conn)


def _v6_substring_search(conn: Connection) -> None:
    """search_text (search.py) for every row, and a trigram index on it: pg_trgm's GIN index on
    PostgreSQL, an FTS5 trigram table kept by triggers on SQLite."""
    conn.execute(text("ALTER TABLE providers ADD COLUMN search_text TEXT"))
    rows = conn.execute(text(
        "SELECT id, first_name, last_name, email, partner_user_id FROM providers")).fetchall()
    update = text("UPDATE providers SET search_text = :text WHERE id = :id")
    for start in range(0, len(rows), 5000):
        conn.execute(update, [{"id": r.id, "text": _search_text_v6(
            r.first_name, r.last_name, r.email, r.partner_user_id)}
            for r in rows[start:start + 5000]])
    if conn.dialect.name == "postgresql":
        try:  # pg_trgm ships with PostgreSQL and is a trusted extension (the owner may add it)
            with conn.begin_nested():
                conn.execute(text("CREATE EXTENSION IF NOT EXISTS pg_trgm"))
                conn.execute(text("CREATE INDEX ix_providers_search_trgm ON providers "
                                  "USING gin (search_text gin_trgm_ops)"))
        except Exception as exc:  # searches still work, by reading every row
            log.warning("pg_trgm could not be enabled (%s): History search will be slow on "
                        "large histories. Run CREATE EXTENSION pg_trgm as the database owner, "
                        "then CREATE INDEX ix_providers_search_trgm ON providers USING gin "
                        "(search_text gin_trgm_ops).", type(exc).__name__)
        return
    for statement in (
        "CREATE VIRTUAL TABLE providers_search USING fts5(search_text, content='providers', "
        "content_rowid='id', tokenize='trigram')",
        "CREATE TRIGGER providers_search_insert AFTER INSERT ON providers BEGIN "
        "INSERT INTO providers_search(rowid, search_text) VALUES (new.id, new.search_text); END",
        "CREATE TRIGGER providers_search_delete AFTER DELETE ON providers BEGIN "
        "INSERT INTO providers_search(providers_search, rowid, search_text) "
        "VALUES ('delete', old.id, old.search_text); END",
        "CREATE TRIGGER providers_search_update AFTER UPDATE OF search_text ON providers BEGIN "
        "INSERT INTO providers_search(providers_search, rowid, search_text) "
        "VALUES ('delete', old.id, old.search_text); "
        "INSERT INTO providers_search(rowid, search_text) VALUES (new.id, new.search_text); END",
        "INSERT INTO providers_search(providers_search) VALUES ('rebuild')",
    ):
        conn.execute(text(statement))


def _v7_import_row_names(conn: Connection) -> None:
    """The provider's name on every import row, whatever became of it (results show it)."""
    conn.execute(text("ALTER TABLE bulk_job_rows ADD COLUMN name VARCHAR(401)"))


def _v8_signup_status(conn: Connection) -> None:
    """After the invite: each provider's sign-up status (signup.py) and when it was checked,
    when they signed up, when they were last reminded and by whom; imports and sign-up
    refreshes share the job tables (kind)."""
    for statement in (
        "ALTER TABLE providers ADD COLUMN signup_status VARCHAR(20)",
        "ALTER TABLE providers ADD COLUMN signup_checked_at TIMESTAMP",
        "ALTER TABLE providers ADD COLUMN signed_up_at TIMESTAMP",
        "ALTER TABLE providers ADD COLUMN reminded_at TIMESTAMP",
        "ALTER TABLE providers ADD COLUMN reminded_by VARCHAR(200)",
        "ALTER TABLE bulk_jobs ADD COLUMN kind VARCHAR(20) NOT NULL DEFAULT 'import'",
        # the pending list: created providers not signed up, oldest first
        "CREATE INDEX ix_providers_signup ON providers (status, signup_status, created_at)",
        "CREATE INDEX ix_providers_signed_up ON providers (signed_up_at)",
    ):
        conn.execute(text(statement))


def _v9_onboarding_aggregates(conn: Connection) -> None:
    """Overview's numbers, kept as rows change (onboarding.py), filled from today's rows."""
    meta = MetaData()
    weeks_table = Table(
        "onboarding_weeks", meta,
        Column("key_fingerprint", String(64), primary_key=True),
        Column("organization_id", String(100), primary_key=True),
        Column("week", String(10), primary_key=True),
        Column("created", Integer, nullable=False),
        Column("signed_up", Integer, nullable=False),
    )
    days_table = Table(
        "signup_days", meta,
        Column("key_fingerprint", String(64), primary_key=True),
        Column("organization_id", String(100), primary_key=True),
        Column("days", Integer, primary_key=True),
        Column("n", Integer, nullable=False),
    )
    meta.create_all(conn)
    # onboarding.rebuild as of this step: created and links-lost providers by week of creation
    # and of sign-up, and whole days from invite to sign-up
    weeks: dict[tuple[str, str, str], list[int]] = {}
    days: dict[tuple[str, str, int], int] = {}
    rows = conn.execute(text(
        "SELECT key_fingerprint, organization_id, created_at, signed_up_at FROM providers "
        "WHERE status IN ('created', 'links_lost')").execution_options(yield_per=20_000))
    for fp, org, created_at, signed_up_at in rows:
        org = org or ""
        created = _stored_v9(created_at)
        weeks.setdefault((fp, org, _monday_v9(created)), [0, 0])[0] += 1
        if signed_up_at is not None:
            signed = _stored_v9(signed_up_at)
            weeks.setdefault((fp, org, _monday_v9(signed)), [0, 0])[1] += 1
            key = (fp, org, max(0, (signed - created).days))
            days[key] = days.get(key, 0) + 1
    if weeks:
        conn.execute(weeks_table.insert(), [
            {"key_fingerprint": fp, "organization_id": org, "week": week, "created": c,
             "signed_up": s} for (fp, org, week), (c, s) in weeks.items()])
    if days:
        conn.execute(days_table.insert(), [
            {"key_fingerprint": fp, "organization_id": org, "days": d, "n": n}
            for (fp, org, d), n in days.items()])


def _v10_email_sends(conn: Connection) -> None:
    """Invite and reminder emails (sends.py): one row per message, written before the message
    is handed over; at most one in flight per provider and kind (a partial unique index)."""
    meta = MetaData()
    sends = Table(
        "email_sends", meta,
        Column("id", Integer, primary_key=True, autoincrement=True),
        *_scoped_columns(),
        Column("provider_id", Integer, nullable=False),
        Column("kind", String(20), nullable=False),
        Column("state", String(20), nullable=False),
        Column("transport", String(20), nullable=False),
        Column("request_token", String(64), unique=True),
        Column("to_email", String(320), nullable=False),
        Column("subject", Text, nullable=False),
        Column("body", Text, nullable=False),
        Column("message_id", String(300), nullable=False),
        Column("created_by", String(200), nullable=False),
        Column("created_at", DateTime, nullable=False),
        Column("updated_at", DateTime, nullable=False),
        Column("sent_at", DateTime),
        Column("error_text", Text),
        Column("claimed_by", String(120)),
        Column("job_id", Integer),
    )
    in_flight = sends.c.state.in_(("sending", "handing"))
    Index("ux_email_sends_in_flight", sends.c.provider_id, sends.c.kind, unique=True,
          sqlite_where=in_flight, postgresql_where=in_flight)
    Index("ix_email_sends_provider", sends.c.provider_id, sends.c.kind, sends.c.id)
    Index("ix_email_sends_org", sends.c.organization_id, sends.c.id)
    Index("ix_email_sends_key", sends.c.key_fingerprint, sends.c.id)
    Index("ix_email_sends_state", sends.c.state, sends.c.updated_at)
    meta.create_all(conn)
    for statement in (
        "ALTER TABLE providers ADD COLUMN invite_emailed_at TIMESTAMP",
        "ALTER TABLE bulk_jobs ADD COLUMN send_invites BOOLEAN NOT NULL DEFAULT FALSE",
    ):
        conn.execute(text(statement))


def _v11_activity(conn: Connection) -> None:
    """The activity log (activity.py): scoped like History, newest first off the primary key,
    and searched like it, through a trigram index of search_text."""
    meta = MetaData()
    activity = Table(
        "activity", meta,
        Column("id", Integer, primary_key=True, autoincrement=True),
        *_scoped_columns(),
        Column("at", DateTime, nullable=False),
        Column("actor_name", String(200), nullable=False),
        Column("actor_email", String(320), nullable=False),
        Column("action", String(20), nullable=False),
        Column("summary", Text, nullable=False),
        Column("search_text", Text, nullable=False),
    )
    Index("ix_activity_key", activity.c.key_fingerprint, activity.c.id)
    Index("ix_activity_org", activity.c.organization_id, activity.c.id)
    Index("ix_activity_key_action", activity.c.key_fingerprint, activity.c.action,
          activity.c.id)
    Index("ix_activity_org_action", activity.c.organization_id, activity.c.action,
          activity.c.id)
    Index("ix_activity_at", activity.c.at)
    meta.create_all(conn)
    if conn.dialect.name == "postgresql":
        try:
            with conn.begin_nested():
                conn.execute(text("CREATE EXTENSION IF NOT EXISTS pg_trgm"))
                conn.execute(text("CREATE INDEX ix_activity_search_trgm ON activity "
                                  "USING gin (search_text gin_trgm_ops)"))
        except Exception as exc:  # searches still work, by reading every row
            log.warning("pg_trgm could not be enabled (%s): activity search will be slow on "
                        "large logs.", type(exc).__name__)
        return
    for statement in (
        "CREATE VIRTUAL TABLE activity_search USING fts5(search_text, content='activity', "
        "content_rowid='id', tokenize='trigram')",
        "CREATE TRIGGER activity_search_insert AFTER INSERT ON activity BEGIN "
        "INSERT INTO activity_search(rowid, search_text) VALUES (new.id, new.search_text); END",
        "CREATE TRIGGER activity_search_delete AFTER DELETE ON activity BEGIN "
        "INSERT INTO activity_search(activity_search, rowid, search_text) "
        "VALUES ('delete', old.id, old.search_text); END",
    ):
        conn.execute(text(statement))


def _v12_provider_actions(conn: Connection) -> None:
    """After the create: a provider deactivated (and by whom), replaced by the right email, or
    changed; and one action at a time per provider (a running action holds its provider: a
    partial unique index, on both databases)."""
    for statement in (
        "ALTER TABLE providers ADD COLUMN deactivated_at TIMESTAMP",
        "ALTER TABLE providers ADD COLUMN deactivated_by VARCHAR(200)",
        "ALTER TABLE providers ADD COLUMN changed_at TIMESTAMP",
        "ALTER TABLE providers ADD COLUMN replaced_by INTEGER",
        "ALTER TABLE providers ADD COLUMN replaces INTEGER",
    ):
        conn.execute(text(statement))
    meta = MetaData()
    actions = Table(
        "provider_actions", meta,
        Column("id", Integer, primary_key=True, autoincrement=True),
        *_scoped_columns(),
        Column("provider_id", Integer, nullable=False),
        Column("kind", String(20), nullable=False),
        Column("token", String(64), nullable=False, unique=True),
        Column("state", String(20), nullable=False),
        Column("owner", String(120), nullable=False),
        Column("created_by", String(200), nullable=False),
        Column("created_at", DateTime, nullable=False),
        Column("updated_at", DateTime, nullable=False),
        Column("summary", Text),
        Column("error_text", Text),
    )
    Index("ix_provider_actions_running", actions.c.provider_id, unique=True,
          sqlite_where=actions.c.state == "running",
          postgresql_where=actions.c.state == "running")
    Index("ix_provider_actions_provider", actions.c.provider_id, actions.c.id)
    meta.create_all(conn)


def _v13_practices(conn: Connection) -> None:
    """A platform's practices (each an organisation in Upheal), kept per organisation of the
    key like the template catalog; the practice a provider was created in (NULL: the key's
    own organisation), on History's rows and on a job's rows."""
    meta = MetaData()
    practices = Table(
        "practices", meta,
        Column("id", Integer, primary_key=True, autoincrement=True),
        *_scoped_columns(),
        Column("name", String(200), nullable=False),
        Column("practice_org_id", String(100), nullable=False),
        Column("created_at", DateTime, nullable=False),
    )
    Index("ix_practices_key", practices.c.key_fingerprint)
    Index("ix_practices_org", practices.c.organization_id)
    meta.create_all(conn)
    for statement in (
        "ALTER TABLE providers ADD COLUMN practice_id VARCHAR(100)",
        "ALTER TABLE bulk_job_rows ADD COLUMN practice_id VARCHAR(100)",
        "CREATE INDEX ix_providers_practice ON providers (practice_id, id)",
    ):
        conn.execute(text(statement))
    # Overview's aggregates per practice too ("" the key's own): the practice joins their
    # primary key, so the tables are made again and their rows copied.
    for name, key, amounts in (("onboarding_weeks", "week VARCHAR(10)",
                                "created INTEGER NOT NULL, signed_up INTEGER NOT NULL"),
                               ("signup_days", "days INTEGER", "n INTEGER NOT NULL")):
        key_name = key.split()[0]
        columns = "key_fingerprint, organization_id, " + key_name + ", " + ", ".join(
            part.split()[0] for part in amounts.split(", "))
        conn.execute(text(f"ALTER TABLE {name} RENAME TO {name}_before_v13"))
        conn.execute(text(
            f"CREATE TABLE {name} (key_fingerprint VARCHAR(64) NOT NULL, organization_id "
            f"VARCHAR(100) NOT NULL, practice_id VARCHAR(100) NOT NULL, {key} NOT NULL, "
            f"{amounts}, PRIMARY KEY (key_fingerprint, organization_id, practice_id, "
            f"{key_name}))"))
        conn.execute(text(f"INSERT INTO {name} (practice_id, {columns}) SELECT '', {columns} "
                          f"FROM {name}_before_v13"))
        conn.execute(text(f"DROP TABLE {name}_before_v13"))


def _v14_overview_indexes(conn: Connection) -> None:
    """Two reads Overview, History and Follow up make on every visit, each a pass over every
    row before (300 ms apiece at 1M rows): when sign-ups were last asked of Upheal (one index
    probe per owner of the rows: the key, each organisation), and how many were deactivated
    (a partial index of the deactivated only). A database the planner had analysed gets these
    indexes analysed too (SQLite), or its planner would take them for selective ones."""
    for statement in (
        "CREATE INDEX ix_providers_key_checked ON providers (key_fingerprint, signup_checked_at)",
        "CREATE INDEX ix_providers_org_checked ON providers (organization_id, signup_checked_at)",
        "CREATE INDEX ix_providers_deactivated ON providers (deactivated_at) "
        "WHERE deactivated_at IS NOT NULL",
    ):
        conn.execute(text(statement))
    if conn.dialect.name == "sqlite" and conn.execute(text(
            "SELECT count(*) FROM sqlite_master WHERE name = 'sqlite_stat1'")).scalar_one():
        for index in ("ix_providers_key_checked", "ix_providers_org_checked",
                      "ix_providers_deactivated"):
            conn.execute(text(f"ANALYZE {index}"))


MIGRATIONS: list[tuple[int, Callable[[Connection], None]]] = [
    (1, _v1_providers),
    (2, _v2_templates_and_settings),
    (3, _v3_bulk_jobs),
    (4, _v4_search_columns),
    (5, _v5_coordination),
    (6, _v6_substring_search),
    (7, _v7_import_row_names),
    (8, _v8_signup_status),
    (9, _v9_onboarding_aggregates),
    (10, _v10_email_sends),
    (11, _v11_activity),
    (12, _v12_provider_actions),
    (13, _v13_practices),
    (14, _v14_overview_indexes),
]
LATEST = MIGRATIONS[-1][0]


def current_version(conn: Connection) -> int:
    if not conn.dialect.has_table(conn, "schema_migrations"):
        return 0
    return conn.execute(select(schema_migrations.c.version).order_by(
        schema_migrations.c.version.desc()).limit(1)).scalar() or 0


def migrate(engine: Engine, target: int = LATEST) -> int:
    """Bring the database up to `target`; returns the version it is at. Safe to run concurrently."""
    try:
        with engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": _LOCK_ID})
            schema_migrations.create(conn, checkfirst=True)
            version = current_version(conn)
            for number, step in MIGRATIONS:
                if version < number <= target:
                    step(conn)
                    conn.execute(schema_migrations.insert().values(
                        version=number, applied_at=datetime.now(UTC).replace(tzinfo=None)))
                    version = number
            return version
    except Exception as exc:  # any driver error: the person is told the database needs attention
        raise MigrationError(f"The history database could not be prepared: {exc}") from exc
