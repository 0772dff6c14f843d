"""Builds the Telegram `Application`: builder, defaults, rate limiter, lifecycle and jobs.

`post_init` loads the knowledge base, builds the `Service`, opens the query log and puts
them in `bot_data`; `post_shutdown` closes the log (which flushes it). No wording, no scoring.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import sys
import urllib.parse

from telegram import BotCommand, LinkPreviewOptions, Update
from telegram.constants import ParseMode
from telegram.error import InvalidToken, TelegramError
from telegram.ext import AIORateLimiter, Application, ContextTypes, Defaults
from telegram.request import BaseRequest

from policybot import callbacks, handlers, replies
from policybot.config import Config
from policybot.knowledge import Problem, load
from policybot.model import LANG_EN, LANG_HANS
from policybot.querylog import QueryLog, SQLiteQueryLog
from policybot.service import Service

log = logging.getLogger(__name__)

PURGE_EVERY = dt.timedelta(days=1)
FIRST_PURGE = dt.timedelta(minutes=1)
# Telegram's menu: the default list (no language_code) and per client language. There is no
# separate code for Traditional Chinese clients; they get the "zh" list.
COMMAND_LANGUAGES: tuple[tuple[str | None, str], ...] = (
    (None, LANG_HANS),
    ("zh", LANG_HANS),
    ("en", LANG_EN),
)
ALLOWED_UPDATES = [Update.MESSAGE, Update.EDITED_MESSAGE, Update.CALLBACK_QUERY]


class StartupError(RuntimeError):
    """The bot cannot serve (e.g. the knowledge base has errors); the message says why."""

    def __init__(self, message: str, problems: list[Problem] | None = None) -> None:
        super().__init__(message)
        self.problems = problems or []


# --- never log the token --------------------------------------------------------------------


class TokenRedactor(logging.Filter):
    """Replaces the bot token in log records: httpx and python-telegram-bot put request URLs
    (which contain the token) into messages and exceptions."""

    MASK = "[token]"

    def __init__(self, token: str) -> None:
        super().__init__()
        self.secrets = [s for s in {token, urllib.parse.quote(token, safe="")} if s]

    def redact(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, self.MASK)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string is not ours to fix; keep the record
            return True
        record.msg, record.args = self.redact(message), None
        if record.exc_info and not record.exc_text:
            # formatters reuse exc_text, so the traceback is redacted once here
            record.exc_text = self.redact(logging.Formatter().formatException(record.exc_info))
        elif record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        if record.stack_info:
            record.stack_info = self.redact(record.stack_info)
        return True


def install_token_redaction(token: str) -> None:
    """Put a TokenRedactor on every root handler (and the last-resort one); quiet httpx."""
    logging.getLogger("httpx").setLevel(logging.WARNING)  # it logs every URL at INFO
    if not token:
        return
    targets = [*logging.getLogger().handlers]
    if logging.lastResort is not None:
        targets.append(logging.lastResort)
    for handler in targets:
        if not any(isinstance(f, TokenRedactor) and token in f.secrets for f in handler.filters):
            handler.addFilter(TokenRedactor(token))


# --- lifecycle ------------------------------------------------------------------------------


def _callback_secret(cfg: Config) -> bytes:
    try:
        return callbacks.derive_secret(cfg.salt())
    except OSError as exc:  # the salt file cannot be written: the token is secret as well
        log.warning("no hash salt (%s); button data is signed with a key from the token", exc)
        return callbacks.derive_secret("token:" + cfg.token)


async def _open_querylog(cfg: Config) -> QueryLog | None:
    try:
        querylog = SQLiteQueryLog(cfg.db_path, cfg.salt())
        await querylog.open()
    except Exception as exc:  # answering matters more than logging: serve without a log
        log.warning("query log %s unavailable (%s); questions will not be logged", cfg.db_path, exc)
        return None
    return querylog


async def _set_commands(application: Application) -> None:
    for code, lang in COMMAND_LANGUAGES:
        commands = [BotCommand(name, description) for name, description in replies.COMMANDS[lang]]
        try:
            await application.bot.set_my_commands(commands, language_code=code)
        except TelegramError as exc:  # a missing menu is cosmetic: keep going
            log.warning("setMyCommands (%s) failed: %s", code or "default", exc)


async def post_init(application: Application) -> None:
    cfg: Config = application.bot_data[handlers.CONFIG]
    result = await asyncio.to_thread(load, cfg.knowledge_dir)
    if result.kb is None:
        raise StartupError(
            f"the knowledge base in {cfg.knowledge_dir} has {len(result.errors)} error(s); fix them"
            " (python -m policybot check) and start again",
            result.errors,
        )
    if result.warnings:
        log.warning("knowledge base has %d warning(s); see python -m policybot check", len(result.warnings))
    querylog = await _open_querylog(cfg)
    overrides = {
        "answer_threshold": cfg.answer_threshold,
        "suggest_threshold": cfg.suggest_threshold,
        "margin": cfg.margin,
    }
    # building the matcher index takes a moment (segmentation, pinyin): off the event loop
    service = await asyncio.to_thread(
        Service, result.kb, querylog, knowledge_dir=cfg.knowledge_dir, overrides=overrides
    )
    application.bot_data[handlers.SERVICE] = service
    application.bot_data[handlers.QUERYLOG] = querylog
    application.bot_data[handlers.SECRET] = _callback_secret(cfg)
    log.info("serving knowledge version %s with %d entries", result.kb.version, len(result.kb.entries))
    await _set_commands(application)
    _schedule_jobs(application, cfg, querylog)


async def post_shutdown(application: Application) -> None:
    querylog: QueryLog | None = application.bot_data.get(handlers.QUERYLOG)
    if querylog is None:
        return
    await querylog.close()  # flushes what is queued


def _schedule_jobs(application: Application, cfg: Config, querylog: QueryLog | None) -> None:
    jobs = application.job_queue
    if jobs is None:
        log.warning("no job queue (python-telegram-bot[job-queue] missing): no hot reload, no purge")
        return
    if cfg.reload_interval > 0:
        jobs.run_repeating(reload_job, interval=cfg.reload_interval, first=cfg.reload_interval, name="reload")
    if querylog is not None:
        jobs.run_repeating(purge_job, interval=PURGE_EVERY, first=FIRST_PURGE, name="purge")


async def reload_job(context: ContextTypes.DEFAULT_TYPE) -> None:
    """Hot reload: a broken edit is logged by Service.reload and the old knowledge keeps serving;
    every staff member is told why, since a refused edit may be one that broke the safety net."""
    service: Service = context.bot_data[handlers.SERVICE]
    cfg: Config = context.bot_data[handlers.CONFIG]
    serving = service.kb.version
    try:
        result = await asyncio.to_thread(service.reload_if_changed)
    except Exception:
        log.exception("knowledge reload failed; still serving version %s", service.kb.version)
        return
    if result is None or result.kb is not None:
        return
    body = handlers.format_reload(result, serving)
    for staff_id in sorted(cfg.staff_ids):
        try:
            await context.bot.send_message(staff_id, body, parse_mode="HTML")
        except Exception:  # one unreachable staff member must not stop the others
            log.warning("could not tell a staff member about the refused reload")


async def purge_job(context: ContextTypes.DEFAULT_TYPE) -> None:
    querylog: QueryLog | None = context.bot_data.get(handlers.QUERYLOG)
    cfg: Config = context.bot_data[handlers.CONFIG]
    if querylog is None:
        return
    try:
        await querylog.purge(cfg.retention_days)
    except Exception:
        log.exception("query log purge failed")


# --- building -------------------------------------------------------------------------------


def _api_urls(api_base_url: str) -> tuple[str, str]:
    """TELEGRAM_API_BASE_URL -> (base_url, base_file_url); accepts the server root or .../bot."""
    root = api_base_url.rstrip("/")
    if root.endswith("/bot"):
        root = root[: -len("/bot")]
    return root + "/bot", root + "/file/bot"


def build_application(
    cfg: Config,
    *,
    request: BaseRequest | None = None,
    get_updates_request: BaseRequest | None = None,
) -> Application:
    """The configured Application; `request`/`get_updates_request` replace the HTTP transport (tests)."""
    install_token_redaction(cfg.token)
    builder = (
        Application.builder()
        .token(cfg.token)
        .defaults(
            Defaults(parse_mode=ParseMode.HTML, link_preview_options=LinkPreviewOptions(is_disabled=True))
        )
        .rate_limiter(AIORateLimiter(max_retries=3))
        .post_init(post_init)
        .post_shutdown(post_shutdown)
    )
    if cfg.api_base_url:
        base_url, base_file_url = _api_urls(cfg.api_base_url)
        builder = builder.base_url(base_url).base_file_url(base_file_url)
    if request is not None:
        builder = builder.request(request)
    if get_updates_request is not None:
        builder = builder.get_updates_request(get_updates_request)
    application = builder.build()
    application.bot_data[handlers.CONFIG] = cfg
    handlers.register(application)
    return application


def run(cfg: Config) -> int:
    """Long-poll Telegram until interrupted; 1 when the bot cannot start."""
    application = build_application(cfg)
    try:
        application.run_polling(allowed_updates=ALLOWED_UPDATES)
    except StartupError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        print(f"cannot start: {exc}", file=sys.stderr)
        return 1
    except InvalidToken:
        print("cannot start: Telegram refused TELEGRAM_BOT_TOKEN (check it with @BotFather)", file=sys.stderr)
        return 1
    return 0
