"""Typed readers over YAML nodes: each reads one value, reports its own problems (with the
file and line) and returns None for a value it cannot use.

YAML is composed into nodes rather than loaded, because only nodes remember their line;
Python values are built from the nodes here.
"""

from __future__ import annotations

import datetime as dt
import difflib
import math
import re
from collections.abc import Callable, Iterable
from typing import cast

import yaml
from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from policybot.knowledge.problems import ERROR, WARNING, Problem
from policybot.model import LANGUAGES, MAX_MESSAGE_CHARS

_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_TAG = "tag:yaml.org,2002:"
STR, INT, FLOAT, BOOL, NULL, DATE = (_TAG + t for t in ("str", "int", "float", "bool", "null", "timestamp"))


def line_of(at: Node | int) -> int:
    return at if isinstance(at, int) else at.start_mark.line + 1


def kind_of(node: Node) -> str:
    if isinstance(node, MappingNode):
        return "a mapping"
    if isinstance(node, SequenceNode):
        return "a list"
    return {
        STR: "a string",
        INT: "a number",
        FLOAT: "a number",
        BOOL: "true/false",
        NULL: "nothing",
        DATE: "a date",
    }.get(node.tag, f"a value tagged {node.tag}")


def hint(word: str, choices: Iterable[str]) -> str:
    """' (did you mean 'x'?)' for a near typo, compared case-insensitively."""
    by_lower = {c.lower(): c for c in choices}
    close = difflib.get_close_matches(word.lower(), list(by_lower), n=1, cutoff=0.6)
    return f" (did you mean '{by_lower[close[0]]}'?)" if close else ""


def short(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


class FileReader:
    """Typed readers for one file's nodes; each reports its own problems and returns None."""

    def __init__(self, path: str, problems: list[Problem]) -> None:
        self.path = path
        self.problems = problems
        self.constructor = SafeConstructor()

    def error(self, at: Node | int, message: str) -> None:
        self.problems.append(Problem(self.path, line_of(at), ERROR, message))

    def warning(self, at: Node | int, message: str) -> None:
        self.problems.append(Problem(self.path, line_of(at), WARNING, message))

    def where(self, at: Node | int) -> str:
        return f"{self.path}:{line_of(at)}"

    def fields(
        self, node: Node, what: str, known: Iterable[str], required: Iterable[str] = ()
    ) -> dict[str, Node] | None:
        """The mapping's values by key; unknown, repeated and missing keys are reported."""
        if not isinstance(node, MappingNode):
            self.error(node, f"{what} must be a mapping, got {kind_of(node)}")
            return None
        known = tuple(known)
        out: dict[str, Node] = {}
        for key_node, value in node.value:
            if not isinstance(key_node, ScalarNode):
                self.error(key_node, f"{what}: a key must be a plain name, got {kind_of(key_node)}")
                continue
            key = key_node.value
            if key in out:
                # PyYAML would silently keep the last one; the first is then lost edits
                self.error(key_node, f"{what}: '{key}' is given twice")
            elif key not in known:
                self.error(key_node, f"{what}: unknown field '{key}'{hint(key, known)}")
            else:
                out[key] = value
        for key in required:
            if key not in out:
                self.error(node, f"{what}: missing required field '{key}'")
        return out

    def string(self, node: Node, what: str, *, keep_leading: bool = False) -> str | None:
        """A non-empty string, stripped (only on the right when `keep_leading`)."""
        if isinstance(node, ScalarNode) and node.tag == NULL:
            self.error(node, f"{what} is empty")
            return None
        if not isinstance(node, ScalarNode) or node.tag != STR:
            quote = " (put it in quotes)" if isinstance(node, ScalarNode) else ""
            self.error(node, f"{what} must be a string, got {kind_of(node)}{quote}")
            return None
        text: str = node.value
        value = text.rstrip() if keep_leading else text.strip()
        if not value.strip():
            self.error(node, f"{what} is empty")
            return None
        return value

    def strings(self, node: Node, what: str) -> list[tuple[str, Node]] | None:
        """A list of non-empty strings with their nodes; bad items are reported and left out."""
        if isinstance(node, ScalarNode) and node.tag == NULL:
            return []  # `alternates:` with nothing under it means none
        if not isinstance(node, SequenceNode):
            self.error(node, f"{what} must be a list of strings, got {kind_of(node)}")
            return None
        out = []
        for i, item in enumerate(node.value, 1):
            value = self.string(item, f"{what} item {i}")
            if value is not None:
                out.append((value, item))
        return out

    def date(self, node: Node, what: str) -> dt.date | None:
        bad = f"{what} must be a date like 2026-01-31"
        if isinstance(node, ScalarNode) and node.tag == DATE:
            try:
                value = self.constructor.construct_object(node)
            except (ValueError, yaml.YAMLError) as exc:
                self.error(node, f"{bad}: {node.value!r} is not a real date ({exc})")
                return None
            if isinstance(value, dt.datetime):
                self.error(node, f"{bad}, without a time")
                return None
            return cast(dt.date, value)
        if isinstance(node, ScalarNode) and node.tag == STR and _ISO_DATE.match(node.value.strip()):
            try:
                return dt.date.fromisoformat(node.value.strip())
            except ValueError as exc:
                self.error(node, f"{bad}: {node.value!r} is not a real date ({exc})")
                return None
        self.error(node, f"{bad}, got {kind_of(node)}")
        return None

    def number(
        self, node: Node, what: str, low: float, high: float | None, *, integer: bool = False
    ) -> float | None:
        tags = (INT,) if integer else (INT, FLOAT)
        expected = "a whole number" if integer else "a number"
        if not isinstance(node, ScalarNode) or node.tag not in tags:
            self.error(node, f"{what} must be {expected}, got {kind_of(node)}")
            return None
        value: float = self.constructor.construct_object(node)
        if not math.isfinite(value) or value < low or (high is not None and value > high):
            limits = f"between {low:g} and {high:g}" if high is not None else f"at least {low:g}"
            self.error(node, f"{what} must be {limits}, got {node.value}")
            return None
        return value

    def languages(self, node: Node, what: str) -> list[tuple[str, Node]] | None:
        """The (language, value node) pairs of a `translations:` mapping."""
        if isinstance(node, ScalarNode) and node.tag == NULL:
            return []
        if not isinstance(node, MappingNode):
            self.error(node, f"{what} must be a mapping of language code to text, got {kind_of(node)}")
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
                    f"{what}: unknown language '{lang}'{hint(lang, LANGUAGES)}; "
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
        if value is not None and len(value) > MAX_MESSAGE_CHARS:
            self.error(
                node,
                f"{what} is {len(value)} characters; a Telegram message holds at most {MAX_MESSAGE_CHARS}",
            )
        return value

    def items(self, top: dict[str, Node], key: str) -> list[Node]:
        """The items of an optional list field (none when absent or empty)."""
        node = top.get(key)
        if node is None or is_null(node):
            return []
        if not isinstance(node, SequenceNode):
            self.error(node, f"'{key}' must be a list, got {kind_of(node)}")
            return []
        return list(node.value)


def peek(node: Node, key: str) -> str | None:
    """A mapping's string value for `key` without reporting anything (to name it in messages)."""
    if isinstance(node, MappingNode):
        for key_node, value in node.value:
            if (
                isinstance(key_node, ScalarNode)
                and key_node.value == key
                and isinstance(value, ScalarNode)
                and value.tag == STR
                and value.value.strip()
            ):
                return str(value.value).strip()
    return None


def is_null(node: Node) -> bool:
    return isinstance(node, ScalarNode) and node.tag == NULL


def none_node() -> Node:
    """A null node, for optional keys that are absent."""
    return ScalarNode(NULL, "")
