"""Staff tools: report (text, JSON, CSV), suggest (YAML snippets), staff page metadata; the
commands run in-process through cli.main and read the log read-only."""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import io
import json
import re
import sqlite3
import sys
import types
from pathlib import Path

import pytest
import yaml

from policybot import bootstrap, knowledge
from policybot.cli import main
from policybot.model import Candidate, Category, Entry, KnowledgeBase, MatchSettings
from policybot.staff import report as staff_report
from policybot.staff import web
from policybot.staff.report import parse_since, parse_utc_offset
from policybot.staff.suggest import suggest_groups
from policybot.staff.tables import Column, Table, clip, display_width, format_table
from policybot.storage import migrations
from policybot.storage.records import Group, QueryRecord
from policybot.storage.reports import QueryLogReader
from policybot.storage.sqlite import SQLiteQueryLog

NOW = dt.datetime.now(dt.UTC)
REPO = Path(__file__).resolve().parent.parent


def rec(i: int, text: str, status: str, entry_id: str | None = None, days_ago: int = 0) -> QueryRecord:
    return QueryRecord(
        query_id=f"r{i:09d}",
        at=NOW - dt.timedelta(days=days_ago, minutes=1),
        chat=f"tg:{i % 3}",
        lang="zh-Hans",
        text=text,
        normalised=text,
        status=status,
        entry_id=entry_id,
        score=75.0 if entry_id else 20.0,
        candidates=(),
        latency_ms=4.0,
        kb_version="v1",
        channel="telegram",
    )


async def fill(path: Path) -> None:
    async with SQLiteQueryLog(path, "salt") as qlog:
        for i, (days_ago, text, status, entry) in enumerate(
            [
                (0, "门诊怎么报销", "answered", "outpatient"),
                (0, "门诊能报多少", "answered", "outpatient"),
                (0, "门诊报销比例", "answered", "outpatient"),
                (1, "住院怎么报销", "answered", "inpatient"),
                (1, "住院能报多少", "answered", "inpatient"),
                (1, "医保卡丢了怎么补办", "unanswered", None),
                (1, "医保卡丢了怎么补办", "unanswered", None),
                (0, "医保卡丢了怎么办", "unanswered", None),
                (0, "宠物打疫苗", "unanswered", None),
                (0, "胸口疼喘不上气", "emergency", None),
                (0, "你好", "smalltalk", None),
                (0, "报销", "ambiguous", None),
                (40, "很久以前的问题", "unanswered", None),
            ]
        ):
            qlog.record(rec(i, text, status, entry, days_ago))
        qlog.feedback("r000000000", True, "outpatient")
        qlog.feedback("r000000001", False, "outpatient")
        qlog.feedback("r000000003", False, "inpatient")
        qlog.feedback("r000000004", False, "inpatient")
        qlog.choice("r000000011", None)  # "报销": none of these


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "policybot.sqlite3"
    asyncio.run(fill(path))
    return path


# Reports work without a knowledge base (entry questions are then left out).
NO_KNOWLEDGE = {"POLICYBOT_KNOWLEDGE_DIR": "/nonexistent"}


def run(*argv: str, env: dict[str, str] | None = None) -> int:
    return main(list(argv), env=NO_KNOWLEDGE if env is None else env)


# -- arguments ----------------------------------------------------------------------------------


def test_parse_since() -> None:
    now = dt.datetime(2024, 5, 10, 12, 0, tzinfo=dt.UTC)
    assert parse_since("7d", now=now) == now - dt.timedelta(days=7)
    assert parse_since("24h", now=now) == now - dt.timedelta(hours=24)
    assert parse_since("2w", now=now) == now - dt.timedelta(days=14)
    assert parse_since("2024-05-01") == dt.datetime(2024, 5, 1, tzinfo=dt.UTC)
    # a date is midnight where the report's days are counted
    assert parse_since("2024-05-01", utc_offset=dt.timedelta(hours=8)) == dt.datetime(
        2024, 4, 30, 16, tzinfo=dt.UTC
    )
    assert parse_since("2024-05-01T10:00+02:00") == dt.datetime(2024, 5, 1, 8, tzinfo=dt.UTC)
    with pytest.raises(ValueError):
        parse_since("last week")


def test_parse_utc_offset() -> None:
    assert parse_utc_offset("+08:00") == dt.timedelta(hours=8)
    assert parse_utc_offset("8") == dt.timedelta(hours=8)
    assert parse_utc_offset("-0530") == -dt.timedelta(hours=5, minutes=30)
    assert parse_utc_offset("UTC") == dt.timedelta(0)
    assert isinstance(parse_utc_offset("local"), dt.timedelta)
    with pytest.raises(ValueError):
        parse_utc_offset("+25")


def test_bad_since_is_a_usage_error(capsys) -> None:
    with pytest.raises(SystemExit) as exit_info:
        run("report", "--since", "yesterday")
    assert exit_info.value.code == 2 and "--since must be like 7d" in capsys.readouterr().err


def test_db_and_knowledge_default_to_the_settings(db: Path, capsys) -> None:
    assert run("report", "--json", env={"POLICYBOT_DB": str(db), "POLICYBOT_KNOWLEDGE_DIR": "/nonexistent"}) == 0
    assert json.loads(capsys.readouterr().out)["totals"]["total"] == 12


# -- tables -------------------------------------------------------------------------------------


def test_display_width() -> None:
    assert display_width("abc") == 3
    assert display_width("医保") == 4
    assert display_width("ＡＢ？") == 6  # full-width
    assert display_width("e\u0301") == 1  # combining accent


def test_format_table_aligns_cjk() -> None:
    table = Table(
        "t",
        "Title",
        (Column("name", "name"), Column("n", "n", "int"), Column("pct", "pct", "pct")),
        ({"name": "门诊报销", "n": 3, "pct": 50.0}, {"name": "abc", "n": 12345, "pct": None}),
    )
    lines = format_table(table).splitlines()
    assert lines[0] == "Title"
    # every line ends its second column at the same display column
    ends = {
        display_width(line[: line.index(str(n)) + len(str(n))])
        for line, n in ((lines[3], 3), (lines[4], 12345))
    }
    assert len(ends) == 1
    assert lines[4].endswith("-")


def test_clip_long_text() -> None:
    assert clip("医" * 30, 10) == "医" * 3 + "..."
    assert display_width(clip("医" * 30, 10)) <= 10
    assert clip("a\nb", 10) == "a b"


# -- report -------------------------------------------------------------------------------------


def test_report_text(db: Path, capsys) -> None:
    assert (
        run(
            "report",
            "--db",
            str(db),
            "--since",
            "7d",
            "--utc-offset",
            "UTC",
            "--knowledge",
            "/nonexistent",
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "12 questions" in out  # the 40-day-old one is outside the period
    for title in ("Questions per day", "Outcomes", "Most asked entries", "Worst helpful rate", "grouped"):
        assert title in out
    assert re.search(r"outpatient\s+3\s+1\s+1\s+50\.0%", out)
    # the two phrasings of the lost-card question form one group of 3
    assert re.search(r"^\s+3\s+医保卡丢了怎么补办\s+2\s+医保卡丢了怎么办", out, re.M)
    assert "很久以前" not in out


async def test_build_report_tables(db: Path) -> None:
    async with QueryLogReader(db) as qlog:
        report = await staff_report.build_report(
            qlog, NOW - dt.timedelta(days=7), titles={"outpatient": "门诊看病怎么报销？"}, top=10
        )
    tables = {t.name: t for t in report.tables()}
    assert list(tables) == [
        "possible_emergencies", "daily", "statuses", "emergency_kinds", "top_entries", "unhelpful",
        "unanswered_groups",
    ]
    statuses = {r["status"]: r["count"] for r in tables["statuses"].rows}
    assert statuses == {
        "answered": 5, "ambiguous": 1, "unanswered": 4, "emergency": 1, "smalltalk": 1, "out_of_scope": 0
    }
    assert sum(r["total"] for r in tables["daily"].rows) == 12
    assert tables["top_entries"].rows[0]["question"] == "门诊看病怎么报销？"
    # inpatient: 0 of 2 helpful is worse than outpatient's 1 of 2
    assert [r["entry_id"] for r in tables["unhelpful"].rows] == ["inpatient", "outpatient"]
    assert [r["count"] for r in tables["unanswered_groups"].rows] == [3, 1, 1]


def test_report_json(db: Path, capsys) -> None:
    assert run("report", "--db", str(db), "--json", "--utc-offset", "+08:00") == 0
    data = json.loads(capsys.readouterr().out)
    assert data["utc_offset"] == "UTC+08:00"
    totals = data["totals"]
    assert totals["total"] == 12
    assert totals["answered_pct"] == pytest.approx(41.7)
    assert data["statuses"]["unanswered"] == 4
    assert totals["chose_none"] == 1
    assert (totals["helpful"], totals["unhelpful"]) == (1, 3)
    assert data["top_entries"][0] == {
        "entry_id": "outpatient",
        "question": "",
        "asked": 3,
        "helpful": 1,
        "unhelpful": 1,
        "helpful_pct": 50.0,
    }
    assert data["unhelpful"][0]["entry_id"] == "inpatient"
    first = data["unanswered_groups"][0]
    assert first["count"] == 3
    assert set(first["texts"]) == {"医保卡丢了怎么补办", "医保卡丢了怎么办"}
    assert {g["example"] for g in data["unanswered_groups"]} >= {"宠物打疫苗", "报销"}
    assert sum(d["total"] for d in data["daily"]) == 12


def test_report_csv(db: Path, tmp_path: Path, capsys) -> None:
    out_dir = tmp_path / "csv"
    assert run("report", "--db", str(db), "--csv", str(out_dir)) == 0
    names = sorted(p.name for p in out_dir.iterdir())
    assert names == [
        "daily.csv", "emergency_kinds.csv", "possible_emergencies.csv", "statuses.csv", "top_entries.csv",
        "unanswered_groups.csv", "unhelpful.csv",
    ]

    def read(name: str) -> list[dict[str, str]]:
        with (out_dir / name).open(encoding="utf-8-sig", newline="") as f:
            return list(csv.DictReader(f))

    assert {r["status"]: r["count"] for r in read("statuses.csv")}["answered"] == "5"
    assert read("top_entries.csv")[0]["entry_id"] == "outpatient"
    groups = read("unanswered_groups.csv")
    assert groups[0]["count"] == "3" and groups[0]["example"] == "医保卡丢了怎么补办"
    assert sum(int(r["total"]) for r in read("daily.csv")) == 12
    assert read("unhelpful.csv")[0]["helpful_pct"] == "0.0"


def test_report_without_db(tmp_path: Path, capsys) -> None:
    missing = tmp_path / "none.sqlite3"
    assert run("report", "--db", str(missing)) == 1
    assert "no query log" in capsys.readouterr().err
    assert not missing.exists()  # a report never creates an empty log


def test_report_never_writes_the_log(db: Path, capsys) -> None:
    """The report reads an old log as it is: it neither migrates it nor writes anything."""
    with sqlite3.connect(db) as conn:
        conn.execute("PRAGMA user_version = 3")  # as if written by an older policybot
    before = db.read_bytes()
    assert run("report", "--db", str(db)) == 1
    assert "start the bot" in capsys.readouterr().err
    assert db.read_bytes() == before
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 3


# -- suggest ------------------------------------------------------------------------------------


def make_kb() -> KnowledgeBase:
    entry = Entry(
        id="card-replace",
        category="insurance",
        question="医保卡丢了怎么补办？",
        answer="去医保窗口补办。",
        source="test",
        updated=dt.date(2024, 1, 1),
        alternates=("社保卡丢了",),
        file="knowledge/insurance.yaml",
        line=12,
    )
    other = Entry(
        id="outpatient",
        category="insurance",
        question="门诊怎么报销？",
        answer="……",
        source="test",
        updated=dt.date(2024, 1, 1),
        file="knowledge/insurance.yaml",
        line=40,
    )
    return KnowledgeBase(
        categories=(Category("insurance", "医保", ("card-replace", "outpatient")),),
        entries={e.id: e for e in (entry, other)},
        settings=MatchSettings(suggest_threshold=45.0),
    )


def fake_rank(text: str, limit: int = 3) -> list[Candidate]:
    if "卡" in text:
        return [Candidate("card-replace", 58.0), Candidate("outpatient", 20.0)][:limit]
    return [Candidate("outpatient", 21.0)][:limit]


def test_suggest_alternates_for_a_near_entry() -> None:
    group = Group(4, "医保卡掉了怎么办", ("医保卡掉了怎么办", "社保卡丢了", "医保卡不见了"))
    (s,) = suggest_groups([group], make_kb(), fake_rank)
    assert s.target == "card-replace"
    assert [c.entry_id for c in s.nearest] == ["card-replace", "outpatient"]
    assert "knowledge/insurance.yaml:12" in s.snippet
    data = yaml.safe_load(s.snippet)
    # the phrasing the entry already has is left out
    assert data == {"id": "card-replace", "alternates": ["医保卡掉了怎么办", "医保卡不见了"]}


def test_suggest_skeleton_for_a_new_question() -> None:
    group = Group(3, "宠物狗打疫苗去哪里", ("宠物狗打疫苗去哪里", "狗狗疫苗在哪打"))
    (s,) = suggest_groups([group], make_kb(), fake_rank, today=dt.date(2024, 6, 1))
    assert s.target is None
    (entry,) = yaml.safe_load(s.snippet)
    assert entry["id"].startswith("TODO")
    assert entry["question"] == "宠物狗打疫苗去哪里"
    assert entry["alternates"] == ["狗狗疫苗在哪打"]
    assert isinstance(entry["keywords"], list)
    assert entry["answer"].startswith("TODO")
    assert entry["source"].startswith("TODO")
    assert entry["updated"] == dt.date(2024, 6, 1)
    assert "outpatient (21.0)" in s.snippet


def test_suggest_min_score_and_yaml_escaping() -> None:
    tricky = '医保卡: "补办" #怎么弄'
    group = Group(1, tricky, (tricky,))
    (s,) = suggest_groups([group], make_kb(), fake_rank, min_score=90)
    assert s.target is None  # 58 is below the asked-for 90
    assert yaml.safe_load(s.snippet)[0]["question"] == tricky


def test_suggest_command_output_is_valid_yaml(db: Path, capsys, monkeypatch) -> None:
    # the knowledge base and matcher are stand-ins: this tests the command, not the matcher
    kb = make_kb()
    monkeypatch.setattr(knowledge, "load_or_raise", lambda directory: kb)
    monkeypatch.setattr(bootstrap, "build_matcher", lambda cfg, kb: types.SimpleNamespace(rank=fake_rank))
    assert run("suggest", "--db", str(db), "--since", "30d") == 0
    out = capsys.readouterr().out
    blocks = re.split(r"^── \d+\. .*$", out, flags=re.M)[1:]
    assert len(blocks) == 3  # lost card (3), pet vaccine, "报销" (none of these)
    # each block: two lines about the group, a blank line, then the snippet to paste
    parsed = [yaml.safe_load(b.split("\n\n", 1)[1]) for b in blocks]
    assert parsed[0] == {"id": "card-replace", "alternates": ["医保卡丢了怎么办"]}
    assert [p[0]["question"] for p in parsed[1:]] == ["宠物打疫苗", "报销"]
    assert "很久以前" not in out


# -- staff page ---------------------------------------------------------------------------------


def metadata() -> dict:
    return yaml.safe_load((REPO / "staff" / "metadata.yml").read_text(encoding="utf-8"))


def test_staff_metadata_canned_queries_run_and_hide_chat_hashes(db: Path) -> None:
    data = web.staff_metadata(REPO / "staff" / "metadata.yml", "policybot", "Asia/Shanghai")
    block = data["databases"]["policybot"]
    queries = block["queries"]
    assert {"unanswered_this_week", "unhelpful_answers", "daily_volume", "queries_by_entry"} <= set(queries)
    assert block["allow_sql"] is False
    assert block["tables"]["queries"]["allow"] is False
    assert block["tables"]["staff_attempts"]["allow"] is False
    with sqlite3.connect(db) as conn:
        assert "chat_hash" not in [r[1] for r in conn.execute("PRAGMA table_info(query_log)")]
        for name, q in queries.items():
            assert "chat_hash" not in q["sql"], name
            cur = conn.execute(q["sql"], {"entry_id": "outpatient"})
            assert "chat_hash" not in [d[0] for d in cur.description], name
            cur.fetchall()
        unanswered = conn.execute(queries["unanswered_this_week"]["sql"]).fetchall()
    assert unanswered[0][:2] == ("医保卡丢了怎么补办", 2)
    assert "很久以前的问题" not in [r[0] for r in unanswered]


def test_staff_page_times_are_in_the_bureaus_time_zone(db: Path) -> None:
    data = web.staff_metadata(REPO / "staff" / "metadata.yml", "policybot", "Asia/Shanghai")
    queries = data["databases"]["policybot"]["queries"]
    assert "'+480 minutes'" in queries["daily_volume"]["sql"] and "'TZ'" not in str(data)
    assert "Asia/Shanghai" in queries["recent_questions"]["description_html"]
    with sqlite3.connect(db) as conn:
        conn.execute("INSERT INTO queries (query_id, at, chat_hash, lang, text, normalised, status, score,"
                     " latency_ms, kb_version) VALUES ('tz1', '2026-03-01 17:30:00.000', 'h', 'zh-Hans',"
                     " '深夜的问题', '深夜的问题', 'unanswered', 1, 1, 'v')")
        rows = {r[1]: r[0] for r in conn.execute(queries["recent_questions"]["sql"])}
    assert rows["深夜的问题"] == "2026-03-02 01:30"  # 17:30 UTC is 01:30 the next day in Shanghai
    utc = web.staff_metadata(REPO / "staff" / "metadata.yml", "policybot", "UTC")
    assert "'+0 minutes'" in utc["databases"]["policybot"]["queries"]["daily_volume"]["sql"]


def test_staff_commands_and_report_use_the_bureaus_time_zone() -> None:
    from policybot.config import Config, ConfigError

    cfg = Config.from_env({})
    assert cfg.timezone == "Asia/Shanghai" and cfg.utc_offset() == dt.timedelta(hours=8)
    assert Config.from_env({"POLICYBOT_TIMEZONE": "Europe/Berlin"}).utc_offset(
        dt.datetime(2026, 7, 1, tzinfo=dt.UTC)) == dt.timedelta(hours=2)
    with pytest.raises(ConfigError, match="POLICYBOT_TIMEZONE"):
        Config.from_env({"POLICYBOT_TIMEZONE": "Mars/Olympus"})


def test_staff_metadata_is_renamed_for_the_served_file(tmp_path: Path) -> None:
    data = web.staff_metadata(REPO / "staff" / "metadata.yml", "log")
    assert "log" in data["databases"] and "policybot" not in data["databases"]
    assert data["databases"]["log"]["queries"]["daily_volume"]["sql"]


def test_datasette_command_is_read_only() -> None:
    cmd = web.datasette_command("data/x.sqlite3", "m.json", port=9000)
    assert cmd[:4] == [sys.executable, "-m", "datasette", "serve"]
    joined = " ".join(cmd)
    assert "default_allow_sql off" in joined and "allow_download off" in joined
    assert "-i" not in cmd  # the live log is served through read-only connections, WAL included
    assert "-i" in web.datasette_command("snap.sqlite3", "m.json", immutable=True)
    assert cmd[cmd.index("--host") + 1] == "127.0.0.1" and cmd[cmd.index("--port") + 1] == "9000"


def test_staff_web_without_db(tmp_path: Path, capsys) -> None:
    assert run("staff-web", "--db", str(tmp_path / "none.sqlite3")) == 1
    assert "no query log" in capsys.readouterr().err


def test_staff_web_refuses_to_start_without_a_login(tmp_path: Path, monkeypatch, capsys) -> None:
    db = tmp_path / "log.sqlite3"
    sqlite3.connect(db).close()
    monkeypatch.delenv("POLICYBOT_STAFF_PASSWORD_HASH", raising=False)
    assert run("staff-web", "--db", str(db)) == 2
    assert "POLICYBOT_STAFF_PASSWORD_HASH" in capsys.readouterr().err


def test_staff_password_makes_a_hash_the_login_accepts(monkeypatch, capsys) -> None:
    from datasette_auth_passwords.utils import verify_password

    monkeypatch.setattr("sys.stdin", io.StringIO("a long staff password\n"))
    assert run("staff-password", "--stdin") == 0
    line = capsys.readouterr().out.strip()
    name, _, value = line.partition("=")
    assert name == "POLICYBOT_STAFF_PASSWORD_HASH" and verify_password("a long staff password", value)
    monkeypatch.setattr("sys.stdin", io.StringIO("short\n"))
    assert run("staff-password", "--stdin") == 2
    assert "12 characters" in capsys.readouterr().err


def test_every_table_is_closed_and_the_instance_needs_the_staff_login() -> None:
    data = web.staff_metadata(REPO / "staff" / "metadata.yml", "policybot")
    assert data["allow"] == {"id": "staff"}
    assert data["plugins"]["datasette-auth-passwords"]["staff_password_hash"] == {"$env": "POLICYBOT_STAFF_PASSWORD_HASH"}
    tables = data["databases"]["policybot"]["tables"]
    # every table and view of the schema, now and after any migration
    conn = sqlite3.connect(":memory:")
    for script in migrations.MIGRATIONS:
        conn.executescript(script)
    names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type IN ('table', 'view')")}
    assert names and set(tables) >= names, names - set(tables)
    assert all(t.get("allow") is False for t in tables.values())
    cmd = web.datasette_command("x.sqlite3", "m.json")
    assert cmd[cmd.index("--plugins-dir") + 1] == str(web.STAFF_PLUGINS)


def test_staff_metadata_path_is_the_repositorys() -> None:
    assert web.STAFF_METADATA == REPO / "staff" / "metadata.yml" and web.STAFF_METADATA.is_file()


def test_storage_health_in_staff_words() -> None:
    from policybot.staff.texts import format_health
    from policybot.storage.records import LogHealth

    assert format_health(LogHealth()) == ""
    text = format_health(LogHealth(queued=12, journal_rows=40, failures=3, last_error="OperationalError: database is locked",
                                   moved_aside=("log.sqlite3.damaged-20261202T070000Z",)))
    assert "moved aside as log.sqlite3.damaged-20261202T070000Z" in text
    assert "3 failed attempts: OperationalError: database is locked); 12 rows wait in memory" in text
    assert "40 rows wait in the journal on disk" in text
