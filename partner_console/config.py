"""Every setting of the console in one typed object.

Sources, first match wins: environment variables, then `.streamlit/secrets.toml`, then defaults.
A bad value raises `ConfigError` with one sentence that names the setting.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from email.headerregistry import Address
from email.utils import getaddresses, parseaddr
from pathlib import Path
from urllib.parse import unquote, urlparse

import phonenumbers
from pydantic import TypeAdapter, ValidationError
from pydantic.networks import EmailStr

from partner_console.identity import AllowList
from partner_console.storage.scope import SECRET_FILE

SANDBOX = "sandbox"

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SECRETS_FILE = PROJECT_ROOT / ".streamlit" / "secrets.toml"


class ConfigError(ValueError):
    """A setting has a value the console cannot use."""


@dataclass(frozen=True)
class MailSettings:
    """Where invite emails go: an SMTP server, or (None) the built-in Outbox."""

    host: str
    port: int
    implicit_tls: bool  # smtps://: TLS from the first byte; smtp://: STARTTLS
    username: str | None = field(default=None, repr=False)
    password: str | None = field(default=None, repr=False)
    ca_file: Path | None = None  # a private relay's certificate authority (SMTP_CA_FILE)

    @property
    def shown(self) -> str:
        """The server as staff may see it: never the password."""
        return f"{'smtps' if self.implicit_tls else 'smtp'}://{self.host}:{self.port}"


@dataclass(frozen=True)
class Settings:
    # None means the built-in sandbox.
    api_base_url: str | None = None
    auth_header: str = "Authorization"
    auth_prefix: str = ""
    database_url: str = ""
    request_timeout_seconds: float = 30.0
    rate_limit_per_minute: int = 300
    # After a create whose outcome is unknown, how long until Upheal is asked what became of it.
    settle_after_seconds: float = 60.0
    # Phone numbers typed without a country code are read in this country (a region code).
    default_phone_country: str = "US"
    # The built-in sandbox: two providers in three "sign up" this long after being created
    # (0: never), so staff can practise Follow up and the sign-up refresh.
    sandbox_signup_after_seconds: float = 120.0
    data_dir: Path = field(default=PROJECT_ROOT / "data")
    # Keys the HMAC that fingerprints API keys; generated once into data_dir when unset.
    secret: str | None = None
    # Invite emails: None (no SMTP_URL) sends to the built-in Outbox, as the sandbox always does.
    smtp: MailSettings | None = None
    email_from: str = "Onboarding <onboarding@partner-console.invalid>"
    email_reply_to: str | None = None
    emails_per_minute: int = 60
    smtp_timeout_seconds: float = 30.0
    # With sign-in on ([auth] in Streamlit's secrets): who may use the console. Empty: everyone
    # the identity provider signs in.
    allowed_emails: AllowList = field(default_factory=AllowList)
    # Sign-in providers whose addresses are trusted without an email_verified claim (names of
    # [auth.<name>] sections, "default" for a bare [auth]): single-tenant company directories.
    trusted_email_providers: frozenset[str] = frozenset()
    # `make backup` keeps this many copies in data_dir/backups (the oldest go first).
    backups_kept: int = 14

    @property
    def uses_sandbox(self) -> bool:
        return self.api_base_url is None

    @property
    def api_host(self) -> str:
        if self.api_base_url is None:
            return SANDBOX
        return urlparse(self.api_base_url).netloc

    @property
    def uses_outbox(self) -> bool:
        """Emails are kept in the console's Outbox, never sent: always in sandbox mode (its
        links reach no one), and wherever no SMTP server is configured."""
        return self.uses_sandbox or self.smtp is None

    @property
    def journal_path(self) -> Path:
        return self.data_dir / "link-journal.jsonl"

    @property
    def sandbox_store(self) -> Path:
        """Where the built-in sandbox keeps its providers between restarts."""
        return self.data_dir / "sandbox-upheal.jsonl"

    @property
    def secret_path(self) -> Path:
        """Where the generated secret lives when PARTNER_CONSOLE_SECRET is not set."""
        return self.data_dir / SECRET_FILE


def _read_secrets(path: Path) -> Mapping[str, object]:
    if not path.is_file():
        return {}
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"The settings file {path} could not be read: {exc}.") from exc


def _positive_number(name: str, raw: str, kind: type[float] | type[int]) -> float | int:
    try:
        value = kind(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number greater than zero, not {raw!r}.") from None
    if value <= 0:
        raise ConfigError(f"{name} must be a number greater than zero, not {raw!r}.")
    return value


_EMAIL = TypeAdapter(EmailStr)


def _mail_address(name: str, raw: str) -> str:
    """'Onboarding <onboarding@partner.example>' or a bare address, checked and normalised."""
    display, address = parseaddr(raw)
    try:
        if not address or "\n" in raw or "\r" in raw or len(getaddresses([raw])) != 1:
            raise ValueError
        _EMAIL.validate_python(address)
        return str(Address(display_name=display, addr_spec=address))
    except (ValueError, ValidationError, IndexError):
        raise ConfigError(f"{name} must be an email address such as Onboarding "
                          f"<onboarding@partner.example>, not {raw!r}.") from None


def _smtp(raw: str, ca_file: str | None) -> MailSettings:
    parsed = urlparse(raw)
    # (never the value itself in the sentence: it may hold the password)
    example = ("SMTP_URL must look like smtp://user:password@mail.example.com:587 (STARTTLS) "
               "or smtps://user:password@mail.example.com:465"
               + (f"; this one starts with {parsed.scheme}://." if parsed.scheme and
                  parsed.scheme not in ("smtp", "smtps") else "."))
    if parsed.scheme not in ("smtp", "smtps") or not parsed.hostname:
        raise ConfigError(example)
    try:
        port = parsed.port or (465 if parsed.scheme == "smtps" else 587)
    except ValueError:
        raise ConfigError(example) from None
    ca = Path(ca_file) if ca_file else None
    if ca is not None and not ca.is_file():
        raise ConfigError(f"SMTP_CA_FILE must name a certificate file, and {ca} is not one.")
    return MailSettings(host=parsed.hostname, port=port, implicit_tls=parsed.scheme == "smtps",
                        username=unquote(parsed.username) if parsed.username else None,
                        password=unquote(parsed.password) if parsed.password else None,
                        ca_file=ca)


def load_settings(
    environ: Mapping[str, str] | None = None, secrets_file: Path | None = None
) -> Settings:
    """Read the settings; raises ConfigError naming the first bad setting."""
    env = os.environ if environ is None else environ
    secrets = _read_secrets(DEFAULT_SECRETS_FILE if secrets_file is None else secrets_file)

    def get(name: str) -> str | None:
        if env.get(name, "").strip():
            return env[name].strip()
        value = secrets.get(name)
        if value is None or str(value).strip() == "":
            return None
        return str(value).strip()

    base_url = get("UPHEAL_API_BASE_URL")
    if base_url is not None and base_url.lower() != SANDBOX:
        parsed = urlparse(base_url)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise ConfigError(
                "UPHEAL_API_BASE_URL must be a full web address such as "
                f"https://api.example.com/, not {base_url!r}."
            )
        if not base_url.endswith("/"):
            base_url += "/"
    elif base_url is not None:
        base_url = None

    data_dir = Path(get("PARTNER_CONSOLE_DATA_DIR") or PROJECT_ROOT / "data")
    database_url = get("DATABASE_URL") or f"sqlite:///{data_dir / 'partner_console.db'}"
    if "://" not in database_url:
        raise ConfigError(
            "DATABASE_URL must look like sqlite:///path/to/file.db or "
            f"postgresql+psycopg://user:password@host/dbname, not {database_url!r}."
        )
    if database_url.startswith(("postgres://", "postgresql://")):
        # Hosting platforms hand out plain postgres:// URLs; we speak psycopg 3.
        database_url = "postgresql+psycopg://" + database_url.split("://", 1)[1]

    header = get("UPHEAL_API_AUTH_HEADER") or "Authorization"
    if not header.replace("-", "").isalnum():
        raise ConfigError(f"UPHEAL_API_AUTH_HEADER must be a header name, not {header!r}.")

    timeout = _positive_number(
        "UPHEAL_REQUEST_TIMEOUT_SECONDS", get("UPHEAL_REQUEST_TIMEOUT_SECONDS") or "30", float
    )
    rate = _positive_number(
        "UPHEAL_RATE_LIMIT_PER_MINUTE", get("UPHEAL_RATE_LIMIT_PER_MINUTE") or "300", int
    )
    settle_after = _positive_number(
        "UPHEAL_SETTLE_AFTER_SECONDS",
        get("UPHEAL_SETTLE_AFTER_SECONDS") or str(max(30.0, 2 * float(timeout))), float)
    try:
        signup_after = float(get("SANDBOX_SIGNUP_AFTER_SECONDS") or "120")
        if signup_after < 0:
            raise ValueError
    except ValueError:
        raise ConfigError("SANDBOX_SIGNUP_AFTER_SECONDS must be a number of seconds (0 for "
                          "never), like 120.") from None
    phone_country = (get("UPHEAL_DEFAULT_PHONE_COUNTRY") or "US").upper()
    if phone_country not in phonenumbers.SUPPORTED_REGIONS:
        raise ConfigError("UPHEAL_DEFAULT_PHONE_COUNTRY must be a two-letter country code such "
                          f"as US, CA or GB, not {phone_country!r}.")
    smtp_url = get("SMTP_URL")
    smtp = _smtp(smtp_url, get("SMTP_CA_FILE")) if smtp_url else None
    sender = get("INVITE_EMAIL_FROM")
    if smtp is not None and sender is None:
        raise ConfigError("INVITE_EMAIL_FROM must be set when SMTP_URL is, e.g. Onboarding "
                          "<onboarding@partner.example>: the address invite emails come from.")
    email_from = _mail_address("INVITE_EMAIL_FROM", sender) if sender else \
        Settings.email_from
    reply_to = get("INVITE_EMAIL_REPLY_TO")
    per_minute = _positive_number("INVITE_EMAILS_PER_MINUTE",
                                  get("INVITE_EMAILS_PER_MINUTE") or "60", int)
    kept = _positive_number("PARTNER_CONSOLE_BACKUPS_KEPT",
                            get("PARTNER_CONSOLE_BACKUPS_KEPT") or "14", int)
    try:
        allowed = AllowList.parse(get("PARTNER_CONSOLE_ALLOWED_EMAILS"))
    except ValueError as exc:
        raise ConfigError(f"PARTNER_CONSOLE_ALLOWED_EMAILS lists addresses and @domain entries, "
                          f"separated by commas: {exc}") from None
    trusted = frozenset(name.strip().casefold() for name in (
        get("PARTNER_CONSOLE_TRUSTED_EMAIL_PROVIDERS") or "").split(",") if name.strip())
    if bad := sorted(n for n in trusted if not n.replace("_", "").replace("-", "").isalnum()):
        raise ConfigError("PARTNER_CONSOLE_TRUSTED_EMAIL_PROVIDERS names sign-in providers as "
                          "their [auth.<name>] sections (or default), separated by commas, not "
                          f"{bad[0]!r}.")
    return Settings(
        api_base_url=base_url,
        auth_header=header,
        auth_prefix=get("UPHEAL_API_AUTH_PREFIX") or "",
        database_url=database_url,
        request_timeout_seconds=float(timeout),
        rate_limit_per_minute=int(rate),
        settle_after_seconds=float(settle_after),
        default_phone_country=phone_country,
        sandbox_signup_after_seconds=signup_after,
        data_dir=data_dir,
        secret=get("PARTNER_CONSOLE_SECRET"),
        smtp=smtp,
        email_from=email_from,
        email_reply_to=_mail_address("INVITE_EMAIL_REPLY_TO", reply_to) if reply_to else None,
        emails_per_minute=int(per_minute),
        smtp_timeout_seconds=float(timeout),
        allowed_emails=allowed,
        trusted_email_providers=trusted,
        backups_kept=int(kept),
    )
