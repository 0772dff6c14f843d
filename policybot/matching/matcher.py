"""Matching a resident's question to a knowledge entry.

The index (`index.Index`) is built once per knowledge base. A question goes through: the
safety net (`safety.SafetyNet`, on the whole message, before anything else) → normalisation
(`normalise.normalise`, filler removed) → homophone typo correction against the knowledge
base's own vocabulary (`typos`) → jieba segmentation with the knowledge terms as a user
dictionary → synonym canonicalisation → a hybrid score per entry on an absolute 0-100 scale:

- keyword: idf-weighted overlap of tokens (rare terms weigh more, words the knowledge base
  has never seen count against the match, so "宠物狗打狂犬疫苗" is not a vaccination question);
- coverage and evidence: how much of the question's weight the entry explains, and how much
  matched weight there is at all (long questions);
- fuzzy: rapidfuzz character similarity to the entry's best phrasing;
- pinyin: similarity of the pinyin of the question and the best phrasing (homophone typos).

Decision: `answered` when the best score clears `answer_threshold` and leads the next entry
by `margin`, or clears `suggest_threshold` and leads by `clear_lead`; `ambiguous` (up to
`max_candidates`) above `suggest_threshold`; else `unanswered` or `out_of_scope`. Smalltalk (greetings, thanks) is recognised before scoring.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
from rapidfuzz import fuzz, process

from policybot.matching.index import Index
from policybot.matching.normalise import detect_script, forget_folding, normalise
from policybot.matching.safety import Detection, SafetyNet
from policybot.matching.typos import pinyin_of_words
from policybot.model import (
    LANG_EN,
    Candidate,
    KnowledgeBase,
    MatchResult,
    MatchSettings,
    Status,
)

MAX_QUERY_CHARS = 500  # a question longer than this is matched on its beginning only

# A long message is usually a story that ends in its question. Its last sentences are matched
# too, and that reading counts when it scores higher for one of the whole message's leaders:
# the story's other words no longer dilute the question.
STORY_CHARS = 40  # from this length (of the raw message)
STORY_END = 3  # sentences
_SENTENCE = re.compile(r"[^。！？!?；;\n]+[。！？!?；;]?")


FEATURES = ("keyword", "coverage", "evidence", "fuzzy", "pinyin")
# Matched term weight at which `evidence` reaches 63 (1 - 1/e): about one rare knowledge term.
EVIDENCE_SCALE = 4.0
# Entries scored in full per question, the leaders by word evidence (see Matcher._shortlist).
SHORTLIST = 40
# A question word that an entry's answer has, but none of its phrasings, counts this much of
# its weight for the entry: a resident may name what the answer explains (起付线, 产后访视).
ANSWER_WEIGHT = 0.2
ANSWER_LEADERS = 5  # the leading entries whose answers are read (it costs a substring search each)
OUT_OF_SCOPE_PENALTY = 25.0  # points off every entry when the question names an out-of-scope term


@dataclass
class Features:
    keyword: float  # idf-weighted token overlap with the best phrasing
    coverage: float  # share of the question's token weight found anywhere in the entry
    evidence: float  # how much matched weight there is at all, saturating (long questions)
    fuzzy: float  # rapidfuzz character similarity to the nearest phrasing
    pinyin: float  # pinyin similarity above the floor of unrelated text
    best_phrasing: str


@dataclass(frozen=True)
class Scored:
    entry_id: str
    score: float
    keyword: float
    coverage: float
    evidence: float
    fuzzy: float
    pinyin: float
    best_phrasing: str
    penalty: float = 0.0


@dataclass
class Analysis:
    """Everything `explain` shows: how a question was read and scored."""

    query: str
    normalised: str
    corrected: str
    tokens: list[str]
    canonical: list[str]
    expanded: dict[str, str]  # token -> canonical synonym it was replaced by
    out_of_scope: list[str]
    script: str
    safety: Detection | None = None
    features: dict[str, Features] = field(default_factory=dict)
    scored: list[Scored] = field(default_factory=list)
    result: MatchResult | None = None
    known: float = 0.0  # the most of the question's word weight any entry knows (coverage)
    focus: str = ""  # a story's question sentences, when they scored better than the whole
    subject: bool = False  # it has a word of our subject (in_scope)
    other_service: bool = False  # it names another service's thing and no word of our subject


class Matcher:
    """Index over one KnowledgeBase. Build a new one for a new knowledge base."""

    def __init__(self, kb: KnowledgeBase, settings: MatchSettings | None = None, shortlist: int = SHORTLIST) -> None:
        self.kb = kb
        self.settings = settings or kb.settings
        self.shortlist = shortlist  # entries scored in full per question (0: every entry)
        self.index = Index(kb)
        self.safety = SafetyNet(kb.safety)

    def forget_recent(self) -> None:
        """Drop the memos of whole messages (the safety net's results, script folding), so a
        message asked again costs what it cost the first time (the bench times it so)."""
        self.safety.forget_recent()
        forget_folding()

    def correct(self, normalised: str) -> str:
        """Replace homophone typos (寡号 → 挂号, 结合病 → 结核病) with knowledge terms."""
        return self.index.typos.correct(normalised)

    # -- scoring ---------------------------------------------------------------------

    def analyse(self, query: str, *, every_entry: bool = False) -> Analysis:
        raw = query[:MAX_QUERY_CHARS]
        ix = self.index
        script = detect_script(raw)
        normalised = normalise(raw, ix.filler)
        corrected = self.correct(normalised)
        words = ix.segment(corrected)  # segmented once: shown by explain, scored by fuzzy/pinyin
        plain_tokens = [w for w in words if w.strip()]
        tokens = ix.tokens(corrected, words)
        expanded = {w: ix.canon[w] for w in plain_tokens if w in ix.canon and ix.canon[w] != w}
        oos = ix.found(corrected, "out_of_scope")
        subject = bool(ix.found(corrected, "in_scope"))
        other = [] if subject else ix.found(corrected, "other_services")
        a = Analysis(raw, normalised, corrected, plain_tokens, tokens, expanded, oos + other, script)
        a.subject, a.other_service = subject, bool(other)
        english = script == LANG_EN
        canonical = ix.canonical_words(words)
        text = ix.english_text(tokens) if english else "".join(canonical)
        sounds = "" if english else " ".join(pinyin_of_words(canonical))
        wq = sum(ix.weight(t) for t in set(tokens))  # the question's word weight
        a.features, a.known = self._features(text, sounds, tokens, wq, english=english, every_entry=every_entry)
        a.scored = self.combine(a.features, bool(oos))
        # answers are weaker evidence, read for the leading entries only
        if not english and a.scored:
            changed = self._answer_evidence(a, tokens, wq)
            if changed:
                rescored = self.combine({e: a.features[e] for e in changed}, bool(oos))
                a.scored = sorted([x for x in a.scored if x.entry_id not in changed] + rescored,
                                  key=lambda x: -x.score)
        return a

    def _features(self, canon: str, qpy: str, tokens: list[str], wq: float, *, english: bool,
                  every_entry: bool = False) -> tuple[dict[str, Features], float]:
        """Per shortlisted entry, the best value of each feature over its phrasings (0-100
        each); and the most of the question's word weight any entry knows (coverage)."""
        ix = self.index
        words = ix.word_evidence(tokens, english=english)
        coverage = 100 * words.matched / wq if wq > 0 else np.zeros_like(words.matched)
        # A long story around the question dilutes coverage but not this.
        evidence = 100 * (1 - np.exp(-words.matched / EVIDENCE_SCALE))
        known = float(coverage.max()) if len(coverage) else 0.0
        shortlist = (list(range(len(ix.entry_ids))) if every_entry
                     else self._shortlist(words.matched, words.keyword, coverage, evidence))
        groups = [(e, g) for e in shortlist if (g := ix.rows_of(e, english=english))]
        if not groups:
            return {}, known
        rows = [r for _, g in groups for r in g]
        fuzzy = np.zeros(len(rows))
        sounds = np.zeros(len(rows))
        if not english:
            fuzzy = process.cdist([canon], [ix.ph_text[r] for r in rows], scorer=fuzz.ratio, dtype=np.float64)[0]
            if qpy:
                raw = process.cdist([qpy], [ix.ph_pinyin[r] for r in rows], scorer=fuzz.ratio, dtype=np.float64)[0]
                # Unrelated Chinese strings share ~50% of pinyin letters: only the part above
                # that floor is evidence (it is what recovers homophone typos).
                sounds = np.where(ix.ph_has_pinyin[rows], np.maximum(0.0, (raw - 50.0) * 2), 0.0)
        else:
            # English meets the Chinese phrasings through the glossary: words only
            same = [i for i, r in enumerate(rows) if ix.ph_english[r]]
            if same:
                fuzzy[same] = process.cdist([canon], [ix.ph_text[rows[i]] for i in same],
                                            scorer=fuzz.ratio, dtype=np.float64)[0]
        starts = np.cumsum([0] + [len(g) for _, g in groups[:-1]])
        best_fuzzy = np.maximum.reduceat(fuzzy, starts).tolist()
        best_sound = np.maximum.reduceat(sounds, starts).tolist()
        feats: dict[str, Features] = {}
        for k, (e, g) in enumerate(groups):
            best = int(words.best[e])
            feats[ix.entry_ids[e]] = Features(
                float(words.keyword[e]), float(coverage[e]), float(evidence[e]), best_fuzzy[k], best_sound[k],
                ix.ph_text[best] if best >= 0 else ix.ph_text[g[0]],
            )
        return feats, known

    def _shortlist(self, matched: npt.NDArray[np.float64], keyword: npt.NDArray[np.float64],
                   coverage: npt.NDArray[np.float64], evidence: npt.NDArray[np.float64]) -> list[int]:
        """The entries worth scoring in full: the leaders by word evidence.

        An entry that shares no word with the question scores at most the fuzzy and pinyin
        weights (30 points with the shipped weights); while that cannot reach a "did you mean"
        nor close a lead, such entries are left out, else every entry is scored."""
        s = self.settings
        w = {k: s.weights.get(k, 0.0) for k in FEATURES}
        total = sum(w.values()) or 1.0
        ceiling = 100 * (w["fuzzy"] + w["pinyin"]) / total
        if self.shortlist <= 0 or ceiling >= s.suggest_threshold - max(s.margin, s.clear_lead):
            return list(range(len(matched)))
        rows = np.flatnonzero(matched > 0)
        if len(rows) > self.shortlist:
            partial = (w["keyword"] * keyword[rows] + w["coverage"] * coverage[rows]
                       + w["evidence"] * evidence[rows])
            rows = np.sort(rows[np.argpartition(-partial, self.shortlist)[: self.shortlist]])
        return [int(r) for r in rows]

    def _answer_evidence(self, a: Analysis, tokens: list[str], wq: float) -> set[str]:
        """Add the leading entries' answer evidence to their coverage and evidence features;
        the entries changed."""
        ix = self.index
        leaders = [x.entry_id for x in a.scored[:ANSWER_LEADERS]]
        row = ix.entry_row
        extra = ix.answer_evidence(tokens, [row[e] for e in leaders])
        if not extra:
            return set()
        changed = set()
        for eid in leaders:
            more = ANSWER_WEIGHT * extra.get(row[eid], 0.0)
            if more > 0:
                f = a.features[eid]
                matched = f.coverage * wq / 100 + more
                f.coverage = 100 * matched / wq
                f.evidence = 100 * (1 - math.exp(-matched / EVIDENCE_SCALE))
                changed.add(eid)
        return changed

    def combine(self, feats: dict[str, Features], oos: bool, settings: MatchSettings | None = None) -> list[Scored]:
        """Weighted sum of the features, minus the out-of-scope penalty, best first."""
        s = settings or self.settings
        w = {k: s.weights.get(k, 0.0) for k in FEATURES}
        total = sum(w.values()) or 1.0
        penalty = OUT_OF_SCOPE_PENALTY if oos else 0.0
        wk, wc, we, wf, wp = (w[k] / total for k in FEATURES)
        out = [
            Scored(
                eid,
                max(0.0, wk * f.keyword + wc * f.coverage + we * f.evidence + wf * f.fuzzy + wp * f.pinyin - penalty),
                f.keyword,
                f.coverage,
                f.evidence,
                f.fuzzy,
                f.pinyin,
                f.best_phrasing,
                penalty,
            )
            for eid, f in feats.items()
        ]
        out.sort(key=lambda x: -x.score)
        return out

    # -- decisions -------------------------------------------------------------------

    def _smalltalk(self, normalised: str) -> str | None:
        ids = self.index.smalltalk_ids
        return ids.get(normalised) or ids.get(normalised.replace(" ", ""))

    def decide(self, a: Analysis) -> MatchResult:
        s = self.settings
        risk = a.safety.risk if a.safety is not None else ()
        st = self._smalltalk(a.normalised) or self._smalltalk(a.corrected)
        if st is not None:
            return MatchResult(a.query, a.normalised, Status.SMALLTALK, special_id=st, script=a.script, risk=risk)
        scored = a.scored
        top = scored[0] if scored else None
        if a.other_service:  # another service's matter, and nothing of ours: not a gap either
            return MatchResult(a.query, a.normalised, Status.OUT_OF_SCOPE, score=top.score if top else 0.0,
                               script=a.script, risk=risk)
        if top is None or top.score < s.suggest_threshold:
            # clearly another subject (no entry knows its words, or it names an out-of-scope
            # term): its own reply, and kept apart from the editors' gaps
            # (unless it has a word of the subject: then it is a gap the editors must see)
            known = a.known
            other = bool(a.out_of_scope) or known < s.out_of_scope_coverage
            status = Status.OUT_OF_SCOPE if other and not a.subject else Status.UNANSWERED
            return MatchResult(a.query, a.normalised, status,
                               score=top.score if top else 0.0, script=a.script, risk=risk)
        second = scored[1].score if len(scored) > 1 else 0.0
        window = [x for x in scored[: s.max_candidates] if x.score >= s.suggest_threshold]
        cands = tuple(Candidate(x.entry_id, x.score) for x in window)
        lead = top.score - second
        # a question that names another subject is at most offered, never answered outright
        if not a.out_of_scope and ((top.score >= s.answer_threshold and lead >= s.margin)
                                   or (s.clear_lead > 0 and lead >= s.clear_lead)):
            return MatchResult(a.query, a.normalised, Status.ANSWERED, top.score, top.entry_id,
                               cands, script=a.script, risk=risk)
        return MatchResult(a.query, a.normalised, Status.AMBIGUOUS, top.score, None, cands,
                           script=a.script, risk=risk)

    def explain(self, query: str) -> Analysis:
        """The safety net first, on the whole message; scoring only when it did not fire."""
        detection = self.safety.detect(query)
        if detection.emergency:
            raw = query[:MAX_QUERY_CHARS]
            a = Analysis(raw, normalise(raw, self.index.filler), "", [], [], {}, [],
                         detect_script(raw), detection)
            a.corrected = a.normalised
            a.result = MatchResult(a.query, a.normalised, Status.EMERGENCY,
                                   special_id=",".join(detection.kinds), script=a.script)
            return a
        a = self.analyse(query)
        # (not when the message names another subject: the story's end must not shed that)
        part = "" if a.out_of_scope else question_part(query[:MAX_QUERY_CHARS])
        if part:
            b = self.analyse(part)
            # it sharpens the whole message's reading, it never brings in another subject
            leaders = {x.entry_id for x in a.scored[:3]}
            if b.scored and b.scored[0].entry_id in leaders and b.scored[0].score > a.scored[0].score:
                b.query, b.focus = a.query, part
                a = b
        a.safety = detection
        a.result = self.decide(a)
        return a

    def match(self, query: str) -> MatchResult:
        result = self.explain(query).result
        if result is None:  # explain always decides; a bug otherwise
            raise RuntimeError("explain returned no result")
        return result

    def rank(self, query: str, limit: int = 3) -> list[Candidate]:
        """Nearest entries regardless of thresholds (for editors' suggestions)."""
        return [Candidate(x.entry_id, x.score) for x in self.analyse(query, every_entry=True).scored[:limit]]


def question_part(text: str) -> str:
    """The last sentences of a long message ("" when it is short or has no more sentences
    than that): where a resident's story ends in what they want to know."""
    text = text.strip()
    if len(text) < STORY_CHARS:
        return ""
    sentences = [s.strip() for s in _SENTENCE.findall(text) if s.strip()]
    if len(sentences) <= STORY_END:
        return ""
    return " ".join(sentences[-STORY_END:])
