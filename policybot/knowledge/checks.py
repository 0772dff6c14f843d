"""Checks across entries, run once every file is read: phrasings that collide (the same or
nearly the same in two entries) and related ids that point nowhere."""

from __future__ import annotations

import itertools
from collections.abc import Collection, Iterable
from dataclasses import dataclass

import numpy as np
from rapidfuzz import fuzz, process

from policybot.knowledge.entries import RelatedLink, Text
from policybot.knowledge.nodes import hint, short
from policybot.knowledge.problems import ERROR, WARNING, Problem
from policybot.matching.normalise import normalise

_BLOCK = 256  # rows per cdist call: a few hundred texts of similar length


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


def check_phrasings(phrasings: Iterable[Text], filler: Iterable[str], near_duplicate_similarity: float) -> list[Problem]:
    """Same phrasing in two entries is an error, a near one a warning, a repeat a warning."""
    problems: list[Problem] = []
    filler = tuple(filler)
    unique: list[_Phrasing] = []  # first occurrence per (entry, normalised form)
    by_entry: dict[tuple[str, str], _Phrasing] = {}
    first: dict[str, _Phrasing] = {}
    for t in phrasings:
        text, entry_id, path, line = t.text, t.owner, t.file, t.line
        p = _Phrasing(text, normalise(text, filler), entry_id, path, line)
        if not p.norm:
            problems.append(
                Problem(path, line, ERROR, f"entry '{entry_id}': phrasing '{text}' has no words to match")
            )
            continue
        earlier = by_entry.get((entry_id, p.norm))
        if earlier is not None:
            problems.append(
                Problem(
                    path,
                    line,
                    WARNING,
                    f"entry '{entry_id}': phrasing '{short(text)}' repeats "
                    f"'{short(earlier.text)}' (line {earlier.line})",
                )
            )
            continue
        by_entry[(entry_id, p.norm)] = p
        other = first.setdefault(p.norm, p)
        if other is not p:
            problems.append(
                Problem(
                    path,
                    line,
                    ERROR,
                    f"entry '{entry_id}': phrasing '{short(text)}' is the same as "
                    f"'{short(other.text)}' of entry '{other.entry_id}' ({other.where})",
                )
            )
            continue
        unique.append(p)
    problems += _near_duplicates(unique, near_duplicate_similarity)
    return problems


def _near_duplicates(phrasings: list[_Phrasing], cutoff: float) -> list[Problem]:
    problems: list[Problem] = []
    for i, j in sorted(_similar_pairs([p.norm for p in phrasings], cutoff)):
        p, q = phrasings[i], phrasings[j]
        if q.entry_id == p.entry_id:
            continue
        score = fuzz.ratio(p.norm, q.norm)
        problems.append(
            Problem(
                q.file,
                q.line,
                WARNING,
                f"entry '{q.entry_id}': phrasing '{short(q.text)}' is {score:.0f}% like "
                f"'{short(p.text)}' of entry '{p.entry_id}' ({p.where}); "
                "residents may get the wrong one",
            )
        )
    return problems


def _similar_pairs(texts: list[str], cutoff: float) -> set[tuple[int, int]]:
    """Every pair (i < j) whose rapidfuzz ratio is at least `cutoff`, without comparing all
    pairs (all pairs of 100,000 phrasings took ~18 minutes).

    A prefix filter, exact rather than approximate: ratio = 2·LCS / (len a + len b), and LCS is
    at most the characters the two share, so a pair at the cutoff shares at least
    t = c·len / (2 − c) characters of each (c = cutoff / 100) and their lengths differ by at
    most a factor (2 − c) / c. With each text's characters sorted rarest first (the k-th 医 is
    its own item, so shared counts stay exact), two texts sharing t of them share one among the
    first len − t + 1: only texts with a common rare character in that prefix are compared, in
    blocks of similar length with `process.cdist`."""
    c = max(0.0, min(cutoff, 100.0)) / 100
    n = len(texts)
    if c <= 0:
        return {(i, j) for i in range(n) for j in range(i + 1, n)}
    if n < 2:
        return set()
    lens = np.fromiter((len(t) for t in texts), dtype=np.int64, count=n)
    chars = np.frombuffer("".join(texts).encode("utf-32-le"), dtype=np.uint32).astype(np.int64)
    owner = np.repeat(np.arange(n), lens)
    # k-th occurrence of each character in its text
    order = np.lexsort((np.arange(len(chars)), chars, owner))
    key = owner[order] * (1 << 21) + chars[order]
    run = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
    kth = np.arange(len(order)) - np.repeat(run, np.diff(np.r_[run, len(order)]))
    items = np.empty(len(chars), dtype=np.int64)
    items[order] = chars[order] * 4096 + np.minimum(kth, 4095)
    _, item = np.unique(items, return_inverse=True)
    freq = np.bincount(item)
    rank = np.empty(len(freq), dtype=np.int64)
    rank[np.lexsort((np.arange(len(freq)), freq))] = np.arange(len(freq))
    r = rank[item]
    # each text's items rarest first; keep its prefix
    order = np.lexsort((r, owner))
    start = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(lens, out=start[1:])
    pos = np.arange(len(order)) - start[owner[order]]
    need = np.ceil(c * lens / (2 - c) - 1e-9).astype(np.int64)
    keep = pos < (lens - need + 1)[owner[order]]
    p_text, p_item = owner[order][keep], r[order][keep]
    # texts grouped by prefix item
    order = np.lexsort((p_text, p_item))
    p_text, p_item = p_text[order], p_item[order]
    bounds = np.flatnonzero(np.r_[True, p_item[1:] != p_item[:-1], True])
    table = np.array(texts, dtype=object)
    widest = (2 - c) / c
    pairs: set[tuple[int, int]] = set()
    for a, b in itertools.pairwise(bounds.tolist()):
        if b - a < 2:
            continue
        members = p_text[a:b]
        lengths = lens[members]
        by_len = np.argsort(lengths, kind="stable")
        members, lengths = members[by_len], lengths[by_len]
        group = list(table[members])
        for lo in range(0, len(members), _BLOCK):
            hi = min(lo + _BLOCK, len(members))
            far = int(np.searchsorted(lengths, lengths[hi - 1] * widest + 1e-9, side="right"))
            scores = process.cdist(group[lo:hi], group[lo:far], scorer=fuzz.ratio, score_cutoff=cutoff,
                                   dtype=np.uint8, workers=-1)
            x, y = np.nonzero(scores)
            x, y = x + lo, y + lo
            later = x < y
            u, v = members[x[later]], members[y[later]]
            pairs.update(zip(np.minimum(u, v).tolist(), np.maximum(u, v).tolist(), strict=True))
    return pairs


def check_related(related: Iterable[RelatedLink], entry_ids: Collection[str]) -> None:
    """Every related id names an entry (reported in the linking entry's file)."""
    for link in related:
        file, node, what, target = link.file, link.node, link.what, link.target
        if target not in entry_ids:
            file.error(
                node, f"{what}: related id '{target}' does not exist{hint(target, entry_ids)}"
            )


def check_out_of_scope(phrasings: Iterable[Text], out_of_scope: Iterable[str],
                       unless: Iterable[str] = (), list_name: str = "out_of_scope") -> list[Problem]:
    """An out-of-scope term inside an entry's own phrasing would push the entry's own question
    away (`unless`: words that lift the term's penalty, as in-scope words lift other_services')."""
    terms = [(t, normalise(t)) for t in out_of_scope if normalise(t)]
    lifting = [k for k in (normalise(t) for t in unless) if k]
    problems: list[Problem] = []
    for p in phrasings:
        norm = normalise(p.text)
        if any(k in norm for k in lifting):
            continue
        for term, key in terms:
            if key in norm:
                problems.append(
                    Problem(
                        p.file,
                        p.line,
                        ERROR,
                        f"entry '{p.owner}': phrasing '{short(p.text)}' contains the out-of-scope term "
                        f"'{term}' (synonyms.yaml); remove the term from {list_name} or reword the phrasing",
                    )
                )
                break
    return problems


# PyYAML's messages, in words an editor understands.
_PLAIN_YAML = (
    ("found character '\\t'", "a tab character: YAML uses spaces, never tabs, to show structure"),
    ("mapping values are not allowed here",
     "a colon ':' inside a value, or a line indented more than the one above — put a value that "
     "contains ':' in quotes, and line the keys up"),
    ("did not find expected key",
     "this line is indented differently from the lines above it — YAML uses spaces to show "
     "structure; line it up with the fields of the same entry"),
    ("expected <block end>",
     "this line is indented more or less than the one above — YAML uses spaces to show structure"),
    ("could not find expected ':'", "a line without 'field: value' — a missing colon, or a line that should be indented"),
    ("while scanning a quoted scalar", "a quote that is never closed — check the quotes on this line"),
    ("expected ',' or ']'", "a list in [ ] that is not closed or misses a comma — or a '?' or ':' inside it: put such text in quotes"),
    ("expected ',' or '}'", "a { } mapping that is not closed or misses a comma — or a '?' or ':' inside a value: put such text in quotes"),
    ("did not find expected '-' indicator", "a list item that is not lined up with the items above it"),
    ("found duplicate anchor", "the same &anchor twice"),
    ("found undefined alias", "a *alias with no &anchor: remove the '*' or put the text in quotes"),
    ("found character '@'", "a value starting with '@' or '`': put it in quotes"),
    ("found character '`'", "a value starting with '@' or '`': put it in quotes"),
)


def plain_yaml_error(message: str) -> str:
    for needle, plain in _PLAIN_YAML:
        if needle in message:
            return plain
    return "the file is not valid YAML here"
