"""The staff page's SQLite copy of a PostgreSQL log (policybot/storage/mirror.py), against a real
PostgreSQL on 127.0.0.1: what the log holds, the copy holds — new rows, changed ratings, late
commits and purges — and the staff page's canned queries run on it unchanged."""

from __future__ import annotations

import datetime as dt
import stat
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from policybot.staff.web import STAFF_METADATA, staff_metadata
from policybot.storage.mirror import OVERLAP, refresh
from policybot.storage.postgres import PostgresQueryLog
from tests.conftest import rows
from tests.test_storage import NOW, SALT, make


def _canned(name: str) -> str:
    return str(staff_metadata(STAFF_METADATA, "policybot")["databases"]["policybot"]["queries"][name]["sql"])


@pytest.fixture
def pg_url(postgres: Any, request: pytest.FixtureRequest) -> str:
    return str(postgres.createdb("mirror_" + request.node.name.removeprefix("test_")[:40]))


async def test_the_copy_follows_the_log(pg_url: str, tmp_path: Path) -> None:
    copy = tmp_path / "staff" / "policybot.sqlite3"
    async with PostgresQueryLog(pg_url, SALT) as qlog:
        qlog.record(make(1, entry_id="card"))
        qlog.record(make(2, status="unanswered", entry_id=None, text="宠物狗打疫苗去哪"))
        qlog.record(make(3, status="ambiguous", entry_id=None, candidates=("a", "b"), text="报销"))
        qlog.feedback("q000000001", False, "card")
        qlog.choice("q000000003", "b")
        qlog.staff_attempt("tg:1", "/stats")
        assert await qlog.flush()
        first = await refresh(pg_url, copy)
        assert first.copied == 5
        assert rows(copy, "SELECT query_id, status FROM queries ORDER BY 1") == [
            ("q000000001", "answered"), ("q000000002", "unanswered"), ("q000000003", "ambiguous")]
        assert rows(copy, "SELECT query_id, entry_id, helpful FROM feedback") == [("q000000001", "card", 0)]
        assert stat.S_IMODE(copy.stat().st_mode) == 0o600
        assert rows(copy, "SELECT count(*) FROM staff_attempts") == [(0,)]  # not what the page reads

        # a changed rating and a new question reach the copy; nothing is doubled
        qlog.feedback("q000000001", True, "card")
        qlog.record(make(4, status="unanswered", entry_id=None, text="宠物狗打疫苗去哪"))
        assert await qlog.flush()
        await refresh(pg_url, copy)
        assert rows(copy, "SELECT helpful FROM feedback WHERE query_id = 'q000000001'") == [(1,)]
        assert rows(copy, "SELECT count(*) FROM queries") == [(4,)]

    # the staff page's own canned queries run on the copy
    gaps = rows(copy, _canned("unanswered_this_week"))
    assert [(g[0], g[1]) for g in gaps] == [("宠物狗打疫苗去哪", 2)]
    assert [r[0] for r in rows(copy, _canned("unhelpful_answers"))] == ["card"]


async def test_a_late_commit_is_not_missed(pg_url: str, tmp_path: Path) -> None:
    """A row whose change number was drawn before the last copy but committed after it."""
    copy = tmp_path / "policybot.sqlite3"
    async with PostgresQueryLog(pg_url, SALT) as qlog:
        for i in range(5):
            qlog.record(make(i))
        assert await qlog.flush()
    await refresh(pg_url, copy)
    conn = await asyncpg.connect(pg_url)
    try:
        top = await conn.fetchval("SELECT max(seq) FROM queries")
        await conn.execute(
            "INSERT INTO queries (query_id, at, chat_hash, lang, text, normalised, status, score, latency_ms,"
            " kb_version, seq) VALUES ('late', $1, 'h', 'zh-Hans', '迟到的', '迟到的', 'answered', 1, 1, 'v', $2)",
            NOW.strftime("%Y-%m-%d %H:%M:%S.000"), top - 3)
    finally:
        await conn.close()
    await refresh(pg_url, copy)
    assert ("late",) in rows(copy, "SELECT query_id FROM queries")
    assert OVERLAP >= 1_000  # a few batches of every replica


async def test_a_purge_reaches_the_copy(pg_url: str, tmp_path: Path) -> None:
    copy = tmp_path / "policybot.sqlite3"
    old = NOW - dt.timedelta(days=40)
    async with PostgresQueryLog(pg_url, SALT) as qlog:
        qlog.record(make(1, at=old))
        qlog.record(make(2))
        qlog.feedback("q000000001", True, "card")  # rated now, on a question that will be purged
        qlog.choice("q000000001", "card")
        assert await qlog.flush()
        await refresh(pg_url, copy)
        assert rows(copy, "SELECT count(*) FROM queries") == [(2,)]
        assert await qlog.purge(30) == 1
        result = await refresh(pg_url, copy)
    assert result.removed == 3
    assert rows(copy, "SELECT query_id FROM queries") == [("q000000002",)]
    assert rows(copy, "SELECT count(*) FROM feedback") == [(0,)]
    assert rows(copy, "SELECT count(*) FROM choices") == [(0,)]


async def test_a_log_of_another_version_is_refused(pg_url: str, tmp_path: Path) -> None:
    async with PostgresQueryLog(pg_url, SALT):
        pass
    conn = await asyncpg.connect(pg_url)
    try:
        await conn.execute("INSERT INTO policybot_schema (version) VALUES (99)")
    finally:
        await conn.close()
    with pytest.raises(RuntimeError, match="schema version 99"):
        await refresh(pg_url, tmp_path / "policybot.sqlite3")


async def test_rows_of_a_version_1_log_are_copied_after_the_upgrade(pg_url: str, tmp_path: Path) -> None:
    from policybot.storage.postgres import MIGRATIONS

    conn = await asyncpg.connect(pg_url)
    try:  # a log written before change numbers existed
        await conn.execute("CREATE TABLE policybot_schema (version INTEGER NOT NULL)")
        await conn.execute(MIGRATIONS[0])
        await conn.execute("INSERT INTO policybot_schema (version) VALUES (1)")
        await conn.execute(
            "INSERT INTO queries (query_id, at, chat_hash, lang, text, normalised, status, score, latency_ms,"
            " kb_version) VALUES ('old', $1, 'h', 'zh-Hans', '旧的', '旧的', 'answered', 1, 1, 'v')",
            NOW.strftime("%Y-%m-%d %H:%M:%S.000"))
    finally:
        await conn.close()
    async with PostgresQueryLog(pg_url, SALT) as qlog:  # the bot upgrades it
        qlog.record(make(1))
    await refresh(pg_url, tmp_path / "policybot.sqlite3")
    assert rows(tmp_path / "policybot.sqlite3", "SELECT query_id FROM queries ORDER BY 1") == [
        ("old",), ("q000000001",)]
