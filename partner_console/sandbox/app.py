"""The built-in sandbox: a local fake of Upheal's Partner API, for practice and for tests.

One app (`SandboxApp.handle`) behind two doors: an httpx transport for in-process use
(`transport.py`) and a threaded HTTP server on loopback (`server.py`). Same paths, fields, rules
and status codes as api-contract.md; links are plainly fake (https://sandbox.invalid/...).
"""

from __future__ import annotations

import json
import logging
import random
import re
import threading
import time
import uuid
import zlib
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import ValidationError

from partner_console.api.models import ProviderRequest, plain_errors

SANDBOX_LINK_HOST = "sandbox.invalid"

log = logging.getLogger(__name__)

Fault = Literal["timeout", "drop"] | None


@dataclass(frozen=True)
class SandboxOrganisation:
    organization_id: str
    name: str
    may_create: bool = True
    # A platform's practices: organisations its key may create providers in (by orgId).
    practices: tuple[tuple[str, str], ...] = ()  # (organisation id, name)

    @property
    def reachable(self) -> tuple[str, ...]:
        return (self.organization_id, *(org for org, _ in self.practices))


SANDBOX_PRACTICES = (("5a4d0b7e-0000-4000-8000-0000000000a1", "Northside Therapy"),
                     ("5a4d0b7e-0000-4000-8000-0000000000a2", "Lakeside Counselling"))


SANDBOX_KEYS: dict[str, SandboxOrganisation] = {
    "sandbox-demo-key": SandboxOrganisation(
        "5a4d0b7e-0000-4000-8000-00000000c11c", "Sandbox Clinic"
    ),
    "sandbox-second-org-key": SandboxOrganisation(
        "5a4d0b7e-0000-4000-8000-0000000000b2", "Second Sandbox Practice"
    ),
    "sandbox-forbidden-key": SandboxOrganisation(
        "5a4d0b7e-0000-4000-8000-0000000000f3", "Read-only Sandbox Org", may_create=False
    ),
    "sandbox-platform-key": SandboxOrganisation(
        "5a4d0b7e-0000-4000-8000-0000000000e1", "Sandbox Platform",
        practices=SANDBOX_PRACTICES,
    ),
}


@dataclass
class Faults:
    """Shares (0..1) of requests that misbehave, and added latency. All zero by default."""

    latency_ms: float = 0.0
    server_error_rate: float = 0.0  # answered 500 or 503, nothing done
    timeout_rate: float = 0.0  # the server hangs, nothing done
    drop_rate: float = 0.0  # the connection is closed with no answer, nothing done
    lost_response_rate: float = 0.0  # creates only: the user IS created, then the answer is lost
    rate_limit_storm: bool = False  # answer 429 to everything (with Retry-After)
    # Creates only: Upheal takes this long to create (the user exists once it is over), as a
    # slow create that outlives the client's timeout does.
    create_latency_ms: float = 0.0
    # A canned answer (status, headers, body) for every create, nothing done: malformed JSON,
    # an HTML error page, a huge body, a 200 with unsafe links...
    create_answer: tuple[int, dict[str, str], bytes] | None = None


@dataclass
class SandboxResponse:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    fault: Fault = None


@dataclass
class CallRecord:
    at: float  # when the request arrived
    key_name: str  # which sandbox key (never a real key: unknown keys are recorded as "unknown")
    method: str
    path: str
    status: int
    asked_about: str = ""  # the email a /users/check asked about (tests count them per person)


class SandboxApp:
    def __init__(
        self,
        *,
        rate_per_minute: int = 300,
        faults: Faults | None = None,
        seed: int | None = None,
        clock: Any = time.monotonic,
        keys: dict[str, SandboxOrganisation] | None = None,
        signup_after: float | None = None,
        store: Path | None = None,
    ) -> None:
        self.keys = dict(SANDBOX_KEYS if keys is None else keys)
        self.rate_per_minute = rate_per_minute
        self.faults = faults or Faults()
        self._random = random.Random(seed)
        self._clock = clock
        self._lock = threading.Lock()
        self._users: dict[str, dict[str, dict[str, Any]]] = {}  # org id -> email -> user
        self._windows: dict[str, deque[float]] = {}
        self.calls: list[CallRecord] = []
        # Sign-ups, for practice: with `signup_after` seconds set, two providers in three sign up
        # that long after they were created (which ones is fixed by their email); the others
        # never do, so the pending list has someone in it. Tests decide with sign_up().
        self.signup_after = signup_after
        self._signed_up: dict[tuple[str, str], bool] = {}
        self._born: dict[tuple[str, str], float] = {}
        # Upheal does not forget its providers when the console restarts, so neither does
        # the sandbox of `make run`: each user as it changes, one JSON line each (the last
        # line of a user wins), read back when the sandbox starts.
        self._store = store
        if store is not None:
            self._load(store)

    def _load(self, store: Path) -> None:
        try:
            lines = store.read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            return
        except (OSError, UnicodeDecodeError) as exc:  # practice goes on, from nothing
            log.warning("the sandbox's providers could not be read: %s", type(exc).__name__)
            return
        for line in lines:
            try:
                kept = json.loads(line)
                org = kept["org"]
                if "removed" in kept:
                    self._users.get(org, {}).pop(kept["removed"], None)
                    continue
                user, born = kept["user"], float(kept["at"])
                email = user["email"].lower()
            except (ValueError, KeyError, TypeError, AttributeError):
                continue  # a line cut short by a crash: that change is lost, the rest kept
            self._users.setdefault(org, {})[email] = user
            self._born[(org, email)] = self._clock() - (time.time() - born)

    def _keep(self, org: str, user: dict[str, Any] | None, email: str = "") -> None:
        """Write a user as it is now, or (None) that it was removed, when the sandbox keeps
        its users (under the lock)."""
        if self._store is None:
            return
        if user is None:
            kept: dict[str, Any] = {"org": org, "removed": email}
        else:
            email = user["email"].lower()
            born = time.time() - (self._clock() - self._born.get((org, email), self._clock()))
            kept = {"org": org, "user": user, "at": born}
        line = json.dumps(kept, separators=(",", ":"))
        try:
            self._store.parent.mkdir(parents=True, exist_ok=True)
            with self._store.open("a", encoding="utf-8") as out:
                out.write(line + "\n")
        except OSError as exc:  # (a full disk): the change stands until the sandbox restarts
            log.warning("the sandbox could not keep a change: %s", type(exc).__name__)

    # -- inspection for tests and benchmarks -----------------------------------------------------
    def users(self, organization_id: str | None = None) -> list[dict[str, Any]]:
        with self._lock:
            orgs = [organization_id] if organization_id else list(self._users)
            return [dict(u) for org in orgs for u in self._users.get(org, {}).values()]

    def sign_up(self, email: str, organization_id: str | None = None, active: bool = True
                ) -> None:
        """The provider finishes (or, active=False, has not finished) signing up."""
        with self._lock:
            for org in self._orgs_of(email, organization_id):
                self._signed_up[(org, email.lower())] = active

    def add_user(self, key: str, payload: dict[str, Any]) -> dict[str, Any]:
        """A provider created by `key`'s organisation as create v2 would (`payload` is its
        body), outside the key's rate window and the call log: a test's or benchmark's setup
        never takes budget from what it then measures."""
        organisation = self.keys.get(key)
        if organisation is None:
            raise ValueError("not a sandbox key")
        response = self._create(organisation, payload, organisation.organization_id)
        if response.status != 200:
            raise ValueError(f"the sandbox refused the user: {response.body!r}")
        return json.loads(response.body)

    def remove_user(self, email: str, organization_id: str | None = None) -> None:
        """The provider is no longer in Upheal (deleted there)."""
        with self._lock:
            for org in self._orgs_of(email, organization_id):
                self._users.get(org, {}).pop(email.lower(), None)
                self._keep(org, None, email.lower())

    def _orgs_of(self, email: str, organization_id: str | None) -> list[str]:
        return [organization_id] if organization_id else [
            org for org, users in self._users.items() if email.lower() in users]

    def _is_active(self, organization_id: str, email: str) -> bool:
        key = (organization_id, email)
        if key in self._signed_up:
            return self._signed_up[key]
        if self.signup_after is None or zlib.crc32(email.encode()) % 3 == 0:
            return False
        return self._clock() - self._born.get(key, float("inf")) >= self.signup_after

    def forget_calls(self) -> None:
        """For tests and benchmarks: the call log and the rate windows start afresh (the
        users stay)."""
        with self._lock:
            self._windows.clear()
            self.calls.clear()

    def reset(self) -> None:
        with self._lock:
            self._users.clear()
            self._signed_up.clear()
            self._born.clear()
            self._windows.clear()
            self.calls.clear()
            if self._store is not None:
                self._store.unlink(missing_ok=True)

    # -- the one entry point ---------------------------------------------------------------------
    def handle(
        self, method: str, path: str, headers: dict[str, str], body: bytes
    ) -> SandboxResponse:
        arrived = time.time()
        if self.faults.latency_ms:
            time.sleep(self.faults.latency_ms / 1000)
        key = _header(headers, "authorization").strip()
        organisation = self.keys.get(key)
        key_name = key if organisation else "unknown"
        response = self._dispatch(method.upper(), path, organisation, key, body)
        asked_about = _asked_about(body) if path == "/users/check" else ""
        with self._lock:
            self.calls.append(CallRecord(arrived, key_name, method.upper(), path,
                                         response.status, asked_about))
        return response

    def _dispatch(
        self, method: str, path: str, org: SandboxOrganisation | None, key: str, body: bytes
    ) -> SandboxResponse:
        path = "/" + path.split("?", 1)[0].strip("/")
        route = _route(method, path)
        if route is None:
            return _json(404, {"message": "Not found."})
        if org is None:
            return _json(401, {"message": "Missing or invalid API key."})
        limited = self._rate_limited(key)
        if limited is not None:
            return limited
        fault = self._roll_fault()
        if fault is not None:
            return fault
        name, argument = route
        if name in ("create", "create_in") and self.faults.create_answer is not None:
            status, headers, answer = self.faults.create_answer
            return SandboxResponse(status, answer, dict(headers))
        payload: Any = None
        if method in ("POST", "PATCH"):
            try:
                payload = json.loads(body.decode("utf-8") or "null")
            except (ValueError, UnicodeDecodeError):
                return _json(400, {"message": "The request body is not valid JSON."})
            if not isinstance(payload, dict):
                return _json(400, {"message": "The request body must be a JSON object."})
        if name in ("create", "create_in"):
            if self.faults.create_latency_ms:
                time.sleep(self.faults.create_latency_ms / 1000)
            if name == "create_in" and org.may_create and \
                    argument.lower() not in org.reachable:
                return _json(404, {"message": "Organization not found."})
            return self._create(org, payload, argument.lower() or org.organization_id)
        if name == "check":
            return self._check(org, payload)
        if name == "user":
            return self._get_user(org, argument)
        if name in ("update_user", "update_provider", "deactivate", "activate") and \
                not org.may_create:
            return _json(403, {"message": "Given API key is not allowed to change this user."})
        if name == "update_user":
            return self._update_user(org, argument, payload)
        if name == "update_provider":
            return self._update_provider(org, argument, payload)
        if name == "deactivate":
            return self._set_active(org, argument, False)
        if name == "activate":
            return self._set_active(org, argument, True)
        return self._get(org, argument)

    def _rate_limited(self, key: str) -> SandboxResponse | None:
        if self.faults.rate_limit_storm:
            return _json(429, {"message": "Too Many Requests"}, {"Retry-After": "1"})
        now = self._clock()
        with self._lock:
            window = self._windows.setdefault(key, deque())
            while window and window[0] <= now - 60:
                window.popleft()
            if len(window) >= self.rate_per_minute:
                retry = max(1, int(window[0] + 60 - now + 0.999))
                return _json(429, {"message": "Too Many Requests"}, {"Retry-After": str(retry)})
            window.append(now)
        return None

    def _roll_fault(self) -> SandboxResponse | None:
        f = self.faults
        roll = self._random.random()
        if roll < f.server_error_rate:
            status = self._random.choice((500, 503))
            return _json(status, {"message": "Internal error, try again later."})
        roll -= f.server_error_rate
        if roll < f.timeout_rate:
            return SandboxResponse(504, fault="timeout")
        roll -= f.timeout_rate
        if roll < f.drop_rate:
            return SandboxResponse(499, fault="drop")
        return None

    def _create(self, org: SandboxOrganisation, payload: dict[str, Any],
                target: str) -> SandboxResponse:
        if not org.may_create:
            return _json(403, {"message": "Given API key is not allowed to create user with "
                                          "given parameters."})
        try:
            request = ProviderRequest.model_validate(payload)
        except ValidationError as exc:
            return _refused_fields(exc)
        email = request.email.lower()
        with self._lock:
            users = self._users.setdefault(target, {})
            if email in users:
                # Assumption: the real API's answer to a second create for one email is not
                # documented; the sandbox refuses it, as Clerk's "already invited" does.
                return _json(400, {"message": "A user with this email already exists.",
                                   "errors": [{"field": "email",
                                               "message": "A user with this email already "
                                                          "exists."}]})
            user_id = str(uuid.uuid4())
            # Like the real API's (evidence in issue 10): the names as typed, so "Mary Ann" or
            # "D'Angelo" give a room link with a space or an apostrophe in it.
            slug = f"{request.first_name}-{request.last_name}".lower()
            user = {
                "userId": user_id,
                "inviteUrl": f"https://{SANDBOX_LINK_HOST}/invite/{uuid.uuid4()}",
                "privateRoomLink": f"https://{SANDBOX_LINK_HOST}/room/{slug}-{len(users) + 1}",
                "organizationId": target,
                **request.to_json(),
            }
            users[email] = user
            self._born[(target, email)] = self._clock()
            self._keep(target, user)
        answer = {k: user[k] for k in ("userId", "inviteUrl", "privateRoomLink", "organizationId")}
        for optional in ("partnerUserId", "defaultNoteTemplateIds", "noteIdentifier"):
            if optional in user:
                answer[optional] = user[optional]
        response = _json(200, answer)
        if self._random.random() < self.faults.lost_response_rate:
            response.fault = "drop"
        return response

    def _check(self, org: SandboxOrganisation, payload: dict[str, Any]) -> SandboxResponse:
        email = payload.get("email")
        if not isinstance(email, str) or "@" not in email:
            return _invalid({"email": "A valid email is required."})
        with self._lock:
            found = [(o, self._users.get(o, {}).get(email.strip().lower()))
                     for o in org.reachable]
            home, user = next(((o, u) for o, u in found if u is not None), (None, None))
            active = user is not None and not user.get("deactivated") and self._is_active(
                home or org.organization_id, email.strip().lower())
        if user is None:
            return _json(200, {"isUserExists": False, "email": email})
        return _json(200, {"isUserExists": True, "userId": user["userId"],
                           "email": user["email"], "isActive": active})

    def _get_user(self, org: SandboxOrganisation, user_id: str) -> SandboxResponse:
        """v1 get user by id: the user's details with both links again."""
        with self._lock:
            for user in (u for o in org.reachable for u in self._users.get(o, {}).values()):
                if user["userId"] == user_id:
                    details = {k: user.get(k) for k in (
                        "userId", "firstName", "lastName", "email", "phoneNumber",
                        "phoneCountryCode", "inviteUrl", "privateRoomLink", "partnerUserId",
                        "organizationId")}
                    details["userType"] = "HealthcareProvider"
                    return _json(200, {k: v for k, v in details.items() if v is not None})
        return _json(404, {"message": "User not found."})

    def _find(self, org: SandboxOrganisation, user_id: str) -> dict[str, Any] | None:
        """A user by Upheal id or partner user id (under the lock)."""
        for user in (u for o in org.reachable for u in self._users.get(o, {}).values()):
            if user_id in (user["userId"], user.get("partnerUserId")):
                return user
        return None

    def _update_user(self, org: SandboxOrganisation, user_id: str,
                     payload: dict[str, Any]) -> SandboxResponse:
        """Update user by id: names (pronoun and date of birth are taken and ignored)."""
        unknown = set(payload) - {"firstName", "lastName", "pronoun", "dateOfBirth"}
        if unknown:
            return _not_updatable(unknown)
        names = {k: v for k, v in payload.items() if k in ("firstName", "lastName")}
        for name, value in names.items():
            if not isinstance(value, str) or not value.strip():
                return _invalid({name: "This field is required."})
        with self._lock:
            user = self._updatable(org, user_id, "User not found.")
            if isinstance(user, SandboxResponse):
                return user
            user.update({k: v.strip() for k, v in names.items()})
            self._keep(user["organizationId"], user)
            answer = {k: user.get(k) for k in ("userId", "firstName", "lastName", "email",
                                               "inviteUrl", "privateRoomLink", "partnerUserId",
                                               "organizationId")}
        return _json(200, {k: v for k, v in answer.items() if v is not None})

    def _update_provider(self, org: SandboxOrganisation, user_id: str,
                         payload: dict[str, Any]) -> SandboxResponse:
        """Update provider v2: only its four fields; anything else is a 400."""
        allowed = {"defaultNoteTemplateIds", "nationalProviderIdentifier", "therapyLicence",
                   "noteIdentifier"}
        unknown = set(payload) - allowed
        if unknown:
            return _not_updatable(unknown)
        with self._lock:
            user = self._updatable(org, user_id, "Provider not found.")
            if isinstance(user, SandboxResponse):
                return user
            merged = {k: v for k, v in user.items() if k in (
                "firstName", "lastName", "email")}
            try:
                checked = ProviderRequest.model_validate({**merged, **payload}).to_json()
            except ValidationError as exc:
                return _refused_fields(exc)
            for name in payload:
                if name in checked:
                    user[name] = checked[name]
                else:
                    user.pop(name, None)
            self._keep(user["organizationId"], user)
            details = _provider_details(user)
        return _json(200, details)

    def _updatable(self, org: SandboxOrganisation, user_id: str, not_found: str
                   ) -> dict[str, Any] | SandboxResponse:
        """The user an update may change (under the lock), or the answer that refuses it."""
        user = self._find(org, user_id)
        if user is None:
            return _json(404, {"message": not_found})
        if user.get("deactivated"):
            return _json(400, {"message": "Deactivated users cannot be updated."})
        return user

    def _set_active(self, org: SandboxOrganisation, user_id: str,
                    active: bool) -> SandboxResponse:
        """DELETE /users/{id} deactivates; POST /users/{id}/activate undoes it (202)."""
        with self._lock:
            user = self._find(org, user_id)
            if user is None:
                return _json(404, {"message": "User not found."})
            if active:
                user.pop("deactivated", None)
                self._keep(user["organizationId"], user)
                return _json(202, {"message": "User activated."})
            user["deactivated"] = True
            self._keep(user["organizationId"], user)
        return _json(200, {"message": "User deactivated."})

    def is_deactivated(self, email: str) -> bool:
        """For tests: whether the sandbox's user of this email is deactivated."""
        with self._lock:
            return any(users.get(email.lower(), {}).get("deactivated")
                       for users in self._users.values())

    def _get(self, org: SandboxOrganisation, provider_id: str) -> SandboxResponse:
        with self._lock:
            user = self._find(org, provider_id)
            if user is not None:
                return _json(200, _provider_details(user))
        return _json(404, {"message": "Provider not found."})


def _asked_about(body: bytes) -> str:
    try:
        email = json.loads(body or b"{}").get("email")
    except (ValueError, AttributeError):
        return ""
    return email if isinstance(email, str) else ""


def _route(method: str, path: str) -> tuple[str, str] | None:
    """The sandbox's routes: api-contract.md's facts, and its assumptions as the client has
    them (api/client.py is where they are written; these follow it)."""
    if method == "POST" and path == "/users/providers":
        return "create", ""
    if method == "POST" and path == "/users/check":
        return "check", ""
    match = re.fullmatch(r"/organizations/([^/]+)/users/providers", path)
    if method == "POST" and match:
        return "create_in", match.group(1)
    match = re.fullmatch(r"/users/providers/([^/]+)", path)
    if match:
        return {"GET": ("get", match.group(1)), "PATCH": ("update_provider", match.group(1))
                }.get(method)
    match = re.fullmatch(r"/users/([^/]+)/activate", path)
    if method == "POST" and match:
        return "activate", match.group(1)
    match = re.fullmatch(r"/users/([^/]+)", path)
    if match and match.group(1) not in ("providers", "check"):
        return {"GET": ("user", match.group(1)), "PATCH": ("update_user", match.group(1)),
                "DELETE": ("deactivate", match.group(1))}.get(method)
    return None


def _header(headers: dict[str, str], name: str) -> str:
    for key, value in headers.items():
        if key.lower() == name:
            return value
    return ""


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def _invalid(errors: dict[str, str]) -> SandboxResponse:
    """Upheal's 400 with a message for each field."""
    return _json(400, {"message": "Invalid request parameters.", "errors": [
        {"field": name, "message": message} for name, message in errors.items()]})


def _refused_fields(exc: ValidationError) -> SandboxResponse:
    return _invalid({_camel(name): message for name, message in plain_errors(exc).items()})


def _not_updatable(names: set[str]) -> SandboxResponse:
    return _invalid(dict.fromkeys(sorted(names), "This field cannot be updated."))


def _provider_details(user: dict[str, Any]) -> dict[str, Any]:
    """Get provider v2's answer: the user without what only create answers or the sandbox
    keeps for itself."""
    return {k: v for k, v in user.items()
            if k not in ("inviteUrl", "privateRoomLink", "locale", "deactivated")}


def _json(status: int, data: Any, headers: dict[str, str] | None = None) -> SandboxResponse:
    return SandboxResponse(
        status,
        json.dumps(data).encode(),
        {"Content-Type": "application/json", **(headers or {})},
    )
