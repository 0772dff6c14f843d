"""A SQLite copy of the PostgreSQL log, for the staff page (Datasette reads SQLite only).

`refresh` brings the copy up to date in one SQLite transaction, so Datasette never sees half
a refresh:
- rows are copied by PostgreSQL's change number (`seq`, schema 2: set on insert and on every
  rating or choice update), from a little before the last one copied: a transaction that drew
  its numbers earlier but committed later is still picked up;
- what a purge removed from PostgreSQL is removed from the copy too (the copy never keeps a
  question longer than the log does);
- only what the staff page's canned queries read is copied: queries, ratings and choices, not
  staff attempts or chat state.
The copy has the SQLite log's own schema (`migrations`), so staff/metadata.yml serves it as is.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiosqlite
import asyncpg

from policybot.config import private_file
from policybot.storage.migrations import migrate

# Change numbers re-read below the last one copied. Rows of one batch share a transaction; a
# number drawn but not yet committed is at most a few batches (of every replica) behind.
OVERLAP = 10_000

COLUMNS = {
    "queries": ("query_id", "at", "chat_hash", "lang", "text", "normalised", "status", "entry_id", "score",
                "candidates", "latency_ms", "kb_version", "channel", "kinds", "risk"),
    "feedback": ("query_id", "entry_id", "helpful", "at"),
    "choices": ("query_id", "entry_id", "at"),
}
_STATE = "CREATE TABLE IF NOT EXISTS mirror_state (name TEXT PRIMARY KEY, seq INTEGER NOT NULL)"


@dataclass(frozen=True)
class Refresh:
    copied: int  # rows written (new or changed; the overlap re-writes some)
    removed: int  # rows a purge had removed from PostgreSQL


async def refresh(url: str, target: Path, *, batch: int = 5_000) -> Refresh:
    """Copy what changed in the PostgreSQL log at `url` into the SQLite file `target`."""
    from policybot.storage.postgres import SCHEMA_VERSION as PG_VERSION

    private_file(target)  # the copy holds what the log holds: 0600 (its WAL files follow)
    pg = await asyncpg.connect(url, server_settings={"default_transaction_read_only": "on"})
    try:
        version = await pg.fetchval("SELECT max(version) FROM policybot_schema")
        if version != PG_VERSION:
            raise RuntimeError(f"the PostgreSQL log has schema version {version}, this code reads {PG_VERSION}")
        async with aiosqlite.connect(target) as db:
            await db.execute("PRAGMA journal_mode=WAL")
            await migrate(db)
            await db.execute(_STATE)
            await db.commit()
            await db.execute("BEGIN IMMEDIATE")
            try:
                async with pg.transaction(isolation="repeatable_read", readonly=True):
                    copied = 0
                    for table, columns in COLUMNS.items():
                        copied += await _copy(pg, db, table, columns, batch)
                    removed = await _purged(pg, db)
                await db.commit()
            except BaseException:
                await db.rollback()
                raise
    finally:
        await pg.close()
    return Refresh(copied, removed)


async def _copy(pg: Any, db: aiosqlite.Connection, table: str, columns: tuple[str, ...], batch: int) -> int:
    async with db.execute("SELECT seq FROM mirror_state WHERE name = ?", (table,)) as cur:
        row = await cur.fetchone()
    since = (int(row[0]) if row else 0) - OVERLAP
    names = ", ".join(columns)
    insert = (f"INSERT OR REPLACE INTO {table} ({names}) VALUES ({', '.join('?' * len(columns))})")  # noqa: S608 (fixed names)
    copied, top = 0, None
    while True:
        rows = await pg.fetch(
            f"SELECT {names}, seq FROM {table} WHERE seq > $1 ORDER BY seq LIMIT $2",  # noqa: S608 (fixed names)
            since, batch)
        if not rows:
            break
        await db.executemany(insert, [tuple(r)[:-1] for r in rows])
        copied += len(rows)
        since = top = int(rows[-1]["seq"])
    if top is not None:
        await db.execute("INSERT OR REPLACE INTO mirror_state (name, seq) VALUES (?, ?)", (table, top))
    return copied


async def _purged(pg: Any, db: aiosqlite.Connection) -> int:
    """Remove from the copy what a purge removed from PostgreSQL. A purge deletes by age, so
    a copied row older than the oldest row PostgreSQL still has is gone there, and with a
    question go its rating and choice."""
    removed = 0
    oldest = await pg.fetchval("SELECT min(at) FROM queries")
    gone = "SELECT query_id FROM queries" + ("" if oldest is None else " WHERE at < ?")  # noqa: S608 (fixed text)
    for table in ("feedback", "choices"):
        cur = await db.execute(f"DELETE FROM {table} WHERE query_id IN ({gone})",  # noqa: S608 (fixed names)
                               () if oldest is None else (oldest,))
        removed += max(cur.rowcount, 0)
    for table in COLUMNS:
        oldest = await pg.fetchval(f"SELECT min(at) FROM {table}")  # noqa: S608 (fixed names)
        if oldest is None:
            cur = await db.execute(f"DELETE FROM {table}")  # noqa: S608 (fixed names)
        else:
            cur = await db.execute(f"DELETE FROM {table} WHERE at < ?", (oldest,))  # noqa: S608 (fixed names)
        removed += max(cur.rowcount, 0)
    return removed
