"""`python -m policybot COMMAND`: check, ask, eval, explain, tune, chat, report, suggest, staff-web, bench."""

from __future__ import annotations

import argparse
import json
import os
import sys

from policybot.config import Config, ConfigError

EXIT_OK, EXIT_ERRORS, EXIT_USAGE = 0, 1, 2


def _default_knowledge() -> str:
    return os.environ.get("POLICYBOT_KNOWLEDGE_DIR") or "knowledge"


def _load_kb(directory: str):
    """The knowledge base, or None after printing its errors (file:line: message)."""
    from policybot.knowledge import load

    result = load(directory)
    if result.kb is None:
        for p in result.errors:
            print(p, file=sys.stderr)
        print(f"{len(result.errors)} error(s) in {directory}; run `python -m policybot check {directory}`",
              file=sys.stderr)
    return result.kb


def _matcher(args: argparse.Namespace):
    from policybot.matcher import Matcher
    from policybot.service import apply_overrides

    kb = _load_kb(args.knowledge)
    if kb is None:
        return None
    cfg = Config.from_env()
    settings = apply_overrides(
        kb.settings,
        answer_threshold=cfg.answer_threshold,
        suggest_threshold=cfg.suggest_threshold,
        margin=cfg.margin,
    )
    return Matcher(kb, settings)


def _questions_and_matcher(args: argparse.Namespace, files: list[str]):
    """The labelled questions of `files` and a matcher, or an exit code after printing why."""
    from policybot.evaluate import QuestionSetError, load_questions

    try:
        questions = [q for f in files for q in load_questions(f)]
    except QuestionSetError as exc:
        print(exc, file=sys.stderr)
        return EXIT_USAGE
    matcher = _matcher(args)
    return (questions, matcher) if matcher is not None else EXIT_ERRORS


# -- commands ------------------------------------------------------------------------------


def cmd_check(args: argparse.Namespace) -> int:
    from policybot.knowledge import load

    result = load(args.directory)
    for p in result.problems:
        print(p)
    n_err, n_warn = len(result.errors), len(result.warnings)
    if result.kb is not None:
        kb = result.kb
        print(
            f"ok: {len(kb.entries)} entries in {len(kb.categories)} categories, "
            f"{sum(len(e.phrasings) for e in kb.entries.values())} phrasings, "
            f"{len(kb.synonyms)} synonym groups, {len(kb.safety.rules)} safety rules in {len(kb.safety.kinds)} kinds; "
            f"{n_warn} warning(s); version {kb.version}"
        )
        return EXIT_OK
    print(f"{n_err} error(s), {n_warn} warning(s)")
    return EXIT_ERRORS


def cmd_ask(args: argparse.Namespace) -> int:
    from policybot import replies

    matcher = _matcher(args)
    if matcher is None:
        return EXIT_ERRORS
    if args.question:
        question = " ".join(args.question)
        result = matcher.match(question)
        if args.json:
            print(json.dumps(result.to_json(), ensure_ascii=False))
        else:
            from policybot.console import render

            reply = replies.build(matcher.kb, result, result.script, "")
            print(render(reply))
        return EXIT_OK
    # One question per line on standard input, one JSON line each: a whole set in one process.
    for line in sys.stdin:
        question = line.rstrip("\n")
        if not question.strip():
            continue
        print(json.dumps(matcher.match(question).to_json(), ensure_ascii=False), flush=True)
    return EXIT_OK


def cmd_eval(args: argparse.Namespace) -> int:
    from policybot.evaluate import evaluate, format_report, format_side_by_side

    loaded = _questions_and_matcher(args, [args.file])
    if isinstance(loaded, int):
        return loaded
    questions, matcher = loaded
    report = evaluate(questions, matcher.match, progress=len(questions) >= 50 and not args.json)
    if not args.baselines:
        if args.json:
            safety = {"recall_by_kind": report.recall_by_kind(), "false_emergencies": report.false_by()}
            print(json.dumps({"policybot": report.figures(), "safety": safety}, ensure_ascii=False))
        else:
            print(format_report(report, f"policybot on {args.file} (knowledge {matcher.kb.version})"))
        return EXIT_OK
    from policybot.baselines import BM25Baseline, WRatioBaseline, best_threshold

    reports = {"policybot": report}
    thresholds = {}
    for base in (WRatioBaseline(matcher.kb), BM25Baseline(matcher.kb)):
        t, rep = best_threshold(base.raw, questions)
        reports[base.name] = rep
        thresholds[base.name] = t
    if args.json:
        print(json.dumps({k: v.figures() for k, v in reports.items()} | {"thresholds": thresholds},
                         ensure_ascii=False))
        return EXIT_OK
    print(format_report(report, f"policybot on {args.file} (knowledge {matcher.kb.version})"))
    print()
    print("side by side (baselines at their best threshold: " +
          ", ".join(f"{k} {v:.2f}" for k, v in thresholds.items()) + ")")
    print(format_side_by_side(reports))
    return EXIT_OK


def cmd_explain(args: argparse.Namespace) -> int:
    from policybot.explain import format_analysis

    matcher = _matcher(args)
    if matcher is None:
        return EXIT_ERRORS
    analysis = matcher.explain(" ".join(args.question))
    print(format_analysis(analysis, matcher, limit=args.top))
    return EXIT_OK


def cmd_tune(args: argparse.Namespace) -> int:
    from policybot.tune import format_tuning, tune

    loaded = _questions_and_matcher(args, args.file)
    if isinstance(loaded, int):
        return loaded
    questions, matcher = loaded
    print(format_tuning(tune(matcher, questions, holdout=args.holdout, seed=args.seed), matcher.settings))
    return EXIT_OK


def cmd_chat(args: argparse.Namespace) -> int:
    from policybot.console import run_console

    return run_console(Config.from_env())


def cmd_bench(args: argparse.Namespace) -> int:
    from policybot.bench import run_bench

    return run_bench(args)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m policybot", description="policybot: health-policy questions answered from knowledge/"
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("check", help="validate the knowledge base; every problem as file:line: message")
    p.add_argument("directory", nargs="?", default=_default_knowledge())
    p.set_defaults(func=cmd_check)

    def knowledge_opt(p: argparse.ArgumentParser) -> None:
        p.add_argument("--knowledge", default=_default_knowledge(), help="knowledge directory")

    p = sub.add_parser("ask", help="print the reply a resident would get (stdin: one JSON line per question)")
    p.add_argument("question", nargs="*")
    p.add_argument("--json", action="store_true", help="print {query, status, id, score, candidates}")
    knowledge_opt(p)
    p.set_defaults(func=cmd_ask)

    p = sub.add_parser("eval", help="score a labelled question set")
    p.add_argument("file")
    p.add_argument("--baselines", action="store_true", help="also score WRatio and BM25 baselines")
    p.add_argument("--json", action="store_true")
    knowledge_opt(p)
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser("explain", help="show why the matcher chose what it chose")
    p.add_argument("question", nargs="+")
    p.add_argument("--top", type=int, default=5)
    knowledge_opt(p)
    p.set_defaults(func=cmd_explain)

    p = sub.add_parser("tune", help="search thresholds on labelled sets and print the trade-off")
    p.add_argument("file", nargs="+", help="one or more question sets (combined)")
    p.add_argument("--holdout", type=float, default=0.3, help="share of the set held out for validation")
    p.add_argument("--seed", type=int, default=7)
    knowledge_opt(p)
    p.set_defaults(func=cmd_tune)

    p = sub.add_parser("chat", help="the console chat (what `python bot.py` starts without a token)")
    p.set_defaults(func=cmd_chat)

    p = sub.add_parser("bench", help="measure matcher speed against baselines; write bench results")
    p.add_argument("--questions", default=None, help="question set (default: the dev set if present)")
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--out", default="docs/bench-results.md")
    knowledge_opt(p)
    p.set_defaults(func=cmd_bench)

    try:
        from policybot import review
    except ImportError:  # review tools need the query log module
        review = None  # type: ignore[assignment]
    if review is not None:
        review.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())

