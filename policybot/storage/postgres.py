"""The query log on PostgreSQL (asyncpg): one log for several bot replicas.

Chosen by POLICYBOT_DATABASE_URL (postgresql://…). The queue, the writer, the journal and the
privacy rules are `buffered.BufferedQueryLog`'s, the report queries `reports.SQLReports`' (in
PostgreSQL's dialect here), so both back ends answer alike. The schema is SQLite's, with times
as the same UTC text, so both sort and compare the same way. Migrations run inside one
transaction holding an advisory lock: replicas that start together migrate once.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import asyncpg

from policybot.storage.buffered import BufferedQueryLog, Op
from policybot.storage.records import now, timestamp
from policybot.storage.reports import SQLReports

log = logging.getLogger(__name__)

MIGRATE_LOCK = 0x706F6C69  # "poli": the advisory lock every replica's migration takes

# Append only, like migrations.MIGRATIONS: N brings version N-1 to N.
MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE queries (
        query_id   TEXT PRIMARY KEY,
        at         TEXT NOT NULL,          -- UTC, 'YYYY-MM-DD HH:MM:SS.fff', as in SQLite
        chat_hash  TEXT NOT NULL,
        lang       TEXT NOT NULL,
        text       TEXT NOT NULL,          -- masked
        normalised TEXT NOT NULL,
        status     TEXT NOT NULL,
        entry_id   TEXT,
        score      DOUBLE PRECISION NOT NULL,
        candidates TEXT NOT NULL DEFAULT '[]',
        latency_ms DOUBLE PRECISION NOT NULL,
        kb_version TEXT NOT NULL,
        channel    TEXT NOT NULL DEFAULT 'telegram',
        kinds      TEXT NOT NULL DEFAULT '',
        risk       TEXT NOT NULL DEFAULT ''
    );
    CREATE INDEX queries_at ON queries(at);
    CREATE INDEX queries_status_at ON queries(status, at);
    CREATE INDEX queries_entry ON queries(entry_id);
    CREATE TABLE feedback (
        query_id TEXT NOT NULL,
        entry_id TEXT NOT NULL,
        helpful  INTEGER NOT NULL,
        at       TEXT NOT NULL,
        PRIMARY KEY (query_id, entry_id)
    );
    CREATE INDEX feedback_entry_at ON feedback(entry_id, at);
    CREATE TABLE choices (
        query_id TEXT PRIMARY KEY,
        entry_id TEXT,
        at       TEXT NOT NULL
    );
    CREATE TABLE staff_attempts (
        id         BIGSERIAL PRIMARY KEY,
        attempt_id TEXT NOT NULL UNIQUE,
        chat_hash  TEXT NOT NULL,
        command    TEXT NOT NULL,
        at         TEXT NOT NULL
    );
    CREATE INDEX staff_attempts_at ON staff_attempts(at);
    CREATE TABLE chat_state (
        chat_hash TEXT PRIMARY KEY,
        lang      TEXT NOT NULL,
        at        TEXT NOT NULL
    );
    CREATE VIEW query_log AS
        SELECT q.query_id, q.at, q.channel, q.lang, q.text, q.normalised, q.status, q.entry_id,
               round(q.score::numeric, 1) AS score, q.candidates,
               c.query_id IS NOT NULL AS chose, c.entry_id AS chosen_entry,
               f.helpful, round(q.latency_ms::numeric, 1) AS latency_ms, q.kb_version,
               q.kinds AS emergency_kinds, q.risk AS risk_words
        FROM queries q
        LEFT JOIN choices c ON c.query_id = q.query_id
        LEFT JOIN feedback f ON f.query_id = q.query_id
             AND f.entry_id = (CASE WHEN c.query_id IS NOT NULL THEN c.entry_id ELSE q.entry_id END);
    """,
    # 2: a change number on every row the staff page reads, set on insert and on every update,
    # so that its SQLite copy (`mirror`) copies only what changed
    """
    CREATE SEQUENCE change_seq;
    ALTER TABLE queries ADD COLUMN seq BIGINT NOT NULL DEFAULT nextval('change_seq');
    ALTER TABLE feedback ADD COLUMN seq BIGINT NOT NULL DEFAULT nextval('change_seq');
    ALTER TABLE choices ADD COLUMN seq BIGINT NOT NULL DEFAULT nextval('change_seq');
    CREATE INDEX queries_seq ON queries(seq);
    CREATE INDEX feedback_seq ON feedback(seq);
    CREATE INDEX choices_seq ON choices(seq);
    """,
)
SCHEMA_VERSION = len(MIGRATIONS)

_SQL = {
    "query": (
        "INSERT INTO queries (query_id, at, chat_hash, lang, text, normalised, status, entry_id, score,"
        " candidates, latency_ms, kb_version, channel, kinds, risk)"
        " VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15) ON CONFLICT (query_id) DO NOTHING"
    ),
    "feedback": (
        "INSERT INTO feedback (query_id, entry_id, helpful, at) VALUES ($1,$2,$3,$4) ON CONFLICT (query_id, entry_id)"
        " DO UPDATE SET helpful = EXCLUDED.helpful, at = EXCLUDED.at, seq = nextval('change_seq')"
        " WHERE EXCLUDED.at >= feedback.at"
    ),
    "choice": (
        "INSERT INTO choices (query_id, entry_id, at) VALUES ($1,$2,$3) ON CONFLICT (query_id)"
        " DO UPDATE SET entry_id = EXCLUDED.entry_id, at = EXCLUDED.at, seq = nextval('change_seq')"
        " WHERE EXCLUDED.at >= choices.at"
    ),
    "staff": (
        "INSERT INTO staff_attempts (attempt_id, chat_hash, command, at) VALUES ($1,$2,$3,$4)"
        " ON CONFLICT (attempt_id) DO NOTHING"
    ),
    "lang": (
        "INSERT INTO chat_state (chat_hash, lang, at) VALUES ($1,$2,$3) ON CONFLICT (chat_hash)"
        " DO UPDATE SET lang = EXCLUDED.lang, at = EXCLUDED.at WHERE EXCLUDED.at >= chat_state.at"
    ),
}

_PLACEHOLDER = re.compile(r"\?")


def _numbered(sql: str) -> str:
    """SQLite's `?` placeholders as PostgreSQL's `$1, $2 …` (no `?` appears in our SQL text)."""
    count = iter(range(1, 1000))
    return _PLACEHOLDER.sub(lambda _: f"${next(count)}", sql)


async def migrate(conn: Any) -> tuple[int, int]:
    """Bring the schema to SCHEMA_VERSION in one transaction under an advisory lock."""
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", MIGRATE_LOCK)
        await conn.execute("CREATE TABLE IF NOT EXISTS policybot_schema (version INTEGER NOT NULL)")
        version = await conn.fetchval("SELECT max(version) FROM policybot_schema") or 0
        if version > SCHEMA_VERSION:
            raise RuntimeError(f"query log schema version {version} is newer than this code knows"
                               f" ({SCHEMA_VERSION}); upgrade policybot")
        for n in range(version, SCHEMA_VERSION):
            await conn.execute(MIGRATIONS[n])
            await conn.execute("INSERT INTO policybot_schema (version) VALUES ($1)", n + 1)
            log.info("query log schema migrated to version %d", n + 1)
        return version, SCHEMA_VERSION


class PostgresReports(SQLReports):
    """The report queries in PostgreSQL's dialect, over a connection pool."""

    _pool: Any

    async def _all(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        if self._pool is None:
            raise RuntimeError("query log is not open")
        return list(await self._pool.fetch(_numbered(sql), *params))

    @staticmethod
    def _sum(condition: str) -> str:
        return f"sum(({condition})::int)"

    @staticmethod
    def _day(minutes_param: str) -> str:
        return f"to_char(at::timestamp + ({minutes_param} || ' minutes')::interval, 'YYYY-MM-DD')"


class PostgresQueryLog(PostgresReports, BufferedQueryLog):
    # a write that may work later: the server restarting, a lost connection, a full disk
    ERRORS = (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, asyncio.TimeoutError)

    def __init__(self, url: str, salt: str, *, journal: Path | None = None, **options: Any) -> None:
        super().__init__(salt, journal=journal, **options)
        self.url = url
        self._pool = None

    def _is_open(self) -> bool:
        return self._pool is not None

    async def _open_backend(self) -> None:
        pool = await asyncpg.create_pool(self.url, min_size=1, max_size=4, command_timeout=30)
        try:
            async with pool.acquire() as conn:
                await migrate(conn)
        except BaseException:
            await pool.close()
            raise
        self._pool = pool

    async def _close_backend(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            await pool.close()

    async def _write(self, ops: Sequence[Op]) -> None:
        if self._pool is None:  # flush checks first; a bug otherwise
            raise RuntimeError("query log is not open")
        by_kind: dict[str, list[tuple[Any, ...]]] = {}
        for kind, params in ops:
            by_kind.setdefault(kind, []).append(params)
        async with self._pool.acquire() as conn, conn.transaction():
            for kind, rows in by_kind.items():
                await conn.executemany(_SQL[kind], rows)

    async def purge(self, older_than_days: int) -> int:
        if older_than_days < 0:
            raise ValueError("older_than_days must be >= 0")
        if self._pool is None:
            raise RuntimeError("query log is not open")
        cutoff = timestamp(now() - dt.timedelta(days=older_than_days))
        async with self._write_lock, self._pool.acquire() as conn, conn.transaction():
            for table in ("feedback", "choices"):
                await conn.execute(
                    f"DELETE FROM {table} WHERE at < $1 OR query_id IN (SELECT query_id FROM queries WHERE at < $1)",  # noqa: S608 (table is one of two names above)
                    cutoff,
                )
            status = await conn.execute("DELETE FROM queries WHERE at < $1", cutoff)
            await conn.execute("DELETE FROM staff_attempts WHERE at < $1", cutoff)
            await conn.execute("DELETE FROM chat_state WHERE at < $1", cutoff)
        queries = int(status.split()[-1])
        log.info("query log purged %d queries older than %d days", queries, older_than_days)
        return queries


class PostgresReader(PostgresReports):
    """Staff tools' view of the PostgreSQL log: read-only transactions, no migration."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._pool = None

    async def open(self) -> None:
        from policybot.storage.reports import QueryLogError

        pool = await asyncpg.create_pool(self.url, min_size=1, max_size=2,
                                         server_settings={"default_transaction_read_only": "on"})
        try:
            created = await pool.fetchval("SELECT to_regclass('policybot_schema') IS NOT NULL")
            version = (await pool.fetchval("SELECT max(version) FROM policybot_schema") or 0) if created else 0
        except BaseException:
            await pool.close()
            raise
        if version != SCHEMA_VERSION:
            await pool.close()
            raise QueryLogError(f"the PostgreSQL log has schema version {version}, this code reads {SCHEMA_VERSION};"
                                " start the bot once to create or upgrade it")
        self._pool = pool

    async def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            await pool.close()
