"""The query log's journal: rows the database could not take, kept on disk until it can.

A JSON line per row (`[kind, [params…]]`), appended and synced, 0600 beside the database.
Rows go here when the database stays unwritable at shutdown, or when a failing database would
otherwise make the writer hold more rows in memory than it may. The next start replays the
journal (every write is idempotent: queries by id, feedback and choices by time, staff
attempts by id) and only then empties it, so a crash in between repeats nothing and loses
nothing.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from policybot.config import private_file

log = logging.getLogger(__name__)

Op = tuple[str, tuple[Any, ...]]


class Journal:
    def __init__(self, path: Path) -> None:
        self.path = path

    def append(self, ops: Iterable[Op]) -> bool:
        """Write `ops` durably; False when the disk refused (the caller still holds them)."""
        lines = "".join(json.dumps([kind, list(params)], ensure_ascii=False) + "\n" for kind, params in ops)
        if not lines:
            return True
        try:
            private_file(self.path)
            with self.path.open("a", encoding="utf-8") as f:
                f.write(lines)
                f.flush()
                os.fsync(f.fileno())
        except OSError as exc:
            log.error("query log journal %s not writable (%s)", self.path, exc)
            return False
        return True

    def read(self) -> list[Op]:
        """Every row in the journal; a line cut short by a crash is skipped (and said)."""
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return []
        ops: list[Op] = []
        bad = 0
        for line in text.splitlines():
            try:
                kind, params = json.loads(line)
                ops.append((str(kind), tuple(params)))
            except (ValueError, TypeError):
                bad += 1
        if bad:
            log.warning("query log journal: %d damaged line(s) skipped", bad)
        return ops

    def clear(self) -> None:
        """Empty the journal once its rows are in the database."""
        try:
            self.path.unlink(missing_ok=True)
        except OSError as exc:
            log.error("query log journal %s could not be emptied (%s); it will be replayed again", self.path, exc)

    def __len__(self) -> int:
        try:
            with self.path.open("rb") as f:
                return sum(1 for _ in f)
        except FileNotFoundError:
            return 0
