"""Scoring a labelled question set: the figures `eval` prints and `tune` optimises.

A question set is YAML: a list of {q: question, expect: entry id | none | emergency}.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from policybot.model import MatchResult, Status

NONE = "none"
EMERGENCY = "emergency"


class QuestionSetError(ValueError):
    pass


@dataclass(frozen=True)
class Question:
    q: str
    expect: str


def load_questions(path: str | Path) -> list[Question]:
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise QuestionSetError(f"{path}: cannot read: {exc}") from None
    except yaml.YAMLError as exc:
        raise QuestionSetError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(data, list):
        raise QuestionSetError(f"{path}: expected a list of {{q, expect}} items")
    out = []
    for i, item in enumerate(data, 1):
        if not isinstance(item, dict) or not isinstance(item.get("q"), str) or not item.get("expect"):
            raise QuestionSetError(f"{path}: item {i} needs a text `q` and an `expect`")
        out.append(Question(item["q"], str(item["expect"])))
    return out


@dataclass(frozen=True)
class Outcome:
    question: Question
    status: str
    id: str | None
    score: float
    candidates: tuple[str, ...]

    @classmethod
    def of(cls, q: Question, r: MatchResult) -> Outcome:
        return cls(q, str(r.status), r.entry_id, r.score, tuple(c.entry_id for c in r.candidates))

    @property
    def in_scope(self) -> bool:
        return self.question.expect not in (NONE, EMERGENCY)

    @property
    def correct(self) -> bool:
        e = self.question.expect
        if e == EMERGENCY:
            return self.status == Status.EMERGENCY
        if e == NONE:
            return self.status in (Status.UNANSWERED, Status.SMALLTALK)
        return self.status == Status.ANSWERED and self.id == e

    @property
    def reached(self) -> bool:
        shown = self.status == Status.AMBIGUOUS and self.question.expect in self.candidates
        return self.correct or (self.in_scope and shown)

    @property
    def confident_wrong(self) -> bool:
        return self.status == Status.ANSWERED and self.id != self.question.expect


@dataclass
class Report:
    outcomes: list[Outcome] = field(default_factory=list)

    def _share(self, hits: Iterable[bool], pool: list[Outcome]) -> float:
        return 100.0 * sum(hits) / len(pool) if pool else 100.0

    @property
    def in_scope(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.in_scope]

    @property
    def out_of_scope(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.question.expect == NONE]

    @property
    def emergencies(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.question.expect == EMERGENCY]

    @property
    def accuracy(self) -> float:
        return self._share((o.correct for o in self.in_scope), self.in_scope)

    @property
    def reached(self) -> float:
        return self._share((o.reached for o in self.in_scope), self.in_scope)

    @property
    def confident_wrong(self) -> float:
        return self._share((o.confident_wrong for o in self.outcomes), self.outcomes)

    @property
    def rejection(self) -> float:
        return self._share((o.correct for o in self.out_of_scope), self.out_of_scope)

    @property
    def emergency_recall(self) -> float:
        return self._share((o.correct for o in self.emergencies), self.emergencies)

    @property
    def false_emergencies(self) -> int:
        return sum(1 for o in self.outcomes if o.question.expect != EMERGENCY and o.status == Status.EMERGENCY)

    @property
    def misses(self) -> list[Outcome]:
        return [o for o in self.outcomes if not o.correct]

    def figures(self) -> dict[str, float | int]:
        return {
            "questions": len(self.outcomes),
            "in_scope": len(self.in_scope),
            "accuracy": round(self.accuracy, 1),
            "reached": round(self.reached, 1),
            "confident_wrong": round(self.confident_wrong, 1),
            "rejection": round(self.rejection, 1),
            "emergency_recall": round(self.emergency_recall, 1),
            "false_emergencies": self.false_emergencies,
        }


def evaluate(
    questions: list[Question], match: Callable[[str], MatchResult], progress: bool = False
) -> Report:
    items: Iterable[Question] = questions
    if progress:
        from tqdm import tqdm

        items = tqdm(questions, desc="eval", unit="q", leave=False)
    return Report([Outcome.of(q, match(q.q)) for q in items])


FIGURE_LABELS = (
    ("accuracy", "in-scope top-1 accuracy", "%"),
    ("reached", "reached (answered or offered)", "%"),
    ("confident_wrong", "confident wrong answers", "% of all"),
    ("rejection", "out-of-scope rejection", "%"),
    ("emergency_recall", "emergency recall", "%"),
    ("false_emergencies", "false emergencies", ""),
)


def format_report(report: Report, title: str = "") -> str:
    f = report.figures()
    lines = []
    if title:
        lines.append(title)
    lines.append(
        f"{f['questions']} questions ({f['in_scope']} in scope, {len(report.out_of_scope)} out of scope, "
        f"{len(report.emergencies)} emergencies)"
    )
    for key, label, unit in FIGURE_LABELS:
        lines.append(f"  {label:<32} {f[key]:>6}{' ' + unit if unit else ''}")
    misses = report.misses
    lines.append(f"misses ({len(misses)}):")
    for o in misses:
        got = o.id or (",".join(o.candidates[:3]) if o.status == Status.AMBIGUOUS else "-")
        lines.append(f"  [{o.status:<10}] expect {o.question.expect:<28} got {got:<40} {o.score:5.1f}  {o.question.q}")
    return "\n".join(lines)


def format_side_by_side(reports: dict[str, Report]) -> str:
    names = list(reports)
    width = max(12, *(len(n) for n in names))
    head = f"  {'':<32}" + "".join(f"{n:>{width + 2}}" for n in names)
    lines = [head]
    for key, label, _unit in FIGURE_LABELS:
        row = f"  {label:<32}" + "".join(f"{reports[n].figures()[key]:>{width + 2}}" for n in names)
        lines.append(row)
    return "\n".join(lines)
