"""`tune`: search the decision thresholds on a labelled set and show the trade-off.

Scores are computed once per question (the analysis does not depend on thresholds), then
every (answer threshold, suggest threshold, margin, clear lead) on a grid is replayed over them. Part of
the set is held out: settings are chosen on the tuning part and reported on both, so an
operator sees whether a choice generalises. Nothing is written: copy the chosen numbers
into knowledge/matching.yaml.
"""

from __future__ import annotations

import dataclasses
import random
from dataclasses import dataclass

from policybot.matching.matcher import Analysis, Matcher
from policybot.model import MatchSettings
from policybot.quality.evaluate import EMERGENCY, NONE, Question, Report, evaluate


@dataclass(frozen=True)
class Figures:
    """A report's figures without its outcomes: a grid of thousands of settings over thousands
    of questions kept every outcome (3.6 GB for the Taipei FAQ's calibration)."""

    accuracy: float
    reached: float
    confident_wrong: float
    rejection: float

    @classmethod
    def of(cls, r: Report) -> Figures:
        return cls(r.accuracy, r.reached, r.confident_wrong, r.rejection)


@dataclass(frozen=True)
class Trial:
    settings: MatchSettings
    tuning: Figures
    holdout: Figures

    @property
    def key(self) -> tuple[float, float, float, float]:
        s = self.settings
        return (s.answer_threshold, s.suggest_threshold, s.margin, s.clear_lead)


@dataclass(frozen=True)
class Tuning:
    trials: list[Trial]
    current: Trial
    n_tuning: int
    n_holdout: int


def split(questions: list[Question], holdout: float, seed: int) -> tuple[list[Question], list[Question]]:
    """Stratified by label kind so both parts have in-scope, out-of-scope and emergencies."""
    rng = random.Random(seed)  # noqa: S311 (a reproducible split, not a secret)
    tune_part: list[Question] = []
    held: list[Question] = []
    for kind in ("entry", NONE, EMERGENCY):
        group = [q for q in questions if (q.expect if q.expect in (NONE, EMERGENCY) else "entry") == kind]
        rng.shuffle(group)
        k = round(len(group) * holdout)
        held.extend(group[:k])
        tune_part.extend(group[k:])
    return tune_part, held


def _grid(base: MatchSettings) -> list[MatchSettings]:
    out = []
    for answer in range(40, 86, 2):
        for suggest in range(30, answer + 1, 3):
            for margin in (0, 2, 4, 6, 8, 10, 14):
                for lead in (0, 8, 12):
                    out.append(dataclasses.replace(base, answer_threshold=float(answer),
                                                   suggest_threshold=float(suggest), margin=float(margin),
                                                   clear_lead=float(lead)))
    return out


def tune(matcher: Matcher, questions: list[Question], holdout: float = 0.3, seed: int = 7) -> Tuning:
    tune_part, held = split(questions, holdout, seed)
    analyses: dict[str, Analysis] = {q.q: _compact(matcher.analyse(q.q), matcher) for q in questions}
    original = matcher.settings

    def report(settings: MatchSettings, qs: list[Question]) -> Figures:
        matcher.settings = settings
        return Figures.of(evaluate(qs, lambda text: matcher.decide(analyses[text])))

    try:
        trials = [Trial(s, report(s, tune_part), report(s, held)) for s in _grid(original)]
        current = Trial(original, report(original, tune_part), report(original, held))
    finally:
        matcher.settings = original
    return Tuning(trials, current, len(tune_part), len(held))


def _compact(a: Analysis, matcher: Matcher) -> Analysis:
    """Only what a decision reads (the leaders), so that thousands of entries times thousands
    of questions fit in memory."""
    a.scored = a.scored[: matcher.settings.max_candidates + 1]
    a.features = {}
    return a


def _objective(r: Figures) -> float:
    # A confident wrong answer costs three times what a right answer earns.
    return r.accuracy + 0.5 * r.reached + 0.5 * r.rejection - 3 * r.confident_wrong


def pareto(trials: list[Trial]) -> list[Trial]:
    """Best tuning accuracy for each level of confident wrong answers."""
    by_wrong: dict[float, Trial] = {}
    for t in trials:
        w = round(t.tuning.confident_wrong, 1)
        cur = by_wrong.get(w)
        if cur is None or _objective(t.tuning) > _objective(cur.tuning):
            by_wrong[w] = t
    front, best_acc = [], -1.0
    for w in sorted(by_wrong):
        t = by_wrong[w]
        if t.tuning.accuracy > best_acc:
            front.append(t)
            best_acc = t.tuning.accuracy
    return front


def format_tuning(t: Tuning, current: MatchSettings) -> str:
    head = (f"  {'answer':>6} {'suggest':>7} {'margin':>6} {'lead':>4} | {'acc':>5} {'reach':>5} {'wrong':>5} {'reject':>6}"
            f" | {'acc':>5} {'reach':>5} {'wrong':>5} {'reject':>6}")
    lines = [
        f"tuning on {t.n_tuning} questions, holding out {t.n_holdout} (figures: tuning | held out)",
        "trade-off: the best settings for each level of confident wrong answers (% of all questions)",
        head,
    ]

    def row(tr: Trial, mark: str = "") -> str:
        a, b = tr.tuning, tr.holdout
        s = tr.settings
        return (f"  {s.answer_threshold:6g} {s.suggest_threshold:7g} {s.margin:6g} {s.clear_lead:4g} | {a.accuracy:5.1f} "
                f"{a.reached:5.1f} {a.confident_wrong:5.1f} {a.rejection:6.1f} | {b.accuracy:5.1f} "
                f"{b.reached:5.1f} {b.confident_wrong:5.1f} {b.rejection:6.1f}{mark}")

    for tr in pareto(t.trials):
        lines.append(row(tr))
    best = max(t.trials, key=lambda tr: (_objective(tr.tuning), -tr.settings.margin))
    lines.append("")
    lines.append("recommended (accuracy + reach/2 + rejection/2 − 3 × confident wrong, on the tuning part):")
    lines.append(row(best, "  ← recommended"))
    lines.append(row(t.current, "  ← current (knowledge/matching.yaml)"))
    lines.append("")
    s = best.settings
    lines.append("to use it, set in knowledge/matching.yaml:")
    lines.append(f"  answer_threshold: {s.answer_threshold:g}")
    lines.append(f"  suggest_threshold: {s.suggest_threshold:g}")
    lines.append(f"  margin: {s.margin:g}")
    lines.append(f"  clear_lead: {s.clear_lead:g}")
    return "\n".join(lines)
