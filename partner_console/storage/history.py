"""A provider's life in History: the write-ahead create and its email's reservation, its links
(or why it has none), the journal's way back in, and its sign-up. Searching and exporting are
history_reads.py's; Follow up's questions are follow_up.py's."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Connection,
    Engine,
    delete,
    insert,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from partner_console.api.models import CreatedProvider, ProviderRequest
from partner_console.storage import onboarding
from partner_console.storage.clock import utcnow
from partner_console.storage.coordination import (
    Holder,
    insert_ignore,
    release_email,
    reserve_email,
)
from partner_console.storage.engine import one_or_missing
from partner_console.storage.errors import EmailReservedError
from partner_console.storage.scope import Scope
from partner_console.storage.search import (
    search_columns,
)
from partner_console.storage.tables import (
    CREATED,
    FAILED,
    LINKS_LOST,
    PENDING,
    SIGNED_UP,
    activity,
    bulk_jobs,
    email_sends,
    key_organisations,
    note_templates,
    organisation_settings,
    practices,
    provider_actions,
    providers,
)

log = logging.getLogger(__name__)
LINKS_LOST_TEXT = ("Upheal created this provider, but the invite link could not be fetched from "
                   "Upheal yet. Press “Fetch the links again”; if that keeps failing, ask Upheal "
                   "to resend the invite.")
SCOPED_TABLES = (providers, note_templates, organisation_settings, bulk_jobs, email_sends,
                 activity, provider_actions, practices)


@dataclass(frozen=True)
class ProviderRow:
    id: int
    created_at: datetime
    updated_at: datetime
    created_by: str
    organization_id: str | None
    status: str
    source: str
    email: str
    first_name: str
    last_name: str
    partner_user_id: str | None
    phone_number: str | None
    phone_country_code: str | None
    locale: str | None
    default_note_template_ids: list[str]
    national_provider_identifier: str | None
    therapy_licence: str | None
    note_identifier: str | None
    user_id: str | None
    invite_url: str | None
    private_room_link: str | None
    error_text: str | None
    signup_status: str | None = None  # signup.py; None: never checked
    signup_checked_at: datetime | None = None
    signed_up_at: datetime | None = None
    reminded_at: datetime | None = None
    reminded_by: str | None = None
    invite_emailed_at: datetime | None = None  # the last invite email handed over
    deactivated_at: datetime | None = None  # deactivated in Upheal (None: active)
    deactivated_by: str | None = None
    changed_at: datetime | None = None
    replaced_by: int | None = None  # the row created with the right email
    replaces: int | None = None  # (on that row: the one it replaces)
    practice_id: str | None = None  # the practice created in (None: the key's own)

    @property
    def active(self) -> bool:
        return self.deactivated_at is None

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}"

    @classmethod
    def from_mapping(cls, row: Any) -> ProviderRow:
        values = {f.name: row[f.name] for f in fields(cls)}
        values["default_note_template_ids"] = json.loads(row["default_note_template_ids"] or "[]")
        return cls(**values)


ROW_COLUMNS = [providers.c[f.name] for f in fields(ProviderRow)]


NEW, REPEATED, BUSY, DUPLICATE = "new", "repeated", "busy", "duplicate"


@dataclass(frozen=True)
class Reserved:
    state: str  # NEW, REPEATED, BUSY or DUPLICATE
    row_id: int  # the new row, the earlier click's, the holder's, or the earlier provider's
    holder: Holder | None = None
    earlier: ProviderRow | None = None


def same_practice(practice_id: str | None) -> Any:
    """Rows of the practice `practice_id` (None: the key's own organisation)."""
    return providers.c.practice_id.is_(None) if practice_id is None \
        else providers.c.practice_id == practice_id


@dataclass
class History:
    engine: Engine
    # (key fingerprint, organisation) pairs already recorded: learning them is permanent.
    _learned: set[tuple[str, str]] = field(default_factory=set, repr=False)

    # -- scoping ---------------------------------------------------------------------------------
    def scope_for(self, key_fingerprint: str) -> Scope:
        with self.engine.connect() as conn:
            orgs = conn.execute(select(key_organisations.c.organization_id).where(
                key_organisations.c.key_fingerprint == key_fingerprint)).scalars().all()
        return Scope(key_fingerprint, tuple(sorted(orgs)))

    def learn_organisation(self, conn: Connection, key_fingerprint: str,
                           organization_id: str | None) -> None:
        """Remember that this key belongs to this organisation, and file its earlier rows there.

        Safe when several workers learn the same pair at once (insert-or-ignore)."""
        if not organization_id:
            return
        if not insert_ignore(conn, key_organisations, {
                "key_fingerprint": key_fingerprint, "organization_id": organization_id,
                "first_seen": utcnow()}):
            return
        for table in SCOPED_TABLES:
            conn.execute(update(table).where(
                table.c.key_fingerprint == key_fingerprint,
                table.c.organization_id.is_(None)).values(organization_id=organization_id))
        onboarding.move_to_organisation(conn, key_fingerprint, organization_id)

    # -- write-ahead -----------------------------------------------------------------------------
    def reserve(self, scope: Scope, request: ProviderRequest, *, created_by: str,
                source: str = "form", token: str | None = None,
                refuse_duplicate: bool = False, practice_id: str | None = None) -> Reserved:
        """The write-ahead row and the email's reservation, in one transaction.

        - a token seen before (a double click): that row, state REPEATED;
        - the email reserved by a create still in flight or unsettled: BUSY, with its holder;
        - `refuse_duplicate` and the email already created here: DUPLICATE, with that row;
        - else a new pending row, state NEW.
        Only NEW writes anything. With `practice_id` (a platform's practice), the email is
        reserved, and a duplicate looked for, in that practice only."""
        email = request.email.lower()
        values = {
            "created_at": utcnow(), "updated_at": utcnow(), "created_by": created_by.strip(),
            "key_fingerprint": scope.key_fingerprint,
            "organization_id": scope.organization_ids[0] if len(scope.organization_ids) == 1
            else None,
            "status": PENDING, "request_token": token, "source": source,
            "email": request.email, "email_normalized": email,
            **search_columns(request.first_name, request.last_name, request.email,
                             request.partner_user_id),
            "first_name": request.first_name, "last_name": request.last_name,
            "partner_user_id": request.partner_user_id, "phone_number": request.phone_number,
            "phone_country_code": request.phone_country_code, "locale": request.locale,
            "default_note_template_ids": json.dumps(request.default_note_template_ids or []),
            "national_provider_identifier": request.national_provider_identifier,
            "therapy_licence": request.therapy_licence,
            "note_identifier": request.note_identifier.value if request.note_identifier else None,
            "practice_id": practice_id,
        }
        for _ in range(3):  # a holder that let go between two statements: ask again
            if token is not None:
                earlier = self.find_by_token(scope, token)
                if earlier is not None:
                    return Reserved(REPEATED, earlier.id)
            try:
                with self.engine.begin() as conn:
                    row_id = int(conn.execute(insert(providers).values(**values).returning(
                        providers.c.id)).scalar_one())
                    holder = reserve_email(conn, scope, email, row_id, created_by.strip(),
                                           practice_id)
                    if holder is not None:
                        conn.rollback()
                        if holder.provider_id:
                            return Reserved(BUSY, holder.provider_id, holder=holder)
                        continue
                    if refuse_duplicate:
                        # After the reservation: a create settled a moment ago is seen here.
                        found = conn.execute(select(*ROW_COLUMNS).where(
                            providers.c.email_normalized == email, providers.c.id != row_id,
                            providers.c.status.in_((CREATED, LINKS_LOST)),
                            same_practice(practice_id),
                            scope.visible(providers)).order_by(providers.c.id.desc()).limit(1)
                        ).mappings().first()
                        if found is not None:
                            conn.rollback()
                            earlier_row = ProviderRow.from_mapping(found)
                            return Reserved(DUPLICATE, earlier_row.id, earlier=earlier_row)
                return Reserved(NEW, row_id)
            except IntegrityError:
                if token is None:
                    raise
                continue  # the same token, written by a run at the same moment
        raise EmailReservedError(Holder(0, "", utcnow()))

    def touch(self, row_id: int) -> None:
        """A create of this pending row is about to be sent (again): settling waits from now.
        Best effort: the write-ahead row exists already, and a database that fails here must
        not stop the create (its links would go to the journal)."""
        try:
            with self.engine.begin() as conn:
                conn.execute(update(providers).where(
                    providers.c.id == row_id, providers.c.status == PENDING).values(
                    updated_at=utcnow()))
        except SQLAlchemyError:
            log.warning("could not stamp a create's sending time", exc_info=True)

    def abandon(self, row_id: int) -> None:
        """Nothing was sent for this pending row (Upheal already knew the email): it goes."""
        with self.engine.begin() as conn:
            gone = conn.execute(delete(providers).where(
                providers.c.id == row_id, providers.c.status == PENDING)).rowcount
            if gone:
                release_email(conn, row_id)

    def complete(self, row_id: int, key_fingerprint: str, provider: CreatedProvider) -> bool:
        """Save the links (one short transaction), then learn the key's organisation apart:
        saving a link must never wait on, or fail for, anything else. Links win over any
        earlier verdict; a row that has links already keeps them (False). (A provider created
        in a platform's practice tells nothing of the key's own organisation.)"""
        with self.engine.begin() as conn:
            saved, in_practice = self._complete(conn, row_id, provider)
        if not in_practice:
            self._learn_quietly(key_fingerprint, provider.organization_id)
        return saved

    def _learn_quietly(self, key_fingerprint: str, organization_id: str | None) -> None:
        if not organization_id or (key_fingerprint, organization_id) in self._learned:
            return
        try:
            with self.engine.begin() as conn:
                self.learn_organisation(conn, key_fingerprint, organization_id)
            self._learned.add((key_fingerprint, organization_id))
        except SQLAlchemyError:  # only visibility to colleagues waits; retried on the next save
            log.warning("could not record the organisation of a key", exc_info=True)

    def _complete(self, conn: Connection, row_id: int, provider: CreatedProvider
                  ) -> tuple[bool, bool]:
        """(saved, created in a practice)."""
        values: dict[str, Any] = {
            "status": CREATED, "updated_at": utcnow(), "user_id": provider.user_id,
            "invite_url": provider.invite_url, "private_room_link": provider.private_room_link,
            "error_text": None,
        }
        found = conn.execute(select(providers.c.status, providers.c.practice_id).where(
            providers.c.id == row_id)).first()
        before, practice = (found.status, found.practice_id) if found else (None, None)
        if provider.organization_id and not practice:  # (a practice's is not the key's own)
            values["organization_id"] = provider.organization_id
        saved = conn.execute(update(providers).where(
            providers.c.id == row_id, providers.c.status != CREATED).values(**values)).rowcount
        release_email(conn, row_id)
        if saved and before not in onboarding.COUNTED:  # (links_lost was counted already)
            self._count_created(conn, row_id)
        return bool(saved), bool(practice)

    @staticmethod
    def _count_created(conn: Connection, row_id: int) -> None:
        row = conn.execute(select(providers.c.key_fingerprint, providers.c.organization_id,
                                  providers.c.created_at, providers.c.practice_id).where(
            providers.c.id == row_id)).one()
        onboarding.count_created(conn, row.key_fingerprint, row.organization_id, row.created_at,
                                 row.practice_id)

    def mark_links_lost(self, row_id: int, user_id: str) -> bool:
        """Created, but its links could not be had (compare-and-set: pending rows only)."""
        return self._settle(row_id, (PENDING,), status=LINKS_LOST, user_id=user_id or None,
                            error_text=LINKS_LOST_TEXT)

    def mark_failed(self, row_id: int, reason: str) -> bool:
        """Not created (compare-and-set: pending rows only; links are never overwritten)."""
        return self._settle(row_id, (PENDING,), status=FAILED, error_text=reason)

    def _settle(self, row_id: int, only_from: tuple[str, ...], **values: Any) -> bool:
        with self.engine.begin() as conn:
            changed = conn.execute(update(providers).where(
                providers.c.id == row_id, providers.c.status.in_(only_from)).values(
                updated_at=utcnow(), **values)).rowcount
            if changed:
                release_email(conn, row_id)
                if values.get("status") in onboarding.COUNTED:
                    self._count_created(conn, row_id)
        return bool(changed)

    # -- the journal's way back in -------------------------------------------------------------
    def apply_journal_entry(self, entry: dict[str, Any]) -> None:
        provider = CreatedProvider.model_validate(entry["provider"])
        with self.engine.begin() as conn:
            exists = conn.execute(select(providers.c.id).where(
                providers.c.id == entry["row_id"],
                providers.c.key_fingerprint == entry["key_fingerprint"])).first()
            if exists is None:
                request = ProviderRequest.model_validate(entry["request"])
                recorded = datetime.fromisoformat(entry["recorded_at"])
                conn.execute(insert(providers).values(
                    id=entry["row_id"], created_at=recorded, updated_at=recorded,
                    created_by=entry.get("created_by", ""), status=PENDING,
                    key_fingerprint=entry["key_fingerprint"], source=entry.get("source", "form"),
                    email=request.email, email_normalized=request.email.lower(),
                    first_name=request.first_name, last_name=request.last_name,
                    partner_user_id=request.partner_user_id,
                    **search_columns(request.first_name, request.last_name, request.email,
                                     request.partner_user_id),
                    default_note_template_ids=json.dumps(
                        request.default_note_template_ids or [])))
            _, in_practice = self._complete(conn, entry["row_id"], provider)
        if not in_practice:
            self._learn_quietly(entry["key_fingerprint"], provider.organization_id)

    # -- reading ---------------------------------------------------------------------------------
    def get(self, scope: Scope, row_id: int) -> ProviderRow:
        row = one_or_missing(self.engine, select(*ROW_COLUMNS).where(
            providers.c.id == row_id, scope.visible(providers)),
            f"No provider {row_id} in this organisation's history.")
        return ProviderRow.from_mapping(row._mapping)

    def attempts(self, scope: Scope, token_prefix: str) -> list[ProviderRow]:
        """Rows whose request token starts with `token_prefix` (one bulk row's attempts)."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(*ROW_COLUMNS).where(
                providers.c.request_token.startswith(token_prefix, autoescape=True),
                scope.visible(providers)).order_by(providers.c.id)).mappings().all()
        return [ProviderRow.from_mapping(r) for r in rows]

    def find_by_token(self, scope: Scope, token: str) -> ProviderRow | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(*ROW_COLUMNS).where(
                providers.c.request_token == token, scope.visible(providers))).mappings().first()
        return ProviderRow.from_mapping(row) if row else None

    def latest_by_email(self, scope: Scope, emails: list[str]) -> dict[str, ProviderRow]:
        """For each email already in this organisation's history, its latest row: keyed by
        the email in the key's own organisation, by "email|practice id" in a practice."""
        wanted = sorted({e.strip().lower() for e in emails if e})
        found: dict[str, ProviderRow] = {}
        with self.engine.connect() as conn:
            for start in range(0, len(wanted), 500):
                rows = conn.execute(select(*ROW_COLUMNS).where(
                    providers.c.email_normalized.in_(wanted[start:start + 500]),
                    providers.c.status != FAILED, scope.visible(providers)
                ).order_by(providers.c.id)).mappings().all()
                for row in rows:
                    email = row["email"].lower()
                    practice = row["practice_id"]
                    found[email if practice is None else f"{email}|{practice}"] = \
                        ProviderRow.from_mapping(row)
        return found

    # -- after the invite ---------------------------------------------------------------------
    def record_signup(self, row_id: int, status: str) -> None:
        """What /users/check said of this provider now (signup.py); the first time they are
        seen signed up is kept."""
        now = utcnow()
        with self.engine.begin() as conn:
            conn.execute(update(providers).where(providers.c.id == row_id).values(
                signup_status=status, signup_checked_at=now))
            if status != SIGNED_UP:
                return
            first_time = conn.execute(update(providers).where(
                providers.c.id == row_id, providers.c.signed_up_at.is_(None),
                providers.c.status.in_(onboarding.COUNTED)).values(signed_up_at=now)).rowcount
            if first_time:  # counted once, in the same transaction
                row = conn.execute(select(
                    providers.c.key_fingerprint, providers.c.organization_id,
                    providers.c.created_at, providers.c.practice_id).where(
                    providers.c.id == row_id)).one()
                onboarding.count_signed_up(conn, row.key_fingerprint, row.organization_id,
                                           row.created_at, now, row.practice_id)

    def apply_change(self, row_id: int, values: dict[str, Any]) -> None:
        """Upheal took these new details (field -> value, as ProviderRequest names them): the
        row shows them, and is found by its new name."""
        stored = {k: (json.dumps(v or []) if k == "default_note_template_ids" else
                      v.value if hasattr(v, "value") else v) for k, v in values.items()}
        with self.engine.begin() as conn:
            row = conn.execute(select(providers.c.first_name, providers.c.last_name,
                                      providers.c.email, providers.c.partner_user_id).where(
                providers.c.id == row_id)).one()
            names = {"first_name": row.first_name, "last_name": row.last_name,
                     **{k: v for k, v in stored.items() if k in ("first_name", "last_name")}}
            conn.execute(update(providers).where(providers.c.id == row_id).values(
                **stored, changed_at=utcnow(), updated_at=utcnow(),
                **search_columns(names["first_name"], names["last_name"], row.email,
                                 row.partner_user_id)))

    def mark_deactivated(self, row_id: int, by: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(update(providers).where(
                providers.c.id == row_id, providers.c.deactivated_at.is_(None)).values(
                deactivated_at=utcnow(), deactivated_by=by.strip()[:200], updated_at=utcnow()))

    def mark_reactivated(self, row_id: int) -> None:
        with self.engine.begin() as conn:
            conn.execute(update(providers).where(providers.c.id == row_id).values(
                deactivated_at=None, deactivated_by=None, updated_at=utcnow()))

    def link_replacement(self, old_id: int, new_id: int) -> None:
        """The provider created with the right email replaces the one with the wrong one: each
        row points at the other."""
        with self.engine.begin() as conn:
            conn.execute(update(providers).where(providers.c.id == old_id).values(
                replaced_by=new_id))
            conn.execute(update(providers).where(providers.c.id == new_id).values(
                replaces=old_id))

    def mark_reminded(self, scope: Scope, row_ids: list[int], by: str) -> int:
        """Staff say they sent these providers a reminder; how many were recorded."""
        if not row_ids:
            return 0
        with self.engine.begin() as conn:
            return int(conn.execute(update(providers).where(
                scope.visible(providers), providers.c.id.in_(row_ids)).values(
                reminded_at=utcnow(), reminded_by=by.strip()[:200])).rowcount or 0)

