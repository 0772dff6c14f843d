"""safety.yaml: the kinds of emergency (with their replies and the numbers they must give),
the rules that fire, the guards that hold them back, and the watch words. Also the check that
no knowledge phrasing would itself be taken for an emergency.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from types import MappingProxyType

from yaml.nodes import Node, SequenceNode

from policybot.knowledge.entries import Text
from policybot.knowledge.nodes import FileReader, hint, line_of, none_node, peek, short
from policybot.knowledge.problems import WARNING, Problem
from policybot.matching.safety import SafetyNet, phrase_key
from policybot.model import ID_PATTERN, Safety, SafetyGuard, SafetyKind, SafetyRule

# The kinds the safety net cannot do without, and what goes unrecognised without them.
REQUIRED_KINDS = {"medical": "medical emergencies (120)", "crisis": "suicide and self-harm (12356)"}
REQUIRED_NUMBERS = {"medical": ("120",), "crisis": ("12356", "120")}
MISSING = "safety.yaml is missing: without it no emergency gets 120 or 12356; restore it from version control"
EMPTY = "safety.yaml is empty: without it no emergency gets 120 or 12356"


def read_safety(file: FileReader, root: Node) -> Safety:
    """safety.yaml: kinds (with their replies), rules, guards and watch words."""
    top = file.fields(root, "safety.yaml", ("kinds", "rules", "guards", "watch"), ("kinds", "rules"))
    if top is None:
        return Safety()
    kinds = [k for k in (_read_kind(file, n, i) for i, n in enumerate(file.items(top, "kinds"), 1)) if k]
    kind_ids = {k.id for k in kinds}
    for required in REQUIRED_KINDS:
        if required not in kind_ids and "kinds" in top:
            file.error(
                top["kinds"],
                f"safety.yaml defines no '{required}' kind: "
                f"{REQUIRED_KINDS[required]} would never be recognised",
            )
    rules = []
    seen: dict[str, int] = {}
    for number, node in enumerate(file.items(top, "rules"), 1):
        rule = _read_rule(file, node, number, kind_ids)
        if rule is None:
            continue
        if rule.id in seen:
            file.error(node, f"duplicate rule id '{rule.id}' (first at line {seen[rule.id]})")
            continue
        seen[rule.id] = rule.line
        rules.append(rule)
    guards = []
    for number, node in enumerate(file.items(top, "guards"), 1):
        guard = _read_guard(file, node, number, kind_ids)
        if guard is not None:
            guards.append(guard)
    watch = [w for w, _ in (file.strings(top["watch"], "watch") or [])] if "watch" in top else []
    return Safety(tuple(kinds), tuple(rules), tuple(guards), tuple(dict.fromkeys(watch)))


def _read_kind(file: FileReader, node: Node, number: int) -> SafetyKind | None:
    peeked = peek(node, "id")
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
    for must in REQUIRED_NUMBERS.get(kind_id or "", ()):
        if numbers and must not in numbers:
            file.error(f["numbers"], f"{what}: numbers must include {must}")
    reply = file.answer(f["reply"], f"{what}: reply") if "reply" in f else None
    replies = file.one_field_translations(f.get("translations", none_node()), what, "reply", file.answer)
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


def _read_rule(file: FileReader, node: Node, number: int, kind_ids: set[str]) -> SafetyRule | None:
    peeked = peek(node, "id")
    what = f"rule '{peeked}'" if peeked else f"rule #{number}"
    f = file.fields(node, what, ("id", "kind", "phrases", "all"), ("id", "kind"))
    if f is None:
        return None
    rule_id = file.string(f["id"], f"{what}: id") if "id" in f else None
    kind = file.string(f["kind"], f"{what}: kind") if "kind" in f else None
    if kind is not None and kind not in kind_ids:
        file.error(f["kind"], f"{what}: unknown kind '{kind}'{hint(kind, kind_ids)}")
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
    return SafetyRule(rule_id, kind, tuple(phrases), tuple(groups), line_of(node))


def _read_guard(file: FileReader, node: Node, number: int, kind_ids: set[str]) -> SafetyGuard | None:
    peeked = peek(node, "id")
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
            file.error(f["kinds"], f"{what}: unknown kind '{k}'{hint(k, kind_ids)}")
    if not mask and not when and not before:
        file.error(node, f"{what}: give 'mask' (never emergencies), 'when' (not-an-emergency context) or 'before' (negations)")
    if unless and not when:
        file.warning(f["unless"], f"{what}: 'unless' does nothing without 'when'")
    if guard_id is None:
        return None
    return SafetyGuard(guard_id, mask, when, unless, kinds, before)


def check_safety(safety: Safety, phrasings: Iterable[Text], patterns: Iterable[Text]) -> list[Problem]:
    """A warning for each phrasing or smalltalk pattern the safety net would take for an
    emergency: a resident asking it would get the emergency reply instead of the answer."""
    if not safety.rules:
        return []
    problems: list[Problem] = []
    net = SafetyNet(safety)
    texts = [(t.text, f"entry '{t.owner}'", t.file, t.line) for t in phrasings]
    texts += [(t.text, f"smalltalk '{t.owner}'", t.file, t.line) for t in patterns]
    for text, owner, path, line in texts:
        found = net.detect(text)
        if found.emergency:
            hit = found.fired[0]
            problems.append(
                Problem(
                    path,
                    line,
                    WARNING,
                    f"{owner}: '{short(text)}' would get the {hit.kind} emergency reply "
                    f"(rule '{hit.rule}': {' + '.join(hit.words)}); reword it or add a guard",
                )
            )
    return problems
