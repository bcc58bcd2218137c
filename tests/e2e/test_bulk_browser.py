"""Bulk import in a real browser: upload, preview, import on the sandbox, download results."""

from __future__ import annotations

import pandas as pd
import pytest

from tests.e2e.conftest import start_app, stop_app, wait_for_app_run

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]


@pytest.fixture
def app_on_loopback_sandbox(tmp_path, loopback_sandbox):
    app = start_app(tmp_path, {"UPHEAL_API_BASE_URL": loopback_sandbox.base_url,
                               "UPHEAL_RATE_LIMIT_PER_MINUTE": "6000"})
    yield app, loopback_sandbox.app
    stop_app(app)


def test_upload_preview_import_and_download_results(browser, app_on_loopback_sandbox, tmp_path):
    app, sandbox = app_on_loopback_sandbox
    sandbox.handle("POST", "/users/providers", {"Authorization": "sandbox-demo-key"},
                   b'{"firstName": "P11", "lastName": "Test", "email": "p11@example.com"}')
    upload = tmp_path / "practice.csv"
    upload.write_text("First Name;Surname;E-mail;NPI\n"
                      + "".join(f"P{i};Test;p{i}@example.com;1234567893\n" for i in range(12))
                      + "Bad;Row;not-an-email;\n"
                      + "P0;Again;P0@example.com;\n", encoding="utf-8")
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    page.goto(app.url + "/bulk_import")
    wait_for_app_run(page)
    key_box = page.get_by_role("textbox", name="API key", exact=True)
    key_box.fill("sandbox-demo-key")
    key_box.press("Enter")
    page.get_by_text("2. Upload your file").wait_for()
    page.locator("input[type=file]").set_input_files(str(upload))
    page.get_by_text("4. Check the rows").wait_for(timeout=30_000)
    wait_for_app_run(page)
    body = page.inner_text("body")
    assert "Read 14 row(s) from a CSV" in body and "semicolons" in body
    page.get_by_role("button", name="Check which already have an Upheal account").click()
    page.get_by_role("button", name="Start import of 11 provider(s)").wait_for()
    page.get_by_text("1 already have an account and will be skipped").wait_for()  # feedback
    wait_for_app_run(page)
    page.screenshot(path=str(tmp_path / "preview.png"), full_page=True)

    page.get_by_role("button", name="Start import of 11 provider(s)").click()
    page.get_by_role("button", name="Yes, start the import").click()
    page.get_by_text("Import 1: Finished").wait_for(timeout=60_000)
    wait_for_app_run(page)
    assert len(sandbox.users()) == 12  # 11 new and the one that was there
    page.screenshot(path=str(tmp_path / "finished.png"))

    with page.expect_download() as info:
        page.get_by_role("button", name="Download results (CSV)").click()
    target = tmp_path / "results.csv"
    info.value.save_as(target)
    results = pd.read_csv(target, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    assert len(results) == 14
    created = results[results["Outcome"] == "Created"]
    assert len(created) == 11
    assert sorted(created["Invite link"]) == sorted(
        u["inviteUrl"] for u in sandbox.users() if u["email"] != "p11@example.com")
    assert list(results.columns[2:6]) == ["First Name", "Surname", "E-mail", "NPI"]  # as uploaded
    not_sent = results[results["Outcome"].str.startswith("Not sent: ")]
    assert sorted(not_sent["First Name"]) == ["Bad", "P0", "P11"]  # names kept, whatever happened
    assert set(results["Outcome"]) - set(not_sent["Outcome"]) == {"Created"}
    table = page.get_by_test_id("stDataFrame").last.inner_text()
    assert "None" not in table  # blank link cells, not "None"
    page.close()
