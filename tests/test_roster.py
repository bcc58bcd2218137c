"""Roster sync's plan: matching by the partner's id then email, each category with its reason,
blanks that change nothing, the safeguard; and, for any roster and history (hypothesis),
applying the plan then planning the same roster again plans nothing."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from partner_console.bulk.columns import auto_map
from partner_console.bulk.prepare import prepare_rows
from partner_console.bulk.read import read_file
from partner_console.roster import (
    CHANGED,
    CONFLICT,
    MISSING,
    NEW,
    UNCHANGED,
    plan_sync,
)
from partner_console.storage import ProviderRow

T1 = "2fb81b0a-611b-11ed-9b6a-0242ac120002"
NPIS = ["1234567893", "1245319599", "1003000126"]


def known(n: int, *, pid: str | None = None, email: str | None = None, active: bool = True,
          **values) -> ProviderRow:
    return ProviderRow(
        id=n, created_at=datetime(2026, 1, 1), updated_at=datetime(2026, 1, 1),
        created_by="Ann", organization_id="org", status="created", source="form",
        email=email or f"p{n}@example.com", first_name=values.get("first", f"P{n}"),
        last_name=values.get("last", "Smith"), partner_user_id=pid, phone_number=None,
        phone_country_code=None, locale=None,
        default_note_template_ids=values.get("templates", []),
        national_provider_identifier=values.get("npi"), therapy_licence=values.get("licence"),
        note_identifier=values.get("note"), user_id=f"u{n}", invite_url=f"https://x.test/{n}",
        private_room_link=None, error_text=None,
        deactivated_at=None if active else datetime(2026, 2, 1))


def roster(*lines: str, header: str = "First name,Last name,Email,Employee ID,NPI,Licence"):
    read = read_file((header + "\n" + "\n".join(lines) + "\n").encode(), "roster.csv")
    return prepare_rows(read, auto_map(read.headers), [])


def test_each_row_falls_in_one_category_with_what_to_do():
    history = [known(1, pid="E1"), known(2, email="two@example.com"),
               known(3, pid="E3", npi=NPIS[0]), known(4, pid="E4", active=False),
               known(5, pid="E5"), known(6, pid="E6")]
    plan = plan_sync(roster(
        "P1,Smith,p1@example.com,E1,,",  # unchanged (matched by id)
        "Two,Smith,two@example.com,,,LCSW",  # changed: first name, licence (matched by email)
        ",,p3-new@example.com,E3,1245319599,",  # changed NPI; blank names kept; email fixed
        "New,Person,new@example.com,E9,,",  # new
        "P4,Smith,p4@example.com,E4,,",  # deactivated: a decision
        "Eve,Smith,p5@example.com,E7,,",  # p5's email with another id: a decision
        "Dup,Smith,dup@example.com,E9,,",  # the same id as the new row: a decision
        "Bad,Smith,not-an-email,E10,,",  # invalid new row: a decision
    ), history)
    by_row = {r.row_number: r for r in plan.rows if r.row_number}
    assert by_row[2].category == UNCHANGED and by_row[2].provider_id == 1
    assert by_row[3].category == CHANGED and by_row[3].change.new == {
        "first_name": "Two", "therapy_licence": "LCSW"}
    assert by_row[4].category == CHANGED and by_row[4].change.new == {
        "national_provider_identifier": "1245319599"}
    assert by_row[4].fixed and "Email can't be changed in Upheal" in by_row[4].fixed[0]
    assert "NPI: 1234567893 → 1245319599" in by_row[4].note
    assert by_row[5].category == NEW and by_row[5].create["email"] == "new@example.com"
    assert by_row[6].category == CONFLICT and "reactivate them in History first" in \
        by_row[6].note
    assert by_row[7].category == CONFLICT and "belongs to E5" in by_row[7].note
    assert by_row[8].category == CONFLICT and "as row 5" in by_row[8].note
    assert by_row[9].category == CONFLICT and "Needs fixing" in by_row[9].note
    missing = [r for r in plan.rows if r.category == MISSING]
    assert [r.provider_id for r in missing] == [6]  # 5 is held by the conflict; 4 inactive
    assert plan.active_total == 5
    assert [r.category for r in plan.to_send(False)] == [CHANGED, CHANGED, NEW]
    assert [r.category for r in plan.to_send(True)][-1] == MISSING


def test_a_blank_cell_changes_nothing_and_the_same_roster_twice_plans_nothing():
    history = [known(1, pid="E1", npi=NPIS[0], licence="LCSW", templates=[T1])]
    plan = plan_sync(roster(",,,E1,,"), history)
    assert [r.category for r in plan.rows] == [UNCHANGED]
    assert plan.nothing_to_do(deactivate_missing=True)


def test_the_safeguard_says_why_the_numbers_look_wrong():
    history = [known(n, pid=f"E{n}") for n in range(1, 11)]
    plan = plan_sync(roster(*(f"P{n},Smith,p{n}@example.com,E{n},," for n in range(1, 8))),
                     history)
    assert plan.count(MISSING) == 3
    reason = plan.looks_wrong(True, last_rows=None)
    assert reason and "3 of your 10 active providers (30%" in reason
    assert plan.looks_wrong(False, last_rows=None) is None
    small = plan_sync(roster(*(f"P{n},Smith,p{n}@example.com,E{n},," for n in range(1, 10))),
                      history)
    assert small.looks_wrong(True, last_rows=None) is None  # 1 of 10: fine
    assert "last sync's had 30" in (small.looks_wrong(True, last_rows=30) or "")


# -- any roster, any history ------------------------------------------------------------------
people = st.integers(min_value=0, max_value=7)
cells = st.fixed_dictionaries({
    "who": people, "with_id": st.booleans(), "first": st.sampled_from(["", "Ann", "Bo"]),
    "npi": st.sampled_from(["", *NPIS]), "licence": st.sampled_from(["", "LCSW", "PsyD"]),
})


def _apply(plan, history: list[ProviderRow]) -> list[ProviderRow]:
    """What History holds after the plan ran (as the sync job writes it)."""
    by_id = {k.id: k for k in history}
    next_id = max(by_id, default=0) + 1
    for row in plan.to_send(deactivate_missing=True):
        if row.category == NEW:
            body = row.create
            by_id[next_id] = known(next_id, pid=body.get("partnerUserId"), email=body["email"],
                                   first=body["firstName"], last=body["lastName"],
                                   npi=body.get("nationalProviderIdentifier"),
                                   licence=body.get("therapyLicence"))
            next_id += 1
        elif row.category == CHANGED:
            current = by_id[row.provider_id]
            by_id[row.provider_id] = replace(current, **{
                k: (v.value if hasattr(v, "value") else v) for k, v in row.change.new.items()})
        elif row.category == MISSING:
            by_id[row.provider_id] = replace(by_id[row.provider_id],
                                             deactivated_at=datetime(2026, 3, 1))
    return list(by_id.values())


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(cells, min_size=1, max_size=10), st.lists(cells, max_size=8))
def test_a_roster_applied_then_uploaded_again_changes_nothing(lines, existing):
    history = []
    for n, c in enumerate(existing, start=1):
        history.append(known(n, pid=f"E{c['who']}" if c["with_id"] else None,
                             email=f"w{c['who']}@example.com" if n % 2 else
                             f"w{c['who']}x{n}@example.com", npi=c["npi"] or None,
                             licence=c["licence"] or None))
    text = [f"{c['first'] or ''},{'Smith' if c['first'] else ''},"
            f"w{c['who']}@example.com,{'E' + str(c['who']) if c['with_id'] else ''},"
            f"{c['npi']},{c['licence']}" for c in lines]
    rows = roster(*text)
    first = plan_sync(rows, history)
    assert all(r.category in (NEW, CHANGED, UNCHANGED, MISSING, CONFLICT) for r in first.rows)
    assert len([r for r in first.rows if r.row_number]) == len(rows)  # every row said
    after = _apply(first, history)
    second = plan_sync(rows, after)
    sent_again = [(r.category, r.row_number, r.note) for r in second.to_send(True)]
    assert sent_again == [], (json.dumps(text), sent_again)
