"""Category files: a category header and its entries, read into `Category` and `Entry`.

One `CategoryReader` reads every category file of a directory, so ids are checked across
files; it also keeps what the cross-entry checks need (phrasings, related ids).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

from yaml.nodes import MappingNode, Node, SequenceNode

from policybot.knowledge.content import MIN_ALTERNATES, check_answer_text, check_source
from policybot.knowledge.nodes import FileReader, kind_of, line_of, none_node, peek
from policybot.matching.normalise import normalise
from policybot.model import ID_PATTERN, Category, Entry, Translation

ENTRY_FIELDS = (
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
ENTRY_REQUIRED = ("id", "question", "answer", "source", "updated")


@dataclass(frozen=True)
class Text:
    """A phrasing or pattern as written, with its owner and where it stands."""

    text: str
    owner: str  # entry or smalltalk id
    file: str
    line: int


@dataclass(frozen=True)
class RelatedLink:
    file: FileReader
    node: Node
    what: str  # the entry, as messages name it
    target: str


class CategoryReader:
    def __init__(self, today: dt.date) -> None:
        self.today = today
        self.categories: list[Category] = []
        self.category_ids: dict[str, str] = {}  # id -> "file:line"
        self.entries: dict[str, Entry] = {}
        self.entry_ids: dict[str, str] = {}  # id -> "file:line", also for entries that failed
        self.phrasings: list[Text] = []
        self.related: list[RelatedLink] = []

    def read_category(self, file: FileReader, root: Node) -> None:
        if not isinstance(root, MappingNode):
            file.error(
                root, f"the top level must be a mapping with 'category' and 'entries', got {kind_of(root)}"
            )
            return
        top = file.fields(root, "top level", ("category", "entries"), ("category", "entries"))
        if top is None:
            return
        category_id: str | None = None
        title: str | None = None
        titles: dict[str, str] = {}
        order = 0
        if "category" in top:
            category_id, title, titles, order = self.read_category_header(file, top["category"])
        entry_ids: list[str] = []
        if "entries" in top:
            node = top["entries"]
            if not isinstance(node, SequenceNode):
                file.error(node, f"'entries' must be a list of entries, got {kind_of(node)}")
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
        self, file: FileReader, node: Node
    ) -> tuple[str | None, str | None, dict[str, str], int]:
        peeked = peek(node, "id")
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
        titles = file.one_field_translations(c.get("translations", none_node()), what, "title", file.string)
        order = file.number(c["order"], f"{what}: order", 0, None, integer=True) if "order" in c else None
        return category_id, title, titles, int(order) if order is not None else 0

    def read_entry(self, file: FileReader, node: Node, number: int, category_id: str) -> Entry | None:
        peeked = peek(node, "id")
        what = f"entry '{peeked}'" if peeked else f"entry #{number}"
        e = file.fields(node, what, ENTRY_FIELDS, ENTRY_REQUIRED)
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
        numbers = tuple(t for t, _ in verified_numbers)
        if answer is not None:
            check_answer_text(file, e["answer"], f"{what}: answer", answer, numbers)
        if source is not None:
            check_source(file, e["source"], f"{what}: source", source)
        if entry_id is not None and len(alternates) < MIN_ALTERNATES:
            file.warning(
                e.get("alternates", node),
                f"{what}: {len(alternates)} alternates; give at least {MIN_ALTERNATES} in residents' own words "
                "(short, colloquial, long)",
            )
        if entry_id is not None and "en" not in translations:
            file.warning(
                e.get("translations", node), f"{what}: no translations.en; English questions get the Chinese answer"
            )

        seen_keywords: dict[str, int] = {}
        for keyword, keyword_node in keywords:
            key = normalise(keyword)
            if key in seen_keywords:
                file.warning(keyword_node, f"{what}: keyword '{keyword}' repeats line {seen_keywords[key]}")
            else:
                seen_keywords[key] = line_of(keyword_node)
        if entry_id is not None:
            if question is not None:
                self.phrasings.append(Text(question, entry_id, file.path, line_of(e["question"])))
            for text, text_node in alternates:
                self.phrasings.append(Text(text, entry_id, file.path, line_of(text_node)))
        seen_related: set[str] = set()
        for target, target_node in related:
            if target == entry_id:
                file.error(target_node, f"{what}: related '{target}' points at the entry itself")
            elif target in seen_related:
                file.warning(target_node, f"{what}: related '{target}' is listed twice")
            else:
                seen_related.add(target)
                self.related.append(RelatedLink(file, target_node, what, target))

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
            line=line_of(node),
        )
        self.entries[entry_id] = entry
        return entry

    def read_translations(self, file: FileReader, e: dict[str, Node], what: str) -> dict[str, Translation]:
        out: dict[str, Translation] = {}
        if "translations" not in e:
            return out
        for lang, value in file.languages(e["translations"], f"{what}: translations") or ():
            label = f"{what}: translation '{lang}'"
            t = file.fields(value, label, ("question", "answer", "source"), ("question", "answer"))
            if not t:
                continue
            question = file.string(t["question"], f"{label} question") if "question" in t else None
            answer = file.answer(t["answer"], f"{label} answer") if "answer" in t else None
            source = file.string(t["source"], f"{label} source") if "source" in t else None
            if answer is not None:
                check_answer_text(file, t["answer"], f"{label} answer", answer, ())
            if source is not None:
                check_source(file, t["source"], f"{label} source", source)
            if question is not None and answer is not None:
                out[lang] = Translation(question, answer, source or "")
        return out
