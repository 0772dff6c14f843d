"""Homophone typo correction: 寡号 → 挂号, 结合病 → 结核病, 新能合 → 新农合.

A run of Chinese characters is read as pinyin; a window that sounds like a curated knowledge
term (a keyword or synonym) but is not spelled like it, and is not a real word of its own,
is replaced by the term. A term of three or more characters also takes a near-homophone for
one of its characters (one pinyin letter off: 能 neng for 农 nong) when the others are spelled
right. Corrections go only into the curated vocabulary, never into common
words that phrasings happen to use ("医养" must not become "一样").
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping
from functools import lru_cache

from rapidfuzz.distance import Levenshtein

from policybot.matching.vocabulary import STOPWORDS_ZH

CJK_RUN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff]+")
MAX_TERM_CHARS = 6  # the longest window tried
NEAR_MIN_CHARS = 3  # a near-homophone is trusted only inside a term at least this long


def pinyin(text: str) -> list[str]:
    """Toneless pinyin, one syllable per character (pypinyin reads polyphones in context).

    What `pypinyin.lazy_pinyin` does, with each word's reading cached: it splits Chinese from
    the rest and cuts the Chinese into its phrase dictionary's words; words repeat from
    question to question, and reading them again was a millisecond per question."""
    from pypinyin.constants import RE_HANS
    from pypinyin.seg.mmseg import seg
    from pypinyin.seg.simpleseg import seg as split_scripts

    out: list[str] = []
    for chunk in split_scripts(text):
        if RE_HANS.match(chunk):
            for word in seg.cut(chunk):
                out.extend(_word_pinyin(word))
        else:
            out.extend(_word_pinyin(chunk))
    return out


def pinyin_of_words(words: Iterable[str]) -> list[str]:
    """The pinyin of text already cut into words (jieba's): each word read on its own."""
    out: list[str] = []
    for w in words:
        out.extend(_word_pinyin(w))
    return out


@lru_cache(maxsize=65536)
def _word_pinyin(word: str) -> tuple[str, ...]:
    from pypinyin import lazy_pinyin

    return tuple(lazy_pinyin(word))


class TypoCorrector:
    """Built once per knowledge base from its terms."""

    def __init__(self, terms: Iterable[str], vocabulary: Collection[str], words: Mapping[str, int]) -> None:
        """`terms`: what typos may be corrected into; `vocabulary`: every word the knowledge base
        uses (never a typo); `words`: a dictionary of real words (never a typo either)."""
        self._vocabulary = vocabulary
        self.words = words
        self._by_pinyin: dict[tuple[str, ...], str] = {}
        # the term with one character masked ("新?合") -> (term, the masked character's pinyin)
        self._near: dict[str, list[tuple[str, str]]] = {}
        self._near_pairs: set[tuple[int, int, str]] = set()
        for t in sorted(terms):
            if len(t) >= 2 and CJK_RUN.fullmatch(t) and t not in STOPWORDS_ZH:
                py = pinyin(t)
                self._by_pinyin.setdefault(tuple(py), t)
                if len(t) >= NEAR_MIN_CHARS and len(py) == len(t):
                    for k in range(len(t)):
                        self._near.setdefault(t[:k] + "?" + t[k + 1 :], []).append((t, py[k]))
                    # one character off leaves at least one of these pairs spelled right:
                    # a cheap test before trying every masked form of a window
                    self._near_pairs.update(_pairs(t))

    def __getstate__(self) -> dict[str, object]:
        # jieba's dictionary is not written with a cached index: its owner binds it again
        return {**self.__dict__, "words": {}}

    def correct(self, normalised: str) -> str:
        """Replace homophone typos with knowledge terms."""
        if not self._by_pinyin:
            return normalised
        return CJK_RUN.sub(self._fix_run, normalised)

    def _fix_run(self, m: re.Match[str]) -> str:
        run = m.group(0)
        py = pinyin(run)
        if len(py) != len(run):
            return run
        out = list(run)
        i = 0
        while i < len(run):
            done = False
            for size in range(min(MAX_TERM_CHARS, len(run) - i), 1, -1):
                window = run[i : i + size]
                term = self._by_pinyin.get(tuple(py[i : i + size]))
                near = term is None
                if near:
                    term = self._near_term(window, py[i : i + size])
                if term is None or term == window:
                    if term == window:
                        i += size
                        done = True
                        break
                    continue
                # A real word of its own is not a typo (but "结合病" is not a word).
                if window in self._vocabulary or self.words.get(window, 0) > 0:
                    continue
                if near and self._splits_a_word(run, i, size, term):
                    continue
                out[i : i + size] = list(term)
                i += size
                done = True
                break
            if not done:
                i += 1
        return "".join(out)

    def _splits_a_word(self, run: str, i: int, size: int, term: str) -> bool:
        """A near-homophone window whose first or last character, the one that differs from the
        term, makes a word with its neighbour outside the window is two words, not a typo:
        小孩几个月 is 小孩 + 几个月, not 小孩子 + 个月."""
        end = i + size
        if run[end - 1] != term[-1] and end < len(run) and self.words.get(run[end - 1 : end + 1], 0) > 0:
            return True
        return run[i] != term[0] and i > 0 and self.words.get(run[i - 1 : i + 1], 0) > 0

    def _near_term(self, window: str, py: list[str]) -> str | None:
        """The term spelled like `window` but for one character one pinyin letter away."""
        if len(window) < NEAR_MIN_CHARS or self._near_pairs.isdisjoint(_pairs(window)):
            return None
        for k in range(len(window)):
            for term, syllable in self._near.get(window[:k] + "?" + window[k + 1 :], ()):
                if term != window and Levenshtein.distance(py[k], syllable) <= 1:
                    return term
        return None


def _pairs(t: str) -> tuple[tuple[int, int, str], ...]:
    return (len(t), 0, t[0] + t[1]), (len(t), 1, t[0] + t[2]), (len(t), 2, t[1] + t[2])
