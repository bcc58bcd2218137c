"""Invite emails against a real SMTP server on loopback (aiosmtpd): settings, proper messages,
one send, never twice, never lost, and every SMTP failure ending in a sentence."""

from __future__ import annotations

import ssl
import threading
from datetime import timedelta
from email.header import decode_header, make_header

import pytest

from partner_console.api.models import CreatedProvider, ProviderRequest
from partner_console.config import ConfigError, load_settings
from partner_console.mail.message import build_message
from partner_console.mail.sender import Mailer, compose, transport_for
from partner_console.mail.transport import Outbox, SmtpTransport
from partner_console.storage import fingerprint
from partner_console.storage.catalog import Catalog
from partner_console.storage.coordination import RateBudget
from partner_console.storage.sends import (
    ALREADY,
    BUSY,
    FAILED,
    HANDING,
    INVITE,
    MAY_HAVE_LEFT,
    NEVER_LEFT,
    REMINDER,
    SENT,
    UNCERTAIN,
    Sends,
)
from tests.conftest import DEMO_KEY, Sleeps
from tests.helpers import HistoryForTests
from tests.smtp_server import PASSWORD, Faults, SmtpServer

SECRET = b"mail-test-secret"
INVITE_LINK = "https://sandbox.invalid/invite/AbC-123?token=x%2Fy&lang=en"
ROOM_LINK = "https://sandbox.invalid/room/Zo%C3%AB%20M%C3%BCller"


def settings_for(tmp_path, server: SmtpServer | None = None, **extra):
    env = {"UPHEAL_API_BASE_URL": "https://api.partner.example/",
           "INVITE_EMAIL_FROM": "Onboarding Team <onboarding@partner.example>"}
    if server is not None:
        env |= {"SMTP_URL": server.url(), "SMTP_CA_FILE": str(server.ca_file)}
    env |= extra
    return load_settings(env, tmp_path / "no-secrets.toml")


def provider(engine, email="zoe@example.com", first="Zoë", last="Müller", key=DEMO_KEY):
    history, scope, rows = provider_rows(engine, [(email, first, last)], key)
    return history, scope, rows[0]


def provider_rows(engine, people: list[tuple[str, str, str]], key=DEMO_KEY):
    """(email, first name, last name) each created in History as the console records a create;
    the history, the organisation's scope and the rows, in the order given."""
    history = HistoryForTests(engine)
    scope = history.scope_for(fingerprint(SECRET, key))
    for email, first, last in people:
        request = ProviderRequest(first_name=first, last_name=last, email=email)
        row_id, _ = history.record_pending(scope, request, created_by="Ann")
        history.complete(row_id, scope.key_fingerprint, CreatedProvider.model_validate(
            {"userId": f"u-{row_id}", "organizationId": "org-mail", "inviteUrl": INVITE_LINK,
             "privateRoomLink": ROOM_LINK}))
    scope = history.scope_for(scope.key_fingerprint)
    latest = history.latest_by_email(scope, [email for email, _, _ in people])
    return history, scope, [latest[email.lower()] for email, _, _ in people]


def mailer_for(engine, settings, sleeps=None, **kw) -> Mailer:
    return Mailer(Sends(engine, "test-replica", "test-replica#one"), settings.email_from,
                  settings.email_reply_to, transport_for(settings), sleep=sleeps if sleeps is not None else Sleeps(),
                  **kw)


@pytest.fixture
def smtp(tmp_path):
    server = SmtpServer(tmp_path, "starttls").start()
    yield server
    server.stop()


# -- settings -------------------------------------------------------------------------------
@pytest.mark.parametrize(("env", "words"), [
    ({"SMTP_URL": "http://mail.example.com"}, "SMTP_URL must look like smtp://"),
    ({"SMTP_URL": "smtp://u:hunter2@mail.example.com:port"}, "SMTP_URL must look like"),
    ({"SMTP_URL": "smtp://mail.example.com"}, "INVITE_EMAIL_FROM must be set"),
    ({"INVITE_EMAIL_FROM": "not an address"}, "INVITE_EMAIL_FROM must be an email address"),
    ({"INVITE_EMAIL_FROM": "a@b.example\r\nBcc: victim@example.com"}, "INVITE_EMAIL_FROM"),
    ({"INVITE_EMAIL_REPLY_TO": "x@y.example, z@w.example"}, "INVITE_EMAIL_REPLY_TO"),
    ({"INVITE_EMAILS_PER_MINUTE": "fast"}, "INVITE_EMAILS_PER_MINUTE must be a number"),
    ({"SMTP_URL": "smtp://mail.example.com", "INVITE_EMAIL_FROM": "a@b.example",
      "SMTP_CA_FILE": "/nowhere/ca.pem"}, "SMTP_CA_FILE must name a certificate file"),
])
def test_a_bad_mail_setting_stops_with_one_sentence_naming_it(tmp_path, env, words):
    with pytest.raises(ConfigError) as raised:
        load_settings(env, tmp_path / "none.toml")
    text = str(raised.value)
    assert words in text and text.count(".") >= 1 and "\n" not in text
    assert "hunter2" not in text  # a password in the URL is never repeated


def test_mail_goes_to_the_outbox_in_sandbox_mode_even_with_smtp_set(tmp_path):
    sandbox = load_settings({"SMTP_URL": "smtp://mail.example.com",
                             "INVITE_EMAIL_FROM": "a@b.example"}, tmp_path / "none.toml")
    assert sandbox.uses_sandbox and sandbox.uses_outbox
    assert transport_for(sandbox) is Outbox
    real = settings_for(tmp_path, SMTP_URL="smtps://u:p%40ss@mail.example.com")
    assert not real.uses_outbox and real.smtp is not None
    assert (real.smtp.port, real.smtp.implicit_tls, real.smtp.password) == (465, True, "p@ss")
    assert "p@ss" not in repr(real) and real.smtp.shown == "smtps://mail.example.com:465"
    assert settings_for(tmp_path).uses_outbox  # no SMTP_URL: the Outbox


# -- the message ----------------------------------------------------------------------------
def test_message_is_multipart_utf8_with_ids_and_exact_links():
    out = build_message(sender="Onboarding Zoë <onboarding@partner.example>",
                        to_email="zoe@example.com", to_name="Zoë Müller",
                        subject="Willkommen, Zoë Müller", reply_to="Help <help@partner.example>",
                        body=f"Hello Zoë,\n{INVITE_LINK}\nRoom: {ROOM_LINK}\n.a line with a dot\n")
    import email
    from email import policy

    raw = out.data
    assert raw.isascii()  # every header and part encoded: any server takes it
    message = email.message_from_bytes(raw, policy=policy.default)
    assert str(make_header(decode_header(raw.split(b"Subject: ")[1].split(b"\r\n")[0].decode())
                           )) == "Willkommen, Zoë Müller"
    assert message["To"].addresses[0].display_name == "Zoë Müller"
    assert message["To"].addresses[0].addr_spec == "zoe@example.com"
    assert message["Reply-To"].addresses[0].addr_spec == "help@partner.example"
    assert message["Message-ID"] == out.message_id and out.message_id.endswith(
        "@partner.example>")
    assert message["Date"] and message.get_content_type() == "multipart/alternative"
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    assert INVITE_LINK in text and ROOM_LINK in text and ".a line with a dot" in text
    assert f'href="{INVITE_LINK.replace("&", "&amp;")}"' in html


@pytest.mark.parametrize("hostile", [
    "Eve\r\nBcc: victim@example.com", "Eve\nX-Injected: yes", "Eve\rBcc: victim@example.com",
    "=?utf-8?q?Eve=0D=0ABcc=3A_victim=40example=2Ecom?=",
])
def test_names_and_subjects_never_inject_a_header(hostile):
    out = build_message(sender="Onboarding <onboarding@partner.example>",
                        to_email="zoe@example.com", to_name=hostile, subject=hostile,
                        body=f"<script>alert(1)</script> {hostile}\n{INVITE_LINK}")
    import email
    from email import policy

    message = email.message_from_bytes(out.data, policy=policy.default)
    headers = [name.lower() for name in message]
    assert "bcc" not in headers and "x-injected" not in headers
    assert [a.addr_spec for a in message["To"].addresses] == ["zoe@example.com"]
    assert "<script>" not in message.get_body(("html",)).get_content()


# -- one send, over a real SMTP server ------------------------------------------------------
@pytest.mark.parametrize("mode", ["starttls", "tls"])
def test_one_invite_arrives_once_with_the_organisations_text(engine, tmp_path, mode):
    server = SmtpServer(tmp_path, mode).start()
    try:
        settings = settings_for(tmp_path, server)
        history, scope, row = provider(engine)
        Catalog(engine).set_setting(scope, "invite_email",
                                    "Subject: Welcome {first_name}\n\nHi {first_name}, "
                                    "{invite_link} / {room_link} — {sender_name}")
        mail = compose(Catalog(engine), scope, row, INVITE, "Ann Lee")
        result = mailer_for(engine, settings).send(scope, row, INVITE, subject=mail.subject,
                                                   body=mail.body, created_by="Ann Lee")
        assert result.status == SENT and result.send is not None
        [got] = server.received
        assert got.recipients == ["zoe@example.com"]
        message = got.message
        assert str(message["Subject"]) == "Welcome Zoë"
        assert message["Message-ID"] == result.send.message_id
        text = message.get_body(("plain",)).get_content()
        assert INVITE_LINK in text and ROOM_LINK in text and "Ann Lee" in text
        assert DEMO_KEY not in got.data.decode() and PASSWORD not in got.data.decode()
        assert history.get(scope, row.id).invite_emailed_at is not None
    finally:
        server.stop()


def test_a_second_send_needs_confirmation_and_a_double_click_sends_once(engine, tmp_path, smtp):
    settings = settings_for(tmp_path, smtp)
    _, scope, row = provider(engine)
    mailer = mailer_for(engine, settings)
    first = mailer.send(scope, row, INVITE, subject="s", body=INVITE_LINK, created_by="Ann",
                        token="click-1")
    again = mailer.send(scope, row, INVITE, subject="s", body=INVITE_LINK, created_by="Ann",
                        token="click-1")  # the same click, run twice
    assert first.status == again.status == SENT and first.send.id == again.send.id
    unconfirmed = mailer.send(scope, row, INVITE, subject="s", body=INVITE_LINK,
                              created_by="Bob", token="click-2")
    assert unconfirmed.status == ALREADY and unconfirmed.count == 1
    assert unconfirmed.previous is not None and unconfirmed.previous.created_by == "Ann"
    assert len(smtp.received) == 1
    confirmed = mailer.send(scope, row, INVITE, subject="s", body=INVITE_LINK,
                            created_by="Bob", token="click-3", confirmed=1)
    assert confirmed.status == SENT and len(smtp.received) == 2
    # a reminder is its own kind: the invite's sends do not hold it back
    assert mailer.send(scope, row, REMINDER, subject="r", body=INVITE_LINK,
                       created_by="Bob").status == SENT


def test_two_tabs_sending_one_invite_at_the_same_moment_send_it_once(engine, tmp_path, smtp):
    settings = settings_for(tmp_path, smtp)
    _, scope, row = provider(engine)
    results, barrier = [], threading.Barrier(4)

    def tab(n: int) -> None:
        mailer = mailer_for(engine, settings)
        barrier.wait()
        results.append(mailer.send(scope, row, INVITE, subject="s", body=INVITE_LINK,
                                   created_by=f"tab {n}", token=f"tab-{n}"))

    threads = [threading.Thread(target=tab, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(r.status for r in results).count(SENT) == 1
    assert {r.status for r in results} <= {SENT, ALREADY, BUSY}
    assert smtp.count_by_recipient() == {"zoe@example.com": 1}


def test_temporary_refusals_are_retried_with_backoff_then_sent(engine, tmp_path):
    server = SmtpServer(tmp_path, "starttls", Faults(temporary_rcpt=2, temporary_data=1)).start()
    try:
        sleeps = Sleeps()
        _, scope, row = provider(engine)
        result = mailer_for(engine, settings_for(tmp_path, server), sleeps, attempts=5).send(
            scope, row, INVITE, subject="s", body=INVITE_LINK, created_by="Ann")
        assert result.status == SENT and len(server.received) == 1
        assert len(sleeps) == 3 and sleeps[0] < sleeps[1] < sleeps[2]  # exponential
    finally:
        server.stop()


@pytest.mark.parametrize(("case", "words"), [
    ("refused", "refused the connection"),
    ("bounce", "refused the address bounce@example.com"),
    ("password", "did not accept the console's user name and password"),
    ("no-tls", "does not offer encryption (STARTTLS), so the console did not send it the "
               "password"),
    ("untrusted", "A secure connection to the mail server"),
    ("temporary", "asked to try the address zoe@example.com again later"),
])
def test_every_smtp_failure_ends_in_a_sentence_and_nothing_arrives(engine, tmp_path, case,
                                                                   words):
    email = "bounce@example.com" if case == "bounce" else "zoe@example.com"
    mode = "plain" if case == "no-tls" else "starttls"
    server = SmtpServer(tmp_path, mode, Faults(temporary_rcpt=99 if case == "temporary" else 0))
    if case != "refused":
        server.start()
    try:
        url = server.url().replace(PASSWORD.replace(" ", "%20"), "wrong") \
            if case == "password" else server.url()
        if case == "no-tls":
            url = f"smtp://console:pw@127.0.0.1:{server.port}"
        extra = {"SMTP_URL": url}
        if case != "untrusted":
            extra["SMTP_CA_FILE"] = str(server.ca_file)
        settings = settings_for(tmp_path, **extra)
        _, scope, row = provider(engine, email=email)
        sleeps = Sleeps()
        result = mailer_for(engine, settings, sleeps, attempts=3).send(
            scope, row, INVITE, subject="s", body=INVITE_LINK, created_by="Ann")
        assert result.status == FAILED and words in result.words, result.words
        assert result.words.startswith("Not sent: ") and "Traceback" not in result.words
        assert server.received == []
        assert result.setup_problem == (case in ("password", "no-tls", "untrusted"))
        assert len(sleeps) == (2 if case in ("refused", "temporary") else 0)
    finally:
        server.stop()


def test_connections_share_one_tls_context_for_each_trust(tmp_path, smtp):
    """Every thread of an email job, and every connection opened again after a fault, used to
    build a TLS context (the CA bundle read); now one is made per trusted CA file, and it still
    checks certificates and host names (the "untrusted" case above: a server signed by another
    CA is refused)."""
    settings = settings_for(tmp_path, smtp)
    first, second = (transport_for(settings)() for _ in range(2))
    contexts = [t._context() for t in (first, second)]
    assert contexts[0] is contexts[1]
    assert contexts[0].verify_mode == ssl.CERT_REQUIRED and contexts[0].check_hostname
    public = SmtpTransport(settings_for(tmp_path, SMTP_URL="smtp://mail.example.com").smtp)
    assert public._context() is not contexts[0]  # the system's CAs, without the test's own


def test_a_lost_answer_is_may_have_been_sent_and_never_resent_by_itself(engine, tmp_path):
    server = SmtpServer(tmp_path, "starttls", Faults(lost_answer=1)).start()
    try:
        settings = settings_for(tmp_path, server)
        history, scope, row = provider(engine)
        mailer = mailer_for(engine, settings)
        result = mailer.send(scope, row, INVITE, subject="s", body=INVITE_LINK,
                             created_by="Ann")
        assert result.status == UNCERTAIN and "may have been sent" in result.words
        assert len(server.received) == 1  # it did arrive: the console could not know
        assert mailer.send(scope, row, INVITE, subject="s", body=INVITE_LINK,
                           created_by="Ann").status == ALREADY
        sends = Sends(engine)
        assert sends.decide(scope, result.send.id, arrived=True, by="Ann")
        assert sends.get(result.send.id).state == SENT
        assert history.get(scope, row.id).invite_emailed_at is not None
    finally:
        server.stop()


def test_a_hanging_server_after_the_message_is_may_have_been_sent(engine, tmp_path):
    server = SmtpServer(tmp_path, "starttls", Faults(lost_answer=1, hang_seconds=3)).start()
    try:
        settings = settings_for(tmp_path, server)
        _, scope, row = provider(engine)
        mailer = Mailer(Sends(engine), settings.email_from, None,
                        lambda: SmtpTransport(settings.smtp, timeout=1.0), sleep=Sleeps())
        result = mailer.send(scope, row, INVITE, subject="s", body=INVITE_LINK,
                             created_by="Ann")
        assert result.status == UNCERTAIN
    finally:
        server.stop()


def test_sends_left_by_a_stopped_server_are_settled_never_resent(engine):
    _, scope, row = provider(engine)
    _, _, other = provider(engine, email="max@example.com", first="Max", last="Lee")
    dead = Sends(engine, "replica-a", "replica-a#old-boot")
    never = dead.reserve(scope, provider_id=row.id, kind=INVITE, to_email=row.email,
                         subject="s", body="b", message_id="<1@x>", created_by="Ann",
                         transport="smtp").send
    maybe = dead.reserve(scope, provider_id=other.id, kind=INVITE, to_email=other.email,
                         subject="s", body="b", message_id="<2@x>", created_by="Ann",
                         transport="smtp").send
    assert dead.handing(maybe.id)
    # another replica, soon after: not its business yet (that server may still be sending)
    assert Sends(engine, "replica-b", "replica-b#1").settle_stale() == (0, 0)
    # the same replica restarted: its earlier life's sends are settled at once
    restarted = Sends(engine, "replica-a", "replica-a#new-boot")
    assert restarted.settle_stale() == (1, 1)
    assert (restarted.get(never.id).state, restarted.get(never.id).error_text) == (FAILED,
                                                                                   NEVER_LEFT)
    assert (restarted.get(maybe.id).state, restarted.get(maybe.id).error_text) == (UNCERTAIN,
                                                                                   MAY_HAVE_LEFT)
    # the old life, if it was only slow, may not hand over what was settled without it
    assert not dead.handing(never.id)
    # silence past stale_after settles another replica's sends too
    late = Sends(engine, "replica-c", "replica-c#1", stale_after=timedelta(seconds=-1))
    fresh = late.reserve(scope, provider_id=row.id, kind=INVITE, to_email=row.email,
                         subject="s", body="b", message_id="<3@x>", created_by="Ann",
                         transport="smtp")
    assert fresh.send is not None and late.handing(fresh.send.id)
    assert late.get(fresh.send.id).state == HANDING
    assert Sends(engine, "replica-d", "replica-d#1",
                 stale_after=timedelta(seconds=-1)).settle_stale() == (0, 1)


def test_outbox_keeps_the_message_and_never_opens_a_connection(engine, tmp_path):
    settings = load_settings({}, tmp_path / "none.toml")  # the sandbox
    _, scope, row = provider(engine)
    mailer = mailer_for(engine, settings)
    assert mailer.practice
    result = mailer.send(scope, row, INVITE, subject="Welcome", body=f"Hi\n{INVITE_LINK}",
                         created_by="Ann")
    assert result.status == SENT and result.send.transport == "outbox"
    [kept] = Sends(engine).recent(scope)
    assert kept.body == f"Hi\n{INVITE_LINK}" and kept.subject == "Welcome"


def test_the_shared_budget_paces_messages_per_minute(engine, tmp_path, smtp):
    settings = settings_for(tmp_path, smtp)
    clock = [1000.0]
    waits = Sleeps()

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        clock[0] += seconds

    budget = RateBudget(engine, 120, clock=lambda: clock[0], sleep=sleep)
    mailer = mailer_for(engine, settings, budget=budget)
    for n in range(5):
        _, scope, row = provider(engine, email=f"p{n}@example.com")
        assert mailer.send(scope, row, INVITE, subject="s", body=INVITE_LINK,
                           created_by="Ann").status == SENT
    assert clock[0] - 1000.0 == pytest.approx(4 * 60 / (120 * 0.97), rel=0.01)


def test_a_reminder_sent_records_who_reminded_and_the_exports_show_the_invite_sent(engine,
                                                                                   tmp_path):
    from partner_console.exports import HEADERS, history_csv

    settings = load_settings({}, tmp_path / "none.toml")
    history, scope, row = provider(engine)
    mailer = mailer_for(engine, settings)
    assert mailer.send(scope, row, REMINDER, subject="r", body=INVITE_LINK,
                       created_by="Bea").status == SENT
    after = history.get(scope, row.id)
    assert after.reminded_by == "Bea" and after.reminded_at is not None
    assert after.invite_emailed_at is None  # a reminder is not the invite
    assert mailer.send(scope, row, INVITE, subject="i", body=INVITE_LINK,
                       created_by="Bea").status == SENT
    import csv

    lines = list(csv.reader(history_csv(history, scope).decode("utf-8-sig").splitlines()))
    column = HEADERS.index("Invite emailed at (UTC)")
    stamp = history.get(scope, row.id).invite_emailed_at
    assert lines[1][column] == stamp.strftime("%Y-%m-%d %H:%M:%S")
