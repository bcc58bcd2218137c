"""After the invite: change a provider's details, deactivate, reactivate, or replace a provider
created with a mistyped email. No streamlit here.

Upheal changes names through update-user and note templates, NPI, licence and note identifier
through update-provider v2; it changes no email, phone, language or partner id (api-contract.md,
"After the create"). Only what changed is sent, each field to the endpoint that can change it.

Each action holds its provider in the database while it runs (storage/provider_actions.py): a
double click shows the first click's result, a second tab or a colleague on another replica is
told someone is at it, and nothing is sent twice. What Upheal took is written to History at
once, even when a second call fails after the first succeeded, and the activity log says what
was done, by whom.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from partner_console.api.client import UphealClient
from partner_console.api.errors import ApiError, NotFoundError
from partner_console.api.models import (
    FIELD_LABELS,
    NoteIdentifier,
    ProviderRequest,
    validate_provider,
)
from partner_console.creation import CREATED, ProviderCreator
from partner_console.identity import Person
from partner_console.messages import explain_action
from partner_console.storage import History, ProviderRow, Scope
from partner_console.storage.activity import CHANGED, DEACTIVATED, REACTIVATED, Activity
from partner_console.storage.provider_actions import (
    BUSY,
    DONE,
    FAILED,
    REPEATED,
    Action,
    ProviderActions,
)
from partner_console.storage.tables import ACTION_RUNNING, LINKS_LOST

NAMES = ("first_name", "last_name")  # update-user
PROVIDER_FIELDS = ("default_note_template_ids", "national_provider_identifier",
                   "therapy_licence", "note_identifier")  # update-provider v2
CHANGEABLE = NAMES + PROVIDER_FIELDS
SHORT = {"first_name": "first name", "last_name": "last name",
         "default_note_template_ids": "note templates", "national_provider_identifier": "NPI",
         "therapy_licence": "licence", "note_identifier": "note identifier"}
CANNOT_CHANGE = ("Upheal does not let a provider's email or phone number be changed. If the "
                 "email is wrong, use “Replace with the right email”.")


def request_of(row: ProviderRow) -> ProviderRequest:
    """The provider as History has it (as it was sent, or changed since)."""
    identifier = None
    if row.note_identifier:
        try:
            identifier = NoteIdentifier(row.note_identifier)
        except ValueError:
            identifier = None
    return ProviderRequest.model_construct(
        first_name=row.first_name, last_name=row.last_name, email=row.email,
        partner_user_id=row.partner_user_id, phone_number=row.phone_number,
        phone_country_code=row.phone_country_code, locale=row.locale,
        default_note_template_ids=row.default_note_template_ids or None,
        national_provider_identifier=row.national_provider_identifier,
        therapy_licence=row.therapy_licence, note_identifier=identifier)


def _same(field_name: str, old: Any, new: Any) -> bool:
    if field_name == "default_note_template_ids":
        return [i.lower() for i in old or []] == [i.lower() for i in new or []]
    return (old or None) == (new or None)


@dataclass(frozen=True)
class Change:
    """What changes, by field (as ProviderRequest names them), with the old values."""

    new: dict[str, Any] = field(default_factory=dict)
    old: dict[str, Any] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.new)

    @property
    def user_body(self) -> dict[str, Any]:
        return _camel({k: v for k, v in self.new.items() if k in NAMES})

    @property
    def provider_body(self) -> dict[str, Any]:
        body = {k: v for k, v in self.new.items() if k in PROVIDER_FIELDS}
        if "default_note_template_ids" in body:
            body["default_note_template_ids"] = body["default_note_template_ids"] or []
        return _camel(body)

    @property
    def words(self) -> str:
        """"NPI, licence": what changes, as staff say it."""
        return ", ".join(SHORT[k] for k in CHANGEABLE if k in self.new)

    def only(self, names: tuple[str, ...]) -> Change:
        return Change({k: v for k, v in self.new.items() if k in names},
                      {k: v for k, v in self.old.items() if k in names})


def _camel(values: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for name, value in values.items():
        head, *rest = name.split("_")
        out[head + "".join(p.title() for p in rest)] = \
            value.value if isinstance(value, NoteIdentifier) else value
    return out


def change_between(current: ProviderRequest, wanted: ProviderRequest) -> Change:
    new, old = {}, {}
    for name in CHANGEABLE:
        before, after = getattr(current, name), getattr(wanted, name)
        if not _same(name, before, after):
            new[name], old[name] = after, before
    return Change(new, old)


def wanted_change(row: ProviderRow, values: dict[str, Any]) -> tuple[Change, dict[str, str]]:
    """The change a person asks for (`values` by field; a blank or missing one keeps what
    History has, except note templates, which may be emptied): the Change, or the field
    errors that stop it, in the form's words."""
    current = request_of(row)
    merged = current.model_dump()
    for name in CHANGEABLE:
        if name not in values:
            continue
        value = values[name]
        if name == "default_note_template_ids":
            merged[name] = value or None
        elif value not in (None, ""):
            merged[name] = value
    merged["note_identifier"] = merged["note_identifier"].value \
        if isinstance(merged["note_identifier"], NoteIdentifier) else merged["note_identifier"]
    wanted, errors = validate_provider(merged)
    errors = {k: v for k, v in errors.items() if k in CHANGEABLE}
    if wanted is None or errors:
        return Change(), errors or {"email": "The details stored for this provider could not "
                                             "be read."}
    return change_between(current, wanted), {}


@dataclass(frozen=True)
class Outcome:
    ok: bool
    words: str  # what happened, in a sentence or two
    busy: bool = False  # someone else is at this provider right now
    provider_id: int | None = None  # a replacement: the new History row
    running: bool = False  # (a double click's action is still under way)


@dataclass
class ProviderChanger:
    client: UphealClient  # paced as a person's calls
    history: History
    actions: ProviderActions
    activity: Activity
    creator: ProviderCreator
    owner: str  # this server (coordination.lease_owner)
    wait_for_earlier: float = 30.0  # a double click waits this long for the first's result
    sleep: Callable[[float], None] = time.sleep

    # -- change details ------------------------------------------------------------------------
    def change(self, api_key: str, scope: Scope, row_id: int, change: Change, person: Person,
               token: str) -> Outcome:
        if not change:
            return Outcome(True, "Nothing was changed: the details are as they were.")
        return self._hold(scope, row_id, "change", person, token,
                          lambda row, action: self._change(api_key, scope, row, change, person,
                                                           action))

    def _change(self, api_key: str, scope: Scope, row: ProviderRow, change: Change,
                person: Person, action: Action) -> Outcome:
        done = Change()
        try:
            if change.user_body:
                self.client.update_user(api_key, self._user_id(row), change.user_body)
                done = change.only(NAMES)
                self.history.apply_change(row.id, done.new)
            if change.provider_body:
                self.client.update_provider(api_key, self._user_id(row), change.provider_body)
                self.history.apply_change(row.id, change.only(PROVIDER_FIELDS).new)
        except (ApiError, _NoUser) as exc:
            words = exc.words if isinstance(exc, _NoUser) else explain_action(exc, "change")
            if done:
                words += f" The {done.words} changed already."
                self._log(scope, person, CHANGED, f"Changed {done.words} of {row.full_name} "
                                                  f"({row.email}).")
            self.actions.finish(action.id, FAILED, error_text=words)
            return Outcome(False, words)
        summary = f"Changed {change.words} of {row.full_name} ({row.email})."
        self.actions.finish(action.id, DONE, summary=summary)
        self._log(scope, person, CHANGED, summary + self._values(change))
        return Outcome(True, f"Saved in Upheal: {change.words}.")

    @staticmethod
    def _values(change: Change) -> str:
        def shown(value: Any) -> str:
            if isinstance(value, list):
                return ", ".join(value) or "none"
            return str(value.label if isinstance(value, NoteIdentifier) else value or "none")
        return " " + "; ".join(f"{FIELD_LABELS.get(k, SHORT[k])}: {shown(change.old.get(k))} → "
                               f"{shown(v)}" for k, v in change.new.items()) + "."

    # -- deactivate and reactivate --------------------------------------------------------------
    def deactivate(self, api_key: str, scope: Scope, row_id: int, person: Person,
                   token: str) -> Outcome:
        return self._hold(scope, row_id, "deactivate", person, token,
                          lambda row, action: self._switch(api_key, scope, row, person, action,
                                                           active=False))

    def reactivate(self, api_key: str, scope: Scope, row_id: int, person: Person,
                   token: str) -> Outcome:
        return self._hold(scope, row_id, "reactivate", person, token,
                          lambda row, action: self._switch(api_key, scope, row, person, action,
                                                           active=True))

    def _switch(self, api_key: str, scope: Scope, row: ProviderRow, person: Person,
                action: Action, *, active: bool) -> Outcome:
        """The provider's Upheal user deactivated (active=False) or reactivated (True)."""
        name = row.full_name
        if row.active == active:
            self.actions.finish(action.id, DONE, summary="Already active." if active else
                                "Already deactivated.")
            return Outcome(True, f"{name} is active already." if active else
                           f"{name} was already deactivated.")
        call = self.client.activate if active else self.client.deactivate
        try:
            call(api_key, self._user_id(row))
        except (ApiError, _NoUser) as exc:
            words = exc.words if isinstance(exc, _NoUser) else \
                explain_action(exc, "reactivate" if active else "deactivate")
            self.actions.finish(action.id, FAILED, error_text=words)
            return Outcome(False, words)
        if active:
            self.history.mark_reactivated(row.id)
        else:
            self.history.mark_deactivated(row.id, person.label)
        summary = f"{'Reactivated' if active else 'Deactivated'} {name} ({row.email})."
        self.actions.finish(action.id, DONE, summary=summary)
        self._log(scope, person, REACTIVATED if active else DEACTIVATED, summary)
        return Outcome(True, f"{name} is active in Upheal again." if active else
                       f"{name} is deactivated in Upheal. Their invite and room links no "
                       "longer work; Reactivate undoes it.")

    # -- a mistyped email ------------------------------------------------------------------------
    def replace_email(self, api_key: str, scope: Scope, row_id: int, new_email: str,
                      person: Person, token: str) -> Outcome:
        """Deactivate the user with the wrong email, then create the right one with the same
        details (in that order: never two active users for one person). A create that fails
        leaves the wrong one deactivated; pressing again creates (it is not deactivated
        twice)."""
        row = self.history.get(scope, row_id)
        wanted, errors = validate_provider({**request_of(row).model_dump(), "email": new_email,
                                            "note_identifier": row.note_identifier})
        if wanted is None:
            return Outcome(False, next(iter(errors.values()), "Check the email address."))
        if wanted.email.lower() == row.email.lower():
            return Outcome(False, "That is the address the provider has already.")
        return self._hold(scope, row_id, "replace", person, token,
                          lambda row, action: self._replace(api_key, scope, row, wanted,
                                                            person, action, token))

    def _replace(self, api_key: str, scope: Scope, row: ProviderRow, wanted: ProviderRequest,
                 person: Person, action: Action, token: str) -> Outcome:
        if row.active and row.status in (CREATED, LINKS_LOST):
            try:
                self.client.deactivate(api_key, self._user_id(row))
            except NotFoundError:
                pass  # removed in Upheal already: nothing active to leave behind
            except (ApiError, _NoUser) as exc:
                words = exc.words if isinstance(exc, _NoUser) else \
                    explain_action(exc, "deactivate")
                words = f"Nothing was changed: the wrong address could not be deactivated. {words}"
                self.actions.finish(action.id, FAILED, error_text=words)
                return Outcome(False, words)
            self.history.mark_deactivated(row.id, person.label)
            self._log(scope, person, DEACTIVATED, f"Deactivated {row.full_name} ({row.email}): "
                                                  f"the email was wrong, {wanted.email} is "
                                                  "right.")
        outcome = self.creator.create(api_key, scope, wanted, created_by=person.label,
                                      token=f"replace-{action.id}", source="replace",
                                      check_first=True, refuse_duplicate=True,
                                      practice_id=row.practice_id)
        if outcome.status != CREATED or outcome.row_id is None:
            words = (f"{row.email} is deactivated, but the provider with {wanted.email} was not "
                     f"created: {outcome.message or outcome.status}. Press “Replace with the "
                     "right email” again to create them.")
            self.actions.finish(action.id, FAILED, error_text=words)
            return Outcome(False, words)
        self.history.link_replacement(row.id, outcome.row_id)
        summary = f"Replaced {row.email} with {wanted.email} for {row.full_name}."
        self.actions.finish(action.id, DONE, summary=summary)
        self._log(scope, person, CHANGED, summary)
        return Outcome(True, f"{wanted.email} was created in Upheal with {row.full_name}'s "
                             f"details, and {row.email} deactivated. The new invite link is "
                             "in History.", provider_id=outcome.row_id)

    # -- one action at a time ------------------------------------------------------------------
    def _hold(self, scope: Scope, row_id: int, kind: str, person: Person, token: str,
              work: Callable[[ProviderRow, Action], Outcome]) -> Outcome:
        begun = self.actions.begin(scope, row_id, kind, token=token, owner=self.owner,
                                   by=person.label)
        if begun.state == BUSY:
            who = begun.action.created_by or "A colleague"
            return Outcome(False, f"{who} is changing this provider right now. Look again in "
                                  "a moment.", busy=True)
        if begun.state == REPEATED:
            return self._result_of(begun.action)
        try:
            row = self.history.get(scope, row_id)
            return work(row, begun.action)
        except BaseException:
            self.actions.finish(begun.action.id, FAILED,
                                error_text="Stopped before it finished: try again.")
            raise

    def _result_of(self, action: Action) -> Outcome:
        """A double click: the first click's result, once it has one."""
        deadline = time.monotonic() + self.wait_for_earlier
        while action.state == ACTION_RUNNING and time.monotonic() < deadline:
            self.sleep(0.2)
            action = self.actions.get(action.id)
        if action.state == ACTION_RUNNING:
            return Outcome(False, "This is still being done in Upheal: look again in a moment.",
                           running=True)
        if action.state == DONE:
            return Outcome(True, action.summary or "Done.")
        return Outcome(False, action.error_text or "It did not go through: try again.")

    @staticmethod
    def _user_id(row: ProviderRow) -> str:
        if not row.user_id:
            raise _NoUser("Upheal has not confirmed this provider yet, so there is nothing to "
                          "change there: use “Check with Upheal” first.")
        return row.user_id

    def _log(self, scope: Scope, person: Person, action: str, summary: str) -> None:
        try:
            self.activity.record(scope, person, action, summary)
        except Exception:  # the work is done and kept; only its log entry is missing
            import logging

            logging.getLogger(__name__).exception("an activity entry could not be written")


class _NoUser(Exception):
    def __init__(self, words: str) -> None:
        super().__init__(words)
        self.words = words


__all__ = ["CANNOT_CHANGE", "Change", "Outcome", "ProviderChanger", "change_between",
           "request_of", "wanted_change"]
