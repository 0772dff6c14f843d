"""The `explain` command's text: how the matcher read a question and why it decided what it
decided (the analysis itself is `Matcher.explain`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from policybot.model import Status

if TYPE_CHECKING:
    from policybot.matching.matcher import Analysis, Matcher


def format_safety(a: Analysis) -> list[str]:
    """Why the safety net fired (kind, rule, the words that matched) or what it held back."""
    d = a.safety
    if d is None:
        return []
    out = []
    for h in d.fired:
        out.append(f"safety:       {h.kind} — rule '{h.rule}' matched {' + '.join(h.words)} in “{h.sentence}”")
    for h in d.suppressed:
        out.append(
            f"safety:       not fired — rule '{h.rule}' ({h.kind}) matched {' + '.join(h.words)}, "
            f"but guard '{h.guard}' says it is not an emergency"
        )
    if d.watch:
        out.append("risk words:   " + ", ".join(d.watch) + " (listed for staff as a possible emergency)")
    if not out:
        out.append("safety:       no emergency rule matched")
    return out


def format_analysis(a: Analysis, matcher: Matcher, limit: int = 5) -> str:
    s = matcher.settings
    r = a.result
    lines = [
        f"question:     {a.query}",
        *([f"scored on:    {a.focus}   (the question sentences of a long message scored higher)"] if a.focus else []),
        f"script:       {a.script}",
        f"normalised:   {a.normalised}",
    ]
    lines.extend(format_safety(a))
    if r is not None and r.status is Status.EMERGENCY:
        lines.append("")
        lines.append(f"decision:     emergency ({r.special_id}): the safety net fired, nothing was scored")
        return "\n".join(lines)
    if a.corrected != a.normalised:
        lines.append(f"typo-fixed:   {a.corrected}")
    lines.append(f"tokens:       {' | '.join(a.tokens) or '-'}")
    lines.append(f"after synonyms/stopwords: {' | '.join(a.canonical) or '-'}")
    if a.expanded:
        lines.append("synonyms:     " + ", ".join(f"{k} → {v}" for k, v in a.expanded.items()))
    if a.out_of_scope:
        lines.append("out of scope: " + ", ".join(a.out_of_scope) + " (score penalty)")
    weights = ", ".join(f"{k} {v:g}" for k, v in s.weights.items())
    lines.append(
        f"thresholds:   answer ≥ {s.answer_threshold:g} with a lead of ≥ {s.margin:g}"
        + (f" (or ≥ {s.suggest_threshold:g} with a lead of ≥ {s.clear_lead:g})" if s.clear_lead else "")
        + "; "
        f"suggest ≥ {s.suggest_threshold:g}; weights {weights}"
    )
    lines.append("")
    lines.append(
        f"  {'entry':<30} {'score':>6} {'keyword':>8} {'coverage':>8} {'evidence':>8} {'fuzzy':>6} {'pinyin':>7} {'penalty':>8}"
        "  best phrasing"
    )
    for sc in a.scored[:limit]:
        lines.append(
            f"  {sc.entry_id:<30} {sc.score:6.1f} {sc.keyword:8.1f} {sc.coverage:8.1f} {sc.evidence:8.1f} {sc.fuzzy:6.1f}"
            f" {sc.pinyin:7.1f} {sc.penalty:8.1f}  {sc.best_phrasing}"
        )
    lines.append("")
    if r is not None:
        decision = f"decision:     {r.status}"
        if r.entry_id:
            decision += f" → {r.entry_id}"
        elif r.special_id:
            decision += f" ({r.special_id})"
        elif r.candidates:
            decision += " → " + ", ".join(c.entry_id for c in r.candidates)
        lines.append(decision)
        if len(a.scored) > 1 and r.special_id is None:
            lead = a.scored[0].score - a.scored[1].score
            lines.append(f"lead over next entry: {lead:.1f}")
    return "\n".join(lines)
