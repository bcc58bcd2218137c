"""History's Excel download. Up to 10,000 providers (1,000 for a search: History counts no
further) the file is made when the button is clicked (a second or two). A larger one takes
longer, so it is built on the server first, in a thread of its own (no st.* calls there), its
progress drawn by a fragment, then downloaded: the person sees it move instead of a button
that seems to do nothing."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from datetime import tzinfo
from typing import Any

import streamlit as st

from partner_console.exports import history_xlsx
from partner_console.storage import HistoryFilter, Scope
from partner_console.storage.activity import EXPORTED, logged

LARGE = 10_000  # providers: beyond this, the file is built with its progress shown
EVERY_ROW = 10**12  # a count's cap that no History reaches
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
_BUILD = "hi_xlsx_build"


@dataclass
class _Build:
    """One Excel file being built for this session (its thread writes `done`, `data`)."""

    of: tuple[Any, ...]  # what it is a file of: the scope, filters, zone and practice names
    total: int
    done: int = 0
    data: bytes | None = None
    failed: bool = False
    thread: threading.Thread | None = field(default=None, repr=False)

    @property
    def running(self) -> bool:
        return self.data is None and not self.failed


def excel_download(svc: Any, scope: Scope, filters: HistoryFilter, zone: tzinfo,
                   practices: dict[str, str], who: Any, described: str, file_name: str,
                   total: int, counted_to: int) -> None:
    """The Excel button of History's export row, drawn where it is called. `total`: how many
    providers match, as History counted them (no further than `counted_to` + 1: a search's
    count stops past 1,000, so a search with more is built with its progress too, rather than
    counted again for this button)."""
    beyond = min(LARGE, counted_to)  # more than this: built with its progress
    make = logged(svc.activity, scope, who, EXPORTED,
                  f"Downloaded the History as Excel ({described}).",
                  lambda: history_xlsx(svc.reads, scope, filters, zone, practices))
    if total <= beyond:
        st.download_button("Download Excel", make, file_name=file_name, mime=XLSX,
                           key="hi_xlsx", icon=":material/table_view:", on_click="ignore")
        return
    of = (scope, filters, getattr(zone, "key", str(zone)), tuple(sorted(practices.items())))
    build = st.session_state.get(_BUILD)
    if build is None or build.of != of:
        if st.button("Build the Excel file", key="hi_xlsx_start", icon=":material/table_view:",
                     help=f"More than {beyond:,} providers: the file is built on the server "
                          "first (about a second per 5,000), then downloaded."):
            st.session_state[_BUILD] = _start(svc, scope, filters, zone, practices, of)
            _progress()
        return
    if build.running:
        _progress()
    elif build.failed:
        st.error("The Excel file could not be built. Try again in a moment, or download the "
                 "CSV.")
        if st.button("Try again", key="hi_xlsx_again"):
            st.session_state[_BUILD] = _start(svc, scope, filters, zone, practices, of)
            st.rerun()
    else:
        data = build.data
        st.download_button(
            f"Download Excel ({build.total:,} providers)",
            logged(svc.activity, scope, who, EXPORTED,
                   f"Downloaded the History as Excel ({described}).", lambda: data),
            file_name=file_name, mime=XLSX, key="hi_xlsx", icon=":material/table_view:",
            on_click="ignore", type="primary")


def _start(svc: Any, scope: Scope, filters: HistoryFilter, zone: tzinfo,
           practices: dict[str, str], of: tuple[Any, ...]) -> _Build:
    # Counted to the end (History's own counts stop at 10,000: "10,000+"): the rows are read
    # anyway, and the person is told how many the file holds.
    build = _Build(of, total=svc.reads.count(scope, filters, cap=EVERY_ROW))

    def run() -> None:
        try:
            build.data = history_xlsx(svc.reads, scope, filters, zone, practices,
                                      progress=lambda done: setattr(build, "done", done))
        except Exception:  # the person is told in words; the server log has the details
            logging.getLogger(__name__).exception("an Excel export could not be built")
            build.failed = True

    build.thread = threading.Thread(target=run, name="excel-export", daemon=True)
    build.thread.start()
    return build


@st.fragment(run_every=0.5)
def _progress() -> None:
    build = st.session_state.get(_BUILD)
    if build is None:
        return
    if not build.running:
        st.rerun()  # the whole page: its Download button replaces this
    shown = min(build.done, build.total)
    st.progress(shown / max(build.total, 1),
                text=f"Building the Excel file: {shown:,} of {build.total:,} providers…")
