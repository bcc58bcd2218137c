"""Roster sync in AppTest: the preview's numbers hold over reruns, the safeguard asks for the
number, the changes download before anything is sent, Apply runs the sync as a job, and the
same roster again changes nothing and says so."""

from __future__ import annotations

import csv
import io

from tests.conftest import DEMO_KEY
from tests.test_pages import app, isolated_console, seed_history, services_of  # noqa: F401


def _metrics(at) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def _upload(at, data: str, generation: int = 0):
    at.file_uploader(key=f"rs_upload_{generation}").set_value(
        ("roster.csv", data.encode(), "text/csv"))
    return at.run()


def _roster(rows: int, *, change_npi: bool = False) -> str:
    """p000..p{rows-1} as History has them (seed_history), one changed, and one new."""
    lines = ["First name,Last name,Email,NPI"]
    for i in range(rows):
        npi = "1234567893" if change_npi and i == 0 else ""
        lines.append(f"P{i:03d},Test,p{i:03d}@example.com,{npi}")
    lines.append("Nina,New,nina.new@example.com,")
    return "\n".join(lines) + "\n"


def test_preview_apply_and_the_same_roster_again():
    at = app(page="pages/roster_sync.py")
    seed_history(at, 10)
    at.run()
    _upload(at, _roster(6, change_npi=True))
    expected = {"New": "1", "Changed": "1", "Unchanged": "5", "Not in the file": "4",
                "Needs a decision": "0"}
    for _ in range(3):
        assert _metrics(at) == expected
        at.run()
    download = at.get("download_button")
    assert any(d.proto.label == "Download the changes (CSV)" for d in download)
    # deactivating 4 of 10 active (40%) looks wrong: the number must be typed first
    at.checkbox(key="rs_deactivate").check().run()
    assert any("This looks wrong" in e.value and "4 of your 10 active" in e.value
               for e in at.error)
    assert not [b for b in at.button if b.key == "rs_apply_ask"]
    at.text_input(key="rs_typed").input("3").run()
    assert not [b for b in at.button if b.key == "rs_apply_ask"]
    at.text_input(key="rs_typed").input("4").run()
    at.button(key="rs_apply_ask").click().run()
    assert any("Apply 6 change(s)" in w.value for w in at.warning)
    at.button(key="rs_apply").click().run()
    job_id = at.session_state["rs_job"]
    services_of(at).runners.get(job_id).join(60)
    at.run()
    assert _metrics(at) == {"Created": "1", "Changed": "1", "Deactivated": "4", "Failed": "0",
                            "Waiting": "0"}
    svc = services_of(at)
    users = {u["email"]: u for u in svc.sandbox.users()}
    assert users["p000@example.com"]["nationalProviderIdentifier"] == "1234567893"
    assert svc.sandbox.is_deactivated("p009@example.com")
    assert not svc.sandbox.is_deactivated("p005@example.com")
    assert "nina.new@example.com" in users
    results = [b for b in at.get("download_button") if b.key == "rs_results_csv"]
    assert results
    # Who each result is about, with the file's line for rows of the file and none for the
    # providers not in it (they were numbered after the file's last line, never beside one)
    shown = next(d.value for d in at.dataframe if "Outcome" in d.value.columns)
    assert set(shown[shown["Outcome"] == "Deactivated"]["Row"]) == {""}
    from partner_console.bulk.files import results_csv
    rows = svc.jobs.rows(job_id)
    table = list(csv.DictReader(io.StringIO(results_csv(rows, named=True).decode("utf-8-sig"))))
    gone = [t for t in table if t["Outcome"] == "Deactivated"]
    assert len(gone) == 4 and {t["Row"] for t in gone} == {""}
    assert "p009@example.com" in {t["Email"] for t in gone} and all(t["Name"] for t in gone)
    lines = [t["Row"] for t in table if t["Row"]]
    assert lines and len(lines) == len(set(lines)) == 2  # the new and the changed row
    assert min(r.row_number for r in rows if not r.cells) > max(int(n) for n in lines)
    # the same roster again: nothing to change, and it says so
    at.button(key="rs_new").click().run()
    _upload(at, _roster(6, change_npi=True), generation=1)
    assert _metrics(at) == {"New": "0", "Changed": "0", "Unchanged": "7",
                            "Not in the file": "0", "Needs a decision": "0"}
    assert any("Nothing to change" in s.value for s in at.success)
    assert not [b for b in at.button if b.key == "rs_apply_ask"]


def test_the_changes_file_lists_every_row_before_anything_is_sent():
    from partner_console.roster import PREVIEW_HEADERS, plan_sync, preview_rows
    from partner_console.storage import fingerprint

    at = app(page="pages/roster_sync.py")
    seed_history(at, 3)
    svc = services_of(at)
    scope = svc.history.scope_for(fingerprint(svc.secret, DEMO_KEY))
    from partner_console.bulk.columns import auto_map
    from partner_console.bulk.prepare import prepare_rows
    from partner_console.bulk.read import read_file

    read = read_file(_roster(2).encode(), "roster.csv")
    plan = plan_sync(prepare_rows(read, auto_map(read.headers), []),
                     list(svc.reads.iter_rows(scope)))
    lines = list(csv.reader(io.StringIO("\n".join(
        ",".join(row) for row in [PREVIEW_HEADERS, *preview_rows(plan, False)]))))
    assert [line[0] for line in lines[1:]] == ["Unchanged", "Unchanged", "New",
                                               "Not in the file: left as it is"]
    calls_before = len(svc.sandbox.calls)
    at.run()
    assert len(svc.sandbox.calls) == calls_before  # a preview sends nothing


def test_a_sync_left_paused_is_shown_and_a_new_one_waits_for_it():
    from partner_console.bulk.columns import auto_map
    from partner_console.bulk.prepare import prepare_rows
    from partner_console.bulk.read import read_file
    from partner_console.jobs.engine import cancel_job
    from partner_console.jobs.kinds.sync import create_sync
    from partner_console.roster import plan_sync
    from partner_console.storage import fingerprint

    at = app(page="pages/roster_sync.py")
    seed_history(at, 3)
    svc = services_of(at)
    scope = svc.history.scope_for(fingerprint(svc.secret, DEMO_KEY))
    read = read_file(_roster(2, change_npi=True).encode(), "roster.csv")
    plan = plan_sync(prepare_rows(read, auto_map(read.headers), []),
                     list(svc.reads.iter_rows(scope)))
    job_id, _ = create_sync(svc.jobs, scope, created_by="Ann", file_name="roster.csv",
                            plan=plan, deactivate_missing=False, start_token="left-paused")
    at.run()  # a colleague's sync, left paused: shown instead of the upload
    assert any(f"Roster sync {job_id}: Paused" in h.value for h in at.header)
    assert not [b for b in at.button if b.key == "rs_new"]
    assert any("One sync runs at a time" in c.value for c in at.caption)
    cancel_job(svc, scope, job_id)  # (as its panel's Cancel does)
    at.run()
    at.button(key="rs_new").click().run()  # cancelled: a new roster may be uploaded
    assert at.file_uploader(key="rs_upload_0") is not None
    assert not at.exception
