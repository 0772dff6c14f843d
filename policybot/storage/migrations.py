"""The log's schema as an append-only list of migrations, and the function that applies them.

Only the writer (`sqlite.SQLiteQueryLog`) migrates; readers check the version and refuse a
schema they do not know.
"""

from __future__ import annotations

import logging
import sqlite3

import aiosqlite

log = logging.getLogger(__name__)

# Schema: migration N (1-based) brings user_version N-1 to N. Append only; never edit a
# released migration, so an old database is upgraded in place, never dropped.

MIGRATIONS: tuple[str, ...] = (
    # 1: the first schema
    """
    CREATE TABLE queries (
        query_id   TEXT PRIMARY KEY,
        at         TEXT NOT NULL,          -- UTC, 'YYYY-MM-DD HH:MM:SS.fff'
        chat_hash  TEXT NOT NULL,
        lang       TEXT NOT NULL,
        text       TEXT NOT NULL,          -- masked
        normalised TEXT NOT NULL,
        status     TEXT NOT NULL,
        entry_id   TEXT,
        score      REAL NOT NULL,
        candidates TEXT NOT NULL DEFAULT '[]',  -- JSON list of entry ids
        latency_ms REAL NOT NULL,
        kb_version TEXT NOT NULL
    );
    CREATE INDEX queries_at ON queries(at);
    CREATE TABLE feedback (
        query_id TEXT PRIMARY KEY,         -- latest feedback per query
        helpful  INTEGER NOT NULL,
        at       TEXT NOT NULL
    );
    CREATE TABLE choices (
        query_id TEXT PRIMARY KEY,         -- latest choice per query
        entry_id TEXT,                     -- NULL = "none of these"
        at       TEXT NOT NULL
    );
    """,
    # 2: channel (console vs Telegram) and an index for the status reports
    """
    ALTER TABLE queries ADD COLUMN channel TEXT NOT NULL DEFAULT 'telegram';
    CREATE INDEX queries_status_at ON queries(status, at);
    CREATE INDEX queries_entry ON queries(entry_id);
    """,
    # 3: non-staff attempts at staff commands, and a view without chat hashes for the staff page
    """
    CREATE TABLE staff_attempts (
        id        INTEGER PRIMARY KEY,
        attempt_id TEXT NOT NULL UNIQUE,   -- made when queued, so a retried batch cannot duplicate
        chat_hash TEXT NOT NULL,
        command   TEXT NOT NULL,
        at        TEXT NOT NULL
    );
    CREATE INDEX staff_attempts_at ON staff_attempts(at);
    CREATE VIEW query_log AS
        SELECT q.query_id, q.at, q.channel, q.lang, q.text, q.normalised, q.status, q.entry_id,
               round(q.score, 1) AS score, q.candidates,
               c.query_id IS NOT NULL AS chose, c.entry_id AS chosen_entry,
               f.helpful, round(q.latency_ms, 1) AS latency_ms, q.kb_version
        FROM queries q
        LEFT JOIN choices c ON c.query_id = q.query_id
        LEFT JOIN feedback f ON f.query_id = q.query_id;
    """,
    # 4: the safety net: which emergency kinds fired, and risk words of questions it did not flag
    """
    ALTER TABLE queries ADD COLUMN kinds TEXT NOT NULL DEFAULT '';
    ALTER TABLE queries ADD COLUMN risk TEXT NOT NULL DEFAULT '';
    DROP VIEW query_log;
    CREATE VIEW query_log AS
        SELECT q.query_id, q.at, q.channel, q.lang, q.text, q.normalised, q.status, q.entry_id,
               round(q.score, 1) AS score, q.candidates,
               c.query_id IS NOT NULL AS chose, c.entry_id AS chosen_entry,
               f.helpful, round(q.latency_ms, 1) AS latency_ms, q.kb_version,
               q.kinds AS emergency_kinds, q.risk AS risk_words
        FROM queries q
        LEFT JOIN choices c ON c.query_id = q.query_id
        LEFT JOIN feedback f ON f.query_id = q.query_id;
    """,
    # 5: a rating belongs to the entry it was given on (a resident may rate one entry, then
    # pick another), and entries reached by browsing are rated too (their query_id is the id
    # of that view, with no row in queries)
    """
    CREATE TABLE feedback_v5 (
        query_id TEXT NOT NULL,            -- the question, or the view of a browsed entry
        entry_id TEXT NOT NULL,            -- the entry the rating was given on
        helpful  INTEGER NOT NULL,
        at       TEXT NOT NULL,
        PRIMARY KEY (query_id, entry_id)   -- latest rating per question and entry
    );
    INSERT INTO feedback_v5 (query_id, entry_id, helpful, at)
        SELECT f.query_id,
               coalesce(CASE WHEN c.query_id IS NOT NULL THEN c.entry_id ELSE q.entry_id END, ''),
               f.helpful, f.at
        FROM feedback f
        LEFT JOIN queries q ON q.query_id = f.query_id
        LEFT JOIN choices c ON c.query_id = f.query_id;
    DROP VIEW query_log;
    DROP TABLE feedback;
    ALTER TABLE feedback_v5 RENAME TO feedback;
    CREATE INDEX feedback_entry_at ON feedback(entry_id, at);
    CREATE VIEW query_log AS
        SELECT q.query_id, q.at, q.channel, q.lang, q.text, q.normalised, q.status, q.entry_id,
               round(q.score, 1) AS score, q.candidates,
               c.query_id IS NOT NULL AS chose, c.entry_id AS chosen_entry,
               f.helpful, round(q.latency_ms, 1) AS latency_ms, q.kb_version,
               q.kinds AS emergency_kinds, q.risk AS risk_words
        FROM queries q
        LEFT JOIN choices c ON c.query_id = q.query_id
        LEFT JOIN feedback f ON f.query_id = q.query_id
             AND f.entry_id = (CASE WHEN c.query_id IS NOT NULL THEN c.entry_id ELSE q.entry_id END);
    """,
    # 6: per-resident state that must survive a restart (and be shared by replicas): the
    # language chosen with /lang, keyed by the salted hash of the private chat
    """
    CREATE TABLE chat_state (
        chat_hash TEXT PRIMARY KEY,
        lang      TEXT NOT NULL,
        at        TEXT NOT NULL
    );
    """,
)
SCHEMA_VERSION = len(MIGRATIONS)


def _statements(script: str) -> list[str]:
    """Split a migration script into statements (sqlite3.complete_statement copes with triggers)."""
    statements, buf = [], ""
    for line in script.splitlines(keepends=True):
        buf += line
        if sqlite3.complete_statement(buf):
            statements.append(buf.strip())
            buf = ""
    if buf.strip():
        statements.append(buf.strip())
    return statements


async def user_version(db: aiosqlite.Connection) -> int:
    async with db.execute("PRAGMA user_version") as cur:
        row = await cur.fetchone()
    return int(row[0]) if row else 0


async def migrate(db: aiosqlite.Connection) -> tuple[int, int]:
    """Bring the schema to SCHEMA_VERSION, one transaction per migration; returns (old, new).

    The version is read inside each write transaction, so two processes opening the same old
    database at once cannot both run a migration.
    """
    old = None
    while True:
        await db.execute("BEGIN IMMEDIATE")
        try:
            version = await user_version(db)
            old = version if old is None else old
            if version > SCHEMA_VERSION:
                raise RuntimeError(
                    f"query log schema version {version} is newer than this code knows"
                    f" ({SCHEMA_VERSION}); upgrade policybot"
                )
            if version == SCHEMA_VERSION:
                await db.commit()
                return old, version
            for statement in _statements(MIGRATIONS[version]):
                await db.execute(statement)
            # user_version is part of the transaction: a failed migration keeps the old version
            await db.execute(f"PRAGMA user_version = {version + 1}")
            await db.commit()
        except BaseException:
            if db.in_transaction:
                await db.rollback()
            raise
        log.info("query log schema migrated to version %d", version + 1)
