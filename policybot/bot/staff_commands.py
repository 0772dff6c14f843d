"""Staff commands in Telegram (/stats, /unanswered, /reload), for the ids in STAFF_IDS only.

Anyone else gets exactly the unknown-command reply and the attempt is logged, so the commands
cannot be discovered by trying. What staff read is worded in `staff.texts`.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
from collections.abc import Callable, Coroutine
from typing import Any

from telegram import Update
from telegram.constants import ChatType

from policybot import replies
from policybot.bot.context import BotContext, user_lang
from policybot.bot.sending import send
from policybot.model import Reply
from policybot.staff.texts import (
    NO_LOG,
    format_groups,
    format_health,
    format_reload,
    format_stats,
    format_storage_error,
)
from policybot.storage.interface import QueryLog

UNANSWERED_GROUPS = 10

Handler = Callable[[Update, BotContext], Coroutine[Any, Any, None]]


def staff_only(command: str) -> Callable[[Handler], Handler]:
    """Staff ids run the command in a private chat (in a group they are asked to use one); anyone
    else gets exactly the unknown-command reply, and the attempt is logged."""

    def wrap(func: Handler) -> Handler:
        @functools.wraps(func)
        async def wrapper(update: Update, context: BotContext) -> None:
            user = update.effective_user
            chat = update.effective_chat
            staff = user is not None and user.id in context.bot_data.config.staff_ids
            if staff and chat is not None and chat.type != ChatType.PRIVATE:
                # figures about residents are never posted to a group
                await send(update, context, replies.simple("private_only", user_lang(update, context)), quote=True)
                return
            if not staff:
                querylog = context.bot_data.running().querylog
                if querylog is not None and user is not None:
                    querylog.staff_attempt(f"tg:{user.id}", "/" + command)
                await send(update, context, replies.simple("unknown_command", user_lang(update, context)))
                return
            await func(update, context)

        return wrapper

    return wrap


def _local_midnight(now: dt.datetime) -> dt.datetime:
    return now.replace(hour=0, minute=0, second=0, microsecond=0)


_NO_LOG = Reply(NO_LOG)


@staff_only("stats")
async def stats_command(update: Update, context: BotContext) -> None:
    querylog = context.bot_data.running().querylog
    if querylog is None:
        await send(update, context, _NO_LOG)
        return
    await querylog.flush()  # include the questions asked a moment ago
    now = dt.datetime.now(context.bot_data.config.tz)  # days are the bureau's (POLICYBOT_TIMEZONE)
    offset = now.utcoffset() or dt.timedelta(0)
    today = _local_midnight(now)
    try:
        day = await querylog.stats(today, utc_offset=offset)
        week = await querylog.stats(today - dt.timedelta(days=6), utc_offset=offset)
    except Exception as exc:  # staff hear what broke, not the residents' apology
        await send(update, context, Reply(_with_health(querylog, format_storage_error(exc))))
        return
    body = format_stats("Today 今天", day) + "\n\n" + format_stats("Last 7 days 近7天", week)
    held = context.bot_data.flood.held_back
    if held:  # not in the log: counted by this process since it started
        body += f"\n\nheld back (over the per-user limit) since start 超出每人限额未回答: {held}"
    await send(update, context, Reply(_with_health(querylog, body)))


def _with_health(querylog: QueryLog, body: str) -> str:
    health = format_health(querylog.health())
    return health + "\n\n" + body if health else body


@staff_only("unanswered")
async def unanswered_command(update: Update, context: BotContext) -> None:
    querylog = context.bot_data.running().querylog
    if querylog is None:
        await send(update, context, _NO_LOG)
        return
    await querylog.flush()
    since = _local_midnight(dt.datetime.now(context.bot_data.config.tz)) - dt.timedelta(days=6)
    try:
        groups = await querylog.unanswered_groups(since, limit=UNANSWERED_GROUPS)
        possible = await querylog.possible_emergencies(since, limit=UNANSWERED_GROUPS)
    except Exception as exc:  # staff hear what broke, not the residents' apology
        await send(update, context, Reply(_with_health(querylog, format_storage_error(exc))))
        return
    await send(update, context, Reply(_with_health(querylog, format_groups(groups, possible))))


@staff_only("reload")
async def reload_command(update: Update, context: BotContext) -> None:
    service = context.bot_data.running()
    result = await asyncio.to_thread(service.reload)  # parsing YAML must not block other chats
    await send(update, context, Reply(format_reload(result, service.kb.version)))


COMMANDS: dict[str, Handler] = {
    "stats": stats_command,
    "unanswered": unanswered_command,
    "reload": reload_command,
}
