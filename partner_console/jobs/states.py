"""The words a job and its rows are stored with, defined once. This module imports nothing of
the console, so every layer can read it: storage (coordination.py decides leases and claims),
the job store and engine, each kind, and the pages."""

from __future__ import annotations

from enum import StrEnum


class JobKind(StrEnum):
    IMPORT = "import"  # providers created from a file (kinds/imports.py)
    REFRESH = "refresh"  # sign-up statuses checked with Upheal (kinds/refresh.py)
    EMAILS = "emails"  # invite emails (kinds/emails.py)
    REMINDERS = "reminders"  # reminder emails, the same way
    SYNC = "sync"  # a roster sync: creates, changes, deactivations (kinds/sync.py)


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
    UPDATED = "updated"  # a roster sync changed this provider's details
    DEACTIVATED = "deactivated"  # ... or deactivated them
    LINKED = "linked"  # ... or found them in Upheal already, and linked them to History
