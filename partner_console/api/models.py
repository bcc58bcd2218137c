"""Request and response models of the Upheal Partner API (camelCase on the wire).

Requests are strict and validate the way the API does, with messages a non-technical person
understands; responses tolerate fields we do not know yet.
"""

from __future__ import annotations

import difflib
import re
from enum import StrEnum
from typing import Any

import phonenumbers
from babel import Locale, UnknownLocaleError
from pydantic import (
    BaseModel,
    ConfigDict,
    EmailStr,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel
from stdnum import luhn

from partner_console.choices import language_by_name

# Assumption (api-contract.md): template ids are UUIDs, as in every example we have.
TEMPLATE_ID_PATTERN = re.compile(
    r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
)
# The NPI check digit is the Luhn digit over this prefix plus the first nine digits.
NPI_LUHN_PREFIX = "80840"
MAX_TEXT_LENGTH = 200


class NoteIdentifier(StrEnum):
    """How the provider is referred to in AI-generated notes."""

    THERAPIST = "Therapist"
    CLINICIAN = "Clinician"
    COACH = "Coach"
    FIRST_NAME = "FirstName"
    DR_LAST_NAME = "DrLastName"
    PROVIDER = "Provider"
    PHYSICIAN = "Physician"
    PRACTITIONER = "Practitioner"
    AUTHOR = "Author"
    WRITER = "Writer"
    COUNSELOR = "Counselor"
    PSYCHOLOGIST = "Psychologist"
    PEER_SUPPORT_SPECIALIST = "PeerSupportSpecialist"
    CASE_MANAGER = "CaseManager"
    SUPERVISOR = "Supervisor"
    DIETITIAN = "Dietitian"

    @property
    def label(self) -> str:
        return NOTE_IDENTIFIER_LABELS[self]

    def preview(self, first_name: str, last_name: str) -> str:
        """What the notes call the provider, e.g. 'Dr. Smith' or 'the therapist'."""
        if self is NoteIdentifier.FIRST_NAME:
            return first_name.strip() or "(their first name)"
        if self is NoteIdentifier.DR_LAST_NAME:
            return f"Dr. {last_name.strip() or '(last name)'}"
        return f"the {self.label.lower()}"


NOTE_IDENTIFIER_LABELS: dict[NoteIdentifier, str] = {
    NoteIdentifier.THERAPIST: "Therapist",
    NoteIdentifier.CLINICIAN: "Clinician",
    NoteIdentifier.COACH: "Coach",
    NoteIdentifier.FIRST_NAME: "First name (e.g. “Jane”)",
    NoteIdentifier.DR_LAST_NAME: "Dr. + last name (e.g. “Dr. Smith”)",
    NoteIdentifier.PROVIDER: "Provider",
    NoteIdentifier.PHYSICIAN: "Physician",
    NoteIdentifier.PRACTITIONER: "Practitioner",
    NoteIdentifier.AUTHOR: "Author",
    NoteIdentifier.WRITER: "Writer",
    NoteIdentifier.COUNSELOR: "Counselor",
    NoteIdentifier.PSYCHOLOGIST: "Psychologist",
    NoteIdentifier.PEER_SUPPORT_SPECIALIST: "Peer support specialist",
    NoteIdentifier.CASE_MANAGER: "Case manager",
    NoteIdentifier.SUPERVISOR: "Supervisor",
    NoteIdentifier.DIETITIAN: "Dietitian",
}

_EMAIL = TypeAdapter(EmailStr)


def is_valid_npi(npi: str) -> bool:
    return len(npi) == 10 and npi.isdigit() and luhn.is_valid(NPI_LUHN_PREFIX + npi)


def normalise_locale(tag: str) -> str:
    """'en_us' -> 'en-US', 'Spanish' -> 'es', 'español (México)' -> 'es-MX'; raises
    ValueError for a tag or name babel does not know."""
    try:
        locale = Locale.parse(tag.strip().replace("-", "_"))
    except (ValueError, UnknownLocaleError):
        by_name = language_by_name(tag)  # (the names are gathered once, in about a second)
        if by_name:
            return by_name
        shown = tag.strip() if len(tag.strip()) <= 40 else tag.strip()[:40] + "…"
        raise ValueError(
            f"“{shown}” is not a language we know. Write it by name, e.g. Spanish, "
            "English (United States) or español, or pick one from the list."
        ) from None
    return "-".join(part for part in (locale.language, locale.script, locale.territory) if part)


def split_phone(number: str, country_code: str | None) -> tuple[str, str]:
    """Validate a phone number and split it into (national digits, '+<calling code>').

    Accepts '+1 (415) 555-2671' alone, or '(415) 555-2671' with country code '+1' or '1'.
    """
    raw = number.strip()
    if raw.startswith("00"):  # the international dialling prefix most of the world uses
        raw = "+" + raw[2:]
    code = (country_code or "").strip().lstrip("+")
    if code and not code.isdigit():
        raise ValueError("The country code should be digits, like +1 or +44.")
    region = None
    if not raw.startswith("+"):
        if not code:
            raise ValueError(
                "Choose the phone number's country, or type it with its country code, "
                "like +1 415 555 2671."
            )
        region = phonenumbers.region_code_for_country_code(int(code))
        if region == "ZZ":
            raise ValueError(f"+{code} is not a country calling code we know.")
    try:
        parsed = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException:
        raise ValueError(
            "This does not look like a phone number. Type it as you would dial it, "
            "like +1 415 555 2671."
        ) from None
    if code and raw.startswith("+") and str(parsed.country_code) != code:
        raise ValueError(
            f"The number starts with +{parsed.country_code} but the country chosen is +{code}."
        )
    if not phonenumbers.is_valid_number(parsed):
        raise ValueError(
            "This phone number is not valid for its country. Check the digits and the country."
        )
    return str(parsed.national_number), f"+{parsed.country_code}"


def _text(value: str | None, what: str) -> str | None:
    if value is None:
        return None
    value = " ".join(value.split())
    if len(value) > MAX_TEXT_LENGTH:
        raise ValueError(f"{what} is too long: keep it under {MAX_TEXT_LENGTH} characters.")
    return value or None


def formula_message(text: str) -> str:
    """Why a value that starts with "=" is refused: it is a spreadsheet formula."""
    shown = text if len(text) <= 40 else text[:40] + "…"
    return (f"“{shown}” is a spreadsheet formula, not a value (it starts with “=”). Type the "
            "value itself.")


def template_ids_from(chosen: list[str], typed: str) -> list[str]:
    """Templates picked from the catalog plus ids typed in, separated by commas or semicolons
    (checked later with the rest of the request)."""
    ids = list(chosen)
    for item in typed.replace(";", ",").split(","):
        if item.strip() and item.strip() not in ids:
            ids.append(item.strip())
    return ids


class ProviderRequest(BaseModel):
    """Create provider user v2: the body we send, checked the way Upheal checks it."""

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True
    )

    first_name: str
    last_name: str
    email: str
    partner_user_id: str | None = None
    phone_number: str | None = None
    phone_country_code: str | None = None
    locale: str | None = None
    default_note_template_ids: list[str] | None = None
    national_provider_identifier: str | None = None
    therapy_licence: str | None = None
    note_identifier: NoteIdentifier | None = None

    @field_validator("first_name", "last_name", mode="before")
    @classmethod
    def _name(cls, value: Any) -> str:
        text = _text(value if isinstance(value, str) else None, "The name")
        if not text:
            raise ValueError("This is required: type the provider's name.")
        if text.startswith("="):
            raise ValueError(formula_message(text))
        return text

    @field_validator("email", mode="before")
    @classmethod
    def _email(cls, value: Any) -> str:
        text = value.strip() if isinstance(value, str) else ""
        if not text:
            raise ValueError("This is required: type the provider's email address.")
        try:
            return str(_EMAIL.validate_python(text))
        except ValidationError:
            raise ValueError(
                f"“{text[:80]}” is not a complete email address. It should look like "
                "jane.smith@example.com."
            ) from None

    @field_validator("partner_user_id", "therapy_licence", mode="before")
    @classmethod
    def _optional_text(cls, value: Any) -> str | None:
        return _text(value if isinstance(value, str) else None, "This value")

    @field_validator("locale", mode="before")
    @classmethod
    def _locale(cls, value: Any) -> str | None:
        if not isinstance(value, str) or not value.strip():
            return None
        return normalise_locale(value)

    @field_validator("national_provider_identifier", mode="before")
    @classmethod
    def _npi(cls, value: Any) -> str | None:
        if value is None:
            return None
        npi = re.sub(r"[\s-]", "", str(value))
        if npi.endswith(".0"):  # spreadsheets turn 1234567893 into 1234567893.0
            npi = npi[:-2]
        if not npi:
            return None
        if len(npi) != 10 or not npi.isdigit():
            raise ValueError("An NPI is exactly 10 digits, like 1234567893.")
        if not is_valid_npi(npi):
            raise ValueError(
                "This NPI's last digit does not match the others: check for a typing mistake."
            )
        return npi

    @field_validator("default_note_template_ids", mode="before")
    @classmethod
    def _templates(cls, value: Any) -> list[str] | None:
        if value is None:
            return None
        if isinstance(value, str):
            value = re.split(r"[,;\s]+", value)
        ids: list[str] = []
        for item in value:
            item = str(item).strip()
            if not item:
                continue
            if not TEMPLATE_ID_PATTERN.match(item):
                raise ValueError(
                    f"“{item[:60]}” is not a note template id. Ids look like "
                    "2fb81b0a-611b-11ed-9b6a-0242ac120002."
                )
            if item.lower() not in (known.lower() for known in ids):
                ids.append(item.lower())
        return ids or None

    @field_validator("note_identifier", mode="before")
    @classmethod
    def _note_identifier(cls, value: Any) -> NoteIdentifier | None:
        if value is None or (isinstance(value, str) and not value.strip()):
            return None
        if isinstance(value, NoteIdentifier):
            return value
        wanted = re.sub(r"[^a-z]", "", str(value).lower())
        for item in NoteIdentifier:
            if wanted in (item.value.lower(), re.sub(r"[^a-z]", "", item.label.lower())):
                return item
        raise ValueError(
            f"“{str(value)[:40]}” is not one of the ways notes can name a provider. "
            "Choose one from the list, e.g. Therapist or Dr. + last name."
        )

    @field_validator("phone_number", "phone_country_code", mode="before")
    @classmethod
    def _blank_to_none(cls, value: Any) -> str | None:
        if value is None:
            return None
        text = str(value).strip()
        if text.endswith(".0") and text[:-2].isdigit():
            text = text[:-2]
        return text or None

    @model_validator(mode="after")
    def _phone(self) -> ProviderRequest:
        if self.phone_number is None:
            if self.phone_country_code is not None:
                object.__setattr__(self, "phone_country_code", None)
            return self
        try:
            national, code = split_phone(self.phone_number, self.phone_country_code)
        except ValueError as exc:
            raise PhoneError(str(exc)) from None
        object.__setattr__(self, "phone_number", national)
        object.__setattr__(self, "phone_country_code", code)
        return self

    def to_json(self) -> dict[str, Any]:
        """The request body: camelCase, empty optional fields left out."""
        return self.model_dump(by_alias=True, exclude_none=True, mode="json")


# After the create (api-contract.md): what each endpoint can change, by field name. Names go
# through update-user, these four through update-provider v2; email, phone, language and the
# partner's own id through none.
USER_UPDATE_FIELDS = frozenset({"firstName", "lastName"})
PROVIDER_UPDATE_FIELDS = frozenset({"defaultNoteTemplateIds", "nationalProviderIdentifier",
                                    "therapyLicence", "noteIdentifier"})
FIXED_FIELDS = ("email", "phone_number", "phone_country_code", "locale", "partner_user_id")


class PhoneError(ValueError):
    """Raised inside the model validator so the message can be placed on the phone field."""


FIELD_LABELS: dict[str, str] = {
    "first_name": "First name",
    "last_name": "Last name",
    "email": "Email",
    "partner_user_id": "Your own ID",
    "phone_number": "Phone number",
    "phone_country_code": "Phone country",
    "locale": "Language",
    "default_note_template_ids": "Note templates",
    "national_provider_identifier": "NPI",
    "therapy_licence": "Therapy licence",
    "note_identifier": "Called in notes",
}
_ALIAS_TO_FIELD = {to_camel(name): name for name in FIELD_LABELS}


def field_for(name: str) -> str | None:
    """Our field name for a Python or camelCase name, e.g. 'phoneNumber' -> 'phone_number'."""
    if name in FIELD_LABELS:
        return name
    return _ALIAS_TO_FIELD.get(name)


def validate_provider(values: dict[str, Any]) -> tuple[ProviderRequest | None, dict[str, str]]:
    """Check form or spreadsheet values; (request, {}) when valid, else (None, {field: message})."""
    try:
        return ProviderRequest.model_validate(values), {}
    except ValidationError as exc:
        return None, plain_errors(exc)


def plain_errors(exc: ValidationError) -> dict[str, str]:
    messages: dict[str, str] = {}
    for error in exc.errors():
        location = error["loc"][0] if error["loc"] else "phone_number"
        name = field_for(str(location)) or str(location)
        if error["type"] == "missing":
            message = "This is required."
        elif error["type"] == "extra_forbidden":
            message = "This is not a field Upheal knows."
        elif error["type"] == "value_error":
            message = str(error["ctx"]["error"]) if "ctx" in error else error["msg"]
        else:
            message = "This value is not valid here."
        messages.setdefault(name, message)
    return messages


# ---- responses: tolerant of fields added later ------------------------------------------------

def _web_link(value: Any) -> str:
    """A link as Upheal gave it, if it is a web (http or https) address. Spaces, quotes and
    accents are kept: links are stored as given and rendered as inert text or escaped."""
    text = str(value).strip() if value is not None else ""
    if not re.match(r"^https?://[^\s/?#]+", text, re.IGNORECASE) or not text.isprintable():
        raise ValueError("is not a web link")
    return text


def _room_link(value: Any) -> str | None:
    """The room link is kept when it is a web address and dropped (None) otherwise: an odd
    room link must never cost the invite link that came with it."""
    try:
        return _web_link(value)
    except ValueError:
        return None


class _Response(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="allow")


class CreatedProvider(_Response):
    user_id: str
    invite_url: str
    private_room_link: str | None = None
    partner_user_id: str | None = None
    default_note_template_ids: list[str] | None = None
    organization_id: str | None = None
    note_identifier: str | None = None

    @field_validator("invite_url", mode="before")
    @classmethod
    def _link(cls, value: Any) -> str:
        return _web_link(value)

    @field_validator("private_room_link", mode="before")
    @classmethod
    def _room(cls, value: Any) -> str | None:
        return _room_link(value)


class UserCheck(_Response):
    is_user_exists: bool
    user_id: str | None = None
    email: str | None = None
    is_active: bool | None = None


class ProviderDetails(_Response):
    user_id: str
    first_name: str | None = None
    last_name: str | None = None
    email: str | None = None
    default_note_template_ids: list[str] | None = None
    national_provider_identifier: str | None = None
    therapy_licence: str | None = None
    partner_user_id: str | None = None
    phone_number: str | None = None
    phone_country_code: str | None = None
    organization_id: str | None = None
    note_identifier: str | None = None


class UserDetails(_Response):
    """v1 get user by id: the one call besides create that answers with the links."""

    user_id: str | None = None
    email: str | None = None
    user_type: str | None = None
    invite_url: str | None = None
    private_room_link: str | None = None
    organization_id: str | None = None

    @field_validator("invite_url", mode="before")
    @classmethod
    def _invite(cls, value: Any) -> str | None:
        return _room_link(value)  # an unusable invite link counts as none given

    @field_validator("private_room_link", mode="before")
    @classmethod
    def _room(cls, value: Any) -> str | None:
        return _room_link(value)


# Common mail domains people mistype; a suggestion, never a refusal.
COMMON_MAIL_DOMAINS = ("gmail.com", "yahoo.com", "hotmail.com", "outlook.com", "icloud.com",
                       "aol.com", "live.com", "msn.com", "comcast.net", "protonmail.com",
                       "me.com", "mail.com")
_TLD_TYPOS = {"con": "com", "cmo": "com", "ocm": "com", "comm": "com", "vom": "com",
              "xom": "com", "nte": "net", "ner": "net", "og": "org", "orgg": "org"}


def email_suggestion(email: str) -> str | None:
    """'jane@gmial.com' -> 'jane@gmail.com'; None when nothing looks mistyped."""
    local, at, domain = email.strip().rpartition("@")
    if not at or not local or "." not in domain:
        return None
    domain = domain.lower()
    name, _, tld = domain.rpartition(".")
    if tld in _TLD_TYPOS:
        domain = f"{name}.{_TLD_TYPOS[tld]}"
    if domain not in COMMON_MAIL_DOMAINS:
        close = difflib.get_close_matches(domain, COMMON_MAIL_DOMAINS, n=1, cutoff=0.85)
        if close:
            domain = close[0]
    suggestion = f"{local}@{domain}"
    return suggestion if suggestion.lower() != email.strip().lower() else None
