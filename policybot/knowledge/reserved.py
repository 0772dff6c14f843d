"""The reserved files beside the categories: synonyms.yaml, smalltalk.yaml, matching.yaml.

(safety.yaml has a module of its own: `knowledge.safety`.)
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path
from types import MappingProxyType
from typing import Any

from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from policybot.knowledge.entries import Text
from policybot.knowledge.nodes import NULL, FileReader, hint, kind_of, line_of, none_node, peek
from policybot.matching.normalise import has_cjk, normalise
from policybot.model import ID_PATTERN, MatchSettings, Smalltalk

PERCENT_SETTINGS = (
    "answer_threshold", "suggest_threshold", "margin", "clear_lead", "near_duplicate_similarity",
    "out_of_scope_coverage",
)
SETTINGS_FIELDS = (*PERCENT_SETTINGS, "max_candidates", "weights")
MAX_CANDIDATES_RANGE = (1, 10)


@dataclass(frozen=True)
class Vocabulary:
    synonyms: tuple[tuple[str, ...], ...] = ()  # each group: canonical term first
    filler: tuple[str, ...] = ()
    out_of_scope: tuple[str, ...] = ()
    in_scope: tuple[str, ...] = ()
    glossary: tuple[tuple[str, ...], ...] = ()
    other_services: tuple[str, ...] = ()


def read_synonyms(file: FileReader, root: Node) -> Vocabulary:
    """synonyms.yaml: synonym groups (the canonical term first), filler, out-of-scope terms, and
    in-scope words (a question with one is the bureau's subject: a gap, never "out of scope"),
    other services' things (out of scope unless an in-scope word is there too),
    and the English glossary (a Chinese knowledge term, then the English words for it)."""
    top = file.fields(root, "synonyms.yaml", ("synonyms", "filler", "out_of_scope", "in_scope", "glossary",
                                                      "other_services"))
    if top is None:
        return Vocabulary()
    groups: list[tuple[str, ...]] = []
    owner: dict[str, tuple[int, str, str]] = {}  # normalised term -> (group number, its head, where)
    node = top.get("synonyms")
    if node is not None and not (isinstance(node, ScalarNode) and node.tag == NULL):
        if not isinstance(node, SequenceNode):
            file.error(node, f"'synonyms' must be a list of groups (lists of terms), got {kind_of(node)}")
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
    lists: dict[str, tuple[str, ...]] = {}
    for key in ("filler", "out_of_scope", "in_scope", "other_services"):
        if key in top:
            values = file.strings(top[key], f"'{key}'") or []
            lists[key] = tuple(dict.fromkeys(v for v, _ in values))
    return Vocabulary(
        tuple(groups), lists.get("filler", ()), lists.get("out_of_scope", ()), lists.get("in_scope", ()),
        read_glossary(file, top.get("glossary")), lists.get("other_services", ()),
    )


def read_glossary(file: FileReader, node: Node | None) -> tuple[tuple[str, ...], ...]:
    """`glossary`: groups of a Chinese term then English words or phrases that mean it. An English
    term may belong to one group only; the Chinese term should be a knowledge term."""
    if node is None or (isinstance(node, ScalarNode) and node.tag == NULL):
        return ()
    if not isinstance(node, SequenceNode):
        file.error(node, f"'glossary' must be a list of groups ([中文术语, english, ...]), got {kind_of(node)}")
        return ()
    out: list[tuple[str, ...]] = []
    owner: dict[str, tuple[int, str]] = {}  # normalised English term -> (group number, where)
    for number, group_node in enumerate(node.value, 1):
        terms = file.strings(group_node, f"glossary group {number}")
        if not terms:
            if terms == []:
                file.error(group_node, f"glossary group {number} is empty")
            continue
        (head, head_node), rest = terms[0], terms[1:]
        if not has_cjk(head):
            file.error(head_node, f"glossary group {number}: put the Chinese term first, got '{head}'")
            continue
        if not rest:
            file.error(group_node, f"glossary group '{head}' has no English term")
            continue
        english: list[str] = []
        for term, term_node in rest:
            key = normalise(term)
            if has_cjk(term) or not key:
                file.error(term_node, f"glossary group '{head}': '{term}' is not an English term")
            elif key in owner:
                first, where = owner[key]
                if first == number:
                    file.warning(term_node, f"glossary term '{term}' is repeated in group '{head}' "
                                 "(hyphens, case and plurals do not matter)")
                else:
                    file.error(term_node, f"glossary term '{term}' is already in another group ({where}); "
                               "a term may belong to one group only")
            else:
                owner[key] = (number, file.where(term_node))
                english.append(term)
        if english:
            out.append((head, *english))
    return tuple(out)


def read_smalltalk(file: FileReader, root: Node, patterns: list[Text]) -> tuple[Smalltalk, ...]:
    """smalltalk.yaml: id, the whole messages that trigger it, a reply. Every pattern is added to
    `patterns` (for the safety check), also those of items that fail."""
    list_key, text_key = "smalltalk", "patterns"
    out: list[Smalltalk] = []
    top = file.fields(root, Path(file.path).name, (list_key,))
    if not top or list_key not in top:
        return tuple(out)
    node = top[list_key]
    if not isinstance(node, SequenceNode):
        file.error(node, f"'{list_key}' must be a list, got {kind_of(node)}")
        return tuple(out)
    ids: dict[str, int] = {}
    for number, item in enumerate(node.value, 1):
        peeked = peek(item, "id")
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
                ids[special_id] = line_of(f["id"])
        texts = file.strings(f[text_key], f"{what}: {text_key}") if text_key in f else None
        if texts == [] and text_key in f:
            file.error(f[text_key], f"{what}: {text_key} is empty; nothing would ever trigger it")
        reply = file.answer(f["reply"], f"{what}: reply") if "reply" in f else None
        replies = file.one_field_translations(f.get("translations", none_node()), what, "reply", file.answer)
        for text, text_node in texts or ():
            patterns.append(Text(text, special_id or "?", file.path, line_of(text_node)))
        if special_id is not None and texts and reply is not None:
            out.append(Smalltalk(special_id, tuple(t for t, _ in texts), reply, MappingProxyType(replies)))
    return tuple(out)


def read_matching(file: FileReader, root: Node) -> MatchSettings:
    """matching.yaml: thresholds and weights; what is not given keeps its default."""
    top = file.fields(root, "matching.yaml", SETTINGS_FIELDS)
    if top is None:
        return MatchSettings()
    defaults = MatchSettings()
    values: dict[str, Any] = {f.name: getattr(defaults, f.name) for f in fields(MatchSettings)}
    for key in PERCENT_SETTINGS:
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
            file.error(node, f"weights must be a mapping of name to number, got {kind_of(node)}")
        else:
            # given weights override the defaults one by one, the rest stay
            weights = dict(defaults.weights)
            for key_node, value_node in node.value:
                name = key_node.value if isinstance(key_node, ScalarNode) else str(key_node)
                if name not in defaults.weights:
                    file.warning(
                        key_node,
                        f"weights: unknown weight '{name}'{hint(name, defaults.weights)}; "
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
    return MatchSettings(**values)
