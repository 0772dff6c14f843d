"""Plain domain values shared by every layer (no I/O, no Telegram).

Knowledge values are built by `knowledge.load()`, match values by `matching.Matcher`,
replies by `replies`. Everything is frozen so a knowledge base can be swapped in with
one assignment and readers never see half of one. The few facts every layer must agree on
(languages, statuses, id shapes, the longest message) are defined here once.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import Any

# Languages a reply can be written in.
LANG_HANS = "zh-Hans"
LANG_HANT = "zh-Hant"
LANG_EN = "en"
LANGUAGES = (LANG_HANS, LANG_HANT, LANG_EN)

# Entry, category, rule and smalltalk ids: kebab-case.
ID_PATTERN = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")
# A logged question's id (new_query_id); it also travels in button data, so it is checked there.
QUERY_ID_PATTERN = re.compile(r"^[0-9a-z]{1,32}$")
_QUERY_ID_ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz"
# The longest text one message may hold (Telegram's limit; the bot layer checks it agrees with
# telegram.constants). Knowledge answers must fit in one.
MAX_MESSAGE_CHARS = 4096


# Lone surrogates cannot be encoded (no reply, no log row); control characters garble logs and
# replies. Line breaks and tabs stay.
_UNSAFE_CHARS = re.compile(r"[\ud800-\udfff\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def clean_text(text: str) -> str:
    """A message as it may be stored and answered: lone surrogates and control characters
    removed, line ends as \\n."""
    return _UNSAFE_CHARS.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))


def new_query_id() -> str:
    """10 random characters [0-9a-z] (~52 bits): short enough for 64-byte callback data."""
    # one draw from the OS, not one per character (ten urandom calls cost 10 µs a question)
    n = secrets.randbelow(36**10)
    out = []
    for _ in range(10):
        n, k = divmod(n, 36)
        out.append(_QUERY_ID_ALPHABET[k])
    return "".join(out)


@dataclass(frozen=True)
class Translation:
    question: str
    answer: str
    source: str = ""  # the resident-facing source in this language; empty: the Chinese one


@dataclass(frozen=True)
class Entry:
    id: str
    category: str
    question: str
    answer: str
    source: str  # resident-facing name of where the facts come from (shown in the footer)
    updated: dt.date
    alternates: tuple[str, ...] = ()
    keywords: tuple[str, ...] = ()
    review_by: dt.date | None = None
    related: tuple[str, ...] = ()
    references: tuple[str, ...] = ()  # editors' references (seed documents, notices); never shown
    verified_numbers: tuple[str, ...] = ()  # local phone numbers an editor has checked
    # language code ("en") -> translation
    translations: Mapping[str, Translation] = field(default_factory=dict, compare=False)
    file: str = ""
    line: int = 0

    @property
    def phrasings(self) -> tuple[str, ...]:
        """The canonical question first, then the alternates."""
        return (self.question, *self.alternates)


@dataclass(frozen=True)
class Category:
    id: str
    title: str
    entry_ids: tuple[str, ...]
    # language code ("en") -> title
    titles: Mapping[str, str] = field(default_factory=dict, compare=False)
    file: str = ""
    order: int = 0  # editorial order in /topics (lower first)

    def title_for(self, lang: str) -> str:
        return self.titles.get(lang, self.title)


@dataclass(frozen=True)
class SafetyKind:
    """A kind of emergency and the reply it gets (knowledge/safety.yaml): medical, crisis …"""

    id: str
    numbers: tuple[str, ...]  # numbers its reply must give (check enforces it)
    reply: str
    # language code ("en") -> reply
    translations: Mapping[str, str] = field(default_factory=dict, compare=False)


@dataclass(frozen=True)
class SafetyRule:
    """Fires on one of `phrases`, or on one phrase of every group in `all` within a sentence."""

    id: str
    kind: str
    phrases: tuple[str, ...] = ()
    all: tuple[tuple[str, ...], ...] = ()
    line: int = 0


@dataclass(frozen=True)
class SafetyGuard:
    """What is not an emergency. `mask`: phrases blanked before matching (idioms). `when`: a
    sentence with one of these does not fire (for `kinds`, all when empty) unless it also
    has one of `unless`. `before`: negations; a phrase right after one does not count."""

    id: str
    mask: tuple[str, ...] = ()
    when: tuple[str, ...] = ()
    unless: tuple[str, ...] = ()
    kinds: tuple[str, ...] = ()
    before: tuple[str, ...] = ()


@dataclass(frozen=True)
class Safety:
    kinds: tuple[SafetyKind, ...] = ()
    rules: tuple[SafetyRule, ...] = ()
    guards: tuple[SafetyGuard, ...] = ()
    watch: tuple[str, ...] = ()  # weaker risk words: never fire, shown to staff

    def kind(self, kind_id: str) -> SafetyKind | None:
        return next((k for k in self.kinds if k.id == kind_id), None)


@dataclass(frozen=True)
class Smalltalk:
    """Greetings, thanks, "who are you" (knowledge/smalltalk.yaml): answered, never logged as gaps."""

    id: str
    patterns: tuple[str, ...]
    reply: str
    translations: Mapping[str, str] = field(default_factory=dict, compare=False)


@dataclass(frozen=True)
class MatchSettings:
    """Thresholds and weights (knowledge/matching.yaml), on the absolute 0-100 score scale."""

    answer_threshold: float = 62.0
    suggest_threshold: float = 45.0
    margin: float = 6.0
    # ... or, from suggest_threshold up, when the best entry leads the next by this much
    # (0 = off): a long story scores lower, but one entry clearly ahead is still the answer
    clear_lead: float = 0.0
    max_candidates: int = 3
    weights: Mapping[str, float] = field(
        default_factory=lambda: {"keyword": 0.2, "coverage": 0.2, "evidence": 0.3, "fuzzy": 0.2, "pinyin": 0.1}, compare=False
    )
    # check warns when phrasings of two different entries are at least this similar (0-100)
    near_duplicate_similarity: float = 90.0
    # an unanswered question is out of scope when no entry knows this share of its words (0-100)
    out_of_scope_coverage: float = 10.0

    def with_overrides(self, overrides: Mapping[str, float]) -> MatchSettings:
        """The operator's thresholds (Config.threshold_overrides) on top of matching.yaml."""
        if not overrides:
            return self
        unknown = set(overrides) - {"answer_threshold", "suggest_threshold", "margin"}
        if unknown:
            raise ValueError(f"not a threshold: {', '.join(sorted(unknown))}")
        return dataclasses.replace(
            self,
            answer_threshold=overrides.get("answer_threshold", self.answer_threshold),
            suggest_threshold=overrides.get("suggest_threshold", self.suggest_threshold),
            margin=overrides.get("margin", self.margin),
        )


@dataclass(frozen=True)
class KnowledgeBase:
    categories: tuple[Category, ...]
    entries: Mapping[str, Entry]  # id -> entry, in file order
    synonyms: tuple[tuple[str, ...], ...] = ()  # each group: canonical term first
    filler: tuple[str, ...] = ()  # phrases removed before matching (请问, 我想问一下 ...)
    out_of_scope: tuple[str, ...] = ()  # terms that mark a question as not ours (宠物, 股票 ...)
    in_scope: tuple[str, ...] = ()  # words of the bureau's subject (医, 药, 疫苗 …): never "out of scope"
    # things of other services (身份证, 银行卡 …): out of scope unless an in-scope word is there too
    other_services: tuple[str, ...] = ()
    # English terms read as a Chinese knowledge term: each group the Chinese term first
    glossary: tuple[tuple[str, ...], ...] = ()
    safety: Safety = field(default_factory=Safety)
    smalltalk: tuple[Smalltalk, ...] = ()
    settings: MatchSettings = field(default_factory=MatchSettings)
    version: str = ""  # short content hash, logged with every query

    def __post_init__(self) -> None:
        if not isinstance(self.entries, MappingProxyType):
            object.__setattr__(self, "entries", MappingProxyType(dict(self.entries)))

    def category(self, category_id: str) -> Category | None:
        return next((c for c in self.categories if c.id == category_id), None)


class Status(StrEnum):
    ANSWERED = "answered"
    AMBIGUOUS = "ambiguous"
    UNANSWERED = "unanswered"
    EMERGENCY = "emergency"
    SMALLTALK = "smalltalk"
    OUT_OF_SCOPE = "out_of_scope"  # clearly not health policy: its own reply, not an editors' gap


# The statuses as plain strings, in this order wherever they are listed (log, reports, /stats).
STATUSES: tuple[str, ...] = tuple(s.value for s in Status)


@dataclass(frozen=True)
class Candidate:
    entry_id: str
    score: float


@dataclass(frozen=True)
class MatchResult:
    query: str  # the text as the resident wrote it
    normalised: str
    status: Status
    score: float = 0.0  # best entry's score, 0-100
    entry_id: str | None = None  # set only when answered
    candidates: tuple[Candidate, ...] = ()  # distinct entries, best first
    special_id: str | None = None  # smalltalk id, or the emergency kinds joined by ","
    script: str = LANG_HANS  # the language/script the question was written in
    risk: tuple[str, ...] = ()  # weaker risk words seen in a question that did not fire (for staff)

    def to_json(self) -> dict[str, Any]:
        return {
            "query": self.query,
            "status": str(self.status),
            "id": self.entry_id,
            "score": round(self.score, 1),
            "candidates": [{"id": c.entry_id, "score": round(c.score, 1)} for c in self.candidates],
        }


@dataclass(frozen=True)
class Button:
    """A reply button as plain data; the Telegram layer encodes it as callback data."""

    label: str
    action: str  # one of replies.ACTIONS
    arg: str = ""  # entry id, category id or language code, by action
    query_id: str = ""  # the logged query a choice or feedback belongs to


@dataclass(frozen=True)
class Reply:
    """One message: `html` is Telegram-HTML (everything from users/knowledge escaped)."""

    html: str
    buttons: tuple[tuple[Button, ...], ...] = ()
