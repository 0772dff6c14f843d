"""The index of one knowledge base: everything the matcher needs, computed once.

Knowledge terms (keywords and synonyms) are added to a private jieba tokenizer so they segment
whole ("两癌筛查", "家庭医生"); every phrasing is normalised, segmented, canonicalised and
read as pinyin; every token gets an idf weight over the entries. Build a new index for a new
knowledge base; an index is never changed after it is built.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from policybot.matching.normalise import has_cjk, normalise
from policybot.matching.typos import TypoCorrector, pinyin
from policybot.matching.vocabulary import STOPWORDS_ZH, en_tokens, new_tokenizer
from policybot.model import KnowledgeBase

_LATIN = re.compile(r"[a-z]")

# Knowledge terms enter the tokenizer's dictionary at least this frequent, so they win.
TERM_FREQ = 200_000


@dataclass
class Phrasing:
    entry_id: str
    text: str  # canonicalised normalised text, no spaces
    tokens: frozenset[str]
    pinyin: str
    english: bool = False
    weight: float = 0.0  # idf weight of its tokens, set once the idf is known


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
        self.out_of_scope = tuple(sorted({normalise(t) for t in kb.out_of_scope if t}))
        self.in_scope = tuple(sorted({normalise(t) for t in kb.in_scope if t}))
        # English words and phrases -> the Chinese term they mean (longest phrase first), so an
        # English question is compared with the Chinese phrasings too
        gloss: dict[str, str] = {}
        for head, *words in kb.glossary:
            for term in words:
                gloss.setdefault(normalise(term), normalise(head))
        self._gloss = gloss
        self._gloss_re = (
            re.compile(r"\b(" + "|".join(re.escape(t) for t in sorted(gloss, key=len, reverse=True)) + r")(?:e?s)?\b")
            if gloss else None
        )
        self.smalltalk_ids = {normalise(p): s.id for s in kb.smalltalk for p in s.patterns if normalise(p)}
        # Knowledge terms segment whole ("两癌筛查", "家庭医生").
        terms: set[str] = set(self.canon) | set(self.canon.values())
        for e in kb.entries.values():
            terms.update(normalise(k) for k in e.keywords)
        for t in terms:
            if t and has_cjk(t) and " " not in t:
                self._tok.add_word(t, freq=max(self._tok.FREQ.get(t, 0), TERM_FREQ))
        self.phrasings: list[Phrasing] = []
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
                self.phrasings.append(ph)
                (en_bag if english else bag).update(ph.tokens)
            for k in e.keywords:
                bag |= set(self.tokens(normalise(k)))
            entry_tokens[e.id] = bag
            en = e.translations.get("en")
            if en is not None:
                ph = self._phrasing(e.id, en.question, english=True)
                self.phrasings.append(ph)
                en_bag |= set(ph.tokens)
            entry_tokens_en[e.id] = en_bag
        self.entry_tokens = entry_tokens
        self.entry_tokens_en = entry_tokens_en
        n = max(len(entry_tokens), 1)
        # Rarity is read from the Chinese side; the English side adds only its English words
        # (the Chinese terms it has through the glossary would count the same entry twice).
        df = Counter(t for bag in entry_tokens.values() for t in bag)
        df.update(t for bag in entry_tokens_en.values() for t in bag if not has_cjk(t))
        self._idf = {t: math.log(1 + (n - d + 0.5) / (d + 0.5)) for t, d in df.items()}
        # A word the knowledge base has never used is strong evidence of another subject.
        self._idf_unknown = math.log(1 + (n + 0.5) / 0.5)
        for ph in self.phrasings:
            ph.weight = sum(self.weight(t) for t in ph.tokens)
        # Homophone typos are corrected only into the curated vocabulary (keywords and synonym
        # terms); the knowledge base's own words and the dictionary's are never typos.
        self.typos = TypoCorrector(terms, set(df) | terms, self._tok.FREQ)

    def weight(self, token: str) -> float:
        return self._idf.get(token, self._idf_unknown)

    def gloss(self, normalised: str) -> str:
        """English glossary terms replaced by their Chinese term ("free checkup" -> "免费 体检")."""
        if self._gloss_re is None or not _LATIN.search(normalised):
            return normalised
        return self._gloss_re.sub(lambda m: f" {self._gloss[m.group(1)]} ", normalised)

    def tokens(self, normalised: str) -> list[str]:
        """Gloss English terms, segment, canonicalise synonyms, drop function words."""
        out: list[str] = []
        for chunk in self.gloss(normalised).split(" "):
            if not chunk:
                continue
            if not has_cjk(chunk):
                out.extend(self.canon.get(w, w) for w in en_tokens(chunk))
                continue
            for w in self._tok.lcut(chunk):
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

    def canonical_text(self, words: list[str]) -> str:
        """Synonym variants replaced by their canonical term, for the character scorers."""
        return "".join(self.canon.get(w, w) for w in words)

    def _phrasing(self, entry_id: str, raw: str, *, english: bool) -> Phrasing:
        norm = normalise(raw, self.filler)
        tokens = frozenset(self.tokens(norm))
        canon = self.english_text(tokens) if english else self.canonical_text(self.segment(norm))
        return Phrasing(entry_id, canon, tokens, " ".join(pinyin(canon)), english)
