"""Names and messages shown through markdown stay plain text: no markup, no automatic links."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from components.text import safe

WORD_JOINER = "\u2060"
AUTOLINK = re.compile(r"(?i)(https?:/|ftp:/|www\.|[\w.+-]@[\w-])")


def read_back(markdown: str) -> str:
    """What a person reads: escapes undone (CommonMark), invisible joiners dropped."""
    return re.sub(r"\\([!-/:-@\[-`{-~])", r"\1", markdown).replace(WORD_JOINER, "")


def test_web_and_email_addresses_are_not_left_for_automatic_linking():
    for text in ("https://evil.example/phish", "see www.evil.example now", "WWW.EVIL.COM",
                 "maryann@example.com", "ftp://x.y", "[x](javascript:alert(1))"):
        shown = safe(text)
        assert not AUTOLINK.search(shown.replace("\\", "")), shown
        assert read_back(shown) == text


@given(st.text().filter(lambda t: WORD_JOINER not in t))
def test_a_person_reads_exactly_the_text_with_its_spaces_folded(text):
    assert read_back(safe(text)) == " ".join(text.split())
