"""The ready-to-send invite email: a template the organisation can edit, filled per provider."""

from __future__ import annotations

import re
from dataclasses import dataclass
from string import Formatter
from urllib.parse import quote

EMAIL_SETTING = "invite_email"
REMINDER_SETTING = "reminder_email"
PLACEHOLDERS = ("first_name", "last_name", "invite_link", "room_link", "sender_name")

DEFAULT_EMAIL_TEMPLATE = """Subject: Your invitation to Upheal

Hello {first_name},

We have set up your Upheal account. Please finish signing up with this personal link:
{invite_link}

Your private video room, for sessions with your clients, will be:
{room_link}

If you have any questions, just reply to this email.

Best regards,
{sender_name}
"""


DEFAULT_REMINDER_TEMPLATE = """Subject: A reminder: your Upheal account is waiting

Hello {first_name},

A few days ago we set up your Upheal account, and it is still waiting for you. Finishing takes
a couple of minutes, with this personal link:
{invite_link}

If the link does not work any more, or you have questions, just reply to this email.

Best regards,
{sender_name}
"""


@dataclass(frozen=True)
class InviteEmail:
    subject: str
    body: str

    @property
    def text(self) -> str:
        return f"Subject: {self.subject}\n\n{self.body}"

    def mailto(self, to: str) -> str:
        return f"mailto:{quote(to)}?subject={quote(self.subject)}&body={quote(self.body)}"


TEXT_LIMIT = 20_000  # characters of an email text, its "Subject:" line included
SUBJECT_LIMIT = 300  # characters of the subject a text gives
PLACEHOLDER_LIMIT = 50  # placeholders in one text: a message stays a message
DEFAULT_SUBJECT = "Your invitation to Upheal"


def _pieces(template: str) -> list[tuple[str, str | None]]:
    """The text as (literal, placeholder name or None) pieces. Raises ValueError with a
    sentence when it is not plain text with plain {name} placeholders: an email text is data,
    never a program, so no width, format spec, conversion, index or attribute is accepted
    (they could make one message hundreds of megabytes long)."""
    if len(template) > TEXT_LIMIT:
        raise ValueError(f"The email text is {len(template):,} characters long; it can be at "
                         f"most {TEXT_LIMIT:,}.")
    try:
        parsed = list(Formatter().parse(template))
    except ValueError:
        raise ValueError("The email text has an unmatched { or }. Use placeholders like "
                         "{first_name}; write {{ or }} for a plain brace.") from None
    # the placeholders as written ("{first_name:}" parses like "{first_name}" but is not it)
    plain_forms = set(re.findall(r"\{[^{}]*\}", re.sub(r"\{\{|\}\}", "", template)))
    pieces: list[tuple[str, str | None]] = []
    for literal, name, spec, conversion in parsed:
        if name is None:
            pieces.append((literal, None))
            continue
        written = "{" + name + (f"!{conversion}" if conversion else "") + \
            (f":{spec}" if spec else "") + "}"
        shown = written if len(written) <= 60 else written[:57] + "…}"
        if spec or conversion or name not in PLACEHOLDERS:
            plain = next((p for p in PLACEHOLDERS if name.startswith(p)), None)
            if plain is not None:
                raise ValueError(f"The placeholder {shown} is not allowed: write it as "
                                 f"{{{plain}}}, with nothing else inside the braces.")
            raise ValueError(f"Unknown placeholder {shown}. You can use: "
                             + ", ".join("{" + p + "}" for p in PLACEHOLDERS) + ".")
        pieces.append((literal, name))
    for written in sorted(plain_forms - {"{" + p + "}" for p in PLACEHOLDERS}):
        shown = written if len(written) <= 60 else written[:57] + "…}"
        raise ValueError(f"The placeholder {shown} is not allowed: write placeholders as "
                         "{first_name}, with nothing else inside the braces.")
    if sum(name is not None for _, name in pieces) > PLACEHOLDER_LIMIT:
        raise ValueError(f"The email text has more than {PLACEHOLDER_LIMIT} placeholders; "
                         "use each one only where it is needed.")
    return pieces


def check_template(template: str) -> str | None:
    """None when the template is usable, else a sentence saying what to fix."""
    try:
        names = {name for _, name in _pieces(template) if name is not None}
    except ValueError as exc:
        return str(exc)
    if "invite_link" not in names:
        return "The email text must contain {invite_link}, or the provider cannot sign up."
    return None


def fill(template: str, values: dict[str, str]) -> str:
    """The text with each placeholder replaced by its value: literal pieces and values put
    side by side, so the result is never longer than the text plus the values put in."""
    return "".join(literal + (values[name] if name is not None else "")
                   for literal, name in _pieces(template))


def render_email(template: str, *, first_name: str, last_name: str, invite_link: str,
                 room_link: str, sender_name: str,
                 fallback: str = DEFAULT_EMAIL_TEMPLATE) -> InviteEmail:
    """The email for one provider. A text that does not pass check_template (one saved before
    the rules were tightened, say) is replaced by `fallback`."""
    if check_template(template) is not None:
        template = fallback
    text = fill(template, {"first_name": first_name, "last_name": last_name,
                           "invite_link": invite_link, "room_link": room_link,
                           "sender_name": sender_name or "The onboarding team"})
    match = re.match(r"[ \t\r\n]*Subject:[ \t]*([^\n]*?)[ \t\r]*\n(.*)", text, re.DOTALL)
    if match:
        subject = " ".join(match.group(1).split())[:SUBJECT_LIMIT] or DEFAULT_SUBJECT
        return InviteEmail(subject, match.group(2).strip() + "\n")
    return InviteEmail(DEFAULT_SUBJECT, text.strip() + "\n")
