"""The reply builder: wording per language, escaping, buttons."""

import datetime as dt

from policybot import replies
from policybot.model import (
    LANG_EN,
    LANG_HANS,
    LANG_HANT,
    Candidate,
    Category,
    Entry,
    KnowledgeBase,
    MatchResult,
    Status,
    Translation,
)


def kb() -> KnowledgeBase:
    a = Entry(
        id="a", category="c", question="<b>问题</b>A？", answer="答案 <script>x</script> & 更多",
        source="来源文件", updated=dt.date(2026, 1, 2), related=("b",),
        translations={"en": Translation("Question A?", "Answer A")},
    )
    b = Entry(id="b", category="c", question="问题B？", answer="答案B", source="s", updated=dt.date(2026, 1, 1))
    return KnowledgeBase((Category("c", "类别", ("a", "b"), {"en": "Cat"}),), {"a": a, "b": b})


def test_answer_is_escaped_with_footer_related_and_feedback():
    r = replies.build(kb(), MatchResult("q", "q", Status.ANSWERED, 90, "a"), LANG_HANS, "qid1")
    assert "&lt;script&gt;" in r.html and "<script>" not in r.html and "&amp;" in r.html
    assert "&lt;b&gt;问题&lt;/b&gt;A？" in r.html
    assert "来源：来源文件" in r.html and "2026-01-02" in r.html
    flat = [b for row in r.buttons for b in row]
    assert flat[0].action == replies.ACT_ENTRY and flat[0].arg == "b"
    assert {(b.action, b.query_id) for b in flat[1:]} == {(replies.ACT_HELPFUL, "qid1"), (replies.ACT_UNHELPFUL, "qid1")}


def test_english_and_traditional():
    en = replies.build(kb(), MatchResult("q", "q", Status.ANSWERED, 90, "a"), LANG_EN)
    assert "Answer A" in en.html and "Source:" in en.html
    # no English translation: the Chinese answer with a one-line English note
    en_b = replies.build(kb(), MatchResult("q", "q", Status.ANSWERED, 90, "b"), LANG_EN)
    assert "No English version" in en_b.html and "答案B" in en_b.html
    hant = replies.build(kb(), MatchResult("q", "q", Status.ANSWERED, 90, "b"), LANG_HANT)
    assert "問題B" in hant.html and "來源" in hant.html


def test_ambiguous_lists_candidates_and_none_of_these():
    result = MatchResult("q", "q", Status.AMBIGUOUS, 50, None, (Candidate("a", 50), Candidate("b", 45)))
    r = replies.build(kb(), result, LANG_HANS, "qid")
    assert r.html == "您是想问：\n\n紧急情况请立即拨打 120；心理危机求助请拨打 12356。"
    flat = [b for row in r.buttons for b in row]
    assert [(b.action, b.arg) for b in flat] == [("pick", "a"), ("pick", "b"), ("none", "")]
    assert all(b.query_id == "qid" for b in flat)


def test_unanswered_has_hotlines_and_topics_button():
    r = replies.build(kb(), MatchResult("q", "q", Status.UNANSWERED), LANG_HANS)
    assert "12345" in r.html and "12320" in r.html and "转给编辑" in r.html
    assert r.buttons[0][0].action == replies.ACT_TOPICS


def test_topics_and_category():
    k = kb()
    t = replies.topics(k, LANG_EN)
    assert t.buttons[0][0].label == "Cat" and t.buttons[0][0].action == replies.ACT_CATEGORY
    c = replies.category(k, "c", LANG_HANS)
    assert c is not None and [row[0].arg for row in c.buttons[:2]] == ["a", "b"]
    assert replies.category(k, "nope", LANG_HANS) is None


def test_english_footer_uses_the_translated_source():
    base = kb()
    a = base.entries["a"]
    a_en = Entry(**{**a.__dict__, "translations": {"en": Translation("Question A?", "Answer A", "National rules")}})
    k = KnowledgeBase(base.categories, {"a": a_en, "b": base.entries["b"]})
    assert "Source: National rules · Updated: 2026-01-02" in replies.entry_reply(k, a_en, LANG_EN).html
    assert "来源：来源文件" in replies.entry_reply(k, a_en, LANG_HANS).html
    # no English source yet: the Chinese one, under English labels
    assert "Source: 来源文件" in replies.entry_reply(base, a, LANG_EN).html


def test_language_switch_confirms_the_chosen_language():
    assert replies.language_set(LANG_HANT).html == "已切換爲繁體中文。"
    assert replies.language_set(LANG_HANS).html == "已切换为简体中文。"
    assert replies.language_set(LANG_EN).html == "Language set to English."


def test_welcome_ends_with_for_example_above_the_example_buttons():
    body = replies.welcome(kb(), LANG_HANS, ("a",)).html
    assert body.startswith("<b>紧急情况请立即拨打 120")
    assert body.endswith("例如：")
