"""The writing half of every query log back end: a bounded queue, a background writer that
writes batches, retries with backoff, a journal on disk for rows the database cannot take, and
the privacy rules applied before a row is queued.

Writing never slows a reply: `record()`, `feedback()`, `choice()`, `set_lang()` and
`staff_attempt()` only put a row on a bounded in-memory queue, and a background task writes rows
in batches. When the database is locked, full or failing, rows stay in memory and are retried
with backoff; after a few failed attempts, and at shutdown, they go to the journal on disk
(`journal`), which the next start (or the first write that works again) replays. Rows are
dropped only when the journal cannot be written either, and then the exact number is logged.

Privacy: the raw chat key is never stored (salted HMAC instead) and phone and ID-card numbers
are masked before a question is queued (`privacy`). A back end (`sqlite.SQLiteQueryLog`,
`postgres.PostgresQueryLog`) says how to connect, write a batch and read.
"""

from __future__ import annotations

import abc
import asyncio
import collections
import contextlib
import json
import logging
import secrets
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from policybot.model import ID_PATTERN, QUERY_ID_PATTERN
from policybot.storage.interface import QueryLog
from policybot.storage.journal import Journal
from policybot.storage.privacy import hash_chat, mask_pii
from policybot.storage.records import LogHealth, QueryRecord, now, timestamp

# one logger name for the log's messages, whatever the back end (operators filter on it)
log = logging.getLogger("policybot.storage.sqlite")

# One queued row: (kind, parameters). Each back end maps kinds to its statements.
Op = tuple[str, tuple[Any, ...]]


class BufferedQueryLog(QueryLog):
    def __init__(
        self,
        salt: str,
        *,
        batch_size: int = 50,
        flush_interval: float = 0.5,
        max_queue: int = 10_000,
        max_pending: int = 50_000,
        retry_initial: float = 0.2,
        retry_max: float = 30.0,
        close_timeout: float = 10.0,
        journal_after: int = 3,
        journal: Path | None = None,
    ) -> None:
        if not salt:
            raise ValueError("the query log needs a non-empty salt to hash chat ids")
        self._salt = salt
        self.batch_size = max(1, batch_size)
        self.flush_interval = flush_interval
        self.max_queue = max_queue
        self.max_pending = max_pending
        self.retry_initial = retry_initial
        self.retry_max = retry_max
        self.close_timeout = close_timeout
        self.journal_after = max(1, journal_after)  # failed writes before rows go to the journal
        self.journal = Journal(journal) if journal is not None else None
        self._journal_waiting = self.journal is not None  # the journal may hold rows to replay
        self._queue: collections.deque[Op] = collections.deque()  # from record() & co
        self._pending: collections.deque[Op] = collections.deque()  # taken by the writer, not yet written
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
        self.journaled = 0  # rows put in the journal since start
        self.replayed = 0  # rows replayed from the journal since start
        self.moved_aside: list[Path] = []  # damaged database files moved aside since start
        self.last_error = ""  # the last write error, for staff

    # -- what a back end provides ---------------------------------------------------------

    # errors of a write that may work on a later try (locked, full, disconnected ...)
    ERRORS: tuple[type[Exception], ...] = (OSError,)

    @abc.abstractmethod
    def _is_open(self) -> bool: ...

    @abc.abstractmethod
    async def _open_backend(self) -> None:
        """Connect and migrate."""

    @abc.abstractmethod
    async def _close_backend(self) -> None: ...

    @abc.abstractmethod
    async def _write(self, ops: Sequence[Op]) -> None:
        """One transaction with every row of `ops`; idempotent (a batch may be written again)."""

    @abc.abstractmethod
    async def chat_lang(self, chat_hash: str) -> str | None: ...

    def _damaged(self, exc: Exception) -> bool:
        """Is the store itself damaged (then `_recover` starts a new one)?"""
        return False

    async def _recover(self, exc: Exception) -> None:
        raise exc

    # -- lifecycle ---------------------------------------------------------------------------

    async def open(self) -> None:
        if self._is_open():
            return
        await self._open_backend()
        self._closing = self._closed = False
        async with self._write_lock:
            try:
                await self._replay()
            except self.ERRORS as exc:  # the rows stay in the journal; the writer retries
                self._failed(exc)
        self._task = asyncio.create_task(self._run(), name="querylog-writer")

    async def _replay(self) -> None:
        """The journal's rows into the database, then an empty journal (caller holds the lock)."""
        if self.journal is None or not self._journal_waiting:
            return
        ops = self.journal.read()
        try:
            for i in range(0, len(ops), 500):
                await self._write(ops[i : i + 500])
        except self.ERRORS as exc:
            log.warning("query log: %d journal rows not replayed yet (%s)", len(ops), exc)
            raise
        self.journal.clear()
        self._journal_waiting = False
        if ops:
            self.replayed += len(ops)
            self.written += len(ops)
            log.info("query log: %d rows replayed from the journal", len(ops))

    def _to_journal(self, why: str, *, pending: bool = True) -> None:
        """Rows held in memory into the journal (dropped, and said, if that fails too). The
        writer's pending rows only when the writer is not writing them (`pending`)."""
        ops = [*(self._pending if pending else ()), *self._queue]
        if not ops:
            return
        if pending:
            self._pending.clear()
        self._queue.clear()
        if self.journal is not None and self.journal.append(ops):
            self.journaled += len(ops)
            self._journal_waiting = True
            log.warning("query log: %d rows kept in the journal because %s", len(ops), why)
        else:
            self._drop(len(ops), why + ", and the journal is not writable")

    async def close(self) -> None:
        async with self._close_lock:  # a second close() waits for the first, then does nothing
            await self._close()

    async def _close(self) -> None:
        if not self._is_open() or self._closed:
            return
        self._closing = True
        if self._task is not None:
            # Never cancel the writer inside a transaction: a BEGIN or COMMIT cancelled on the
            # event loop still runs in the driver (aiosqlite's thread), leaving a transaction open (every
            # later write fails) or rows committed but still pending (written twice).
            async with self._write_lock:
                self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        # flush what is left, retrying for up to close_timeout, then give up and say how much
        deadline = time.monotonic() + self.close_timeout
        delay = self.retry_initial
        while not await self.flush():
            if time.monotonic() + delay > deadline:
                self._to_journal("the database stayed unwritable at close")
                break
            await asyncio.sleep(delay)
            delay = min(delay * 2, self.retry_max)
        self._report_drops()
        self._closed = True
        await self._close_backend()

    # -- queueing (never blocks, never raises) ------------------------------------------------

    def _enqueue(self, op: Op) -> None:
        if self._closed:  # a late reply after shutdown: the next start replays it
            if self.journal is not None and self.journal.append([op]):
                self.journaled += 1
                self._journal_waiting = True
                return
            self._drop(1, "the log is closed")
            self._report_drops()
            return
        if len(self._queue) >= self.max_queue:
            self._to_journal("the queue is full", pending=False)
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
                    timestamp(rec.at),
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

    def feedback(self, query_id: str, helpful: bool, entry_id: str) -> None:
        try:
            # callback data comes from the client: keep only well-formed ids
            if QUERY_ID_PATTERN.match(query_id) and ID_PATTERN.match(entry_id):
                self._enqueue(("feedback", (query_id, entry_id, 1 if helpful else 0, timestamp(now()))))
        except Exception:
            log.exception("query log: could not queue feedback")

    def choice(self, query_id: str, entry_id: str | None) -> None:
        try:
            if QUERY_ID_PATTERN.match(query_id):
                self._enqueue(("choice", (query_id, entry_id, timestamp(now()))))
        except Exception:
            log.exception("query log: could not queue a choice")

    async def lang_of(self, chat: str) -> str | None:
        if not self._is_open():
            return None
        await self.flush()  # a choice made a moment ago
        return await self.chat_lang(hash_chat(chat, self._salt))

    def set_lang(self, chat: str, lang: str) -> None:
        try:
            self._enqueue(("lang", (hash_chat(chat, self._salt), lang, timestamp(now()))))
        except Exception:
            log.exception("query log: could not queue a language choice")

    def staff_attempt(self, chat: str, command: str) -> None:
        try:
            op = ("staff", (secrets.token_hex(8), hash_chat(chat, self._salt), command[:64], timestamp(now())))
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

    async def flush(self) -> bool:
        if not self._is_open():
            return not self.queued
        async with self._write_lock:
            try:
                await self._replay()
            except self.ERRORS as exc:
                self._failed(exc)
                return False
            self._take()
            while self._pending:
                batch = [self._pending[i] for i in range(min(self.batch_size, len(self._pending)))]
                try:
                    await self._write(batch)
                except self.ERRORS as exc:
                    if self._damaged(exc):
                        try:
                            await self._recover(exc)
                            continue  # the same batch, into the new file
                        except self.ERRORS as again:
                            exc = again
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
        self.last_error = f"{type(exc).__name__}: {exc}"
        if self._failures >= self.journal_after and not self._closing:
            # a database that keeps failing: the rows wait on disk, not in memory
            self._to_journal(f"the database failed {self._failures} times ({self.last_error})")
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

    def health(self) -> LogHealth:
        return LogHealth(
            queued=self.queued,
            journal_rows=len(self.journal) if self.journal is not None and self._journal_waiting else 0,
            failures=self._failures,
            last_error=self.last_error if self._failures else "",
            moved_aside=tuple(p.name for p in self.moved_aside),
        )
