"""Text from people and from Upheal, made inert before it reaches a markdown element.

Streamlit renders markdown in st.markdown, alerts, captions, toasts and headings: a provider
named "[click](https://evil)" would otherwise become a link. Every ASCII punctuation mark may be
backslash-escaped in CommonMark, so escaping them all is always safe. Escaping does not stop
GitHub-style automatic links, which Streamlit's renderer also makes of bare web addresses
("https://…", "www.…") and email addresses: a WORD JOINER (U+2060, invisible, no width) after
"://", after "@" and inside "www." keeps them plain text. Links appear only where the console
means one (copy boxes, link columns, link buttons).
"""

from __future__ import annotations

import re

_PUNCTUATION = re.compile(r"([!-/:-@\[-`{-~])")
_WORD_JOINER = "\u2060"
_WWW = re.compile(r"(w)(ww\.)", re.IGNORECASE)


def safe(text: object) -> str:
    """`text` shown literally: markdown, automatic links and line breaks neutralised."""
    plain = " ".join(str(text).split())
    plain = _WWW.sub(r"\1" + _WORD_JOINER + r"\2", plain)
    plain = plain.replace("://", ":" + _WORD_JOINER + "//").replace("@", "@" + _WORD_JOINER)
    return _PUNCTUATION.sub(r"\\\1", plain)
