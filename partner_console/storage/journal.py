"""The link journal: where links go when the database cannot take them.

An invite link exists only in Upheal's answer to a create. If writing it to the database fails,
it is appended here (one JSON line, fsynced; never the key) and replayed into the database on the
next start, then the journal is emptied.
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class LinkJournal:
    path: Path

    def append(self, entry: dict[str, Any]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        line = json.dumps(entry, sort_keys=True, default=str) + "\n"
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            os.write(fd, line.encode("utf-8"))
            os.fsync(fd)
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    def entries(self) -> list[dict[str, Any]]:
        if not self.path.exists():
            return []
        found = []
        for line in self.path.read_text(encoding="utf-8").splitlines():
            try:
                found.append(json.loads(line))
            except ValueError:
                continue  # a line torn by a crash mid-write; the rest are whole
        return found

    def replay(self, apply: Callable[[dict[str, Any]], None]) -> tuple[int, int]:
        """Apply every entry; keep the ones that fail. Returns (applied, still waiting)."""
        if not self.path.exists():
            return 0, 0
        with open(self.path, "r+", encoding="utf-8") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            kept: list[str] = []
            applied = 0
            for line in handle.read().splitlines():
                try:
                    entry = json.loads(line)
                except ValueError:
                    continue  # a line torn by a crash mid-write
                try:
                    apply(entry)
                    applied += 1
                except Exception:  # the database is still unwell: keep the entry for next time
                    kept.append(line)
            handle.seek(0)
            handle.truncate()
            handle.write("".join(k + "\n" for k in kept))
            handle.flush()
            os.fsync(handle.fileno())
        return applied, len(kept)
