"""Turn read rows into checked provider requests, with a status a person understands per row."""

from __future__ import annotations

import re
from collections.abc import Callable, Collection
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from partner_console.api.client import Pacing, UphealClient
from partner_console.api.models import (
    FIELD_LABELS,
    ProviderRequest,
    formula_message,
    validate_provider,
)
from partner_console.bulk.read import ReadResult
from partner_console.storage.catalog import NoteTemplate
from partner_console.storage.history import History
from partner_console.storage.practices import Practice
from partner_console.storage.scope import Scope

READY = "ready"
INVALID = "invalid"
DUPLICATE_IN_FILE = "duplicate_in_file"
IN_HISTORY = "in_history"
IN_UPHEAL = "in_upheal"
EXAMPLE = "example"  # the template's own example row, left out unless the person keeps it

ROW_STATUS_LABELS = {
    READY: "Ready",
    INVALID: "Needs fixing",
    DUPLICATE_IN_FILE: "Repeated in this file",
    IN_HISTORY: "Already created (in History)",
    IN_UPHEAL: "Already has an Upheal account",
    EXAMPLE: "The template's example row",
}


@dataclass
class PreparedRow:
    row_number: int
    cells: dict[str, str]  # as read, by file header
    values: dict[str, Any]  # by field
    request: ProviderRequest | None
    errors: dict[str, str] = field(default_factory=dict)
    status: str = READY
    note: str = ""  # e.g. the earlier provider's invite link, or which row it repeats
    practice_id: str | None = None  # a platform's practice to create in (None: the key's own)

    @property
    def problem(self) -> str:
        if self.errors:
            return "; ".join(f"{FIELD_LABELS.get(k, k.capitalize())}: {v}"
                             for k, v in self.errors.items())
        return self.note


def _templates(text: str, catalog: list[NoteTemplate]) -> tuple[list[str], str | None]:
    by_name = {t.name.lower(): t.template_id for t in catalog}
    ids: list[str] = []
    for part in re.split(r"[;,\n]", text):
        part = part.strip()
        if not part:
            continue
        template_id = by_name.get(part.lower(), part)
        if template_id not in ids:
            ids.append(template_id)
    unknown = [i for i in ids if i not in by_name.values()
               and not re.fullmatch(r"[0-9a-fA-F-]{36}", i)]
    if unknown:
        return ids, (f"“{unknown[0][:60]}” is neither a template name from your Note templates "
                     "page nor a template id.")
    return ids, None


def practice_of(text: str, practices: list[Practice]) -> tuple[str | None, str | None]:
    """A Practice cell (a name or an organisation id) as (organisation id, None), or (None, what
    is wrong); an empty cell is (None, None): the file's practice."""
    wanted = " ".join(text.split()).lower()
    if not wanted:
        return None, None
    for practice in practices:
        if wanted in (practice.name.lower(), practice.org_id):
            return practice.org_id, None
    return None, (f"“{text.strip()[:60]}” is not one of your practices: add it on the "
                  "Practices page, or use its name as listed there.")


def prepare_rows(read: ReadResult, mapping: dict[str, str | None],
                 catalog: list[NoteTemplate],
                 default_calling_code: str | None = None,
                 practices: list[Practice] | None = None,
                 file_practice: str | None = None) -> list[PreparedRow]:
    """Check every row. A phone number without a country code (no +, no country column) is
    read in `default_calling_code`'s country, e.g. "+1". A row's practice is its Practice cell
    (a name or id of `practices`), else `file_practice` (None: the key's own organisation); an
    email may be in the file once per practice."""
    prepared: list[PreparedRow] = []
    seen_emails: dict[tuple[str, str | None], int] = {}
    seen_refs: dict[tuple[str, str | None], int] = {}
    first_row_of: dict[str, tuple[int, str | None]] = {}  # an email's first row and practice
    for row_number, cells in read.rows:
        values: dict[str, Any] = {}
        for header, field_name in mapping.items():
            if field_name and cells.get(header, "").strip():
                values[field_name] = cells[header]
        practice_id, practice_error = practice_of(str(values.pop("practice", "")),
                                                  practices or [])
        practice_id = practice_id or (file_practice if not practice_error else None)
        phone = str(values.get("phone_number") or "").strip()
        if (default_calling_code and phone and not phone.startswith(("+", "00"))
                and not values.get("phone_country_code")):
            values["phone_country_code"] = default_calling_code
        template_error = None
        if "default_note_template_ids" in values:
            values["default_note_template_ids"], template_error = _templates(
                values["default_note_template_ids"], catalog)
        for required in ("first_name", "last_name", "email"):
            values.setdefault(required, "")
        request, errors = validate_provider(values)
        for name, value in values.items():  # a formula (read as typed) is never a value
            if isinstance(value, str) and value.lstrip().startswith("="):
                errors[name] = formula_message(value.strip())
                request = None
        if template_error:
            errors["default_note_template_ids"] = template_error
            request = None
        if practice_error:
            errors["practice"] = practice_error
            request = None
        row = PreparedRow(row_number, cells, values, request, errors, practice_id=practice_id)
        if request is None:
            row.status = INVALID
        else:
            email = (request.email.lower(), practice_id)
            ref = ((request.partner_user_id or "").lower(), practice_id)
            if email in seen_emails:
                row.status = DUPLICATE_IN_FILE
                row.note = f"Same email as row {seen_emails[email]}."
            elif ref[0] and ref in seen_refs:
                row.status = DUPLICATE_IN_FILE
                row.note = f"Same “{FIELD_LABELS['partner_user_id']}” as row {seen_refs[ref]}."
            else:
                seen_emails[email] = row_number
                if ref[0]:
                    seen_refs[ref] = row_number
                first = first_row_of.setdefault(email[0], (row_number, practice_id))
                if first[1] != practice_id:
                    row.note = (f"Also in row {first[0]}, for another practice: each practice "
                                "gets its own Upheal account.")
        prepared.append(row)
    return prepared


def counts(rows: list[PreparedRow]) -> dict[str, int]:
    found = dict.fromkeys(ROW_STATUS_LABELS, 0)
    for row in rows:
        found[row.status] += 1
    return found


@dataclass(frozen=True)
class Earlier:
    """A provider already in History with a row's email: when it was created, its link."""

    created_on: str  # as the person reads dates, e.g. "2026-11-29"
    invite_url: str | None


def example_email() -> str:
    from partner_console.bulk.columns import COLUMNS

    return next(c.example for c in COLUMNS if c.field == "email").lower()


def also_in(practices: list[str | None], names: dict[str, str]) -> str:
    """A person who is a provider in other practices too, in words (None: the key's own
    organisation)."""
    listed = ", ".join(sorted(names.get(p, "another practice") if p else
                              "your own organisation" for p in practices))
    return (f"Also a provider in {listed}: each practice has an Upheal account of its own "
            "for them.")


def classify(rows: list[PreparedRow], earlier: dict[str, Earlier], in_upheal: set[str],
             keep_example: bool = False, practice_names: dict[str, str] | None = None
             ) -> list[PreparedRow]:
    """Which rows the import will send, decided once per file, mapping and check: a copy of
    each ready row marked as already in History (`earlier`, by lower-case email, and practice
    after a "|" for a platform's practice), as having an Upheal account there (`in_upheal`,
    the same keys), or as the template's example row. Only the statuses prepare_rows gave
    are read, never an earlier classification, so the same inputs give the same numbers on
    every rerun, in the preview, the button, the confirmation and the job."""
    example = example_email()
    practices_of: dict[str, list[str | None]] = {}  # the practices each email is in already
    for key in earlier:
        email, _, practice = key.partition("|")
        practices_of.setdefault(email, []).append(practice or None)
    classified = []
    for row in rows:
        if row.status != READY or row.request is None:
            classified.append(row)
            continue
        email = row.request.email.lower()
        key = email if row.practice_id is None else f"{email}|{row.practice_id}"
        if email == example and not keep_example:
            status, note = EXAMPLE, ("The template's example row (Jane Smith): left out. Tick "
                                     "“Import the example row too” to keep it.")
        elif key in earlier:
            found = earlier[key]
            status, note = IN_HISTORY, (f"Created on {found.created_on}. Invite link: "
                                        f"{found.invite_url or 'not available'}")
        elif key in in_upheal:
            status, note = IN_UPHEAL, "Already has an Upheal account."
        else:
            elsewhere = [p for p in practices_of.get(email, []) if p != row.practice_id]
            classified.append(replace(row, note=also_in(elsewhere, practice_names or {}))
                              if elsewhere and not row.note else row)
            continue
        classified.append(replace(row, status=status, note=note))
    return classified


def classify_with_history(history: History, scope: Scope, rows: list[PreparedRow],
                          in_upheal: set[str], keep_example: bool,
                          day: Callable[[datetime], str],
                          practice_names: dict[str, str] | None = None) -> list[PreparedRow]:
    """`classify`, with the rows already created in this organisation's History looked up
    (each shown with its day, as `day` writes it, and its invite link)."""
    known = history.latest_by_email(
        scope, [r.request.email for r in rows if r.request is not None and r.status == READY])
    earlier = {email: Earlier(day(row.created_at), row.invite_url)
               for email, row in known.items()}
    return classify(rows, earlier, in_upheal, keep_example, practice_names)


def emails_in_upheal(client: UphealClient, api_key: str, emails: list[str],
                     pacing: Pacing | None,
                     on_progress: Callable[[int, int], object] | None = None,
                     practices: Collection[str] = ()) -> set[str]:
    """Which of `emails` already have an Upheal account, asked one by one at the key's pace
    (the preview's optional check), as the keys `classify` matches rows by: the email, or
    "email|practice" for an account in one of a platform's `practices` (an email may be in
    each practice once: Upheal is asked where each found account is). Raises ApiError when
    Upheal cannot answer; `on_progress(done, total)` after each."""
    paced = client.paced(pacing)
    found: set[str] = set()
    try:
        for number, email in enumerate(emails, start=1):
            check = paced.check_user(api_key, email)
            if check.is_user_exists:
                where = ""
                if practices and check.user_id:
                    where = (paced.get_user(api_key, check.user_id).organization_id
                             or "").lower()
                found.add(f"{email.lower()}|{where}" if where in practices else email.lower())
            if on_progress is not None:
                on_progress(number, len(emails))
    finally:
        paced.close()
    return found
