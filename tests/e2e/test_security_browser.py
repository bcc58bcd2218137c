"""The key never leaks, organisations stay apart, and many people at once lose nothing."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from partner_console.sandbox import SANDBOX_KEYS, SandboxApp, SandboxServer
from partner_console.sandbox.app import SandboxOrganisation
from tests.e2e.conftest import start_app, stop_app, wait_for_app_run
from tests.e2e.proxy import behind_nginx
from tests.e2e.steps import (
    create_provider,
    download,
    enter_key,
    go,
    import_file,
    practice_file,
    result_seen,
    textbox,
)
from tests.report import record

pytestmark = [pytest.mark.browser]
CANARY = "CANARY-key-7d3f9a61-do-not-leak"
DEMO, SECOND = "sandbox-demo-key", "sandbox-second-org-key"


@pytest.fixture
def sandbox_with_canary():
    keys = {**SANDBOX_KEYS, CANARY: SandboxOrganisation("0c0a0a0a-0000-4000-8000-00000000ca01",
                                                        "Canary Clinic")}
    server = SandboxServer(SandboxApp(rate_per_minute=100_000, seed=3, keys=keys),
                           hang_seconds=1)
    server.start_in_thread()
    yield server
    server.shutdown()
    server.server_close()


def database_env(request, tmp_path) -> tuple[dict[str, str], object]:
    if request.param == "sqlite":
        return {}, None
    server = request.getfixturevalue("postgres_server")
    name = f"e2e_{tmp_path.name[-20:].replace('-', '_').lower()}"
    return {"DATABASE_URL": server.create_database(name)}, (server, name)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_env(request, tmp_path):
    return database_env(request, tmp_path)


def test_canary_key_never_leaks_through_any_workflow(browser, sandbox_with_canary, db_env,
                                                     tmp_path):
    env, pg = db_env
    app = start_app(tmp_path, {"UPHEAL_API_BASE_URL": sandbox_with_canary.base_url,
                               "UPHEAL_RATE_LIMIT_PER_MINUTE": "6000", **env})
    sandbox = sandbox_with_canary.app
    pages_html: list[str] = []
    urls: list[str] = []
    files: list[bytes] = []
    try:
        context = browser.new_context(viewport={"width": 1280, "height": 800},
                                      accept_downloads=True)
        page = context.new_page()
        page.on("request", lambda request: urls.append(request.url))
        page.on("framenavigated", lambda frame: urls.append(frame.url))
        page.goto(app.url)
        wait_for_app_run(page)
        enter_key(page, CANARY)
        snap = lambda: pages_html.append(page.content())  # noqa: E731

        create_provider(page, "Jane", "Canary", "jane.canary@example.com")  # create
        page.get_by_role("dialog").get_by_text("was created in Upheal").wait_for()
        snap()
        result_seen(page)
        page.get_by_role("button", name="Done – create another provider").click()
        wait_for_app_run(page)
        create_provider(page, "Jane", "Canary", "jane.canary@example.com")  # duplicate
        page.get_by_text("was already created").wait_for()
        wait_for_app_run(page)  # a click while the run still draws the box can be lost (CI)
        page.get_by_role("button", name="Create anyway").click()
        page.get_by_text("already has an Upheal account").wait_for()
        snap()
        create_provider(page, "Bad", "Email", "not-an-email")  # failure
        page.get_by_text("Some details need fixing").wait_for()
        snap()
        page.get_by_role("button", name="Test key").click()
        page.get_by_text("The key works.", exact=True).wait_for()

        go(page, "History", "provider(s) · page")  # history, details, exports
        # the automatic sign-up check (with the canary key) ends in a whole-page rerun, which
        # gives the download buttons new addresses: download once it has finished
        page.get_by_text("checked (finished)").wait_for(timeout=30_000)
        wait_for_app_run(page)
        files.append(download(page, "Download CSV", tmp_path / "h.csv"))
        files.append(download(page, "Download Excel", tmp_path / "h.xlsx"))
        page.get_by_text("Copy all links").click()
        wait_for_app_run(page)
        snap()

        go(page, "Email texts", "Placeholders")  # the email text
        page.get_by_role("button", name="Save the invite email").click()
        page.get_by_text("Saved.").wait_for()
        go(page, "Note templates", "Add a template")  # the templates
        page.get_by_text("Import or export the list as CSV").click()
        files.append(download(page, "Download templates (CSV)", tmp_path / "t.csv"))
        snap()

        go(page, "Bulk import", "1. Get the template")  # bulk import and its downloads
        files.append(download(page, "Download template (Excel)", tmp_path / "template.xlsx"))
        import_file(page, practice_file(tmp_path / "p.csv", "Canary", 5), 5)
        files.append(download(page, "Download results (CSV)", tmp_path / "r.csv"))
        files.append(download(page, "Download results (Excel)", tmp_path / "r.xlsx"))
        snap()

        page.get_by_role("button", name="Forget key").click()  # sign out
        textbox(page, "API key").wait_for()
        calls_before = len(sandbox.calls)
        for link, text in (("History", "History"), ("Bulk import", "1. Get the template"),
                           ("Create provider", "Create provider")):
            go(page, link, text)
            snap()
        after = sandbox.calls[calls_before:]
        assert all(c.key_name != CANARY for c in after)
        context.close()
    finally:
        stop_app(app)

    haystacks: dict[str, bytes] = {f"page {i}": html.encode() for i, html in
                                   enumerate(pages_html)}
    haystacks.update({f"download {i}": data for i, data in enumerate(files)})
    haystacks["urls"] = "\n".join(urls).encode()
    haystacks["streamlit log"] = app.log.read_bytes()
    for path in Path(app.data_dir).rglob("*"):
        if path.is_file():
            haystacks[f"data/{path.name}"] = path.read_bytes()
    if pg is not None:
        server, name = pg
        haystacks["pg_dump"] = subprocess.run(
            [str(server.bin_dir / "pg_dump"), "-h", "127.0.0.1", "-p", str(server.port),
             "-U", "postgres", name], capture_output=True, check=True).stdout
        assert b"jane.canary@example.com" in haystacks["pg_dump"]  # the dump is real
    else:
        assert any(b"jane.canary@example.com" in v for k, v in haystacks.items()
                   if k.startswith("data/"))
    needle = CANARY.encode()
    leaks = [name for name, data in haystacks.items()
             if needle in data or needle in data.decode("latin-1").encode("utf-8")]
    assert leaks == []
    assert len(pages_html) >= 8 and len(files) == 6
    record(f"key leak search ({'postgresql' if pg else 'sqlite'})",
           places_searched=len(haystacks), pages=len(pages_html), downloads=len(files),
           urls=len(urls), leaks_found=len(leaks),
           calls_with_key_after_forget=0)


def test_two_organisations_at_once_see_only_their_own(browser, loopback_sandbox, tmp_path):
    app = start_app(tmp_path, {"UPHEAL_API_BASE_URL": loopback_sandbox.base_url,
                               "UPHEAL_RATE_LIMIT_PER_MINUTE": "6000"})
    try:
        pages = {}
        for key, who in ((DEMO, "Alpha"), (SECOND, "Beta")):
            context = browser.new_context(viewport={"width": 1280, "height": 800})
            page = context.new_page()
            page.goto(app.url)
            wait_for_app_run(page)
            enter_key(page, key)
            pages[who] = page
        for who, page in pages.items():  # both create, then both import
            create_provider(page, who, "Person", f"{who.lower()}.person@example.com")
            result_seen(page)
        for who, page in pages.items():
            go(page, "Bulk import", "1. Get the template")
            import_file(page, practice_file(tmp_path / f"{who}.csv", who, 3), 3)
        seen = {}
        for who, page in pages.items():
            go(page, "History", "provider(s) · page")
            seen[who] = page.inner_text("body")
            exported = download(page, "Download CSV", tmp_path / f"{who}-export.csv").decode(
                "utf-8-sig")
            other = "Beta" if who == "Alpha" else "Alpha"
            assert f"{who.lower()}.person@example.com" in exported
            assert other.lower() not in exported.lower()
            assert "4 provider(s)" in seen[who]
            assert other not in seen[who]
            go(page, "Bulk import", "Import")
            assert f"{other}.csv" not in page.inner_text("body")
        users = loopback_sandbox.app.users()
        assert len(users) == 8
        record("organisations apart (one server, two browsers)", organisations=2,
               providers_each=4, rows_seen_of_the_other=0, exports_with_the_other=0)
    finally:
        stop_app(app)


def test_ten_people_at_once_and_two_replicas_on_one_postgres(browser, loopback_sandbox,
                                                            postgres_server, tmp_path):
    url = postgres_server.create_database(f"replicas_{tmp_path.name[-12:].lower()}")
    env = {"UPHEAL_API_BASE_URL": loopback_sandbox.base_url, "DATABASE_URL": url,
           "UPHEAL_RATE_LIMIT_PER_MINUTE": "6000", "PARTNER_CONSOLE_SECRET": "shared-secret"}
    loopback_sandbox.app.faults.latency_ms = 150  # the clicks overlap inside the calls
    replicas = [start_app(tmp_path / "a", env), start_app(tmp_path / "b", env)]
    proxy = behind_nginx(tmp_path / "nginx", replicas)
    try:
        people = []
        for n in range(10):  # through nginx, every other person pinned to the other replica
            context = replicas[n % 2].context(browser, viewport={"width": 1280, "height": 800})
            page = context.new_page()
            page.goto(replicas[n % 2].entry)
            wait_for_app_run(page)
            enter_key(page, DEMO if n % 3 else SECOND)
            for label, value in (("First name", f"Load{n}"), ("Last name", "Person"),
                                 ("Email", f"load{n}@example.com")):
                textbox(page, label).fill(value)
            textbox(page, "Email").press("Tab")
            wait_for_app_run(page)
            people.append(page)
        for page in people:  # ten clicks in a row, without waiting for answers
            page.get_by_role("button", name="Create provider").click()
        for n, page in enumerate(people):
            page.get_by_text("was created in Upheal").first.wait_for(timeout=60_000)
            wait_for_app_run(page)
            body = page.inner_text("body")
            assert f"Load{n} Person" in body
            assert not any(f"Load{m} Person" in body for m in range(10) if m != n)
        users = loopback_sandbox.app.users()
        assert sorted(u["email"] for u in users) == sorted(f"load{n}@example.com"
                                                           for n in range(10))
        # a colleague on the other replica sees the same organisation's providers
        people[1].keyboard.press("Escape")  # (their result dialog, if it is still open)
        people[1].get_by_role("dialog").wait_for(state="detached")
        go(people[1], "History", "provider(s) · page")
        demo_count = sum(1 for n in range(10) if n % 3)
        assert f"{demo_count} provider(s)" in people[1].inner_text("body")
        assert {app.port for app in replicas} <= proxy.ports_seen()  # both served people
        record("load: 10 sessions on 2 replicas, one PostgreSQL", sessions=10, replicas=2,
               created=len(users), lost=0, duplicates=0, cross_session_leaks=0)
    finally:
        proxy.stop()
        for app in replicas:
            stop_app(app)


def test_a_hostile_workbook_slows_nobody_else(browser, tmp_path):
    """Issue 11: a 1.6 KB workbook claiming A1:XFD1048576 aborted the whole server. Now the
    person who uploads it gets a sentence, and a colleague's page keeps answering meanwhile."""
    import time

    from tests.hostile_files import corpus

    app = start_app(tmp_path, {})
    try:
        uploader = browser.new_page(viewport={"width": 1366, "height": 768})
        colleague = browser.new_page(viewport={"width": 1366, "height": 768})
        for page in (uploader, colleague):
            page.goto(app.url)
            wait_for_app_run(page)
            enter_key(page, DEMO)
        go(uploader, "Bulk import", "2. Upload your file")
        answered = []
        for data in corpus().values():
            path = tmp_path / ("hostile.xlsx" if data[:2] == b"PK" else "hostile.csv")
            path.write_bytes(data)
            started = time.monotonic()
            uploader.locator("input[type=file]").set_input_files(str(path))
            go(colleague, "History", "Providers you create appear here")  # while it is read
            answered.append(time.monotonic() - started)
            alert = uploader.get_by_test_id("stAlertContentError").first
            alert.wait_for(timeout=30_000)
            assert "." in alert.inner_text() and "Traceback" not in uploader.inner_text("body")
            go(colleague, "Create provider", "Create provider")
            assert app.process.poll() is None  # the server is still there
        record("hostile uploads: a colleague's page meanwhile", files=len(answered),
               slowest_page_seconds=round(max(answered), 2), server_survived=True)
    finally:
        stop_app(app)
