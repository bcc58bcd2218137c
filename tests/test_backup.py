"""`make backup` and `make restore` on a real SQLite deployment, copies taken while an import
runs against the sandbox served on loopback."""

from __future__ import annotations

import json
import sqlite3
import time
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from partner_console import backup as backups
from partner_console.api.client import RetryPolicy, UphealClient
from partner_console.api.models import CreatedProvider, ProviderRequest
from partner_console.api.pacing import Pacer
from partner_console.bulk.columns import auto_map
from partner_console.bulk.prepare import prepare_rows
from partner_console.bulk.read import read_file
from partner_console.config import Settings
from partner_console.creation import journal_entry
from partner_console.jobs.kinds.imports import create_import
from partner_console.jobs.store import JobStatus, JobStore
from partner_console.sandbox import Faults
from partner_console.startup import recover
from partner_console.storage import History, LinkJournal, fingerprint, make_engine, migrate
from partner_console.storage.coordination import Leases
from partner_console.storage.migrations import LATEST, current_version
from partner_console.storage.scope import load_or_create_secret
from partner_console.storage.sends import Sends
from tests.helpers import HistoryForTests, build_runner

KEY = "sandbox-demo-key"
ROWS = 300


def settings_for(data_dir, kept: int = 14) -> Settings:
    return Settings(database_url=f"sqlite:///{data_dir / 'partner_console.db'}",
                    data_dir=data_dir, backups_kept=kept)


pytestmark = pytest.mark.sandbox(rate_per_minute=100_000, seed=23, faults=Faults(latency_ms=15))  # (the `served` fixture's)


def deployment(data_dir):
    """A console's data folder as `make run` leaves it: database, generated secret."""
    settings = settings_for(data_dir)
    engine = make_engine(settings.database_url)
    migrate(engine)
    secret = load_or_create_secret(None, data_dir)
    history = HistoryForTests(engine)
    return settings, engine, history, history.scope_for(fingerprint(secret, KEY))


def journalled_link(settings, scope) -> dict:
    """A link whose database write failed (it waits in the journal for the next start)."""
    entry = journal_entry(
        999_001, scope, ProviderRequest(first_name="Jo", last_name="Journal",
                                        email="jo.journal@example.com"),
        CreatedProvider(user_id="u-journal", invite_url="https://upheal.test/invite/journal",
                        private_room_link="https://upheal.test/room/journal"), "Ann", "form")
    LinkJournal(settings.journal_path).append(entry)
    return entry


def links_in(path) -> dict[int, tuple[str, str]]:
    with sqlite3.connect(path) as db:
        return {row[0]: (row[1], row[2]) for row in db.execute(
            "SELECT id, user_id, invite_url FROM providers WHERE status = 'created'")}


def test_copies_made_while_an_import_runs_open_current_with_every_link(served, tmp_path):
    sandbox, server = served
    settings, engine, history, scope = deployment(tmp_path / "data")
    entry = journalled_link(settings, scope)
    read = read_file(("First name,Last name,Email\n" + "".join(
        f"P{i},Bulk,p{i}@example.com\n" for i in range(ROWS))).encode(), "practice.csv")
    store = JobStore(engine)
    job_id, _ = create_import(store, scope, created_by="Ann", file_name="practice.csv",
                              rows=prepare_rows(read, auto_map(read.headers), []),
                              start_token="backup-1")
    client = UphealClient(server.base_url, timeout=2,
                          retry=RetryPolicy(max_attempts=4, initial_backoff=0.05))
    runner = build_runner(job_id=job_id, api_key=KEY, scope=scope, created_by="Ann",
                          store=store, history=history, journal=LinkJournal(settings.journal_path),
                          client=client, pacing=Pacer(6000), owner="backup-test", settle_after=1)
    runner.start()
    copies, moment = [], datetime(2026, 12, 6, 2, 0, tzinfo=UTC)
    while store.progress(job_id).done < ROWS and len(copies) < 3:
        done_before = store.progress(job_id).done
        if done_before < 20:
            time.sleep(0.05)
            continue
        made = backups.backup(settings, now=moment + timedelta(minutes=len(copies)))
        copies.append((made, done_before, store.get(scope, job_id).status))
        time.sleep(0.3)
    runner.join(120)
    assert store.get(scope, job_id).status == JobStatus.FINISHED
    during = [made for made, done, status in copies if status == JobStatus.RUNNING]
    assert len(during) >= 2, copies  # taken while the import was writing
    users = {u["userId"]: u["inviteUrl"] for u in sandbox.users()}
    for made, done_before, _ in copies:
        path = made.folder / backups.DATABASE
        copied = make_engine(f"sqlite:///{path}")
        with copied.connect() as conn:
            assert current_version(conn) == LATEST  # its migrations are current
            # one moment of the database: no import row "created" without its provider's link
            torn = conn.execute(text(
                "SELECT count(*) FROM bulk_job_rows r JOIN providers p ON p.id = r.provider_id "
                "WHERE r.state = 'created' AND (p.status != 'created' "
                "OR p.invite_url IS NOT r.invite_url)")).scalar()
            assert torn == 0
        copied.dispose()
        links = links_in(path)
        assert len(links) >= done_before  # what was done before the copy is in it
        assert len(links) == made.invite_links
        assert all(users[user] == url for user, url in links.values())  # intact
        journal = LinkJournal(made.folder / backups.JOURNAL).entries()
        assert [e["row_id"] for e in journal] == [entry["row_id"]]  # the journal went with it
        assert (made.folder / backups.SECRET).read_bytes() == \
            (settings.data_dir / "secret.key").read_bytes()
        manifest = json.loads((made.folder / backups.MANIFEST).read_text())
        assert manifest["invite_links"] == len(links) and manifest["schema_version"] == LATEST

    # The machine is lost: the last copy restored on a new one, and the console started.
    newest = copies[-1][0]
    fresh = settings_for(tmp_path / "new-machine")
    backups.restore(fresh, newest.folder)
    restored = make_engine(fresh.database_url)
    migrate(restored)
    outcome = recover(history=History(restored), journal=LinkJournal(fresh.journal_path),
                      leases=Leases(restored), sends=Sends(restored, "r", "r#1",
                                                           timedelta(seconds=60)),
                      replica="r", owner="r#1")
    assert outcome.links_waiting == 0  # the journal's link was replayed
    secret = load_or_create_secret(None, fresh.data_dir)  # the copy's: rows are visible
    again = HistoryForTests(restored)
    scope_again = again.scope_for(fingerprint(secret, KEY))
    assert again.get(scope_again, entry["row_id"]).invite_url == \
        "https://upheal.test/invite/journal"
    shown = {r.id: r.invite_url for r in again.iter_rows(scope_again) if r.status == "created"}
    assert {i: url for i, (_, url) in links_in(newest.folder / backups.DATABASE).items()} \
        .items() <= shown.items()
    restored.dispose()


def test_a_restore_keeps_what_it_replaces_and_both_journals(tmp_path):
    settings, engine, history, scope = deployment(tmp_path / "data")
    first = backups.backup(settings, now=datetime(2026, 12, 1, tzinfo=UTC))
    later = journalled_link(settings, scope)  # after the copy: only the current journal has it
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE added_after (x INTEGER)"))
    engine.dispose()
    backups.restore(settings, first.folder)
    kept = [p for p in backups.listed(settings) if p.name.endswith(backups.BEFORE_RESTORE)]
    assert len(kept) == 1  # the replaced history, backed up first
    with sqlite3.connect(kept[0] / backups.DATABASE) as db:
        assert db.execute("SELECT count(*) FROM sqlite_master WHERE name = 'added_after'"
                          ).fetchone() == (1,)
    with sqlite3.connect(settings.data_dir / "partner_console.db") as db:
        assert db.execute("SELECT count(*) FROM sqlite_master WHERE name = 'added_after'"
                          ).fetchone() == (0,)  # the copy is what is in place now
    assert [e["row_id"] for e in LinkJournal(settings.journal_path).entries()] == \
        [later["row_id"]]  # a link the copy never saw is still on its way in


def test_the_newest_copies_are_kept(tmp_path):
    settings, engine, _, _ = deployment(tmp_path / "data")
    settings = settings_for(settings.data_dir, kept=3)
    start = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)
    for day in range(5):
        backups.backup(settings, now=start + timedelta(days=day))
    assert [p.name for p in backups.listed(settings)] == [
        "2026-12-03T020000Z", "2026-12-04T020000Z", "2026-12-05T020000Z"]
    (backups.backups_folder(settings) / "notes").mkdir()  # not a copy: never removed
    backups.backup(settings, now=start + timedelta(days=6))
    assert (backups.backups_folder(settings) / "notes").is_dir()
    assert len(backups.listed(settings)) == 3
    engine.dispose()


def test_what_cannot_be_backed_up_or_restored_is_said_in_words(tmp_path, monkeypatch, capsys):
    postgres = Settings(database_url="postgresql+psycopg://u:p@db/console", data_dir=tmp_path)
    with pytest.raises(backups.BackupError, match="pg_dump"):
        backups.backup(postgres)
    with pytest.raises(backups.BackupError, match="nothing to back up"):
        backups.backup(settings_for(tmp_path / "empty"))
    settings, engine, _, _ = deployment(tmp_path / "data")
    engine.dispose()
    with pytest.raises(backups.BackupError, match="holds no backup"):
        backups.restore(settings, tmp_path / "nowhere")
    damaged = tmp_path / "damaged"
    damaged.mkdir()
    (damaged / backups.DATABASE).write_bytes(b"not a database at all" * 100)
    before = (settings.data_dir / "partner_console.db").read_bytes()
    with pytest.raises(backups.BackupError, match="does not open|damaged"):
        backups.restore(settings, damaged)
    assert (settings.data_dir / "partner_console.db").read_bytes() == before  # unchanged

    monkeypatch.setenv("PARTNER_CONSOLE_DATA_DIR", str(settings.data_dir))
    monkeypatch.delenv("DATABASE_URL", raising=False)
    made = backups.backup(settings)
    monkeypatch.setattr("builtins.input", lambda prompt: "no")
    assert backups.main(["restore", str(made.folder)]) == 1  # not confirmed: nothing changes
    assert "Nothing was changed" in capsys.readouterr().out
    assert not [p for p in backups.listed(settings) if p.name.endswith("before-restore")]
    monkeypatch.setenv("DATABASE_URL", "postgresql+psycopg://u:p@db/console")
    assert backups.main([]) == 2
    error = capsys.readouterr().err
    assert "pg_dump" in error and "Traceback" not in error
