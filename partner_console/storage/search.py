"""History search: any part of a name, email or reference, as people type it.

Every provider row keeps `search_text`: its first and last name in both orders, its email and its
reference, folded (lower case, accents and apostrophes dropped, other punctuation read as a space),
so "oconnor" finds O'Connor, "muller" finds Müller, "example.com" finds every address there and
"smith jane" finds Jane Smith. A search is the folded text as a substring of it, served by the
databases' own trigram indexes: PostgreSQL's pg_trgm (a GIN index) and SQLite's FTS5 with the
trigram tokenizer (table providers_search, kept by triggers). Trigram indexes need three
characters; one or two characters search the start of a name, a last name, an email or a
reference instead, with the byte-order prefix indexes of migration 4.
"""

from __future__ import annotations

import unicodedata

from sqlalchemy import ColumnElement, and_
from sqlalchemy.sql.elements import ColumnClause

_TOP = "\U0010ffff"
TRIGRAM = 3  # the shortest text a trigram index can serve
_DROPPED = {"'", "\u2019", "\u02bc", "`", "\u00b4"}  # O'Connor, O’Connor: "oconnor"


def normalise(text: str | None) -> str:
    """Lower case, single spaces: the prefix columns of migration 4."""
    return " ".join((text or "").lower().split())


def folded(text: str | None) -> str:
    """Lower case, without accents or apostrophes, every other non-letter a single space."""
    kept: list[str] = []
    for char in unicodedata.normalize("NFKD", text or ""):
        if unicodedata.combining(char) or char in _DROPPED:
            continue
        kept.append(char if char.isalnum() else " ")
    return " ".join("".join(kept).casefold().split())


def search_text(first_name: str, last_name: str, email: str, reference: str | None) -> str:
    """What a search looks in. Fields are joined by " | ", which no folded search contains, so a
    match never runs from one field into the next."""
    first, last = folded(first_name), folded(last_name)
    return " | ".join(part for part in (f"{first} {last}", f"{last} {first}", folded(email),
                                        folded(reference)) if part.strip())


def starts_with(column: ColumnClause[str] | ColumnElement[str], prefix: str,
                dialect: str) -> ColumnElement[bool]:
    """"Starts with p" as the byte-order range p <= value < p + U+10FFFF. SQLite compares text
    in byte order already; on PostgreSQL the comparison is made in the "C" collation, which the
    prefix indexes use."""
    value = column.collate("C") if dialect == "postgresql" else column
    return and_(value >= prefix, value < prefix + _TOP)


def fts_phrase(text: str) -> str:
    """An FTS5 query matching `text` (already folded: no double quotes) as one substring."""
    return '"' + text.replace('"', '""') + '"'


def search_columns(first_name: str, last_name: str, email: str,
                   reference: str | None) -> dict[str, str | None]:
    """The searched columns of a provider row, written with it."""
    return {
        "name_normalized": normalise(f"{first_name} {last_name}"),
        "last_name_normalized": normalise(last_name),
        "partner_user_id_normalized": normalise(reference) or None,
        "search_text": search_text(first_name, last_name, email, reference),
    }
