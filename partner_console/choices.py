"""Option lists for pickers: countries with calling codes, languages with their names."""

from __future__ import annotations

from functools import cache

import phonenumbers
from babel import Locale, localedata

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
