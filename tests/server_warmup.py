"""Loaded once in the forkserver that also starts the browser tests' `streamlit run` servers
(tests/children.py): Streamlit's command line and web server, and the libraries and the
console's own modules its pages load on their first runs. Each server started by the suite
(54 in a run, a quarter of them restarts after a kill) spent about a second of CPU importing
these again. Nothing here reads the environment or leaves a thread running: each server still
parses its own settings and environment, as `python -m streamlit run` does."""

from __future__ import annotations

import functools
import importlib
import pkgutil

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
import streamlit.delta_generator
import streamlit.web.bootstrap  # noqa: F401
import streamlit.web.cli  # noqa: F401
import streamlit.web.server.starlette.starlette_server  # noqa: F401
import uvicorn  # noqa: F401
import xlsxwriter  # noqa: F401
from streamlit.components.v2 import manifest_scanner

import components
from partner_console.choices import country_choices, locale_choices

# What each server did again as it started, done once here for all the servers forked from
# this process: the scan of every installed distribution's metadata for Streamlit components
# (the installed packages do not change while the tests run; tests/conftest.py does the same
# for AppTest's runs), and the check behind Streamlit's "use `streamlit run`" warning, which
# read the source of every frame on the stack (and, under a forkserver started with
# `python -c`, took the server for a REPL and said so in its log).
manifest_scanner.scan_component_manifests = functools.cache(
    manifest_scanner.scan_component_manifests)
manifest_scanner.scan_component_manifests()
streamlit.delta_generator._use_warning_has_been_displayed = True

# The console's own modules the pages import (their first run in each server imported them,
# and read the country and language names from phonenumbers and babel: 0.17 s of CPU). They
# read no setting as they are imported; the choices are the same for every server.
for module in pkgutil.iter_modules(components.__path__):
    importlib.import_module(f"components.{module.name}")
country_choices()
locale_choices()
