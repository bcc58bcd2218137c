"""Sign-in with the company account, through a real OpenID Connect provider on loopback
(oidc-provider-mock) and real `streamlit run` servers, in Chromium: nothing before sign-in,
allowed and refused people, a reload, sign-out, two replicas, and who did what recorded in
History, its export and the activity log."""

from __future__ import annotations

import csv
import io
import os
from urllib.parse import quote

import httpx
import pytest

from tests.e2e.a11y import violations
from tests.e2e.conftest import free_port, start_app, stop_app, wait_for_app_run
from tests.e2e.proxy import behind_nginx
from tests.e2e.steps import create_provider, download, enter_key, go, result_seen, textbox

pytestmark = [pytest.mark.browser]
COOKIE_SECRET = "a-long-random-cookie-secret-shared-by-replicas-0123456789"
ALLOWED = "@partner.example, boss@elsewhere.example"
PEOPLE = {
    "alice@partner.example": {"email": "alice@partner.example", "name": "Alice Ansel",
                              "email_verified": True},
    "bob@partner.example": {"email": "bob@partner.example", "name": "Bob Brandt",
                            "email_verified": True},
    "mallory@elsewhere.example": {"email": "mallory@elsewhere.example", "name": "Mallory",
                                  "email_verified": True},
    "eve@partner.example": {"email": "eve@partner.example", "name": "Eve",
                            "email_verified": False},
    # one claim, two addresses: only the text after the last "@" is in the domain
    "carl": {"email": "carl@evil.example, carl@partner.example", "name": "Carl",
             "email_verified": True},
    "eve2": {"email": "eve@evil.example@partner.example", "name": "Eve Two",
             "email_verified": True},
    # a provider that says nothing about the address ("nOAuth")
    "nora@partner.example": {"email": "nora@partner.example", "name": "Nora Noclaim"},
}


@pytest.fixture(scope="session")
def oidc():
    from oidc_provider_mock import run_server_in_thread

    with run_server_in_thread() as server:
        url = f"http://localhost:{server.server_port}"
        for sub, claims in PEOPLE.items():
            assert httpx.put(f"{url}/users/{quote(sub)}", json=claims).status_code == 204
        yield url


def secrets_file(tmp_path, oidc: str, address: str = "http://localhost:{port}"):
    """[auth] as the README sets it up; "{port}" is filled in by Streamlit."""
    path = tmp_path / "secrets.toml"
    path.write_text(
        "[auth]\n"
        f'redirect_uri = "{address}/oauth2callback"\n'
        f'cookie_secret = "{COOKIE_SECRET}"\n'
        'client_id = "partner-console"\n'
        'client_secret = "partner-console-secret"\n'
        f'server_metadata_url = "{oidc}/.well-known/openid-configuration"\n')
    return path


def signed_in_app(tmp_path, oidc: str, name: str, extra: dict[str, str] | None = None,
                  address: str = "http://localhost:{port}", port: int | None = None):
    folder = tmp_path / name
    folder.mkdir(parents=True, exist_ok=True)
    env = {"STREAMLIT_SECRETS_FILES": str(secrets_file(folder, oidc, address)),
           "PARTNER_CONSOLE_ALLOWED_EMAILS": ALLOWED, **(extra or {})}
    app = start_app(folder, env, port=port)
    app.url = f"http://localhost:{app.port}"  # the cookies are the redirect address's
    return app


def sign_in(page, sub: str) -> None:
    page.get_by_role("button", name="Sign in").click()
    page.get_by_placeholder("sub").wait_for()
    page.get_by_placeholder("sub").fill(sub)
    page.get_by_role("button", name="Authorize").click()
    page.wait_for_url("**/localhost:*/**")
    wait_for_app_run(page)


def activity_entries(page, target) -> list[dict[str, str]]:
    """The Activity page's log, as its CSV download holds it (the table is drawn on a canvas)."""
    log = download(page, "Download CSV", target).decode("utf-8-sig")
    return list(csv.DictReader(io.StringIO(log)))


def closed(page) -> None:
    """What someone not (yet) let in sees: no key box, no pages, no organisation data."""
    body = page.inner_text("body")
    assert "API key" not in body and "History" not in body and "Create provider" not in body
    assert page.get_by_role("textbox").count() == 0
    assert page.get_by_role("link", name="History").count() == 0


def test_sign_in_refusals_reload_records_and_sign_out(browser, oidc, tmp_path):
    app = signed_in_app(tmp_path, oidc, "one")
    try:
        context = browser.new_context(viewport={"width": 1366, "height": 900})
        page = context.new_page()
        for path in ("", "/history", "/activity"):  # no page, whatever the address
            page.goto(app.url + path)
            page.get_by_text("Sign in with your company account").wait_for()
            wait_for_app_run(page)
            closed(page)
        assert violations(page, "sign-in") == []

        sign_in(page, "alice@partner.example")
        page.get_by_text("Signed in as").wait_for()
        sidebar = page.get_by_test_id("stSidebar")
        assert "Alice Ansel" in sidebar.inner_text()
        assert textbox(page, "Your name").count() == 0  # the identity is the name
        page.reload()  # a refresh keeps the person signed in
        wait_for_app_run(page)
        page.get_by_text("Signed in as").wait_for()

        enter_key(page, "sandbox-demo-key")
        create_provider(page, "Petra", "Pilot", "petra.pilot@example.com")
        result_seen(page)
        go(page, "History", "provider(s)")
        exported = download(page, "Download CSV", tmp_path / "history.csv").decode("utf-8-sig")
        row = next(r for r in csv.DictReader(io.StringIO(exported))
                   if r["Email"] == "petra.pilot@example.com")
        assert row["Created by"] == "Alice Ansel (alice@partner.example)"

        go(page, "Activity", "newest first")
        entries = activity_entries(page, tmp_path / "activity.csv")
        assert {(e["Who"], e["Email"], e["What"]) for e in entries} >= {
            ("Alice Ansel", "alice@partner.example", "Created a provider"),
            ("Alice Ansel", "alice@partner.example", "Export")}
        assert any("Petra Pilot (petra.pilot@example.com)" in e["Details"] for e in entries)

        page.get_by_role("button", name="Sign out").click()  # the provider asks to confirm
        page.get_by_role("button", name="End session").click()
        page.get_by_text("Sign in with your company account").wait_for()
        wait_for_app_run(page)
        closed(page)
        sign_in(page, "alice@partner.example")  # back in: the key was forgotten
        page.get_by_text("Signed in as").wait_for()
        textbox(page, "API key").wait_for()
        context.close()

        for sub, words in (("mallory@elsewhere.example", "is not allowed to use"),
                           ("eve@partner.example", "could not confirm that the address")):
            context = browser.new_context()
            page = context.new_page()
            page.goto(app.url)
            page.get_by_text("Sign in with your company account").wait_for()
            sign_in(page, sub)
            page.get_by_text(words).wait_for()
            closed(page)
            assert violations(page, "refused") == []
            page.goto(app.url + "/history")
            wait_for_app_run(page)
            page.get_by_text(words).wait_for()
            closed(page)
            context.close()
    finally:
        stop_app(app)


def refused_or_in(browser, app, sub: str) -> str:
    """Sign `sub` in through the real provider; the page's words once the console decided."""
    context = browser.new_context(viewport={"width": 1366, "height": 900})
    page = context.new_page()
    page.goto(app.url)
    page.get_by_text("Sign in with your company account").wait_for()
    sign_in(page, sub)
    page.get_by_text("Signed in as").or_(page.get_by_role("button", name="Sign out")).first \
        .wait_for()
    body = page.inner_text("body").replace("\u2060", "")  # (the joiner that stops autolinks)
    if "Signed in as" not in body:
        closed(page)
    context.close()
    return body


def test_only_one_confirmed_address_of_the_domain_gets_in(browser, oidc, tmp_path):
    """Verified inside the domain: in. Two addresses in one claim, or one "@" too many: out,
    as an outsider is. No email_verified claim: out, unless the operator trusts the provider
    (PARTNER_CONSOLE_TRUSTED_EMAIL_PROVIDERS=default for a bare [auth])."""
    strict = signed_in_app(tmp_path, oidc, "strict")
    trusting = signed_in_app(tmp_path, oidc, "trusting",
                             {"PARTNER_CONSOLE_TRUSTED_EMAIL_PROVIDERS": "default"})
    try:
        assert "Signed in as" in refused_or_in(browser, strict, "alice@partner.example")
        for sub in ("carl", "eve2"):
            words = refused_or_in(browser, strict, sub)
            assert "is not allowed to use the Partner Console" in words, words
            assert "Signed in as" not in words
        words = refused_or_in(browser, strict, "nora@partner.example")
        assert "could not confirm that the address nora@partner.example" in words, words
        assert "Signed in as" in refused_or_in(browser, trusting, "nora@partner.example")
        assert "is not allowed" in refused_or_in(browser, trusting, "carl")  # trust is not a list
    finally:
        stop_app(strict)
        stop_app(trusting)


@pytest.mark.postgres
def test_signed_in_on_one_replica_is_signed_in_on_the_other(browser, oidc, tmp_path,
                                                           postgres_server, loopback_sandbox):
    """Two replicas behind nginx (deploy/nginx.conf) with the same cookie secret: signed in
    through A, the person is signed in on B once A is gone, and B records them."""
    url = postgres_server.create_database(f"auth_{os.getpid()}")
    extra = {"DATABASE_URL": url, "UPHEAL_API_BASE_URL": loopback_sandbox.base_url,
             "PARTNER_CONSOLE_SECRET": "shared-secret"}
    ports = [free_port(), free_port(), free_port()]
    front = f"http://localhost:{ports[2]}"  # the redirect address: the proxy's
    a = signed_in_app(tmp_path, oidc, "a", extra, front, port=ports[0])
    b = signed_in_app(tmp_path, oidc, "b", extra, front, port=ports[1])
    proxy = behind_nginx(tmp_path / "nginx", (a, b), host="localhost", port=ports[2])
    try:
        context = a.context(browser, viewport={"width": 1366, "height": 900})
        page = context.new_page()
        page.goto(a.entry)
        page.get_by_text("Sign in with your company account").wait_for()
        sign_in(page, "bob@partner.example")
        page.get_by_text("Signed in as").wait_for()
        enter_key(page, "sandbox-demo-key")
        create_provider(page, "Ada", "Alpha", "ada.alpha@example.com")
        result_seen(page)

        stop_app(a)  # replica A is gone: nginx sends its browsers to B
        page.reload()
        wait_for_app_run(page)
        page.get_by_text("Signed in as").wait_for()  # no second sign-in
        assert "Bob Brandt" in page.get_by_test_id("stSidebar").inner_text()
        enter_key(page, "sandbox-demo-key")  # the key is per browser session, never stored
        create_provider(page, "Rhea", "Replica", "rhea.replica@example.com")
        result_seen(page)

        go(page, "Activity", "newest first")
        entries = activity_entries(page, tmp_path / "activity.csv")
        created = {e["Details"].split(" (")[0] for e in entries
                   if e["Who"] == "Bob Brandt" and e["Email"] == "bob@partner.example"
                   and e["What"] == "Created a provider"}
        assert created == {"Created Ada Alpha", "Created Rhea Replica"}
        go(page, "History", "provider(s)")
        exported = download(page, "Download CSV", tmp_path / "history.csv").decode("utf-8-sig")
        by = {r["Email"]: r["Created by"] for r in csv.DictReader(io.StringIO(exported))}
        assert by["ada.alpha@example.com"] == by["rhea.replica@example.com"] == \
            "Bob Brandt (bob@partner.example)"
        context.close()
        assert proxy.answered_by("a") == b.port  # (the reload above was B's too)
    finally:
        proxy.stop()
        stop_app(a)
        stop_app(b)
