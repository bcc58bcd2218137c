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


def check_template(template: str) -> str | None:
    """None when the template is usable, else a sentence saying what to fix."""
    try:
        names = {name for _, name, _, _ in Formatter().parse(template) if name is not None}
    except ValueError:
        return ("The email text has an unmatched { or }. Use placeholders like {first_name}; "
                "write {{ or }} for a plain brace.")
    unknown = sorted(n for n in names if n not in PLACEHOLDERS)
    if unknown:
        return (f"Unknown placeholder {{{unknown[0]}}}. You can use: "
                + ", ".join("{" + p + "}" for p in PLACEHOLDERS) + ".")
    if "invite_link" not in names:
        return "The email text must contain {invite_link}, or the provider cannot sign up."
    return None


def render_email(template: str, *, first_name: str, last_name: str, invite_link: str,
                 room_link: str, sender_name: str,
                 fallback: str = DEFAULT_EMAIL_TEMPLATE) -> InviteEmail:
    if check_template(template) is not None:
        template = fallback
    text = template.format(first_name=first_name, last_name=last_name, invite_link=invite_link,
                           room_link=room_link, sender_name=sender_name or "The onboarding team")
    match = re.match(r"\s*Subject:\s*(.*?)\s*\n(.*)", text, re.DOTALL)
    if match:
        return InviteEmail(match.group(1), match.group(2).strip() + "\n")
    return InviteEmail("Your invitation to Upheal", text.strip() + "\n")
