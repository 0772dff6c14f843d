"""`bench`: how fast the matcher answers, against the baselines measured in the same run.

The machine is small and noisy, so every figure is a median over repeats, and speed is also
given as a ratio to the rapidfuzz WRatio baseline measured at the same time. Targets are
checked here (never in unit tests) and written with the figures to a results file.
"""

from __future__ import annotations

import datetime as dt
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

from policybot.exitcodes import EXIT_ERRORS, EXIT_OK, EXIT_USAGE
from policybot.knowledge import KnowledgeError, load
from policybot.matching.matcher import Matcher
from policybot.quality.baselines import BM25Baseline, WRatioBaseline
from policybot.quality.evaluate import load_questions

# Per-question targets for the full pipeline (normalise → correct → segment → score → decide).
TARGET_MEDIAN_MS = 5.0
TARGET_P95_MS = 20.0
TARGET_BUILD_S = 5.0
DEFAULT_QUESTIONS = ("../shared/eval/dev-questions.yaml", "tests/data/blind-questions.yaml")


def _time_each(fn: Callable[[str], object], questions: list[str], repeat: int) -> list[float]:
    """Per-question latency in ms: the median of `repeat` runs for each question."""
    out = []
    for q in questions:
        runs = []
        for _ in range(repeat):
            t0 = time.perf_counter()
            fn(q)
            runs.append((time.perf_counter() - t0) * 1000)
        out.append(statistics.median(runs))
    return out


def _p(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))]


def run_bench(knowledge: str | Path, questions_file: str | None, repeat: int, out: str | None) -> int:
    """Measure, print and write the results; EXIT_ERRORS when a target is missed."""
    paths = [questions_file] if questions_file else [p for p in DEFAULT_QUESTIONS if Path(p).exists()]
    if not paths:
        print("no question set found; pass --questions FILE", file=sys.stderr)
        return EXIT_USAGE
    questions = [q.q for p in paths for q in load_questions(p)]

    t0 = time.perf_counter()
    result = load(knowledge)
    load_s = time.perf_counter() - t0
    if result.kb is None:
        raise KnowledgeError(knowledge, result)
    builds = []
    for _ in range(3):
        t0 = time.perf_counter()
        matcher = Matcher(result.kb)
        builds.append(time.perf_counter() - t0)
    build_s = statistics.median(builds)
    for q in questions[:20]:  # warm caches (jieba, pinyin) before timing
        matcher.match(q)

    rows: dict[str, list[float]] = {
        "policybot": _time_each(matcher.match, questions, repeat),
        "rapidfuzz WRatio": _time_each(WRatioBaseline(result.kb).raw, questions, repeat),
        "BM25 (jieba)": _time_each(BM25Baseline(result.kb).raw, questions, repeat),
    }
    base = statistics.median(rows["rapidfuzz WRatio"])
    ours = rows["policybot"]
    checks = [
        ("median per question", statistics.median(ours), TARGET_MEDIAN_MS, "ms"),
        ("p95 per question", _p(ours, 95), TARGET_P95_MS, "ms"),
        ("index build", build_s, TARGET_BUILD_S, "s"),
    ]
    lines = [
        "# Benchmark results",
        "",
        f"Measured {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC on {platform.machine()}, "
        f"Python {platform.python_version()}, {len(questions)} questions × {repeat} repeats "
        f"(median per question), knowledge {result.kb.version} ({len(result.kb.entries)} entries).",
        "Reproduce: `python -m policybot bench` (writes this file).",
        "",
        "| matcher | median ms | p95 ms | max ms | ratio to WRatio median |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, vals in rows.items():
        med = statistics.median(vals)
        lines.append(
            f"| {name} | {med:.3f} | {_p(vals, 95):.3f} | {max(vals):.3f} | {med / base:.1f}× |"
        )
    lines += [
        "",
        f"Knowledge load and validation: {load_s:.2f} s; matcher index build: {build_s:.2f} s (median of 3).",
        "",
        "| target | measured | limit | met |",
        "|---|---:|---:|---|",
    ]
    ok = True
    for name, value, limit, unit in checks:
        met = value <= limit
        ok &= met
        lines.append(f"| {name} | {value:.2f} {unit} | {limit:g} {unit} | {'yes' if met else 'NO'} |")
    text = "\n".join(lines) + "\n"
    print(text)
    if out:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        Path(out).write_text(text, encoding="utf-8")
        print(f"written to {out}")
    return EXIT_OK if ok else EXIT_ERRORS
