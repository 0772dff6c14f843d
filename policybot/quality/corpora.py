"""Knowledge bases to measure on: the Taipei City Government FAQ as a knowledge directory,
and synthetic ones grown from it to any number of phrasings.

The FAQ (`../shared/eval/external/tpe/faq.yaml`; Taipei City Government, data.taipei, Open
Government Data License 1.0) has one question per entry and a few repeated questions: the
later of each repeat is dropped, as its README says. A grown base keeps every real entry (so
the FAQ's 500 questions still have their answers) and adds entries whose question and
alternates are spliced from two real questions: real words in realistic proportions, texts
that are not copies of each other.
"""

from __future__ import annotations

import random
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from policybot.knowledge.content import phone_like
from policybot.knowledge.loader import YAML_LOADER
from policybot.matching.normalise import normalise

TAIPEI = Path("../shared/eval/external/tpe")
ENTRIES_PER_FILE = 2000
ALTERNATES = 4  # a grown entry has a question and this many alternates


def taipei_entries(faq: Path) -> list[dict[str, Any]]:
    """The FAQ's entries, the later of each repeated question dropped."""
    with faq.open(encoding="utf-8") as f:
        data = yaml.load(f, Loader=YAML_LOADER)  # noqa: S506 (CSafeLoader or SafeLoader)
    seen: set[str] = set()
    out = []
    for e in data["entries"]:
        key = normalise(e["question"])
        if key and key not in seen:
            seen.add(key)
            # the city's own numbers, published by the city: verified by their source
            numbers = sorted(set(phone_like(str(e["answer"]))))
            out.append({**e, "verified_numbers": numbers} if numbers else e)
    return out


def grow(entries: list[dict[str, Any]], phrasings: int, seed: int = 7) -> list[dict[str, Any]]:
    """The real entries, then spliced ones, until there are `phrasings` phrasings (or the
    first real entries, when they alone have more)."""
    rng = random.Random(seed)  # noqa: S311 (a reproducible sample, not a secret)
    if sum(1 + len(e.get("alternates") or []) for e in entries) >= phrasings:
        # fewer phrasings than the real FAQ has: its first entries
        out, count = [], 0
        for e in entries:
            if count >= phrasings:
                break
            out.append(dict(e))
            count += 1 + len(e.get("alternates") or [])
        return out
    questions = [str(e["question"]) for e in entries]
    taken = {normalise(q) for q in questions}
    out = [dict(e) for e in entries]
    count = sum(1 + len(e.get("alternates") or []) for e in entries)

    def splice(head: str) -> str:
        for _ in range(50):
            tail = rng.choice(questions)
            # cut each near its middle
            cut_head = max(2, len(head) // 2 + rng.randint(-2, 2))
            cut_tail = max(0, len(tail) // 2 + rng.randint(-2, 2))
            text = head[:cut_head] + tail[cut_tail:]
            key = normalise(text)
            if key and key not in taken:
                taken.add(key)
                return text
        raise RuntimeError("could not splice a new question")  # pragma: no cover

    copy = 0
    while count < phrasings:
        copy += 1
        for e in entries:
            if count >= phrasings:
                break
            head = str(e["question"])
            texts = [splice(head) for _ in range(1 + ALTERNATES)]
            out.append({
                "id": f"{e['id']}-s{copy}",
                "question": texts[0],
                "alternates": texts[1:],
                "keywords": list(e.get("keywords") or []),
                "answer": str(e["answer"])[:300],
                "source": e["source"],
                "updated": e["updated"],
                **({"verified_numbers": e["verified_numbers"]} if e.get("verified_numbers") else {}),
            })
            count += len(texts)
    return out


def write_knowledge(dest: Path, entries: list[dict[str, Any]], safety: Path) -> Path:
    """A knowledge directory: the entries in files of ENTRIES_PER_FILE, and `safety` (a
    knowledge base must have one)."""
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    for k, chunk in enumerate(_chunks(entries, ENTRIES_PER_FILE)):
        doc = {"category": {"id": f"ext{k:03d}", "title": f"Taipei FAQ, part {k + 1}"}, "entries": chunk}
        with (dest / f"ext{k:03d}.yaml").open("w", encoding="utf-8") as f:
            yaml.dump(doc, f, Dumper=getattr(yaml, "CSafeDumper", yaml.SafeDumper), allow_unicode=True,
                      sort_keys=False, width=1000)
    shutil.copyfile(safety, dest / "safety.yaml")
    return dest


def _chunks(items: list[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]
