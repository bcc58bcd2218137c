from __future__ import annotations

import pytest

from partner_console.api.models import (
    NOTE_IDENTIFIER_LABELS,
    CreatedProvider,
    NoteIdentifier,
    UserCheck,
    validate_provider,
)

MINIMAL = {"first_name": "Jane", "last_name": "Smith", "email": "jane.smith@example.com"}
FULL = {
    **MINIMAL,
    "partner_user_id": "emp-0042",
    "phone_number": "+1 (415) 555-2671",
    "locale": "en_US",
    "default_note_template_ids": ["2FB81B0A-611B-11ED-9B6A-0242AC120002"],
    "national_provider_identifier": "1234567893",
    "therapy_licence": "LCSW",
    "note_identifier": "DrLastName",
}


def errors_for(**values: object) -> dict[str, str]:
    request, errors = validate_provider({**MINIMAL, **values})
    assert (request is None) == bool(errors)
    return errors


def test_minimal_request_json_has_only_the_required_fields():
    request, errors = validate_provider(MINIMAL)
    assert errors == {}
    assert request.to_json() == {
        "firstName": "Jane", "lastName": "Smith", "email": "jane.smith@example.com"
    }


def test_full_request_json_matches_the_contract_field_by_field():
    request, errors = validate_provider(FULL)
    assert errors == {}
    assert request.to_json() == {
        "firstName": "Jane",
        "lastName": "Smith",
        "email": "jane.smith@example.com",
        "partnerUserId": "emp-0042",
        "phoneNumber": "4155552671",
        "phoneCountryCode": "+1",
        "locale": "en-US",
        "defaultNoteTemplateIds": ["2fb81b0a-611b-11ed-9b6a-0242ac120002"],
        "nationalProviderIdentifier": "1234567893",
        "therapyLicence": "LCSW",
        "noteIdentifier": "DrLastName",
    }


def test_empty_optional_fields_are_left_out_not_sent_empty():
    request, _ = validate_provider({**MINIMAL, "partner_user_id": "  ", "locale": "",
                                    "therapy_licence": "", "phone_number": "",
                                    "phone_country_code": "+1", "note_identifier": "",
                                    "default_note_template_ids": [],
                                    "national_provider_identifier": ""})
    assert request.to_json() == {"firstName": "Jane", "lastName": "Smith",
                                 "email": "jane.smith@example.com"}


@pytest.mark.parametrize("field", ["first_name", "last_name", "email"])
@pytest.mark.parametrize("value", ["", "   ", None])
def test_required_fields_must_not_be_empty(field, value):
    assert "required" in errors_for(**{field: value})[field]


def test_names_are_trimmed_and_inner_spaces_folded():
    request, _ = validate_provider({**MINIMAL, "first_name": "  Mary   Ann "})
    assert request.first_name == "Mary Ann"


@pytest.mark.parametrize("email", ["jane@example.com", "J.Smith+onboard@clinic.co.uk"])
def test_good_emails_pass(email):
    assert errors_for(email=email) == {}


@pytest.mark.parametrize("email", ["jane", "jane@", "@example.com", "jane smith@example.com",
                                   "jane@@example.com"])
def test_bad_emails_get_a_sentence(email):
    message = errors_for(email=email)["email"]
    assert "email address" in message and "example.com" in message


@pytest.mark.parametrize("npi", ["1234567893", "1245319599", "1003000126", "124-531-9599"])
def test_real_npis_with_a_valid_check_digit_pass(npi):
    assert errors_for(national_provider_identifier=npi) == {}


def test_npi_from_excel_with_trailing_point_zero_is_read_back():
    request, _ = validate_provider({**MINIMAL, "national_provider_identifier": "1234567893.0"})
    assert request.national_provider_identifier == "1234567893"


@pytest.mark.parametrize("npi", ["1234567890", "1245319598", "1003000127"])
def test_npi_with_a_wrong_check_digit_is_refused(npi):
    assert "last digit" in errors_for(national_provider_identifier=npi)["national_provider_identifier"]


@pytest.mark.parametrize("npi", ["123456789", "12345678931", "12345678X3"])
def test_npi_must_be_ten_digits(npi):
    assert "10 digits" in errors_for(national_provider_identifier=npi)["national_provider_identifier"]


@pytest.mark.parametrize(
    ("number", "code", "national", "calling"),
    [
        ("+1 (415) 555-2671", None, "4155552671", "+1"),
        ("(415) 555-2671", "+1", "4155552671", "+1"),
        ("415.555.2671", "1", "4155552671", "+1"),
        ("020 7946 0958", "+44", "2079460958", "+44"),
        ("+44 20 7946 0958", "+44", "2079460958", "+44"),
        ("0044 20 7946 0958", None, "2079460958", "+44"),
    ],
)
def test_phone_numbers_are_split_into_national_digits_and_calling_code(number, code, national,
                                                                         calling):
    request, errors = validate_provider({**MINIMAL, "phone_number": number,
                                         "phone_country_code": code})
    assert errors == {}
    assert (request.phone_number, request.phone_country_code) == (national, calling)


@pytest.mark.parametrize(
    ("number", "code", "words"),
    [
        ("555-2671", None, "country"),
        ("not a phone", "+1", "phone number"),
        ("+1 415 555", None, "not valid"),
        ("+44 20 7946 0958", "+1", "starts with +44"),
        ("415 555 2671", "+999", "not a country calling code"),
    ],
)
def test_bad_phone_numbers_get_a_sentence_on_the_phone_field(number, code, words):
    errors = errors_for(phone_number=number, phone_country_code=code)
    assert words in errors["phone_number"]


@pytest.mark.parametrize(("tag", "normal"), [("en-US", "en-US"), ("en_us", "en-US"),
                                              ("fr", "fr"), ("pt-BR", "pt-BR"),
                                              ("zh-Hant-TW", "zh-Hant-TW")])
def test_known_locales_are_normalised(tag, normal):
    request, errors = validate_provider({**MINIMAL, "locale": tag})
    assert errors == {} and request.locale == normal


@pytest.mark.parametrize(("name", "tag"), [
    ("Spanish", "es"), ("spanish", "es"), ("  Spanish  (Mexico) ", "es-MX"), ("español", "es"),
    ("Espanol (Mexico)", "es-MX"), ("English", "en"), ("english", "en"),
    ("English (United States)", "en-US"), ("français (Canada)", "fr-CA"), ("Deutsch", "de"),
    ("Português (Brasil)", "pt-BR"), ("Chinese", "zh")])
def test_languages_are_accepted_by_their_english_and_their_own_names(name, tag):
    request, errors = validate_provider({**MINIMAL, "locale": name})
    assert errors == {} and request.locale == tag


@pytest.mark.parametrize("tag", ["xx-YY", "Klingon", "12", "Spanglish (Mars)"])
def test_unknown_locales_are_refused(tag):
    message = errors_for(locale=tag)["locale"]
    assert "not a language we know" in message and "by name" in message


def test_a_formula_for_a_name_says_so():
    for field in ("first_name", "last_name"):
        message = errors_for(**{field: '=HYPERLINK("https://evil.example","Click")'})[field]
        assert "spreadsheet formula" in message and "required" not in message


def test_template_ids_accept_uuid_lists_and_strings_and_drop_repeats():
    request, _ = validate_provider({**MINIMAL, "default_note_template_ids":
                                    "2fb81b0a-611b-11ed-9b6a-0242ac120002; "
                                    "2FB81B0A-611B-11ED-9B6A-0242AC120002,"
                                    "d290f1ee-6c54-4b01-90e6-d701748f0852"})
    assert request.default_note_template_ids == ["2fb81b0a-611b-11ed-9b6a-0242ac120002",
                                                 "d290f1ee-6c54-4b01-90e6-d701748f0852"]


@pytest.mark.parametrize("bad", ["progress-note", "2fb81b0a-611b-11ed-9b6a", "{uuid}"])
def test_malformed_template_ids_are_refused(bad):
    assert "not a note template id" in errors_for(default_note_template_ids=[bad])[
        "default_note_template_ids"]


def test_there_are_sixteen_note_identifiers_each_with_a_label():
    assert len(NoteIdentifier) == 16
    assert set(NOTE_IDENTIFIER_LABELS) == set(NoteIdentifier)


@pytest.mark.parametrize("value", ["DrLastName", "drlastname", "Dr. + last name (e.g. “Dr. Smith”)"])
def test_note_identifier_accepts_its_value_or_label(value):
    request, _ = validate_provider({**MINIMAL, "note_identifier": value})
    assert request.note_identifier is NoteIdentifier.DR_LAST_NAME


def test_unknown_note_identifier_is_refused():
    assert "Choose one" in errors_for(note_identifier="Wizard")["note_identifier"]


@pytest.mark.parametrize(("identifier", "preview"), [
    (NoteIdentifier.DR_LAST_NAME, "Dr. Smith"),
    (NoteIdentifier.FIRST_NAME, "Jane"),
    (NoteIdentifier.THERAPIST, "the therapist"),
    (NoteIdentifier.PEER_SUPPORT_SPECIALIST, "the peer support specialist"),
])
def test_note_identifier_preview_uses_the_names(identifier, preview):
    assert identifier.preview("Jane", "Smith") == preview


def test_unknown_request_fields_are_refused():
    request, errors = validate_provider({**MINIMAL, "nickname": "JJ"})
    assert request is None and "nickname" in errors


def test_overlong_text_is_refused():
    assert "too long" in errors_for(first_name="A" * 10_000)["first_name"]


def test_created_provider_tolerates_new_fields_and_requires_web_links():
    data = {"userId": "u1", "inviteUrl": "https://app.upheal.io/invite/x",
            "privateRoomLink": "https://upheal.io/jane-smith-1", "somethingNew": 1}
    assert CreatedProvider.model_validate(data).invite_url.endswith("/invite/x")
    for bad in ("javascript:alert(1)", "ftp://x/y", "", "https:// x", "https://x/a\nb"):
        with pytest.raises(ValueError):
            CreatedProvider.model_validate({**data, "inviteUrl": bad})
    # Any web link is stored as Upheal gave it (pages render it as inert text).
    odd = "https://x/\"><script>"
    assert CreatedProvider.model_validate({**data, "inviteUrl": odd}).invite_url == odd


def test_user_check_reads_camel_case():
    check = UserCheck.model_validate({"isUserExists": True, "userId": "u", "isActive": False})
    assert check.is_user_exists and check.user_id == "u" and check.is_active is False


@pytest.mark.parametrize(("typed", "meant"), [
    ("jane@gmial.com", "jane@gmail.com"), ("jane@yaho.com", "jane@yahoo.com"),
    ("jane@example.con", "jane@example.com"), ("Jane@Hotmial.com", "Jane@hotmail.com"),
    ("jane@gmail.con", "jane@gmail.com")])
def test_common_email_typos_get_a_suggestion(typed, meant):
    from partner_console.api.models import email_suggestion

    assert email_suggestion(typed) == meant


@pytest.mark.parametrize("typed", ["jane@gmail.com", "jane@example.com", "jane@clinic.co",
                                   "jane@upheal.io", "not-an-email", "jane@mail.gmail.com"])
def test_good_or_unknown_addresses_get_no_suggestion(typed):
    from partner_console.api.models import email_suggestion

    assert email_suggestion(typed) is None
