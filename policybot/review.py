"""Staff and editor tools over the query log: `report`, `suggest`, `staff-web`.

`register(subparsers)` adds them to the CLI (policybot/cli.py). The building blocks are
plain functions so tests can use them without a terminal, a matcher or a browser:
`build_report` / `render_text` / `report_json` / `write_csvs`, `suggest_groups`,
`datasette_command`.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import csv
import datetime as dt
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from policybot.model import Candidate, KnowledgeBase
from policybot.querylog import STATUSES, Group, PossibleEmergency, SQLiteQueryLog, Stats

EXIT_OK, EXIT_ERRORS, EXIT_USAGE = 0, 1, 2
DEFAULT_DB = "data/policybot.sqlite3"
DEFAULT_KNOWLEDGE = "knowledge"
STAFF_METADATA = Path(__file__).resolve().parent.parent / "staff" / "metadata.yml"
# the database name staff/metadata.yml is written for; staff-web renames it to the file's stem
METADATA_DB_NAME = "policybot"
# reports never hash chat ids, but the log wants a salt
_REPORT_SALT = "reports-do-not-hash"


# --------------------------------------------------------------------------------------------
# Arguments


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


def _since_arg(value: str) -> str:
    parse_since(value)  # validated now, parsed later with the chosen UTC offset
    return value


def _offset_arg(value: str) -> dt.timedelta:
    try:
        return parse_utc_offset(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--db",
        default=os.environ.get("POLICYBOT_DB") or DEFAULT_DB,
        help="query log database (env POLICYBOT_DB; default %(default)s)",
    )
    p.add_argument(
        "--knowledge",
        default=os.environ.get("POLICYBOT_KNOWLEDGE_DIR") or DEFAULT_KNOWLEDGE,
        help="knowledge directory (env POLICYBOT_KNOWLEDGE_DIR; default %(default)s)",
    )


def register(subparsers: Any) -> None:
    """Add `report`, `suggest` and `staff-web` to an argparse subparsers object."""
    p = subparsers.add_parser("report", help="query log report: volume, answer rate, gaps")
    _common(p)
    p.add_argument("--since", default="7d", type=_since_arg, help="7d, 24h, 30d or an ISO date (default 7d)")
    p.add_argument(
        "--utc-offset",
        default="local",
        type=_offset_arg,
        help="days are counted at this offset (default: local)",
    )
    p.add_argument("--top", type=int, default=10, help="rows in the entry and group tables (default 10)")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of tables")
    p.add_argument("--csv", metavar="DIR", help="also write one CSV per table into DIR")
    p.set_defaults(func=cmd_report)

    p = subparsers.add_parser("suggest", help="YAML snippets that close gaps found in the query log")
    _common(p)
    p.add_argument("--since", default="30d", type=_since_arg, help="default 30d")
    p.add_argument("--groups", type=int, default=20, help="at most this many groups (default 20)")
    p.add_argument(
        "--min-score",
        type=float,
        default=None,
        help="nearest score from which alternates are suggested instead of a new entry"
        " (default: the knowledge base's suggest_threshold)",
    )
    p.add_argument("--similarity", type=float, default=70.0, help="grouping similarity 0-100 (default 70)")
    p.set_defaults(func=cmd_suggest)

    p = subparsers.add_parser("staff-web", help="serve the query log read-only with Datasette")
    _common(p)
    p.add_argument("--host", default="127.0.0.1", help="default 127.0.0.1 (keep it local; put auth in front)")
    p.add_argument("--port", type=int, default=8001)
    p.add_argument(
        "--metadata", default=str(STAFF_METADATA), help="Datasette metadata (default staff/metadata.yml)"
    )
    p.add_argument(
        "--immutable",
        action="store_true",
        help="serve a snapshot file with -i (never a live log: immutable mode ignores the WAL)",
    )
    p.set_defaults(func=cmd_staff_web)


# --------------------------------------------------------------------------------------------
# Tables: CJK-aware plain text


def display_width(text: str) -> int:
    """Terminal columns: wide/full-width characters take two, combining marks none."""
    width = 0
    for ch in text:
        if unicodedata.combining(ch):
            continue
        width += 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1
    return width


def clip(text: str, width: int) -> str:
    """Cut to `width` columns, marking the cut with an ellipsis."""
    text = " ".join(text.split())  # newlines and tabs would break the table
    if display_width(text) <= width:
        return text
    out, used = [], 0
    for ch in text:
        w = display_width(ch)
        if used + w > width - 3:
            break
        out.append(ch)
        used += w
    # ASCII, not "…": ambiguous-width characters are double in CJK terminals and fonts
    return "".join(out) + "..."


def pad(text: str, width: int, align: str = "<") -> str:
    gap = max(0, width - display_width(text))
    return " " * gap + text if align == ">" else text + " " * gap


@dataclass(frozen=True)
class Column:
    key: str
    header: str
    kind: str = "text"  # text | int | pct | float
    max_width: int = 40


@dataclass(frozen=True)
class Table:
    name: str  # also the CSV file name
    title: str
    columns: tuple[Column, ...]
    rows: tuple[Mapping[str, Any], ...]

    def cell(self, row: Mapping[str, Any], col: Column) -> str:
        value = row.get(col.key)
        if value is None:
            return "-" if col.kind != "text" else ""
        if col.kind == "pct":
            return f"{value:.1f}%"
        if col.kind == "float":
            return f"{value:.1f}"
        return clip(str(value), col.max_width)


def format_table(table: Table) -> str:
    cols = table.columns
    cells = [[table.cell(r, c) for c in cols] for r in table.rows]
    widths = [
        max([display_width(c.header)] + [display_width(row[i]) for row in cells]) for i, c in enumerate(cols)
    ]
    aligns = ["<" if c.kind == "text" else ">" for c in cols]

    def line(values: Sequence[str]) -> str:
        return "  ".join(pad(v, w, a) for v, w, a in zip(values, widths, aligns, strict=True)).rstrip()

    # ASCII rule: box-drawing characters are "ambiguous" width, double in CJK terminals/fonts
    out = [table.title, line([c.header for c in cols]), "  ".join("-" * w for w in widths)]
    out += [line(row) for row in cells] or ["(none)"]
    return "\n".join(out)


# --------------------------------------------------------------------------------------------
# Report


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
        statuses = STATUSES
        daily = Table(
            "daily",
            f"Questions per day ({_fmt_offset(self.utc_offset)})",
            (
                Column("day", "day"),
                Column("total", "total", "int"),
                *(Column(st, st, "int") for st in statuses),
                Column("answered_pct", "answered %", "pct"),
            ),
            tuple(
                {
                    "day": d.day,
                    "total": d.total,
                    **{st: getattr(d, st) for st in statuses},
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
                for st in statuses
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
    qlog: SQLiteQueryLog,
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


def _entry_titles(directory: str) -> dict[str, str]:
    """Entry questions for the report's tables; the report works without them."""
    try:
        from policybot.knowledge import load

        kb = load(directory).kb
    except Exception:  # a broken or missing knowledge dir must not stop a report
        return {}
    return {e.id: e.question for e in kb.entries.values()} if kb else {}


def _open_log(path: str) -> SQLiteQueryLog | None:
    if not Path(path).exists():
        print(f"no query log at {path} (set --db or POLICYBOT_DB)", file=sys.stderr)
        return None
    return SQLiteQueryLog(path, _REPORT_SALT)


def cmd_report(args: argparse.Namespace) -> int:
    qlog = _open_log(args.db)
    if qlog is None:
        return EXIT_ERRORS
    since = parse_since(args.since, utc_offset=args.utc_offset)

    async def run() -> Report:
        async with qlog:
            return await build_report(
                qlog, since, utc_offset=args.utc_offset, titles=_entry_titles(args.knowledge), top=args.top
            )

    report = asyncio.run(run())
    if args.csv:
        for path in write_csvs(report, args.csv):
            print(f"wrote {path}", file=sys.stderr)
    if args.json:
        print(json.dumps(report_json(report), ensure_ascii=False, indent=2))
    else:
        print(render_text(report), end="")
    return EXIT_OK


# --------------------------------------------------------------------------------------------
# Suggest

RankFn = Callable[[str, int], Sequence[Candidate]]

# Question words that say nothing about the topic, kept out of suggested keywords.
_STOPWORDS = frozenset(
    "怎么 怎么样 怎样 如何 什么 哪里 哪儿 哪个 可以 能不能 是不是 需要 多少 为什么 请问 一下 我们 我的 你们 没有"
    " 现在 这个 那个 还是 或者 的话 要求 时候 知道 想问".split()
)


@dataclass(frozen=True)
class Suggestion:
    group: Group
    nearest: tuple[Candidate, ...]  # best first
    target: str | None  # entry to extend with alternates, or None: a new entry
    new_phrasings: tuple[str, ...]  # the group's phrasings the target does not have yet
    snippet: str  # YAML, with comments saying where it goes


def nearest_entries(
    texts: Sequence[str], rank: RankFn, limit: int = 3, sample: int = 8
) -> tuple[Candidate, ...]:
    """Entries nearest to a group: best score over its most frequent phrasings, then how often."""
    best: dict[str, float] = {}
    hits: collections.Counter[str] = collections.Counter()
    for text in texts[:sample]:
        for c in rank(text, limit):
            best[c.entry_id] = max(best.get(c.entry_id, 0.0), c.score)
            hits[c.entry_id] += 1
    order = sorted(best, key=lambda e: (-best[e], -hits[e], e))
    return tuple(Candidate(e, best[e]) for e in order[:limit])


def _keywords(texts: Sequence[str], limit: int = 5) -> list[str]:
    """Words shared by the group's phrasings (jieba), for the skeleton's keywords."""
    try:
        import jieba

        jieba.setLogLevel(60)  # silence its start-up chatter in CLI output
        seen = collections.Counter()
        for text in texts:
            seen.update(
                {
                    w
                    for w in jieba.lcut(text)
                    if len(w.strip()) >= 2 and w not in _STOPWORDS and not w.isdigit()
                }
            )
    except Exception:  # keywords are a convenience; the editor writes them anyway
        return []
    need = max(1, len(texts) // 2)
    return [w for w, n in seen.most_common() if n >= need][:limit]


def _norm(text: str, kb: KnowledgeBase) -> str:
    from policybot.text import normalise

    return normalise(text, kb.filler)


def _dump(data: Any) -> str:
    return yaml.safe_dump(data, allow_unicode=True, sort_keys=False, default_flow_style=False, width=1000)


def suggest_groups(
    groups: Iterable[Group],
    kb: KnowledgeBase,
    rank: RankFn,
    *,
    min_score: float | None = None,
    today: dt.date | None = None,
) -> list[Suggestion]:
    """For each group: nearest entries and a YAML snippet (alternates for the nearest, or a new entry)."""
    threshold = kb.settings.suggest_threshold if min_score is None else min_score
    today = today or dt.date.today()
    out = []
    for number, group in enumerate(groups, 1):
        nearest = nearest_entries(group.texts, rank)
        top = nearest[0] if nearest else None
        entry = kb.entries.get(top.entry_id) if top else None
        if top is not None and entry is not None and top.score >= threshold:
            have = {_norm(p, kb) for p in entry.phrasings}
            new = tuple(t for t in group.texts if _norm(t, kb) not in have)
            where = f"{entry.file}:{entry.line}" if entry.file else "its file"
            if new:
                head = (
                    f"# add to entry {entry.id} ({where}), nearest score {top.score:.1f}:\n"
                    f"# append these lines to its `alternates:`\n"
                )
                snippet = head + _dump({"id": entry.id, "alternates": list(new)})
            else:
                snippet = f"# entry {entry.id} ({where}) already has all these phrasings\n"
            out.append(Suggestion(group, nearest, entry.id, new, snippet))
            continue
        near = ", ".join(f"{c.entry_id} ({c.score:.1f})" for c in nearest) or "none"
        file_hint = f"; nearest entry's file: {entry.file}" if entry is not None and entry.file else ""
        skeleton = {
            "id": f"TODO-new-entry-{number}",
            "question": group.example,
            "alternates": list(group.texts[1:]),
            "keywords": _keywords(group.texts),
            "answer": "TODO: write the answer",
            "source": "TODO: the document or page this answer comes from",
            "updated": today,
        }
        snippet = f"# new entry ({_plural(group.count, 'question')}); nearest: {near}{file_hint}\n" + _dump(
            [skeleton]
        )
        out.append(Suggestion(group, nearest, None, tuple(group.texts), snippet))
    return out


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def render_suggestions(suggestions: Sequence[Suggestion]) -> str:
    if not suggestions:
        return "No unanswered or “none of these” questions in this period.\n"
    parts = []
    for i, s in enumerate(suggestions, 1):
        near = "  ".join(f"{c.entry_id} {c.score:.1f}" for c in s.nearest) or "–"
        action = f"add alternates to {s.target}" if s.target else "new entry"
        parts.append(
            f"── {i}. {s.group.count}× “{clip(s.group.example, 50)}” ({_plural(len(s.group.texts), 'phrasing')})\n"
            f"   nearest: {near}\n   suggestion: {action}\n\n{s.snippet}"
        )
    return "\n".join(parts)


def cmd_suggest(args: argparse.Namespace) -> int:
    try:
        from policybot.knowledge import load
        from policybot.matcher import Matcher
    except ImportError as exc:
        print(f"suggest needs the knowledge loader and matcher: {exc}", file=sys.stderr)
        return EXIT_ERRORS
    result = load(args.knowledge)
    if result.kb is None:
        for problem in result.problems:
            print(problem, file=sys.stderr)
        print(f"the knowledge base in {args.knowledge} has errors; fix them first", file=sys.stderr)
        return EXIT_ERRORS
    qlog = _open_log(args.db)
    if qlog is None:
        return EXIT_ERRORS
    since = parse_since(args.since)

    async def run() -> list[Group]:
        async with qlog:
            return await qlog.unanswered_groups(since, limit=args.groups, threshold=args.similarity)

    groups = asyncio.run(run())
    matcher = Matcher(result.kb)
    suggestions = suggest_groups(groups, result.kb, matcher.rank, min_score=args.min_score)
    print(render_suggestions(suggestions), end="")
    return EXIT_OK


# --------------------------------------------------------------------------------------------
# Staff web page (Datasette)


def staff_metadata(source: str | Path, db_name: str) -> dict[str, Any]:
    """staff/metadata.yml with its database block renamed to the served file's name."""
    data = yaml.safe_load(Path(source).read_text(encoding="utf-8")) or {}
    databases = data.get("databases") or {}
    if METADATA_DB_NAME in databases and db_name != METADATA_DB_NAME:
        databases[db_name] = databases.pop(METADATA_DB_NAME)
    return data


def datasette_command(
    db: str | Path,
    metadata: str | Path,
    *,
    host: str = "127.0.0.1",
    port: int = 8001,
    immutable: bool = False,
) -> list[str]:
    """The venv's Datasette, serving the log read-only.

    A live log is served in mutable mode: Datasette 0.65 reads it through `mode=ro`
    connections and has no write API, while `-i` (immutable) would ignore the WAL and show
    stale rows. Arbitrary SQL and whole-file download are off, so nothing beyond the canned
    queries and the allowed tables (none of which show chat hashes) can be read.
    """
    return [
        sys.executable,
        "-m",
        "datasette",
        "serve",
        *(["-i"] if immutable else []),
        str(db),
        "--metadata",
        str(metadata),
        "--host",
        host,
        "--port",
        str(port),
        "--setting",
        "default_allow_sql",
        "off",
        "--setting",
        "allow_download",
        "off",
        "--setting",
        "sql_time_limit_ms",
        "5000",
    ]


def cmd_staff_web(args: argparse.Namespace) -> int:
    db = Path(args.db)
    if not db.exists():
        print(f"no query log at {db} (set --db or POLICYBOT_DB)", file=sys.stderr)
        return EXIT_ERRORS
    with tempfile.TemporaryDirectory(prefix="policybot-staff-") as tmp:
        metadata = Path(tmp) / "metadata.json"
        metadata.write_text(
            json.dumps(staff_metadata(args.metadata, db.stem), ensure_ascii=False), encoding="utf-8"
        )
        cmd = datasette_command(db, metadata, host=args.host, port=args.port, immutable=args.immutable)
        print(f"staff page: http://{args.host}:{args.port}/{db.stem}", file=sys.stderr, flush=True)
        proc = subprocess.Popen(cmd)
        # pass a service manager's SIGTERM on, so Datasette never outlives this process
        previous = signal.signal(signal.SIGTERM, lambda *_: proc.terminate())
        try:
            return proc.wait()
        except KeyboardInterrupt:
            proc.terminate()
            return proc.wait()
        finally:
            signal.signal(signal.SIGTERM, previous)


def main(argv: list[str] | None = None) -> int:
    """`python -m policybot.review COMMAND`: the same commands without the rest of the CLI."""
    parser = argparse.ArgumentParser(prog="policybot.review")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
