"""The index of one knowledge base: everything the matcher needs, computed once.

Knowledge terms (keywords and synonyms) are added to a private jieba tokenizer so they segment
whole ("两癌筛查", "家庭医生"); every phrasing is normalised, segmented, canonicalised and
read as pinyin; every token gets an idf weight over the entries. Build a new index for a new
knowledge base; an index is never changed after it is built.

Inverted lists (token -> phrasings, token -> entries) are kept as compressed sparse rows in
numpy arrays, so a question's word evidence for every entry is a few vector operations
(`word_evidence`) and the character scorers run only on the entries it retrieves. Hand-written
rather than `bm25s`: the retrieval score is the matcher's own coverage and keyword features,
so retrieval cannot rank by a formula the scorer disagrees with.
"""

from __future__ import annotations

import bisect
import math
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from policybot.matching.normalise import has_cjk, normalise
from policybot.matching.typos import TypoCorrector, pinyin_of_words
from policybot.matching.vocabulary import STOPWORDS_ZH, en_tokens, new_tokenizer, stem_text
from policybot.model import KnowledgeBase

_LATIN = re.compile(r"[a-z]")

# Knowledge terms enter the tokenizer's dictionary at least this frequent, so they win.
TERM_FREQ = 200_000
# An English word no entry uses weighs this (a Chinese one weighs the highest idf): the
# knowledge base's English side is thin, so an unknown English word is weak evidence that the
# question is about something else, and a long English question was drowned by them.
UNKNOWN_EN_WEIGHT = 2.0


ELDERLY = "老年人"
_CN_DIGIT = {"六": 6, "七": 7, "八": 8, "九": 9}
_AGE = re.compile(r"(?<![\d.])(\d{2,3})\s*(?:多)?(?:周岁|岁)|(?<![一二三四五六七八九十])([六七八九])十[一二三四五六七八九]?(?:多)?(?:周岁|岁)"
                  r"|\b(?:is|aged|age|turned|turning)\s+(\d{2})\b(?!\s*(?:yuan|rmb|kuai|dollars?|percent|km|kg|minutes?|hours?|days?|weeks?|months?))"
                  r"|\b(\d{2,3})\s*(?:years?\s+old|yo)\b")


def is_elderly_age(normalised: str) -> bool:
    """The text states an age of 60 or more."""
    for m in _AGE.finditer(normalised):
        number, tens, en1, en2 = m.groups()
        age = _CN_DIGIT[tens] * 10 if tens else int(number or en1 or en2)
        if 60 <= age <= 120:
            return True
    return False


class TermList:
    """Terms found in normalised text: a Chinese one anywhere, an English one as whole words
    (a plural too), so that "pet" is not found in "competent"."""

    def __init__(self, terms: Iterable[str]) -> None:
        terms = [t for t in terms if t]
        self.cjk = [t for t in terms if not t.isascii()]
        english = sorted((t for t in terms if t.isascii()), key=len, reverse=True)
        self.english = (re.compile(r"(?<![a-z0-9])(" + "|".join(map(re.escape, english)) + r")(?:e?s)?(?![a-z0-9])")
                        if english else None)

    def found(self, text: str) -> list[str]:
        out = [t for t in self.cjk if t in text]
        if self.english is not None and _LATIN.search(text):
            out += list(dict.fromkeys(m.group(1) for m in self.english.finditer(text)))
        return out


@dataclass(slots=True)
class Phrasing:
    entry_id: str
    text: str  # canonicalised normalised text, no spaces
    tokens: tuple[str, ...]  # distinct, sorted (a tuple is a fifth of a frozenset's memory)
    pinyin: str
    english: bool = False
    weight: float = 0.0  # idf weight of its tokens, set once the idf is known


class Postings:
    """token -> sorted row numbers (phrasings or entries), as compressed sparse rows."""

    def __init__(self, rows: dict[str, list[int]]) -> None:
        """`rows`: token -> its rows, ascending and distinct."""
        self.ids = {t: i for i, t in enumerate(rows)}
        lengths = np.fromiter((len(v) for v in rows.values()), dtype=np.int64, count=len(rows))
        self.ptr = np.zeros(len(rows) + 1, dtype=np.int64)
        np.cumsum(lengths, out=self.ptr[1:])
        self.rows = np.fromiter((r for v in rows.values() for r in v), dtype=np.int32,
                                count=int(self.ptr[-1]))

    def gather(self, tokens: Iterable[str], weights: dict[str, float]) -> tuple[npt.NDArray[np.int32], npt.NDArray[np.float64]]:
        """Rows that have any of `tokens`, each once per token, with that token's weight."""
        spans = [(self.ptr[i], self.ptr[i + 1], weights[t]) for t in tokens if (i := self.ids.get(t)) is not None]
        if not spans:
            return np.empty(0, dtype=np.int32), np.empty(0)
        rows = np.concatenate([self.rows[a:b] for a, b, _ in spans])
        w = np.concatenate([np.full(b - a, wt) for a, b, wt in spans])
        return rows, w


@dataclass
class WordEvidence:
    """A question's word evidence over the whole knowledge base (vectors over rows)."""

    matched: npt.NDArray[np.float64]  # per entry: weight of the question's tokens the entry has
    keyword: npt.NDArray[np.float64]  # per entry: best phrasing's keyword score (0-100)
    best: npt.NDArray[np.int64]  # per entry: that phrasing's row (-1: none shares a word)


class Index:
    def __init__(self, kb: KnowledgeBase) -> None:
        self.filler = tuple(kb.filler)
        self._tok = new_tokenizer()
        # synonym variant -> canonical term (both normalised)
        self.canon: dict[str, str] = {}
        for group in kb.synonyms:
            forms = [normalise(t) for t in group if normalise(t)]
            for f in forms:
                self.canon.setdefault(f, forms[0])
                if f.isascii():  # English forms are met as stems
                    self.canon.setdefault(stem_text(f), forms[0])
        self._elderly = ELDERLY in self.canon  # a term of this knowledge base (every synonym form is a key)
        self._term_lists = {name: TermList(sorted({normalise(t) for t in getattr(kb, name) if t}))
                            for name in ("out_of_scope", "in_scope", "other_services")}
        # English words and phrases -> the Chinese term they mean (longest phrase first), so an
        # English question is compared with the Chinese phrasings too
        # (matched on word stems: "mediate" finds the term written "mediation")
        gloss: dict[str, str] = {}
        for head, *words in kb.glossary:
            for term in words:
                gloss.setdefault(stem_text(normalise(term)), normalise(head))
        self._gloss = gloss
        self._gloss_re = (
            re.compile(r"\b(" + "|".join(re.escape(t) for t in sorted(gloss, key=len, reverse=True)) + r")\b")
            if gloss else None
        )
        self.smalltalk_ids = {normalise(p): s.id for s in kb.smalltalk for p in s.patterns if normalise(p)}
        # Knowledge terms segment whole ("两癌筛查", "家庭医生").
        terms: set[str] = set(self.canon) | set(self.canon.values())
        for e in kb.entries.values():
            terms.update(normalise(k) for k in e.keywords)
        self._added = sorted(t for t in terms if t and has_cjk(t) and " " not in t)
        self._add_terms()
        # the phrasings and the entries' bags of words are needed only while building
        phrasings: list[Phrasing] = []
        entry_tokens: dict[str, set[str]] = {}
        # The English side of an entry: its English alternates and translated question (the
        # translated answer made every English word look known, so it is not used).
        entry_tokens_en: dict[str, set[str]] = {}
        for e in kb.entries.values():
            bag: set[str] = set()
            en_bag: set[str] = set()
            for p in e.phrasings:
                # an alternate written in English is compared with English questions
                english = not has_cjk(p)
                ph = self._phrasing(e.id, p, english=english)
                phrasings.append(ph)
                (en_bag if english else bag).update(ph.tokens)
            for k in e.keywords:
                bag |= set(self.tokens(normalise(k)))
            entry_tokens[e.id] = bag
            en = e.translations.get("en")
            if en is not None:
                ph = self._phrasing(e.id, en.question, english=True)
                phrasings.append(ph)
                en_bag |= set(ph.tokens)
            entry_tokens_en[e.id] = en_bag
        n = max(len(entry_tokens), 1)
        # Rarity is read from the Chinese side; the English side adds only its English words
        # (the Chinese terms it has through the glossary would count the same entry twice).
        df = Counter(t for bag in entry_tokens.values() for t in bag)
        df.update(t for bag in entry_tokens_en.values() for t in bag if not has_cjk(t))
        self._idf = {t: math.log(1 + (n - d + 0.5) / (d + 0.5)) for t, d in df.items()}
        # A word the knowledge base has never used is strong evidence of another subject.
        self._idf_unknown = math.log(1 + (n + 0.5) / 0.5)
        for ph in phrasings:
            ph.weight = sum(self.weight(t) for t in ph.tokens)
        self._arrays(phrasings, entry_tokens, entry_tokens_en)
        # each entry's answer as plain text, read only for the few entries a question shortlists
        self.answer_text = [normalise(e.answer).replace(" ", "") for e in kb.entries.values()]
        # Homophone typos are corrected only into the curated vocabulary (keywords and synonym
        # terms); the knowledge base's own words and the dictionary's are never typos.
        self.typos = TypoCorrector(terms, set(df) | terms, self._tok.FREQ)

    def _arrays(self, phrasings: list[Phrasing], zh: dict[str, set[str]], en: dict[str, set[str]]) -> None:
        """The numpy side: rows of phrasings grouped by entry, and the inverted lists."""
        self.entry_ids = list(zh)
        self.entry_row = row = {eid: i for i, eid in enumerate(self.entry_ids)}
        self.ph_entry = np.fromiter((row[p.entry_id] for p in phrasings), dtype=np.int32,
                                    count=len(phrasings))
        # phrasings were added entry by entry: each entry's rows are one run
        self.entry_start = np.searchsorted(self.ph_entry, np.arange(len(self.entry_ids)))
        self.entry_end = np.searchsorted(self.ph_entry, np.arange(len(self.entry_ids)), side="right")
        self.ph_weight = np.array([p.weight for p in phrasings], dtype=np.float64)
        self.ph_english = np.array([p.english for p in phrasings], dtype=bool)
        self.rows_all = [list(range(a, b)) for a, b in zip(self.entry_start.tolist(), self.entry_end.tolist(), strict=True)]
        self.rows_zh = [[r for r in rows if not phrasings[r].english] for rows in self.rows_all]
        self.ph_text = [p.text for p in phrasings]
        self.ph_pinyin = [p.pinyin for p in phrasings]
        self.ph_has_pinyin = np.array([bool(p.pinyin) for p in phrasings], dtype=bool)
        # rows are visited in ascending order, so each list comes out sorted
        by_ph: dict[str, list[int]] = {}
        for i, p in enumerate(phrasings):
            for t in p.tokens:
                by_ph.setdefault(t, []).append(i)
        by_zh: dict[str, list[int]] = {}
        by_all: dict[str, list[int]] = {}
        for eid, bag in zh.items():
            r = row[eid]
            for t in bag:
                by_zh.setdefault(t, []).append(r)
            for t in bag | en[eid]:
                by_all.setdefault(t, []).append(r)
        self.post_phrasing = Postings(by_ph)
        self.post_zh = Postings(by_zh)
        self.post_all = Postings(by_all)

    def word_evidence(self, tokens: Iterable[str], *, english: bool) -> WordEvidence:
        """Matched weight per entry and the keyword score of each entry's best phrasing.

        keyword = half "how much of the question this phrasing explains", half "how much of
        the phrasing the question contains": short and long questions both score. A Chinese
        question is compared with Chinese phrasings only; an English one with all of them
        (the Chinese through the glossary)."""
        qset = set(tokens)
        weights = {t: self.weight(t) for t in qset}
        wq = sum(weights.values())
        n = len(self.entry_ids)
        rows, w = (self.post_all if english else self.post_zh).gather(qset, weights)
        matched = np.bincount(rows, weights=w, minlength=n).astype(np.float64) if len(rows) else np.zeros(n)
        keyword = np.zeros(n)
        best = np.full(n, -1, dtype=np.int64)
        prow, pw = self.post_phrasing.gather(qset, weights)
        if not english and len(prow):
            keep = ~self.ph_english[prow]
            prow, pw = prow[keep], pw[keep]
        if wq > 0 and len(prow):
            per_row = np.bincount(prow, weights=pw, minlength=len(self.ph_text))
            uniq = np.flatnonzero(per_row)
            wc = per_row[uniq]
            kw = 100 * (0.5 * wc / wq + 0.5 * wc / self.ph_weight[uniq])
            ent = self.ph_entry[uniq]
            # per entry, the first phrasing with the highest keyword score
            order = np.lexsort((uniq, -kw, ent))
            first = np.ones(len(order), dtype=bool)
            first[1:] = ent[order][1:] != ent[order][:-1]
            top = order[first]
            keyword[ent[top]] = kw[top]
            best[ent[top]] = uniq[top]
        return WordEvidence(matched, keyword, best)

    def answer_evidence(self, tokens: Iterable[str], entries: list[int]) -> dict[int, float]:
        """Per entry of `entries`, the weight of the question's words (two characters or more)
        that its answer has but none of its phrasings (entries with none are left out)."""
        out: dict[int, float] = {}
        post, answers = self.post_zh, self.answer_text
        for t in set(tokens):
            if len(t) < 2 or t.isascii():
                continue
            hits = [e for e in entries if t in answers[e]]
            if not hits:
                continue
            i = post.ids.get(t)
            have = post.rows[post.ptr[i]:post.ptr[i + 1]] if i is not None else ()  # sorted
            for e in hits:
                k = bisect.bisect_left(have, e)
                if k < len(have) and have[k] == e:
                    continue  # a phrasing has it: already counted in full
                out[e] = out.get(e, 0.0) + self.weight(t)
        return out

    def rows_of(self, entry: int, *, english: bool) -> list[int]:
        """The phrasing rows of an entry that a question in that script is compared with."""
        return self.rows_all[entry] if english else self.rows_zh[entry]

    def _add_terms(self) -> None:
        for t in self._added:
            self._tok.add_word(t, freq=max(self._tok.FREQ.get(t, 0), TERM_FREQ))

    # An index is cached on disk (knowledge.cache) without its tokenizer: jieba's dictionary
    # is the process's own, and the knowledge terms are added again when it is read back.
    def __getstate__(self) -> dict[str, object]:
        state = dict(self.__dict__)
        del state["_tok"]
        return state

    def __setstate__(self, state: dict[str, object]) -> None:
        self.__dict__.update(state)
        self._tok = new_tokenizer()
        self._add_terms()
        self.typos.words = self._tok.FREQ

    def found(self, text: str, which: str) -> list[str]:
        """The terms of the list `which` (out_of_scope, in_scope, other_services) in `text`."""
        return self._term_lists[which].found(text)

    def weight(self, token: str) -> float:
        w = self._idf.get(token)
        if w is not None:
            return w
        return UNKNOWN_EN_WEIGHT if token.isascii() else self._idf_unknown

    def gloss(self, normalised: str) -> str:
        """English glossary terms replaced by their Chinese term ("free checkup" -> "免费 体检")."""
        if not _LATIN.search(normalised):
            return normalised
        stemmed = stem_text(normalised)
        if self._gloss_re is None:
            return stemmed
        return self._gloss_re.sub(lambda m: f" {self._gloss[m.group(1)]} ", stemmed)

    def tokens(self, normalised: str, segmented: list[str] | None = None) -> list[str]:
        """Gloss English terms, segment, canonicalise synonyms, drop function words.
        `segmented`: `segment(normalised)`, reused when the text is one Chinese chunk.
        An age of 60 or more ("68岁", "七十多岁", "she is 70") also reads as 老年人."""
        out: list[str] = [ELDERLY] if self._elderly and is_elderly_age(normalised) else []
        glossed = self.gloss(normalised)
        if segmented is not None and " " not in glossed and has_cjk(glossed):
            chunks: list[tuple[str, list[str] | None]] = [(glossed, segmented)]
        else:
            chunks = [(chunk, None) for chunk in glossed.split(" ")]
        for chunk, words in chunks:
            if not chunk:
                continue
            if not has_cjk(chunk):
                out.extend(self.canon.get(w, w) for w in en_tokens(chunk))
                continue
            for w in words if words is not None else self._tok.lcut(chunk):
                w = w.strip()
                if not w or w in STOPWORDS_ZH:
                    continue
                if not has_cjk(w):
                    out.extend(en_tokens(w))
                    continue
                out.append(self.canon.get(w, w))
        return out

    def segment(self, normalised: str) -> list[str]:
        """jieba words of the text with its spaces removed (the character scorers' view)."""
        return self._tok.lcut(normalised.replace(" ", ""))  # type: ignore[no-any-return]

    @staticmethod
    def english_text(tokens: Iterable[str]) -> str:
        """English is compared word by word: its content words (glossed), sorted."""
        return " ".join(sorted(set(tokens)))

    def canonical_words(self, words: list[str]) -> list[str]:
        """Synonym variants replaced by their canonical term, for the character scorers."""
        return [self.canon.get(w, w) for w in words]

    def canonical_text(self, words: list[str]) -> str:
        return "".join(self.canonical_words(words))

    def _phrasing(self, entry_id: str, raw: str, *, english: bool) -> Phrasing:
        norm = normalise(raw, self.filler)
        tokens = tuple(sorted(set(self.tokens(norm))))
        canon = self.english_text(tokens) if english else self.canonical_text(self.segment(norm))
        sounds = "" if english else " ".join(pinyin_of_words(self.canonical_words(self.segment(norm))))
        return Phrasing(entry_id, canon, tokens, sounds, english)
