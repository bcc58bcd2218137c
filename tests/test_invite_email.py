"""Email texts are data, never a program: plain {name} placeholders only, bounded sizes, and a
rendered message never longer than its text plus the values put in (hypothesis)."""

from __future__ import annotations

import time
import tracemalloc

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from partner_console.invite_email import (
    DEFAULT_EMAIL_TEMPLATE,
    DEFAULT_SUBJECT,
    PLACEHOLDER_LIMIT,
    PLACEHOLDERS,
    SUBJECT_LIMIT,
    TEXT_LIMIT,
    check_template,
    fill,
    render_email,
)
from tests.report import record

VALUES = {"first_name": "Zoë", "last_name": "Müller", "invite_link": "https://x.test/i/1",
          "room_link": "https://x.test/r/1", "sender_name": "Ann"}
HOSTILE = "Hello {first_name:x>300000000}, sign up here: {invite_link}"


def render(template: str, **values: str):
    return render_email(template, **{**VALUES, **values})


@pytest.mark.parametrize("placeholder", [
    "{first_name:x>300000000}", "{first_name!r}", "{first_name!s:>9}", "{first_name[0]}",
    "{first_name.__class__}", "{invite_link:{invite_link}}", "{0}", "{}", "{first_name:}",
])
def test_anything_but_a_plain_placeholder_is_refused_with_its_name(placeholder):
    problem = check_template(f"Hi {placeholder} {{invite_link}}")
    assert problem is not None
    assert placeholder.split(":")[0].split("!")[0].split("[")[0].split(".")[0] in problem \
        or "Unknown placeholder" in problem


def test_the_300_megabyte_text_is_refused_and_never_rendered():
    assert "{first_name:x>300000000} is not allowed" in check_template(HOSTILE)
    tracemalloc.start()
    message = render(HOSTILE)  # as saved before this rule: the default text is used
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert message == render(DEFAULT_EMAIL_TEMPLATE)
    assert peak < 1_000_000


def test_texts_and_placeholders_have_caps():
    assert "at most 20,000" in check_template("{invite_link}" + "x" * TEXT_LIMIT)
    many = " ".join(["{first_name}"] * PLACEHOLDER_LIMIT) + " {invite_link}"
    assert f"more than {PLACEHOLDER_LIMIT} placeholders" in check_template(many)
    assert check_template("Hi {first_name} {{braces}} {invite_link}") is None
    subject = render("Subject: " + "S" * 5000 + "\n\n{invite_link}").subject
    assert len(subject) == SUBJECT_LIMIT
    assert render("Subject:   \n\n{invite_link}").subject == DEFAULT_SUBJECT


def test_values_are_put_in_as_they_are_never_read_as_text_to_fill():
    message = render("Hi {first_name} {invite_link}", first_name="{invite_link}{0:>99}")
    assert message.body == "Hi {invite_link}{0:>99} https://x.test/i/1\n"


pieces = st.one_of(
    st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=30),
    st.sampled_from([*(f"{{{p}}}" for p in PLACEHOLDERS), "{", "}", "{{", "}}", "{x}",
                     "{first_name:>50}", "{first_name!r}", "{room_link[0]}", "Subject: "]),
)
value_text = st.text(max_size=300)


@settings(max_examples=400, deadline=None)
@given(st.lists(pieces, max_size=40), st.fixed_dictionaries({p: value_text
                                                             for p in PLACEHOLDERS}))
def test_a_message_is_never_longer_than_its_text_plus_the_values_put_in(parts, values):
    template = "".join(parts)
    problem = check_template(template)
    if problem is not None:
        assert isinstance(problem, str) and problem  # a sentence, never an exception
        return
    body = fill(template, values)
    used = sum(template.count("{" + p + "}") * len(values[p]) for p in PLACEHOLDERS)
    assert len(body) <= len(template) + used
    message = render_email(template, **values)
    assert len(message.subject) <= SUBJECT_LIMIT
    assert len(message.subject) + len(message.body) <= len(template) + used + \
        len(DEFAULT_SUBJECT) + 1


def test_the_worst_allowed_text_renders_in_milliseconds_and_little_memory():
    """The largest text the rules let through: 20,000 characters, 50 placeholders, each a
    2,000-character link. Recorded for docs/RELIABILITY.md (not a timed assertion)."""
    template = ("{invite_link} " * (PLACEHOLDER_LIMIT - 1) + "{invite_link}").ljust(
        TEXT_LIMIT, "x")
    assert check_template(template) is None
    link = "https://x.test/" + "a" * 1985
    tracemalloc.start()
    started = time.perf_counter()
    message = render(template, invite_link=link)
    seconds = time.perf_counter() - started
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert len(message.body) <= TEXT_LIMIT + PLACEHOLDER_LIMIT * len(link)
    assert peak < 2_000_000  # a few copies of a 120 kB message, not megabytes per create
    record("email text renderer: worst allowed text", text_chars=len(template),
           placeholders=PLACEHOLDER_LIMIT, value_chars=len(link),
           message_chars=len(message.body), milliseconds=round(seconds * 1000, 2),
           peak_kib=round(peak / 1024))
