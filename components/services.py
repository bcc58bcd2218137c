"""The composition root: the console's services, built once per server process and settings.

What is shared by every session lives here (the database, the client and its connection pool,
the job registry); what is one person's (the key, the page state) lives in session.py. The API
key is never an argument of a cached function and never set on the shared client.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import streamlit as st

from components.text import safe
from partner_console.api.client import UphealClient
from partner_console.changes import ProviderChanger
from partner_console.config import ConfigError, Settings, load_settings
from partner_console.connection import build_client
from partner_console.creation import ProviderCreator
from partner_console.jobs.engine import Registry
from partner_console.jobs.store import JobStore
from partner_console.mail.sender import Mailer, transport_for
from partner_console.sandbox import SandboxApp
from partner_console.startup import recover, stale_sends_after
from partner_console.storage import (
    FollowUp,
    History,
    LinkJournal,
    StorageError,
    load_or_create_secret,
    make_engine,
    migrate,
)
from partner_console.storage.activity import Activity
from partner_console.storage.catalog import Catalog
from partner_console.storage.coordination import (
    KeyPacing,
    Leases,
    RateBudget,
    lease_owner,
    replica_name,
)
from partner_console.storage.engine import refresh_statistics
from partner_console.storage.history_reads import HistoryReads
from partner_console.storage.practices import Practices
from partner_console.storage.provider_actions import ProviderActions
from partner_console.storage.sends import Sends


@dataclass
class Services:
    settings: Settings
    history: History  # a provider's life: the write-ahead create, links, sign-up
    reads: HistoryReads  # History's search, pages, exports and Overview
    follow_up: FollowUp  # who to check, remind or email
    catalog: Catalog
    journal: LinkJournal
    client: UphealClient  # paced in the key's shared budget, as a person's calls
    creator: ProviderCreator
    sandbox: SandboxApp | None
    secret: bytes
    journal_waiting: int
    jobs: JobStore
    runners: Registry
    budget: RateBudget
    leases: Leases
    owner: str  # this server's name on the job leases it holds
    sends: Sends
    mailer: Mailer  # a person's sends; jobs take Mailer.for_jobs()
    activity: Activity
    changer: ProviderChanger  # after the invite: change, deactivate, reactivate, replace
    practices: Practices  # a platform's practices

    def background_pacing(self) -> KeyPacing:
        """Pacing for jobs and preview checks: they give way to people's own calls."""
        return KeyPacing(self.budget, self.secret, background=True)


# Keyed by the settings' repr (a frozen dataclass's repr holds every field): Streamlit's own
# hashing of the object took 0.45 ms, and a page's run asks for the services a dozen times.
@st.cache_resource(show_spinner=False, hash_funcs={Settings: repr})
def _services(settings: Settings) -> Services:
    engine = make_engine(settings.database_url)
    migrate(engine)
    refresh_statistics(engine)
    history = History(engine)
    journal = LinkJournal(settings.journal_path)
    sandbox = SandboxApp(rate_per_minute=settings.rate_limit_per_minute,
                         signup_after=settings.sandbox_signup_after_seconds or None,
                         store=settings.sandbox_store) \
        if settings.uses_sandbox else None
    secret = load_or_create_secret(settings.secret, settings.data_dir)
    budget = RateBudget(engine, settings.rate_limit_per_minute)
    client = replace(build_client(settings, sandbox),
                     pacing=KeyPacing(budget, secret, background=False))
    leases = Leases(engine)
    replica = replica_name(st.get_option("server.port"))
    owner = lease_owner(replica)
    sends = Sends(engine, replica, owner, stale_after=stale_sends_after(settings))
    # (serve.py did this as the server started; again here for a bare `streamlit run app.py`)
    waiting = recover(history=history, journal=journal, leases=leases, sends=sends,
                      replica=replica, owner=owner).links_waiting
    mailer = Mailer(sends, settings.email_from, settings.email_reply_to,
                    transport_for(settings), RateBudget(engine, settings.emails_per_minute),
                    budget_key="mail:" + (settings.smtp.host if settings.smtp and not
                                          settings.uses_outbox else "outbox"))
    reads = HistoryReads(engine)
    creator = ProviderCreator(client, history, journal, settings.settle_after_seconds)
    activity = Activity(engine)
    changer = ProviderChanger(client, history, ProviderActions(engine), activity, creator, owner)
    return Services(settings, history, reads, FollowUp(reads), Catalog(engine), journal, client,
                    creator, sandbox, secret, waiting, JobStore(engine), Registry(), budget,
                    leases, owner, sends, mailer, activity, changer, Practices(engine))


def services() -> Services:
    """The shared services, or a plain-words stop when settings or the database are unwell."""
    try:
        return _services(load_settings())
    except ConfigError as exc:
        st.error(f"The console is not set up correctly: {safe(exc)}")
    except StorageError as exc:
        st.error(f"The history database could not be opened. {safe(exc)}")
    st.stop()
    raise AssertionError("unreachable")
