"""The console's server: `streamlit run serve.py` (what `make run` and the image start).

The pages are app.py's (the router); this adds what a server does before anyone visits it:
it settles what its earlier life left behind (partner_console/startup.py), so that a server
restarted after a crash frees its jobs and emails at once, even if nobody opens it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import streamlit as st

from partner_console.startup import at_server_start


@asynccontextmanager
async def lifespan(_app: Any) -> AsyncIterator[None]:
    await asyncio.to_thread(at_server_start, st.get_option("server.port"))
    yield


app = st.App("app.py", lifespan=lifespan)
