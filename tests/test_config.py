from __future__ import annotations

from pathlib import Path

import pytest

from partner_console.config import ConfigError, load_settings


def settings(tmp_path, secrets="", **env):
    path = tmp_path / "secrets.toml"
    path.write_text(secrets)
    return load_settings(env, path)


def test_defaults_use_the_sandbox_and_sqlite(tmp_path):
    s = settings(tmp_path)
    assert s.uses_sandbox and s.api_host == "sandbox"
    assert s.database_url.startswith("sqlite:///") and s.database_url.endswith("partner_console.db")
    assert (s.auth_header, s.auth_prefix, s.rate_limit_per_minute) == ("Authorization", "", 300)


def test_environment_wins_over_secrets_file(tmp_path):
    s = settings(tmp_path, 'UPHEAL_API_BASE_URL = "https://from-file.test/v1/"\n'
                           'UPHEAL_RATE_LIMIT_PER_MINUTE = 120\n',
                 UPHEAL_API_BASE_URL="https://from-env.test/v1")
    assert s.api_base_url == "https://from-env.test/v1/" and s.api_host == "from-env.test"
    assert s.rate_limit_per_minute == 120 and not s.uses_sandbox


def test_postgres_urls_are_given_the_psycopg_driver(tmp_path):
    s = settings(tmp_path, DATABASE_URL="postgres://u:p@db/console")
    assert s.database_url == "postgresql+psycopg://u:p@db/console"


@pytest.mark.parametrize(("name", "value"), [
    ("UPHEAL_API_BASE_URL", "api.upheal.io"),
    ("UPHEAL_RATE_LIMIT_PER_MINUTE", "lots"),
    ("UPHEAL_RATE_LIMIT_PER_MINUTE", "0"),
    ("UPHEAL_REQUEST_TIMEOUT_SECONDS", "-1"),
    ("DATABASE_URL", "my database"),
    ("UPHEAL_API_AUTH_HEADER", "Bad Header:"),
])
def test_bad_values_give_one_message_naming_the_setting(tmp_path, name, value):
    with pytest.raises(ConfigError, match=name.split("_")[0]):
        settings(tmp_path, **{name: value})


def test_unreadable_secrets_file_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigError, match="could not be read"):
        settings(tmp_path, "this is = = not toml")


def test_default_phone_country_is_us_and_must_be_a_country():
    assert load_settings({}, secrets_file=Path("/nonexistent")).default_phone_country == "US"
    assert load_settings({"UPHEAL_DEFAULT_PHONE_COUNTRY": "ca"},
                         secrets_file=Path("/nonexistent")).default_phone_country == "CA"
    with pytest.raises(ConfigError, match="UPHEAL_DEFAULT_PHONE_COUNTRY"):
        load_settings({"UPHEAL_DEFAULT_PHONE_COUNTRY": "USA"}, secrets_file=Path("/nonexistent"))


def test_trusted_email_providers_are_names_of_auth_sections(tmp_path):
    from partner_console.config import ConfigError, load_settings

    settings = load_settings({"PARTNER_CONSOLE_TRUSTED_EMAIL_PROVIDERS": " Default, okta "},
                             tmp_path / "none.toml")
    assert settings.trusted_email_providers == frozenset({"default", "okta"})
    assert load_settings({}, tmp_path / "none.toml").trusted_email_providers == frozenset()
    with pytest.raises(ConfigError, match="PARTNER_CONSOLE_TRUSTED_EMAIL_PROVIDERS"):
        load_settings({"PARTNER_CONSOLE_TRUSTED_EMAIL_PROVIDERS": "okta, <script>"},
                      tmp_path / "none.toml")
