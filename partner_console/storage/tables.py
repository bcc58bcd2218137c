"""The current shape of every table, for queries. Changes to it go through migrations.py."""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)

metadata = MetaData()

# Provider statuses. "links_lost": Upheal created the provider but its answer, with the invite
# link, never reached us (the link cannot be fetched again through the documented API).
PENDING = "pending"
CREATED = "created"
FAILED = "failed"
LINKS_LOST = "links_lost"
DEACTIVATED = "deactivated"  # shown, not stored: a created provider with deactivated_at set
# Sign-up statuses as stored (providers.signup_status; what they mean is signup.py's).
INVITED = "invited"  # exists in Upheal, not active yet
SIGNED_UP = "signed_up"  # active
GONE = "gone"  # the check no longer finds the email

providers = Table(
    "providers",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("created_at", DateTime, nullable=False),
    Column("updated_at", DateTime, nullable=False),
    Column("created_by", String(200), nullable=False, default=""),
    Column("key_fingerprint", String(64), nullable=False),
    Column("organization_id", String(100)),
    Column("status", String(20), nullable=False),
    Column("request_token", String(64), unique=True),
    Column("source", String(20), nullable=False, default="form"),
    Column("email", String(320), nullable=False),
    Column("email_normalized", String(320), nullable=False),
    Column("first_name", String(200), nullable=False),
    Column("last_name", String(200), nullable=False),
    Column("partner_user_id", String(200)),
    Column("phone_number", String(40)),
    Column("phone_country_code", String(10)),
    Column("locale", String(40)),
    Column("default_note_template_ids", Text),  # JSON list
    Column("national_provider_identifier", String(10)),
    Column("therapy_licence", String(200)),
    Column("note_identifier", String(40)),
    Column("user_id", String(100)),
    Column("invite_url", Text),
    Column("private_room_link", Text),
    Column("error_text", Text),
    Column("name_normalized", String(401)),  # "first last", lower case: prefix search
    Column("last_name_normalized", String(200)),
    Column("partner_user_id_normalized", String(200)),
    Column("search_text", Text),  # search.py: names both ways, email, reference, folded
    Column("signup_status", String(20)),  # signup.py; NULL: never checked
    Column("signup_checked_at", DateTime),
    Column("signed_up_at", DateTime),  # when first seen signed up
    Column("reminded_at", DateTime),
    Column("reminded_by", String(200)),
    Column("invite_emailed_at", DateTime),  # the last invite email handed over (sends.py)
    Column("deactivated_at", DateTime),  # deactivated in Upheal (NULL: active)
    Column("deactivated_by", String(200)),
    Column("changed_at", DateTime),  # details last changed through the console
    Column("replaced_by", Integer),  # the row created with the right email (and back)
    Column("replaces", Integer),
    Column("practice_id", String(100)),  # the practice created in (NULL: the key's own)
)
Index("ix_providers_practice", providers.c.practice_id, providers.c.id)

key_organisations = Table(
    "key_organisations",
    metadata,
    Column("key_fingerprint", String(64), primary_key=True),
    Column("organization_id", String(100), primary_key=True),
    Column("first_seen", DateTime, nullable=False),
)

note_templates = Table(
    "note_templates",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("key_fingerprint", String(64), nullable=False),
    Column("organization_id", String(100)),
    Column("name", String(200), nullable=False),
    Column("template_id", String(36), nullable=False),
    Column("preselected", Boolean, nullable=False, default=False),
    Column("created_at", DateTime, nullable=False),
)

# A platform's practices (practices.py): each an organisation in Upheal its key can reach.
practices = Table(
    "practices",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("key_fingerprint", String(64), nullable=False),
    Column("organization_id", String(100)),
    Column("name", String(200), nullable=False),
    Column("practice_org_id", String(100), nullable=False),
    Column("created_at", DateTime, nullable=False),
)
Index("ix_practices_key", practices.c.key_fingerprint)
Index("ix_practices_org", practices.c.organization_id)

organisation_settings = Table(
    "organisation_settings",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("key_fingerprint", String(64), nullable=False),
    Column("organization_id", String(100)),
    Column("name", String(100), nullable=False),
    Column("value", Text, nullable=False),
    Column("updated_at", DateTime, nullable=False),
)

bulk_jobs = Table(
    "bulk_jobs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("created_at", DateTime, nullable=False),
    Column("updated_at", DateTime, nullable=False),
    Column("heartbeat_at", DateTime),
    Column("created_by", String(200), nullable=False),
    Column("key_fingerprint", String(64), nullable=False),
    Column("organization_id", String(100)),
    Column("file_name", String(300), nullable=False),
    Column("status", String(20), nullable=False),
    Column("start_token", String(64), unique=True),
    Column("total", Integer, nullable=False),
    Column("lease_owner", String(120)),  # the runner that may work on it (coordination.py)
    Column("lease_expires_at", DateTime),
    Column("control", String(20)),  # "pause" or "cancel", asked from any replica
    Column("kind", String(20), nullable=False, default="import"),  # refresh, email, reminders
    Column("send_invites", Boolean, nullable=False, default=False),  # an import emails each one
)

bulk_job_rows = Table(
    "bulk_job_rows",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("job_id", Integer, nullable=False),
    Column("row_number", Integer, nullable=False),
    Column("state", String(20), nullable=False),
    Column("email", String(320), nullable=False),
    Column("cells", Text, nullable=False),
    Column("request", Text),
    Column("message", Text),
    Column("provider_id", Integer),
    Column("invite_url", Text),
    Column("private_room_link", Text),
    Column("updated_at", DateTime, nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("claimed_by", String(120)),
    Column("name", String(401)),  # "First Last" as uploaded
    Column("practice_id", String(100)),  # the practice its create goes to (NULL: own)
)

# One email to one provider (sends.py): written before it is handed to the mail server.
email_sends = Table(
    "email_sends",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("key_fingerprint", String(64), nullable=False),
    Column("organization_id", String(100)),
    Column("provider_id", Integer, nullable=False),
    Column("kind", String(20), nullable=False),  # "invite" or "reminder"
    Column("state", String(20), nullable=False),  # sending, handing, sent, failed, uncertain
    Column("transport", String(20), nullable=False),  # "smtp" or "outbox" (practice)
    Column("request_token", String(64), unique=True),  # one click, one send
    Column("to_email", String(320), nullable=False),
    Column("subject", Text, nullable=False),
    Column("body", Text, nullable=False),
    Column("message_id", String(300), nullable=False),
    Column("created_by", String(200), nullable=False),
    Column("created_at", DateTime, nullable=False),
    Column("updated_at", DateTime, nullable=False),
    Column("sent_at", DateTime),
    Column("error_text", Text),
    Column("claimed_by", String(120)),  # the server sending it (coordination.lease_owner)
    Column("job_id", Integer),
)

# What a person does to one provider after its create (actions.py): change, deactivate,
# reactivate, replace. One running action per provider (the partial unique index), so a double
# click, two tabs or two replicas do it once.
ACTION_RUNNING = "running"
provider_actions = Table(
    "provider_actions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("key_fingerprint", String(64), nullable=False),
    Column("organization_id", String(100)),
    Column("provider_id", Integer, nullable=False),
    Column("kind", String(20), nullable=False),  # change, deactivate, reactivate, replace
    Column("token", String(64), nullable=False, unique=True),  # one click, one action
    Column("state", String(20), nullable=False),  # running, done, failed
    Column("owner", String(120), nullable=False),  # the server doing it
    Column("created_by", String(200), nullable=False),
    Column("created_at", DateTime, nullable=False),
    Column("updated_at", DateTime, nullable=False),
    Column("summary", Text),  # what it did, in words
    Column("error_text", Text),
)
Index("ix_provider_actions_running", provider_actions.c.provider_id, unique=True,
      sqlite_where=provider_actions.c.state == ACTION_RUNNING,
      postgresql_where=provider_actions.c.state == ACTION_RUNNING)
Index("ix_provider_actions_provider", provider_actions.c.provider_id, provider_actions.c.id)

rate_budgets = Table(
    "rate_budgets",
    metadata,
    Column("key_fingerprint", String(64), primary_key=True),
    Column("next_slot", Float(precision=53), nullable=False),
)

email_reservations = Table(
    "email_reservations",
    metadata,
    Column("scope_key", String(100), primary_key=True),
    Column("email_normalized", String(320), primary_key=True),
    Column("provider_id", Integer, nullable=False),
    Column("created_by", String(200), nullable=False),
    Column("reserved_at", DateTime, nullable=False),
)

# Onboarding aggregates (onboarding.py); organization_id "" means "not known yet".
onboarding_weeks = Table(
    "onboarding_weeks",
    metadata,
    Column("key_fingerprint", String(64), primary_key=True),
    Column("organization_id", String(100), primary_key=True),
    Column("practice_id", String(100), primary_key=True),  # "": the key's own organisation
    Column("week", String(10), primary_key=True),  # its Monday, "YYYY-MM-DD" (UTC)
    Column("created", Integer, nullable=False),
    Column("signed_up", Integer, nullable=False),
)

signup_days = Table(
    "signup_days",
    metadata,
    Column("key_fingerprint", String(64), primary_key=True),
    Column("organization_id", String(100), primary_key=True),
    Column("practice_id", String(100), primary_key=True),  # "": the key's own organisation
    Column("days", Integer, primary_key=True),  # whole days from invite to sign-up
    Column("n", Integer, nullable=False),
)

# The activity log (activity.py): who did what, and when, one row per action.
activity = Table(
    "activity",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("key_fingerprint", String(64), nullable=False),
    Column("organization_id", String(100)),
    Column("at", DateTime, nullable=False),
    Column("actor_name", String(200), nullable=False),
    Column("actor_email", String(320), nullable=False),  # "" when nobody is signed in
    Column("action", String(20), nullable=False),
    Column("summary", Text, nullable=False),  # one plain sentence
    Column("search_text", Text, nullable=False),  # folded actor and summary (search.py)
)

# The indexes migrations.py builds, as they are (tests/test_migrations.py compares a migrated
# database with this file, so the two cannot drift). Indexes only one database has, or that
# SQLAlchemy cannot spell for both, are named in MIGRATION_ONLY_INDEXES below.
Index("ix_providers_org_created", providers.c.organization_id, providers.c.created_at)
Index("ix_providers_key_created", providers.c.key_fingerprint, providers.c.created_at)
Index("ix_providers_email", providers.c.email_normalized)
Index("ix_providers_created_by", providers.c.created_by)
Index("ix_providers_status", providers.c.status)
Index("ix_providers_signup", providers.c.status, providers.c.signup_status,
      providers.c.created_at)
Index("ix_providers_signed_up", providers.c.signed_up_at)
Index("ix_providers_key_checked", providers.c.key_fingerprint, providers.c.signup_checked_at)
Index("ix_providers_org_checked", providers.c.organization_id, providers.c.signup_checked_at)
Index("ix_providers_deactivated", providers.c.deactivated_at,
      sqlite_where=providers.c.deactivated_at.is_not(None),
      postgresql_where=providers.c.deactivated_at.is_not(None))
Index("ix_note_templates_org", note_templates.c.organization_id)
Index("ix_org_settings_org", organisation_settings.c.organization_id, organisation_settings.c.name)
Index("ix_bulk_job_rows_job_state", bulk_job_rows.c.job_id, bulk_job_rows.c.state)
_IN_FLIGHT = email_sends.c.state.in_(("sending", "handing"))
Index("ux_email_sends_in_flight", email_sends.c.provider_id, email_sends.c.kind, unique=True,
      sqlite_where=_IN_FLIGHT, postgresql_where=_IN_FLIGHT)
Index("ix_email_sends_provider", email_sends.c.provider_id, email_sends.c.kind,
      email_sends.c.id)
Index("ix_email_sends_org", email_sends.c.organization_id, email_sends.c.id)
Index("ix_email_sends_key", email_sends.c.key_fingerprint, email_sends.c.id)
Index("ix_email_sends_state", email_sends.c.state, email_sends.c.updated_at)
Index("ix_activity_key", activity.c.key_fingerprint, activity.c.id)
Index("ix_activity_org", activity.c.organization_id, activity.c.id)
Index("ix_activity_key_action", activity.c.key_fingerprint, activity.c.action, activity.c.id)
Index("ix_activity_org_action", activity.c.organization_id, activity.c.action, activity.c.id)
Index("ix_activity_at", activity.c.at)
# Byte-order ("C") prefix indexes (PostgreSQL's COLLATE "C"; plain on SQLite) and the trigram
# indexes (pg_trgm's GIN on PostgreSQL; FTS5 tables kept by triggers on SQLite: search.py).
MIGRATION_ONLY_INDEXES = {
    "ix_providers_prefix_email_normalized", "ix_providers_prefix_name_normalized",
    "ix_providers_prefix_last_name_normalized",
    "ix_providers_prefix_partner_user_id_normalized",
    "ix_providers_search_trgm", "ix_activity_search_trgm",
}
FTS_TABLES = ("providers_search", "activity_search")  # (SQLite only; each with its shadows)

schema_migrations = Table(
    "schema_migrations",
    metadata,
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("applied_at", DateTime, nullable=False),
)


# Selectables shared by every thread are built in full here, at import: SQLAlchemy builds some
# of their parts lazily on first use (column collections, the FROM lists that keep a table from
# appearing twice), and two threads building them at once produced "FROM providers, providers"
# before its fixes in 2.0.38 and 2.0.44 (issues #12302, #12881; the floor in pyproject).
_LAZY = ("c", "columns", "exported_columns", "primary_key", "foreign_keys", "_hide_froms",
         "_from_objects", "_select_iterable", "entity_namespace", "description",
         "_autoincrement_column")


def built(*selectables: Any) -> None:
    """Build every lazily built part of `selectables` now, in this one thread."""
    for selectable in selectables:
        for name in _LAZY:
            getattr(selectable, name, None)
        for column in selectable.c:
            getattr(column, "_from_objects", None)
            getattr(column, "proxy_set", None)


built(*metadata.sorted_tables)
