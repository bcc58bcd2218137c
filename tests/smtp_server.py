"""A real SMTP server on loopback for the suite (aiosmtpd): STARTTLS or implicit TLS with a
throwaway certificate authority (trustme), AUTH, and faults to inject. It keeps every message
that reached the end of DATA (whether or not the client got the answer), so tests count what
"arrived" from the server's side, never from the console's own records."""

from __future__ import annotations

import asyncio
import email
import socket
import ssl
import threading
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

USER, PASSWORD = "console", "s3cret pass"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Faults:
    """What the server does wrong. Counters count down per message."""

    temporary_rcpt: int = 0  # the next N RCPTs: 451
    temporary_data: int = 0  # the next N messages: 451 after DATA (nothing kept)
    lost_answer: int = 0  # the next N messages: kept, then the connection drops unanswered
    hang_seconds: float = 0.0  # with lost_answer: keep quiet this long instead of dropping
    refuse_addresses: tuple[str, ...] = ("bounce",)  # RCPT containing these: 550
    every_nth_temporary: int = 0  # every Nth RCPT: 451 (a flaky relay)


@dataclass
class Captured:
    envelope_from: str
    recipients: list[str]
    data: bytes

    @property
    def message(self) -> EmailMessage:
        return email.message_from_bytes(self.data, policy=policy.default)  # type: ignore[return-value]


@dataclass
class _Handler:
    faults: Faults
    received: list[Captured] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    rcpts: int = 0

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str,  # noqa: N802
                          options: list[str]) -> str:
        f = self.faults
        with self.lock:
            self.rcpts += 1
            nth = f.every_nth_temporary and self.rcpts % f.every_nth_temporary == 0
            if f.temporary_rcpt > 0:
                f.temporary_rcpt -= 1
                nth = True
        if nth:
            return "451 4.3.0 Try again later"
        if any(word in address for word in f.refuse_addresses):
            return "550 5.1.1 No such user here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        f = self.faults
        with self.lock:
            if f.temporary_data > 0:
                f.temporary_data -= 1
                return "451 4.3.0 Queue full, try again later"
            self.received.append(Captured(envelope.mail_from, list(envelope.rcpt_tos),
                                          bytes(envelope.original_content or envelope.content)))
            lose = f.lost_answer > 0
            if lose:
                f.lost_answer -= 1
        if lose:
            if f.hang_seconds:
                await asyncio.sleep(f.hang_seconds)
            server.transport.abort()
            return "250 OK"
        return "250 OK"


def _authenticate(server: Any, session: Any, envelope: Any, mechanism: str,
                  auth_data: Any) -> AuthResult:
    ok = isinstance(auth_data, LoginPassword) and \
        (auth_data.login, auth_data.password) == (USER.encode(), PASSWORD.encode())
    return AuthResult(success=ok, handled=False)


class SmtpServer:
    """`mode`: "starttls" (smtp:// with STARTTLS and AUTH), "tls" (smtps://), or "plain"
    (no TLS, no AUTH: a relay on loopback)."""

    def __init__(self, tmp_path: Path, mode: str = "starttls", faults: Faults | None = None,
                 port: int | None = None) -> None:
        self.mode = mode
        self.faults = faults or Faults()
        self.handler = _Handler(self.faults)
        self.port = port or free_port()
        self.ca = trustme.CA()
        cert = self.ca.issue_cert("127.0.0.1", "localhost")
        self.ca_file = tmp_path / "smtp-ca.pem"
        self.ca.cert_pem.write_to_path(str(self.ca_file))
        self.context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        cert.configure_cert(self.context)
        self.controller: Controller | None = None

    @property
    def received(self) -> list[Captured]:
        with self.handler.lock:
            return list(self.handler.received)

    def url(self, with_password: bool = True) -> str:
        scheme = "smtps" if self.mode == "tls" else "smtp"
        credentials = f"{USER}:{PASSWORD.replace(' ', '%20')}@" \
            if with_password and self.mode != "plain" else ""
        return f"{scheme}://{credentials}127.0.0.1:{self.port}"

    def start(self) -> SmtpServer:
        kwargs: dict[str, Any] = {}
        if self.mode == "starttls":
            kwargs = {"tls_context": self.context, "require_starttls": True,
                      "authenticator": _authenticate, "auth_require_tls": True}
        elif self.mode == "tls":
            kwargs = {"authenticator": _authenticate, "auth_require_tls": False}
        controller = Controller(
            self.handler, hostname="127.0.0.1", port=self.port,
            ssl_context=self.context if self.mode == "tls" else None,
            server_hostname="127.0.0.1", ready_timeout=10, **kwargs)
        controller.start()
        self.controller = controller
        return self

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    def count_by_recipient(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for message in self.received:
            for rcpt in message.recipients:
                counts[rcpt] = counts.get(rcpt, 0) + 1
        return counts
