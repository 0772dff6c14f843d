"""`bench`: how fast policybot answers, loads, builds and starts, beside the baselines measured
in the same run, on the shipped knowledge base, the Taipei City Government FAQ and synthetic
knowledge bases grown from it; and how many updates a second the whole bot handles.

The machine is small and noisy: every per-question figure is the median over repeats, and each
is also given as a ratio to rapidfuzz WRatio (`process.extractOne` over every phrasing) and to
`bm25s` (over jieba tokens of each entry) timed in the same child process. Each measurement runs
in a child process of its own, so peak memory is that knowledge base's and a start is a real
start. Targets are checked here, never in unit tests.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from policybot.exitcodes import EXIT_ERRORS, EXIT_OK, EXIT_USAGE
from policybot.quality.evaluate import load_questions

DEFAULT_QUESTIONS = ("../shared/eval/dev-questions.yaml", "tests/data/blind-questions.yaml")
TAIPEI_OUT_OF_SCOPE = Path("tests/data/tpe-out-of-scope.yaml")
START_QUESTION = "高血压慢病卡怎么办理"
SYNTHETIC_QUESTIONS = 300  # Taipei questions timed on each synthetic size


@dataclass(frozen=True)
class Target:
    name: str
    limit: float
    unit: str
    value: Callable[[dict[str, Any]], float | None]
    at_least: bool = False


def _get(results: dict[str, Any], *path: str) -> float | None:
    node: Any = results
    for key in path:
        if not isinstance(node, dict) or key not in node:
            return None
        node = node[key]
    return float(node)


def _ratio(results: dict[str, Any], kb: str, other: str) -> float | None:
    ours, base = _get(results, kb, "policybot", "median_ms"), _get(results, kb, other, "median_ms")
    return None if ours is None or not base else ours / base


TARGETS = (
    Target("shipped: median vs WRatio", 0.5, "×", lambda r: _ratio(r, "shipped", "wratio")),
    Target("shipped: p99 per question", 2.0, "ms", lambda r: _get(r, "shipped", "policybot", "p99_ms")),
    Target("Taipei FAQ: median vs WRatio", 0.25, "×", lambda r: _ratio(r, "taipei", "wratio")),
    Target("Taipei FAQ: p99 per question", 5.0, "ms", lambda r: _get(r, "taipei", "policybot", "p99_ms")),
    Target("100,000 phrasings: median", 5.0, "ms", lambda r: _get(r, "synthetic-100000", "policybot", "median_ms")),
    Target("100,000 phrasings: p99", 20.0, "ms", lambda r: _get(r, "synthetic-100000", "policybot", "p99_ms")),
    Target("100,000 phrasings: load + validate", 30.0, "s", lambda r: _get(r, "synthetic-100000", "load_s")),
    Target("100,000 phrasings: index build", 30.0, "s", lambda r: _get(r, "synthetic-100000", "build_s")),
    Target("100,000 phrasings: peak memory", 600.0, "MB", lambda r: _get(r, "synthetic-100000", "peak_mb")),
    Target("100,000 phrasings: start from the cache", 5.0, "s", lambda r: _get(r, "synthetic-100000", "start", "cached_s")),
    Target("shipped: start to first answer, from the cache", 1.0, "s", lambda r: _get(r, "shipped", "start", "cached_s")),
    Target("end to end, query log on", 1000.0, "updates/s", lambda r: _get(r, "e2e", "policybot", "per_second"), True),
    Target("end to end vs the echo bot", 0.4, "×", lambda r: _get(r, "e2e", "ratio"), True),
)


# --- child process: one knowledge base --------------------------------------------------------


def _percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))]


def _time_each(fn: Callable[[str], object], questions: list[str], repeat: int,
               reset: Callable[[], None] | None = None) -> dict[str, float]:
    """Per question the median of `repeat` runs, in ms; then their median and p99. `reset`
    runs (untimed) before each run: no memo of the whole message may serve a repeat."""
    per_question = []
    for q in questions:
        runs = []
        for _ in range(repeat):
            if reset is not None:
                reset()
            t0 = time.perf_counter()
            fn(q)
            runs.append((time.perf_counter() - t0) * 1000)
        per_question.append(statistics.median(runs))
    return {"median_ms": statistics.median(per_question), "p99_ms": _percentile(per_question, 99)}


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux


def measure_speed(knowledge: Path, questions: list[str], repeat: int) -> dict[str, Any]:
    """Load, build and per-question times of policybot and of both baselines, on one knowledge base."""
    import bm25s
    from rapidfuzz import fuzz, process, utils

    from policybot.knowledge import KnowledgeError, load
    from policybot.matching.matcher import Matcher
    from policybot.matching.vocabulary import new_tokenizer

    t0 = time.perf_counter()
    result = load(knowledge)
    load_s = time.perf_counter() - t0
    if result.kb is None:
        raise KnowledgeError(knowledge, result)
    kb = result.kb
    t0 = time.perf_counter()
    matcher = Matcher(kb)
    build_s = time.perf_counter() - t0
    peak = _peak_mb()  # before the baselines add theirs
    out: dict[str, Any] = {
        "entries": len(kb.entries),
        "phrasings": sum(len(e.phrasings) for e in kb.entries.values()),
        "questions": len(questions),
        "load_s": load_s,
        "build_s": build_s,
        "peak_mb": peak,
    }
    for q in questions[:20]:  # warm the caches (jieba, pinyin) before timing
        matcher.match(q)
    out["policybot"] = _time_each(matcher.match, questions, repeat, reset=matcher.forget_recent)

    t0 = time.perf_counter()
    choices = [p for e in kb.entries.values() for p in e.phrasings]
    processed = [utils.default_process(p) for p in choices]
    wratio_build = time.perf_counter() - t0

    def wratio(q: str) -> object:
        return process.extractOne(utils.default_process(q), processed, scorer=fuzz.WRatio)

    out["wratio"] = {**_time_each(wratio, questions, repeat), "build_s": wratio_build}

    tokenizer = new_tokenizer()

    def tokens(text: str) -> list[str]:
        return [t for t in tokenizer.lcut(utils.default_process(text)) if t.strip()]

    t0 = time.perf_counter()
    retriever = bm25s.BM25()
    retriever.index([[t for p in e.phrasings for t in tokens(p)] for e in kb.entries.values()],
                    show_progress=False)
    bm25_build = time.perf_counter() - t0

    def bm25(q: str) -> object:
        words = tokens(q)
        return int(retriever.get_scores(words).argmax()) if words else None

    out["bm25s"] = {**_time_each(bm25, questions, repeat), "build_s": bm25_build}
    return out


def _run_child(argv: list[str], env: dict[str, str] | None = None) -> tuple[float, str]:
    """(wall seconds, standard output) of a child that must succeed."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True)  # noqa: S603 (our interpreter, our arguments)
    stdout, stderr = proc.communicate()
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv[:4])} … failed ({proc.returncode}):\n{stderr[-2000:]}")
    return wall, stdout


def measure_start(knowledge: Path, runs: int = 3) -> dict[str, float]:
    """Seconds from `python -m policybot ask` to its printed answer: once building (an empty
    cache), then the median of `runs` starts from the cache."""
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "POLICYBOT_KNOWLEDGE_DIR": str(knowledge), "POLICYBOT_CACHE_DIR": tmp,
               "TELEGRAM_BOT_TOKEN": ""}
        argv = [sys.executable, "-m", "policybot", "ask", START_QUESTION]
        cold, _ = _run_child(argv, env)
        warm = [_run_child(argv, env)[0] for _ in range(runs)]
    return {"cold_s": cold, "cached_s": statistics.median(warm)}


def _child_main(argv: list[str]) -> int:
    """`python -m policybot.quality.bench speed KNOWLEDGE QUESTIONS_JSON REPEAT` (bench's child)."""
    kind, knowledge, questions_file, repeat = argv
    if kind != "speed":
        return EXIT_USAGE
    questions = json.loads(Path(questions_file).read_text(encoding="utf-8"))
    print(json.dumps(measure_speed(Path(knowledge), questions, int(repeat))))
    return EXIT_OK


# --- parent: the whole run ---------------------------------------------------------------------


def _speed_child(knowledge: Path, questions: list[str], repeat: int, tmp: Path) -> dict[str, Any]:
    qfile = tmp / f"questions-{len(questions)}.json"
    qfile.write_text(json.dumps(questions, ensure_ascii=False), encoding="utf-8")
    argv = [sys.executable, "-m", "policybot.quality.bench", "speed", str(knowledge), str(qfile), str(repeat)]
    _, stdout = _run_child(argv)
    return dict(json.loads(stdout))


def _e2e_child(knowledge: Path, questions: list[str], updates: int, tmp: Path) -> dict[str, Any]:
    qfile = tmp / "e2e-questions.txt"
    qfile.write_text("\n".join(q.replace("\n", " ") for q in questions), encoding="utf-8")
    argv = [sys.executable, "-m", "policybot.bot.throughput", "--json", "--questions", str(qfile),
            "--knowledge", str(knowledge), "--updates", str(updates)]
    _, stdout = _run_child(argv)
    return dict(json.loads(stdout))


def run_bench(
    knowledge: str | Path,
    questions_file: str | None,
    repeat: int,
    out: str | None,
    *,
    sizes: list[int] | None = None,
    taipei: str | Path | None = None,
    updates: int = 2000,
    as_json: bool = False,
) -> int:
    """Measure, print and write the results; EXIT_ERRORS when a target is missed."""
    from tqdm import tqdm

    from policybot.quality import corpora

    paths = [questions_file] if questions_file else [p for p in DEFAULT_QUESTIONS if Path(p).exists()]
    if not paths:
        print("no question set found; pass --questions FILE", file=sys.stderr)
        return EXIT_USAGE
    shipped_questions = [q.q for p in paths for q in load_questions(p)]
    taipei_dir = Path(taipei) if taipei else corpora.TAIPEI
    has_taipei = (taipei_dir / "faq.yaml").exists()
    sizes = sizes or []
    if sizes and not has_taipei:
        print(f"synthetic sizes are grown from the Taipei FAQ, not found at {taipei_dir}", file=sys.stderr)
        return EXIT_USAGE
    knowledge = Path(knowledge)
    steps = 3 + (1 if has_taipei else 0) + 2 * len(sizes)
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="policybot-bench-") as tmp_name, \
            tqdm(total=steps, desc="bench", unit="step", file=sys.stderr) as bar:
        tmp = Path(tmp_name)

        def step(label: str) -> None:
            bar.set_postfix_str(label)

        step("shipped knowledge")
        results["shipped"] = _speed_child(knowledge, shipped_questions, repeat, tmp)
        bar.update()
        step("shipped: starts")
        results["shipped"]["start"] = measure_start(knowledge)
        bar.update()
        step("end to end")
        results["e2e"] = _e2e_child(knowledge, shipped_questions, updates, tmp)
        results["e2e"]["questions"] = len(set(shipped_questions))
        bar.update()
        if has_taipei:
            entries = corpora.taipei_entries(taipei_dir / "faq.yaml")
            questions = [q.q for q in load_questions(str(taipei_dir / "questions.yaml"))]
            if TAIPEI_OUT_OF_SCOPE.exists():
                questions += [q.q for q in load_questions(str(TAIPEI_OUT_OF_SCOPE))]
            safety = knowledge / "safety.yaml"
            step("Taipei FAQ")
            tpe = corpora.write_knowledge(tmp / "taipei", entries, safety)
            results["taipei"] = _speed_child(tpe, questions, repeat, tmp)
            bar.update()
            for size in sizes:
                key = f"synthetic-{size}"
                step(f"{size:,} phrasings")
                grown = corpora.write_knowledge(tmp / key, corpora.grow(entries, size), safety)
                results[key] = _speed_child(grown, questions[:SYNTHETIC_QUESTIONS], 1 if size > 10_000 else repeat, tmp)
                bar.update()
                step(f"{size:,} phrasings: starts")
                results[key]["start"] = measure_start(grown, runs=1 if size > 10_000 else 3)
                shutil.rmtree(grown, ignore_errors=True)
                bar.update()
    checks = [(t, t.value(results)) for t in TARGETS]
    ok = all(v is None or (v >= t.limit if t.at_least else v <= t.limit) for t, v in checks)
    if as_json:
        print(json.dumps({"results": results, "targets": [
            {"name": t.name, "limit": t.limit, "unit": t.unit, "value": v,
             "met": None if v is None else (v >= t.limit if t.at_least else v <= t.limit)}
            for t, v in checks]}, ensure_ascii=False))
    text = render(results, checks, repeat, updates, " ".join(_command_line(sizes, repeat, updates)))
    if not as_json:
        print(text)
    if out:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        Path(out).write_text(text, encoding="utf-8")
        print(f"written to {out}", file=sys.stderr)
    return EXIT_OK if ok else EXIT_ERRORS


def _command_line(sizes: list[int], repeat: int, updates: int) -> list[str]:
    cmd = ["python", "-m", "policybot", "bench"]
    if sizes:
        cmd += ["--sizes", ",".join(str(s) for s in sizes)]
    if repeat != 5:
        cmd += ["--repeat", str(repeat)]
    if updates != 2000:
        cmd += ["--updates", str(updates)]
    return cmd


def _machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, {platform.system()}"


def _fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "—"
    if unit in ("×",):
        return f"{value:.2f}×"
    if unit == "updates/s":
        return f"{value:,.0f} updates/s"
    return f"{value:,.2f} {unit}"


def _kb_name(key: str) -> str:
    if key.startswith("synthetic-"):
        return f"synthetic, {int(key.split('-')[1]):,}"
    return {"shipped": "shipped", "taipei": "Taipei FAQ"}.get(key, key)


def render(results: dict[str, Any], checks: list[tuple[Target, float | None]], repeat: int, updates: int,
           command: str) -> str:
    lines = [
        "# Benchmarks",
        "",
        f"Measured {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC on {_machine()}.",
        f"Command: `{command}` (writes this file). Per-question times are the median of {repeat} runs "
        "of each question (one run at sizes above 10,000); every baseline ran in the same child "
        "process as policybot, just after it. Ratios are policybot's time over the baseline's.",
        "",
        "## Per question",
        "",
        "| knowledge base | entries | phrasings | questions | policybot median / p99 ms | WRatio median / p99 ms "
        "| bm25s median / p99 ms | vs WRatio | vs bm25s |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    kbs = [k for k in results if k != "e2e"]
    for key in kbs:
        r = results[key]
        name = _kb_name(key)
        ours, wr, bm = r["policybot"], r["wratio"], r["bm25s"]
        lines.append(
            f"| {name} | {r['entries']:,} | {r['phrasings']:,} | {r['questions']} "
            f"| {ours['median_ms']:.2f} / {ours['p99_ms']:.2f} | {wr['median_ms']:.2f} / {wr['p99_ms']:.2f} "
            f"| {bm['median_ms']:.2f} / {bm['p99_ms']:.2f} | {ours['median_ms'] / wr['median_ms']:.2f}× "
            f"| {ours['median_ms'] / bm['median_ms']:.1f}× |"
        )
    lines += [
        "",
        "## Load, build, start, memory",
        "",
        "Load = read and check every file (the checker's errors and warnings included); build = "
        "the matcher's index (bm25s's own index build beside it); start = `python -m policybot ask` "
        "until its answer is printed, first with an empty cache (load + build), then from the cache "
        "(median of 3 starts, one above 10,000); peak = the child's maximum resident memory after "
        "load and build, before the baselines are built.",
        "",
        "| knowledge base | load + validate s | index build s | bm25s build s | start, building s "
        "| start from cache s | peak MB |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for key in kbs:
        r = results[key]
        name = _kb_name(key)
        start = r.get("start", {})
        cold = f"{start['cold_s']:.2f}" if "cold_s" in start else "—"
        cached = f"{start['cached_s']:.2f}" if "cached_s" in start else "—"
        lines.append(
            f"| {name} | {r['load_s']:.2f} | {r['build_s']:.2f} | {r['bm25s']['build_s']:.2f} | {cold} "
            f"| {cached} | {r['peak_mb']:.0f} |"
        )
    e2e = results.get("e2e")
    if e2e:
        ours, echo = e2e["policybot"], e2e["echo"]
        lines += [
            "",
            "## End to end",
            "",
            f"{ours['updates']:,} private text messages from 200 residents through the real "
            "python-telegram-bot `Application`, with a fake Bot API transport in the same process "
            "(no network) and Telegram's send limits off (`python -m policybot.bot.throughput`). "
            "A bare echo bot gets the same messages in the same run. The messages are the shipped "
            f"question sets ({e2e['questions']} questions). In the first pass each one is numbered, "
            "so no two are alike and no cache of recent messages helps; the targets are checked "
            "on that pass. In the second pass the same questions come again and again, as hot "
            "questions do.",
            "",
            "| bot | updates/s | query log rows |",
            "|---|---:|---:|",
            f"| policybot (safety net, matcher, reply, query log), every message distinct | "
            f"{ours['per_second']:,.0f} | {ours['logged']:,} of {ours['updates']:,} |",
            f"| policybot, the questions cycled | {ours.get('cycled_per_second', 0):,.0f} | |",
            f"| bare echo bot | {echo['per_second']:,.0f} | — |",
            f"| ratio (distinct) | {e2e['ratio']:.2f}× | |",
        ]
        if "lag_max_ms" in ours:
            lines += [
                "",
                f"The event loop stays free: in a second pass, the same messages arriving at "
                f"{ours.get('lag_rate', 0):,.0f} a second, a 1 ms ticker on policybot's loop woke at most "
                f"{ours['lag_max_ms']:.1f} ms late (p99 {ours['lag_p99_ms']:.1f} ms): the longest a new "
                "message, a crisis say, waited on other chats' work.",
            ]
    lines += ["", "## Targets", "", "| target | measured | limit | met |", "|---|---:|---:|---|"]
    for t, v in checks:
        met = "not measured" if v is None else ("yes" if (v >= t.limit if t.at_least else v <= t.limit) else "NO")
        limit = f"≥ {_fmt(t.limit, t.unit)}" if t.at_least else f"≤ {_fmt(t.limit, t.unit)}"
        lines.append(f"| {t.name} | {_fmt(v, t.unit)} | {limit} | {met} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    raise SystemExit(_child_main(sys.argv[1:]))
