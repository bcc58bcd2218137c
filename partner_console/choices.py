"""Option lists for pickers: countries with calling codes, languages with their names.

The language names come from babel's data for every language, which takes about a second of
CPU to read: each replica would pay it on its first Create provider page and its first file
with a Language column. They are read once, when babel changes, into `language_names.json`
beside this file (`python -m partner_console.choices`); a test checks the file against babel.
With another babel version installed than the file's, they are read from babel again.
"""

from __future__ import annotations

import json
import sys
import unicodedata
from functools import cache
from pathlib import Path
from typing import Any

import babel
import phonenumbers
from babel import Locale, UnknownLocaleError, localedata

LANGUAGE_NAMES = Path(__file__).with_name("language_names.json")

# Shown first: the countries most partners work in.
COMMON_REGIONS = ("US", "CA", "GB", "AU", "IE", "NZ")


@cache
def country_choices() -> list[tuple[str, str]]:
    """[(calling code with plus, 'United States (+1)')], common countries first."""
    english = Locale("en")
    items = []
    for region in phonenumbers.SUPPORTED_REGIONS:
        code = phonenumbers.country_code_for_region(region)
        name = english.territories.get(region)
        if code and name:
            items.append((region, f"{name} (+{code})", f"+{code}"))
    items.sort(key=lambda i: (i[0] not in COMMON_REGIONS, COMMON_REGIONS.index(i[0])
                              if i[0] in COMMON_REGIONS else 0, i[1]))
    return [(f"{region}:{code}", label) for region, label, code in items]


def choice_for_region(region: str) -> str:
    """'US' -> 'US:+1', the country picker's value for a region."""
    return f"{region}:+{phonenumbers.country_code_for_region(region)}"


def calling_code(choice: str | None) -> str | None:
    """'US:+1' -> '+1'."""
    if not choice or ":" not in choice:
        return None
    return choice.split(":", 1)[1]


@cache
def locale_choices() -> list[tuple[str, str]]:
    """[('en-US', 'English (United States)')] for every language-and-country babel knows."""
    items = []
    for identifier in localedata.locale_identifiers():
        locale = Locale.parse(identifier)
        if not locale.territory or locale.variant:
            continue
        tag = "-".join(p for p in (locale.language, locale.script, locale.territory) if p)
        items.append((tag, locale.get_display_name("en") or tag))
    items.sort(key=lambda i: (i[0] != "en-US", i[1]))
    return items


def _plain(name: str) -> str:
    """A language name as compared: case, accents and spacing ignored ("Español" = "espanol")."""
    decomposed = unicodedata.normalize("NFKD", name)
    return " ".join("".join(c for c in decomposed if not unicodedata.combining(c))
                    .casefold().split())


def _tag(locale: Locale) -> str:
    return "-".join(p for p in (locale.language, locale.script, locale.territory) if p)


@cache
def _stored() -> dict[str, Any] | None:
    """language_names.json when it was made from the installed babel, else None."""
    try:
        stored = json.loads(LANGUAGE_NAMES.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return stored if isinstance(stored, dict) and stored.get("babel") == babel.__version__ \
        else None


def language_names() -> dict[str, Any]:
    """What language_names.json holds, read from babel."""
    return {"babel": babel.__version__, "picker": _picker_from_babel(),
            "by_name": _by_name_from_babel()}


@cache
def _languages_by_name() -> dict[str, str]:
    stored = _stored()
    return dict(stored["by_name"]) if stored else _by_name_from_babel()


def _by_name_from_babel() -> dict[str, str]:
    """Every name a person may type for a language babel knows, in English and in the language
    itself, with and without its country: 'spanish', 'spanish (mexico)', 'espanol (mexico)',
    'deutsch' -> the tag ('es', 'es-MX', 'de'). English names win a clash."""
    english = Locale("en")
    found: dict[str, str] = {}
    native: dict[str, str] = {}
    own: dict[str, Locale] = {}  # each language's own data, loaded once
    for identifier in sorted(localedata.locale_identifiers(), key=lambda i: (len(i), i)):
        locale = Locale.parse(identifier)
        if locale.variant:
            continue
        tag = _tag(locale)
        if locale.script is None and locale.territory is None:
            own[locale.language] = locale
        found.setdefault(_plain(locale.get_display_name("en") or tag), tag)
        if locale.territory is None and locale.script is None:
            found.setdefault(_plain(english.languages.get(locale.language, tag)), tag)
        speaker = own.get(locale.language)
        if speaker is not None:
            language = speaker.languages.get(locale.language)
            region = speaker.territories.get(locale.territory) if locale.territory else None
            if language and (region or not locale.territory):
                named = f"{language} ({region})" if region else language
                native.setdefault(_plain(named), tag)
    return {**native, **found}


def language_by_name(name: str) -> str | None:
    """The tag of a language written by name ('Spanish', 'español (México)'), or None."""
    return _languages_by_name().get(_plain(name))


@cache
def _own(language: str) -> Locale | None:
    try:
        return Locale.parse(language)
    except (ValueError, UnknownLocaleError):
        return None


@cache
def native_name(tag: str) -> str | None:
    """'es-MX' -> 'español (México)': the language's own name, when it differs from English."""
    try:
        locale = Locale.parse(tag.replace("-", "_"))
    except (ValueError, UnknownLocaleError):
        return None
    speaker = _own(locale.language)
    language = speaker.languages.get(locale.language) if speaker else None
    if not language:
        return None
    region = speaker.territories.get(locale.territory) if speaker and locale.territory else None
    own = f"{language} ({region})" if region else language
    return own if own != locale.get_display_name("en") else None


@cache
def picker_locales() -> dict[str, str]:
    """The Language picker's options: tag -> 'Spanish (Mexico) · español (México)', so that
    typing either name finds it."""
    stored = _stored()
    return dict(stored["picker"]) if stored else _picker_from_babel()


def _picker_from_babel() -> dict[str, str]:
    return {tag: f"{name} · {native_name(tag)}" if native_name(tag) else name
            for tag, name in locale_choices()}


if __name__ == "__main__":  # python -m partner_console.choices: language_names.json again
    LANGUAGE_NAMES.write_text(json.dumps(language_names(), ensure_ascii=False, indent=0) + "\n",
                              encoding="utf-8")
    sys.stdout.write(f"{LANGUAGE_NAMES} written from babel {babel.__version__}\n")
