"""Handing a message over: to an SMTP server, or to the built-in Outbox (kept, never sent).

Errors, each with a plain sentence for staff (`words`):

    MailError
     +-- MailSetupError       the server refuses the console itself (password, no encryption):
     |                        nothing will go until an administrator fixes it; a job pauses
     +-- MailTemporaryError   not handed over, try again later (refused connection, time-out
     |                        before the message, 4xx): retried with backoff
     +-- MailPermanentError   refused for good (5xx), e.g. an unknown recipient
     +-- MailUncertainError   handed over, and then no answer came: it may have been sent

The send is split at the one moment that matters: `handing()` is called (and must return True)
after the server said "go ahead" to DATA and before the first byte of the message leaves. Up to
then nothing can arrive; after it, only the server's answer tells, and with no answer the
message "may have been sent": a person decides, never an automatic resend.
"""

from __future__ import annotations

import contextlib
import functools
import smtplib
import ssl
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from partner_console.config import MailSettings
from partner_console.mail.message import Outgoing

SMTP, OUTBOX = "smtp", "outbox"


class MailError(Exception):
    """Raised with one argument: the sentence for staff."""

    @property
    def words(self) -> str:
        return str(self)


class MailSetupError(MailError):
    pass


class MailTemporaryError(MailError):
    pass


class MailPermanentError(MailError):
    pass


class MailUncertainError(MailError):
    pass


class HandOverRefused(MailError):  # noqa: N818  (not a failure: the send was taken from us)
    """`handing()` said no: the send's record was settled by someone else meanwhile."""


class Transport(Protocol):
    kind: str

    def send(self, envelope_from: str, message: Outgoing, handing: Callable[[], bool]) -> None:
        """Hand `message` over; raises MailError (or HandOverRefused)."""

    def close(self) -> None: ...


class Outbox:
    """The practice transport: the send's record (with the whole message) is the Outbox."""

    kind = OUTBOX

    def send(self, envelope_from: str, message: Outgoing, handing: Callable[[], bool]) -> None:
        if not handing():
            raise HandOverRefused("This email was settled by someone else.")

    def close(self) -> None:
        pass


def _reply_text(reply: bytes | str) -> str:
    text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)
    return " ".join(text.split())[:200]


def _refused(what: str, code: int, reply: bytes | str) -> MailError:
    said = _reply_text(reply)
    if 400 <= code < 500:
        return MailTemporaryError(f"The mail server asked to try {what} again later "
                                  f"(it said “{said}”).")
    return MailPermanentError(f"The mail server refused {what} (it said “{said}”).")


@functools.cache
def _tls_context(ca_file: str | None) -> ssl.SSLContext:
    """One TLS context for every connection of the process to servers trusted the same way.
    Building one reads the whole CA bundle (about 20 ms of CPU), and a connection is opened
    again after every temporary fault and by every thread of an email job."""
    context = ssl.create_default_context()
    if ca_file is not None:
        context.load_verify_locations(cafile=ca_file)
    return context


@dataclass
class SmtpTransport:
    """One SMTP connection, opened when first needed and kept for the next message (a worker
    thread owns one transport). STARTTLS on smtp:// whenever the server offers it, and always
    before a password is sent; smtps:// is TLS from the first byte."""

    settings: MailSettings
    timeout: float = 30.0
    local_hostname: str | None = None
    _connection: smtplib.SMTP | None = field(default=None, init=False, repr=False)
    kind = SMTP

    @property
    def where(self) -> str:
        return f"{self.settings.host}:{self.settings.port}"

    def _context(self) -> ssl.SSLContext:
        ca_file = self.settings.ca_file
        return _tls_context(None if ca_file is None else str(ca_file))

    def _open(self) -> smtplib.SMTP:
        s = self.settings
        try:
            if s.implicit_tls:
                connection: smtplib.SMTP = smtplib.SMTP_SSL(
                    s.host, s.port, timeout=self.timeout, context=self._context(),
                    local_hostname=self.local_hostname)
            else:
                connection = smtplib.SMTP(s.host, s.port, timeout=self.timeout,
                                          local_hostname=self.local_hostname)
            connection.ehlo()
            if not s.implicit_tls:
                if connection.has_extn("starttls"):
                    connection.starttls(context=self._context())
                    connection.ehlo()
                elif s.username:
                    connection.close()
                    raise MailSetupError(
                        f"The mail server at {self.where} does not offer encryption "
                        "(STARTTLS), so the console did not send it the password. Ask your "
                        "administrator to check SMTP_URL.")
            if s.username:
                connection.login(s.username, s.password or "")
        except smtplib.SMTPAuthenticationError:
            raise MailSetupError(f"The mail server at {self.where} did not accept the "
                                 "console's user name and password (SMTP_URL).") from None
        except ssl.SSLError as exc:
            raise MailSetupError(f"A secure connection to the mail server at {self.where} "
                                 f"could not be made ({exc.reason or exc}).") from None
        except MailError:
            raise
        except smtplib.SMTPResponseException as exc:
            raise _refused("the connection", exc.smtp_code, exc.smtp_error) from None
        except (OSError, smtplib.SMTPException) as exc:
            raise self._unreachable(exc) from None
        return connection

    def _unreachable(self, exc: BaseException) -> MailTemporaryError:
        if isinstance(exc, ConnectionRefusedError):
            return MailTemporaryError(f"The mail server at {self.where} refused the "
                                      "connection.")
        if isinstance(exc, TimeoutError):
            return MailTemporaryError(f"The mail server at {self.where} did not answer in "
                                      "time.")
        return MailTemporaryError(f"The mail server at {self.where} could not be reached "
                                  f"({type(exc).__name__}).")

    def send(self, envelope_from: str, message: Outgoing, handing: Callable[[], bool]) -> None:
        reused = self._connection is not None
        try:
            self._envelope(envelope_from, message)
        except MailTemporaryError:
            if not reused:
                raise
            self.close()  # the kept connection had gone stale: one fresh try
            self._envelope(envelope_from, message)
        connection = self._connection
        assert connection is not None
        if not handing():
            self.close()  # the server drops a DATA that never ends
            raise HandOverRefused("This email was settled by someone else.")
        try:
            payload = smtplib._quote_periods(message.data)  # type: ignore[attr-defined]
            if not payload.endswith(b"\r\n"):
                payload += b"\r\n"
            connection.send(payload + b".\r\n")
            code, reply = connection.getreply()
        except (OSError, smtplib.SMTPException):
            self.close()
            raise MailUncertainError(
                f"The message was handed to the mail server at {self.where}, but it did not "
                "confirm it. It may have been sent.") from None
        if code != 250:  # an answer to the message itself: it was not accepted
            self.close()
            raise _refused("this message", code, reply)

    def _envelope(self, envelope_from: str, message: Outgoing) -> None:
        """MAIL, RCPT and DATA up to the server's go-ahead: nothing can arrive yet."""
        if self._connection is None:
            self._connection = self._open()
        connection = self._connection
        try:
            code, reply = connection.mail(envelope_from)
            if code != 250:
                raise _refused("the sender address", code, reply)
            code, reply = connection.rcpt(message.to)
            if code not in (250, 251):
                raise _refused(f"the address {message.to}", code, reply)
            connection.putcmd("data")
            code, reply = connection.getreply()
            if code != 354:
                raise _refused("this message", code, reply)
        except MailError:
            self.close()
            raise
        except (OSError, smtplib.SMTPException) as exc:
            self.close()
            raise self._unreachable(exc) from None

    def close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            with contextlib.suppress(OSError):
                connection.close()
