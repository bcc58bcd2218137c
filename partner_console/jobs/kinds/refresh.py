"""A sign-up refresh: each row asks /users/check about one provider and records its sign-up
status (signup.py). It only reads, so a row a killed runner left "sending" is simply asked
again; everything else (one runner across replicas, Pause, Cancel, the key's shared budget
with people's own calls first) is the engine's."""

from __future__ import annotations

import logging

from partner_console.api.client import UphealClient
from partner_console.api.errors import ApiError, AuthenticationError
from partner_console.jobs.engine import Handler, JobServices, Runner, Words, kind
from partner_console.jobs.store import Job, JobKind, JobRow, JobStore, NewRow, RowState
from partner_console.messages import explain
from partner_console.signup import label as signup_label
from partner_console.signup import status_from_check
from partner_console.storage.history import History
from partner_console.storage.scope import Scope

log = logging.getLogger(__name__)
WORDS = Words("refresh", "Cancelled before this provider was checked.",
              title="Sign-up status of {total} provider(s)")


def create_refresh(store: JobStore, scope: Scope, *, created_by: str,
                   providers: list[tuple[int, str, str]], start_token: str) -> tuple[int, bool]:
    """A refresh of `providers` ((History row id, email, name) each): one row per provider."""
    return store.create(scope, kind=JobKind.REFRESH, created_by=created_by,
                        start_token=start_token, rows=[
                            NewRow(number, email, name, provider_id=provider_id)
                            for number, (provider_id, email, name) in enumerate(providers, 1)])


@kind(JobKind.REFRESH, WORDS)
def _refresh(run: Runner, services: JobServices, job: Job) -> Handler:
    return CheckRows(run, services.client.paced(services.background_pacing()),
                     services.history)


class CheckRows(Handler):
    def __init__(self, run: Runner, client: UphealClient, history: History) -> None:
        super().__init__(run)
        self.client = client
        self.history = history

    def close(self) -> None:
        self.client.close()

    def settle(self, wait: bool) -> None:
        # Rows a runner was asking about when it died: asking again is harmless.
        self.run.leases.requeue_interrupted(self.run.job_id, self.run.owner)

    def process(self, row: JobRow) -> None:
        try:
            check = self.client.check_user(self.run.api_key, row.email)
        except AuthenticationError as exc:  # the key stopped working: stop, keep the row
            self.run.requeue(row)
            log.warning("refresh job %s: %s", self.run.job_id, type(exc).__name__)
            self.run.pause()
            return
        except ApiError as exc:  # this one could not be asked; its status is left as it was
            self.run.store.finish_row(row, RowState.FAILED, message=explain(exc))
            return
        status = status_from_check(check)
        if row.provider_id is not None:
            self.history.record_signup(row.provider_id, status)
        self.run.store.finish_row(row, RowState.CHECKED, message=signup_label(status))
