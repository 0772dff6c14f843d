"""`calibrate`: thresholds from the knowledge base alone, for a bureau with no labelled questions.

Questions are made from the knowledge base itself: every third alternate is held out of the
index and asked (as written, with a character dropped, and in the other script); an entry with
too few alternates is asked its own question with a character dropped. Everyday text that is not
the bureau's subject (shipped as policybot/quality/out-of-scope.txt, or the editor's own
file) must be rejected. `tune`'s search then picks, among the settings whose confident wrong
answers stay under the target on the tuning part, the one with the best objective.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

from policybot.matching.matcher import Matcher
from policybot.matching.normalise import has_cjk, to_simplified, to_traditional
from policybot.model import Entry, KnowledgeBase, MatchSettings
from policybot.quality.evaluate import NONE, Question
from policybot.quality.tune import Trial, Tuning, _objective, tune

HOLD_OUT_EVERY = 3  # every third alternate is asked, not indexed
GOVERNMENT_BLOCK = "# other government services"  # the shipped file marks where these start
DEFAULT_TEXT = Path(__file__).with_name("out-of-scope.txt")  # shipped with the package


def _drop_one(text: str) -> str:
    """The text with one character dropped (a typing slip), from the middle."""
    chars = [i for i, c in enumerate(text) if c.strip() and not re.match(r"[？?！!，,。.]", c)]
    if len(chars) < 4:
        return text
    i = chars[len(chars) // 2]
    return text[:i] + text[i + 1 :]


def _other_script(text: str) -> str:
    if not has_cjk(text):
        return text
    simplified = to_simplified(text)
    return to_traditional(text) if simplified == text else simplified


def read_out_of_scope(path: Path, *, government: bool = True) -> list[str]:
    """One question a line; `government=False` leaves out the block of other government services
    (they are in scope for a general city FAQ)."""
    out: list[str] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip() == GOVERNMENT_BLOCK and not government:
            break
        if line.strip() and not line.startswith("#"):
            out.append(line.strip())
    return out


def calibration_set(kb: KnowledgeBase, out_of_scope: list[str]) -> tuple[KnowledgeBase, list[Question]]:
    """The knowledge base with its held-out alternates removed, and the questions to ask it."""
    entries: dict[str, Entry] = {}
    questions: list[Question] = []
    for e in kb.entries.values():
        asked = e.alternates[HOLD_OUT_EVERY - 1 :: HOLD_OUT_EVERY] if len(e.alternates) >= HOLD_OUT_EVERY else ()
        entries[e.id] = dataclasses.replace(e, alternates=tuple(a for a in e.alternates if a not in asked))
        for a in asked:
            questions += [Question(a, e.id), Question(_drop_one(a), e.id), Question(_other_script(a), e.id)]
        if not asked:
            questions.append(Question(_drop_one(e.question), e.id))
    questions += [Question(text, NONE) for text in out_of_scope]
    unique = list({q.q: q for q in questions}.values())  # a variant can equal its original
    return dataclasses.replace(kb, entries=entries), unique


@dataclasses.dataclass(frozen=True)
class Calibration:
    tuning: Tuning
    chosen: Trial
    target: float  # the confident-wrong rate (% of all) the chosen settings keep under


def calibrate(kb: KnowledgeBase, out_of_scope: list[str], target: float = 1.0, seed: int = 7) -> Calibration:
    reduced, questions = calibration_set(kb, out_of_scope)
    tuning = tune(Matcher(reduced, kb.settings), questions, holdout=0.3, seed=seed)
    safe = [t for t in tuning.trials if t.tuning.confident_wrong <= target] or tuning.trials
    chosen = max(safe, key=lambda t: (_objective(t.tuning), -t.tuning.confident_wrong, t.settings.margin,
                                    -t.settings.clear_lead))
    return Calibration(tuning, chosen, target)


def write_settings(path: Path, settings: MatchSettings) -> None:
    """Set the four thresholds in matching.yaml, keeping every comment and other line."""
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    for key in ("answer_threshold", "suggest_threshold", "margin", "clear_lead"):
        value = f"{getattr(settings, key):g}"
        line = re.compile(rf"^{key}:[ \t]*[^#\n]*?([ \t]*#.*)?$", re.M)
        found = line.search(text)
        if found is not None:
            comment = found.group(1) or ""
            text = text[: found.start()] + f"{key}: {value}{comment}" + text[found.end() :]
        else:
            text += ("" if text.endswith("\n") or not text else "\n") + f"{key}: {value}\n"
    path.write_text(text, encoding="utf-8")
