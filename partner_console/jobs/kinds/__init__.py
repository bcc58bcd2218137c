"""Each kind of job: a row handler and its words, registered with the engine on import."""

from partner_console.jobs.kinds import emails, imports, refresh, sync

__all__ = ["emails", "imports", "refresh", "sync"]
