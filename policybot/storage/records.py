"""The query log's values: what is written (`QueryRecord`) and what reports read back.

Also the log's time format: UTC text without an offset, sortable as text in SQL.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class QueryRecord:
    query_id: str  # from model.new_query_id(); also travels in button data
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
    out_of_scope: int

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
    out_of_scope: int
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


def utc(at: dt.datetime) -> dt.datetime:
    return at.replace(tzinfo=dt.UTC) if at.tzinfo is None else at.astimezone(dt.UTC)


def timestamp(at: dt.datetime) -> str:
    # Sortable UTC text without offset: compares as text in SQL, readable in Datasette.
    return utc(at).replace(tzinfo=None).isoformat(sep=" ", timespec="milliseconds")


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True)
class LogHealth:
    """What staff must know about the log's storage; all zero and empty when it is healthy."""

    queued: int = 0  # rows in memory, not yet written
    journal_rows: int = 0  # rows waiting in the journal on disk
    failures: int = 0  # consecutive failed writes
    last_error: str = ""
    moved_aside: tuple[str, ...] = ()  # damaged files moved aside since start (file names)

    @property
    def healthy(self) -> bool:
        return not (self.journal_rows or self.failures or self.moved_aside)
