"""Service: one reply per question, logged once; reload swaps whole knowledge bases or refuses."""

import shutil
import sqlite3
from pathlib import Path

import pytest

from policybot.knowledge import load
from policybot.model import Status
from policybot.service import Service
from policybot.storage.sqlite import SQLiteQueryLog

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "knowledge" / "clean"


@pytest.fixture()
def kdir(tmp_path: Path) -> Path:
    d = tmp_path / "knowledge"
    shutil.copytree(FIXTURE, d)
    return d


async def test_each_question_logged_exactly_once(kdir, tmp_path):
    log = SQLiteQueryLog(tmp_path / "q.db", "salt")
    await log.open()
    s = Service(load(kdir).kb, log, knowledge_dir=kdir)
    a = s.ask("HPV疫苗免费吗？我的电话13812345678", chat="tg:42", lang="zh-Hans", channel="telegram")
    s.feedback(a.query_id, False, "zh-Hans", a.result.entry_id or "hpv-vaccine")
    await log.close()
    db = sqlite3.connect(tmp_path / "q.db")
    rows = db.execute("SELECT query_id, text, status, entry_id, chat_hash FROM queries").fetchall()
    assert len(rows) == 1
    qid, text, status, entry_id, chat_hash = rows[0]
    assert qid == a.query_id and status == str(a.result.status) and entry_id == a.result.entry_id
    assert "13812345678" not in text and "42" not in chat_hash


def test_reload_swaps_good_and_refuses_broken(kdir):
    s = Service(load(kdir).kb, None, knowledge_dir=kdir)
    before = s.kb.version
    assert s.reload_if_changed() is None  # nothing changed
    f = kdir / "vaccination.yaml"
    f.write_text(f.read_text("utf-8").replace("可在社区卫生服务中心接种。", "请到社区卫生服务中心接种。"), "utf-8")
    result = s.reload_if_changed()
    assert result is not None and result.kb is not None
    assert s.kb.version != before
    assert "请到社区" in s.entry("flu-vaccine", "zh-Hans").html
    good = s.kb.version
    f.write_text("entries: [unclosed", "utf-8")  # a broken edit
    result = s.reload_if_changed()
    assert result is not None and result.kb is None and result.errors
    assert s.kb.version == good  # still serving the last good version
    assert s.ask("HPV疫苗免费吗", chat="c", lang="zh-Hans", channel="console").result.entry_id == "hpv-vaccine"


def test_outdated_choice_returns_none(kdir):
    s = Service(load(kdir).kb, None, knowledge_dir=kdir)
    assert s.choose("q1", "no-such-entry", "zh-Hans") is None
    assert s.choose("q1", None, "zh-Hans") is not None


def test_huge_and_binary_input_get_polite_replies(kdir):
    s = Service(load(kdir).kb, None, knowledge_dir=kdir)
    a = s.ask("疫苗" * 100_000, chat="c", lang="zh-Hans", channel="console")
    assert "太长" in a.reply.html
    b = s.ask("\x00\x01\ufffd\U0001f600" * 50, chat="c", lang="zh-Hans", channel="console")
    assert b.result.status is Status.OUT_OF_SCOPE  # no words of the subject at all
