"""The safety net: does a message describe an emergency? Checked first, on the whole message.

Rules are data (knowledge/safety.yaml): a rule fires on one of its phrases, or on one phrase
from each of its groups within one sentence (吞了 + 电池). Guards then take back what is not
an emergency: idioms are blanked before matching (吓死, 想死你了), and a sentence about a risk,
the past or insurance does not fire unless it also says the thing is happening now.

Phrases are found with one Aho-Corasick automaton over the characters and one over toneless
pinyin (homophone typos: 不想火了 reads as 不想活了), so the cost grows with the message,
never with the knowledge base. Separators between Chinese characters are ignored
("不 想 活", "胸*痛"), and case and script are folded.
"""

from __future__ import annotations

import collections
import itertools
import re
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import lru_cache

import ahocorasick

from policybot.matching.normalise import to_simplified
from policybot.matching.vocabulary import word_frequencies
from policybot.model import Safety, SafetyKind

_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff]")
# A sentence ends here; a combination must sit inside one sentence (or two short ones).
_SENTENCE_END = re.compile(r"[。！？!?；;\n\r…]+|\.(?:\s|$)")
# Letters and digits; everything else between them is a separator.
_LATIN_WORD = re.compile(r"[a-z0-9]+")
# Two sentences this short together still count as one (panic messages break anywhere).
_PAIR_CHARS = 40
# A homophone window is read as a typo of a phrase only when the dictionary knows it as a
# word at most 1/_TYPO_RARITY as often; a neighbouring real word above _TYPO_NEIGHBOUR_FREQ
# means the character belongs to that word.
_TYPO_RARITY = 30
_TYPO_BASE_FREQ = 100
_TYPO_NEIGHBOUR_FREQ = 2
_MASK = "□"  # what a masked idiom becomes: matches no phrase
# Toneless pinyin, not folded (zh/z, sh/s …): folding made 去市 sound like 去死.


@lru_cache(maxsize=8192)
def _syllable(char: str) -> str:
    from pypinyin import Style, lazy_pinyin

    py = lazy_pinyin(char, style=Style.NORMAL)[0]
    return "" if py == char else py  # "" for anything but a Chinese character


def fold(text: str) -> str:
    """NFKC, lower case, simplified script; apostrophes dropped (can't = cant)."""
    text = unicodedata.normalize("NFKC", text).casefold()
    text = text.replace("'", "").replace("’", "").replace("‘", "")
    # OpenCC keeps 著 (it is also simplified); in these messages it is always 着 (活著 = 活着)
    return to_simplified(text).replace("著", "着")


def compact(text: str) -> str:
    """The matching form of folded text: Chinese characters run together, each Latin word
    between single spaces, everything else gone ("不 想-活" → "不想活", "Can't BREATHE" →
    " cant breathe ")."""
    out: list[str] = []
    for m in re.finditer(r"[\u3400-\u4dbf\u4e00-\u9fff" + _MASK + r"]|[a-z0-9]+", text):
        tok = m.group(0)
        if len(tok) == 1 and not tok.isascii():
            out.append(tok)
        else:
            out.append(f" {tok} ")
    return re.sub(r"\s+", " ", "".join(out))


def _pinyin_form(compact_text: str) -> tuple[str, list[int]]:
    """'|bu|xiang|huo|' with, per character of the result, the index of the source character."""
    parts: list[str] = ["|"]
    index: list[int] = [0]
    for i, ch in enumerate(compact_text):
        syl = _syllable(ch) if _CJK.match(ch) else ""
        token = (syl or "#") + "|"
        parts.append(token)
        index.extend([i] * len(token))
    return "".join(parts), index


def _phrase_pinyin(phrase: str) -> str | None:
    """The pinyin key of a Chinese phrase of two or more characters (a single character has
    too many homophones; `_is_typo` keeps real words such as 中度 for 中毒 out)."""
    if len(phrase) < 2 or not all(_CJK.match(c) for c in phrase):
        return None
    syllables = [_syllable(c) for c in phrase]
    if not all(syllables):
        return None
    return "|" + "|".join(syllables) + "|"


def phrase_key(phrase: str) -> str:
    """How a phrase from safety.yaml is matched: folded and compacted like a message."""
    return compact(fold(phrase)).strip()


def _is_typo(sentence: str, start: int, key: str) -> bool:
    """Does the sentence, at `start`, spell `key` with homophone typos (不想火了 for 不想活了)
    rather than with real words of its own (中度 is not 中毒, 更新 in 最新更新 is not 心梗)?"""
    window = sentence[start : start + len(key)]
    wrong = [i for i, (a, b) in enumerate(zip(window, key, strict=True)) if a != b]
    if not wrong or len(wrong) * 2 > len(key):
        return False  # spelled right (the character automaton has it), or mostly other words
    words = word_frequencies()  # a homophone that is a real word is not a typo
    # the window as a word of its own: a typo only if far rarer than the phrase (磨菇 vs 蘑菇)
    if words.get(window, 0) * _TYPO_RARITY > max(words.get(key, 0), _TYPO_BASE_FREQ):
        return False
    for i in wrong:
        pos = start + i
        for size in (2, 3, 4):
            for left in range(pos - size + 1, pos + 1):
                candidate = sentence[max(left, 0) : left + size]
                if (
                    len(candidate) == size
                    and candidate != window
                    and candidate not in key
                    and words.get(candidate, 0) > _TYPO_NEIGHBOUR_FREQ
                ):
                    return False
    return True


@dataclass(frozen=True)
class Hit:
    """One rule that fired in one sentence."""

    kind: str
    rule: str
    words: tuple[str, ...]  # the phrases that matched, as written in safety.yaml
    sentence: str
    guard: str | None = None  # set when a guard took it back


# messages whose detection is kept: a message behind others of its chat is checked on
# arrival, then again when it is answered (long messages are not kept)
_RECENT = 64
_RECENT_CHARS = 1000


@dataclass(frozen=True)
class Detection:
    """What the safety net found in a message: the kinds fired (in safety.yaml order)."""

    kinds: tuple[str, ...]
    hits: tuple[Hit, ...]  # fired hits, then suppressed ones
    watch: tuple[str, ...] = ()  # weaker risk words seen (only when nothing fired)

    @property
    def emergency(self) -> bool:
        return bool(self.kinds)

    @property
    def fired(self) -> tuple[Hit, ...]:
        return tuple(h for h in self.hits if h.guard is None)

    @property
    def suppressed(self) -> tuple[Hit, ...]:
        return tuple(h for h in self.hits if h.guard is not None)

    @property
    def risk(self) -> tuple[str, ...]:
        """For staff, when nothing fired: the rules a guard held back, then the risk words."""
        if self.kinds:
            return ()
        held = (f"{h.rule} (held back: {h.guard})" for h in self.suppressed)
        return tuple(dict.fromkeys((*held, *self.watch)))


@dataclass
class _Rule:
    id: str
    kind: str
    groups: list[list[str]]  # one phrase from each group; a phrase rule has one group


@dataclass
class _Guard:
    id: str
    kinds: frozenset[str]


# What an automaton key stands for: (role, rule or guard index, group, phrase as written,
# compact key). Roles: rule, when, unless, before, watch.
_Payload = tuple[str, int, int, str, str]


class SafetyNet:
    """Compiled safety rules of one knowledge base."""

    def __init__(self, safety: Safety) -> None:
        self.safety = safety
        # the last messages' results: the bot asks once to let an emergency jump its chat's
        # queue, then the matcher asks again for the same message (bounded: _RECENT)
        self._recent: collections.OrderedDict[str, Detection] = collections.OrderedDict()
        self.kind_order = {k.id: i for i, k in enumerate(safety.kinds)}
        self._chars = ahocorasick.Automaton()
        self._pinyin = ahocorasick.Automaton()
        self._masks = ahocorasick.Automaton()
        self._rules: list[_Rule] = []
        self._guards = [_Guard(g.id, frozenset(g.kinds)) for g in safety.guards]
        char_keys: dict[str, list[_Payload]] = {}  # one key may serve several roles
        pinyin_keys: dict[str, list[_Payload]] = {}

        def add(role: str, index: int, group: int, phrase: str) -> None:
            key = phrase_key(phrase)
            if not key:
                return
            # Latin phrases match whole words: " cant breathe "
            char_key = f" {key} " if not _CJK.search(key) else key
            char_keys.setdefault(char_key, []).append((role, index, group, phrase, key))
            # only rules match by sound: a guard word heard wrongly must not silence a rule
            py = _phrase_pinyin(key) if role == "rule" else None
            if py is not None:
                pinyin_keys.setdefault(py, []).append((role, index, group, phrase, key))

        for i, r in enumerate(safety.rules):
            groups = [list(g) for g in r.all] if r.all else [list(r.phrases)]
            self._rules.append(_Rule(r.id, r.kind, groups))
            for g, phrases in enumerate(groups):
                for p in phrases:
                    add("rule", i, g, p)
        for i, gd in enumerate(safety.guards):
            for role, guard_phrases in (("when", gd.when), ("unless", gd.unless), ("before", gd.before)):
                for p in guard_phrases:
                    add(role, i, 0, p)
            for p in gd.mask:
                key = phrase_key(p)
                if key:
                    self._masks.add_word(key, key)
        for p in safety.watch:
            add("watch", 0, 0, p)
        for key, payloads in char_keys.items():
            self._chars.add_word(key, payloads)
        for key, payloads in pinyin_keys.items():
            self._pinyin.add_word(key, payloads)
        for automaton in (self._chars, self._pinyin, self._masks):
            if len(automaton):
                automaton.make_automaton()

    # -- text --------------------------------------------------------------------------

    def sentences(self, message: str) -> list[str]:
        """The message's sentences in matching form, idioms masked; short neighbours are
        also given joined, so "他摔了。起不来" is one sentence."""
        folded = fold(message)
        # idioms are masked as written: "流血，压住" must not read as 血压
        pieces = [compact(self._mask(p)).strip() for p in _SENTENCE_END.split(folded)]
        pieces = [p for p in pieces if p]
        joined = [
            f"{a} {b}" for a, b in itertools.pairwise(pieces) if len(a) + len(b) <= _PAIR_CHARS
        ]
        return pieces + joined

    def _mask(self, text: str) -> str:
        if not len(self._masks):
            return text
        chars = list(text)
        for end, key in self._masks.iter(text):
            for i in range(end - len(key) + 1, end + 1):
                chars[i] = _MASK
        return "".join(chars)

    def _found(self, sentence: str) -> Iterator[tuple[_Payload, range]]:
        """Every phrase in the (stripped, compact) sentence, with where it stands."""
        padded = f" {sentence} "
        if len(self._chars):
            for end, payloads in self._chars.iter(padded):
                for payload in payloads:
                    # padded index `end` is sentence index end - 1; a Latin key ends in a space
                    key = payload[4]
                    stop = end if _CJK.search(key) else end - 1
                    yield payload, range(stop - len(key), stop)
        if len(self._pinyin) and _CJK.search(sentence):
            pinyin, index = _pinyin_form(sentence)
            for end, payloads in self._pinyin.iter(pinyin):
                last = index[end]  # the phrase's last character in the sentence
                for payload in payloads:
                    start = last - len(payload[4]) + 1
                    if start >= 0 and _is_typo(sentence, start, payload[4]):
                        yield payload, range(start, last + 1)

    # -- detection ---------------------------------------------------------------------

    def __getstate__(self) -> dict[str, object]:
        return {**self.__dict__, "_recent": collections.OrderedDict()}

    def forget_recent(self) -> None:
        self._recent.clear()

    def detect(self, message: str) -> Detection:
        found = self._recent.get(message)
        if found is None:
            found = self._detect(message)
            if len(message) <= _RECENT_CHARS:
                if len(self._recent) >= _RECENT:
                    self._recent.popitem(last=False)
                self._recent[message] = found
        return found

    def _detect(self, message: str) -> Detection:
        hits: list[Hit] = []
        watch: dict[str, None] = {}
        seen: set[tuple[str, str]] = set()
        for sentence in self.sentences(message):
            rules: list[tuple[int, int, str, range]] = []
            context: list[tuple[str, int, range]] = []  # guard words and where they stand
            for (role, index, group, phrase, _), span in self._found(sentence):
                if role == "rule":
                    rules.append((index, group, phrase, span))
                elif role == "watch":
                    watch.setdefault(phrase)
                else:
                    context.append((role, index, span))
            spans = [r[3] for r in rules]
            # "不是中毒", "no chest pain": a phrase right after a negation does not count (one
            # space between English words); a negation inside a phrase (没有反应) is the phrase
            negations = [
                span.stop
                for role, _, span in context
                if role == "before" and not any(span.start >= sp.start and span.stop <= sp.stop for sp in spans)
            ]
            rules = [r for r in rules if not any(0 <= r[3].start - stop <= 1 for stop in negations)]
            spans = [r[3] for r in rules]
            # a `when` word inside an emergency phrase is part of it (过去 in 晕过去)
            when = {
                index
                for role, index, span in context
                if role == "when" and not any(span.start >= sp.start and span.stop <= sp.stop for sp in spans)
            }
            unless = {index for role, index, _ in context if role == "unless"}
            found: dict[int, dict[int, list[str]]] = {}  # rule -> group -> phrases
            for index, group, phrase, _ in rules:
                words = found.setdefault(index, {}).setdefault(group, [])
                if phrase not in words:
                    words.append(phrase)
            for index, groups in found.items():
                rule = self._rules[index]
                if len(groups) < len(rule.groups):
                    continue
                matched = tuple(groups[g][0] for g in sorted(groups))
                guard = next(
                    (
                        self._guards[g].id
                        for g in sorted(when)
                        if g not in unless and (not self._guards[g].kinds or rule.kind in self._guards[g].kinds)
                    ),
                    None,
                )
                if (rule.id, guard or "") in seen:
                    continue
                seen.add((rule.id, guard or ""))
                hits.append(Hit(rule.kind, rule.id, matched, sentence, guard))
        fired = [h for h in hits if h.guard is None]
        kinds = tuple(sorted({h.kind for h in fired}, key=lambda k: self.kind_order.get(k, 99)))
        # a rule that fired anywhere is not also reported as held back
        fired_rules = {h.rule for h in fired}
        ordered = fired + [h for h in hits if h.guard is not None and h.rule not in fired_rules]
        return Detection(kinds, tuple(ordered), () if kinds else tuple(watch))

    def kinds(self, ids: Iterable[str]) -> list[SafetyKind]:
        by_id = {k.id: k for k in self.safety.kinds}
        return [by_id[i] for i in ids if i in by_id]
