"""Overview: how onboarding is going, for a manager's first look.

Every number comes from the onboarding aggregates (storage/onboarding.py) or from counts that
stop early, so the page costs the same with ten thousand providers or a million.
"""

from __future__ import annotations

import altair as alt
import pandas as pd
import streamlit as st

from components.practice_picker import practice_label, practice_names
from components.router import page_body
from components.services import services
from components.session import organisation_page
from components.signups import auto_refresh, last_checked_line
from components.time_zone import person_zone
from partner_console.signup import INVITED
from partner_console.storage import HistoryFilter, Scope
from partner_console.storage.clock import utcnow
from partner_console.storage.onboarding import ALL
from partner_console.storage.tables import DEACTIVATED
from partner_console.when import invited_before

PENDING_DAYS = 3
WEEKS = 26


def _practice(scope: Scope) -> str | None:
    """Which practice Overview is read for (ALL, or None for the key's own organisation);
    asked only of a platform that keeps practices."""
    names = practice_names(scope)
    if not names:
        return ALL
    choice = st.selectbox("Practice", [ALL, "", *names], key="ov_practice",
                          format_func=lambda p: "Every practice" if p == ALL
                          else practice_label(scope, p, names))
    return None if choice == "" else choice


@organisation_page("Overview", "to see how onboarding is going")
def render(scope: Scope) -> None:
    svc = services()
    auto_refresh(svc, scope)
    practice = _practice(scope)
    only = () if practice == ALL else (practice or "",)
    numbers = svc.reads.overview(scope, weeks=WEEKS, practice=practice)
    cutoff = invited_before(PENDING_DAYS, utcnow(), person_zone())
    waiting = svc.reads.count(scope, HistoryFilter(signups=(INVITED,), invited_before=cutoff,
                                                   practices=only))
    running = sum(1 for job in svc.jobs.jobs(scope, limit=50) if job.live)
    deactivated = svc.reads.count(scope, HistoryFilter(statuses=(DEACTIVATED,),
                                                       practices=only))

    created, signed, rate = st.columns(3)
    median, pending, imports = st.columns(3)
    created.metric("Providers created", f"{numbers.created:,}")
    signed.metric("Signed up", f"{numbers.signed_up:,}")
    rate.metric("Sign-up rate", f"{numbers.signup_rate:.0%}" if numbers.signup_rate is not None
                else "–")
    median.metric("Median days to sign up", f"{numbers.median_days:g}"
                  if numbers.median_days is not None else "–",
                  help="From the invite to the first time Upheal said they had signed up.")
    pending.metric(f"Waiting over {PENDING_DAYS} days",
                   f"{waiting:,}" if waiting <= 10_000 else "10,000+",
                   help="Invited at least this long ago and not signed up: see Follow up.")
    imports.metric("Imports running", running)
    if deactivated:
        st.caption(f"{deactivated:,} provider(s) deactivated since (they count as created, "
                   "and Follow up leaves them out).")
    last_checked_line(svc, scope)
    st.caption("Counts include every key of your organisation.")

    st.header(f"The last {WEEKS} weeks")
    if not any(c or s for _, c, s in numbers.weeks):
        # (an empty chart is a flat line over an axis reading "0.000000")
        st.caption(f"No provider was created or signed up in the last {WEEKS} weeks. The chart "
                   "fills in as providers are created.")
        return
    frame = pd.DataFrame([{"Week": monday.strftime("%d %b %Y"), "Created": c, "Signed up": s}
                          for monday, c, s in numbers.weeks])
    long = frame.melt("Week", var_name="What", value_name="Providers")
    chart = alt.Chart(long).mark_bar().encode(
        x=alt.X("Week:O", title="Week starting Monday", sort=None,
                axis=alt.Axis(labelAngle=-45)),
        xOffset=alt.XOffset("What:N"),
        # Whole providers: no "0.5" between 0 and 1 when the counts are small.
        y=alt.Y("Providers:Q", title="Providers", axis=alt.Axis(format="d", tickMinStep=1)),
        color=alt.Color("What:N", title=None,
                        scale=alt.Scale(range=["#2f6f73", "#c2410c"])),
        tooltip=["Week:O", "What:N", "Providers:Q"],
    )
    st.altair_chart(chart, width="stretch")
    with st.expander("The same as a table"):
        st.dataframe(frame, hide_index=True, width="stretch")


page_body(render)
