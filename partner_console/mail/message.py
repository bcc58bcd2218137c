"""One invite (or reminder) email as a proper message: multipart text and HTML, UTF-8 headers
encoded as RFC 2047 words, a Message-ID and a Date, and `To` the provider's own address only.

No header can be injected: subjects and names are folded onto one line before they reach a
header (the standard library would refuse a line break anyway). Links go out exactly as Upheal
returned them: the text part carries them unchanged, the HTML part escapes them as attribute
values (which decode to the same characters).
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from email.header import decode_header, make_header
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, make_msgid, parseaddr

_LINK = re.compile(r"https?://[^\s<>\"]+")


def one_line(text: str) -> str:
    """Text that is safe in a header: any run of white space (line breaks included) as one
    space, and no RFC 2047 encoded word left. (The standard library decodes "=?utf-8?q?…?="
    in a value it is given and would write a line break hidden in one as a real one: a name
    could add a Bcc.) Encoded words are decoded first, as a mail program would show them."""
    text = str(text)
    for _ in range(5):  # an encoded word may hide another
        try:
            decoded = str(make_header(decode_header(text)))
        except (ValueError, LookupError, UnicodeDecodeError):
            break
        if decoded == text:
            break
        text = decoded
    return " ".join(text.replace("=?", "= ?").split())


@dataclass(frozen=True)
class Outgoing:
    """A message ready to hand over: its bytes, and what the console records of it."""

    message_id: str
    to: str
    subject: str
    data: bytes  # the whole message, CRLF line ends, as SMTP sends it


def _html(body: str) -> str:
    """The text as HTML: every character escaped, links made clickable, lines kept."""
    parts: list[str] = []
    last = 0
    for found in _LINK.finditer(body):
        parts.append(html.escape(body[last:found.start()]))
        link = html.escape(found.group(0), quote=True)
        parts.append(f'<a href="{link}">{link}</a>')
        last = found.end()
    parts.append(html.escape(body[last:]))
    text = "".join(parts).replace("\r\n", "\n").replace("\n", "<br>\n")
    return ("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"></head>"
            f"<body style=\"font-family: sans-serif; line-height: 1.5\">\n{text}\n</body></html>\n")


def build_message(*, sender: str, to_email: str, to_name: str, subject: str, body: str,
                  reply_to: str | None = None, now: datetime | None = None) -> Outgoing:
    """The message for one provider. `sender` and `reply_to` are checked addresses (config.py);
    `to_email` is the provider's own address, checked when they were created."""
    message = EmailMessage(policy=SMTP)
    sender_name, sender_address = parseaddr(sender)
    domain = sender_address.rpartition("@")[2] or "partner-console.invalid"
    message_id = make_msgid(domain=domain)
    message["From"] = Address(display_name=one_line(sender_name), addr_spec=sender_address)
    message["To"] = Address(display_name=one_line(to_name), addr_spec=to_email.strip())
    if reply_to:
        reply_name, reply_address = parseaddr(reply_to)
        message["Reply-To"] = Address(display_name=one_line(reply_name), addr_spec=reply_address)
    message["Subject"] = one_line(subject) or "Your invitation to Upheal"
    message["Date"] = format_datetime(now or datetime.now(UTC))
    message["Message-ID"] = message_id
    text = body.replace("\r\n", "\n").replace("\r", "\n")
    message.set_content(text, charset="utf-8", cte="quoted-printable")
    message.add_alternative(_html(text), subtype="html", charset="utf-8",
                          cte="quoted-printable")
    return Outgoing(message_id=message_id, to=to_email.strip(), subject=str(message["Subject"]),
                    data=message.as_bytes())
