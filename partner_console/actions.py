"""What a person does to one record, with its activity-log entry: the domain's side of a click.

Each takes the collaborators it needs and the person acting; pages pass them from the services.
"""

from __future__ import annotations

from partner_console.api.errors import ApiError
from partner_console.creation import CreationOutcome, ProviderCreator
from partner_console.exports import STATUS_LABELS
from partner_console.identity import Person
from partner_console.messages import explain
from partner_console.storage import History, Scope, StorageError
from partner_console.storage.activity import EMAILED, REMINDED, SETTLED, Activity
from partner_console.storage.sends import INVITE, Sends


def check_with_upheal(creator: ProviderCreator, history: History, activity: Activity,
                      scope: Scope, api_key: str, row_id: int, person: Person
                      ) -> tuple[CreationOutcome | None, str | None]:
    """"Check with Upheal" for a row whose outcome is unknown: (outcome, None) or (None, the
    words saying why Upheal could not tell now)."""
    try:
        outcome = creator.settle(api_key, scope, row_id)
    except ApiError as exc:
        return None, explain(exc)
    try:
        row = history.get(scope, row_id)
    except StorageError:
        return outcome, None
    _record(activity, scope, person, SETTLED,
            f"Checked {row.full_name} ({row.email}) with Upheal: "
            f"{STATUS_LABELS.get(outcome.status, outcome.status)}.")
    return outcome, None


def decide_send(sends: Sends, activity: Activity, scope: Scope, send_id: int, arrived: bool,
                person: Person) -> bool:
    """A person's answer to "may have been sent": it arrived, or it did not (then it may go
    again). Recorded on the send and in the activity log; False when it was decided already."""
    if not sends.decide(scope, send_id, arrived, person.label):
        return False
    send = sends.get(send_id)
    _record(activity, scope, person, EMAILED if send.kind == INVITE else REMINDED,
            f"Said the email to {send.to_email} " + ("arrived." if arrived else
                                                     "did not arrive."))
    return True


def _record(activity: Activity, scope: Scope, person: Person, action: str, summary: str) -> None:
    """A log that cannot be written never undoes the work it records."""
    try:
        activity.record(scope, person, action, summary)
    except Exception:  # noqa: BLE001  (the work is done, and kept)
        import logging

        logging.getLogger(__name__).exception("an activity entry could not be written")
