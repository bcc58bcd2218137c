"""Seeded synthetic histories for the benchmarks (generated, never committed)."""

from __future__ import annotations

import json
import random
from datetime import datetime, timedelta

from sqlalchemy import Engine, insert

from partner_console.api.models import NoteIdentifier
from partner_console.storage import onboarding
from partner_console.storage.clock import utcnow
from partner_console.storage.search import search_columns
from partner_console.storage.tables import key_organisations, providers
from partner_console.storage.tables import practices as practices_table

FIRST = ["Jane", "Ravi", "Zoë", "Omar", "Mei", "Lucas", "Amara", "Noah", "Ines", "Tom"]
LAST = ["Smith", "Patel", "Müller", "Haddad", "Chen", "Silva", "Okafor", "Berg", "Rossi", "Kim"]
STATUSES = ["created"] * 17 + ["failed", "links_lost", "pending"]


# A platform's two practices (B4 and B10 read one of them): a large one with three rows in ten,
# and a small one with one in a hundred; the rest are the key's own organisation's.
LARGE_PRACTICE = "5a4d0b7e-0000-4000-8000-0000000b4a01"
SMALL_PRACTICE = "5a4d0b7e-0000-4000-8000-0000000b4a02"


def _practice_of(i: int) -> str | None:
    share = i % 100
    return LARGE_PRACTICE if share < 30 else SMALL_PRACTICE if share == 99 else None


def seed_history(engine: Engine, count: int, key_fingerprint: str, organization_id: str,
                 seed: int = 1, batch: int = 20_000, practices: bool = False) -> None:
    """`count` providers of one key and organisation, over 400 days; with `practices`, a third
    of them in a platform's two practices, which the key's catalog lists."""
    rng = random.Random(seed)
    notes = [n.value for n in NoteIdentifier]
    start = utcnow() - timedelta(days=400)
    with engine.begin() as conn:
        conn.execute(insert(key_organisations).values(
            key_fingerprint=key_fingerprint, organization_id=organization_id,
            first_seen=start))
        if practices:
            conn.execute(insert(practices_table), [
                {"key_fingerprint": key_fingerprint, "organization_id": organization_id,
                 "name": name, "practice_org_id": org, "created_at": start}
                for name, org in (("Large Practice", LARGE_PRACTICE),
                                  ("Small Practice", SMALL_PRACTICE))])
    for offset in range(0, count, batch):
        rows = []
        for i in range(offset, min(count, offset + batch)):
            first, last = rng.choice(FIRST), rng.choice(LAST)
            created: datetime = start + timedelta(seconds=i * 400 * 86400 // max(count, 1))
            status = rng.choice(STATUSES)
            # three in five of the created have signed up, within a fortnight
            signed = (created + timedelta(days=rng.randint(0, 14), hours=rng.randint(0, 23))
                      if status == "created" and rng.random() < 0.6 else None)
            rows.append({
                "created_at": created, "updated_at": created,
                "created_by": rng.choice(["Ann", "Bob", "Cleo", ""]),
                "key_fingerprint": key_fingerprint, "organization_id": organization_id,
                "status": status, "request_token": None, "source": "bench",
                "email": f"{first.lower()}.{last.lower()}.{i}@example.com",
                "email_normalized": f"{first.lower()}.{last.lower()}.{i}@example.com",
                "first_name": first, "last_name": last, "partner_user_id": f"emp-{i:07d}",
                **search_columns(first, last, f"{first.lower()}.{last.lower()}.{i}@example.com",
                                 f"emp-{i:07d}"),
                "phone_number": None, "phone_country_code": None, "locale": "en-US",
                "default_note_template_ids": json.dumps([]),
                "national_provider_identifier": None, "therapy_licence": "LCSW",
                "note_identifier": rng.choice(notes), "user_id": f"user-{i}",
                "invite_url": f"https://sandbox.invalid/invite/{i}" if status == "created"
                else None,
                "private_room_link": f"https://sandbox.invalid/room/{i}"
                if status == "created" else None,
                "error_text": None,
                "signup_status": "signed_up" if signed else (
                    "invited" if status == "created" and rng.random() < 0.5 else None),
                "signup_checked_at": signed,
                "signed_up_at": signed,
                "practice_id": _practice_of(i) if practices else None,
            })
        with engine.begin() as conn:
            conn.execute(insert(providers), rows)
    with engine.begin() as conn:  # Overview's aggregates, as the app keeps them
        onboarding.rebuild(conn)
