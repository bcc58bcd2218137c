"""The language names the pickers and the Language column use: read from babel, kept in
partner_console/language_names.json so that a replica does not spend a second reading babel's
data for every language on its first Create provider page."""

from __future__ import annotations

import json

import babel
import pytest

from partner_console import choices


@pytest.fixture
def fresh_caches():
    def clear():
        for cached in (choices._stored, choices.picker_locales, choices._languages_by_name):
            cached.cache_clear()

    clear()
    yield
    clear()


def test_the_stored_names_are_what_the_installed_babel_gives():
    stored = json.loads(choices.LANGUAGE_NAMES.read_text(encoding="utf-8"))
    fresh = choices.language_names()
    assert stored["babel"] == babel.__version__, \
        "babel changed: run `python -m partner_console.choices` and commit the file"
    assert list(stored["picker"].items()) == list(fresh["picker"].items())  # order: en-US first
    assert stored["by_name"] == fresh["by_name"]


@pytest.mark.parametrize("content", ['{"babel": "0.0.1", "picker": {"xx": "Made up"}, '
                                     '"by_name": {"made up": "xx"}}', "not json", None])
def test_another_babel_or_a_broken_or_missing_file_reads_babel_itself(
        fresh_caches, monkeypatch, tmp_path, content):
    path = tmp_path / "language_names.json"
    if content is not None:
        path.write_text(content, encoding="utf-8")
    monkeypatch.setattr(choices, "LANGUAGE_NAMES", path)
    picker = choices.picker_locales()
    assert "xx" not in picker and next(iter(picker)) == "en-US"
    assert picker["es-MX"] == "Spanish (Mexico) · español (México)"
    assert choices.language_by_name("made up") is None
    assert choices.language_by_name("Deutsch") == "de"
    assert choices.language_by_name("español (México)") == "es-MX"


def test_the_stored_file_is_what_the_pickers_use(fresh_caches, monkeypatch, tmp_path):
    path = tmp_path / "language_names.json"
    path.write_text(json.dumps({"babel": babel.__version__, "picker": {"en-US": "Stored"},
                                "by_name": {"stored": "en"}}), encoding="utf-8")
    monkeypatch.setattr(choices, "LANGUAGE_NAMES", path)
    assert choices.picker_locales() == {"en-US": "Stored"}
    assert choices.language_by_name("Stored") == "en"
