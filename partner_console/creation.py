"""Creating one provider, the safe way: write-ahead record, call, complete, journal on failure.

Used by the Create provider page and, row by row, by the bulk importer. No streamlit here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import timedelta
from math import ceil
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from partner_console.api.client import UphealClient
from partner_console.api.errors import ApiError, BadRequestError, OutcomeUnknownError
from partner_console.api.models import CreatedProvider, ProviderRequest, field_for
from partner_console.messages import explain, explain_create
from partner_console.storage.clock import utcnow
from partner_console.storage.history import BUSY as BUSY_ROW
from partner_console.storage.history import DUPLICATE as DUPLICATE_ROW
from partner_console.storage.history import REPEATED, History, ProviderRow
from partner_console.storage.journal import LinkJournal
from partner_console.storage.practices import Practices
from partner_console.storage.scope import Scope
from partner_console.storage.tables import CREATED, FAILED, LINKS_LOST, PENDING

# Outcomes besides the History statuses: nothing was written or sent for these.
BUSY = "busy"  # the email is being created by someone else right now
DUPLICATE = "duplicate"  # already created here (History)
EXISTS = "exists"  # Upheal already has an account with this email
NOT_CREATED_TEXT = {
    "form": "Upheal has no provider with this email: it was not created. You can create it "
            "again.",
    "bulk": "Not created: this attempt was interrupted before Upheal created the provider. The "
            "import's results show what happened next.",
}
HALTED = "halted"  # an import asked to stop before this create left: nothing was sent
DEFAULT_SETTLE_AFTER = 60.0


class _Halted(Exception):
    """Raised right before a create would leave, when its import was asked to stop."""


@dataclass(frozen=True)
class CreationOutcome:
    row_id: int | None
    status: str  # created | links_lost | failed | pending (unknown) | busy | duplicate | exists
    message: str = ""
    invite_url: str | None = None
    private_room_link: str | None = None
    user_id: str | None = None
    field_errors: dict[str, str] | None = None
    saved: bool = True  # False: the links are only in the journal until the next start
    repeated: bool = False  # a double click: this is the earlier run's result
    holder: str = ""  # BUSY: who is creating it; DUPLICATE: who created it
    retry_in: float = 0.0  # pending: seconds until Upheal can be asked (0: ask now)

    @classmethod
    def from_row(cls, row: ProviderRow, repeated: bool = False,
                 status: str | None = None, message: str | None = None) -> CreationOutcome:
        return cls(row.id, status or row.status,
                   row.error_text or "" if message is None else message, row.invite_url,
                   row.private_room_link, row.user_id, repeated=repeated,
                   holder=row.created_by)

    def with_retry(self, seconds: float) -> CreationOutcome:
        return replace(self, retry_in=seconds)


@dataclass
class ProviderCreator:
    client: UphealClient
    history: History
    journal: LinkJournal
    # After a create's last sending, how long until Upheal can be trusted to know its outcome
    # (a slow create may still be running at Upheal after our timeout).
    settle_after: float = DEFAULT_SETTLE_AFTER

    def create(self, api_key: str, scope: Scope, request: ProviderRequest, *, created_by: str,
               token: str | None = None, source: str = "form", check_first: bool = False,
               refuse_duplicate: bool = False, halted: Callable[[], bool] | None = None,
               practice_id: str | None = None, practice_name: str | None = None
               ) -> CreationOutcome:
        """Reserve the email with a write-ahead row, optionally ask Upheal whether the email
        exists (`check_first`), then create once. `refuse_duplicate`: an email created here
        before is answered DUPLICATE (the person's explicit "Create anyway" turns it off).
        `halted`: asked right before each sending; True stops a create that has not left
        (HALTED: nothing was sent, the row and its reservation are gone). `practice_id`: a
        platform's practice to create in (duplicates are looked for in that practice)."""
        reserved = self.history.reserve(scope, request, created_by=created_by, source=source,
                                        token=token, refuse_duplicate=refuse_duplicate,
                                        practice_id=practice_id)
        if reserved.state == REPEATED:
            return CreationOutcome.from_row(self.history.get(scope, reserved.row_id),
                                            repeated=True)
        if reserved.state == DUPLICATE_ROW:
            assert reserved.earlier is not None
            return CreationOutcome.from_row(reserved.earlier, status=DUPLICATE, message="")
        if reserved.state == BUSY_ROW:
            name = reserved.holder.created_by if reserved.holder else ""
            return CreationOutcome(reserved.row_id, BUSY, f"{name or 'Someone'} is creating "
                                   f"{request.email} right now.", holder=name)
        row_id = reserved.row_id
        if check_first:
            try:
                check = self.client.check_user(api_key, request.email)
            except ApiError as exc:  # nothing was sent: the row and its reservation go
                self.history.abandon(row_id)
                return CreationOutcome(None, FAILED, explain(exc))
            if check.is_user_exists and not self._elsewhere(api_key, scope, check.user_id,
                                                             practice_id):
                self.history.abandon(row_id)
                return CreationOutcome(None, EXISTS, "Already has an Upheal account.",
                                       user_id=check.user_id)
        def before_send() -> None:
            if halted is not None and halted():
                raise _Halted
            self.history.touch(row_id)

        try:
            result = self.client.create_provider(api_key, request, before_send=before_send,
                                                 organization_id=practice_id)
        except _Halted:
            # The client sends again only when Upheal has said it did not create (a 429, a
            # refused connection, a 5xx its check confirmed): nothing of this create exists.
            self.history.abandon(row_id)
            return CreationOutcome(None, HALTED)
        except OutcomeUnknownError as exc:
            return CreationOutcome(row_id, PENDING, explain(exc), retry_in=self.settle_after)
        except ApiError as exc:
            message = explain_create(exc, practice_name or practice_id)
            self.history.mark_failed(row_id, message)
            field_errors = None
            if isinstance(exc, BadRequestError):
                field_errors = {field_for(name) or name: text
                                for name, text in exc.field_errors.items()}
            return CreationOutcome(row_id, FAILED, message, field_errors=field_errors)
        if result.provider is None:
            self.history.mark_links_lost(row_id, result.user_id)
            return CreationOutcome.from_row(self.history.get(scope, row_id))
        return self._keep(row_id, scope, request, result.provider, created_by, source)

    def _elsewhere(self, api_key: str, scope: Scope, user_id: str | None,
                   practice_id: str | None) -> bool:
        """Whether the account /users/check found for the email is in another organisation
        than the one being created in: an email may be in each of a platform's practices once,
        and once in the key's own organisation. Creating in the key's own organisation, only
        an account in one of the key's practices counts as elsewhere (any other organisation
        may be the key's own, not learned yet: nothing is created twice)."""
        if not user_id:
            return False
        practices: set[str] = set()
        if practice_id is None:
            practices = ({p.org_id for p in Practices(self.history.engine).all(scope)}
                         - {org.lower() for org in scope.organization_ids})
            if not practices:  # not a platform: no call for it
                return False
        try:
            found = self.client.get_user(api_key, user_id)
        except ApiError:
            return False  # cannot tell: treated as the same (nothing is created twice)
        where = (found.organization_id or "").lower()
        if practice_id is None:
            return where in practices
        return bool(where) and where != practice_id.lower()

    def _keep(self, row_id: int, scope: Scope, request: ProviderRequest,
              provider: CreatedProvider, created_by: str, source: str) -> CreationOutcome:
        outcome = CreationOutcome(row_id, CREATED, "", provider.invite_url,
                                  provider.private_room_link, provider.user_id)
        try:
            self.history.complete(row_id, scope.key_fingerprint, provider)
            return outcome
        except SQLAlchemyError:
            self.journal.append(journal_entry(row_id, scope, request, provider, created_by,
                                              source))
            return CreationOutcome(**{**outcome.__dict__, "saved": False})

    def seconds_until_settle(self, row: ProviderRow) -> float:
        """How long until Upheal can be trusted to know what became of this pending row."""
        due = row.updated_at + timedelta(seconds=self.settle_after)
        return max(0.0, (due - utcnow()).total_seconds())

    def settle(self, api_key: str, scope: Scope, row_id: int) -> CreationOutcome:
        """'Check with Upheal' for a row whose outcome is unknown, or 'Fetch the links again'
        for one created without its links. A pending row is asked about only once a create
        still running at Upheal would have finished, and changes only if it is still pending:
        stored links are never overwritten, a create in flight is never called failed."""
        row = self.history.get(scope, row_id)
        if row.status == LINKS_LOST:
            return self.fetch_links(api_key, scope, row)
        if row.status != PENDING:
            return CreationOutcome.from_row(row)
        wait = self.seconds_until_settle(row)
        if wait > 0:
            return CreationOutcome.from_row(row, message=(
                f"Upheal may still be working on this create. Check again in {ceil(wait)} "
                "seconds; nothing will be sent twice."), status=PENDING) \
                .with_retry(wait)
        check = self.client.check_user(api_key, row.email)
        if check.is_user_exists:
            provider = self.client.recover(api_key, check.user_id or "")
            if provider is not None:
                self.history.complete(row_id, scope.key_fingerprint, provider)
            else:
                self.history.mark_links_lost(row_id, check.user_id or "")
        else:
            self.history.mark_failed(row_id, NOT_CREATED_TEXT.get(row.source,
                                                                  NOT_CREATED_TEXT["form"]))
        return CreationOutcome.from_row(self.history.get(scope, row_id))

    def fetch_links(self, api_key: str, scope: Scope, row: ProviderRow) -> CreationOutcome:
        """Ask Upheal again for the links of a provider created without them."""
        provider = self.client.recover(api_key, row.user_id or "", row.organization_id)
        if provider is None:
            return CreationOutcome.from_row(row, message=(
                "Upheal could not give the links just now. Try again in a few minutes; if it "
                "keeps failing, ask Upheal to resend the invite."))
        self.history.complete(row.id, scope.key_fingerprint, provider)
        return CreationOutcome.from_row(self.history.get(scope, row.id))


def journal_entry(row_id: int, scope: Scope, request: ProviderRequest,
                  provider: CreatedProvider, created_by: str, source: str) -> dict[str, Any]:
    return {
        "row_id": row_id, "key_fingerprint": scope.key_fingerprint, "created_by": created_by,
        "source": source, "recorded_at": utcnow().isoformat(),
        "request": request.to_json(), "provider": provider.model_dump(by_alias=True),
    }


def replay_journal(journal: LinkJournal, history: History) -> tuple[int, int]:
    return journal.replay(history.apply_journal_entry)
