"""`python -m policybot COMMAND`: the argument wiring of every command, and nothing else.

Each command reads its settings from `Config` (so `.env` gives defaults to all of them), builds
what it needs with `bootstrap` or the knowledge loader, calls the layer that does the work and
prints the result. `main(argv, env=...)` runs in-process, which is how the tests call it.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from policybot.config import Config, ConfigError
from policybot.exitcodes import EXIT_ERRORS, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE
from policybot.knowledge import KnowledgeError
from policybot.quality.evaluate import QuestionSetError
from policybot.storage.reports import QueryLogError, QueryLogReader

if TYPE_CHECKING:
    from policybot.matching.matcher import Matcher
    from policybot.quality.evaluate import Question
    from policybot.storage.postgres import PostgresReader

Command = Callable[[argparse.Namespace, Config], int]

# -- commands ------------------------------------------------------------------------------


def cmd_check(args: argparse.Namespace, cfg: Config) -> int:
    from policybot.knowledge import load

    directory = args.directory or cfg.knowledge_dir
    result = load(directory)
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


def _matcher(args: argparse.Namespace, cfg: Config) -> Matcher:
    from policybot.bootstrap import prepared_matcher

    return prepared_matcher(cfg, Path(args.knowledge) if args.knowledge else None)


def cmd_ask(args: argparse.Namespace, cfg: Config) -> int:
    matcher = _matcher(args, cfg)
    if args.question:
        result = matcher.match(" ".join(args.question))
        if args.json:
            print(json.dumps(result.to_json(), ensure_ascii=False))
        else:
            from policybot import replies
            from policybot.console import render

            print(render(replies.build(matcher.kb, result, result.script, "")))
        return EXIT_OK
    # One question per line on standard input, one JSON line each: a whole set in one process.
    for line in sys.stdin:
        question = line.rstrip("\n")
        if question.strip():
            print(json.dumps(matcher.match(question).to_json(), ensure_ascii=False), flush=True)
    return EXIT_OK


def _questions(files: list[str]) -> list[Question]:
    from policybot.quality.evaluate import load_questions

    return [q for f in files for q in load_questions(f)]


def cmd_eval(args: argparse.Namespace, cfg: Config) -> int:
    from policybot.quality.evaluate import evaluate, format_report, format_side_by_side

    questions = _questions([args.file])
    matcher = _matcher(args, cfg)
    report = evaluate(questions, matcher.match, progress=len(questions) >= 50 and not args.json)
    title = f"policybot on {args.file} (knowledge {matcher.kb.version})"
    if not args.baselines:
        if args.json:
            safety = {"recall_by_kind": report.recall_by_kind(), "false_emergencies": report.false_by()}
            print(json.dumps({"policybot": report.figures(), "safety": safety}, ensure_ascii=False))
        else:
            print(format_report(report, title))
        return EXIT_OK
    from policybot.quality.baselines import run_baselines

    baselines, thresholds = run_baselines(matcher.kb, questions)
    reports = {"policybot": report, **baselines}
    if args.json:
        figures = {k: v.figures() for k, v in reports.items()}
        print(json.dumps(figures | {"thresholds": thresholds}, ensure_ascii=False))
        return EXIT_OK
    print(format_report(report, title))
    print()
    print("side by side (baselines at their best threshold: " +
          ", ".join(f"{k} {v:.2f}" for k, v in thresholds.items()) + ")")
    print(format_side_by_side(reports))
    return EXIT_OK


def cmd_explain(args: argparse.Namespace, cfg: Config) -> int:
    from policybot.quality.explain_format import format_analysis

    matcher = _matcher(args, cfg)
    print(format_analysis(matcher.explain(" ".join(args.question)), matcher, limit=args.top))
    return EXIT_OK


def cmd_tune(args: argparse.Namespace, cfg: Config) -> int:
    from policybot.quality.tune import format_tuning, tune

    questions = _questions(args.file)
    matcher = _matcher(args, cfg)
    print(format_tuning(tune(matcher, questions, holdout=args.holdout, seed=args.seed), matcher.settings))
    return EXIT_OK


def cmd_calibrate(args: argparse.Namespace, cfg: Config) -> int:
    from pathlib import Path

    from policybot.knowledge import load_or_raise
    from policybot.quality.calibrate import DEFAULT_TEXT, calibrate, read_out_of_scope, write_settings
    from policybot.quality.tune import format_tuning

    directory = Path(args.knowledge or cfg.knowledge_dir)
    kb = load_or_raise(directory)
    texts = read_out_of_scope(Path(args.out_of_scope or DEFAULT_TEXT), government=not args.general)
    result = calibrate(kb, texts, target=args.target)
    print(format_tuning(result.tuning, kb.settings))
    s = result.chosen.settings
    print(f"\ncalibrated (confident wrong ≤ {args.target:g} % on the tuning part): "
          f"answer_threshold {s.answer_threshold:g}, suggest_threshold {s.suggest_threshold:g}, margin {s.margin:g}, "
          f"clear_lead {s.clear_lead:g}")
    if args.write:
        write_settings(directory / "matching.yaml", s)
        print(f"written to {directory / 'matching.yaml'}")
    return EXIT_OK


def cmd_set_webhook(args: argparse.Namespace, cfg: Config) -> int:
    """Checks the settings; the registering is the bot layer's (`telegram` of `main`)."""
    if not cfg.token:
        print("set TELEGRAM_BOT_TOKEN first", file=sys.stderr)
        return EXIT_USAGE
    if not args.delete and not cfg.webhook_url:
        print("set TELEGRAM_WEBHOOK_URL and TELEGRAM_WEBHOOK_SECRET first (see .env.example)", file=sys.stderr)
        return EXIT_USAGE
    register = args.telegram.get("set-webhook")
    if register is None:
        print("run it as: python -m policybot set-webhook", file=sys.stderr)
        return EXIT_USAGE
    return int(register(args, cfg))


def cmd_chat(args: argparse.Namespace, cfg: Config) -> int:
    from policybot.console import run_console

    return run_console(cfg)


def _sizes(text: str) -> list[int]:
    try:
        sizes = [int(part.replace("_", "")) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"sizes are whole numbers of phrasings, like 1000,10000; got {text!r}") from None
    if any(s < 1 for s in sizes):
        raise argparse.ArgumentTypeError("sizes must be positive")
    return sizes


def cmd_bench(args: argparse.Namespace, cfg: Config) -> int:
    from policybot.quality.bench import run_bench

    return run_bench(args.knowledge or cfg.knowledge_dir, args.questions, args.repeat, args.out,
                     sizes=args.sizes, taipei=args.taipei, updates=args.updates, as_json=args.json)


def _reader(args: argparse.Namespace, cfg: Config) -> QueryLogReader | PostgresReader:
    """The log staff tools read: --db (a SQLite file), else POLICYBOT_DATABASE_URL, else POLICYBOT_DB."""
    if cfg.database_url and not args.db:
        from policybot.storage.postgres import PostgresReader

        return PostgresReader(cfg.database_url)
    return QueryLogReader(args.db or cfg.db_path)


def cmd_report(args: argparse.Namespace, cfg: Config) -> int:
    from policybot.knowledge import load
    from policybot.staff.report import (
        Report,
        build_report,
        entry_titles,
        parse_since,
        render_text,
        report_json,
        write_csvs,
    )

    # days are counted in the bureau's time zone unless --utc-offset says otherwise
    utc_offset = cfg.utc_offset() if args.utc_offset is None else args.utc_offset
    since = parse_since(args.since, utc_offset=utc_offset)

    async def run() -> Report:
        async with _reader(args, cfg) as reader:
            # entry questions for the tables, when the knowledge base loads (a report works without)
            titles = entry_titles(load(args.knowledge or cfg.knowledge_dir).kb)
            return await build_report(reader, since, utc_offset=utc_offset, titles=titles, top=args.top)

    report = asyncio.run(run())
    if args.csv:
        for path in write_csvs(report, args.csv):
            print(f"wrote {path}", file=sys.stderr)
    if args.json:
        print(json.dumps(report_json(report), ensure_ascii=False, indent=2))
    else:
        print(render_text(report), end="")
    return EXIT_OK


def cmd_suggest(args: argparse.Namespace, cfg: Config) -> int:
    from policybot.bootstrap import build_matcher
    from policybot.knowledge import load_or_raise
    from policybot.staff.report import parse_since
    from policybot.staff.suggest import render_suggestions, suggest_groups
    from policybot.storage.records import Group

    kb = load_or_raise(args.knowledge or cfg.knowledge_dir)
    since = parse_since(args.since)

    async def run() -> list[Group]:
        async with _reader(args, cfg) as reader:
            return await reader.unanswered_groups(since, limit=args.groups, threshold=args.similarity)

    groups = asyncio.run(run())
    matcher = build_matcher(cfg, kb)
    print(render_suggestions(suggest_groups(groups, kb, matcher.rank, min_score=args.min_score)), end="")
    return EXIT_OK


def cmd_staff_password(args: argparse.Namespace, cfg: Config) -> int:
    import getpass

    from policybot.staff.web import PASSWORD_HASH_VAR, hash_password

    if args.stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = getpass.getpass("staff page password: ")
        if getpass.getpass("again: ") != password:
            print("the two passwords differ", file=sys.stderr)
            return EXIT_USAGE
    if len(password) < 12:
        print("use at least 12 characters", file=sys.stderr)
        return EXIT_USAGE
    print(f"{PASSWORD_HASH_VAR}={hash_password(password)}")
    return EXIT_OK


def cmd_staff_web(args: argparse.Namespace, cfg: Config) -> int:
    from policybot.staff.web import serve

    if cfg.database_url and not args.db:
        return _staff_web_postgres(args, cfg)
    db = Path(args.db or cfg.db_path)
    if not db.is_file():
        raise QueryLogError(f"no query log at {db}")
    return serve(db, args.metadata, host=args.host, port=args.port, immutable=args.immutable, timezone=cfg.timezone)


def _staff_web_postgres(args: argparse.Namespace, cfg: Config) -> int:
    """Datasette reads SQLite only: it serves a copy of the PostgreSQL log, refreshed while it runs."""
    from policybot.staff.web import serve
    from policybot.storage.mirror import refresh

    copy = cfg.db_path.parent / "staff-copy" / "policybot.sqlite3"
    try:
        first = asyncio.run(refresh(cfg.database_url, copy))
    except Exception as exc:  # any failure to read the log: one clear line
        raise QueryLogError(f"cannot copy the PostgreSQL log for the staff page: {exc}") from None
    print(f"staff page: a copy of the PostgreSQL log ({first.copied} rows) at {copy},"
          f" refreshed every {args.refresh:g} s", file=sys.stderr)

    def again() -> None:
        try:
            asyncio.run(refresh(cfg.database_url, copy))
        except Exception as exc:  # keep serving the last copy; say why
            print(f"staff page: the copy was not refreshed ({type(exc).__name__}: {exc});"
                  " it shows the last copy", file=sys.stderr)

    return serve(copy, args.metadata, host=args.host, port=args.port, timezone=cfg.timezone,
                 refresh=again, every=args.refresh)


# -- arguments -----------------------------------------------------------------------------


def _since(value: str) -> str:
    from policybot.staff.report import parse_since

    try:
        parse_since(value)  # validated now, parsed later with the chosen UTC offset
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return value


def _utc_offset(value: str) -> dt.timedelta:
    from policybot.staff.report import parse_utc_offset

    try:
        return parse_utc_offset(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def build_parser() -> argparse.ArgumentParser:
    from policybot.staff.web import STAFF_METADATA

    parser = argparse.ArgumentParser(
        prog="python -m policybot", description="policybot: health-policy questions answered from knowledge/"
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, func: Command, help: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help)
        p.set_defaults(func=func)
        return p

    def knowledge_opt(p: argparse.ArgumentParser) -> None:
        p.add_argument("--knowledge", help="knowledge directory (default: POLICYBOT_KNOWLEDGE_DIR, else knowledge)")

    def db_opt(p: argparse.ArgumentParser) -> None:
        p.add_argument("--db", help="query log database (default: POLICYBOT_DB, else data/policybot.sqlite3)")
        knowledge_opt(p)

    p = command("check", cmd_check, "validate the knowledge base; every problem as file:line: message")
    p.add_argument("directory", nargs="?", help="default: POLICYBOT_KNOWLEDGE_DIR, else knowledge")

    p = command("ask", cmd_ask, "print the reply a resident would get (stdin: one JSON line per question)")
    p.add_argument("question", nargs="*")
    p.add_argument("--json", action="store_true", help="print {query, status, id, score, candidates}")
    knowledge_opt(p)

    p = command("eval", cmd_eval, "score a labelled question set")
    p.add_argument("file")
    p.add_argument("--baselines", action="store_true", help="also score WRatio and BM25 baselines")
    p.add_argument("--json", action="store_true")
    knowledge_opt(p)

    p = command("explain", cmd_explain, "show why the matcher chose what it chose")
    p.add_argument("question", nargs="+")
    p.add_argument("--top", type=int, default=5)
    knowledge_opt(p)

    p = command("tune", cmd_tune, "search thresholds on labelled sets and print the trade-off")
    p.add_argument("file", nargs="+", help="one or more question sets (combined)")
    p.add_argument("--holdout", type=float, default=0.3, help="share of the set held out for validation")
    p.add_argument("--seed", type=int, default=7)
    knowledge_opt(p)

    p = command("calibrate", cmd_calibrate, "thresholds from the knowledge base alone (no labelled questions)")
    p.add_argument("--target", type=float, default=1.0, help="confident wrong answers to stay under, %% of all")
    p.add_argument("--out-of-scope", default=None, help="file of out-of-subject questions, one a line")
    p.add_argument("--general", action="store_true", help="a general government FAQ: other services are in scope")
    p.add_argument("--write", action="store_true", help="write the thresholds into the knowledge's matching.yaml")
    knowledge_opt(p)

    command("chat", cmd_chat, "the console chat (what `python bot.py` starts without a token)")

    p = command("set-webhook", cmd_set_webhook, "register TELEGRAM_WEBHOOK_URL with Telegram (once, not per replica)")
    p.add_argument("--delete", action="store_true", help="remove the webhook (back to long polling)")

    p = command("bench", cmd_bench, "speed, load, start, memory and updates/s beside the baselines; writes docs/benchmarks.md")
    p.add_argument("--questions", default=None, help="question set for the shipped knowledge (default: dev + blind sets)")
    p.add_argument("--repeat", type=int, default=5, help="runs of each question (median taken)")
    p.add_argument("--sizes", type=_sizes, default=[], help="synthetic knowledge bases, in phrasings: 1000,10000,100000")
    p.add_argument("--taipei", default=None, help="the Taipei FAQ folder (default ../shared/eval/external/tpe)")
    p.add_argument("--updates", type=int, default=2000, help="updates in the end-to-end run")
    p.add_argument("--json", action="store_true", help="print the results as one JSON object")
    p.add_argument("--out", default="docs/benchmarks.md", help="results file to write ('' = none)")
    knowledge_opt(p)

    p = command("report", cmd_report, "query log report: volume, answer rate, gaps")
    db_opt(p)
    p.add_argument("--since", default="7d", type=_since, help="7d, 24h, 30d or an ISO date (default 7d)")
    p.add_argument(
        "--utc-offset", default=None, type=_utc_offset,
        help="days are counted at this offset, like +08:00 or 'local' (default: POLICYBOT_TIMEZONE)"
    )
    p.add_argument("--top", type=int, default=10, help="rows in the entry and group tables (default 10)")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of tables")
    p.add_argument("--csv", metavar="DIR", help="also write one CSV per table into DIR")

    p = command("suggest", cmd_suggest, "YAML snippets that close gaps found in the query log")
    db_opt(p)
    p.add_argument("--since", default="30d", type=_since, help="default 30d")
    p.add_argument("--groups", type=int, default=20, help="at most this many groups (default 20)")
    p.add_argument(
        "--min-score",
        type=float,
        default=None,
        help="nearest score from which alternates are suggested instead of a new entry"
        " (default: the knowledge base's suggest_threshold)",
    )
    p.add_argument("--similarity", type=float, default=70.0, help="grouping similarity 0-100 (default 70)")

    p = command("staff-password", cmd_staff_password, "make the staff page's password hash (a line for .env)")
    p.add_argument("--stdin", action="store_true", help="read the password from standard input")

    p = command("staff-web", cmd_staff_web, "serve the query log read-only with Datasette, behind the staff login")
    db_opt(p)
    p.add_argument("--host", default="127.0.0.1", help="default 127.0.0.1 (put TLS in front to reach it from elsewhere)")
    p.add_argument("--port", type=int, default=8001)
    p.add_argument("--metadata", default=str(STAFF_METADATA), help="Datasette metadata (default staff/metadata.yml)")
    p.add_argument(
        "--immutable",
        action="store_true",
        help="serve a snapshot file with -i (never a live log: immutable mode ignores the WAL)",
    )
    p.add_argument("--refresh", type=float, default=60.0, metavar="SECONDS",
                   help="with POLICYBOT_DATABASE_URL: how often the page's copy of the PostgreSQL log is refreshed")
    return parser


def main(
    argv: list[str] | None = None,
    *,
    env: Mapping[str, str] | None = None,
    telegram: Mapping[str, Callable[[argparse.Namespace, Config], int]] | None = None,
) -> int:
    """Run one command. `env` replaces the environment (and .env) for the settings; `telegram`
    holds the commands that talk to Telegram (this layer may not import the bot layer, so the
    entry point, policybot/__main__.py, hands them in)."""
    args = build_parser().parse_args(argv)
    args.telegram = dict(telegram or {})
    try:
        cfg = Config.from_env(env)
        return int(args.func(args, cfg))
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KnowledgeError as exc:
        exc.print(sys.stderr)
        return EXIT_ERRORS
    except QuestionSetError as exc:
        print(exc, file=sys.stderr)
        return EXIT_USAGE
    except QueryLogError as exc:
        print(f"{exc} (the log is set with --db or POLICYBOT_DB)", file=sys.stderr)
        return EXIT_ERRORS
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
