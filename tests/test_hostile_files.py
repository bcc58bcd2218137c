"""Hostile uploads get a sentence and hurt nobody: each is refused before it is expanded, and
the reading happens in a child process with a memory cap and a time limit."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest

from partner_console.bulk.isolated import MEMORY_LIMIT, read_file_isolated
from partner_console.bulk.read import ImportFileError, read_file
from tests.hostile_files import MAKERS, hostile, utf16_files
from tests.report import record


def _peak_of_the_reading_child(data: bytes, name: str) -> float:
    """Megabytes the reading child used at its peak, as it reports it (VmHWM)."""
    done = subprocess.run([sys.executable, "-m", "partner_console.bulk.isolated",
                           str(MEMORY_LIMIT), name], input=data, capture_output=True, check=True)
    return json.loads(done.stdout)["peak_kb"] / 1024


@pytest.mark.parametrize("name", list(MAKERS))
def test_each_hostile_file_is_refused_with_a_sentence_by_a_capped_child(name):
    data = hostile(name)
    upload = "upload.xlsx" if data[:2] == b"PK" else "upload.csv"
    started = time.monotonic()
    with pytest.raises(ImportFileError) as info:
        read_file_isolated(data, upload)
    seconds = time.monotonic() - started
    message = str(info.value)
    assert message.endswith(".") and len(message) < 300 and "Traceback" not in message
    assert any(word in message for word in ("Split it", "save it again", "Save it again",
                                            "Check that row"))
    record(f"hostile upload: {name}", bytes_on_the_wire=len(data), seconds=round(seconds, 2),
           child_peak_mb=round(_peak_of_the_reading_child(data, upload)),
           child_cap_mb=MEMORY_LIMIT // 2**20, refused=message[:80])


@pytest.mark.parametrize("name", list(MAKERS))
def test_the_reader_refuses_them_before_expanding_them(name):
    # In this process, without the child's cap: the limits alone must stop each one.
    data = hostile(name)
    with pytest.raises(ImportFileError):
        read_file(data, "upload.xlsx" if data[:2] == b"PK" else "upload.csv")


def test_a_file_that_exhausts_the_childs_memory_gets_a_sentence():
    # Within every limit (5,000 rows of 120 distinct cells, 3.5 MB), but heavy once read: with
    # the child capped at 100 MB it cannot finish, and the person is told in words. A small
    # file reads fine under the same cap, so it is the file that ran out, not the child.
    cap = 100 * 1024 * 1024
    small = b"First name,Last name,Email\nA,B,a@example.com\n"
    assert read_file_isolated(small, "small.csv", memory_limit=cap).rows
    wide = b",".join(b"c%d" % i for i in range(120)) + b"\n" + b"".join(
        b",".join(b"%x" % (i * 120 + j) for j in range(120)) + b"\n" for i in range(4999))
    assert len(read_file(wide, "wide.csv").rows) == 4999  # a valid file
    with pytest.raises(ImportFileError, match="far more memory"):
        read_file_isolated(wide, "wide.csv", memory_limit=cap)


def test_a_file_that_takes_too_long_is_stopped_with_a_sentence():
    ok = b"First name,Last name,Email\nA,B,a@example.com\n"
    with pytest.raises(ImportFileError, match="took too long"):
        read_file_isolated(ok, "fine.csv", time_limit=0.001)


@pytest.mark.parametrize("name", list(utf16_files()))
def test_utf16_files_are_read_like_any_csv(name):
    read = read_file_isolated(utf16_files()[name], "unicode.txt")
    assert read.headers == ["First name", "Last name", "Email"]
    assert [cells["First name"] for _, cells in read.rows] == ["Zoë", "José"]
    assert read.encoding == "utf-16"


def test_a_normal_workbook_still_reads_through_the_child():
    from tests.hostile_files import _sheet, workbook

    data = workbook(_sheet("A1:C2", [("A", 1, "First name"), ("B", 1, "Last name"),
                                     ("C", 1, "Email"), ("A", 2, "Zoë"), ("B", 2, "Müller"),
                                     ("C", 2, "zoe@example.com")]))
    read = read_file_isolated(data, "practice.xlsx")
    assert read.file_format == "xlsx" and read.rows[0][1]["Email"] == "zoe@example.com"
