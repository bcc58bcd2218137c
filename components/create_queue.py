"""The Create provider button's queue: a click, a double click or Enter twice creates at most
one provider, and no click is lost when runs of one session overlap.

With `runner.fastReruns` a click during a run starts a new run at once, and the old run stops
at its next Streamlit call. Two things follow. A click's request stays in the session until a
run has finished with it (a run stopped before it acted leaves it to the next run), and the
request carries a token read at the click, so a second click during the first one's call
finds the first one's row and shows its result. A second click that arrives after the create
finished, on the form that is about to be cleared, is answered by the result already shown.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import MutableMapping
from dataclasses import dataclass
from typing import Any

TOKEN = "cp_token"  # noqa: S105  (a session-state key, not a secret)
REQUEST = "cp_go"
OUTCOME = "cp_outcome"
CLEAR_FORM = "cp_reset_form"


@dataclass(frozen=True, eq=False)  # compared by identity: each click is its own request
class CreateRequest:
    token: str
    anyway: bool
    values: dict[str, Any]


class CreateQueue:
    """The session's state for creating, guarded by one lock of that session."""

    def __init__(self, state: MutableMapping[Any, Any], lock: threading.Lock) -> None:
        self.state = state
        self.lock = lock

    def click(self, email: str, values: dict[str, Any], anyway: bool = False) -> bool:
        """Queue a create (at the click, in the button's callback). False when the click came
        from the form whose provider was just created: its result is already on screen."""
        with self.lock:
            shown = self.state.get(OUTCOME) or {}
            if self.state.get(CLEAR_FORM) and shown.get("email") == email:
                return False
            token = self.state.get(TOKEN) or uuid.uuid4().hex
            self.state[TOKEN] = token
            self.state[REQUEST] = CreateRequest(token, anyway, values)
            return True

    def next(self) -> CreateRequest | None:
        """The request waiting for a run to carry it out (it stays queued until `done`)."""
        return self.state.get(REQUEST)

    def answered(self, outcome: dict[str, Any] | None, clear_form: bool) -> None:
        """Keep the result to show (None: nothing to show); the next click is a new create."""
        with self.lock:
            if outcome is None:
                self.state.pop(OUTCOME, None)
            else:
                self.state[OUTCOME] = outcome
            self.state[TOKEN] = uuid.uuid4().hex
            if clear_form:
                self.state[CLEAR_FORM] = True

    def done(self, request: CreateRequest) -> None:
        """The run that carried out `request` has finished with it. A click queued meanwhile
        (a double click's second half) stays for the next run, which will show this result."""
        with self.lock:
            if self.state.get(REQUEST) is request:
                del self.state[REQUEST]

    def form_cleared(self) -> bool:
        """True once per create whose form should now be emptied."""
        with self.lock:
            return bool(self.state.pop(CLEAR_FORM, False))
