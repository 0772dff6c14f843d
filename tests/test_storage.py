"""Query log storage: masking, hashing, migrations, batching, failure handling, reports,
grouping, and the read-only reader staff tools use. The behaviour tests take `backend` and run
on SQLite and on a real PostgreSQL; file modes, damaged files, locking and the reader are
SQLite's own."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import json
import logging
import re
import sqlite3
import stat
import time
from pathlib import Path
from typing import Any

import pytest

from policybot.model import new_query_id
from policybot.storage import migrations
from policybot.storage.grouping import group_texts
from policybot.storage.migrations import SCHEMA_VERSION
from policybot.storage.privacy import hash_chat, mask_pii
from policybot.storage.records import QueryRecord
from policybot.storage.reports import QueryLogError, QueryLogReader
from policybot.storage.sqlite import SQLiteQueryLog
from tests.conftest import STORAGE_SALT, Backend, rows

SALT = STORAGE_SALT
NOW = dt.datetime.now(dt.UTC)


def make(
    i: int = 0,
    *,
    text: str = "医保卡怎么办理",
    status: str = "answered",
    entry_id: str | None = "card",
    at: dt.datetime | None = None,
    chat: str = "tg:12345",
    latency_ms: float = 5.0,
    candidates: tuple[str, ...] = (),
    query_id: str | None = None,
) -> QueryRecord:
    return QueryRecord(
        query_id=query_id or f"q{i:09d}",
        at=at or NOW,
        chat=chat,
        lang="zh-Hans",
        text=text,
        normalised=text,
        status=status,
        entry_id=entry_id,
        score=80.0 if status == "answered" else 30.0,
        candidates=candidates,
        latency_ms=latency_ms,
        kb_version="v1",
        channel="telegram",
    )


def count(path: Path, table: str = "queries") -> int:
    return rows(path, f"SELECT count(*) FROM {table}")[0][0]


def fail_first_writes(qlog: SQLiteQueryLog, *errors: Exception) -> None:
    """The log's next writes raise `errors` in turn, writing nothing; then it writes as before."""
    real_write, pending = qlog._write, list(errors)

    async def write(ops: Any) -> None:
        if pending:
            raise pending.pop(0)
        await real_write(ops)

    qlog._write = write  # type: ignore[method-assign]


async def wait_for(predicate, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "log.sqlite3"


# -- pure helpers -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("我的电话13812345678", "我的电话[电话]"),
        ("电话 138 1234 5678 谢谢", "电话 [电话] 谢谢"),
        ("138-1234-5678", "[电话]"),
        ("+86 13912345678", "[电话]"),
        ("+8613912345678", "[电话]"),
        ("0086-159-1234-5678", "[电话]"),
        ("１３８１２３４５６７８", "[电话]"),  # full-width digits
        ("座机010-12345678", "座机[电话]"),
        ("0755 1234567", "[电话]"),
        ("(021)87654321", "[电话]"),
        ("身份证110101199003071234", "身份证[身份证]"),
        ("11010119900307123X办卡", "[身份证]办卡"),
        ("id 11010119900307123x", "id [身份证]"),
        ("110101 19900307 1234", "[身份证]"),
        ("老身份证110101900307123", "老身份证[身份证]"),
        ("急救打120", "急救打120"),
        ("卫生热线12320", "卫生热线12320"),
        ("65岁老人体检", "65岁老人体检"),
        ("2023年的政策", "2023年的政策"),
        ("报销比例70%，起付线1500元", "报销比例70%，起付线1500元"),
        ("12345678", "12345678"),  # 8 digits without area code: not enough to be sure
    ],
)
def test_mask_pii(text: str, expected: str) -> None:
    assert mask_pii(text) == expected


def test_hash_chat_is_stable_salted_and_short() -> None:
    h = hash_chat("tg:12345", "salt-a")
    assert h == hash_chat("tg:12345", "salt-a")
    assert h != hash_chat("tg:12345", "salt-b")
    assert h != hash_chat("tg:12346", "salt-a")
    assert re.fullmatch(r"[0-9a-f]{16}", h)


def test_new_query_id() -> None:
    ids = {new_query_id() for _ in range(1000)}
    assert len(ids) == 1000
    assert all(re.fullmatch(r"[0-9a-z]{10}", i) for i in ids)


def test_empty_salt_is_refused(db_path: Path) -> None:
    with pytest.raises(ValueError):
        SQLiteQueryLog(db_path, "")


def test_group_texts_clusters_similar_questions_biggest_first() -> None:
    texts = (
        ["医保卡丢了怎么办"] * 3
        + ["医保卡丢了怎么补办", "怎么补办丢失的医保卡"]
        + ["新冠疫苗在哪里打", "哪里可以打新冠疫苗"]
        + ["狗狗打疫苗"]
        + ["", "  "]
    )
    groups = group_texts(texts, 70)
    assert [g.count for g in groups] == [5, 2, 1]
    first = groups[0]
    assert first.example == "医保卡丢了怎么办"
    assert set(first.texts) == {"医保卡丢了怎么办", "医保卡丢了怎么补办", "怎么补办丢失的医保卡"}
    assert groups[2].texts == ("狗狗打疫苗",)
    # a strict threshold splits them up
    assert len(group_texts(texts, 99)) == 6
    assert group_texts([], 70) == []


def test_group_texts_key_compares_another_form() -> None:
    # raw texts differ in punctuation/script, their normalised forms are equal
    key = {"醫保卡？": "医保卡", "医保卡!": "医保卡", "狗": "狗"}.__getitem__
    groups = group_texts(["醫保卡？", "医保卡!", "狗"], 90, key=key)
    assert [g.count for g in groups] == [2, 1]
    assert set(groups[0].texts) == {"醫保卡？", "医保卡!"}


# -- schema and migrations ----------------------------------------------------------------------


async def test_new_database_gets_current_schema_and_wal(db_path: Path) -> None:
    async with SQLiteQueryLog(db_path, SALT):
        pass
    with sqlite3.connect(db_path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master")}
    assert {"queries", "feedback", "choices", "staff_attempts", "query_log"} <= tables


async def test_v1_database_is_upgraded_in_place(db_path: Path) -> None:
    with sqlite3.connect(db_path) as db:
        db.executescript(migrations.MIGRATIONS[0])
        db.execute("PRAGMA user_version = 1")
        db.execute(
            "INSERT INTO queries (query_id, at, chat_hash, lang, text, normalised, status, entry_id, score,"
            " candidates, latency_ms, kb_version) VALUES"
            " ('old1', '2020-01-01 00:00:00.000', 'h', 'zh-Hans', '旧问题', '旧问题', 'unanswered', NULL,"
            " 10, '[]', 3, 'v0')"
        )
        db.execute("INSERT INTO feedback VALUES ('old1', 0, '2020-01-01 00:00:01.000')")
    async with SQLiteQueryLog(db_path, SALT) as qlog:
        qlog.record(make(1))
    with sqlite3.connect(db_path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        got = db.execute("SELECT query_id, text, channel FROM queries ORDER BY query_id").fetchall()
        # an old rating is kept, on the entry its question resolved to ('' for none)
        assert db.execute("SELECT query_id, entry_id, helpful, at FROM feedback").fetchall() == [
            ("old1", "", 0, "2020-01-01 00:00:01.000")
        ]
        assert db.execute("SELECT count(*) FROM staff_attempts").fetchone()[0] == 0
    # the old row is kept, the new column got its default for it
    assert got == [("old1", "旧问题", "telegram"), ("q000000001", "医保卡怎么办理", "telegram")]


async def test_failed_migration_keeps_old_version(db_path: Path, monkeypatch) -> None:
    with sqlite3.connect(db_path) as db:
        db.executescript(migrations.MIGRATIONS[0])
        db.execute("PRAGMA user_version = 1")
    broken = (
        *migrations.MIGRATIONS[:1],
        "CREATE TABLE ok_so_far (x);\nTHIS IS NOT SQL;",
        *migrations.MIGRATIONS[2:],
    )
    monkeypatch.setattr(migrations, "MIGRATIONS", broken)
    with pytest.raises(sqlite3.OperationalError):
        await SQLiteQueryLog(db_path, SALT).open()
    with sqlite3.connect(db_path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == 1
        names = {r[0] for r in db.execute("SELECT name FROM sqlite_master")}
    assert "ok_so_far" not in names


async def test_newer_schema_is_refused(db_path: Path) -> None:
    with sqlite3.connect(db_path) as db:
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(RuntimeError, match="newer"):
        await SQLiteQueryLog(db_path, SALT).open()


# -- privacy ------------------------------------------------------------------------------------


async def test_db_file_holds_neither_chat_id_nor_phone(db_path: Path) -> None:
    async with SQLiteQueryLog(db_path, SALT) as qlog:
        qlog.record(make(1, chat="tg:987654321", text="我的手机13812345678，身份证11010119900307123X"))
        qlog.staff_attempt("tg:987654321", "/report")
        await qlog.flush()
        raw = b"".join(p.read_bytes() for p in db_path.parent.iterdir())
    assert b"987654321" not in raw
    assert b"13812345678" not in raw
    assert b"11010119900307123X" not in raw
    (text, chat_hash), *_ = rows(db_path, "SELECT text, chat_hash FROM queries")
    assert chat_hash == hash_chat("tg:987654321", SALT)
    assert text == "我的手机[电话]，身份证[身份证]"
    assert rows(db_path, "SELECT chat_hash, command FROM staff_attempts") == [(chat_hash, "/report")]


# -- batching, flushing -------------------------------------------------------------------------


async def test_many_records_few_transactions(backend: Backend) -> None:
    qlog = backend.log(batch_size=100, flush_interval=60)
    await qlog.open()
    for i in range(1000):
        qlog.record(make(i))
    # the batch size wakes the writer even though the interval is long
    await wait_for(lambda: qlog.written == 1000)
    await qlog.close()
    assert await backend.count() == 1000
    assert qlog.transactions <= 20


async def test_interval_flush_without_close(backend: Backend) -> None:
    async with backend.log(flush_interval=0.05) as qlog:
        qlog.record(make(1))
        await wait_for(lambda: qlog.written == 1)
    assert await backend.count() == 1


async def test_close_flushes_queue(backend: Backend) -> None:
    qlog = backend.log(flush_interval=60)
    await qlog.open()
    for i in range(7):
        qlog.record(make(i))
    qlog.feedback("q000000001", True, "card")
    await qlog.close()
    assert await backend.count() == 7
    assert await backend.count("feedback") == 1


async def test_close_in_the_middle_of_a_write_loses_and_repeats_nothing(tmp_path: Path) -> None:
    # closing used to cancel the writer wherever it was: a cancelled BEGIN still ran in
    # aiosqlite's thread, every later write failed ("cannot start a transaction within a
    # transaction") and the rows were dropped at close; a cancelled COMMIT would write twice
    for steps in range(0, 60, 3):
        path = tmp_path / f"log{steps}.sqlite3"
        qlog = SQLiteQueryLog(path, SALT, batch_size=10, flush_interval=60, close_timeout=2)
        await qlog.open()
        for i in range(300):
            qlog.record(make(i))
        for _ in range(steps):  # let the writer get somewhere inside its transactions
            await asyncio.sleep(0)
        await qlog.close()
        assert (count(path), qlog.dropped) == (300, 0), steps


async def test_records_before_open_are_kept(backend: Backend) -> None:
    qlog = backend.log()
    qlog.record(make(1))
    await qlog.open()
    await qlog.close()
    assert await backend.count() == 1


async def test_record_never_raises(backend: Backend, caplog) -> None:
    async with backend.log() as qlog:
        qlog.record(None)  # type: ignore[arg-type]
        qlog.record(make(1, at="not a date"))  # type: ignore[arg-type]
        qlog.feedback(None, True, "card")  # type: ignore[arg-type]
    assert "could not queue" in caplog.text


# -- failures -----------------------------------------------------------------------------------


async def test_locked_database_does_not_block_and_writes_once(db_path: Path, caplog) -> None:
    caplog.set_level(logging.WARNING, logger="policybot.storage")
    qlog = SQLiteQueryLog(
        db_path, SALT, flush_interval=0.02, busy_timeout_ms=50, retry_initial=0.02, retry_max=0.1
    )
    await qlog.open()
    other = sqlite3.connect(db_path, isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")
    try:
        for i in range(200):
            qlog.record(make(i))
        # record() only queued: nothing was attempted yet, so nothing waited on the lock
        assert (qlog.queued, qlog.written, qlog.transactions) == (200, 0, 0)
        await asyncio.sleep(0.4)  # several failed attempts
        assert qlog.written == 0
        # after a few failures the rows wait on disk, not in memory
        assert (qlog.queued, qlog.journaled, len(qlog.journal)) == (0, 200, 200)
    finally:
        other.rollback()
        other.close()
    await wait_for(lambda: qlog.written == 200)
    await qlog.close()
    assert count(db_path) == 200  # replayed once, nothing twice
    assert qlog.replayed == 200 and len(qlog.journal) == 0
    assert "database is locked" in caplog.text


async def test_write_errors_are_retried_without_loss_or_duplicates(
    backend: Backend, monkeypatch, caplog
) -> None:
    qlog = backend.log(flush_interval=0.01, retry_initial=0.01, batch_size=10)
    await qlog.open()
    real_write = qlog._write
    calls = {"n": 0}

    async def flaky_write(ops):
        calls["n"] += 1
        if calls["n"] <= 3:
            raise backend.error("database or disk is full")
        if calls["n"] == 4:
            # committed, but the caller hears an error: the retry must not duplicate anything
            await real_write(ops)
            raise backend.error("disk I/O error")
        await real_write(ops)

    monkeypatch.setattr(qlog, "_write", flaky_write)
    for i in range(25):
        qlog.record(make(i))
    qlog.feedback("q000000003", False, "card")
    qlog.choice("q000000004", None)
    qlog.staff_attempt("tg:1", "/stats")
    await wait_for(lambda: qlog.queued == 0)
    await qlog.close()
    assert calls["n"] > 4
    assert await backend.count() == 25
    assert await backend.count("feedback") == 1
    assert await backend.count("choices") == 1
    assert await backend.count("staff_attempts") == 1
    assert "database or disk is full" in caplog.text


async def test_rows_beyond_the_memory_bound_wait_in_the_journal(backend: Backend, caplog) -> None:
    caplog.set_level(logging.WARNING, logger="policybot.storage")
    qlog = backend.log(max_queue=10)
    for i in range(25):  # not open yet: nothing drains the queue
        qlog.record(make(i))
    assert (qlog.dropped, qlog.journaled, qlog.queued) == (0, 20, 5)
    await qlog.open()
    await qlog.close()
    assert await backend.count() == 25
    assert "kept in the journal because the queue is full" in caplog.text


async def test_unwritable_at_close_goes_to_the_journal_and_is_replayed(db_path: Path, caplog) -> None:
    caplog.set_level(logging.WARNING, logger="policybot.storage")
    qlog = SQLiteQueryLog(
        db_path, SALT, max_queue=8, max_pending=5, busy_timeout_ms=10, retry_initial=0.01, close_timeout=0.2
    )
    await qlog.open()
    other = sqlite3.connect(db_path, isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")
    try:
        for i in range(30):
            qlog.record(make(i))
        await asyncio.sleep(0.1)
        assert qlog.queued <= 13  # max_queue + max_pending
        await qlog.close()
    finally:
        other.rollback()
        other.close()
    assert (qlog.dropped, count(db_path)) == (0, 0)
    assert qlog.journal is not None and len(qlog.journal) == 30
    journal = Path(str(db_path) + ".journal")
    assert stat.S_IMODE(journal.stat().st_mode) == 0o600
    # the next start replays the journal, once
    again = SQLiteQueryLog(db_path, SALT)
    await again.open()
    await again.close()
    assert count(db_path) == 30 and again.replayed == 30 and not journal.exists()


async def test_a_journal_that_cannot_be_replayed_at_start_does_not_stop_the_log(db_path: Path) -> None:
    first = SQLiteQueryLog(db_path, SALT)
    await first.open()
    await first.close()
    assert first.journal is not None and first.journal.append([("query", _op_params(1))])
    qlog = SQLiteQueryLog(db_path, SALT, retry_initial=0.01, flush_interval=0.02)
    fail_first_writes(qlog, sqlite3.OperationalError("database is locked"))
    await qlog.open()  # opens anyway; the journal waits for the writer
    qlog.record(make(2))
    await wait_for(lambda: qlog.written == 2)
    await qlog.close()
    assert count(db_path) == 2 and qlog.replayed == 1


def _op_params(i: int) -> tuple:
    """The params of a queued query row, as SQLiteQueryLog.record makes them."""
    probe = SQLiteQueryLog(":memory:", SALT)
    probe.record(make(i))
    return probe._queue[0][1]


async def test_no_row_is_dropped_when_even_the_journal_fails(db_path: Path, caplog, monkeypatch) -> None:
    caplog.set_level(logging.WARNING, logger="policybot.storage")
    qlog = SQLiteQueryLog(db_path, SALT, busy_timeout_ms=10, retry_initial=0.01, close_timeout=0.1)
    await qlog.open()
    assert qlog.journal is not None
    monkeypatch.setattr(qlog.journal, "append", lambda ops: False)  # a full disk
    other = sqlite3.connect(db_path, isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")
    try:
        for i in range(7):
            qlog.record(make(i))
        await qlog.close()
    finally:
        other.rollback()
        other.close()
    # then, and only then, rows are dropped, and the exact number is said
    assert qlog.dropped == 7
    assert sum(int(n) for n in re.findall(r"dropped (\d+) rows", caplog.text)) == 7


async def test_record_after_close_is_kept_for_the_next_start(backend: Backend) -> None:
    qlog = backend.log()
    await qlog.open()
    await qlog.close()
    qlog.record(make(1))  # a reply that finished during shutdown
    assert (qlog.dropped, qlog.journaled) == (0, 1)
    async with backend.log():
        pass
    assert await backend.count() == 1


async def test_a_damaged_database_is_moved_aside_and_a_new_one_started(db_path: Path, caplog) -> None:
    db_path.parent.mkdir(parents=True, exist_ok=True)
    db_path.write_bytes(b"this is not a database" * 100)
    async with SQLiteQueryLog(db_path, SALT) as qlog:
        qlog.record(make(1))
    assert count(db_path) == 1
    (aside,) = qlog.moved_aside
    assert aside.name.startswith(db_path.name + ".damaged-")
    assert aside.read_bytes().startswith(b"this is not a database")
    assert "is damaged" in caplog.text


async def test_damage_found_while_running_moves_the_file_aside_and_loses_nothing(db_path: Path) -> None:
    qlog = SQLiteQueryLog(db_path, SALT, flush_interval=60)
    await qlog.open()
    qlog.record(make(1))
    assert await qlog.flush()
    fail_first_writes(qlog, sqlite3.DatabaseError("database disk image is malformed"))
    for i in range(2, 6):
        qlog.record(make(i))
    assert await qlog.flush()
    await qlog.close()
    assert len(qlog.moved_aside) == 1
    assert count(db_path) == 4  # the new file holds the rows written after the damage


# -- feedback, choices, reports, purge ----------------------------------------------------------


async def test_feedback_and_choice_are_recorded_against_the_query(backend: Backend) -> None:
    async with backend.log() as qlog:
        qlog.record(make(1, entry_id="card"))
        qlog.record(make(2, status="ambiguous", entry_id=None, candidates=("a", "b"), text="报销"))
        qlog.record(make(3, status="ambiguous", entry_id=None, candidates=("a",), text="宠物医保"))
        qlog.feedback("q000000001", False, "card")
        qlog.feedback("q000000001", True, "card")  # changed mind: the latest counts
        qlog.feedback("q000000002", False, "a")  # rated "a" first ...
        qlog.choice("q000000002", "b")  # ... then picked "b" from the same "did you mean"
        qlog.feedback("q000000002", False, "b")
        qlog.choice("q000000003", None)
        qlog.feedback("bad id; DROP", True, "card")  # malformed ids from callback data are ignored
        qlog.feedback("q000000001", True, "no such; id")
        qlog.feedback("v000000009", True, "card")  # an entry reached by browsing
        await qlog.flush()
        stats = await qlog.stats(NOW - dt.timedelta(days=1))
        groups = await qlog.unanswered_groups(NOW - dt.timedelta(days=1))
    assert await backend.rows("SELECT query_id, entry_id, helpful FROM feedback ORDER BY 1, 2") == [
        ("q000000001", "card", 1),
        ("q000000002", "a", 0),  # the rating stays with the entry it was given on
        ("q000000002", "b", 0),
        ("v000000009", "card", 1),
    ]
    assert await backend.rows("SELECT query_id, entry_id FROM choices ORDER BY 1") == [
        ("q000000002", "b"),
        ("q000000003", None),
    ]
    # ratings of questions in the period (the browsed entry's rating has no question)
    assert (stats.helpful, stats.unhelpful, stats.chose_entry, stats.chose_none) == (1, 2, 1, 1)
    by_id = {e.entry_id: e for e in stats.entries}
    assert (by_id["card"].count, by_id["card"].helpful) == (1, 1)
    assert (by_id["b"].count, by_id["b"].unhelpful, by_id["b"].helpful_rate) == (1, 1, 0.0)
    assert [g.texts for g in groups] == [("宠物医保",)]  # "none of these" counts as unanswered
    assert json.loads((await backend.rows("SELECT candidates FROM queries WHERE query_id='q000000002'"))[0][0]) == [
        "a",
        "b",
    ]


async def test_stats(backend: Backend) -> None:
    day1 = dt.datetime(2024, 3, 1, 20, 0, tzinfo=dt.UTC)  # 04:00 on 2 March in UTC+8
    day2 = dt.datetime(2024, 3, 2, 10, 0, tzinfo=dt.UTC)
    async with backend.log() as qlog:
        for i, (status, at) in enumerate(
            [
                ("answered", day1),
                ("answered", day1),
                ("unanswered", day1),
                ("emergency", day2),
                ("smalltalk", day2),
                ("ambiguous", day2),
                ("answered", day2),
                ("answered", day1 - dt.timedelta(days=30)),  # before `since`
            ]
        ):
            qlog.record(
                make(i, status=status, at=at, entry_id="x" if status == "answered" else None, latency_ms=i)
            )
        qlog.staff_attempt("tg:9", "/report")
        await qlog.flush()
        stats = await qlog.stats(dt.datetime(2024, 2, 15, tzinfo=dt.UTC))
        local = await qlog.stats(dt.datetime(2024, 2, 15, tzinfo=dt.UTC), utc_offset=dt.timedelta(hours=8))
    assert (
        stats.total,
        stats.answered,
        stats.unanswered,
        stats.emergency,
        stats.smalltalk,
        stats.ambiguous,
    ) == (
        7,
        3,
        1,
        1,
        1,
        1,
    )
    assert stats.share("answered") == pytest.approx(3 / 7)
    assert [(d.day, d.total, d.answered) for d in stats.per_day] == [
        ("2024-03-01", 3, 2),
        ("2024-03-02", 4, 1),
    ]
    assert [(d.day, d.total) for d in local.per_day] == [("2024-03-02", 7)]
    assert stats.per_day[0].answer_rate == pytest.approx(2 / 3)
    assert [(e.entry_id, e.count) for e in stats.entries] == [("x", 3)]
    assert stats.staff_attempts == 1  # stamped now, which is after `since`
    assert stats.latency_p50_ms == 3.0
    assert stats.latency_p95_ms == 6.0


async def test_emergency_kinds_and_possible_emergencies(backend: Backend) -> None:
    async with backend.log() as qlog:
        for i, kinds in enumerate([("medical",), ("crisis", "poisoning"), ("crisis",)]):
            qlog.record(dataclasses.replace(make(i, status="emergency", entry_id=None), kinds=kinds))
        qlog.record(dataclasses.replace(make(3, text="最近老头晕 电话13912345678", status="unanswered",
                                             entry_id=None), risk=("头晕",)))
        qlog.record(make(4, text="医保卡怎么办理"))
        await qlog.flush()
        stats = await qlog.stats(NOW - dt.timedelta(days=1))
        possible = await qlog.possible_emergencies(NOW - dt.timedelta(days=1))
    assert stats.emergency == 3
    assert dict(stats.emergency_kinds) == {"crisis": 2, "medical": 1, "poisoning": 1}
    assert [(p.text, p.risk, p.status) for p in possible] == [("最近老头晕 电话[电话]", ("头晕",), "unanswered")]
    assert await backend.rows("SELECT emergency_kinds FROM query_log WHERE query_id = 'q000000001'") == [
        ("crisis,poisoning",)
    ]


async def test_purge_removes_old_queries_with_their_feedback(backend: Backend) -> None:
    old = NOW - dt.timedelta(days=40)
    async with backend.log() as qlog:
        qlog.record(make(1, at=old))
        qlog.record(make(2))
        qlog.feedback("q000000001", True, "card")  # stamped now, but its query goes
        qlog.feedback("q000000002", True, "card")
        qlog.feedback("v000000009", True, "card")  # browsing: kept until it is old itself
        qlog.choice("q000000001", "x")
        await qlog.flush()
        assert await qlog.purge(30) == 1
        assert await qlog.purge(30) == 0
    assert await backend.rows("SELECT query_id FROM queries") == [("q000000002",)]
    assert await backend.rows("SELECT query_id FROM feedback ORDER BY 1") == [("q000000002",), ("v000000009",)]
    assert await backend.count("choices") == 0


async def test_concurrent_close_is_safe(backend: Backend) -> None:
    qlog = backend.log()
    await qlog.open()
    qlog.record(make(1))
    await asyncio.gather(qlog.close(), qlog.close())
    await qlog.close()
    assert await backend.count() == 1


# -- the read-only reader -----------------------------------------------------------------------


async def test_reader_reads_a_live_log_and_cannot_write(db_path: Path) -> None:
    async with SQLiteQueryLog(db_path, SALT) as qlog:
        qlog.record(make(1, status="unanswered", entry_id=None, text="宠物疫苗"))
        assert await qlog.flush()
        # the writer is still open (WAL): the reader sees what it wrote
        async with QueryLogReader(db_path) as reader:
            stats = await reader.stats(NOW - dt.timedelta(hours=1))
            groups = await reader.unanswered_groups(NOW - dt.timedelta(hours=1))
            with pytest.raises(sqlite3.OperationalError, match="readonly"):
                await reader._read_db().execute("DELETE FROM queries")
    assert (stats.total, stats.unanswered) == (1, 1)
    assert groups[0].example == "宠物疫苗"
    assert count(db_path) == 1


async def test_reader_never_migrates(db_path: Path) -> None:
    with sqlite3.connect(db_path) as db:
        db.executescript(migrations.MIGRATIONS[0])
        db.execute("PRAGMA user_version = 1")
    with pytest.raises(QueryLogError, match="start the bot"):
        await QueryLogReader(db_path).open()
    with sqlite3.connect(db_path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == 1
        assert "staff_attempts" not in {r[0] for r in db.execute("SELECT name FROM sqlite_master")}


async def test_reader_refuses_what_is_not_a_current_log(db_path: Path) -> None:
    with pytest.raises(QueryLogError, match="no query log"):
        await QueryLogReader(db_path).open()
    assert not db_path.exists()  # never created
    sqlite3.connect(db_path).close()  # an empty database: user_version 0
    with pytest.raises(QueryLogError, match="not a policybot query log"):
        await QueryLogReader(db_path).open()
    with sqlite3.connect(db_path) as db:
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(QueryLogError, match="newer"):
        await QueryLogReader(db_path).open()


def test_reports_count_every_status() -> None:
    """Stats and DayCount have a count per model status, in the same order."""
    from dataclasses import fields

    from policybot.model import STATUSES
    from policybot.storage.records import DayCount, Stats

    day_fields = [f.name for f in fields(DayCount)]
    assert day_fields[2:] == list(STATUSES)  # after day and total: the SELECT's column order
    assert set(STATUSES) <= {f.name for f in fields(Stats)}


# -- file modes -----------------------------------------------------------------------------------


async def test_database_files_are_private(tmp_path: Path) -> None:
    folder = tmp_path / "data"
    path = folder / "log.sqlite3"
    async with SQLiteQueryLog(path, SALT, flush_interval=0.01) as qlog:
        qlog.record(make(1))
        assert await qlog.flush()
        modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in folder.iterdir()}
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert {"log.sqlite3", "log.sqlite3-wal", "log.sqlite3-shm"} <= set(modes)
    assert set(modes.values()) == {0o600}


async def test_an_old_world_readable_database_is_made_private(tmp_path: Path) -> None:
    folder = tmp_path / "old"
    folder.mkdir(mode=0o755)
    path = folder / "log.sqlite3"
    sqlite3.connect(path).close()
    path.chmod(0o644)
    folder.chmod(0o755)
    async with SQLiteQueryLog(path, SALT):
        pass
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700


def test_salt_file_is_private(tmp_path: Path) -> None:
    from policybot.config import Config

    salt = Config(db_path=tmp_path / "data" / "log.sqlite3").salt()
    path = tmp_path / "data" / "hash-salt"
    assert path.read_text().strip() == salt
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
