"""The CSV writer's fast path writes exactly what the csv module writes."""

from __future__ import annotations

import csv
import io

from hypothesis import example, given, settings
from hypothesis import strategies as st

from partner_console.exports import csv_bytes, csv_chunks

cell = st.one_of(st.none(), st.text(alphabet=st.sampled_from('ab ,"\r\n\té='), max_size=6),
                 st.text(max_size=4))


@st.composite
def table(draw):
    """Rows of one width, now and then one of another width."""
    width = draw(st.integers(min_value=1, max_value=5))
    rows_ = draw(st.lists(st.lists(cell, min_size=width, max_size=width), max_size=30))
    if rows_ and draw(st.booleans()):
        rows_.insert(draw(st.integers(0, len(rows_))), draw(st.lists(cell, max_size=6)))
    return width, rows_


def written_by_csv(rows_: list[list[str | None]]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(rows_)
    return buffer.getvalue()


@settings(max_examples=300, deadline=None)
@given(table(), st.integers(min_value=1, max_value=7))
@example((3, [["a", "b"], ["x,y", "c", "d"]]), 7)  # a short row hiding a comma from the count
@example((1, [[""], ["a"]]), 2)  # a lone empty cell, which csv writes as ""
def test_fast_csv_equals_the_csv_module(width_and_rows, batch_size):
    width, rows_ = width_and_rows
    batches = [rows_[i:i + batch_size] for i in range(0, len(rows_), batch_size)]
    assert "".join(csv_chunks(batches, width)) == written_by_csv(rows_)


def test_rows_needing_quotes_among_plain_ones_are_quoted_and_read_back():
    data = [["Jane", "Smith", "Created", ""]] * 3 + [["Ann", 'LCSW "senior"', "Created, link "
                                                      "not returned", "two\nlines"]]
    file = csv_bytes(["First", "Last", "Status", "Note"], data, batch_size=2)
    assert file.startswith(b"\xef\xbb\xbf")
    read = list(csv.reader(io.StringIO(file.decode("utf-8-sig"), newline="")))
    assert read == [["First", "Last", "Status", "Note"], *data]
