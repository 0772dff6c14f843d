"""`report`: the query log as tables for staff (terminal text, JSON, or one CSV per table).

Periods are given as `--since 7d` or a date; days are counted at a UTC offset (local by
default). Reads through a `QueryReader`, so a report never writes to the log.
"""

from __future__ import annotations

import csv
import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from policybot.model import STATUSES, KnowledgeBase
from policybot.staff.tables import Column, Table, format_table
from policybot.storage.interface import QueryReader
from policybot.storage.records import Group, PossibleEmergency, Stats


def parse_utc_offset(value: str) -> dt.timedelta:
    """'local', '+08:00', '+8', '-0530', 'UTC' -> offset."""
    value = value.strip()
    if value.lower() == "local":
        return dt.datetime.now().astimezone().utcoffset() or dt.timedelta(0)
    if value.upper() in ("UTC", "Z", "0"):
        return dt.timedelta(0)
    m = re.fullmatch(r"([+-]?)(\d{1,2})(?::?(\d{2}))?", value)
    if not m:
        raise ValueError(f"UTC offset must look like +08:00, -5 or 'local', got {value!r}")
    sign = -1 if m.group(1) == "-" else 1
    offset = dt.timedelta(hours=int(m.group(2)), minutes=int(m.group(3) or 0))
    if offset > dt.timedelta(hours=14):
        raise ValueError(f"UTC offset out of range: {value!r}")
    return sign * offset


def parse_since(
    value: str, *, now: dt.datetime | None = None, utc_offset: dt.timedelta = dt.timedelta(0)
) -> dt.datetime:
    """'7d', '24h', '2w', '90m' (ago), or an ISO date/time (at `utc_offset` when it has none)."""
    now = now or dt.datetime.now(dt.UTC)
    value = value.strip()
    m = re.fullmatch(r"(\d+)\s*([mhdw])", value.lower())
    if m:
        unit = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}[m.group(2)]
        return now - dt.timedelta(**{unit: int(m.group(1))})
    try:
        at = dt.datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(
            f"--since must be like 7d, 24h, 2w or an ISO date (2024-05-01), got {value!r}"
        ) from None
    if at.tzinfo is None:
        at = at.replace(tzinfo=dt.timezone(utc_offset))
    return at.astimezone(dt.UTC)


def _pct(part: int, whole: int) -> float | None:
    return round(100.0 * part / whole, 1) if whole else None


def _fmt_offset(offset: dt.timedelta) -> str:
    minutes = int(offset.total_seconds() // 60)
    sign = "-" if minutes < 0 else "+"
    return f"UTC{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


@dataclass(frozen=True)
class Report:
    since: dt.datetime
    generated: dt.datetime
    utc_offset: dt.timedelta
    stats: Stats
    groups: tuple[Group, ...]
    titles: Mapping[str, str] = field(default_factory=dict)  # entry id -> question, when the KB loaded
    top: int = 10
    possible: tuple[PossibleEmergency, ...] = ()  # not flagged, with risk words: read first

    def tables(self) -> list[Table]:
        s = self.stats
        daily = Table(
            "daily",
            f"Questions per day ({_fmt_offset(self.utc_offset)})",
            (
                Column("day", "day"),
                Column("total", "total", "int"),
                *(Column(st, st, "int") for st in STATUSES),
                Column("answered_pct", "answered %", "pct"),
            ),
            tuple(
                {
                    "day": d.day,
                    "total": d.total,
                    **{st: getattr(d, st) for st in STATUSES},
                    "answered_pct": _pct(d.answered, d.total),
                }
                for d in s.per_day
            ),
        )
        status_table = Table(
            "statuses",
            "Outcomes",
            (
                Column("status", "status"),
                Column("count", "count", "int"),
                Column("share_pct", "share", "pct"),
            ),
            tuple(
                {"status": st, "count": s.count(st), "share_pct": _pct(s.count(st), s.total)}
                for st in STATUSES
            ),
        )
        entry_cols = (
            Column("entry_id", "entry"),
            Column("question", "question", max_width=30),
            Column("asked", "asked", "int"),
            Column("helpful", "helpful", "int"),
            Column("unhelpful", "unhelpful", "int"),
            Column("helpful_pct", "helpful %", "pct"),
        )

        def entry_row(e: Any) -> dict[str, Any]:
            return {
                "entry_id": e.entry_id,
                "question": self.titles.get(e.entry_id, ""),
                "asked": e.count,
                "helpful": e.helpful,
                "unhelpful": e.unhelpful,
                "helpful_pct": _pct(e.helpful, e.feedback),
            }

        top_entries = Table(
            "top_entries",
            "Most asked entries",
            entry_cols,
            tuple(entry_row(e) for e in s.entries[: self.top]),
        )
        rated = sorted(
            (e for e in s.entries if e.feedback),
            key=lambda e: (e.helpful_rate, -e.unhelpful, e.entry_id),
        )
        unhelpful = Table(
            "unhelpful",
            "Worst helpful rate (entries with feedback)",
            entry_cols,
            tuple(entry_row(e) for e in rated[: self.top]),
        )
        groups = Table(
            "unanswered_groups",
            "Unanswered and “none of these” questions, grouped",
            (
                Column("count", "count", "int"),
                Column("example", "example", max_width=40),
                Column("phrasings", "phrasings", "int"),
                Column("others", "other phrasings", max_width=40),
            ),
            tuple(
                {
                    "count": g.count,
                    "example": g.example,
                    "phrasings": len(g.texts),
                    "others": " | ".join(g.texts[1:4]),
                }
                for g in self.groups[: self.top]
            ),
        )
        local = dt.timezone(self.utc_offset)
        possible = Table(
            "possible_emergencies",
            "Possible emergencies — please read (not flagged, but with risk words)",
            (
                Column("at", "asked at"),
                Column("question", "question", max_width=50),
                Column("risk", "risk words", max_width=30),
                Column("status", "outcome"),
            ),
            tuple(
                {
                    "at": f"{p.at.astimezone(local):%Y-%m-%d %H:%M}",
                    "question": p.text,
                    "risk": ", ".join(p.risk),
                    "status": p.status,
                }
                for p in self.possible
            ),
        )
        kinds = Table(
            "emergency_kinds",
            "Emergency replies by kind",
            (Column("kind", "kind"), Column("count", "count", "int")),
            tuple({"kind": k, "count": n} for k, n in s.emergency_kinds.items()),
        )
        return [possible, daily, status_table, kinds, top_entries, unhelpful, groups]

    def summary(self) -> dict[str, Any]:
        s = self.stats
        return {
            "since": self.since.isoformat(),
            "generated": self.generated.isoformat(),
            "utc_offset": _fmt_offset(self.utc_offset),
            "total": s.total,
            "answered_pct": _pct(s.answered, s.total),
            "helpful": s.helpful,
            "unhelpful": s.unhelpful,
            "chose_entry": s.chose_entry,
            "chose_none": s.chose_none,
            "staff_attempts": s.staff_attempts,
            "latency_p50_ms": round(s.latency_p50_ms, 1),
            "latency_p95_ms": round(s.latency_p95_ms, 1),
        }


async def build_report(
    qlog: QueryReader,
    since: dt.datetime,
    *,
    utc_offset: dt.timedelta = dt.timedelta(0),
    titles: Mapping[str, str] | None = None,
    top: int = 10,
    similarity: float = 70.0,
) -> Report:
    stats = await qlog.stats(since, utc_offset=utc_offset)
    groups = await qlog.unanswered_groups(since, limit=0, threshold=similarity)
    possible = await qlog.possible_emergencies(since, limit=top * 5)
    return Report(
        since=since,
        generated=dt.datetime.now(dt.UTC),
        utc_offset=utc_offset,
        stats=stats,
        groups=tuple(groups),
        titles=dict(titles or {}),
        top=top,
        possible=tuple(possible),
    )


def render_text(report: Report) -> str:
    s = report.summary()
    local = dt.timezone(report.utc_offset)
    head = [
        f"policybot query log — since {report.since.astimezone(local):%Y-%m-%d %H:%M} ({s['utc_offset']})",
        f"{s['total']} questions, {s['answered_pct'] if s['answered_pct'] is not None else 0:.1f}% answered;"
        f" feedback: helpful {s['helpful']}, unhelpful {s['unhelpful']};"
        f" did-you-mean picked {s['chose_entry']}, none of these {s['chose_none']};"
        f" latency p50 {s['latency_p50_ms']:.1f} ms, p95 {s['latency_p95_ms']:.1f} ms;"
        f" staff-command attempts by non-staff {s['staff_attempts']}",
    ]
    return "\n\n".join(["\n".join(head), *(format_table(t) for t in report.tables())]) + "\n"


def report_json(report: Report) -> dict[str, Any]:
    summary = report.summary()
    out: dict[str, Any] = {k: summary.pop(k) for k in ("since", "generated", "utc_offset")}
    out["totals"] = summary
    out["statuses"] = {st: report.stats.count(st) for st in STATUSES}
    for table in report.tables():
        if table.name == "unanswered_groups":
            out[table.name] = [
                {"count": g.count, "example": g.example, "texts": list(g.texts)}
                for g in report.groups[: report.top]
            ]
        elif table.name != "statuses":
            out[table.name] = [dict(r) for r in table.rows]
    return out


def write_csvs(report: Report, directory: str | Path) -> list[Path]:
    """One CSV per table. UTF-8 with BOM so spreadsheet programs show Chinese correctly."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for table in report.tables():
        path = directory / f"{table.name}.csv"
        with path.open("w", newline="", encoding="utf-8-sig") as f:
            writer = csv.writer(f)
            writer.writerow([c.key for c in table.columns])
            for row in table.rows:
                writer.writerow(["" if row.get(c.key) is None else row.get(c.key) for c in table.columns])
        written.append(path)
    return written


def entry_titles(kb: KnowledgeBase | None) -> dict[str, str]:
    """Entry questions for the report's tables (none when the knowledge base did not load)."""
    return {e.id: e.question for e in kb.entries.values()} if kb else {}
