"""Creating one provider, the safe way: write-ahead record, call, complete, journal on failure.

Used by the Create provider page and, row by row, by the bulk importer. No streamlit here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from partner_console.api.client import UphealClient
from partner_console.api.errors import ApiError, BadRequestError, OutcomeUnknownError
from partner_console.api.models import CreatedProvider, ProviderRequest, field_for
from partner_console.messages import explain
from partner_console.storage.history import History, ProviderRow, utcnow
from partner_console.storage.journal import LinkJournal
from partner_console.storage.scope import Scope
from partner_console.storage.tables import CREATED, FAILED, PENDING


@dataclass(frozen=True)
class CreationOutcome:
    row_id: int | None
    status: str  # created | links_lost | failed | pending (outcome unknown)
    message: str = ""
    invite_url: str | None = None
    private_room_link: str | None = None
    user_id: str | None = None
    field_errors: dict[str, str] | None = None
    saved: bool = True  # False: the links are only in the journal until the next start
    repeated: bool = False  # a double click: this is the earlier run's result

    @classmethod
    def from_row(cls, row: ProviderRow, repeated: bool = False) -> CreationOutcome:
        return cls(row.id, row.status, row.error_text or "", row.invite_url,
                   row.private_room_link, row.user_id, repeated=repeated)


@dataclass
class ProviderCreator:
    client: UphealClient
    history: History
    journal: LinkJournal

    def create(self, api_key: str, scope: Scope, request: ProviderRequest, *, created_by: str,
               token: str | None = None, source: str = "form") -> CreationOutcome:
        row_id, is_new = self.history.record_pending(
            scope, request, created_by=created_by, source=source, token=token)
        if not is_new:
            return CreationOutcome.from_row(self.history.get(scope, row_id), repeated=True)
        try:
            result = self.client.create_provider(api_key, request)
        except OutcomeUnknownError as exc:
            return CreationOutcome(row_id, PENDING, explain(exc))
        except ApiError as exc:
            message = explain(exc)
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

    def settle(self, api_key: str, scope: Scope, row_id: int) -> CreationOutcome:
        """'Check with Upheal' for a row whose outcome is unknown."""
        row = self.history.get(scope, row_id)
        if row.status != PENDING:
            return CreationOutcome.from_row(row)
        check = self.client.check_user(api_key, row.email)
        if check.is_user_exists:
            self.history.mark_links_lost(row_id, check.user_id or "")
        else:
            self.history.mark_failed(row_id, "Upheal has no provider with this email: it was not "
                                             "created. You can create it again.")
        return CreationOutcome.from_row(self.history.get(scope, row_id))


def journal_entry(row_id: int, scope: Scope, request: ProviderRequest,
                  provider: CreatedProvider, created_by: str, source: str) -> dict[str, Any]:
    return {
        "row_id": row_id, "key_fingerprint": scope.key_fingerprint, "created_by": created_by,
        "source": source, "recorded_at": utcnow().isoformat(),
        "request": request.to_json(), "provider": provider.model_dump(by_alias=True),
    }


def replay_journal(journal: LinkJournal, history: History) -> tuple[int, int]:
    return journal.replay(history.apply_journal_entry)
