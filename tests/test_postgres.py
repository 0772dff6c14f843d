"""The query log's behaviour on both back ends: SQLite (a file) and PostgreSQL (a real server on
127.0.0.1, tests/pgserver.py), and what only PostgreSQL has (migrations under a lock, settings).
tests/test_storage.py runs its batching, failure, journal, rating and report tests on both
back ends too; its SQLite-only paths (file modes, damaged files, locking) run on SQLite."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from policybot.storage.postgres import SCHEMA_VERSION, PostgresQueryLog
from policybot.storage.privacy import hash_chat
from tests.conftest import Backend
from tests.test_storage import NOW, SALT, make


async def test_questions_feedback_and_choices(backend: Backend) -> None:
    async with backend.log() as qlog:
        qlog.record(make(1, entry_id="card"))
        qlog.record(make(2, status="ambiguous", entry_id=None, candidates=("a", "b"), text="报销"))
        qlog.record(make(1, entry_id="card"))  # a retried row: once
        qlog.feedback("q000000001", False, "card")
        qlog.feedback("q000000001", True, "card")  # the latest counts
        qlog.feedback("q000000002", False, "a")
        qlog.choice("q000000002", "b")
        qlog.feedback("q000000002", False, "b")
        qlog.staff_attempt("tg:1", "/stats")
        assert await qlog.flush()
        assert await backend.rows("SELECT count(*) FROM queries") == [(2,)]
        assert await backend.rows("SELECT query_id, entry_id, helpful FROM feedback ORDER BY 1, 2") == [
            ("q000000001", "card", 1), ("q000000002", "a", 0), ("q000000002", "b", 0)]
        stats = await qlog.stats(NOW - dt.timedelta(days=1), utc_offset=dt.timedelta(hours=8))
        assert (stats.total, stats.answered, stats.ambiguous) == (2, 1, 1)
        assert (stats.helpful, stats.unhelpful, stats.chose_entry, stats.chose_none, stats.staff_attempts) == (1, 2, 1, 0, 1)
        assert [(d.day, d.total) for d in stats.per_day] == [((NOW + dt.timedelta(hours=8)).strftime("%Y-%m-%d"), 2)]
        assert {e.entry_id: (e.count, e.helpful, e.unhelpful) for e in stats.entries} == {"card": (1, 1, 0), "b": (1, 0, 1)}


async def test_gaps_risks_language_and_purge(backend: Backend) -> None:
    async with backend.log() as qlog:
        for i, text in enumerate(["医保卡丢了怎么补办", "医保卡丢了怎么补办啊", "宠物打疫苗"]):
            qlog.record(make(i, text=text, status="unanswered", entry_id=None))
        qlog.record(dataclass_replace(make(9, text="胸口有点闷", status="answered"), risk=("胸闷",)))
        qlog.record(make(8, at=NOW - dt.timedelta(days=40)))
        qlog.set_lang("tg:42", "en")
        assert await qlog.flush()
        groups = await qlog.unanswered_groups(NOW - dt.timedelta(days=1))
        assert [g.count for g in groups] == [2, 1] and groups[0].example.startswith("医保卡丢了")
        assert [p.text for p in await qlog.possible_emergencies(NOW - dt.timedelta(days=1))] == ["胸口有点闷"]
        assert await qlog.lang_of("tg:42") == "en" and await qlog.lang_of("tg:43") is None
        assert await qlog.chat_lang(hash_chat("tg:42", SALT)) == "en"  # type: ignore[attr-defined]
        assert await qlog.purge(30) == 1
        assert await backend.rows("SELECT count(*) FROM queries") == [(4,)]
        assert qlog.health().healthy


async def test_unwritable_rows_wait_in_the_journal(backend: Backend, monkeypatch: pytest.MonkeyPatch) -> None:
    qlog = backend.log(retry_initial=0.01, flush_interval=0.02, close_timeout=0.1)
    await qlog.open()
    monkeypatch.setattr(qlog, "_write", _failing)
    for i in range(5):
        qlog.record(make(i))
    await qlog.close()  # the database "stays down" through shutdown
    assert (qlog.dropped, qlog.journaled) == (0, 5)
    again = backend.log()
    await again.open()  # the next start writes them, once
    assert await backend.rows("SELECT count(*) FROM queries") == [(5,)]
    await again.close()
    assert again.replayed == 5


async def _failing(ops: Any) -> None:
    raise OSError("the database server went away")


def dataclass_replace(rec: Any, **changes: Any) -> Any:
    import dataclasses

    return dataclasses.replace(rec, **changes)


async def test_replicas_starting_together_migrate_once(postgres: Any, tmp_path: Path) -> None:
    url = postgres.createdb("replicas")
    logs = [PostgresQueryLog(url, SALT, journal=tmp_path / f"{i}.journal") for i in range(4)]
    await asyncio.gather(*(q.open() for q in logs))
    conn = await asyncpg.connect(url)
    try:
        # each migration ran once
        assert await conn.fetch("SELECT version FROM policybot_schema ORDER BY 1") == [
            (v,) for v in range(1, SCHEMA_VERSION + 1)]
    finally:
        await conn.close()
    for i, q in enumerate(logs):
        q.record(make(i))
    await asyncio.gather(*(q.close() for q in logs))
    conn = await asyncpg.connect(url)
    try:
        assert await conn.fetchval("SELECT count(*) FROM queries") == 4
    finally:
        await conn.close()


async def test_report_reads_the_postgres_log(postgres: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import json

    from policybot.cli import main

    url = postgres.createdb("report")
    async with PostgresQueryLog(url, SALT, journal=tmp_path / "j") as qlog:
        for i, text in enumerate(["医保卡丢了怎么补办", "医保卡丢了怎么补办", "门诊怎么报销"]):
            qlog.record(make(i, text=text, status="unanswered" if i < 2 else "answered",
                             entry_id=None if i < 2 else "outpatient"))
    env = {"POLICYBOT_DATABASE_URL": url, "POLICYBOT_HASH_SALT": SALT, "POLICYBOT_KNOWLEDGE_DIR": str(tmp_path / "none")}
    assert await asyncio.to_thread(main, ["report", "--json", "--since", "7d"], env=env) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["statuses"]["unanswered"] == 2 and report["unanswered_groups"][0]["count"] == 2
    # the reader never writes: a read-only transaction
    from policybot.storage.postgres import PostgresReader

    async with PostgresReader(url) as reader:
        with pytest.raises(asyncpg.ReadOnlySQLTransactionError):
            await reader._pool.execute("DELETE FROM queries")


def test_postgres_settings() -> None:
    from policybot.config import Config, ConfigError

    cfg = Config.from_env({"POLICYBOT_DATABASE_URL": "postgresql://bot:pw@db.example:5432/log", "POLICYBOT_HASH_SALT": "s"})
    assert cfg.database_name == "postgresql://db.example:5432/log" and "pw" not in repr(cfg)
    with pytest.raises(ConfigError, match="POLICYBOT_HASH_SALT"):
        Config.from_env({"POLICYBOT_DATABASE_URL": "postgresql://db/log"})
    with pytest.raises(ConfigError, match="postgresql://"):
        Config.from_env({"POLICYBOT_DATABASE_URL": "mysql://db/log", "POLICYBOT_HASH_SALT": "s"})
