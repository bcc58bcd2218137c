"""Roster sync: the practice's current list of providers against History, as a plan a person
reads before anything is sent (then run as a job: jobs/kinds/sync.py).

Each row of the file is matched to History by the partner's own id, then by email, and falls
in one category: new (to create; if Upheal already has the email, it is linked instead),
changed (each field old -> new), unchanged, or a conflict the person must settle (an email that
belongs to another id, the same id or email twice in the file, a deactivated provider, details
that do not pass Upheal's rules). Providers the console created for this organisation that
are active and absent from the file are "not in the file": deactivated only when the person
asks, behind a safeguard when the number looks wrong.

A blank cell means "unchanged", never "erase". Email and phone cannot be changed in Upheal:
a difference is reported, never sent. Planning is pure (no database, no calls), so the same
roster against the History it produced plans nothing.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from partner_console.api.models import FIELD_LABELS, validate_provider
from partner_console.bulk.prepare import PreparedRow
from partner_console.changes import Change, wanted_change
from partner_console.storage import ProviderRow
from partner_console.storage.tables import CREATED, LINKS_LOST

NEW, CHANGED, UNCHANGED, MISSING, CONFLICT = "new", "changed", "unchanged", "missing", "conflict"
CATEGORY_LABELS = {
    NEW: "New", CHANGED: "Changed", UNCHANGED: "Unchanged", MISSING: "Not in the file",
    CONFLICT: "Needs a decision",
}
CATEGORY_HELP = {
    NEW: "Created in Upheal (linked instead when Upheal already has the email).",
    CHANGED: "Only the fields that differ are sent; a blank cell keeps what History has.",
    UNCHANGED: "Already as the file says: nothing is sent.",
    MISSING: "Created by the console, active, and not in this file: deactivated only if you "
             "tick the box below.",
    CONFLICT: "Not sent. Each says what to do; fix the file and upload it again.",
}
SHARE_THAT_LOOKS_WRONG = 0.20  # of the active providers deactivated at once
SHRINK_THAT_LOOKS_WRONG = 0.5  # of the last sync's rows


@dataclass(frozen=True)
class PlannedRow:
    category: str
    name: str
    email: str
    row_number: int | None = None  # None: not in the file
    provider_id: int | None = None
    change: Change | None = None  # CHANGED
    create: dict[str, Any] | None = None  # NEW: the create request's body
    note: str = ""  # what it means, or what the person can do
    fixed: tuple[str, ...] = ()  # "Email can't be changed in Upheal (…)"
    cells: dict[str, str] = field(default_factory=dict)  # as uploaded
    practice_id: str | None = None  # a platform's practice (None: the key's own)


@dataclass(frozen=True)
class SyncPlan:
    rows: list[PlannedRow]
    active_total: int  # the organisation's active providers created by the console
    file_rows: int

    def count(self, category: str) -> int:
        return sum(1 for r in self.rows if r.category == category)

    @property
    def counts(self) -> dict[str, int]:
        found = Counter(r.category for r in self.rows)
        return {c: found.get(c, 0) for c in CATEGORY_LABELS}

    def to_send(self, deactivate_missing: bool) -> list[PlannedRow]:
        wanted = (NEW, CHANGED, MISSING) if deactivate_missing else (NEW, CHANGED)
        return [r for r in self.rows if r.category in wanted]

    def nothing_to_do(self, deactivate_missing: bool) -> bool:
        return not self.to_send(deactivate_missing)

    def looks_wrong(self, deactivate_missing: bool, last_rows: int | None) -> str | None:
        """Why the deactivations asked for look like a mistake (Okta's import safeguard), or
        None: more than a fifth of the active providers, or a file under half the size of the
        last sync's."""
        missing = self.count(MISSING)
        if not deactivate_missing or not missing:
            return None
        reasons = []
        if self.active_total and missing > SHARE_THAT_LOOKS_WRONG * self.active_total:
            reasons.append(f"it would deactivate {missing} of your {self.active_total} active "
                           f"providers ({missing / self.active_total:.0%}, more than "
                           f"{SHARE_THAT_LOOKS_WRONG:.0%})")
        if last_rows and self.file_rows < SHRINK_THAT_LOOKS_WRONG * last_rows:
            reasons.append(f"this file has {self.file_rows} rows and the last sync's had "
                           f"{last_rows}: a part of the roster may be missing")
        if not reasons:
            return None
        return "This looks wrong: " + "; and ".join(reasons) + "."


def _text(values: dict[str, Any], name: str) -> str:
    return str(values.get(name) or "").strip()


def _full_name(values: dict[str, Any]) -> str:
    return " ".join(p for p in (_text(values, "first_name"), _text(values, "last_name")) if p)


def _fixed_differences(known: ProviderRow, values: dict[str, Any], matched_by_id: bool
                       ) -> tuple[str, ...]:
    """Fields the file has otherwise than History that Upheal cannot change."""
    found = []
    email = _text(values, "email")
    if matched_by_id and email and email.lower() != known.email.lower():
        found.append(f"Email can't be changed in Upheal (it stays {known.email}); use "
                     "“Replace with the right email” in History if it is wrong.")
    phone = _text(values, "phone_number")
    if phone:
        wanted, _ = validate_provider({"first_name": "x", "last_name": "x",
                                       "email": "x@example.com", "phone_number": phone,
                                       "phone_country_code": values.get("phone_country_code")})
        typed = (wanted.phone_country_code, wanted.phone_number) if wanted else (None, phone)
        if typed != (known.phone_country_code, known.phone_number):
            found.append("Phone can't be changed in Upheal: it is kept as it was.")
    return tuple(found)


def plan_sync(rows: list[PreparedRow], known: list[ProviderRow]) -> SyncPlan:
    """The plan for `rows` (as read and mapped: PreparedRow.values) against `known` (History's
    providers of this organisation)."""
    live = [k for k in known if k.status in (CREATED, LINKS_LOST)]
    # Matched within a practice (an email or id may be in each of a platform's practices).
    by_id: dict[tuple[str | None, str], ProviderRow] = {}
    by_email: dict[tuple[str | None, str], ProviderRow] = {}
    for provider in sorted(live, key=lambda k: (k.active, k.id)):  # the active, newest wins
        if provider.partner_user_id:
            by_id[(provider.practice_id, provider.partner_user_id.strip().lower())] = provider
        by_email[(provider.practice_id, provider.email.lower())] = provider
    planned: list[PlannedRow] = []
    seen_ids: dict[tuple[str | None, str], int] = {}
    seen_emails: dict[tuple[str | None, str], int] = {}
    matched: set[int] = set()
    for row in rows:
        values, number, practice = row.values, row.row_number, row.practice_id
        email, pid = _text(values, "email"), _text(values, "partner_user_id")
        base: dict[str, Any] = {"name": _full_name(values), "email": email,
                                "row_number": number, "cells": row.cells,
                                "practice_id": practice}
        if "practice" in row.errors:
            planned.append(PlannedRow(CONFLICT, **base, note=f"Needs fixing: "
                                                              f"{row.errors['practice']}"))
            continue
        if pid and (practice, pid.lower()) in seen_ids:
            planned.append(PlannedRow(CONFLICT, **base, note=(
                f"The same {FIELD_LABELS['partner_user_id']} as row "
                f"{seen_ids[(practice, pid.lower())]}: keep one of the two rows.")))
            continue
        if email and (practice, email.lower()) in seen_emails:
            planned.append(PlannedRow(CONFLICT, **base, note=(
                f"The same email as row {seen_emails[(practice, email.lower())]}: keep one of "
                "the two rows.")))
            continue
        if pid:
            seen_ids[(practice, pid.lower())] = number
        if email:
            seen_emails[(practice, email.lower())] = number
        match = by_id.get((practice, pid.lower())) if pid else None
        matched_by_id = match is not None
        if match is None and email:
            same_email = by_email.get((practice, email.lower()))
            if same_email is not None and pid and same_email.partner_user_id and \
                    same_email.partner_user_id.strip().lower() != pid.lower():
                planned.append(PlannedRow(CONFLICT, **base, provider_id=same_email.id, note=(
                    f"This email belongs to {same_email.partner_user_id} in History, not "
                    f"{pid}: correct the {FIELD_LABELS['partner_user_id']} or the email.")))
                matched.add(same_email.id)
                continue
            match = same_email
        if match is None:
            if row.request is None:
                problem = "; ".join(f"{FIELD_LABELS.get(k, k)}: {v}"
                                    for k, v in row.errors.items()) or "Check this row."
                planned.append(PlannedRow(CONFLICT, **base, note=f"Needs fixing: {problem}"))
                continue
            planned.append(PlannedRow(NEW, **{**base, "name": row.request.first_name + " "
                                               + row.request.last_name,
                                               "email": row.request.email},
                                      create=row.request.to_json()))
            continue
        matched.add(match.id)
        base.update(name=base["name"] or match.full_name, email=match.email,
                    provider_id=match.id)
        if not match.active:
            planned.append(PlannedRow(CONFLICT, **base, note=(
                "Deactivated in Upheal: reactivate them in History first, or take the row "
                "out of the file.")))
            continue
        change, errors = wanted_change(match, values)
        if errors:
            problem = "; ".join(f"{FIELD_LABELS.get(k, k)}: {v}" for k, v in errors.items())
            planned.append(PlannedRow(CONFLICT, **base, note=f"Needs fixing: {problem}"))
            continue
        fixed = _fixed_differences(match, values, matched_by_id)
        if change:
            planned.append(PlannedRow(CHANGED, **base, change=change, fixed=fixed,
                                      note=describe(change)))
        else:
            planned.append(PlannedRow(UNCHANGED, **base, fixed=fixed))
    in_file = {r.practice_id for r in rows}  # (the practices this roster speaks for)
    missing = [k for k in live if k.active and k.id not in matched and k.practice_id in in_file]
    for provider in sorted(missing, key=lambda k: k.id):
        planned.append(PlannedRow(MISSING, provider.full_name, provider.email,
                                  provider_id=provider.id, note="Not in the file.",
                                  practice_id=provider.practice_id))
    return SyncPlan(planned, sum(1 for k in live if k.active and k.practice_id in in_file),
                    len(rows))


def describe(change: Change) -> str:
    """'NPI: 1234567893 → 1245319599; licence: (none) → LCSW'."""
    def shown(value: Any) -> str:
        if isinstance(value, list):
            return ", ".join(value) or "(none)"
        value = getattr(value, "label", value)
        return str(value) if value not in (None, "") else "(none)"
    from partner_console.changes import SHORT

    return "; ".join(f"{SHORT[k]}: {shown(change.old.get(k))} → {shown(v)}"
                     for k, v in change.new.items())


PREVIEW_HEADERS = ["What", "Row", "Name", "Email", "Changes", "Can't be changed in Upheal"]


def preview_rows(plan: SyncPlan, deactivate_missing: bool) -> list[list[str]]:
    """The plan as a file's rows (Download the changes), in the order it is shown."""
    out = []
    for row in plan.rows:
        what = CATEGORY_LABELS[row.category]
        if row.category == MISSING:
            what += ": deactivated" if deactivate_missing else ": left as it is"
        out.append([what, str(row.row_number or ""), row.name, row.email, row.note,
                    " ".join(row.fixed)])
    return out
