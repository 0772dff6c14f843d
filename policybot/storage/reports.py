"""Reading the log with SQL: the figures, gaps and possible emergencies staff see.

`SQLiteReports` holds the queries; the writer (`sqlite.SQLiteQueryLog`) reads through its own
connection with them, and `QueryLogReader` reads a live log for staff tools without ever
writing: a `mode=ro` connection, no migration, no writer task.
"""

from __future__ import annotations

import abc
import asyncio
import datetime as dt
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import aiosqlite

from policybot.model import STATUSES
from policybot.storage.grouping import group_texts
from policybot.storage.interface import QueryReader
from policybot.storage.migrations import SCHEMA_VERSION, user_version
from policybot.storage.records import DayCount, EntryStats, Group, PossibleEmergency, Stats, timestamp, utc

# A query's entry after "did you mean": the chosen entry (NULL for "none of these") when the
# resident chose, else the answered entry.
_RESOLVED = "CASE WHEN c.query_id IS NOT NULL THEN c.entry_id ELSE q.entry_id END"


class QueryLogError(RuntimeError):
    """The log cannot be read: missing, or written by another version of the code."""


class SQLReports(QueryReader):
    """The read queries, written for SQLite with `?` placeholders; a back end with another SQL
    dialect overrides `_all` (placeholders), `_sum` and `_day`."""

    @abc.abstractmethod
    async def _all(self, sql: str, params: Sequence[Any] = ()) -> list[Any]: ...

    @staticmethod
    def _sum(condition: str) -> str:
        """How many rows meet `condition` (SQLite sums booleans as 0/1)."""
        return f"sum({condition})"

    @staticmethod
    def _day(minutes_param: str) -> str:
        """The day of `at` (UTC text) shifted by a number of minutes given as a parameter."""
        return f"date(at, {minutes_param} || ' minutes')"


    async def stats(self, since: dt.datetime, *, utc_offset: dt.timedelta = dt.timedelta(0)) -> Stats:
        lo = timestamp(since)
        counts = dict.fromkeys(STATUSES, 0)
        total = 0
        for status, n in await self._all(
            "SELECT status, count(*) FROM queries WHERE at >= ? GROUP BY status", (lo,)
        ):
            total += n
            if status in counts:
                counts[status] = n
        (helpful, unhelpful), *_ = await self._all(
            f"SELECT coalesce({self._sum('f.helpful = 1')}, 0), coalesce({self._sum('f.helpful = 0')}, 0)"  # noqa: S608 (constant SQL)
            " FROM queries q JOIN feedback f ON f.query_id = q.query_id WHERE q.at >= ?",
            (lo,),
        )
        (chose_entry, chose_none), *_ = await self._all(
            f"SELECT coalesce({self._sum('c.entry_id IS NOT NULL')}, 0), coalesce({self._sum('c.entry_id IS NULL')}, 0)"  # noqa: S608 (constant SQL)
            " FROM queries q JOIN choices c ON c.query_id = q.query_id WHERE q.at >= ?",
            (lo,),
        )
        ((staff,),) = await self._all("SELECT count(*) FROM staff_attempts WHERE at >= ?", (lo,))
        p50 = await self._percentile(lo, total, 0.50)
        p95 = await self._percentile(lo, total, 0.95)
        minutes = int(utc_offset.total_seconds() // 60)
        per_day = tuple(
            DayCount(*row)
            for row in await self._all(
                f"SELECT {self._day('?')} AS day, count(*),"  # noqa: S608 (only the fixed STATUSES are joined in)
                + ", ".join(self._sum(f"status = '{s}'") for s in STATUSES)
                + " FROM queries WHERE at >= ? GROUP BY day ORDER BY day",
                (f"{minutes:+d}", lo),
            )
        )
        entries = tuple(
            EntryStats(*row)
            for row in await self._all(
                f"SELECT {_RESOLVED} AS entry, count(*), coalesce({self._sum('f.helpful = 1')}, 0),"  # noqa: S608 (_RESOLVED is a constant)
                f" coalesce({self._sum('f.helpful = 0')}, 0)"
                " FROM queries q LEFT JOIN choices c ON c.query_id = q.query_id"
                f" LEFT JOIN feedback f ON f.query_id = q.query_id AND f.entry_id = {_RESOLVED}"
                f" WHERE q.at >= ? AND {_RESOLVED} IS NOT NULL GROUP BY entry ORDER BY count(*) DESC, entry",
                (lo,),
            )
        )
        kinds: dict[str, int] = {}
        for joined, n in await self._all(
            "SELECT kinds, count(*) FROM queries WHERE at >= ? AND status = 'emergency' GROUP BY kinds", (lo,)
        ):
            for kind in (joined or "unknown").split(","):
                kinds[kind] = kinds.get(kind, 0) + n
        return Stats(
            since=utc(since),
            total=total,
            **counts,
            helpful=helpful,
            unhelpful=unhelpful,
            chose_entry=chose_entry,
            chose_none=chose_none,
            staff_attempts=staff,
            latency_p50_ms=p50,
            latency_p95_ms=p95,
            per_day=per_day,
            entries=entries,
            emergency_kinds=dict(sorted(kinds.items(), key=lambda kv: (-kv[1], kv[0]))),
        )

    async def _percentile(self, lo: str, total: int, q: float) -> float:
        if not total:
            return 0.0
        rows = await self._all(
            "SELECT latency_ms FROM queries WHERE at >= ? ORDER BY latency_ms LIMIT 1 OFFSET ?",
            (lo, min(total - 1, int(q * total))),
        )
        return float(rows[0][0]) if rows else 0.0

    async def possible_emergencies(self, since: dt.datetime, limit: int = 50) -> list[PossibleEmergency]:
        rows = await self._all(
            "SELECT at, text, risk, status FROM queries WHERE at >= ? AND risk != '' AND status != 'emergency'"
            " ORDER BY at DESC LIMIT ?",
            (timestamp(since), limit),
        )
        return [
            PossibleEmergency(dt.datetime.fromisoformat(r[0]).replace(tzinfo=dt.UTC), r[1],
                              tuple(r[2].split(",")), r[3])
            for r in rows
        ]

    async def chat_lang(self, chat_hash: str) -> str | None:
        rows = await self._all("SELECT lang FROM chat_state WHERE chat_hash = ?", (chat_hash,))
        return str(rows[0][0]) if rows else None

    async def unanswered_texts(self, since: dt.datetime) -> list[tuple[str, str]]:
        rows = await self._all(
            "SELECT q.text, q.normalised FROM queries q LEFT JOIN choices c ON c.query_id = q.query_id"
            " WHERE q.at >= ?"
            " AND (q.status = 'unanswered' OR (c.query_id IS NOT NULL AND c.entry_id IS NULL))",
            (timestamp(since),),
        )
        return [(r[0], r[1]) for r in rows]

    async def unanswered_groups(
        self, since: dt.datetime, limit: int = 10, *, threshold: float = 70.0
    ) -> list[Group]:
        rows = await self.unanswered_texts(since)
        # group the masked raw texts (readable, pasteable) but compare their normalised forms
        normalised = {text: norm or text for text, norm in rows}
        groups = await asyncio.to_thread(
            group_texts, [text for text, _ in rows], threshold, key=normalised.__getitem__
        )
        return groups[:limit] if limit else groups


class SQLiteReports(SQLReports):
    """The read queries over one SQLite connection (`_read_db`)."""

    @abc.abstractmethod
    def _read_db(self) -> aiosqlite.Connection: ...

    async def _all(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        async with self._read_db().execute(sql, params) as cur:
            return list(await cur.fetchall())


class QueryLogReader(SQLiteReports):
    """Staff tools' view of a live log: read only, whatever the bot is doing meanwhile."""

    def __init__(self, path: str | Path, *, busy_timeout_ms: int = 2000) -> None:
        self.path = Path(path)
        self.busy_timeout_ms = busy_timeout_ms
        self._db: aiosqlite.Connection | None = None

    def _read_db(self) -> aiosqlite.Connection:
        if self._db is None:
            raise RuntimeError("query log reader is not open")
        return self._db

    async def open(self) -> None:
        if self._db is not None:
            return
        if not self.path.is_file():
            raise QueryLogError(f"no query log at {self.path}")
        # mode=ro: SQLite itself refuses every write (a migration included), WAL still read
        db = await aiosqlite.connect(f"{self.path.resolve().as_uri()}?mode=ro", uri=True)
        try:
            await db.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout_ms)}")
            version = await user_version(db)
        except BaseException:
            await db.close()
            raise
        if version != SCHEMA_VERSION:
            await db.close()
            if version == 0:
                raise QueryLogError(f"{self.path} is not a policybot query log")
            if version < SCHEMA_VERSION:
                raise QueryLogError(
                    f"query log {self.path} has schema version {version}, this code reads {SCHEMA_VERSION};"
                    " start the bot (or the console chat) once to upgrade it"
                )
            raise QueryLogError(
                f"query log schema version {version} is newer than this code knows ({SCHEMA_VERSION});"
                " upgrade policybot"
            )
        self._db = db

    async def close(self) -> None:
        db, self._db = self._db, None
        if db is not None:
            await db.close()
