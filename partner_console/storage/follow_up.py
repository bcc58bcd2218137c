"""Follow up's questions of History: who to ask about sign-up, who has an invite to email,
who has waited longest, and when sign-ups were last checked."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from sqlalchemy import func, or_, select

from partner_console.storage.history import ROW_COLUMNS, ProviderRow
from partner_console.storage.history_reads import HistoryFilter, HistoryReads
from partner_console.storage.scope import Scope
from partner_console.storage.tables import CREATED, GONE, INVITED, LINKS_LOST, SIGNED_UP, providers


@dataclass
class FollowUp:
    reads: HistoryReads

    def to_refresh(self, scope: Scope, filters: HistoryFilter, *, include_signed_up: bool,
                   checked_before: datetime | None = None, limit: int = 5_000
                   ) -> list[tuple[int, str, str]]:
        """(row id, email, name) of the providers a sign-up refresh of `filters` asks about:
        created ones; not those already signed up unless asked; not those checked since
        `checked_before`. Newest first."""
        c = providers.c
        wanted = replace(filters, signups=filters.signups or (
            () if include_signed_up else (INVITED, GONE)))
        query = self.reads.matching([c.id, c.email, c.first_name, c.last_name], scope,
                                    wanted, newest_first_of=0).where(
            c.status.in_((CREATED, LINKS_LOST)), c.deactivated_at.is_(None))
        if not include_signed_up:
            query = query.where(or_(c.signup_status.is_(None), c.signup_status != SIGNED_UP))
        if checked_before is not None:
            query = query.where(or_(c.signup_checked_at.is_(None),
                                    c.signup_checked_at < checked_before))
        with self.reads.engine.connect() as conn:
            rows = conn.execute(query.limit(limit)).all()
        return [(r.id, r.email, f"{r.first_name} {r.last_name}") for r in rows]

    def with_invite_links(self, scope: Scope, filters: HistoryFilter, limit: int = 5_000
                          ) -> list[tuple[int, str, str]]:
        """(row id, email, name) of the matching providers that have an invite link to email,
        newest first."""
        c = providers.c
        query = self.reads.matching([c.id, c.email, c.first_name, c.last_name], scope,
                                    filters, newest_first_of=0).where(
            c.status == CREATED, c.invite_url.is_not(None), c.deactivated_at.is_(None))
        with self.reads.engine.connect() as conn:
            rows = conn.execute(query.limit(limit)).all()
        return [(r.id, r.email, f"{r.first_name} {r.last_name}") for r in rows]

    def last_signup_check(self, scope: Scope) -> datetime | None:
        """When Upheal was last asked about any of the scope's providers' sign-up: the latest
        of the key's rows and of each of its organisations' rows, each one probe of its index
        (ix_providers_key_checked, ix_providers_org_checked), whatever the history's size."""
        c = providers.c
        owners = [c.key_fingerprint == scope.key_fingerprint,
                  *(c.organization_id == org for org in scope.organization_ids)]
        with self.reads.engine.connect() as conn:
            found = [conn.execute(select(func.max(c.signup_checked_at)).where(owner)).scalar()
                     for owner in owners]
        return max((at for at in found if at is not None), default=None)

    def oldest_first(self, scope: Scope, filters: HistoryFilter, limit: int = 200
                     ) -> list[ProviderRow]:
        """Matching rows, oldest first (the pending list: who has waited longest)."""
        with self.reads.engine.connect() as conn:
            rows = conn.execute(self.reads.matching(ROW_COLUMNS, scope, filters).order_by(
                providers.c.created_at, providers.c.id).limit(limit)).mappings().all()
        return [ProviderRow.from_mapping(r) for r in rows]

