"""The import file's columns: human headers, the spellings we recognise, and help text."""

from __future__ import annotations

import re
from dataclasses import dataclass

from partner_console.api.models import NOTE_IDENTIFIER_LABELS


@dataclass(frozen=True)
class ImportColumn:
    field: str  # our field name; "phone_country_code" etc.
    header: str  # what the template calls it
    aliases: tuple[str, ...]
    required: bool
    example: str
    notes: str


COLUMNS: tuple[ImportColumn, ...] = (
    ImportColumn("first_name", "First name", ("firstname", "first", "givenname", "forename",
                                              "fname", "given"), True, "Jane",
                 "Required. The provider's first name."),
    ImportColumn("last_name", "Last name", ("lastname", "last", "surname", "familyname", "lname",
                                            "family"), True, "Smith",
                 "Required. The provider's last name."),
    ImportColumn("email", "Email", ("email", "emailaddress", "mail", "e-mail", "workemail"),
                 True, "jane.smith@example.com",
                 "Required. Their sign-in address; the invite is meant for it."),
    ImportColumn("phone_number", "Phone number", ("phone", "phonenumber", "mobile", "cell",
                                                  "telephone", "tel", "mobilephone"), False,
                 "+1 415 555 2671",
                 "Optional. Any common format; with a + country code, or fill Phone country "
                 "code too."),
    ImportColumn("phone_country_code", "Phone country code", ("phonecountrycode",
                                                              "countrycode", "callingcode",
                                                              "dialcode"), False, "+1",
                 "Optional. The calling code, like +1 or +44, when the number has none."),
    ImportColumn("locale", "Language", ("locale", "language", "lang"), False,
                 "English (United States)",
                 "Optional. The language by name, in English or in the language itself "
                 "(Spanish, Spanish (Mexico), español, français (Canada)), or a tag such as "
                 "en-US."),
    ImportColumn("national_provider_identifier", "NPI", ("npi", "nationalprovideridentifier",
                                                         "npinumber"), False, "1234567893",
                 "Optional. US National Provider Identifier: exactly 10 digits."),
    ImportColumn("therapy_licence", "Therapy licence", ("therapylicence", "therapylicense",
                                                        "licence", "license", "licensetype",
                                                        "licencetype", "credentials"), False,
                 "LCSW", "Optional. Licence type or number."),
    ImportColumn("note_identifier", "Called in notes", ("noteidentifier", "nameinnotes",
                                                        "calledinnotes", "notesname",
                                                        "referredtoas"), False,
                 "Therapist",
                 "Optional. How AI notes refer to them. One of: "
                 + ", ".join(v.value for v in NOTE_IDENTIFIER_LABELS) + "."),
    ImportColumn("default_note_template_ids", "Note templates", ("notetemplates", "templates",
                                                                 "defaultnotetemplateids",
                                                                 "templateids",
                                                                 "notetemplateids"), False, "",
                 "Optional. Template names from your Note templates page, or template ids; "
                 "separate several with commas or semicolons."),
    ImportColumn("partner_user_id", "Your own ID", ("partneruserid", "yourownid", "ownid",
                                                    "yourreference", "yourid",
                                                    "reference", "employeeid", "staffid",
                                                       "externalid", "id"), False, "emp-0042",
                 "Optional. Your own id for this person; Upheal recognises them by it."),
)
HEADERS = [c.header for c in COLUMNS]
# Not in the template (most partners have one organisation): a platform's practice per row,
# by name or organisation id, mapped like the other columns when a file has it.
PRACTICE = ImportColumn("practice", "Practice", ("practice", "practicename", "clinic", "site",
                                                 "organisationid", "organizationid", "orgid"),
                        False, "", "For platforms: the practice to create the provider in, by "
                        "name or organisation id; empty: the file's practice.")
MAPPABLE = (*COLUMNS, PRACTICE)


def normalise_header(header: str) -> str:
    return re.sub(r"[^a-z0-9]", "", header.lower())


_LOOKUP = {normalise_header(alias): c.field for c in MAPPABLE
           for alias in (*c.aliases, c.header, c.field)}


def guess_field(header: str) -> str | None:
    return _LOOKUP.get(normalise_header(header))


def auto_map(headers: list[str]) -> dict[str, str | None]:
    """{file header: our field or None}; each field is taken by the first header that fits."""
    mapping: dict[str, str | None] = {}
    taken: set[str] = set()
    for header in headers:
        field = guess_field(header)
        if field in taken:
            field = None
        mapping[header] = field
        if field:
            taken.add(field)
    return mapping


def missing_required(mapping: dict[str, str | None]) -> list[str]:
    chosen = set(mapping.values())
    return [c.header for c in COLUMNS if c.required and c.field not in chosen]
