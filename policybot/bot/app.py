"""Builds the Telegram `Application`: builder, defaults, rate limiter, lifecycle and jobs.

`post_init` starts the `Service` (bootstrap.start_service) and puts it, with the key that signs
button data, in the typed `BotData`; `post_shutdown` closes the query log (which flushes it).
No wording, no scoring.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import logging
import sys
from collections.abc import Callable

from telegram import Bot, BotCommand, LinkPreviewOptions, Update
from telegram.constants import ParseMode
from telegram.error import InvalidToken, TelegramError
from telegram.ext import Application, Defaults
from telegram.request import BaseRequest

from policybot import bootstrap, replies
from policybot.bot import callback_data, handlers
from policybot.bot.context import CONTEXT_TYPES, BotApplication, BotContext
from policybot.bot.fairness import FloodGate, PerChatOrder, PriorityRateLimiter
from policybot.bot.redaction import install_token_redaction
from policybot.config import Config
from policybot.exitcodes import EXIT_ERRORS, EXIT_OK
from policybot.knowledge import KnowledgeError
from policybot.model import LANG_EN, LANG_HANS
from policybot.staff.texts import format_health, format_reload

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


# --- lifecycle ------------------------------------------------------------------------------


def _callback_secret(cfg: Config) -> bytes:
    try:
        return callback_data.derive_secret(cfg.salt())
    except OSError as exc:  # the salt file cannot be written: the token is secret as well
        log.warning("no hash salt (%s); button data is signed with a key from the token", exc)
        return callback_data.derive_secret("token:" + cfg.token)


async def _set_commands(application: BotApplication) -> None:
    for code, lang in COMMAND_LANGUAGES:
        commands = [BotCommand(name, description) for name, description in replies.COMMANDS[lang]]
        try:
            await application.bot.set_my_commands(commands, language_code=code)
        except TelegramError as exc:  # a missing menu is cosmetic: keep going
            log.warning("setMyCommands (%s) failed: %s", code or "default", exc)


async def post_init(application: BotApplication) -> None:
    """Start the service; a knowledge base with errors stops the bot (KnowledgeError)."""
    data = application.bot_data
    service = await bootstrap.start_service(data.config)
    data.service = service
    data.secret = _callback_secret(data.config)
    await _set_commands(application)
    _schedule_jobs(application, data.config, with_purge=service.querylog is not None)
    if service.querylog is not None and not service.querylog.health().healthy:
        # e.g. a damaged log moved aside at start: staff must know before they read /stats
        await tell_staff(application.bot, data.config, format_health(service.querylog.health()))


async def tell_staff(bot: Bot, cfg: Config, body: str) -> None:
    """Send `body` to every staff member; one unreachable member does not stop the others."""
    for staff_id in sorted(cfg.staff_ids):
        try:
            await bot.send_message(staff_id, body, parse_mode=ParseMode.HTML)
        except Exception:
            log.warning("could not reach a staff member")


async def post_shutdown(application: BotApplication) -> None:
    service = application.bot_data.service
    if service is not None:
        await bootstrap.stop_service(service)


def _schedule_jobs(application: BotApplication, cfg: Config, *, with_purge: bool) -> None:
    jobs = application.job_queue
    if jobs is None:
        log.warning("no job queue (python-telegram-bot[job-queue] missing): no hot reload, no purge")
        return
    if cfg.reload_interval > 0:
        jobs.run_repeating(reload_job, interval=cfg.reload_interval, first=cfg.reload_interval, name="reload")
    if with_purge:
        jobs.run_repeating(purge_job, interval=PURGE_EVERY, first=FIRST_PURGE, name="purge")


async def reload_job(context: BotContext) -> None:
    """Hot reload: a broken edit is logged by Service.reload and the old knowledge keeps serving;
    every staff member is told why, since a refused edit may be one that broke the safety net."""
    service = context.bot_data.running()
    serving = service.kb.version
    try:
        result = await asyncio.to_thread(service.reload_if_changed)
    except Exception:
        log.exception("knowledge reload failed; still serving version %s", service.kb.version)
        return
    if result is None or result.kb is not None:
        return
    await tell_staff(context.bot, context.bot_data.config, format_reload(result, serving))


async def purge_job(context: BotContext) -> None:
    querylog = context.bot_data.running().querylog
    if querylog is None:
        return
    try:
        await querylog.purge(context.bot_data.config.retention_days)
    except Exception:
        log.exception("query log purge failed")


# --- building -------------------------------------------------------------------------------


def api_urls(api_base_url: str) -> tuple[str, str]:
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
    rate_limited: bool = True,
) -> BotApplication:
    """The configured Application; `request`/`get_updates_request` replace the HTTP transport
    (tests); `rate_limited=False` drops Telegram's send limits (the throughput bench only)."""
    install_token_redaction(cfg.token)
    builder = (
        Application.builder()
        .token(cfg.token)
        .context_types(CONTEXT_TYPES)
        .defaults(
            Defaults(parse_mode=ParseMode.HTML, link_preview_options=LinkPreviewOptions(is_disabled=True))
        )
        # Telegram's limits, emergency replies aside; 0 turns a limit off (aiolimiter)
        .rate_limiter(
            PriorityRateLimiter(max_retries=3)
            if rate_limited
            else PriorityRateLimiter(overall_max_rate=0, group_max_rate=0, max_retries=3)
        )
        .post_init(post_init)
        .post_shutdown(post_shutdown)
    )
    if cfg.api_base_url:
        base_url, base_file_url = api_urls(cfg.api_base_url)
        builder = builder.base_url(base_url).base_file_url(base_file_url)
    if request is not None:
        builder = builder.request(request)
    if get_updates_request is not None:
        builder = builder.get_updates_request(get_updates_request)
    processor = PerChatOrder()
    application = builder.concurrent_updates(processor).build()
    processor.urgent = functools.partial(_urgent, application)
    application.bot_data.config = cfg
    application.bot_data.flood = FloodGate(cfg.user_limit)
    handlers.register(application)
    return application


def _urgent(application: BotApplication, update: Update) -> bool:
    """An emergency skips its chat's queue (the safety net only, about 0.03 ms)."""
    service = application.bot_data.service
    message = update.message or update.edited_message  # a resident's, never the bot's (buttons)
    text = (message.text or message.caption) if message is not None else None
    return bool(service is not None and text and service.is_emergency(text))


def run(cfg: Config) -> int:
    """Long-poll Telegram until interrupted; EXIT_ERRORS when the bot cannot start."""
    application = build_application(cfg)
    return run_until_stopped(lambda: application.run_polling(allowed_updates=ALLOWED_UPDATES))


def run_until_stopped(main: Callable[[], object]) -> int:
    """Run the bot (polling or webhook) and say why it could not start, if it could not."""
    try:
        main()
    except KnowledgeError as exc:
        exc.print(sys.stderr, prefix="cannot start: ")
        return EXIT_ERRORS
    except InvalidToken:
        print("cannot start: Telegram refused TELEGRAM_BOT_TOKEN (check it with @BotFather)", file=sys.stderr)
        return EXIT_ERRORS
    return EXIT_OK
