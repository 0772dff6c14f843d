"""Matching a resident's question to a knowledge entry.

The index is built once per knowledge base. A question goes through: the safety net
(`safety.SafetyNet`, on the whole message, before anything else) → normalisation (text.normalise, filler removed) → homophone typo
correction against the knowledge base's own vocabulary (pinyin) → jieba segmentation with
the knowledge terms as a user dictionary → synonym canonicalisation → a hybrid score per
entry on an absolute 0-100 scale:

- keyword: idf-weighted overlap of tokens (rare terms weigh more, words the knowledge base
  has never seen count against the match, so "宠物狗打狂犬疫苗" is not a vaccination question);
- fuzzy: rapidfuzz character similarity to the entry's best phrasing;
- pinyin: similarity of the pinyin of the question and the best phrasing (homophone typos).

Decision: `answered` when the best score clears `answer_threshold` and leads the next entry
by `margin`; `ambiguous` (up to `max_candidates`) above `suggest_threshold`; else
`unanswered`. Smalltalk (greetings, thanks) is recognised before matching.
"""

from __future__ import annotations

import logging
import math
import re
from collections import Counter
from dataclasses import dataclass, field

from rapidfuzz import fuzz

from policybot import text as textmod
from policybot.model import (
    LANG_EN,
    Candidate,
    KnowledgeBase,
    MatchResult,
    MatchSettings,
    Status,
)
from policybot.safety import Detection, SafetyNet

log = logging.getLogger(__name__)

MAX_QUERY_CHARS = 500  # a question longer than this is matched on its beginning only

# Function words: they say nothing about which entry is meant. Language facts, not knowledge.
STOPWORDS_ZH = frozenset(
    """的 了 吗 呢 吧 啊 呀 嘛 哦 么 是 在 有 和 与 及 或 也 都 就 还 又 再 很 太 最 这 那 这个 那个 这些 那些
    我 你 您 他 她 它 我们 你们 他们 自己 家里 一个 一下 一些 个 些 把 被 给 让 对 向 从 到 去 来 过 着
    能 能不能 可以 可不可以 会 要 想 需要 应该 得 该 请 问 请问 一 下 上 中 里 没 没有 不 不是
    怎么 怎样 如何 什么 啥 哪 哪里 哪儿 哪些 哪个 多少 几 为什么 是不是 有没有 怎么办 办 弄 做 搞
    啦 哈 嗯 喔 哎 诶 时候 现在 已经 如果 因为 所以 但是 然后 还是 比如 之前 以后""".split()
)
STOPWORDS_EN = frozenset(
    """a an the i me my we our you your he she it they them is are was were be been am do does did
    can could should would will shall may might must to of in on at for from by with about as and or
    but if so not no how what when where which who whom why there here this that these those any some
    get got have has had please tell want need know""".split()
)
_EN_WORD = re.compile(r"[a-z][a-z0-9]+|\d+")
_CJK_RUN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff]+")


def _en_tokens(normalised: str) -> list[str]:
    out = []
    for w in _EN_WORD.findall(normalised):
        if w in STOPWORDS_EN:
            continue
        # crude plural folding: appointments -> appointment
        if len(w) > 4 and w.endswith("s") and not w.endswith("ss"):
            w = w[:-1]
        out.append(w)
    return out


def _pinyin(s: str) -> list[str]:
    from pypinyin import lazy_pinyin

    return lazy_pinyin(s)


@dataclass
class _Phrasing:
    entry_id: str
    text: str  # canonicalised normalised text, no spaces
    tokens: frozenset[str]
    pinyin: str
    english: bool = False
    weight: float = 0.0  # idf weight of its tokens, set once the idf is known


FEATURES = ("keyword", "coverage", "evidence", "fuzzy", "pinyin")
# Matched term weight at which `evidence` reaches 63 (1 - 1/e): about one rare knowledge term.
EVIDENCE_SCALE = 4.0
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


class Matcher:
    """Index over one KnowledgeBase. Build a new one for a new knowledge base."""

    def __init__(self, kb: KnowledgeBase, settings: MatchSettings | None = None) -> None:
        import jieba

        jieba.setLogLevel(logging.WARNING)
        self.kb = kb
        self.settings = settings or kb.settings
        self._filler = tuple(kb.filler)
        self._tok = jieba.Tokenizer()
        self._tok.initialize()
        # synonym variant -> canonical term (both normalised)
        self._canon: dict[str, str] = {}
        for group in kb.synonyms:
            forms = [textmod.normalise(t) for t in group if textmod.normalise(t)]
            for f in forms:
                self._canon.setdefault(f, forms[0])
        self._out_of_scope = tuple(sorted({textmod.normalise(t) for t in kb.out_of_scope if t}))
        self.safety = SafetyNet(kb.safety)
        self._smalltalk_ids = {
            textmod.normalise(p): s.id for s in kb.smalltalk for p in s.patterns if textmod.normalise(p)
        }
        # Knowledge terms segment whole ("两癌筛查", "家庭医生").
        terms: set[str] = set(self._canon) | set(self._canon.values())
        for e in kb.entries.values():
            terms.update(textmod.normalise(k) for k in e.keywords)
        for t in terms:
            if t and textmod.has_cjk(t) and " " not in t:
                self._tok.add_word(t, freq=max(self._tok.FREQ.get(t, 0), 200_000))
        self._phrasings: list[_Phrasing] = []
        entry_tokens: dict[str, set[str]] = {}
        # English has one phrasing per entry, so its answer's words count as the entry's too.
        entry_tokens_en: dict[str, set[str]] = {}
        for e in kb.entries.values():
            bag: set[str] = set()
            for p in e.phrasings:
                ph = self._phrasing(e.id, p, english=False)
                self._phrasings.append(ph)
                bag |= ph.tokens
            for k in e.keywords:
                bag |= set(self._tokens(textmod.normalise(k)))
            entry_tokens[e.id] = bag
            en = e.translations.get("en")
            en_bag: set[str] = set()
            if en is not None:
                ph = self._phrasing(e.id, en.question, english=True)
                self._phrasings.append(ph)
                en_bag = set(ph.tokens) | set(self._tokens(textmod.normalise(en.answer)))
            entry_tokens_en[e.id] = en_bag
        self._entry_tokens = entry_tokens
        self._entry_tokens_en = entry_tokens_en
        n = max(len(entry_tokens), 1)
        df = Counter(t for bag in entry_tokens.values() for t in bag)
        df.update(t for bag in entry_tokens_en.values() for t in bag)
        self._idf = {t: math.log(1 + (n - d + 0.5) / (d + 0.5)) for t, d in df.items()}
        # A word the knowledge base has never used is strong evidence of another subject.
        self._idf_unknown = math.log(1 + (n + 0.5) / 0.5)
        for ph in self._phrasings:
            ph.weight = sum(self._w(t) for t in ph.tokens)
        # Homophone typo correction: pinyin of every multi-character knowledge term.
        self._by_pinyin: dict[tuple[str, ...], str] = {}
        # Typos are corrected only into the curated vocabulary (keywords and synonym terms),
        # never into common words that phrasings happen to use ("医养" must not become "一样").
        for t in sorted(terms):
            if len(t) >= 2 and _CJK_RUN.fullmatch(t) and t not in STOPWORDS_ZH:
                self._by_pinyin.setdefault(tuple(_pinyin(t)), t)
        self._vocab = set(df) | terms

    # -- text processing -------------------------------------------------------------

    def _tokens(self, normalised: str) -> list[str]:
        """Segment, canonicalise synonyms, drop function words."""
        out: list[str] = []
        for chunk in normalised.split(" "):
            if not chunk:
                continue
            if not textmod.has_cjk(chunk):
                out.extend(self._canon.get(w, w) for w in _en_tokens(chunk))
                continue
            for w in self._tok.lcut(chunk):
                w = w.strip()
                if not w or w in STOPWORDS_ZH:
                    continue
                if not textmod.has_cjk(w):
                    out.extend(_en_tokens(w))
                    continue
                out.append(self._canon.get(w, w))
        return out

    def _segment(self, normalised: str) -> list[str]:
        """jieba words of the text with its spaces removed (the character scorers' view)."""
        return self._tok.lcut(normalised.replace(" ", ""))

    def _canonical_text(self, words: list[str]) -> str:
        """Synonym variants replaced by their canonical term, for the character scorers."""
        return "".join(self._canon.get(w, w) for w in words)

    def _phrasing(self, entry_id: str, raw: str, *, english: bool) -> _Phrasing:
        norm = textmod.normalise(raw, self._filler)
        tokens = frozenset(self._tokens(norm))
        canon = self._canonical_text(self._segment(norm))
        return _Phrasing(entry_id, canon, tokens, " ".join(_pinyin(canon)), english)

    def correct(self, normalised: str) -> str:
        """Replace homophone typos (寡号 → 挂号, 结合病 → 结核病) with knowledge terms."""
        if not self._by_pinyin:
            return normalised

        def fix_run(m: re.Match[str]) -> str:
            run = m.group(0)
            py = _pinyin(run)
            if len(py) != len(run):
                return run
            out = list(run)
            i = 0
            while i < len(run):
                done = False
                for size in range(min(6, len(run) - i), 1, -1):
                    window = run[i : i + size]
                    term = self._by_pinyin.get(tuple(py[i : i + size]))
                    if term is None or term == window:
                        if term == window:
                            i += size
                            done = True
                            break
                        continue
                    # A real word of its own is not a typo (but "结合病" is not a word).
                    if window in self._vocab or self._tok.FREQ.get(window, 0) > 0:
                        continue
                    out[i : i + size] = list(term)
                    i += size
                    done = True
                    break
                if not done:
                    i += 1
            return "".join(out)

        return _CJK_RUN.sub(fix_run, normalised)

    # -- scoring ---------------------------------------------------------------------

    def _w(self, t: str) -> float:
        return self._idf.get(t, self._idf_unknown)

    def analyse(self, query: str) -> Analysis:
        raw = query[:MAX_QUERY_CHARS]
        script = textmod.detect_script(raw)
        normalised = textmod.normalise(raw, self._filler)
        corrected = self.correct(normalised)
        words = self._segment(corrected)  # segmented once: shown by explain, scored by fuzzy/pinyin
        plain_tokens = [w for w in words if w.strip()]
        tokens = self._tokens(corrected)
        expanded = {w: self._canon[w] for w in plain_tokens if w in self._canon and self._canon[w] != w}
        oos = [t for t in self._out_of_scope if t and t in corrected]
        a = Analysis(raw, normalised, corrected, plain_tokens, tokens, expanded, oos, script)
        a.features = self._features(self._canonical_text(words), tokens, english=(script == LANG_EN))
        a.scored = self.combine(a.features, bool(oos))
        return a

    def _features(self, canon: str, tokens: list[str], *, english: bool) -> dict[str, Features]:
        """Per entry, the best value of each feature over its phrasings (0-100 each)."""
        qset = set(tokens)
        wq = sum(self._w(t) for t in qset)
        qpy = " ".join(_pinyin(canon)) if not english else ""
        feats: dict[str, Features] = {}
        for ph in self._phrasings:
            if ph.english != english:
                continue
            keyword = 0.0
            if wq > 0 and ph.tokens:
                wc = sum(self._w(t) for t in qset & ph.tokens)
                # half "how much of the question this phrasing explains", half "how much of
                # the phrasing the question contains": short and long questions both score.
                keyword = 100 * (0.5 * wc / wq + 0.5 * wc / ph.weight)
            fz = fuzz.ratio(canon, ph.text)
            # Unrelated Chinese strings share ~50% of pinyin letters: only the part above
            # that floor is evidence (it is what recovers homophone typos).
            py = max(0.0, (fuzz.ratio(qpy, ph.pinyin) - 50.0) * 2) if qpy and ph.pinyin else 0.0
            f = feats.get(ph.entry_id)
            if f is None:
                feats[ph.entry_id] = Features(keyword, 0.0, 0.0, fz, py, ph.text)
            else:
                if keyword > f.keyword:
                    f.keyword, f.best_phrasing = keyword, ph.text
                f.fuzzy = max(f.fuzzy, fz)
                f.pinyin = max(f.pinyin, py)
        bags = self._entry_tokens_en if english else self._entry_tokens
        for eid, f in feats.items():
            # Question terms spread over several phrasings of the same entry still count.
            matched = sum(self._w(t) for t in qset & bags[eid])
            if wq > 0:
                f.coverage = 100 * matched / wq
            # A long story around the question dilutes coverage but not this.
            f.evidence = 100 * (1 - math.exp(-matched / EVIDENCE_SCALE))
        return feats

    def combine(self, feats: dict[str, Features], oos: bool, settings: MatchSettings | None = None) -> list[Scored]:
        """Weighted sum of the features, minus the out-of-scope penalty, best first."""
        s = settings or self.settings
        w = {k: s.weights.get(k, 0.0) for k in FEATURES}
        total = sum(w.values()) or 1.0
        penalty = OUT_OF_SCOPE_PENALTY if oos else 0.0
        out = [
            Scored(
                eid,
                max(0.0, sum(w[k] * getattr(f, k) for k in FEATURES) / total - penalty),
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
        return self._smalltalk_ids.get(normalised) or self._smalltalk_ids.get(normalised.replace(" ", ""))

    def decide(self, a: Analysis) -> MatchResult:
        s = self.settings
        risk = a.safety.risk if a.safety is not None else ()
        st = self._smalltalk(a.normalised) or self._smalltalk(a.corrected)
        if st is not None:
            return MatchResult(a.query, a.normalised, Status.SMALLTALK, special_id=st, script=a.script, risk=risk)
        scored = a.scored
        top = scored[0] if scored else None
        if top is None or top.score < s.suggest_threshold:
            return MatchResult(a.query, a.normalised, Status.UNANSWERED,
                               score=top.score if top else 0.0, script=a.script, risk=risk)
        second = scored[1].score if len(scored) > 1 else 0.0
        window = [x for x in scored[: s.max_candidates] if x.score >= s.suggest_threshold]
        cands = tuple(Candidate(x.entry_id, x.score) for x in window)
        if top.score >= s.answer_threshold and top.score - second >= s.margin:
            return MatchResult(a.query, a.normalised, Status.ANSWERED, top.score, top.entry_id,
                               cands, script=a.script, risk=risk)
        return MatchResult(a.query, a.normalised, Status.AMBIGUOUS, top.score, None, cands,
                           script=a.script, risk=risk)

    def explain(self, query: str) -> Analysis:
        """The safety net first, on the whole message; scoring only when it did not fire."""
        detection = self.safety.detect(query)
        if detection.emergency:
            raw = query[:MAX_QUERY_CHARS]
            a = Analysis(raw, textmod.normalise(raw, self._filler), "", [], [], {}, [],
                         textmod.detect_script(raw), detection)
            a.corrected = a.normalised
            a.result = MatchResult(a.query, a.normalised, Status.EMERGENCY,
                                   special_id=",".join(detection.kinds), script=a.script)
            return a
        a = self.analyse(query)
        a.safety = detection
        a.result = self.decide(a)
        return a

    def match(self, query: str) -> MatchResult:
        result = self.explain(query).result
        assert result is not None
        return result

    def rank(self, query: str, limit: int = 3) -> list[Candidate]:
        """Nearest entries regardless of thresholds (for editors' suggestions)."""
        return [Candidate(x.entry_id, x.score) for x in self.analyse(query).scored[:limit]]
