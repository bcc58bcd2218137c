"""The words a job and its rows are stored with, defined once, where storage (coordination.py)
and the job engine (bulk/) can both read them. The database holds each member's value; code
outside this module uses the plain strings (`.value`), which every driver binds as text."""

from __future__ import annotations

from enum import StrEnum


class JobKind(StrEnum):
    IMPORT = "import"
    REFRESH = "refresh"  # sign-up statuses checked with Upheal (signup.py)
    EMAILS = "emails"  # invite emails (bulk/emailing.py)
    REMINDERS = "reminders"  # reminder emails, the same way


class JobStatus(StrEnum):
    RUNNING = "running"
    PAUSED = "paused"
    CANCELLED = "cancelled"
    FINISHED = "finished"


class RowState(StrEnum):
    QUEUED = "queued"
    SENDING = "sending"
    CREATED = "created"
    LINKS_LOST = "links_lost"
    FAILED = "failed"
    SKIPPED = "skipped"
    CHECKED = "checked"  # a sign-up refresh asked Upheal about this provider
    EMAILED = "emailed"  # an email job handed this provider's email over
    UNCERTAIN = "uncertain"  # ... and then got no answer: it may have been sent


# What a row left queued by a Cancel says, by the job's kind, whoever cancels: the runner
# obeying it, or coordination.ask() when no runner holds the job.
CANCELLED_BEFORE = {
    JobKind.IMPORT.value: "Import cancelled before this row.",
    JobKind.REFRESH.value: "Cancelled before this provider was checked.",
    JobKind.EMAILS.value: "Cancelled before this email was sent.",
    JobKind.REMINDERS.value: "Cancelled before this email was sent.",
}
