"""Creates providers one at a time the way staff do on the Create page, until killed.

For each email: if History has it pending, "Check with Upheal" first (waiting, as the page
asks, until Upheal can know); if it is created, skip; otherwise create it (write-ahead record
with the email's reservation, call, completion).

    python -m tests.create_child DATABASE_URL SANDBOX_URL JOURNAL FIRST COUNT
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from partner_console.api.client import RetryPolicy, UphealClient
from partner_console.api.models import validate_provider
from partner_console.creation import ProviderCreator
from partner_console.storage import LinkJournal, fingerprint, make_engine
from partner_console.storage.tables import PENDING
from tests.bulk_child import KEY, SECRET
from tests.helpers import HistoryForTests


def main() -> None:
    database_url, sandbox_url, journal, first, count = sys.argv[1:6]
    history = HistoryForTests(make_engine(database_url))
    client = UphealClient(sandbox_url, timeout=5, retry=RetryPolicy(initial_backoff=0.05))
    creator = ProviderCreator(client, history, LinkJournal(Path(journal)), settle_after=0.5)
    print("ready", flush=True)
    for i in range(int(first), int(first) + int(count)):
        scope = history.scope_for(fingerprint(SECRET, KEY))
        email = f"single{i}@example.com"
        earlier = history.find_by_email(scope, email)
        while earlier and earlier[0].status == PENDING:
            settled = creator.settle(KEY, scope, earlier[0].id)
            time.sleep(settled.retry_in)
            earlier = history.find_by_email(scope, email)
        if earlier:
            continue
        request, _ = validate_provider({"first_name": f"S{i}", "last_name": "Kill",
                                        "email": email})
        creator.create(KEY, scope, request, created_by="kill-loop")
    print("done", flush=True)


if __name__ == "__main__":
    main()
