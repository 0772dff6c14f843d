"""The storage interface: what the service writes and what staff read.

`QueryReader` is every report's view of the log; `QueryLog` adds writing for the running bot.
SQLite (`sqlite.SQLiteQueryLog`, `reports.QueryLogReader`) and PostgreSQL
(`postgres.PostgresQueryLog`, `postgres.PostgresReader`) implement both.
"""

from __future__ import annotations

import abc
import datetime as dt
from typing import Self

from policybot.storage.records import Group, LogHealth, PossibleEmergency, QueryRecord, Stats


class QueryReader(abc.ABC):
    """Reading the log: reports, /stats, /unanswered, suggestions. Opened and closed, or used
    as `async with`."""

    @abc.abstractmethod
    async def open(self) -> None: ...

    @abc.abstractmethod
    async def close(self) -> None: ...

    async def __aenter__(self) -> Self:
        await self.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @abc.abstractmethod
    async def stats(self, since: dt.datetime, *, utc_offset: dt.timedelta = dt.timedelta(0)) -> Stats: ...

    @abc.abstractmethod
    async def unanswered_texts(self, since: dt.datetime) -> list[tuple[str, str]]:
        """(text, normalised) of unanswered and "none of these" questions since `since`."""

    @abc.abstractmethod
    async def unanswered_groups(
        self, since: dt.datetime, limit: int = 10, *, threshold: float = 70.0
    ) -> list[Group]:
        """Unanswered and "none of these" questions since `since`, grouped by similarity."""

    @abc.abstractmethod
    async def possible_emergencies(self, since: dt.datetime, limit: int = 50) -> list[PossibleEmergency]:
        """Questions the safety net did not flag but that carry risk words, newest first."""


class QueryLog(QueryReader):
    """The running bot's log. Writing calls are synchronous and never block or raise: they
    queue a row; reading and flushing are async."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Flush what is queued, then close."""

    @abc.abstractmethod
    def record(self, rec: QueryRecord) -> None:
        """Queue a question; never blocks, never raises."""

    @abc.abstractmethod
    def feedback(self, query_id: str, helpful: bool, entry_id: str) -> None:
        """A rating of `entry_id` as the answer to `query_id` (a question, or a browsing view)."""

    @abc.abstractmethod
    def choice(self, query_id: str, entry_id: str | None) -> None:
        """The "did you mean" choice; None means "none of these"."""

    @abc.abstractmethod
    def set_lang(self, chat: str, lang: str) -> None:
        """The language a resident chose (/lang), kept across restarts and replicas."""

    @abc.abstractmethod
    async def lang_of(self, chat: str) -> str | None:
        """The language the resident of `chat` chose, if any."""

    @abc.abstractmethod
    def staff_attempt(self, chat: str, command: str) -> None:
        """A non-staff user tried a staff command."""

    @abc.abstractmethod
    async def flush(self) -> bool:
        """Write everything queued now; False when some rows could not be written yet."""

    def health(self) -> LogHealth:
        """Storage problems staff must hear about (none by default)."""
        return LogHealth()

    @abc.abstractmethod
    async def purge(self, older_than_days: int) -> int:
        """Delete queries older than N days with their feedback and choices; returns queries deleted."""
