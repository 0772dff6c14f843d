"""Grouping similar questions (unanswered ones, for staff): greedy clustering by rapidfuzz
token-sort similarity, with each Chinese character a token."""

from __future__ import annotations

import collections
import re
from collections.abc import Callable, Iterable

from rapidfuzz import fuzz, process

from policybot.storage.records import Group

_CJK_CHAR = re.compile(
    r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]|[^\s\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+"
)


def _tokens(text: str) -> str:
    # Chinese has no spaces, so each ideograph is a token; token_sort then tolerates reordering
    # ("医保卡丢了怎么办" ~ "怎么补办丢失的医保卡") without token_set's subset leniency.
    return " ".join(_CJK_CHAR.findall(text))


def group_texts(
    texts: Iterable[str],
    threshold: float = 70.0,
    *,
    key: Callable[[str], str] | None = None,
    max_distinct: int = 5000,
) -> list[Group]:
    """Greedy clustering of similar texts, biggest group first.

    Distinct texts are visited most frequent first; each joins the most similar existing group
    (compared with the group's first, most frequent phrasing) when the similarity is at least
    `threshold`, or starts a new group. `key` maps a text to the form compared (e.g. its
    normalised form) while the group keeps the text itself.
    """
    counts = collections.Counter(t for t in texts if t and t.strip())
    order = sorted(counts, key=lambda t: (-counts[t], t))[:max_distinct]
    seeds: list[str] = []  # tokenised key of each group's first phrasing
    members: list[list[str]] = []
    for text in order:
        tokens = _tokens(key(text) if key else text)
        best = process.extractOne(
            tokens, seeds, scorer=fuzz.token_sort_ratio, processor=None, score_cutoff=threshold
        )
        if best is None:
            seeds.append(tokens)
            members.append([text])
        else:
            members[best[2]].append(text)
    groups = [Group(sum(counts[t] for t in m), m[0], tuple(m)) for m in members]
    groups.sort(key=lambda g: (-g.count, g.example))
    return groups
