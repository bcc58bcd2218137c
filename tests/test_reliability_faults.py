"""Faults from the API and bad input, through the real pages (AppTest): the person always sees a
sentence, the app keeps running, nothing unsafe becomes a link, exports stay formula-safe."""

from __future__ import annotations

import io
import json
import re

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from partner_console.exports import FORMULA_PREFIXES, history_csv, history_xlsx
from partner_console.sandbox import Faults
from partner_console.storage import fingerprint
from tests.conftest import DEMO_KEY
from tests.report import record
from tests.test_pages import app, fill, isolated_console, services_of  # noqa: F401
from tests.workbooks import formulas

UNSAFE_LINK = re.compile(r"(?<!\\)\]\(\s*(javascript|data|vbscript):|(?<!\\)<a\s|(?<!\\)<script",
                         re.IGNORECASE)  # unescaped only: an escaped \<script is inert text
STATUS_ALONE = re.compile(r"\b(40[0-9]|42[0-9]|5[0-9][0-9])\b")

GOOD = {"userId": "u-1", "inviteUrl": "https://sandbox.invalid/invite/x",
        "privateRoomLink": "https://sandbox.invalid/room/x"}
CANNED = {
    "malformed JSON": (200, {"Content-Type": "application/json"}, b'{"userId": "u-1", '),
    "HTML error page": (502, {"Content-Type": "text/html"},
                        b"<html><body><h1>502 Bad Gateway</h1><script>x()</script></body></html>"),
    "huge body": (200, {"Content-Type": "application/json"}, b" " * 3_000_000 + b"{}"),
    "javascript invite link": (200, {}, json.dumps({**GOOD, "inviteUrl": "javascript:alert(1)"})
                               .encode()),
    "data room link": (200, {}, json.dumps({**GOOD, "privateRoomLink":
                                            "data:text/html,<script>alert(1)</script>"}).encode()),
    "missing invite link": (200, {}, json.dumps({"userId": "u-1"}).encode()),
    "markdown in error text": (400, {}, json.dumps(
        {"message": "Bad [click here](javascript:alert(1)) value"}).encode()),
}
FAULTS = {
    "500/503 always": Faults(server_error_rate=1.0),
    "timeouts": Faults(timeout_rate=1.0),
    "dropped connections": Faults(drop_rate=1.0),
    "lost responses": Faults(lost_response_rate=1.0),
    "429 storm": Faults(rate_limit_storm=True),
}


def everything_shown(at) -> str:
    """The text of every element that renders markdown (code blocks are shown literally)."""
    parts = [e.value for kind in ("markdown", "caption", "error", "warning", "info", "success",
                                  "header", "subheader", "title", "toast")
             for e in at.get(kind)]
    return "\n".join(str(p) for p in parts)


def assert_calm(at) -> None:
    assert not at.exception
    text = everything_shown(at)
    assert "Traceback" not in text and not UNSAFE_LINK.search(text)
    said = [e.value for e in at.error] + [w.value for w in at.warning] + [i.value for i in at.info]
    said += [s.value for s in at.success]  # a lost answer whose links were fetched again
    assert said, "the person was told nothing"
    assert not any(STATUS_ALONE.search(m) for m in said), said


@pytest.mark.parametrize("name", list(CANNED) + list(FAULTS))
def test_api_faults_end_in_a_sentence_and_the_app_keeps_working(name):
    at = fill(app())
    svc = services_of(at)
    svc.client.sleep = lambda _seconds: None
    svc.sandbox.faults = FAULTS.get(name) or Faults(create_answer=CANNED[name])
    at.button(key="cp_submit").click().run()
    assert_calm(at)
    svc.sandbox.faults = Faults()
    if at.button(key="cp_settle_panel") if any(b.key == "cp_settle_panel" for b in at.button) else None:
        at.button(key="cp_settle_panel").click().run()
        assert not at.exception
    fill(at, email="next@example.com").button(key="cp_submit").click().run()
    assert not at.exception and any("was created in Upheal" in s.value for s in at.success)
    record(f"api fault: {name}", shown_a_sentence=True, app_kept_running=True,
           unsafe_links_rendered=0)


HOSTILE_NAMES = [
    "<script>alert('x')</script>", "[click](javascript:alert(1))", "**bold** _it_ `code`",
    "Zoë 👩‍⚕️ Müller", "مريم الحسن", "שרה לוי", "=HYPERLINK(\"http://evil\",\"x\")",
    "+SUM(A1:A9)", "-2+3", "@cmd", "https://evil.example/phish", "A" * 10_000,
]


@pytest.mark.parametrize("name", HOSTILE_NAMES, ids=range(len(HOSTILE_NAMES)))
def test_hostile_names_are_refused_or_shown_inert_and_exports_stay_safe(name):
    at = fill(app(), first=name, last=name[:50])
    at.button(key="cp_submit").click().run()
    assert not at.exception
    text = everything_shown(at)
    assert not UNSAFE_LINK.search(text)
    assert "](" not in text.replace("\\](", "").replace("\\]\\(", "")  # no live markdown link
    refused = bool(at.error)  # a validation message (too long, required...)
    assert refused or any("was created in Upheal" in s.value for s in at.success)
    if refused:
        return
    at.switch_page("pages/history.py").run()
    assert not at.exception and not UNSAFE_LINK.search(everything_shown(at))
    svc = services_of(at)
    scope = svc.history.scope_for(fingerprint(svc.secret, DEMO_KEY))
    frame = pd.read_csv(io.BytesIO(history_csv(svc.reads, scope)), dtype=str,
                        keep_default_na=False, encoding="utf-8-sig")
    assert not any(str(c).startswith(FORMULA_PREFIXES) for c in frame.to_numpy().ravel())
    assert formulas(history_xlsx(svc.reads, scope)) == []  # strings, never formulas


form_text = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=60)


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(first=form_text, last=form_text, email=form_text, npi=form_text, phone=form_text,
       reference=form_text)
def test_random_form_values_only_ever_give_messages(first, last, email, npi, phone, reference):
    at = fill(app(), first=first, last=last, email=email, cp_npi=npi, cp_phone_number=phone,
              cp_partner_user_id=reference)
    at.button(key="cp_submit").click().run()
    assert not at.exception
    assert at.success or at.error or at.warning
    assert not UNSAFE_LINK.search(everything_shown(at))
