"""The real knowledge base: complete, clean, honest (no invented numbers, no copied eval questions)."""

import re
from pathlib import Path

import pytest
import yaml

from policybot.knowledge import load
from policybot.text import normalise

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"


@pytest.fixture(scope="module")
def kb():
    result = load(ROOT / "knowledge")
    assert result.kb is not None, "\n".join(str(p) for p in result.errors)
    assert not result.errors
    return result.kb


def topic_ids() -> list[str]:
    topics = SHARED / "knowledge-topics.md"
    if not topics.exists():
        pytest.skip("../shared/knowledge-topics.md is not beside this checkout")
    ids = re.findall(r"^\| ([a-z0-9-]+) \|", topics.read_text("utf-8"), re.M)
    return [i for i in ids if i != "id"]  # the table's header row


def test_every_topic_id_has_an_entry(kb):
    ids = topic_ids()
    assert len(ids) == 40
    missing = [i for i in ids if i not in kb.entries]
    assert not missing


def test_entries_have_enough_alternates_and_english(kb):
    for e in kb.entries.values():
        assert len(e.alternates) >= 5, e.id
        assert "en" in e.translations, e.id
        assert e.keywords, e.id


def test_no_invented_phone_numbers(kb):
    allowed = {"120", "110", "119", "12320", "12345", "12356", "12315", "12333"}
    for e in kb.entries.values():
        for number in re.findall(r"(?<!\d)\d{3,}(?!\d)", e.answer):
            if re.search(rf"{number}\s*(?:转|热线|电话|拨打)|(?:拨打|热线|电话)\s*{number}", e.answer):
                assert number in allowed, f"{e.id}: phone-like number {number}"


def test_no_eval_question_copied_into_knowledge(kb):
    dev = SHARED / "eval" / "dev-questions.yaml"
    if not dev.exists():
        pytest.skip("no dev set beside this checkout")
    blind = ROOT / "tests" / "data" / "blind-questions.yaml"
    items = yaml.safe_load(dev.read_text("utf-8")) + yaml.safe_load(blind.read_text("utf-8"))
    # Sentences must not be copied; a bare topic name ("产前筛查") may coincide by nature.
    questions = {normalise(item["q"]) for item in items if len(normalise(item["q"])) >= 10}
    copied = [
        (e.id, p)
        for e in kb.entries.values()
        for p in (*e.phrasings, *(t.question for t in e.translations.values()))
        if normalise(p) in questions
    ]
    assert not copied


def test_emergency_kinds_name_the_numbers(kb):
    replies = {k.id: k.reply for k in kb.safety.kinds}
    assert "120" in replies["medical"] and "120" in replies["poisoning"]
    assert "12356" in replies["crisis"] and "120" in replies["crisis"]
    for kind in kb.safety.kinds:
        assert all(n in kind.translations["en"] for n in kind.numbers)
