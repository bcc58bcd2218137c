"""A platform partner's practices: each an organisation in Upheal its key can create providers
in. Upheal has no endpoint that lists them, so the partner keeps the list here, per
organisation of the key (like the template catalog): another key's list is never offered."""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass

from sqlalchemy import Engine, delete, insert, select, update

from partner_console.storage.clock import utcnow
from partner_console.storage.scope import Scope
from partner_console.storage.tables import practices

# Upheal's organisation ids are UUIDs (api-contract.md's examples: organizationId).
ORG_ID_PATTERN = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-"
                            r"[0-9a-fA-F]{12}$")
ORG_ID_EXAMPLE = "d290f1ee-6c54-4b01-90e6-d701748f0851"
CSV_HEADERS = ["Name", "Organisation id"]
MAX_NAME = 200


@dataclass(frozen=True)
class Practice:
    name: str
    org_id: str  # the practice's organisation id in Upheal


def check_practice(name: str, org_id: str) -> tuple[Practice | None, dict[str, str]]:
    """A practice as typed: (the practice, {}) or (None, a message per field)."""
    name = " ".join(name.split())
    org_id = org_id.strip().lower()
    problems: dict[str, str] = {}
    if not name:
        problems["name"] = "Give the practice the name your staff know it by."
    elif len(name) > MAX_NAME:
        problems["name"] = f"Keep the name under {MAX_NAME} characters."
    elif name.startswith(("=", "+", "-", "@")):
        problems["name"] = "A name cannot start with = + - or @ (a spreadsheet formula)."
    if not org_id:
        problems["org_id"] = (f"Paste the practice's organisation id from Upheal, like "
                              f"{ORG_ID_EXAMPLE}.")
    elif not ORG_ID_PATTERN.match(org_id):
        problems["org_id"] = (f"“{org_id[:60]}” is not an organisation id. They look like "
                              f"{ORG_ID_EXAMPLE}.")
    if problems:
        return None, problems
    return Practice(name, org_id), {}


class PracticeClash(ValueError):
    def __init__(self, problems: dict[str, str]) -> None:
        super().__init__(" ".join(problems.values()))
        self.problems = problems


@dataclass
class Practices:
    engine: Engine

    def all(self, scope: Scope) -> list[Practice]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(practices.c.name, practices.c.practice_org_id).where(
                scope.visible(practices)).order_by(practices.c.name)).all()
        return [Practice(r.name, r.practice_org_id) for r in rows]

    def add(self, scope: Scope, practice: Practice, own_org: str | None = None) -> None:
        self._change(scope, practice, None, own_org)

    def replace(self, scope: Scope, org_id: str, practice: Practice,
                own_org: str | None = None) -> None:
        self._change(scope, practice, org_id, own_org)

    def remove(self, scope: Scope, org_id: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(delete(practices).where(scope.visible(practices),
                                                 practices.c.practice_org_id == org_id))

    def _change(self, scope: Scope, practice: Practice, replacing: str | None,
                own_org: str | None) -> None:
        org = scope.organization_ids[0] if len(scope.organization_ids) == 1 else None
        with self.engine.begin() as conn:
            rows = conn.execute(select(practices.c.name, practices.c.practice_org_id).where(
                scope.visible(practices)).with_for_update()).all()
            problems: dict[str, str] = {}
            if own_org and practice.org_id == own_org.lower():
                problems["org_id"] = ("This is the key's own organisation: it is always the "
                                      "first choice, and need not be added.")
            for row in rows:
                if row.practice_org_id == replacing:
                    continue
                if row.practice_org_id == practice.org_id:
                    problems["org_id"] = f"This organisation id is already in the list, as " \
                                         f"“{row.name}”."
                if row.name.lower() == practice.name.lower():
                    problems["name"] = f"Another practice is already called “{row.name}”."
            if problems:
                raise PracticeClash(problems)
            if replacing is not None:
                conn.execute(update(practices).where(
                    scope.visible(practices), practices.c.practice_org_id == replacing).values(
                    name=practice.name, practice_org_id=practice.org_id))
            else:
                conn.execute(insert(practices).values(
                    key_fingerprint=scope.key_fingerprint, organization_id=org,
                    name=practice.name, practice_org_id=practice.org_id, created_at=utcnow()))

    def save_all(self, scope: Scope, items: list[Practice]) -> None:
        """Replace the list (an imported file), in one transaction."""
        org = scope.organization_ids[0] if len(scope.organization_ids) == 1 else None
        with self.engine.begin() as conn:
            conn.execute(delete(practices).where(scope.visible(practices)))
            if items:
                conn.execute(insert(practices), [
                    {"key_fingerprint": scope.key_fingerprint, "organization_id": org,
                     "name": p.name, "practice_org_id": p.org_id, "created_at": utcnow()}
                    for p in items])


def read_practices_csv(data: bytes, limit: int = 1000) -> tuple[list[Practice], list[str]]:
    """The practices of an uploaded CSV (Name, Organisation id): (the list, problems by line);
    the list is empty when any line has a problem (nothing half-imported)."""
    text = data.decode("utf-8-sig", errors="replace")
    rows = list(csv.reader(io.StringIO(text)))
    if not rows:
        return [], ["The file is empty."]
    header = [h.strip().lower() for h in rows[0]]
    try:
        name_at = next(i for i, h in enumerate(header) if h in ("name", "practice"))
        id_at = next(i for i, h in enumerate(header) if "id" in h)
    except StopIteration:
        return [], ["The file needs two columns: Name and Organisation id."]
    found: list[Practice] = []
    problems: list[str] = []
    seen: set[str] = set()
    for number, row in enumerate(rows[1:limit + 1], start=2):
        if not any(cell.strip() for cell in row):
            continue
        cells = row + [""] * 2
        practice, errors = check_practice(cells[name_at], cells[id_at])
        if practice is None:
            problems.append(f"Line {number}: " + " ".join(errors.values()))
        elif practice.org_id in seen:
            problems.append(f"Line {number}: the organisation id is in the file twice.")
        else:
            seen.add(practice.org_id)
            found.append(practice)
    return ([] if problems else found), problems
