"""The index: inverted lists, the shortlist of entries scored in full, cached pinyin."""

import dataclasses
from pathlib import Path

import pytest
from pypinyin import lazy_pinyin

from policybot.matching.index import Postings
from policybot.matching.matcher import Matcher
from policybot.matching.typos import pinyin
from policybot.model import KnowledgeBase, Status
from policybot.quality.evaluate import load_questions

ROOT = Path(__file__).resolve().parent.parent


def test_postings_gather_each_row_once_per_token_with_its_weight():
    p = Postings({"体检": [1, 3], "免费": [1], "疫苗": [2]})
    rows, w = p.gather(["免费", "体检", "没有"], {"免费": 2.0, "体检": 1.5, "没有": 9.0})
    got = sorted(zip(rows.tolist(), w.tolist(), strict=True))
    assert got == [(1, 1.5), (1, 2.0), (3, 1.5)]
    rows, w = p.gather(["没有"], {"没有": 1.0})
    assert len(rows) == 0 and len(w) == 0


def _decisions(m: Matcher, questions: list[str]) -> list[tuple[object, ...]]:
    out = []
    for q in questions:
        r = m.match(q)
        # a question no entry shares a word with scores 0 from the shortlist (the exhaustive
        # scorer gives it the fuzzy remainder, below every threshold): compare decisions
        score = round(r.score, 6) if r.status in (Status.ANSWERED, Status.AMBIGUOUS) else None
        out.append((r.status, r.entry_id, tuple(c.entry_id for c in r.candidates), score))
    return out


def test_shortlist_decides_exactly_as_scoring_every_entry(real_kb: KnowledgeBase):
    questions = [q.q for q in load_questions(ROOT / "tests" / "data" / "blind-questions.yaml")]
    questions += [q.q for q in load_questions(ROOT / "tests" / "data" / "blind-questions-2.yaml")]
    questions += [q.q for q in load_questions(ROOT / "tests" / "data" / "blind-questions-3.yaml")]
    short = Matcher(real_kb, shortlist=8)  # far fewer than the 55 entries (the bot uses 40)
    every = Matcher(real_kb, shortlist=0)
    assert _decisions(short, questions) == _decisions(every, questions)


def test_every_entry_is_scored_when_fuzzy_alone_could_reach_a_suggestion(real_kb: KnowledgeBase):
    # with these weights a phrasing that shares no word could still be offered: no shortcut
    heavy = dataclasses.replace(real_kb.settings, weights={"fuzzy": 0.7, "pinyin": 0.3, "keyword": 0.0,
                                                           "coverage": 0.0, "evidence": 0.0})
    m = Matcher(real_kb, heavy)
    a = m.analyse("门诊看病报销")
    assert len(a.features) == len(real_kb.entries)


def test_chinese_question_is_not_compared_with_english_phrasings(real_matcher: Matcher):
    ix = real_matcher.index
    tokens = ix.tokens("free checkup")  # glossed: the English alternates carry Chinese terms too
    words = ix.word_evidence(tokens, english=False)
    best = [int(b) for b in words.best if b >= 0]
    assert best and not any(ix.ph_english[b] for b in best)
    assert any(ix.ph_english[b] for b in ix.word_evidence(tokens, english=True).best if b >= 0)


def test_rank_scores_every_entry(real_matcher: Matcher):
    # an editor's nearest entries, even when only one entry shares a word with the question
    assert len(real_matcher.rank("尘肺病", limit=3)) == 3


@pytest.mark.parametrize(
    "text",
    ["银行卡还要还钱", "重庆长大了", "abc 123 体检", "hpv疫苗免费吗", "e 自由", "", "寡号 挂号 ！？", "特殊境遇家庭扶助申請"],
)
def test_cached_pinyin_reads_as_pypinyin_does(text):
    assert pinyin(text) == lazy_pinyin(text)
