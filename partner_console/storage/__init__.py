"""History storage: SQLAlchemy Core over SQLite or PostgreSQL, with migrations and a journal."""

from partner_console.storage.engine import make_engine
from partner_console.storage.errors import MigrationError, NotFoundError, StorageError
from partner_console.storage.follow_up import FollowUp
from partner_console.storage.history import History, ProviderRow
from partner_console.storage.history_reads import HistoryFilter, HistoryPage, HistoryReads
from partner_console.storage.journal import LinkJournal
from partner_console.storage.migrations import migrate
from partner_console.storage.scope import Scope, fingerprint, load_or_create_secret

__all__ = [
    "FollowUp", "History", "HistoryFilter", "HistoryPage", "HistoryReads", "LinkJournal",
    "MigrationError", "NotFoundError", "ProviderRow", "Scope", "StorageError", "fingerprint",
    "load_or_create_secret", "make_engine", "migrate",
]
