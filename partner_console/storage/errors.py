"""Storage errors: one base, named children (sqlite-utils style, plus the base it lacks)."""


class StorageError(Exception):
    """The history database could not do what was asked."""


class NotFoundError(StorageError):
    """No such row in this organisation's history."""


class MigrationError(StorageError):
    """The database schema could not be brought up to date."""
