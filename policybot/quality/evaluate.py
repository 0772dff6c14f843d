"""Scoring a labelled question set: the figures `eval` prints and `tune` optimises.

A question set is YAML: a list of {q: question, expect: entry id | none | emergency |
not-emergency}. An emergency may name its `kind` (medical, crisis, poisoning …): it then counts
only when that kind's reply was sent. A `not-emergency` item (a look-alike: 吓死, 献血会不会晕倒)
counts only against false emergencies; its `family` groups the report.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from policybot.matching.normalise import detect_script
from policybot.model import LANG_EN, MatchResult, Status

NONE = "none"
EMERGENCY = "emergency"
NOT_EMERGENCY = "not-emergency"


class QuestionSetError(ValueError):
    pass


@dataclass(frozen=True)
class Question:
    q: str
    expect: str
    kind: str | None = None  # emergencies: the kind whose reply must be sent
    family: str | None = None  # look-alikes: idiom, risk-question, past …


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
        kind, family = item.get("kind"), item.get("family")
        out.append(Question(item["q"], str(item["expect"]), str(kind) if kind else None,
                            str(family) if family else None))
    return out


@dataclass(frozen=True)
class Outcome:
    question: Question
    status: str
    id: str | None
    score: float
    candidates: tuple[str, ...]
    kinds: tuple[str, ...] = ()  # the emergency kinds whose replies were sent

    @classmethod
    def of(cls, q: Question, r: MatchResult) -> Outcome:
        kinds = tuple((r.special_id or "").split(",")) if r.status is Status.EMERGENCY else ()
        return cls(q, str(r.status), r.entry_id, r.score, tuple(c.entry_id for c in r.candidates), kinds)

    @property
    def in_scope(self) -> bool:
        return self.question.expect not in (NONE, EMERGENCY, NOT_EMERGENCY)

    @property
    def correct(self) -> bool:
        e = self.question.expect
        if e == EMERGENCY:
            kind = self.question.kind
            return self.status == Status.EMERGENCY and (kind is None or kind in self.kinds)
        if e == NOT_EMERGENCY:
            return self.status != Status.EMERGENCY
        if e == NONE:
            return self.status in (Status.UNANSWERED, Status.SMALLTALK, Status.OUT_OF_SCOPE)
        return self.status == Status.ANSWERED and self.id == e

    @property
    def reached(self) -> bool:
        shown = self.status == Status.AMBIGUOUS and self.question.expect in self.candidates
        return self.correct or (self.in_scope and shown)

    @property
    def confident_wrong(self) -> bool:
        # a look-alike answered from the knowledge base is fine: it only had not to fire
        return (
            self.status == Status.ANSWERED
            and self.question.expect != NOT_EMERGENCY
            and self.id != self.question.expect
        )


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

    def recall_by_kind(self) -> dict[str, tuple[int, int]]:
        """kind -> (caught, of)."""
        out: dict[str, tuple[int, int]] = {}
        for o in self.emergencies:
            kind = o.question.kind or "-"
            caught, total = out.get(kind, (0, 0))
            out[kind] = (caught + o.correct, total + 1)
        return dict(sorted(out.items()))

    def false_by(self) -> dict[str, dict[str, int]]:
        """Look-alikes that fired: by the kind that fired, and by the look-alike's family."""
        by_kind: dict[str, int] = {}
        by_family: dict[str, int] = {}
        for o in self.outcomes:
            if o.question.expect != EMERGENCY and o.status == Status.EMERGENCY:
                for k in o.kinds:
                    by_kind[k] = by_kind.get(k, 0) + 1
                fam = o.question.family or "-"
                by_family[fam] = by_family.get(fam, 0) + 1
        families: dict[str, int] = {}
        for o in self.outcomes:
            if o.question.expect == NOT_EMERGENCY:
                fam = o.question.family or "-"
                families[fam] = families.get(fam, 0) + 1
        return {"by_kind": by_kind, "by_family": by_family, "family_sizes": families}

    @property
    def english(self) -> list[Outcome]:
        return [o for o in self.in_scope if detect_script(o.question.q) == LANG_EN]

    @property
    def english_accuracy(self) -> float:
        """Top-1 accuracy on the in-scope questions written in English."""
        return self._share((o.correct for o in self.english), self.english)

    @property
    def did_you_mean(self) -> float:
        """Share of in-scope questions answered with "did you mean" rather than outright."""
        return self._share((o.status == Status.AMBIGUOUS for o in self.in_scope), self.in_scope)

    @property
    def told_out_of_scope(self) -> float:
        """Share of out-of-scope questions that got the out-of-scope reply (not "sorry, a gap")."""
        return self._share((o.status == Status.OUT_OF_SCOPE for o in self.out_of_scope), self.out_of_scope)

    def figures(self) -> dict[str, float | int]:
        return {
            "questions": len(self.outcomes),
            "in_scope": len(self.in_scope),
            "accuracy": round(self.accuracy, 1),
            "reached": round(self.reached, 1),
            "confident_wrong": round(self.confident_wrong, 1),
            "rejection": round(self.rejection, 1),
            "english_accuracy": round(self.english_accuracy, 1),
            "did_you_mean": round(self.did_you_mean, 1),
            "told_out_of_scope": round(self.told_out_of_scope, 1),
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
    ("english_accuracy", "English top-1 (of in-scope English)", "%"),
    ("did_you_mean", "\"did you mean\" (of in scope)", "%"),
    ("told_out_of_scope", "told out of scope (of oos)", "%"),
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
        lines.append(f"  {label:<36} {f[key]:>6}{' ' + unit if unit else ''}")
    if any(o.question.kind for o in report.emergencies) or any(
        o.question.expect == NOT_EMERGENCY for o in report.outcomes
    ):
        lines.append("safety, per kind:")
        for kind, (caught, total) in report.recall_by_kind().items():
            lines.append(f"  {kind:<14} recall {100.0 * caught / total:5.1f} %  ({caught}/{total})")
        false = report.false_by()
        fired = ", ".join(f"{k} {n}" for k, n in sorted(false["by_kind"].items())) or "none"
        lines.append(f"  false emergencies by kind fired: {fired}")
        for fam, size in sorted(false["family_sizes"].items()):
            lines.append(f"  look-alikes {fam:<18} {false['by_family'].get(fam, 0)} fired of {size}")
    misses = report.misses
    lines.append(f"misses ({len(misses)}):")
    for o in misses:
        got = o.id or (",".join(o.candidates[:3]) if o.status == Status.AMBIGUOUS else ",".join(o.kinds) or "-")
        lines.append(f"  [{o.status:<10}] expect {o.question.expect:<28} got {got:<40} {o.score:5.1f}  {o.question.q}")
    return "\n".join(lines)


def format_side_by_side(reports: dict[str, Report]) -> str:
    names = list(reports)
    width = max(12, *(len(n) for n in names))
    head = f"  {'':<36}" + "".join(f"{n:>{width + 2}}" for n in names)
    lines = [head]
    for key, label, _unit in FIGURE_LABELS:
        row = f"  {label:<36}" + "".join(f"{reports[n].figures()[key]:>{width + 2}}" for n in names)
        lines.append(row)
    return "\n".join(lines)
