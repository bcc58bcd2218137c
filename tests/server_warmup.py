"""Loaded once in the forkserver that also starts the browser tests' `streamlit run` servers
(tests/children.py): Streamlit's command line and web server, and the libraries the console's
pages load on their first runs. Each server started by the suite (54 in a run, a quarter of them
restarts after a kill) spent about a second of CPU importing these again. Nothing here reads
the environment or starts a thread: each server still parses its own settings and
environment, as `python -m streamlit run` does."""

from __future__ import annotations

import altair  # noqa: F401
import babel.dates  # noqa: F401
import httpx  # noqa: F401
import pandas  # noqa: F401
import phonenumbers  # noqa: F401
import psycopg  # noqa: F401
import pyarrow  # noqa: F401
import pydantic  # noqa: F401
import sqlalchemy  # noqa: F401
import starlette  # noqa: F401
import streamlit.web.bootstrap  # noqa: F401
import streamlit.web.cli  # noqa: F401
import streamlit.web.server.starlette.starlette_server  # noqa: F401
import uvicorn  # noqa: F401
import xlsxwriter  # noqa: F401
