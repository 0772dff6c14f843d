"""The query log: every question, its outcome and the resident's feedback, for staff reports.

`QueryLog` is the storage interface; `SQLiteQueryLog` implements it on one SQLite file (WAL).
Writing never slows a reply: `record()`, `feedback()`, `choice()` and `staff_attempt()` only
put a row on a bounded in-memory queue, and a background task writes rows in batches. When the
database is locked, full or failing, rows stay in memory (bounded) and are retried with
backoff; rows are dropped only when memory bounds are hit, and then the exact number is logged.

Privacy: the raw chat key is never stored (salted HMAC instead) and phone and ID-card numbers
are masked before a question is queued.
"""

from __future__ import annotations

import abc
import asyncio
import collections
import contextlib
import datetime as dt
import hashlib
import hmac
import json
import logging
import re
import secrets
import sqlite3
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiosqlite
from rapidfuzz import fuzz, process

log = logging.getLogger("policybot.querylog")

STATUSES = ("answered", "ambiguous", "unanswered", "emergency", "smalltalk")

# --------------------------------------------------------------------------------------------
# Values


@dataclass(frozen=True)
class QueryRecord:
    query_id: str  # from new_query_id(); also travels in Telegram button data
    at: dt.datetime  # UTC, tz-aware (naive is taken as UTC)
    chat: str  # raw chat key ("tg:12345", "console"); only a salted hash is stored
    lang: str  # zh-Hans | zh-Hant | en
    text: str  # raw question; phone and ID-card numbers are masked before storing
    normalised: str
    status: str  # answered | ambiguous | unanswered | emergency | smalltalk
    entry_id: str | None
    score: float
    candidates: tuple[str, ...]  # entry ids offered as "did you mean"
    latency_ms: float
    kb_version: str
    channel: str  # telegram | console
    kinds: tuple[str, ...] = ()  # emergency kinds whose reply was sent (medical, crisis …)
    risk: tuple[str, ...] = ()  # not flagged, but weaker risk words / held-back rules: staff read these


@dataclass(frozen=True)
class PossibleEmergency:
    """A question the safety net did not flag that has risk words: staff should read it."""

    at: dt.datetime
    text: str
    risk: tuple[str, ...]
    status: str


@dataclass(frozen=True)
class DayCount:
    day: str  # YYYY-MM-DD in the report's UTC offset
    total: int
    answered: int
    ambiguous: int
    unanswered: int
    emergency: int
    smalltalk: int

    @property
    def answer_rate(self) -> float:
        return self.answered / self.total if self.total else 0.0


@dataclass(frozen=True)
class EntryStats:
    entry_id: str
    count: int  # queries resolved to the entry: answered directly or picked from "did you mean"
    helpful: int
    unhelpful: int

    @property
    def feedback(self) -> int:
        return self.helpful + self.unhelpful

    @property
    def helpful_rate(self) -> float | None:
        return self.helpful / self.feedback if self.feedback else None


@dataclass(frozen=True)
class Stats:
    since: dt.datetime
    total: int
    answered: int
    ambiguous: int
    unanswered: int
    emergency: int
    smalltalk: int
    helpful: int  # queries whose latest feedback is "helpful" (each query counted once)
    unhelpful: int
    chose_entry: int  # "did you mean" answered by picking an entry
    chose_none: int  # "none of these"
    staff_attempts: int  # non-staff users trying staff commands
    latency_p50_ms: float
    latency_p95_ms: float
    per_day: tuple[DayCount, ...] = ()  # oldest first
    entries: tuple[EntryStats, ...] = ()  # most asked first
    emergency_kinds: Mapping[str, int] = field(default_factory=dict)  # kind -> emergencies

    def count(self, status: str) -> int:
        return int(getattr(self, status))

    def share(self, status: str) -> float:
        return self.count(status) / self.total if self.total else 0.0


@dataclass(frozen=True)
class Group:
    """Similar questions: `texts` are the distinct phrasings, most frequent first."""

    count: int  # questions in the group (repeats included)
    example: str  # the most frequent phrasing
    texts: tuple[str, ...]


# --------------------------------------------------------------------------------------------
# Pure helpers

_ID_ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz"
_QUERY_ID = re.compile(r"^[0-9a-z]{1,32}$")


def new_query_id() -> str:
    """10 random characters [0-9a-z] (~52 bits): short enough for 64-byte callback data."""
    return "".join(secrets.choice(_ID_ALPHABET) for _ in range(10))


# Full-width digits are folded first so "１３８..." is caught like "138...".
_FULLWIDTH_DIGITS = str.maketrans("０１２３４５６７８９Ｘｘ", "0123456789Xx")
# 18-digit ID (17 digits + check digit or X), optionally grouped 6-8-4; then the old 15-digit one.
_ID18 = re.compile(r"(?<![0-9A-Za-z])\d{6}[ -]?\d{8}[ -]?\d{3}[\dXx](?![0-9A-Za-z])", re.ASCII)
_ID15 = re.compile(r"(?<![0-9A-Za-z])\d{15}(?![0-9A-Za-z])", re.ASCII)
# Mainland mobile: 1[3-9] + 9 digits, optional +86/0086/86 prefix, spaces or dashes as 3-4-4.
_MOBILE = re.compile(
    r"(?<![0-9A-Za-z+])(?:(?:\+|00)?86[ -]?)?1[3-9]\d[ -]?\d{4}[ -]?\d{4}(?![0-9A-Za-z])", re.ASCII
)
# Landline: area code 0xx/0xxx (optionally in brackets) + 7-8 digits. Short numbers
# (120, 12320) and ages/years never match: every pattern needs at least 10 digits.
_LANDLINE = re.compile(
    r"(?<![0-9A-Za-z])(?:\(0\d{2,3}\)|（0\d{2,3}）|0\d{2,3})[ -]?\d{7,8}(?![0-9A-Za-z])", re.ASCII
)
PHONE_MASK = "[电话]"
ID_MASK = "[身份证]"


def mask_pii(text: str) -> str:
    """Replace mainland phone numbers and ID-card numbers with placeholders."""
    text = text.translate(_FULLWIDTH_DIGITS)
    text = _ID18.sub(ID_MASK, text)
    text = _ID15.sub(ID_MASK, text)
    text = _MOBILE.sub(PHONE_MASK, text)
    return _LANDLINE.sub(PHONE_MASK, text)


def hash_chat(chat: str, salt: str) -> str:
    """Salted HMAC-SHA256 (16 hex chars): counts distinct residents without storing who they are."""
    return hmac.new(salt.encode(), chat.encode(), hashlib.sha256).hexdigest()[:16]


_CJK_CHAR = re.compile(
    r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]|[^\s\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+"
)


def _tokens(text: str) -> str:
    # Chinese has no spaces, so each ideograph is a token; token_sort then tolerates reordering
    # ("医保卡丢了怎么办" ~ "怎么补办丢失的医保卡") without token_set's subset leniency.
    return " ".join(_CJK_CHAR.findall(text))


def text_similarity(a: str, b: str) -> float:
    """0-100 similarity used for grouping questions."""
    return fuzz.token_sort_ratio(_tokens(a), _tokens(b))


def group_texts(
    texts: Iterable[str],
    threshold: float = 70.0,
    *,
    key: Callable[[str], str] | None = None,
    max_distinct: int = 5000,
) -> list[Group]:
    """Greedy clustering of similar texts, biggest group first.

    Distinct texts are visited most frequent first; each joins the most similar existing group
    (compared with the group's first, most frequent phrasing) when the similarity is at least
    `threshold`, or starts a new group. `key` maps a text to the form compared (e.g. its
    normalised form) while the group keeps the text itself.
    """
    counts = collections.Counter(t for t in texts if t and t.strip())
    order = sorted(counts, key=lambda t: (-counts[t], t))[:max_distinct]
    seeds: list[str] = []  # tokenised key of each group's first phrasing
    members: list[list[str]] = []
    for text in order:
        tokens = _tokens(key(text) if key else text)
        best = process.extractOne(
            tokens, seeds, scorer=fuzz.token_sort_ratio, processor=None, score_cutoff=threshold
        )
        if best is None:
            seeds.append(tokens)
            members.append([text])
        else:
            members[best[2]].append(text)
    groups = [Group(sum(counts[t] for t in m), m[0], tuple(m)) for m in members]
    groups.sort(key=lambda g: (-g.count, g.example))
    return groups


def _utc(at: dt.datetime) -> dt.datetime:
    return at.replace(tzinfo=dt.UTC) if at.tzinfo is None else at.astimezone(dt.UTC)


def _ts(at: dt.datetime) -> str:
    # Sortable UTC text without offset: compares as text in SQL, readable in Datasette.
    return _utc(at).replace(tzinfo=None).isoformat(sep=" ", timespec="milliseconds")


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


# --------------------------------------------------------------------------------------------
# Interface


class QueryLog(abc.ABC):
    """Storage interface (SQLite now; PostgreSQL later behind the same methods)."""

    @abc.abstractmethod
    async def open(self) -> None: ...

    @abc.abstractmethod
    async def close(self) -> None:
        """Flush what is queued, then close."""

    @abc.abstractmethod
    def record(self, rec: QueryRecord) -> None:
        """Queue a question; never blocks, never raises."""

    @abc.abstractmethod
    def feedback(self, query_id: str, helpful: bool) -> None: ...

    @abc.abstractmethod
    def choice(self, query_id: str, entry_id: str | None) -> None:
        """The "did you mean" choice; None means "none of these"."""

    @abc.abstractmethod
    def staff_attempt(self, chat: str, command: str) -> None:
        """A non-staff user tried a staff command."""

    @abc.abstractmethod
    async def flush(self) -> bool:
        """Write everything queued now; False when some rows could not be written yet."""

    @abc.abstractmethod
    async def stats(self, since: dt.datetime, *, utc_offset: dt.timedelta = dt.timedelta(0)) -> Stats: ...

    @abc.abstractmethod
    async def unanswered_groups(
        self, since: dt.datetime, limit: int = 10, *, threshold: float = 70.0
    ) -> list[Group]:
        """Unanswered and "none of these" questions since `since`, grouped by similarity."""

    @abc.abstractmethod
    async def possible_emergencies(self, since: dt.datetime, limit: int = 50) -> list[PossibleEmergency]:
        """Questions the safety net did not flag but that carry risk words, newest first."""

    @abc.abstractmethod
    async def purge(self, older_than_days: int) -> int:
        """Delete queries older than N days with their feedback and choices; returns queries deleted."""


# --------------------------------------------------------------------------------------------
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


async def _user_version(db: aiosqlite.Connection) -> int:
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
            version = await _user_version(db)
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


# --------------------------------------------------------------------------------------------
# SQLite implementation

# One queued row: (kind, parameters). Kinds map to the statements below.
_Op = tuple[str, tuple[Any, ...]]

_SQL = {
    "query": (
        "INSERT OR IGNORE INTO queries (query_id, at, chat_hash, lang, text, normalised, status, entry_id,"
        " score, candidates, latency_ms, kb_version, channel, kinds, risk) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
    ),
    # latest feedback/choice per query wins, also when a batch is retried
    "feedback": (
        "INSERT INTO feedback (query_id, helpful, at) VALUES (?,?,?) ON CONFLICT(query_id) DO UPDATE"
        " SET helpful = excluded.helpful, at = excluded.at WHERE excluded.at >= feedback.at"
    ),
    "choice": (
        "INSERT INTO choices (query_id, entry_id, at) VALUES (?,?,?) ON CONFLICT(query_id) DO UPDATE"
        " SET entry_id = excluded.entry_id, at = excluded.at WHERE excluded.at >= choices.at"
    ),
    "staff": "INSERT OR IGNORE INTO staff_attempts (attempt_id, chat_hash, command, at) VALUES (?,?,?,?)",
}

# A query's entry after "did you mean": the chosen entry (NULL for "none of these") when the
# resident chose, else the answered entry.
_RESOLVED = "CASE WHEN c.query_id IS NOT NULL THEN c.entry_id ELSE q.entry_id END"


class SQLiteQueryLog(QueryLog):
    def __init__(
        self,
        path: str | Path,
        salt: str,
        *,
        batch_size: int = 50,
        flush_interval: float = 0.5,
        max_queue: int = 10_000,
        max_pending: int = 50_000,
        busy_timeout_ms: int = 2000,
        retry_initial: float = 0.2,
        retry_max: float = 30.0,
        close_timeout: float = 10.0,
    ) -> None:
        if not salt:
            raise ValueError("the query log needs a non-empty salt to hash chat ids")
        self.path = str(path)
        self._salt = salt
        self.batch_size = max(1, batch_size)
        self.flush_interval = flush_interval
        self.max_queue = max_queue
        self.max_pending = max_pending
        self.busy_timeout_ms = busy_timeout_ms
        self.retry_initial = retry_initial
        self.retry_max = retry_max
        self.close_timeout = close_timeout
        self._queue: collections.deque[_Op] = collections.deque()  # from record() & co
        self._pending: collections.deque[_Op] = collections.deque()  # taken by the writer, not yet written
        self._db: aiosqlite.Connection | None = None
        self._reader: aiosqlite.Connection | None = None
        self._task: asyncio.Task[None] | None = None
        self._wakeup = asyncio.Event()
        self._write_lock = asyncio.Lock()
        self._close_lock = asyncio.Lock()
        self._closing = False
        self._closed = False
        self._failures = 0  # consecutive failed writes
        self._retry_at = 0.0  # monotonic time before which the writer does not retry
        self._dropped_unreported = 0
        self.dropped = 0  # rows dropped since start (memory bounds, or unwritable at close)
        self.written = 0  # rows written since start
        self.transactions = 0  # write transactions committed since start

    # -- lifecycle ---------------------------------------------------------------------------

    async def _connect(self) -> aiosqlite.Connection:
        # autocommit mode: transactions are explicit (BEGIN IMMEDIATE ... COMMIT)
        db = await aiosqlite.connect(self.path, isolation_level=None)
        await db.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout_ms)}")
        return db

    async def open(self) -> None:
        if self._db is not None:
            return
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        db = await self._connect()
        try:
            await db.execute("PRAGMA journal_mode = WAL")
            # WAL + NORMAL: durable against app crashes, fast commits
            await db.execute("PRAGMA synchronous = NORMAL")
            await migrate(db)
            # a separate reader never waits for the writer's transaction (WAL)
            self._reader = db if self.path == ":memory:" else await self._connect()
        except BaseException:
            await db.close()
            raise
        self._db = db
        self._closing = self._closed = False
        self._task = asyncio.create_task(self._run(), name="querylog-writer")

    async def close(self) -> None:
        async with self._close_lock:  # a second close() waits for the first, then does nothing
            await self._close()

    async def _close(self) -> None:
        if self._db is None or self._closed:
            return
        self._closing = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        # flush what is left, retrying for up to close_timeout, then give up and say how much
        deadline = time.monotonic() + self.close_timeout
        delay = self.retry_initial
        while not await self.flush():
            if time.monotonic() + delay > deadline:
                lost = len(self._queue) + len(self._pending)
                self._queue.clear()
                self._pending.clear()
                self._drop(lost, "the database stayed unwritable at close")
                break
            await asyncio.sleep(delay)
            delay = min(delay * 2, self.retry_max)
        self._report_drops()
        db, reader = self._db, self._reader
        self._db = self._reader = None
        self._closed = True
        if reader is not None and reader is not db:
            await reader.close()
        await db.close()

    async def __aenter__(self) -> SQLiteQueryLog:
        await self.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- queueing (never blocks, never raises) ------------------------------------------------

    def _enqueue(self, op: _Op) -> None:
        if self._closed:
            self._drop(1, "the log is closed")
            self._report_drops()
            return
        if len(self._queue) >= self.max_queue:
            self._drop(1, "the queue is full")
            return
        self._queue.append(op)
        if len(self._queue) >= self.batch_size:
            self._wakeup.set()

    def _drop(self, n: int, why: str) -> None:
        if n <= 0:
            return
        if not self._dropped_unreported:
            log.warning("query log: dropping rows because %s", why)
        self._dropped_unreported += n
        self.dropped += n

    def _report_drops(self) -> None:
        if self._dropped_unreported:
            log.warning("query log dropped %d rows (%d since start)", self._dropped_unreported, self.dropped)
            self._dropped_unreported = 0

    def record(self, rec: QueryRecord) -> None:
        try:
            op = (
                "query",
                (
                    rec.query_id,
                    _ts(rec.at),
                    hash_chat(rec.chat, self._salt),
                    rec.lang,
                    mask_pii(rec.text),
                    mask_pii(rec.normalised),
                    str(rec.status),
                    rec.entry_id,
                    float(rec.score),
                    json.dumps(list(rec.candidates), ensure_ascii=False),
                    float(rec.latency_ms),
                    rec.kb_version,
                    rec.channel,
                    ",".join(rec.kinds),
                    mask_pii(",".join(rec.risk)),
                ),
            )
            self._enqueue(op)
        except Exception:
            log.exception("query log: could not queue a record")

    def feedback(self, query_id: str, helpful: bool) -> None:
        try:
            # callback data comes from the client: keep only well-formed ids
            if _QUERY_ID.match(query_id):
                self._enqueue(("feedback", (query_id, 1 if helpful else 0, _ts(_now()))))
        except Exception:
            log.exception("query log: could not queue feedback")

    def choice(self, query_id: str, entry_id: str | None) -> None:
        try:
            if _QUERY_ID.match(query_id):
                self._enqueue(("choice", (query_id, entry_id, _ts(_now()))))
        except Exception:
            log.exception("query log: could not queue a choice")

    def staff_attempt(self, chat: str, command: str) -> None:
        try:
            op = ("staff", (secrets.token_hex(8), hash_chat(chat, self._salt), command[:64], _ts(_now())))
            self._enqueue(op)
        except Exception:
            log.exception("query log: could not queue a staff attempt")

    @property
    def queued(self) -> int:
        """Rows in memory, not yet written."""
        return len(self._queue) + len(self._pending)

    # -- writing ------------------------------------------------------------------------------

    async def _run(self) -> None:
        # checking _closing (not only cancellation) matters: on 3.11, wait_for can swallow a
        # cancel that arrives as the wait completes
        while not self._closing:
            backoff = self._retry_at - time.monotonic()
            if backoff > 0:
                # after a failed write, wait it out; a full queue does not hurry a retry
                await asyncio.sleep(backoff)
            else:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wakeup.wait(), timeout=self.flush_interval)
            self._wakeup.clear()
            try:
                await self.flush()
            except asyncio.CancelledError:
                raise
            except Exception:  # flush handles write errors; this is a bug, keep the writer alive
                log.exception("query log writer failed")
            self._report_drops()

    def _take(self) -> None:
        # Move queued rows into pending, keeping pending within max_pending; rows that do not fit
        # wait in the queue (which record() keeps within max_queue).
        room = self.max_pending - len(self._pending)
        while room > 0 and self._queue:
            self._pending.append(self._queue.popleft())
            room -= 1

    async def _write(self, ops: Sequence[_Op]) -> None:
        """One transaction: executemany per kind, in queue order of kinds."""
        db = self._db
        assert db is not None
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

    async def flush(self) -> bool:
        if self._db is None:
            return not self.queued
        async with self._write_lock:
            self._take()
            while self._pending:
                batch = [self._pending[i] for i in range(min(self.batch_size, len(self._pending)))]
                try:
                    await self._write(batch)
                except (sqlite3.Error, OSError) as exc:
                    self._failed(exc)
                    return False
                for _ in batch:
                    self._pending.popleft()
                self.written += len(batch)
                self.transactions += 1
                if self._failures:
                    log.warning(
                        "query log writable again after %d failed attempts; %d rows still queued",
                        self._failures,
                        self.queued,
                    )
                    self._failures = 0
                    self._retry_at = 0.0
                self._take()
            return True

    def _failed(self, exc: Exception) -> None:
        self._failures += 1
        delay = min(self.retry_initial * 2 ** (self._failures - 1), self.retry_max)
        self._retry_at = time.monotonic() + delay
        # first failure and then every 10th: a locked or full disk must not flood the log
        if self._failures == 1 or self._failures % 10 == 0:
            log.warning(
                "query log write failed (%s: %s); %d rows kept in memory, retry %d in %.1fs",
                type(exc).__name__,
                exc,
                self.queued,
                self._failures,
                delay,
            )

    # -- reading ------------------------------------------------------------------------------

    def _read_db(self) -> aiosqlite.Connection:
        if self._reader is None:
            raise RuntimeError("query log is not open")
        return self._reader

    async def _all(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        async with self._read_db().execute(sql, params) as cur:
            return list(await cur.fetchall())

    async def stats(self, since: dt.datetime, *, utc_offset: dt.timedelta = dt.timedelta(0)) -> Stats:
        lo = _ts(since)
        counts = dict.fromkeys(STATUSES, 0)
        total = 0
        for status, n in await self._all(
            "SELECT status, count(*) FROM queries WHERE at >= ? GROUP BY status", (lo,)
        ):
            total += n
            if status in counts:
                counts[status] = n
        (helpful, unhelpful), *_ = await self._all(
            "SELECT coalesce(sum(f.helpful = 1), 0), coalesce(sum(f.helpful = 0), 0)"
            " FROM queries q JOIN feedback f ON f.query_id = q.query_id WHERE q.at >= ?",
            (lo,),
        )
        (chose_entry, chose_none), *_ = await self._all(
            "SELECT coalesce(sum(c.entry_id IS NOT NULL), 0), coalesce(sum(c.entry_id IS NULL), 0)"
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
                "SELECT date(at, ? || ' minutes') AS day, count(*),"
                + ", ".join(f"sum(status = '{s}')" for s in STATUSES)
                + " FROM queries WHERE at >= ? GROUP BY day ORDER BY day",
                (f"{minutes:+d}", lo),
            )
        )
        entries = tuple(
            EntryStats(*row)
            for row in await self._all(
                f"SELECT {_RESOLVED} AS entry, count(*), coalesce(sum(f.helpful = 1), 0),"
                " coalesce(sum(f.helpful = 0), 0)"
                " FROM queries q LEFT JOIN choices c ON c.query_id = q.query_id"
                " LEFT JOIN feedback f ON f.query_id = q.query_id"
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
            since=_utc(since),
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
        """Questions the safety net did not flag but that carry risk words, newest first."""
        rows = await self._all(
            "SELECT at, text, risk, status FROM queries WHERE at >= ? AND risk != '' AND status != 'emergency'"
            " ORDER BY at DESC LIMIT ?",
            (_ts(since), limit),
        )
        return [
            PossibleEmergency(dt.datetime.fromisoformat(r[0]).replace(tzinfo=dt.UTC), r[1],
                              tuple(r[2].split(",")), r[3])
            for r in rows
        ]

    async def unanswered_texts(self, since: dt.datetime) -> list[tuple[str, str]]:
        """(text, normalised) of unanswered and "none of these" questions since `since`."""
        rows = await self._all(
            "SELECT q.text, q.normalised FROM queries q LEFT JOIN choices c ON c.query_id = q.query_id"
            " WHERE q.at >= ?"
            " AND (q.status = 'unanswered' OR (c.query_id IS NOT NULL AND c.entry_id IS NULL))",
            (_ts(since),),
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

    async def purge(self, older_than_days: int) -> int:
        if older_than_days < 0:
            raise ValueError("older_than_days must be >= 0")
        if self._db is None:
            raise RuntimeError("query log is not open")
        cutoff = _ts(_now() - dt.timedelta(days=older_than_days))
        async with self._write_lock:
            db = self._db
            await db.execute("BEGIN IMMEDIATE")
            try:
                cur = await db.execute("DELETE FROM queries WHERE at < ?", (cutoff,))
                queries = cur.rowcount
                # feedback/choices of purged queries, and orphans older than the cutoff
                for table in ("feedback", "choices"):
                    await db.execute(
                        f"DELETE FROM {table} WHERE at < ? OR query_id NOT IN (SELECT query_id FROM queries)",
                        (cutoff,),
                    )
                await db.execute("DELETE FROM staff_attempts WHERE at < ?", (cutoff,))
                await db.commit()
            except BaseException:
                if db.in_transaction:
                    await db.rollback()
                raise
        log.info("query log purged %d queries older than %d days", queries, older_than_days)
        return queries


class MemoryQueryLog(SQLiteQueryLog):
    """An in-memory log for other modules' tests: keeps what it was given for inspection
    (`records`, `feedbacks`, `choices`, `staff_attempts`) and answers reports after open()."""

    def __init__(self, salt: str = "test-salt", **kwargs: Any) -> None:
        super().__init__(":memory:", salt, **kwargs)
        self.records: list[QueryRecord] = []
        self.feedbacks: list[tuple[str, bool]] = []
        self.choices: list[tuple[str, str | None]] = []
        self.staff_attempts: list[tuple[str, str]] = []

    def record(self, rec: QueryRecord) -> None:
        self.records.append(rec)
        super().record(rec)

    def feedback(self, query_id: str, helpful: bool) -> None:
        self.feedbacks.append((query_id, helpful))
        super().feedback(query_id, helpful)

    def choice(self, query_id: str, entry_id: str | None) -> None:
        self.choices.append((query_id, entry_id))
        super().choice(query_id, entry_id)

    def staff_attempt(self, chat: str, command: str) -> None:
        self.staff_attempts.append((chat, command))
        super().staff_attempt(chat, command)
