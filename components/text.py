"""Text from people and from Upheal, made inert before it reaches a markdown element.

Streamlit renders markdown (and bare web addresses) in st.markdown, alerts, captions, toasts and
headings: a provider named "[click](https://evil)" would otherwise become a link. Every ASCII
punctuation mark may be backslash-escaped in CommonMark, so escaping them all is always safe.
"""

from __future__ import annotations

import re

_PUNCTUATION = re.compile(r"([!-/:-@\[-`{-~])")


def safe(text: object) -> str:
    """`text` shown literally: markdown, links and line breaks neutralised."""
    return _PUNCTUATION.sub(r"\\\1", " ".join(str(text).split()))
