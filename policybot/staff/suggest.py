"""`suggest`: for each group of unanswered questions, the nearest knowledge entries and a YAML
snippet that closes the gap: the group's phrasings as alternates of the nearest entry, or a
skeleton for a new one. Nothing is written; editors paste what they agree with.
"""

from __future__ import annotations

import collections
import datetime as dt
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import yaml

from policybot.matching.normalise import normalise
from policybot.matching.vocabulary import KEYWORD_STOPWORDS, segment
from policybot.model import Candidate, KnowledgeBase
from policybot.staff.tables import clip
from policybot.storage.records import Group

RankFn = Callable[[str, int], Sequence[Candidate]]


@dataclass(frozen=True)
class Suggestion:
    group: Group
    nearest: tuple[Candidate, ...]  # best first
    target: str | None  # entry to extend with alternates, or None: a new entry
    new_phrasings: tuple[str, ...]  # the group's phrasings the target does not have yet
    snippet: str  # YAML, with comments saying where it goes


def nearest_entries(
    texts: Sequence[str], rank: RankFn, limit: int = 3, sample: int = 8
) -> tuple[Candidate, ...]:
    """Entries nearest to a group: best score over its most frequent phrasings, then how often."""
    best: dict[str, float] = {}
    hits: collections.Counter[str] = collections.Counter()
    for text in texts[:sample]:
        for c in rank(text, limit):
            best[c.entry_id] = max(best.get(c.entry_id, 0.0), c.score)
            hits[c.entry_id] += 1
    order = sorted(best, key=lambda e: (-best[e], -hits[e], e))
    return tuple(Candidate(e, best[e]) for e in order[:limit])


def _keywords(texts: Sequence[str], limit: int = 5) -> list[str]:
    """Words shared by the group's phrasings (jieba), for the skeleton's keywords."""
    seen: collections.Counter[str] = collections.Counter()
    for text in texts:
        seen.update(
            {w for w in segment(text) if len(w.strip()) >= 2 and w not in KEYWORD_STOPWORDS and not w.isdigit()}
        )
    need = max(1, len(texts) // 2)
    return [w for w, n in seen.most_common() if n >= need][:limit]


def _norm(text: str, kb: KnowledgeBase) -> str:
    return normalise(text, kb.filler)


def _dump(data: Any) -> str:
    return yaml.safe_dump(data, allow_unicode=True, sort_keys=False, default_flow_style=False, width=1000)


def suggest_groups(
    groups: Iterable[Group],
    kb: KnowledgeBase,
    rank: RankFn,
    *,
    min_score: float | None = None,
    today: dt.date | None = None,
) -> list[Suggestion]:
    """For each group: nearest entries and a YAML snippet (alternates for the nearest, or a new entry)."""
    threshold = kb.settings.suggest_threshold if min_score is None else min_score
    today = today or dt.date.today()
    out = []
    for number, group in enumerate(groups, 1):
        nearest = nearest_entries(group.texts, rank)
        top = nearest[0] if nearest else None
        entry = kb.entries.get(top.entry_id) if top else None
        if top is not None and entry is not None and top.score >= threshold:
            have = {_norm(p, kb) for p in entry.phrasings}
            new = tuple(t for t in group.texts if _norm(t, kb) not in have)
            where = f"{entry.file}:{entry.line}" if entry.file else "its file"
            if new:
                head = (
                    f"# add to entry {entry.id} ({where}), nearest score {top.score:.1f}:\n"
                    f"# append these lines to its `alternates:`\n"
                )
                snippet = head + _dump({"id": entry.id, "alternates": list(new)})
            else:
                snippet = f"# entry {entry.id} ({where}) already has all these phrasings\n"
            out.append(Suggestion(group, nearest, entry.id, new, snippet))
            continue
        near = ", ".join(f"{c.entry_id} ({c.score:.1f})" for c in nearest) or "none"
        file_hint = f"; nearest entry's file: {entry.file}" if entry is not None and entry.file else ""
        skeleton = {
            "id": f"TODO-new-entry-{number}",
            "question": group.example,
            "alternates": list(group.texts[1:]),
            "keywords": _keywords(group.texts),
            "answer": "TODO: write the answer",
            "source": "TODO: the document or page this answer comes from",
            "updated": today,
        }
        snippet = f"# new entry ({_plural(group.count, 'question')}); nearest: {near}{file_hint}\n" + _dump(
            [skeleton]
        )
        out.append(Suggestion(group, nearest, None, tuple(group.texts), snippet))
    return out


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def render_suggestions(suggestions: Sequence[Suggestion]) -> str:
    if not suggestions:
        return "No unanswered or “none of these” questions in this period.\n"
    parts = []
    for i, s in enumerate(suggestions, 1):
        near = "  ".join(f"{c.entry_id} {c.score:.1f}" for c in s.nearest) or "–"
        action = f"add alternates to {s.target}" if s.target else "new entry"
        parts.append(
            f"── {i}. {s.group.count}× “{clip(s.group.example, 50)}” ({_plural(len(s.group.texts), 'phrasing')})\n"
            f"   nearest: {near}\n   suggestion: {action}\n\n{s.snippet}"
        )
    return "\n".join(parts)
