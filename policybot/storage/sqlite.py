"""The query log on one SQLite file (WAL): the running bot's `QueryLog` for one machine.

The queue, the writer, the journal and the privacy rules are `buffered.BufferedQueryLog`'s;
this file connects (0600 in a 0700 folder), migrates (`migrations`), writes a batch in one
transaction, moves a damaged file aside with a timestamp and starts a new one, and reads with
the report queries (`reports.SQLiteReports`).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import aiosqlite

from policybot.config import private_file
from policybot.storage.buffered import BufferedQueryLog, Op
from policybot.storage.migrations import migrate
from policybot.storage.records import now, timestamp
from policybot.storage.reports import SQLiteReports

log = logging.getLogger(__name__)

_SQL = {
    "query": (
        "INSERT OR IGNORE INTO queries (query_id, at, chat_hash, lang, text, normalised, status, entry_id,"
        " score, candidates, latency_ms, kb_version, channel, kinds, risk) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
    ),
    # latest feedback/choice per query wins, also when a batch is retried
    "feedback": (
        "INSERT INTO feedback (query_id, entry_id, helpful, at) VALUES (?,?,?,?) ON CONFLICT(query_id, entry_id)"
        " DO UPDATE SET helpful = excluded.helpful, at = excluded.at WHERE excluded.at >= feedback.at"
    ),
    "choice": (
        "INSERT INTO choices (query_id, entry_id, at) VALUES (?,?,?) ON CONFLICT(query_id) DO UPDATE"
        " SET entry_id = excluded.entry_id, at = excluded.at WHERE excluded.at >= choices.at"
    ),
    "staff": "INSERT OR IGNORE INTO staff_attempts (attempt_id, chat_hash, command, at) VALUES (?,?,?,?)",
    "lang": (
        "INSERT INTO chat_state (chat_hash, lang, at) VALUES (?,?,?) ON CONFLICT(chat_hash) DO UPDATE"
        " SET lang = excluded.lang, at = excluded.at WHERE excluded.at >= chat_state.at"
    ),
}


class SQLiteQueryLog(SQLiteReports, BufferedQueryLog):
    ERRORS = (sqlite3.Error, OSError)

    def __init__(self, path: str | Path, salt: str, *, busy_timeout_ms: int = 2000, **options: Any) -> None:
        self.path = str(path)
        journal = None if self.path == ":memory:" else Path(self.path + ".journal")
        super().__init__(salt, journal=journal, **options)
        self.busy_timeout_ms = busy_timeout_ms
        self._db: aiosqlite.Connection | None = None
        self._reader: aiosqlite.Connection | None = None

    def _is_open(self) -> bool:
        return self._db is not None

    async def _open_backend(self) -> None:
        if self.path != ":memory:":
            # 0600 in a 0700 folder; SQLite gives its -wal and -shm files the database's mode
            private_file(Path(self.path))
        self._db, self._reader = await self._open_files()

    async def _close_backend(self) -> None:
        db, reader = self._db, self._reader
        self._db = self._reader = None
        if reader is not None and reader is not db:
            await reader.close()
        if db is not None:
            await db.close()

    def _damaged(self, exc: Exception) -> bool:
        return isinstance(exc, sqlite3.DatabaseError) and _damaged(exc) and self.path != ":memory:"

    async def _connect(self) -> aiosqlite.Connection:
        # autocommit mode: transactions are explicit (BEGIN IMMEDIATE ... COMMIT)
        db = await aiosqlite.connect(self.path, isolation_level=None)
        await db.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout_ms)}")
        return db

    async def _open_files(self) -> tuple[aiosqlite.Connection, aiosqlite.Connection]:
        """(writer, reader) on a migrated database; a damaged file is moved aside first."""
        for attempt in (1, 2):
            db = await self._connect()
            try:
                await db.execute("PRAGMA journal_mode = WAL")
                # WAL + NORMAL: durable against app crashes, fast commits
                await db.execute("PRAGMA synchronous = NORMAL")
                await migrate(db)
                # a separate reader never waits for the writer's transaction (WAL)
                reader = db if self.path == ":memory:" else await self._connect()
                return db, reader
            except sqlite3.DatabaseError as exc:
                await db.close()
                if attempt == 2 or not _damaged(exc) or self.path == ":memory:":
                    raise
                self._move_aside(exc)
            except BaseException:
                await db.close()
                raise
        raise AssertionError("unreachable")  # the loop returns or raises

    def _move_aside(self, exc: Exception) -> None:
        """The damaged file (and its WAL files) renamed with a timestamp; a new one is made."""
        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
        main = Path(self.path)
        aside = main.with_name(f"{main.name}.damaged-{stamp}")
        for suffix in ("", "-wal", "-shm"):
            src = Path(self.path + suffix)
            if src.exists():
                src.rename(Path(str(aside) + suffix))
        private_file(main)
        self.moved_aside.append(aside)
        log.error("query log %s is damaged (%s): moved aside to %s; a new log is started", main, exc, aside.name)

    async def _recover(self, exc: Exception) -> None:
        """A write found the file damaged: move it aside and go on with a new one."""
        db, reader = self._db, self._reader
        for conn in {id(c): c for c in (reader, db) if c is not None}.values():
            with contextlib.suppress(Exception):
                await conn.close()
        self._move_aside(exc)
        self._db, self._reader = await self._open_files()

    async def _write(self, ops: Sequence[Op]) -> None:
        """One transaction: executemany per kind, in queue order of kinds."""
        db = self._db
        if db is None:  # flush checks first; a bug otherwise
            raise RuntimeError("query log is not open")
        by_kind: dict[str, list[tuple[Any, ...]]] = {}
        for kind, params in ops:
            by_kind.setdefault(kind, []).append(params)
        await db.execute("BEGIN IMMEDIATE")
        try:
            for kind, rows in by_kind.items():
                await db.executemany(_SQL[kind], rows)
            await db.commit()
        except BaseException:
            if db.in_transaction:
                try:
                    await db.rollback()
                except Exception:
                    log.debug("rollback failed", exc_info=True)
            raise

    def _read_db(self) -> aiosqlite.Connection:
        if self._reader is None:
            raise RuntimeError("query log is not open")
        return self._reader

    async def purge(self, older_than_days: int) -> int:
        if older_than_days < 0:
            raise ValueError("older_than_days must be >= 0")
        if self._db is None:
            raise RuntimeError("query log is not open")
        cutoff = timestamp(now() - dt.timedelta(days=older_than_days))
        async with self._write_lock:
            db = self._db
            await db.execute("BEGIN IMMEDIATE")
            try:
                # feedback and choices older than the cutoff or of the queries purged now (ratings of
                # browsed entries have no query: only their age counts)
                for table in ("feedback", "choices"):
                    await db.execute(
                        f"DELETE FROM {table} WHERE at < ? OR query_id IN (SELECT query_id FROM queries WHERE at < ?)",  # noqa: S608 (table is one of two names above)
                        (cutoff, cutoff),
                    )
                cur = await db.execute("DELETE FROM queries WHERE at < ?", (cutoff,))
                queries = cur.rowcount
                await db.execute("DELETE FROM staff_attempts WHERE at < ?", (cutoff,))
                await db.execute("DELETE FROM chat_state WHERE at < ?", (cutoff,))
                await db.commit()
            except BaseException:
                if db.in_transaction:
                    await db.rollback()
                raise
        log.info("query log purged %d queries older than %d days", queries, older_than_days)
        return queries



def _damaged(exc: sqlite3.DatabaseError) -> bool:
    """Is the file damaged or not a database at all (as opposed to locked, full, read-only)?"""
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None:
        return code & 0xFF in (sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB)
    text = str(exc).lower()
    return "malformed" in text or "not a database" in text
