"""The usual baselines our matcher is measured against, on the same knowledge base:

(a) rapidfuzz WRatio of the question against every phrasing, best entry wins;
(b) BM25 (Okapi, k1=1.5, b=0.75) over jieba tokens of each entry's phrasings joined.

Each answers when its raw score clears a threshold, else says it has no answer; `best_threshold`
picks the threshold that maximises correct decisions minus confident wrong answers on a set.
They have no emergency check, synonyms, filler removal or typo correction: that is the point.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable

from rapidfuzz import fuzz, process, utils

from policybot.matching.vocabulary import new_tokenizer
from policybot.model import Candidate, KnowledgeBase, MatchResult, Status
from policybot.quality.evaluate import Question, Report, evaluate


class WRatioBaseline:
    name = "rapidfuzz WRatio"

    def __init__(self, kb: KnowledgeBase) -> None:
        self._choices: list[str] = []
        self._ids: list[str] = []
        for e in kb.entries.values():
            for p in e.phrasings:
                self._choices.append(p)
                self._ids.append(e.id)

    def raw(self, query: str) -> list[Candidate]:
        hits = process.extract(query, self._choices, scorer=fuzz.WRatio, processor=utils.default_process,
                               limit=30)
        best: dict[str, float] = {}
        for _choice, score, idx in hits:
            eid = self._ids[idx]
            best[eid] = max(best.get(eid, 0.0), score)
        return [Candidate(k, v) for k, v in sorted(best.items(), key=lambda kv: -kv[1])]


class BM25Baseline:
    name = "BM25 (jieba)"

    def __init__(self, kb: KnowledgeBase, k1: float = 1.5, b: float = 0.75) -> None:
        self._tok = new_tokenizer()
        self.k1, self.b = k1, b
        self._docs: list[tuple[str, Counter[str]]] = []
        for e in kb.entries.values():
            toks = [t for p in e.phrasings for t in self._tokens(p)]
            self._docs.append((e.id, Counter(toks)))
        self._avgdl = sum(sum(c.values()) for _, c in self._docs) / max(len(self._docs), 1)
        df = Counter(t for _, c in self._docs for t in c)
        n = len(self._docs)
        self._idf = {t: math.log(1 + (n - d + 0.5) / (d + 0.5)) for t, d in df.items()}

    def _tokens(self, s: str) -> list[str]:
        return [t for t in self._tok.lcut(utils.default_process(s)) if t.strip()]

    def raw(self, query: str) -> list[Candidate]:
        q = self._tokens(query)
        out = []
        for eid, tf in self._docs:
            dl = sum(tf.values())
            s = 0.0
            for t in q:
                f = tf.get(t, 0)
                if f:
                    s += self._idf[t] * f * (self.k1 + 1) / (f + self.k1 * (1 - self.b + self.b * dl / self._avgdl))
            out.append(Candidate(eid, s))
        out.sort(key=lambda c: -c.score)
        return out


def thresholded(raw: Callable[[str], list[Candidate]], threshold: float) -> Callable[[str], MatchResult]:
    def match(query: str) -> MatchResult:
        cands = raw(query)
        top = cands[0] if cands else None
        if top is not None and top.score >= threshold:
            return MatchResult(query, query, Status.ANSWERED, top.score, top.entry_id, tuple(cands[:3]))
        return MatchResult(query, query, Status.UNANSWERED, top.score if top else 0.0)

    return match


def best_threshold(raw: Callable[[str], list[Candidate]], questions: list[Question]) -> tuple[float, Report]:
    """Sweep thresholds over the scores actually seen; ranking is computed once per question."""
    cache = {q.q: raw(q.q) for q in questions}

    def cached(query: str) -> list[Candidate]:
        return cache[query]

    tops = sorted({round(c[0].score, 3) for c in cache.values() if c})
    best: tuple[float, float, Report] | None = None
    for t in [0.0, *tops, (tops[-1] + 1) if tops else 1.0]:
        rep = evaluate(questions, thresholded(cached, t))
        correct = sum(o.correct for o in rep.outcomes)
        wrong = sum(o.confident_wrong for o in rep.outcomes)
        objective = correct - wrong
        if best is None or objective > best[0]:
            best = (objective, t, rep)
    if best is None:  # the list of thresholds is never empty
        raise ValueError("no threshold to try")
    return best[1], best[2]


def run_baselines(kb: KnowledgeBase, questions: list[Question]) -> tuple[dict[str, Report], dict[str, float]]:
    """Each baseline's report at its best threshold on `questions`, and those thresholds."""
    reports: dict[str, Report] = {}
    thresholds: dict[str, float] = {}
    for base in (WRatioBaseline(kb), BM25Baseline(kb)):
        thresholds[base.name], reports[base.name] = best_threshold(base.raw, questions)
    return reports, thresholds
