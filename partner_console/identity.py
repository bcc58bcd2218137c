"""Who is using the console: the signed-in person (Streamlit's `st.login`, OpenID Connect), who
may use it (PARTNER_CONSOLE_ALLOWED_EMAILS), and whether the deployment's `[auth]` secrets are
complete. No Streamlit here: the pages pass in what `st.user` and `st.secrets` hold.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from email_validator import EmailNotValidError, validate_email

LABEL_LIMIT = 200  # the created_by columns


@dataclass(frozen=True)
class Person:
    """Whoever a record is written for: a signed-in person's name and email, or (sign-in off)
    the name typed in the sidebar and no email."""

    name: str
    email: str = ""

    @property
    def label(self) -> str:
        """What records carry: "Zoë Müller (zoe@partner.example)", or the one that is known."""
        name, email = " ".join(self.name.split()), self.email.strip()
        if name and email and name.casefold() != email.casefold():
            return f"{name} ({email})"[:LABEL_LIMIT]
        return (name or email)[:LABEL_LIMIT]

    @property
    def first_name(self) -> str:
        """For the sign-off of an email: the name, else the email."""
        return " ".join(self.name.split()) or self.email.strip()


def person_from_claims(claims: Mapping[str, Any]) -> Person:
    """The person an identity provider signed in (its ID token's claims)."""
    email = str(claims.get("email") or "").strip()
    name = str(claims.get("name") or "").strip() or " ".join(
        str(claims.get(k) or "").strip() for k in ("given_name", "family_name")).strip()
    return Person(name=name, email=email)


def _says_true(value: Any) -> bool:
    """A claim that is the boolean true, or the string "true" (some providers send strings);
    anything else, absent or "" or "off" included, is not."""
    if isinstance(value, bool):
        return value
    return isinstance(value, str) and value.strip().lower() == "true"


def email_is_verified(claims: Mapping[str, Any],
                      trusted_providers: frozenset[str] = frozenset()) -> bool:
    """An address is trusted only when the provider vouches for it: `email_verified` true, or
    Microsoft Entra's optional `xms_edov` ("email domain owner verified") true. On a
    multi-tenant provider anyone can put any address in their own account (the "nOAuth"
    pattern), so silence is not a yes. A provider the operator trusts without that claim (a
    single-tenant company directory) is named in PARTNER_CONSOLE_TRUSTED_EMAIL_PROVIDERS by
    its `[auth.<name>]` section, or "default" for a bare `[auth]`; Streamlit records which
    one signed the person in as the `provider` claim."""
    if _says_true(claims.get("email_verified")) or _says_true(claims.get("xms_edov")):
        return True
    provider = str(claims.get("provider") or "default").strip().casefold()
    return provider in trusted_providers


def single_address(text: str) -> Any | None:
    """The one email address `text` is, checked by email-validator (no display name, no
    quoted local part, no list, no second "@"); None when it is anything else."""
    try:
        return validate_email(text.strip(), check_deliverability=False)
    except (EmailNotValidError, TypeError, ValueError):
        return None


@dataclass(frozen=True)
class AllowList:
    """PARTNER_CONSOLE_ALLOWED_EMAILS: addresses and "@domain" entries. Empty: everyone the
    identity provider signs in."""

    addresses: frozenset[str] = frozenset()
    domains: frozenset[str] = frozenset()

    @classmethod
    def parse(cls, text: str | None) -> AllowList:
        """Raises ValueError with a sentence naming the first entry that is neither."""
        addresses: set[str] = set()
        domains: set[str] = set()
        for raw in (text or "").replace(";", ",").replace("\n", ",").split(","):
            entry = raw.strip()
            if not entry:
                continue
            if entry.startswith("@"):
                domain = entry[1:].strip().rstrip(".").casefold()
                try:
                    validate_email(f"someone@{domain}", check_deliverability=False)
                except EmailNotValidError:
                    raise ValueError(f"“{entry}” is not a domain (write it as @partner.example)."
                                     ) from None
                domains.add(domain)
                continue
            try:
                checked = validate_email(entry, check_deliverability=False)
            except EmailNotValidError:
                hint = " (write a domain as @partner.example)" if "@" not in entry else ""
                raise ValueError(f"“{entry}” is not an email address{hint}.") from None
            addresses.add(checked.normalized.casefold())
        return cls(frozenset(addresses), frozenset(domains))

    @property
    def everyone(self) -> bool:
        return not self.addresses and not self.domains

    def allows(self, email: str) -> bool:
        """Whether `email` is exactly one address that the list names, or whose domain it
        names. "eve@evil.example@partner.example" or "a@evil.example, a@partner.example" are
        not one address: refused, whatever comes after their last "@"."""
        checked = single_address(email)
        if checked is None:
            return False
        if self.everyone:
            return True
        return (checked.normalized.casefold() in self.addresses
                or checked.domain.casefold() in self.domains)


PROVIDER_KEYS = ("client_id", "client_secret", "server_metadata_url")


def providers_of(section: Mapping[str, Any]) -> list[str]:
    """The sign-in providers an `[auth]` section names: "default" when client_id and its
    fellows sit in `[auth]` itself, else the names of its `[auth.<name>]` sections."""
    if any(key in section for key in PROVIDER_KEYS):
        return ["default"]
    return [name for name, value in section.items()
            if isinstance(value, Mapping) and any(key in value for key in PROVIDER_KEYS)]


def auth_problem(section: Mapping[str, Any]) -> str | None:
    """What is missing from an `[auth]` section, in a sentence; None when it is complete."""
    redirect = str(section.get("redirect_uri") or "")
    if not redirect:
        return "[auth] has no redirect_uri (e.g. https://console.partner.example/oauth2callback)."
    if not redirect.rstrip("/").endswith("/oauth2callback"):
        return "[auth] redirect_uri must end with /oauth2callback."
    secret = str(section.get("cookie_secret") or "")
    if len(secret) < 32:
        return ("[auth] cookie_secret must be a long random string (32 characters or more), "
                "the same on every replica.")
    names = providers_of(section)
    if not names:
        return "[auth] names no identity provider (client_id, client_secret, server_metadata_url)."
    for name in names:
        values = section if name == "default" else section[name]
        for key in PROVIDER_KEYS:
            if not str(values.get(key) or "").strip():
                where = "[auth]" if name == "default" else f"[auth.{name}]"
                return f"{where} has no {key}."
    return None


def provider_label(name: str) -> str:
    """The button's words: "Sign in", or "Sign in with Microsoft" for [auth.microsoft]."""
    known = {"google": "Google", "microsoft": "Microsoft", "okta": "Okta", "auth0": "Auth0",
             "entra": "Microsoft Entra", "azure": "Microsoft"}
    if name == "default":
        return "Sign in"
    return f"Sign in with {known.get(name.lower(), name.replace('_', ' ').title())}"
