"""Loaded once in the children's forkserver (tests/children.py), after the children's own
modules: what they would otherwise each load again after the fork, at every kill and restart.
Their database driver (SQLAlchemy loads it on the first connect), the HTTP client's transport,
the job kinds, and the Upheal client's TLS context (reading the CA bundle)."""

from __future__ import annotations

import httpcore  # noqa: F401
import psycopg  # noqa: F401
import python_calamine  # noqa: F401

import partner_console.jobs.kinds  # noqa: F401
from partner_console.api.client import _tls

_tls()
