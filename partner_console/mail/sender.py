"""Sending one invite or reminder: the one path every send takes (a person's, a job's, an
import's), so "never twice, never lost" is decided in one place.

1. the message is built (message.py) and its record written before anything leaves
   (storage/sends.py: at most one in flight per provider, a second send only when confirmed);
2. a slot of the deployment's messages-per-minute budget is taken (shared by every replica,
   in the database, like the API key's budget);
3. the message is handed over (transport.py); temporary refusals are tried again with
   exponential backoff; the outcome is recorded: sent, not sent (with why), or "may have been
   sent" for a person to decide.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from partner_console.config import Settings
from partner_console.invite_email import (
    DEFAULT_EMAIL_TEMPLATE,
    DEFAULT_REMINDER_TEMPLATE,
    EMAIL_SETTING,
    REMINDER_SETTING,
    InviteEmail,
    render_email,
)
from partner_console.mail.message import build_message
from partner_console.mail.transport import (
    OUTBOX,
    HandOverRefused,
    MailError,
    MailPermanentError,
    MailSetupError,
    MailTemporaryError,
    MailUncertainError,
    Outbox,
    SmtpTransport,
    Transport,
)
from partner_console.storage.catalog import Catalog
from partner_console.storage.coordination import RateBudget
from partner_console.storage.history import ProviderRow
from partner_console.storage.scope import Scope
from partner_console.storage.sends import (
    ALREADY,
    BUSY,
    FAILED,
    INVITE,
    NEW,
    REPEATED,
    SENT,
    UNCERTAIN,
    Send,
    Sends,
)

TEMPLATES = {INVITE: (EMAIL_SETTING, DEFAULT_EMAIL_TEMPLATE),
             "reminder": (REMINDER_SETTING, DEFAULT_REMINDER_TEMPLATE)}


@dataclass(frozen=True)
class SendResult:
    status: str  # SENT, FAILED, UNCERTAIN (a send's state), or ALREADY / BUSY (nothing sent)
    send: Send | None
    words: str = ""  # why, in a sentence, when it is not SENT
    setup_problem: bool = False  # the server refuses the console itself: stop a job
    previous: Send | None = None  # for ALREADY: the latest earlier send
    count: int = 0  # for ALREADY: how many earlier sends


def compose(catalog: Catalog, scope: Scope, provider: ProviderRow, kind: str,
            sender_name: str) -> InviteEmail:
    """The organisation's email for this provider, from its own template (Email texts)."""
    setting, default = TEMPLATES[kind]
    return render_email(catalog.setting(scope, setting, default), first_name=provider.first_name,
                        last_name=provider.last_name, invite_link=provider.invite_url or "",
                        room_link=provider.private_room_link or "(not available)",
                        sender_name=sender_name, fallback=default)


def transport_for(settings: Settings) -> Callable[[], Transport]:
    """What hands messages over here: the Outbox in sandbox mode or without SMTP_URL."""
    if settings.uses_outbox or settings.smtp is None:
        return Outbox
    smtp = settings.smtp
    return lambda: SmtpTransport(smtp, timeout=settings.smtp_timeout_seconds)


@dataclass
class Mailer:
    sends: Sends
    sender: str  # INVITE_EMAIL_FROM
    reply_to: str | None
    new_transport: Callable[[], Transport]
    budget: RateBudget | None = None  # messages per minute, shared by every replica
    budget_key: str = "mail"
    background: bool = False  # a job's sends give way to people's
    attempts: int = 4  # for temporary refusals
    initial_backoff: float = 2.0
    max_backoff: float = 30.0
    sleep: Callable[[float], None] = time.sleep
    _local: threading.local = field(default_factory=threading.local, repr=False)

    @property
    def practice(self) -> bool:
        return self.transport_kind == OUTBOX

    @property
    def transport_kind(self) -> str:
        return str(getattr(self.new_transport, "kind", "smtp"))

    def for_jobs(self) -> Mailer:
        """A copy for a job's worker threads: its own connections, background pacing."""
        return Mailer(self.sends, self.sender, self.reply_to, self.new_transport, self.budget,
                      self.budget_key, True, self.attempts, self.initial_backoff,
                      self.max_backoff, self.sleep)

    def _transport(self) -> Transport:
        transport = getattr(self._local, "transport", None)
        if transport is None:
            transport = self._local.transport = self.new_transport()
        return transport

    def close(self) -> None:
        """Close this thread's connection."""
        transport = getattr(self._local, "transport", None)
        if transport is not None:
            transport.close()
            self._local.transport = None

    def send(self, scope: Scope, provider: ProviderRow, kind: str, *, subject: str, body: str,
             created_by: str, confirmed: int = 0, token: str | None = None,
             job_id: int | None = None) -> SendResult:
        """Send `subject` and `body` to the provider's own address, once."""
        outgoing = build_message(sender=self.sender, to_email=provider.email,
                                 to_name=provider.full_name, subject=subject, body=body,
                                 reply_to=self.reply_to)
        reserved = self.sends.reserve(
            scope, provider_id=provider.id, kind=kind, to_email=outgoing.to,
            subject=outgoing.subject, body=body, message_id=outgoing.message_id,
            created_by=created_by, transport=self.transport_kind, confirmed=confirmed,
            token=token, job_id=job_id)
        if reserved.state == REPEATED and reserved.send is not None:  # a double click
            return self._as_result(reserved.send)
        if reserved.state == BUSY:
            return SendResult(BUSY, reserved.send, "This email is being sent right now (another "
                              "tab, colleague or import); its result shows in a moment.")
        if reserved.state == ALREADY:
            return SendResult(ALREADY, None, previous=reserved.previous, count=reserved.count)
        assert reserved.state == NEW and reserved.send is not None
        send = reserved.send
        envelope_from = self.sender.rpartition("<")[2].rstrip(">") or self.sender
        for attempt in range(1, self.attempts + 1):
            if self.budget is not None:
                self.budget.take(self.budget_key, background=self.background)
            try:
                self._transport().send(envelope_from, outgoing,
                                       lambda: self.sends.handing(send.id))
            except MailTemporaryError as exc:
                self.sends.not_handed(send.id)  # (if the server answered the message itself)
                if attempt == self.attempts:
                    self.sends.failed(send.id, f"Not sent: {exc.words}")
                    return self._as_result(self.sends.get(send.id))
                self.sleep(self._backoff(attempt))
                continue
            except (MailPermanentError, MailSetupError) as exc:
                self.sends.failed(send.id, f"Not sent: {exc.words}")
                return SendResult(FAILED, self.sends.get(send.id), f"Not sent: {exc.words}",
                                  setup_problem=isinstance(exc, MailSetupError))
            except MailUncertainError as exc:
                self.sends.uncertain(send.id, exc.words)
                return self._as_result(self.sends.get(send.id))
            except HandOverRefused:
                return self._as_result(self.sends.get(send.id))
            except MailError as exc:  # (every kind is named above; a new one must not send)
                self.sends.failed(send.id, f"Not sent: {exc.words}")
                return self._as_result(self.sends.get(send.id))
            self.sends.sent(send.id)
            return self._as_result(self.sends.get(send.id))
        raise AssertionError("unreachable")

    def _backoff(self, attempt: int) -> float:
        base = min(self.max_backoff, self.initial_backoff * 2 ** (attempt - 1))
        return base * (0.75 + random.random() / 2)  # jitter: replicas do not retry in step

    @staticmethod
    def _as_result(send: Send) -> SendResult:
        words = send.error_text or ""
        if send.state in (SENT, FAILED, UNCERTAIN):
            return SendResult(send.state, send, words if send.state != SENT else "")
        return SendResult(BUSY, send, "This email is being sent right now.")
