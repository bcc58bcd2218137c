"""Backups of a SQLite deployment, and their restore.

`make backup` (`python -m partner_console.backup`) writes an online, consistent copy while the
console runs: SQLite's backup API copies the database in one step inside a read transaction
(WAL: people keep working meanwhile), then the copy is checked (it opens, its integrity check
passes, its migrations are current) before it counts. Beside it go what the database needs to
be useful: the link journal (links not yet in the database; replayed at the next start) and the
generated secret that ties history rows to API keys (without it a restored history shows
nobody's rows). The last `PARTNER_CONSOLE_BACKUPS_KEPT` copies are kept.

`make restore BACKUP=data/backups/<stamp>` (`python -m partner_console.backup restore <folder>`)
puts one back, with the console stopped: the history it replaces is first backed up itself
(`<stamp>-before-restore`), and the link journals of both are kept, so no invite link is lost.

PostgreSQL deployments use pg_dump and pg_restore (docs/DEPLOY.md).
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import os
import re
import shutil
import sqlite3
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import create_engine
from sqlalchemy.engine import make_url

from partner_console.config import ConfigError, Settings, load_settings
from partner_console.storage.migrations import LATEST, current_version
from partner_console.storage.scope import SECRET_FILE

DATABASE = "partner_console.db"
JOURNAL = "link-journal.jsonl"
SECRET = SECRET_FILE
MANIFEST = "backup.json"
BEFORE_RESTORE = "-before-restore"
_STAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{6}Z(-before-restore)?$")


class BackupError(RuntimeError):
    """A backup or a restore could not be made; the message says why, in words."""


@dataclass(frozen=True)
class Backup:
    folder: Path
    created_at: str
    schema_version: int
    providers: int
    invite_links: int

    @property
    def summary(self) -> str:
        return (f"{self.folder}: {self.providers} provider(s), {self.invite_links} invite "
                f"link(s), database version {self.schema_version}")


def sqlite_path(settings: Settings) -> Path:
    """The SQLite file the console uses; a BackupError for any other database."""
    url = make_url(settings.database_url)
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        raise BackupError("The history is not kept in a SQLite file here (DATABASE_URL): back "
                          "up PostgreSQL with pg_dump, as docs/DEPLOY.md shows.")
    return Path(url.database)


def backups_folder(settings: Settings) -> Path:
    return settings.data_dir / "backups"


def backup(settings: Settings, *, now: datetime | None = None, suffix: str = "") -> Backup:
    """A checked copy of the database, the journal and the secret in a new dated folder;
    older copies beyond `settings.backups_kept` are removed."""
    source = sqlite_path(settings)
    if not source.is_file():
        raise BackupError(f"There is no history database at {source} yet: nothing to back up.")
    stamp = (now or datetime.now(UTC)).strftime("%Y-%m-%dT%H%M%SZ") + suffix
    root = backups_folder(settings)
    folder = root / stamp
    if folder.exists():
        raise BackupError(f"A backup named {stamp} exists already; try again in a second.")
    partial = root / f".{stamp}.partial"
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True, mode=0o700)
    try:
        _copy_database(source, partial / DATABASE)
        _copy_journal(settings.journal_path, partial / JOURNAL)
        if settings.secret_path.is_file():
            shutil.copy2(settings.secret_path, partial / SECRET)
        made = _checked(partial, stamp)
        (partial / MANIFEST).write_text(json.dumps({
            "created_at": made.created_at, "schema_version": made.schema_version,
            "providers": made.providers, "invite_links": made.invite_links,
            "database": str(source)}, indent=2) + "\n", encoding="utf-8")
        partial.rename(folder)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    prune(settings)
    return Backup(folder, made.created_at, made.schema_version, made.providers,
                  made.invite_links)


def _copy_database(source: Path, target: Path) -> None:
    """SQLite's online backup, all pages in one step: one read transaction, so the copy is
    one consistent moment of the database, whatever writes go on meanwhile."""
    try:
        with contextlib.closing(sqlite3.connect(source, timeout=60)) as src, \
                contextlib.closing(sqlite3.connect(target)) as dst:
            src.backup(dst)
            dst.execute("PRAGMA journal_mode=DELETE")  # one file, nothing beside it
        target.chmod(0o600)  # (the history: people's names and links)
    except sqlite3.Error as exc:
        raise BackupError(f"The history database could not be copied: {exc}.") from exc


def _copy_journal(journal: Path, target: Path) -> None:
    """The journal as it stands, read under its lock (a line being appended is whole or
    absent)."""
    if not journal.is_file():
        return
    with open(journal, "rb") as handle:
        fcntl.flock(handle, fcntl.LOCK_SH)
        data = handle.read()
    target.write_bytes(data)
    target.chmod(0o600)


def _checked(folder: Path, stamp: str) -> Backup:
    """The copy opens, passes SQLite's integrity check and is at the current version."""
    path = folder / DATABASE
    try:
        with contextlib.closing(sqlite3.connect(path)) as db:
            verdict = db.execute("PRAGMA integrity_check").fetchone()[0]
    except sqlite3.Error as exc:
        raise BackupError(f"The copy in {folder} does not open: {exc}.") from exc
    if verdict != "ok":
        raise BackupError(f"The copy in {folder} is damaged: {verdict}.")
    engine = create_engine(f"sqlite:///{path}")  # (plain: nothing set on the copy)
    try:
        with engine.connect() as conn:
            version = current_version(conn)
            providers = conn.exec_driver_sql("SELECT count(*) FROM providers").scalar() or 0
            links = conn.exec_driver_sql(
                "SELECT count(*) FROM providers WHERE invite_url IS NOT NULL "
                "AND invite_url != ''").scalar() or 0
    finally:
        engine.dispose()
    if version > LATEST:
        raise BackupError(f"The copy in {folder} is from a newer console (database version "
                          f"{version}); restore it with that version.")
    created = datetime.strptime(stamp[:18], "%Y-%m-%dT%H%M%SZ").replace(tzinfo=UTC)
    return Backup(folder, created.isoformat(), version, int(providers), int(links))


def prune(settings: Settings) -> list[Path]:
    """Remove the oldest copies beyond the number kept; returns what was removed."""
    root = backups_folder(settings)
    if not root.is_dir():
        return []
    copies = sorted(p for p in root.iterdir() if p.is_dir() and _STAMP.match(p.name))
    gone = copies[:max(0, len(copies) - settings.backups_kept)]
    for folder in gone:
        shutil.rmtree(folder)
    return gone


def listed(settings: Settings) -> list[Path]:
    root = backups_folder(settings)
    return sorted(p for p in root.iterdir() if p.is_dir() and _STAMP.match(p.name)) \
        if root.is_dir() else []


def restore(settings: Settings, folder: Path) -> Backup:
    """Put the copy in `folder` back, the console stopped. The history it replaces is backed
    up first; the journals of both are kept (replayed at the next start); the copy's secret
    comes back with it."""
    target = sqlite_path(settings)
    if not (folder / DATABASE).is_file():
        raise BackupError(f"{folder} holds no backup (no {DATABASE} in it).")
    chosen = _checked(folder, folder.name)
    if target.is_file():
        backup(settings, suffix=BEFORE_RESTORE)
    target.parent.mkdir(parents=True, exist_ok=True)
    incoming = target.with_name(target.name + ".restoring")
    shutil.copyfile(folder / DATABASE, incoming)
    for leftover in (Path(f"{target}-wal"), Path(f"{target}-shm")):
        leftover.unlink(missing_ok=True)  # the replaced database's, not the copy's
    os.replace(incoming, target)
    _merge_journal(folder / JOURNAL, settings.journal_path)
    if (folder / SECRET).is_file():
        settings.secret_path.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(folder / SECRET, settings.secret_path)
    return chosen


def _merge_journal(copy: Path, journal: Path) -> None:
    """The copy's journal lines not already in the current journal, appended to it."""
    if not copy.is_file():
        return
    journal.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(journal, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)
    with os.fdopen(fd, "r+", encoding="utf-8") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        handle.seek(0)
        present = set(handle.read().splitlines())
        missing = [line for line in copy.read_text(encoding="utf-8").splitlines()
                   if line and line not in present]
        handle.write("".join(line + "\n" for line in missing))
        handle.flush()
        os.fsync(handle.fileno())


def _lines(paths: list[Path]) -> Iterator[str]:
    for path in paths:
        manifest = path / MANIFEST
        try:
            facts = json.loads(manifest.read_text(encoding="utf-8"))
            yield (f"{path.name}  {facts['providers']} provider(s), {facts['invite_links']} "
                   f"invite link(s)")
        except (OSError, ValueError, KeyError):
            yield f"{path.name}  (no description)"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m partner_console.backup",
                                     description="Back up or restore the console's history "
                                                 "(SQLite).")
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("list", help="the copies kept")
    again = sub.add_parser("restore", help="put a copy back (stop the console first)")
    again.add_argument("folder", type=Path)
    again.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    args = parser.parse_args(argv)
    try:
        settings = load_settings()
        if args.command == "list":
            print("\n".join(_lines(listed(settings))) or "No backups yet.")
            return 0
        if args.command == "restore":
            target = sqlite_path(settings)
            if not args.yes:
                print(f"This replaces the history in {target} with the copy in {args.folder}.\n"
                      "Stop the console first. The history it replaces is backed up before.")
                if input("Type restore to go on: ").strip() != "restore":
                    print("Nothing was changed.")
                    return 1
            made = restore(settings, args.folder)
            print(f"Restored {made.summary}. Start the console again.")
            return 0
        made = backup(settings)
        print(f"Backed up {made.summary}.")
        return 0
    except (BackupError, ConfigError) as exc:
        print(exc, file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
