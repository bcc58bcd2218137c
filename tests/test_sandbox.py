from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from partner_console.sandbox import SANDBOX_KEYS, Faults, SandboxApp
from tests.conftest import DEMO_KEY, FORBIDDEN_KEY, SECOND_KEY

BODY = json.dumps({"firstName": "Jane", "lastName": "Smith", "email": "jane@example.com"}).encode()


def call(app, path="/users/providers", key=DEMO_KEY, body=BODY, method="POST"):
    response = app.handle(method, path, {"Authorization": key}, body)
    return response.status, json.loads(response.body or b"null"), response


def test_unknown_key_gets_401_and_no_user_is_made():
    app = SandboxApp()
    assert call(app, key="nope")[0] == 401 and call(app, key="")[0] == 401
    assert app.users() == []


def test_forbidden_key_gets_403_on_create_but_may_check():
    app = SandboxApp()
    assert call(app, key=FORBIDDEN_KEY)[0] == 403
    assert call(app, "/users/check", FORBIDDEN_KEY, b'{"email": "a@b.co"}')[0] == 200


def test_links_are_plainly_fake():
    status, data, _ = call(SandboxApp())
    assert status == 200
    for link in (data["inviteUrl"], data["privateRoomLink"]):
        assert link.startswith("https://sandbox.invalid/") and "upheal.io" not in link


def test_validation_mirrors_the_contract_with_field_errors():
    status, data, _ = call(SandboxApp(), body=json.dumps({"firstName": "", "lastName": "S",
                                                          "email": "nope"}).encode())
    assert status == 400
    assert {e["field"] for e in data["errors"]} == {"firstName", "email"}


def test_bad_json_and_unknown_paths():
    app = SandboxApp()
    assert call(app, body=b"{oops")[0] == 400
    assert call(app, path="/users/nothing")[0] == 404


def test_organisations_are_apart():
    app = SandboxApp()
    call(app)
    assert call(app, "/users/check", SECOND_KEY, b'{"email": "jane@example.com"}')[1][
        "isUserExists"] is False
    assert call(app, "/users/check", DEMO_KEY, b'{"email": "Jane@Example.com"}')[1][
        "isUserExists"] is True
    user_id = app.users()[0]["userId"]
    assert call(app, f"/users/providers/{user_id}", SECOND_KEY, b"", "GET")[0] == 404
    status, data, _ = call(app, f"/users/providers/{user_id}", DEMO_KEY, b"", "GET")
    assert status == 200 and "inviteUrl" not in data


def test_rate_limit_answers_429_with_retry_after_per_key():
    now = [1000.0]
    app = SandboxApp(rate_per_minute=3, clock=lambda: now[0])
    check = b'{"email": "a@b.co"}'
    assert [call(app, "/users/check", DEMO_KEY, check)[0] for _ in range(3)] == [200] * 3
    status, _, response = call(app, "/users/check", DEMO_KEY, check)
    assert status == 429 and int(response.headers["Retry-After"]) == 60
    assert call(app, "/users/check", SECOND_KEY, check)[0] == 200  # another key is not limited
    now[0] += 60.5
    assert call(app, "/users/check", DEMO_KEY, check)[0] == 200


def test_lost_response_creates_the_user_then_drops():
    app = SandboxApp(faults=Faults(lost_response_rate=1.0))
    _, _, response = call(app)
    assert response.fault == "drop" and len(app.users()) == 1


@pytest.mark.parametrize(("faults", "outcome"), [
    (Faults(server_error_rate=1.0), "5xx"), (Faults(timeout_rate=1.0), "timeout"),
    (Faults(drop_rate=1.0), "drop"), (Faults(rate_limit_storm=True), 429),
])
def test_injected_faults_make_no_user(faults, outcome):
    app = SandboxApp(faults=faults)
    _, _, response = call(app)
    if outcome == "5xx":
        assert response.status in (500, 503)
    elif outcome == 429:
        assert response.status == 429
    else:
        assert response.fault == outcome
    assert app.users() == []


def test_call_log_names_only_sandbox_keys():
    app = SandboxApp()
    call(app, key="real-looking-secret")
    call(app)
    assert [c.key_name for c in app.calls] == ["unknown", DEMO_KEY]


def test_every_sandbox_key_is_in_the_readme():
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    assert set(SANDBOX_KEYS) == {DEMO_KEY, SECOND_KEY, FORBIDDEN_KEY, "sandbox-platform-key"}
    assert SANDBOX_KEYS[DEMO_KEY].name == "Sandbox Clinic"
    for key, organisation in SANDBOX_KEYS.items():
        assert f"| `{key}` | {organisation.name} |" in readme, key


def test_standalone_sandbox_command_serves_on_loopback(tmp_path):
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "partner_console.sandbox", "--port", str(port),
                             "--rate-per-minute", "300", "--latency-ms", "0", "--fail-rate", "0"],
                            stdout=subprocess.PIPE, text=True)
    try:
        assert "sandbox-demo-key" in proc.stdout.readline()
        deadline = time.monotonic() + 10
        while True:
            try:
                r = httpx.post(f"http://127.0.0.1:{port}/users/providers", content=BODY,
                               headers={"Authorization": DEMO_KEY})
                break
            except httpx.ConnectError:
                assert time.monotonic() < deadline
                time.sleep(0.1)
        assert r.status_code == 200 and r.json()["inviteUrl"].startswith("https://sandbox.invalid/")
    finally:
        proc.terminate()
        proc.wait(5)


def test_each_check_is_recorded_with_the_email_it_asked_about():
    app = SandboxApp()
    call(app)
    call(app, "/users/check", body=b'{"email": "jane@example.com"}')
    call(app, "/users/check", body=b"not json")
    call(app, "/users/check", body=b'["a list"]')
    assert [(c.path, c.asked_about) for c in app.calls] == [
        ("/users/providers", ""), ("/users/check", "jane@example.com"), ("/users/check", ""),
        ("/users/check", "")]


def test_a_user_added_for_a_test_takes_no_budget_and_is_not_logged():
    app = SandboxApp(rate_per_minute=1)
    user = app.add_user(DEMO_KEY, {"firstName": "Jane", "lastName": "Smith",
                                   "email": "jane@example.com"})
    assert user["userId"] and app.calls == []
    assert call(app, "/users/check", body=b'{"email": "jane@example.com"}')[1]["isUserExists"]
    with pytest.raises(ValueError, match="refused"):
        app.add_user(DEMO_KEY, {"firstName": "Jane", "lastName": "Smith",
                                "email": "jane@example.com"})


def test_the_in_process_sandbox_creates_in_the_practice_asked_for(served):
    """The app's own sandbox (no process, an httpx transport) and the one served on loopback
    put a platform's create where its path says: the practice, or the key's own organisation."""
    from partner_console.api.client import UphealClient
    from partner_console.api.models import validate_provider
    from partner_console.connection import SANDBOX_BASE_URL
    from partner_console.sandbox import SandboxTransport

    platform = "sandbox-platform-key"
    north = next(org for org, _ in SANDBOX_KEYS[platform].practices)
    own = SANDBOX_KEYS[platform].organization_id
    in_process = SandboxApp()
    loopback, server = served
    request, _ = validate_provider({"first_name": "Pia", "last_name": "Two",
                                    "email": "pia@example.com"})
    for app, client in ((in_process, UphealClient(SANDBOX_BASE_URL,
                                                  transport=SandboxTransport(in_process))),
                        (loopback, UphealClient(server.base_url))):
        made = client.create_provider(platform, request, organization_id=north).provider
        again = client.create_provider(platform, request).provider  # the key's own: another
        assert made.organization_id == north and again.organization_id == own
        assert [u["email"] for u in app.users(north)] == ["pia@example.com"]
        assert [u["email"] for u in app.users(own)] == ["pia@example.com"]



def test_the_sandbox_of_make_run_remembers_its_users_across_a_restart(tmp_path):
    """Upheal does not forget a provider when the console restarts: a sandbox started again on
    the same store has every user as they last were (names, provider fields, deactivation),
    so History's sign-up check does not call them "No longer in Upheal"."""
    store = tmp_path / "data" / "sandbox-upheal.jsonl"
    clock = [1000.0]
    first = SandboxApp(store=store, signup_after=60, clock=lambda: clock[0])
    made = {}
    for first_name, email in (("Jane", "jane"), ("Bob", "bob"), ("Ann", "ann"), ("Cy", "cy")):
        body = {"firstName": first_name, "lastName": "Ray", "email": f"{email}@example.com"}
        status, made[email], _ = call(first, body=json.dumps(body).encode())
        assert status == 200
    jane = made["jane"]
    assert call(first, f"/users/{jane['userId']}", method="PATCH",
                body=b'{"firstName": "Janet"}')[0] == 200
    assert call(first, f"/users/providers/{jane['userId']}", method="PATCH",
                body=b'{"therapyLicence": "LCSW"}')[0] == 200
    assert call(first, f"/users/{made['bob']['userId']}", method="DELETE", body=b"")[0] == 200
    first.remove_user("cy@example.com")
    with store.open("a", encoding="utf-8") as out:  # a write cut short by a crash
        out.write('{"org":"5a4d0b7e-0000-4000-8000-00000000c11c","user":{"email":"cut')

    clock[0] = 50.0  # a new process: a monotonic clock of its own
    second = SandboxApp(store=store, signup_after=60, clock=lambda: clock[0])
    assert sorted(second.users(), key=lambda u: u["email"]) == sorted(
        first.users(), key=lambda u: u["email"])
    assert {u["email"] for u in second.users()} == {
        "jane@example.com", "bob@example.com", "ann@example.com"}
    janet = next(u for u in second.users() if u["email"] == "jane@example.com")
    assert (janet["firstName"], janet["therapyLicence"]) == ("Janet", "LCSW")
    assert janet["inviteUrl"] == jane["inviteUrl"]
    _, check, _ = call(second, "/users/check", body=b'{"email": "jane@example.com"}')
    assert check == {"isUserExists": True, "userId": jane["userId"],
                     "email": "jane@example.com", "isActive": False}
    assert second.is_deactivated("bob@example.com")
    assert call(second)[0] == 400  # Jane exists still: a second create is refused
    status, again, _ = call(second, f"/users/{jane['userId']}", method="GET", body=b"")
    assert status == 200 and again["privateRoomLink"] == jane["privateRoomLink"]
    ann = b'{"email": "ann@example.com"}'
    assert not call(second, "/users/check", body=ann)[1]["isActive"]
    clock[0] += 61  # a minute after she was created: she signs up, as before the restart
    assert call(second, "/users/check", body=ann)[1]["isActive"]

    second.reset()
    assert SandboxApp(store=store).users() == []


def test_a_store_that_cannot_be_read_or_written_leaves_practice_working(tmp_path, caplog):
    blocked = tmp_path / "a-file"
    blocked.write_text("not a folder", encoding="utf-8")
    app = SandboxApp(store=blocked / "sandbox-upheal.jsonl")  # its folder cannot be made
    assert call(app)[0] == 200 and len(app.users()) == 1
    assert "could not keep a change: FileExistsError" in caplog.text
    folder = tmp_path / "a-folder"
    folder.mkdir()
    assert SandboxApp(store=folder).users() == []  # a folder where the file should be
    assert "could not be read: IsADirectoryError" in caplog.text
