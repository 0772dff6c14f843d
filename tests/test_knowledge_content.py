"""The real knowledge base: complete, clean, honest (no invented numbers, no copied eval questions)."""

import re

import pytest
import yaml

from policybot.matching.normalise import normalise
from policybot.model import KnowledgeBase
from tests.conftest import ROOT, shared_file


@pytest.fixture
def kb(real_kb: KnowledgeBase) -> KnowledgeBase:
    return real_kb


def topic_ids() -> list[str]:
    topics = shared_file("knowledge-topics.md")
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
    dev = shared_file("eval/dev-questions.yaml")
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
