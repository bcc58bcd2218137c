"""A roster sync (roster.py plans it): each row creates a provider (or links one Upheal already
has), changes one (only the fields that differ, each to the endpoint that can change it), or
deactivates one missing from the roster. Paced in the key's budget behind people's own calls,
one runner across replicas, Pause / Resume / Cancel: the engine's.

Nothing is done twice after a kill: a create's unknown outcome is settled as an import's is
(its attempts' tokens, /users/check); a change or a deactivation left "sending" is sent again
only when Upheal's state shows it did not happen (get-provider shows other values; the user
is still active).
"""

from __future__ import annotations

import logging
from typing import Any

from partner_console.api.errors import ApiError
from partner_console.api.models import CreatedProvider, NoteIdentifier, ProviderRequest
from partner_console.changes import NAMES, PROVIDER_FIELDS, Change
from partner_console.creation import EXISTS, CreationOutcome, ProviderCreator
from partner_console.jobs.engine import Handler, JobServices, Runner, Words, kind
from partner_console.jobs.kinds.imports import ImportRows
from partner_console.jobs.store import Job, JobKind, JobRow, JobStore, NewRow, Progress, RowState
from partner_console.messages import explain, explain_action
from partner_console.roster import MISSING, NEW, SyncPlan
from partner_console.storage import activity
from partner_console.storage.scope import Scope

log = logging.getLogger(__name__)
CREATE, UPDATE, DEACTIVATE = "create", "update", "deactivate"
LAST_ROWS_SETTING = "roster_last_rows"  # the last sync's file size (the safeguard's measure)


def _finished(job: Job, progress: Progress) -> str:
    c = progress.count
    return (f"The roster sync of “{job.file_name}”{{by}} finished: {c(RowState.CREATED)} "
            f"created, {c(RowState.LINKED)} linked, {c(RowState.UPDATED)} changed, "
            f"{c(RowState.DEACTIVATED)} deactivated, {progress.failed} failed.")


WORDS = Words("sync", "Cancelled before this row.", finished_action=activity.SYNCED,
              finished_words=_finished)


def _plain(values: dict[str, Any]) -> dict[str, Any]:
    return {k: v.value if isinstance(v, NoteIdentifier) else v for k, v in values.items()}


def create_sync(store: JobStore, scope: Scope, *, created_by: str, file_name: str,
                plan: SyncPlan, deactivate_missing: bool, start_token: str) -> tuple[int, bool]:
    """Store the sync of `plan`: one row per thing to send, in the file's order, then the
    deactivations (when asked). One sync at a time per organisation: while one is running or
    paused, UnfinishedJobError names it (two people applying at once make one sync)."""
    rows = []
    # (providers not in the file are numbered after its last line, to keep their order; the
    # results show no line number for them)
    last = max((p.row_number for p in plan.rows if p.row_number is not None), default=1)
    for planned in plan.to_send(deactivate_missing):
        number = planned.row_number
        if number is None:
            last += 1
            number = last
        if planned.category == NEW:
            request: dict[str, Any] = {"op": CREATE, "body": planned.create}
        elif planned.category == MISSING:
            request = {"op": DEACTIVATE, "provider_id": planned.provider_id}
        else:
            assert planned.change is not None
            request = {"op": UPDATE, "provider_id": planned.provider_id,
                       "new": _plain(planned.change.new), "old": _plain(planned.change.old)}
        rows.append(NewRow(number, planned.email, planned.name or None, cells=planned.cells,
                           request=request, provider_id=planned.provider_id,
                           practice_id=planned.practice_id))
    return store.create(scope, kind=JobKind.SYNC, created_by=created_by, file_name=file_name,
                        start_token=start_token, rows=rows, alone=True)


@kind(JobKind.SYNC, WORDS)
def _sync(run: Runner, services: JobServices, job: Job) -> Handler:
    client = services.client.paced(services.background_pacing())
    creator = ProviderCreator(client, services.history, services.journal,
                              services.settings.settle_after_seconds)
    return SyncRows(run, creator)


class SyncRows(ImportRows):
    """An import's creates (and their settling), plus changes and deactivations."""

    source = "sync"

    def before_finish(self) -> None:
        self._fetch_lost_links()

    def after_finish(self) -> None:
        pass

    def process(self, row: JobRow) -> None:
        op = (row.request or {}).get("op")
        if op == CREATE:
            self._create(row, ProviderRequest.model_validate(row.request["body"]))  # type: ignore[index]
        elif op == UPDATE:
            self._update(row)
        elif op == DEACTIVATE:
            self._deactivate(row)
        else:
            self.store.finish_row(row, RowState.FAILED, message="Not a row a sync can do.")

    def _record(self, row: JobRow, outcome: CreationOutcome) -> None:
        if outcome.status == EXISTS:  # a new id with an email Upheal knows: linked, not created
            self._link(row, outcome.user_id or "")
            return
        super()._record(row, outcome)

    def _link(self, row: JobRow, user_id: str) -> None:
        request = ProviderRequest.model_validate(row.request["body"])  # type: ignore[index]
        provider = self.creator.client.recover(self.run.api_key, user_id) if user_id else None
        if provider is None:
            provider = CreatedProvider.model_construct(user_id=user_id, invite_url=None,
                                                       private_room_link=None,
                                                       organization_id=None)
        reserved = self.history.reserve(self.run.scope, request, created_by=self.run.created_by,
                                        source=self.source, token=f"{self._token(row)}-link",
                                        practice_id=row.practice_id)
        if reserved.holder is not None:
            self.store.finish_row(row, RowState.SKIPPED, message=(
                f"{reserved.holder.created_by or 'A colleague'} was creating this provider at "
                "the same moment: see History."))
            return
        if provider.invite_url:
            self.history.complete(reserved.row_id, self.run.scope.key_fingerprint, provider)
        else:
            self.history.mark_links_lost(reserved.row_id, user_id)
        self.store.finish_row(row, RowState.LINKED, provider_id=reserved.row_id,
                              invite_url=provider.invite_url,
                              private_room_link=provider.private_room_link,
                              message="Upheal already had this email: linked to History, not "
                                      "created again.")

    def _user_id(self, row: JobRow) -> str | None:
        try:
            return self.history.get(self.run.scope, row.provider_id or 0).user_id
        except Exception:  # gone from History: nothing to send it to
            return None

    def _update(self, row: JobRow) -> None:
        request = row.request or {}
        change = Change(request.get("new", {}), request.get("old", {}))
        user_id = self._confirmed_user(row)
        if not user_id:
            return
        try:
            if change.user_body:
                self.creator.client.update_user(self.run.api_key, user_id, change.user_body)
                self.history.apply_change(row.provider_id or 0, change.only(NAMES).new)
            if change.provider_body:
                self.creator.client.update_provider(self.run.api_key, user_id,
                                                    change.provider_body)
                self.history.apply_change(row.provider_id or 0,
                                          change.only(PROVIDER_FIELDS).new)
        except ApiError as exc:
            self.store.finish_row(row, RowState.FAILED, message=explain_action(exc, "change"))
            return
        self.store.finish_row(row, RowState.UPDATED, message=f"Changed {change.words}.")

    def _confirmed_user(self, row: JobRow) -> str | None:
        """The row's Upheal user id; None (and the row failed, saying why) when Upheal has
        not confirmed the provider yet."""
        user_id = self._user_id(row)
        if not user_id:
            self.store.finish_row(row, RowState.FAILED, message="Upheal has not confirmed this "
                                  "provider yet: use “Check with Upheal” in History.")
        return user_id or None

    def _deactivate(self, row: JobRow) -> None:
        user_id = self._confirmed_user(row)
        if not user_id:
            return
        try:
            self.creator.client.deactivate(self.run.api_key, user_id)
        except ApiError as exc:
            self.store.finish_row(row, RowState.FAILED,
                                  message=explain_action(exc, "deactivate"))
            return
        self.history.mark_deactivated(row.provider_id or 0, self.run.created_by)
        self.store.finish_row(row, RowState.DEACTIVATED, message="Not in the roster.")

    def settle(self, wait: bool) -> None:
        """Rows a killed runner left "sending": a create as an import settles it; a change or
        a deactivation is looked up in Upheal, and sent again only if it did not happen."""
        for row in self.store.rows(self.run.job_id, (RowState.SENDING,)):
            op = (row.request or {}).get("op")
            if op == CREATE:
                self._settle_create(row, wait)
            else:
                self._settle_sent(row, op)
            self.run.renew()

    def _settle_sent(self, row: JobRow, op: str | None) -> None:
        user_id = self._user_id(row)
        try:
            if op == UPDATE and user_id:
                change = Change((row.request or {}).get("new", {}), {})
                now = self.creator.client.get_provider(self.run.api_key, user_id)
                if all(_same(getattr(now, k, None), v) for k, v in change.new.items()):
                    self.history.apply_change(row.provider_id or 0, change.new)
                    self.store.finish_row(row, RowState.UPDATED,
                                          message=f"Changed {change.words}.")
                    return
            elif op == DEACTIVATE and user_id:
                provider = self.history.get(self.run.scope, row.provider_id or 0)
                if not self.creator.client.check_user(self.run.api_key,
                                                      provider.email).is_active:
                    self.history.mark_deactivated(provider.id, self.run.created_by)
                    self.store.finish_row(row, RowState.DEACTIVATED,
                                          message="Not in the roster.")
                    return
        except ApiError as exc:  # cannot tell now: say so, nothing is sent blindly
            self.store.finish_row(row, RowState.FAILED, message=explain(exc))
            return
        self.run.requeue(row)  # Upheal shows it did not happen: its turn comes again


def _same(now: Any, wanted: Any) -> bool:
    if isinstance(wanted, list) or isinstance(now, list):
        return [str(i).lower() for i in now or []] == [str(i).lower() for i in wanted or []]
    return (now or None) == (wanted or None)
