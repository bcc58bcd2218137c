"""Storage errors: one base, named children (sqlite-utils style, plus the base it lacks)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from partner_console.storage.coordination import Holder


class StorageError(Exception):
    """The history database could not do what was asked."""


class NotFoundError(StorageError):
    """No such row in this organisation's history."""


class MigrationError(StorageError):
    """The database schema could not be brought up to date."""


class EmailReservedError(StorageError):
    """Another create of this email is in flight, or its outcome is not settled yet."""

    def __init__(self, holder: Holder) -> None:
        super().__init__("This email is being created by someone else right now.")
        self.holder = holder
