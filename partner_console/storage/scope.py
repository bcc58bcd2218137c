"""Who may see which rows: a session sees rows made with its key's fingerprint, or belonging to
an organisation its key has been seen to belong to. The key itself is never stored.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import ColumnElement, Table, false, or_

SECRET_FILE = "secret.key"  # noqa: S105 (a file name: in data_dir, when no secret is set)


def fingerprint(secret: bytes, api_key: str) -> str:
    """A keyed hash of the API key (HMAC-SHA256): the key cannot be recovered from it."""
    return hmac.new(secret, api_key.strip().encode("utf-8"), hashlib.sha256).hexdigest()[:40]


def load_or_create_secret(configured: str | None, data_dir: Path) -> bytes:
    """The HMAC secret: from configuration, else generated once into data_dir/secret.key."""
    if configured:
        return configured.encode("utf-8")
    path = data_dir / SECRET_FILE
    data_dir.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_bytes().strip()
    with os.fdopen(fd, "wb") as handle:
        handle.write(secrets.token_hex(32).encode())
    return path.read_bytes().strip()


@dataclass(frozen=True)
class Scope:
    key_fingerprint: str
    organization_ids: tuple[str, ...] = ()

    def visible(self, table: Table) -> ColumnElement[bool]:
        conditions = [table.c.key_fingerprint == self.key_fingerprint]
        if self.organization_ids:
            conditions.append(table.c.organization_id.in_(self.organization_ids))
        return or_(*conditions) if conditions else false()
