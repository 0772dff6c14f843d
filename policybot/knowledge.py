"""Load and check the YAML knowledge directory into a `KnowledgeBase`.

Every problem is collected (never raised) with the file and line it comes from, so an
editor sees all mistakes in one run. YAML is composed into nodes rather than loaded, because
only nodes remember their line; Python values are built from the nodes here.
"""

from __future__ import annotations

import datetime as dt
import difflib
import hashlib
import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from types import MappingProxyType
from typing import Any

import yaml
from rapidfuzz import fuzz, process
from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from policybot.model import (
    LANGUAGES,
    Category,
    Entry,
    KnowledgeBase,
    MatchSettings,
    Safety,
    SafetyGuard,
    SafetyKind,
    SafetyRule,
    Smalltalk,
    Translation,
)
from policybot.safety import SafetyNet, phrase_key
from policybot.text import normalise

ERROR = "error"
WARNING = "warning"

MAX_ANSWER_CHARS = 4096  # one Telegram message
ID_PATTERN = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")

SYNONYMS = "synonyms"
SAFETY = "safety"
SMALLTALK = "smalltalk"
MATCHING = "matching"
RESERVED = (SYNONYMS, SAFETY, SMALLTALK, MATCHING)
SUFFIXES = (".yaml", ".yml")

_TAG = "tag:yaml.org,2002:"
_STR, _INT, _FLOAT, _BOOL, _NULL, _DATE = (
    _TAG + t for t in ("str", "int", "float", "bool", "null", "timestamp")
)

_ENTRY_FIELDS = (
    "id",
    "question",
    "alternates",
    "keywords",
    "answer",
    "source",
    "references",
    "verified_numbers",
    "updated",
    "review_by",
    "related",
    "translations",
)
_ENTRY_REQUIRED = ("id", "question", "answer", "source", "updated")
_PERCENT_SETTINGS = ("answer_threshold", "suggest_threshold", "margin", "near_duplicate_similarity")
_SETTINGS_FIELDS = (*_PERCENT_SETTINGS, "max_candidates", "weights")
MAX_CANDIDATES_RANGE = (1, 10)
# The kinds the safety net cannot do without, and what goes unrecognised without them.
REQUIRED_SAFETY_KINDS = {"medical": "medical emergencies (120)", "crisis": "suicide and self-harm (12356)"}
REQUIRED_SAFETY_KINDS_NUMBERS = {"medical": ("120",), "crisis": ("12356", "120")}


@dataclass(frozen=True)
class Problem:
    file: str
    line: int  # 1-based; 0 when the problem concerns the directory, not a line
    severity: str  # ERROR | WARNING
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line > 0 else self.file
        return f"{where}: {self.severity}: {self.message}"


@dataclass(frozen=True)
class LoadResult:
    kb: KnowledgeBase | None  # None when there is any error
    problems: tuple[Problem, ...]  # sorted by file, line

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == ERROR]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == WARNING]

    @property
    def ok(self) -> bool:
        return self.kb is not None


def load(directory: str | Path, today: dt.date | None = None) -> LoadResult:
    """Read every file of `directory`; `today` decides which entries are past review."""
    return _Loader(Path(directory), today or dt.date.today()).run()


def check(directory: str | Path, today: dt.date | None = None) -> LoadResult:
    """The same as `load`, for callers that only want the problems."""
    return load(directory, today)


# --- helpers over nodes -------------------------------------------------------------------


def _line(at: Node | int) -> int:
    return at if isinstance(at, int) else at.start_mark.line + 1


def _kind(node: Node) -> str:
    if isinstance(node, MappingNode):
        return "a mapping"
    if isinstance(node, SequenceNode):
        return "a list"
    return {
        _STR: "a string",
        _INT: "a number",
        _FLOAT: "a number",
        _BOOL: "true/false",
        _NULL: "nothing",
        _DATE: "a date",
    }.get(node.tag, f"a value tagged {node.tag}")


def _hint(word: str, choices: Iterable[str]) -> str:
    """' (did you mean 'x'?)' for a near typo, compared case-insensitively."""
    by_lower = {c.lower(): c for c in choices}
    close = difflib.get_close_matches(word.lower(), list(by_lower), n=1, cutoff=0.6)
    return f" (did you mean '{by_lower[close[0]]}'?)" if close else ""


def _short(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass
class _Phrasing:
    text: str
    norm: str
    entry_id: str
    file: str
    line: int

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}"


class _File:
    """Typed readers for one file's nodes; each reports its own problems and returns None."""

    def __init__(self, path: str, problems: list[Problem]) -> None:
        self.path = path
        self.problems = problems
        self.constructor = SafeConstructor()

    def error(self, at: Node | int, message: str) -> None:
        self.problems.append(Problem(self.path, _line(at), ERROR, message))

    def warning(self, at: Node | int, message: str) -> None:
        self.problems.append(Problem(self.path, _line(at), WARNING, message))

    def where(self, at: Node | int) -> str:
        return f"{self.path}:{_line(at)}"

    def fields(
        self, node: Node, what: str, known: Iterable[str], required: Iterable[str] = ()
    ) -> dict[str, Node] | None:
        """The mapping's values by key; unknown, repeated and missing keys are reported."""
        if not isinstance(node, MappingNode):
            self.error(node, f"{what} must be a mapping, got {_kind(node)}")
            return None
        known = tuple(known)
        out: dict[str, Node] = {}
        for key_node, value in node.value:
            if not isinstance(key_node, ScalarNode):
                self.error(key_node, f"{what}: a key must be a plain name, got {_kind(key_node)}")
                continue
            key = key_node.value
            if key in out:
                # PyYAML would silently keep the last one; the first is then lost edits
                self.error(key_node, f"{what}: '{key}' is given twice")
            elif key not in known:
                self.error(key_node, f"{what}: unknown field '{key}'{_hint(key, known)}")
            else:
                out[key] = value
        for key in required:
            if key not in out:
                self.error(node, f"{what}: missing required field '{key}'")
        return out

    def string(self, node: Node, what: str, *, keep_leading: bool = False) -> str | None:
        """A non-empty string, stripped (only on the right when `keep_leading`)."""
        if isinstance(node, ScalarNode) and node.tag == _NULL:
            self.error(node, f"{what} is empty")
            return None
        if not isinstance(node, ScalarNode) or node.tag != _STR:
            quote = " (put it in quotes)" if isinstance(node, ScalarNode) else ""
            self.error(node, f"{what} must be a string, got {_kind(node)}{quote}")
            return None
        value = node.value.rstrip() if keep_leading else node.value.strip()
        if not value.strip():
            self.error(node, f"{what} is empty")
            return None
        return value

    def strings(self, node: Node, what: str) -> list[tuple[str, Node]] | None:
        """A list of non-empty strings with their nodes; bad items are reported and left out."""
        if isinstance(node, ScalarNode) and node.tag == _NULL:
            return []  # `alternates:` with nothing under it means none
        if not isinstance(node, SequenceNode):
            self.error(node, f"{what} must be a list of strings, got {_kind(node)}")
            return None
        out = []
        for i, item in enumerate(node.value, 1):
            value = self.string(item, f"{what} item {i}")
            if value is not None:
                out.append((value, item))
        return out

    def date(self, node: Node, what: str) -> dt.date | None:
        bad = f"{what} must be a date like 2026-01-31"
        if isinstance(node, ScalarNode) and node.tag == _DATE:
            try:
                value = self.constructor.construct_object(node)
            except (ValueError, yaml.YAMLError) as exc:
                self.error(node, f"{bad}: {node.value!r} is not a real date ({exc})")
                return None
            if isinstance(value, dt.datetime):
                self.error(node, f"{bad}, without a time")
                return None
            return value
        if isinstance(node, ScalarNode) and node.tag == _STR and _ISO_DATE.match(node.value.strip()):
            try:
                return dt.date.fromisoformat(node.value.strip())
            except ValueError as exc:
                self.error(node, f"{bad}: {node.value!r} is not a real date ({exc})")
                return None
        self.error(node, f"{bad}, got {_kind(node)}")
        return None

    def number(
        self, node: Node, what: str, low: float, high: float | None, *, integer: bool = False
    ) -> float | None:
        tags = (_INT,) if integer else (_INT, _FLOAT)
        expected = "a whole number" if integer else "a number"
        if not isinstance(node, ScalarNode) or node.tag not in tags:
            self.error(node, f"{what} must be {expected}, got {_kind(node)}")
            return None
        value = self.constructor.construct_object(node)
        if not math.isfinite(value) or value < low or (high is not None and value > high):
            limits = f"between {low:g} and {high:g}" if high is not None else f"at least {low:g}"
            self.error(node, f"{what} must be {limits}, got {node.value}")
            return None
        return value

    def languages(self, node: Node, what: str) -> list[tuple[str, Node]] | None:
        """The (language, value node) pairs of a `translations:` mapping."""
        if isinstance(node, ScalarNode) and node.tag == _NULL:
            return []
        if not isinstance(node, MappingNode):
            self.error(node, f"{what} must be a mapping of language code to text, got {_kind(node)}")
            return None
        out = []
        seen = set()
        for key_node, value in node.value:
            if not isinstance(key_node, ScalarNode) or not key_node.value:
                self.error(key_node, f"{what}: a language code must be a plain name")
                continue
            lang = key_node.value
            if lang in seen:
                self.error(key_node, f"{what}: language '{lang}' is given twice")
                continue
            seen.add(lang)
            if lang not in LANGUAGES:
                # only a warning: the bot simply never picks it
                self.warning(
                    key_node,
                    f"{what}: unknown language '{lang}'{_hint(lang, LANGUAGES)}; "
                    f"known: {', '.join(LANGUAGES)}",
                )
            out.append((lang, value))
        return out

    def one_field_translations(
        self, node: Node, what: str, key: str, read: Callable[[Node, str], str | None]
    ) -> dict[str, str]:
        """language -> text of a `translations:` mapping whose values are `{key: text}`."""
        out: dict[str, str] = {}
        for lang, value in self.languages(node, f"{what}: translations") or ():
            t = self.fields(value, f"{what}: translation '{lang}'", (key,), (key,))
            if t and key in t:
                text = read(t[key], f"{what}: translation '{lang}' {key}")
                if text is not None:
                    out[lang] = text
        return out

    def answer(self, node: Node, what: str) -> str | None:
        value = self.string(node, what, keep_leading=True)
        if value is not None and len(value) > MAX_ANSWER_CHARS:
            self.error(
                node,
                f"{what} is {len(value)} characters; a Telegram message holds at most {MAX_ANSWER_CHARS}",
            )
        return value


def _peek(node: Node, key: str) -> str | None:
    """A mapping's string value for `key` without reporting anything (to name it in messages)."""
    if isinstance(node, MappingNode):
        for key_node, value in node.value:
            if (
                isinstance(key_node, ScalarNode)
                and key_node.value == key
                and isinstance(value, ScalarNode)
                and value.tag == _STR
                and value.value.strip()
            ):
                return value.value.strip()
    return None


# --- the loader ---------------------------------------------------------------------------


class _Loader:
    def __init__(self, directory: Path, today: dt.date) -> None:
        self.directory = directory
        self.today = today
        self.problems: list[Problem] = []
        self.categories: list[Category] = []
        self.category_ids: dict[str, str] = {}  # id -> "file:line"
        self.entries: dict[str, Entry] = {}
        self.entry_ids: dict[str, str] = {}  # id -> "file:line", also for entries that failed
        self.phrasings: list[tuple[str, str, str, int]] = []  # text, entry id, file, line
        self.related: list[tuple[_File, Node, str, str]] = []  # file, node, from id, to id
        self.synonyms: tuple[tuple[str, ...], ...] = ()
        self.filler: tuple[str, ...] = ()
        self.out_of_scope: tuple[str, ...] = ()
        self.safety = Safety()
        self.safety_file: str | None = None
        self.smalltalk_patterns: list[tuple[str, str, str, int]] = []  # text, id, file, line
        self.smalltalk: tuple[Smalltalk, ...] = ()
        self.settings = MatchSettings()

    def directory_error(self, message: str) -> None:
        self.problems.append(Problem(str(self.directory), 0, ERROR, message))

    def run(self) -> LoadResult:
        version = self.read_all()
        self.check_phrasings()
        self.check_related()
        self.check_safety()
        problems = tuple(sorted(self.problems, key=lambda p: (p.file, p.line)))
        if any(p.severity == ERROR for p in problems):
            return LoadResult(None, problems)
        kb = KnowledgeBase(
            # editors set `order`; the file name breaks ties
            categories=tuple(sorted(self.categories, key=lambda c: (c.order, c.file))),
            entries=self.entries,
            synonyms=self.synonyms,
            filler=self.filler,
            out_of_scope=self.out_of_scope,
            safety=self.safety,
            smalltalk=self.smalltalk,
            settings=self.settings,
            version=version,
        )
        return LoadResult(kb, problems)

    def read_all(self) -> str:
        """Parse every file (reserved ones first: filler and settings feed the checks)."""
        if not self.directory.exists():
            self.directory_error("knowledge directory does not exist")
            return ""
        if not self.directory.is_dir():
            self.directory_error("is not a directory")
            return ""
        try:
            paths = sorted(
                p
                for p in self.directory.iterdir()
                if p.suffix in SUFFIXES and not p.name.startswith(".") and p.is_file()
            )
        except OSError as exc:
            self.directory_error(f"cannot list the directory: {exc.strerror or exc}")
            return ""
        digest = hashlib.sha256()
        reserved: dict[str, tuple[_File, Node | None]] = {}
        categories: list[tuple[_File, Node | None]] = []
        for path in paths:
            name = str(path)
            data = self.read_bytes(path)
            if data is None:
                continue
            # the name is hashed too, so renaming a file gives a new version
            digest.update(f"{path.name}\0{len(data)}\0".encode())
            digest.update(data)
            file = _File(name, self.problems)
            parsed = self.parse(file, data)
            if parsed is False:
                continue
            root = parsed if isinstance(parsed, Node) else None
            if path.stem in RESERVED:
                if path.stem in reserved:
                    file.error(1, f"'{path.stem}' is given twice (also {reserved[path.stem][0].path})")
                    continue
                reserved[path.stem] = (file, root)
            else:
                categories.append((file, root))
        for stem, read in (
            (SYNONYMS, self.read_synonyms),
            (MATCHING, self.read_matching),
            (SAFETY, self.read_safety),
            (SMALLTALK, self.read_smalltalk),
        ):
            if stem in reserved:
                file, root = reserved[stem]
                if root is None and stem == SAFETY:
                    self.safety_file = file.path
                    file.error(1, "safety.yaml is empty: without it no emergency gets 120 or 12356")
                elif root is None:
                    file.warning(1, "file is empty")
                else:
                    read(file, root)
        if not categories:
            self.directory_error(
                f"no category files (*.yaml other than {', '.join(n + '.yaml' for n in RESERVED)})"
            )
        for file, root in categories:
            if root is None:
                file.error(1, "file is empty")
            else:
                self.read_category(file, root)
        return digest.hexdigest()[:12]

    def read_bytes(self, path: Path) -> bytes | None:
        try:
            return path.read_bytes()
        except OSError as exc:
            self.problems.append(Problem(str(path), 1, ERROR, f"cannot read: {exc.strerror or exc}"))
            return None

    def parse(self, file: _File, data: bytes) -> Node | bool | None:
        """The root node, None for an empty file, False when unreadable (already reported)."""
        try:
            source = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            file.error(data.count(b"\n", 0, exc.start) + 1, f"not valid UTF-8 text ({exc.reason})")
            return False
        try:
            return yaml.compose(source, Loader=yaml.SafeLoader)
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            message = ": ".join(part for part in (exc.context, exc.problem) if part)
            file.error(mark.line + 1 if mark else 1, f"YAML syntax error: {message}")
        except yaml.reader.ReaderError as exc:
            file.error(
                source.count("\n", 0, exc.position) + 1,
                f"YAML syntax error: character {exc.character!r} is not allowed",
            )
        except yaml.YAMLError as exc:
            file.error(1, f"YAML syntax error: {exc}")
        except RecursionError:
            file.error(1, "YAML syntax error: nested too deeply")
        return False

    # --- category files

    def read_category(self, file: _File, root: Node) -> None:
        if not isinstance(root, MappingNode):
            file.error(
                root, f"the top level must be a mapping with 'category' and 'entries', got {_kind(root)}"
            )
            return
        top = file.fields(root, "top level", ("category", "entries"), ("category", "entries"))
        if top is None:
            return
        category_id, title, titles, order = None, None, {}, 0
        if "category" in top:
            category_id, title, titles, order = self.read_category_header(file, top["category"])
        entry_ids: list[str] = []
        if "entries" in top:
            node = top["entries"]
            if not isinstance(node, SequenceNode):
                file.error(node, f"'entries' must be a list of entries, got {_kind(node)}")
            elif not node.value:
                file.warning(node, "'entries' is empty")
            else:
                for number, item in enumerate(node.value, 1):
                    entry = self.read_entry(file, item, number, category_id or "")
                    if entry is not None:
                        entry_ids.append(entry.id)
        if category_id is not None and title is not None:
            self.categories.append(
                Category(category_id, title, tuple(entry_ids), MappingProxyType(titles), file.path, order)
            )

    def read_category_header(
        self, file: _File, node: Node
    ) -> tuple[str | None, str | None, dict[str, str], int]:
        peeked = _peek(node, "id")
        what = f"category '{peeked}'" if peeked else "category"
        c = file.fields(node, what, ("id", "title", "order", "translations"), ("id", "title"))
        if c is None:
            return None, None, {}, 0
        category_id = file.string(c["id"], "category id") if "id" in c else None
        if category_id is not None:
            if not ID_PATTERN.match(category_id):
                file.error(
                    c["id"], f"category id '{category_id}' must be kebab-case (a-z, 0-9 and single hyphens)"
                )
            if category_id in self.category_ids:
                file.error(
                    c["id"],
                    f"duplicate category id '{category_id}' (first at {self.category_ids[category_id]})",
                )
            else:
                self.category_ids[category_id] = file.where(c["id"])
            stem = Path(file.path).stem
            if category_id != stem:
                file.warning(c["id"], f"category id '{category_id}' differs from the file name '{stem}'")
            what = f"category '{category_id}'"
        title = file.string(c["title"], f"{what}: title") if "title" in c else None
        titles = file.one_field_translations(c.get("translations", _none()), what, "title", file.string)
        order = file.number(c["order"], f"{what}: order", 0, None, integer=True) if "order" in c else None
        return category_id, title, titles, int(order) if order is not None else 0

    def read_entry(self, file: _File, node: Node, number: int, category_id: str) -> Entry | None:
        peeked = _peek(node, "id")
        what = f"entry '{peeked}'" if peeked else f"entry #{number}"
        e = file.fields(node, what, _ENTRY_FIELDS, _ENTRY_REQUIRED)
        if e is None:
            return None
        entry_id = None
        if "id" in e:
            entry_id = file.string(e["id"], f"{what}: id")
            if entry_id is not None:
                if not ID_PATTERN.match(entry_id):
                    file.error(e["id"], f"{what}: id must be kebab-case (a-z, 0-9 and single hyphens)")
                if entry_id in self.entry_ids:
                    file.error(e["id"], f"duplicate id '{entry_id}' (first at {self.entry_ids[entry_id]})")
                    entry_id = None  # the first one keeps the id
                else:
                    self.entry_ids[entry_id] = file.where(node)

        def opt_strings(key: str) -> list[tuple[str, Node]]:
            return (file.strings(e[key], f"{what}: {key}") or []) if key in e else []

        question = file.string(e["question"], f"{what}: question") if "question" in e else None
        alternates = opt_strings("alternates")
        keywords = opt_strings("keywords")
        answer = file.answer(e["answer"], f"{what}: answer") if "answer" in e else None
        source = file.string(e["source"], f"{what}: source") if "source" in e else None
        updated = file.date(e["updated"], f"{what}: updated") if "updated" in e else None
        review_by = file.date(e["review_by"], f"{what}: review_by") if "review_by" in e else None
        if review_by is not None and review_by < self.today:
            file.warning(
                e["review_by"], f"{what}: review_by {review_by} has passed; check the answer is still true"
            )
        related = opt_strings("related")
        references = opt_strings("references")
        verified_numbers = opt_strings("verified_numbers")
        translations = self.read_translations(file, e, what)

        seen_keywords: dict[str, int] = {}
        for keyword, keyword_node in keywords:
            key = normalise(keyword)
            if key in seen_keywords:
                file.warning(keyword_node, f"{what}: keyword '{keyword}' repeats line {seen_keywords[key]}")
            else:
                seen_keywords[key] = _line(keyword_node)
        if entry_id is not None:
            if question is not None:
                self.phrasings.append((question, entry_id, file.path, _line(e["question"])))
            for text, text_node in alternates:
                self.phrasings.append((text, entry_id, file.path, _line(text_node)))
        seen_related: set[str] = set()
        for target, target_node in related:
            if target == entry_id:
                file.error(target_node, f"{what}: related '{target}' points at the entry itself")
            elif target in seen_related:
                file.warning(target_node, f"{what}: related '{target}' is listed twice")
            else:
                seen_related.add(target)
                self.related.append((file, target_node, what, target))

        if entry_id is None or question is None or answer is None or source is None or updated is None:
            return None
        entry = Entry(
            id=entry_id,
            category=category_id,
            question=question,
            answer=answer,
            source=source,
            references=tuple(t for t, _ in references),
            verified_numbers=tuple(t for t, _ in verified_numbers),
            updated=updated,
            alternates=tuple(t for t, _ in alternates),
            keywords=tuple(t for t, _ in keywords),
            review_by=review_by,
            related=tuple(dict.fromkeys(t for t, _ in related if t != entry_id)),
            translations=MappingProxyType(translations),
            file=file.path,
            line=_line(node),
        )
        self.entries[entry_id] = entry
        return entry

    def read_translations(self, file: _File, e: dict[str, Node], what: str) -> dict[str, Translation]:
        out: dict[str, Translation] = {}
        if "translations" not in e:
            return out
        for lang, value in file.languages(e["translations"], f"{what}: translations") or ():
            label = f"{what}: translation '{lang}'"
            t = file.fields(value, label, ("question", "answer"), ("question", "answer"))
            if not t:
                continue
            question = file.string(t["question"], f"{label} question") if "question" in t else None
            answer = file.answer(t["answer"], f"{label} answer") if "answer" in t else None
            if question is not None and answer is not None:
                out[lang] = Translation(question, answer)
        return out

    # --- cross-entry checks

    def check_phrasings(self) -> None:
        """Same phrasing in two entries is an error, a near one a warning, a repeat a warning."""
        unique: list[_Phrasing] = []  # first occurrence per (entry, normalised form)
        by_entry: dict[tuple[str, str], _Phrasing] = {}
        first: dict[str, _Phrasing] = {}
        for text, entry_id, path, line in self.phrasings:
            p = _Phrasing(text, normalise(text, self.filler), entry_id, path, line)
            if not p.norm:
                self.problems.append(
                    Problem(path, line, ERROR, f"entry '{entry_id}': phrasing '{text}' has no words to match")
                )
                continue
            earlier = by_entry.get((entry_id, p.norm))
            if earlier is not None:
                self.problems.append(
                    Problem(
                        path,
                        line,
                        WARNING,
                        f"entry '{entry_id}': phrasing '{_short(text)}' repeats "
                        f"'{_short(earlier.text)}' (line {earlier.line})",
                    )
                )
                continue
            by_entry[(entry_id, p.norm)] = p
            other = first.setdefault(p.norm, p)
            if other is not p:
                self.problems.append(
                    Problem(
                        path,
                        line,
                        ERROR,
                        f"entry '{entry_id}': phrasing '{_short(text)}' is the same as "
                        f"'{_short(other.text)}' of entry '{other.entry_id}' ({other.where})",
                    )
                )
                continue
            unique.append(p)
        self.check_near_duplicates(unique)

    def check_near_duplicates(self, phrasings: list[_Phrasing]) -> None:
        cutoff = self.settings.near_duplicate_similarity
        norms = [p.norm for p in phrasings]
        for i, p in enumerate(phrasings[:-1]):
            # extract runs the ratio loop in C: about 0.2 s for 1000 phrasings
            hits = process.extract(p.norm, norms[i + 1 :], scorer=fuzz.ratio, score_cutoff=cutoff, limit=None)
            for _, score, offset in sorted(hits, key=lambda hit: hit[2]):
                q = phrasings[i + 1 + offset]
                if q.entry_id == p.entry_id:
                    continue
                self.problems.append(
                    Problem(
                        q.file,
                        q.line,
                        WARNING,
                        f"entry '{q.entry_id}': phrasing '{_short(q.text)}' is {score:.0f}% like "
                        f"'{_short(p.text)}' of entry '{p.entry_id}' ({p.where}); "
                        "residents may get the wrong one",
                    )
                )

    def check_related(self) -> None:
        for file, node, what, target in self.related:
            if target not in self.entry_ids:
                file.error(
                    node, f"{what}: related id '{target}' does not exist{_hint(target, self.entry_ids)}"
                )

    # --- reserved files

    def read_synonyms(self, file: _File, root: Node) -> None:
        top = file.fields(root, "synonyms.yaml", ("synonyms", "filler", "out_of_scope"))
        if top is None:
            return
        groups: list[tuple[str, ...]] = []
        owner: dict[str, tuple[int, str, str]] = {}  # normalised term -> (group number, its head, where)
        node = top.get("synonyms")
        if node is not None and not (isinstance(node, ScalarNode) and node.tag == _NULL):
            if not isinstance(node, SequenceNode):
                file.error(node, f"'synonyms' must be a list of groups (lists of terms), got {_kind(node)}")
            else:
                for number, group_node in enumerate(node.value, 1):
                    terms = file.strings(group_node, f"synonym group {number}")
                    if terms is None:
                        continue
                    if not terms:
                        file.error(group_node, f"synonym group {number} is empty")
                        continue
                    head = terms[0][0]
                    group: list[str] = []
                    for term, term_node in terms:
                        key = normalise(term)
                        if key in owner:
                            other_number, other_head, where = owner[key]
                            if other_number == number:
                                file.warning(term_node, f"synonym '{term}' is repeated in group '{head}'")
                            else:
                                file.error(
                                    term_node,
                                    f"synonym '{term}' is already in group '{other_head}' ({where}); "
                                    "a term may belong to one group only",
                                )
                            continue
                        owner[key] = (number, head, file.where(term_node))
                        group.append(term)
                    if len(group) == 1:
                        file.warning(group_node, f"synonym group '{head}' has a single term")
                    groups.append(tuple(group))
        self.synonyms = tuple(groups)
        for key in ("filler", "out_of_scope"):
            if key in top:
                values = file.strings(top[key], f"'{key}'") or []
                setattr(self, key, tuple(dict.fromkeys(v for v, _ in values)))

    def read_safety(self, file: _File, root: Node) -> None:
        self.safety_file = file.path
        top = file.fields(root, "safety.yaml", ("kinds", "rules", "guards", "watch"), ("kinds", "rules"))
        if top is None:
            return
        kinds = [k for k in (self.read_safety_kind(file, n, i) for i, n in enumerate(self.items(file, top, "kinds"), 1)) if k]
        kind_ids = {k.id for k in kinds}
        for required in REQUIRED_SAFETY_KINDS:
            if required not in kind_ids and "kinds" in top:
                file.error(
                    top["kinds"],
                    f"safety.yaml defines no '{required}' kind: "
                    f"{REQUIRED_SAFETY_KINDS[required]} would never be recognised",
                )
        rules = []
        seen: dict[str, int] = {}
        for number, node in enumerate(self.items(file, top, "rules"), 1):
            rule = self.read_safety_rule(file, node, number, kind_ids)
            if rule is None:
                continue
            if rule.id in seen:
                file.error(node, f"duplicate rule id '{rule.id}' (first at line {seen[rule.id]})")
                continue
            seen[rule.id] = rule.line
            rules.append(rule)
        guards = []
        for number, node in enumerate(self.items(file, top, "guards"), 1):
            guard = self.read_safety_guard(file, node, number, kind_ids)
            if guard is not None:
                guards.append(guard)
        watch = [w for w, _ in (file.strings(top["watch"], "watch") or [])] if "watch" in top else []
        self.safety = Safety(tuple(kinds), tuple(rules), tuple(guards), tuple(dict.fromkeys(watch)))

    def items(self, file: _File, top: dict[str, Node], key: str) -> list[Node]:
        node = top.get(key)
        if node is None or (isinstance(node, ScalarNode) and node.tag == _NULL):
            return []
        if not isinstance(node, SequenceNode):
            file.error(node, f"'{key}' must be a list, got {_kind(node)}")
            return []
        return list(node.value)

    def read_safety_kind(self, file: _File, node: Node, number: int) -> SafetyKind | None:
        peeked = _peek(node, "id")
        what = f"kind '{peeked}'" if peeked else f"kind #{number}"
        f = file.fields(node, what, ("id", "numbers", "reply", "translations"), ("id", "numbers", "reply"))
        if f is None:
            return None
        kind_id = file.string(f["id"], f"{what}: id") if "id" in f else None
        if kind_id is not None and not ID_PATTERN.match(kind_id):
            file.error(f["id"], f"{what}: id must be kebab-case (a-z, 0-9 and single hyphens)")
        numbers = [n for n, _ in (file.strings(f["numbers"], f"{what}: numbers") or [])] if "numbers" in f else []
        if "numbers" in f and not numbers:
            file.error(f["numbers"], f"{what}: numbers is empty; say which numbers the reply must give")
        for must in REQUIRED_SAFETY_KINDS_NUMBERS.get(kind_id or "", ()):
            if numbers and must not in numbers:
                file.error(f["numbers"], f"{what}: numbers must include {must}")
        reply = file.answer(f["reply"], f"{what}: reply") if "reply" in f else None
        replies = file.one_field_translations(f.get("translations", _none()), what, "reply", file.answer)
        texts = [("reply", reply, f.get("reply"))] + [
            (f"translation '{lang}' reply", text, f.get("translations")) for lang, text in replies.items()
        ]
        for label, text, at in texts:
            for n in numbers:
                if text is not None and at is not None and not re.search(rf"(?<!\d){re.escape(n)}(?!\d)", text):
                    file.error(at, f"{what}: {label} does not give {n}; residents in danger must see it")
        if kind_id is None or reply is None or not numbers:
            return None
        return SafetyKind(kind_id, tuple(numbers), reply, MappingProxyType(replies))

    def read_safety_rule(self, file: _File, node: Node, number: int, kind_ids: set[str]) -> SafetyRule | None:
        peeked = _peek(node, "id")
        what = f"rule '{peeked}'" if peeked else f"rule #{number}"
        f = file.fields(node, what, ("id", "kind", "phrases", "all"), ("id", "kind"))
        if f is None:
            return None
        rule_id = file.string(f["id"], f"{what}: id") if "id" in f else None
        kind = file.string(f["kind"], f"{what}: kind") if "kind" in f else None
        if kind is not None and kind not in kind_ids:
            file.error(f["kind"], f"{what}: unknown kind '{kind}'{_hint(kind, kind_ids)}")
            kind = None
        phrases: list[str] = []
        groups: list[tuple[str, ...]] = []
        if ("phrases" in f) == ("all" in f):
            file.error(node, f"{what}: give either 'phrases' (any one fires) or 'all' (one of each list fires)")
        elif "phrases" in f:
            phrases = [p for p, _ in (file.strings(f["phrases"], f"{what}: phrases") or [])]
            if not phrases:
                file.error(f["phrases"], f"{what}: phrases is empty; the rule would never fire")
        else:
            lists = f["all"]
            if not isinstance(lists, SequenceNode) or len(lists.value) < 2:
                file.error(lists, f"{what}: 'all' must be a list of two or more lists of phrases")
            else:
                for i, group in enumerate(lists.value, 1):
                    terms = [p for p, _ in (file.strings(group, f"{what}: all list {i}") or [])]
                    if not terms:
                        file.error(group, f"{what}: all list {i} is empty; the rule would never fire")
                    groups.append(tuple(terms))
        for p in (*phrases, *(t for g in groups for t in g)):
            if not phrase_key(p):
                file.error(node, f"{what}: phrase '{p}' has no letters to match")
        if rule_id is None or kind is None or not (phrases or (groups and all(groups))):
            return None
        return SafetyRule(rule_id, kind, tuple(phrases), tuple(groups), _line(node))

    def read_safety_guard(self, file: _File, node: Node, number: int, kind_ids: set[str]) -> SafetyGuard | None:
        peeked = _peek(node, "id")
        what = f"guard '{peeked}'" if peeked else f"guard #{number}"
        f = file.fields(node, what, ("id", "kinds", "mask", "when", "unless", "before"), ("id",))
        if f is None:
            return None
        guard_id = file.string(f["id"], f"{what}: id") if "id" in f else None

        def read(key: str) -> tuple[str, ...]:
            return tuple(t for t, _ in (file.strings(f[key], f"{what}: {key}") or [])) if key in f else ()

        kinds, mask, when, unless, before = (read(k) for k in ("kinds", "mask", "when", "unless", "before"))
        for k in kinds:
            if k not in kind_ids:
                file.error(f["kinds"], f"{what}: unknown kind '{k}'{_hint(k, kind_ids)}")
        if not mask and not when and not before:
            file.error(node, f"{what}: give 'mask' (never emergencies), 'when' (not-an-emergency context) or 'before' (negations)")
        if unless and not when:
            file.warning(f["unless"], f"{what}: 'unless' does nothing without 'when'")
        if guard_id is None:
            return None
        return SafetyGuard(guard_id, mask, when, unless, kinds, before)

    def check_safety(self) -> None:
        """No safety file, no net: an error. Phrasings the net would catch: a warning each."""
        if self.safety_file is None:
            if any(p.line == 0 and p.file == str(self.directory) for p in self.problems):
                return  # no directory to speak of: that error says it all
            self.directory_error(
                "safety.yaml is missing: without it no emergency gets 120 or 12356; "
                "restore it from version control"
            )
            return
        if not self.safety.rules:
            return
        net = SafetyNet(self.safety)
        texts = [(t, f"entry '{eid}'", path, line) for t, eid, path, line in self.phrasings]
        texts += [(t, f"smalltalk '{sid}'", path, line) for t, sid, path, line in self.smalltalk_patterns]
        for text, owner, path, line in texts:
            found = net.detect(text)
            if found.emergency:
                hit = found.fired[0]
                self.problems.append(
                    Problem(
                        path,
                        line,
                        WARNING,
                        f"{owner}: '{_short(text)}' would get the {hit.kind} emergency reply "
                        f"(rule '{hit.rule}': {' + '.join(hit.words)}); reword it or add a guard",
                    )
                )

    def read_smalltalk(self, file: _File, root: Node) -> None:
        self.smalltalk = tuple(
            Smalltalk(*item) for item in self.read_specials(file, root, "smalltalk", "patterns")
        )

    def read_specials(
        self, file: _File, root: Node, list_key: str, text_key: str
    ) -> list[tuple[str, tuple[str, ...], str, Mapping[str, str]]]:
        """Small talk: id, the whole messages that trigger it, a reply."""
        out: list[tuple[str, tuple[str, ...], str, Mapping[str, str]]] = []
        top = file.fields(root, Path(file.path).name, (list_key,))
        if not top or list_key not in top:
            return out
        node = top[list_key]
        if not isinstance(node, SequenceNode):
            file.error(node, f"'{list_key}' must be a list, got {_kind(node)}")
            return out
        ids: dict[str, int] = {}
        for number, item in enumerate(node.value, 1):
            peeked = _peek(item, "id")
            what = f"{list_key} '{peeked}'" if peeked else f"{list_key} #{number}"
            f = file.fields(item, what, ("id", text_key, "reply", "translations"), ("id", text_key, "reply"))
            if f is None:
                continue
            special_id = file.string(f["id"], f"{what}: id") if "id" in f else None
            if special_id is not None:
                if not ID_PATTERN.match(special_id):
                    file.error(f["id"], f"{what}: id must be kebab-case (a-z, 0-9 and single hyphens)")
                if special_id in ids:
                    file.error(
                        f["id"], f"duplicate {list_key} id '{special_id}' (first at line {ids[special_id]})"
                    )
                    special_id = None
                else:
                    ids[special_id] = _line(f["id"])
            texts = file.strings(f[text_key], f"{what}: {text_key}") if text_key in f else None
            if texts == [] and text_key in f:
                file.error(f[text_key], f"{what}: {text_key} is empty; nothing would ever trigger it")
            reply = file.answer(f["reply"], f"{what}: reply") if "reply" in f else None
            replies = file.one_field_translations(f.get("translations", _none()), what, "reply", file.answer)
            for text, text_node in texts or ():
                self.smalltalk_patterns.append((text, special_id or "?", file.path, _line(text_node)))
            if special_id is not None and texts and reply is not None:
                out.append((special_id, tuple(t for t, _ in texts), reply, MappingProxyType(replies)))
        return out

    def read_matching(self, file: _File, root: Node) -> None:
        top = file.fields(root, "matching.yaml", _SETTINGS_FIELDS)
        if top is None:
            return
        defaults = MatchSettings()
        values: dict[str, Any] = {f.name: getattr(defaults, f.name) for f in fields(MatchSettings)}
        for key in _PERCENT_SETTINGS:
            if key in top:
                value = file.number(top[key], key, 0, 100)
                if value is not None:
                    values[key] = float(value)
        if "max_candidates" in top:
            value = file.number(top["max_candidates"], "max_candidates", *MAX_CANDIDATES_RANGE, integer=True)
            if value is not None:
                values["max_candidates"] = int(value)
        if "weights" in top:
            node = top["weights"]
            if not isinstance(node, MappingNode):
                file.error(node, f"weights must be a mapping of name to number, got {_kind(node)}")
            else:
                # given weights override the defaults one by one, the rest stay
                weights = dict(defaults.weights)
                for key_node, value_node in node.value:
                    name = key_node.value if isinstance(key_node, ScalarNode) else str(key_node)
                    if name not in defaults.weights:
                        file.warning(
                            key_node,
                            f"weights: unknown weight '{name}'{_hint(name, defaults.weights)}; "
                            f"known: {', '.join(defaults.weights)}",
                        )
                    weight = file.number(value_node, f"weights: {name}", 0, None)
                    if weight is not None:
                        weights[name] = float(weight)
                values["weights"] = MappingProxyType(weights)
        if values["suggest_threshold"] > values["answer_threshold"]:
            at = top.get("suggest_threshold") or top.get("answer_threshold") or root
            file.error(
                at,
                f"suggest_threshold ({values['suggest_threshold']:g}) must not be above "
                f"answer_threshold ({values['answer_threshold']:g})",
            )
        self.settings = MatchSettings(**values)


def _none() -> Node:
    """A null node, for optional keys that are absent."""
    return ScalarNode(_NULL, "")
