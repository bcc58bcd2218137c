"""The organisation's note-template catalog and its settings (e.g. the invite email text)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, delete, insert, select, update

from partner_console.api.models import TEMPLATE_ID_PATTERN
from partner_console.storage.clock import utcnow
from partner_console.storage.scope import Scope
from partner_console.storage.tables import note_templates, organisation_settings


@dataclass(frozen=True)
class NoteTemplate:
    name: str
    template_id: str
    preselected: bool = False


class CatalogError(ValueError):
    """The catalog as edited cannot be saved; the message says which line and why."""


def check_note_template(name: str, template_id: str) -> tuple[NoteTemplate | None, dict[str, str]]:
    """One template as typed in the add or edit form: (the template, {}) or (None, a message
    per field)."""
    name = " ".join(name.split())
    template_id = template_id.strip().lower()
    problems: dict[str, str] = {}
    if not name:
        problems["name"] = "Give the template a name staff will recognise."
    if not template_id:
        problems["template_id"] = ("Paste the template's id from Upheal, like "
                                   "2fb81b0a-611b-11ed-9b6a-0242ac120002.")
    elif not TEMPLATE_ID_PATTERN.match(template_id):
        problems["template_id"] = (f"“{template_id[:60]}” is not a template id. Ids look like "
                                   "2fb81b0a-611b-11ed-9b6a-0242ac120002.")
    if problems:
        return None, problems
    return NoteTemplate(name, template_id), {}


def clashes(template: NoteTemplate, others: list[NoteTemplate]) -> dict[str, str]:
    """What in `template` repeats one of `others`, per field."""
    problems: dict[str, str] = {}
    for other in others:
        if other.template_id == template.template_id:
            problems["template_id"] = f"This template id is already in the list, as “{other.name}”."
        if other.name.lower() == template.name.lower():
            problems["name"] = f"Another template is already called “{other.name}”."
    return problems


class TemplateClash(CatalogError):
    """The template repeats a name or id already in the catalog (per field, in `problems`)."""

    def __init__(self, problems: dict[str, str]) -> None:
        super().__init__(" ".join(problems.values()))
        self.problems = problems


def check_templates(items: list[dict[str, Any]]) -> list[NoteTemplate]:
    """Clean edited rows: blank lines dropped; names and ids required; ids well-formed, unique."""
    cleaned: list[NoteTemplate] = []
    seen_ids: set[str] = set()
    seen_names: set[str] = set()
    for line, item in enumerate(items, start=1):
        name = " ".join(str(item.get("name") or "").split())
        template_id = str(item.get("template_id") or "").strip().lower()
        if not name and not template_id:
            continue
        if not name:
            raise CatalogError(f"Line {line}: give the template a name staff will recognise.")
        if not TEMPLATE_ID_PATTERN.match(template_id):
            raise CatalogError(f"Line {line} ({name}): “{template_id[:60]}” is not a template id. "
                               "Ids look like 2fb81b0a-611b-11ed-9b6a-0242ac120002.")
        if template_id in seen_ids:
            raise CatalogError(f"Line {line} ({name}): this template id is already in the list.")
        if name.lower() in seen_names:
            raise CatalogError(f"Line {line}: another template is already called “{name}”.")
        seen_ids.add(template_id)
        seen_names.add(name.lower())
        cleaned.append(NoteTemplate(name, template_id, bool(item.get("preselected"))))
    return cleaned


@dataclass
class Catalog:
    engine: Engine

    def templates(self, scope: Scope) -> list[NoteTemplate]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(note_templates.c.name, note_templates.c.template_id,
                                       note_templates.c.preselected).where(
                scope.visible(note_templates)).order_by(note_templates.c.name)).all()
        return [NoteTemplate(r.name, r.template_id, bool(r.preselected)) for r in rows]

    def save_templates(self, scope: Scope, templates: list[NoteTemplate]) -> None:
        """Replace this organisation's catalog with `templates`, in one transaction."""
        org = scope.organization_ids[0] if len(scope.organization_ids) == 1 else None
        now = utcnow()
        with self.engine.begin() as conn:
            conn.execute(delete(note_templates).where(scope.visible(note_templates)))
            if templates:
                conn.execute(insert(note_templates), [
                    {"key_fingerprint": scope.key_fingerprint, "organization_id": org,
                     "name": t.name, "template_id": t.template_id,
                     "preselected": t.preselected, "created_at": now} for t in templates])

    def add(self, scope: Scope, template: NoteTemplate) -> None:
        """Add one template; TemplateClash when its name or id is taken (checked in the same
        transaction as the insert)."""
        self._change(scope, template, replacing=None)

    def replace(self, scope: Scope, template_id: str, template: NoteTemplate) -> None:
        """Change the template that has `template_id` (its name, id or preselection)."""
        self._change(scope, template, replacing=template_id)

    def remove(self, scope: Scope, template_id: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(delete(note_templates).where(
                scope.visible(note_templates), note_templates.c.template_id == template_id))

    def _change(self, scope: Scope, template: NoteTemplate, replacing: str | None) -> None:
        org = scope.organization_ids[0] if len(scope.organization_ids) == 1 else None
        with self.engine.begin() as conn:
            rows = conn.execute(select(note_templates.c.name, note_templates.c.template_id,
                                       note_templates.c.preselected).where(
                scope.visible(note_templates)).with_for_update()).all()
            others = [NoteTemplate(r.name, r.template_id, bool(r.preselected)) for r in rows
                      if r.template_id != replacing]
            problems = clashes(template, others)
            if problems:
                raise TemplateClash(problems)
            if replacing is not None:
                conn.execute(delete(note_templates).where(
                    scope.visible(note_templates), note_templates.c.template_id == replacing))
            conn.execute(insert(note_templates).values(
                key_fingerprint=scope.key_fingerprint, organization_id=org, name=template.name,
                template_id=template.template_id, preselected=template.preselected,
                created_at=utcnow()))

    def setting(self, scope: Scope, name: str, default: str) -> str:
        with self.engine.connect() as conn:
            value = conn.execute(select(organisation_settings.c.value).where(
                scope.visible(organisation_settings), organisation_settings.c.name == name
            ).order_by(organisation_settings.c.updated_at.desc()).limit(1)).scalar()
        return default if value is None else str(value)

    def set_setting(self, scope: Scope, name: str, value: str) -> None:
        org = scope.organization_ids[0] if len(scope.organization_ids) == 1 else None
        with self.engine.begin() as conn:
            changed = conn.execute(update(organisation_settings).where(
                scope.visible(organisation_settings), organisation_settings.c.name == name
            ).values(value=value, updated_at=utcnow())).rowcount
            if not changed:
                conn.execute(insert(organisation_settings).values(
                    key_fingerprint=scope.key_fingerprint, organization_id=org, name=name,
                    value=value, updated_at=utcnow()))
