"""python-telegram-bot handlers: Telegram update -> Service call -> Telegram message.

Only translation happens here: every resident-facing word comes from `replies`, and every
reply is HTML that `replies` built with user and knowledge text already escaped. Button
semantics mirror `console.ConsoleChat.press`. The only wording here is staff-only report text.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import logging
import re
from collections.abc import Awaitable, Callable, Sequence

from telegram import (
    Bot,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
    MessageEntity,
    ReplyParameters,
    Update,
)
from telegram.constants import ChatType
from telegram.error import TelegramError
from telegram.ext import (
    Application,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

from policybot import callbacks, replies
from policybot.config import Config
from policybot.knowledge import LoadResult
from policybot.model import LANG_EN, LANG_HANS, LANG_HANT, Button, Reply
from policybot.querylog import Group, PossibleEmergency, QueryLog, Stats
from policybot.service import Service
from policybot.text import detect_script

log = logging.getLogger(__name__)

# bot_data keys (filled by app.post_init)
CONFIG = "config"
SERVICE = "service"
QUERYLOG = "querylog"
SECRET = "callback_secret"
# user_data keys (in memory only)
LANG_CHOICE = "lang"  # chosen with /lang
LANG_SEEN = "script"  # the script the user last wrote a question in

CHANNEL = "telegram"
STAFF_COMMANDS = ("stats", "unanswered", "reload")
MAX_RELOAD_ERRORS = 20
UNANSWERED_GROUPS = 10

_HANT_CODES = ("zh-hant", "zh-tw", "zh-hk", "zh-mo")

Handler = Callable[[Update, ContextTypes.DEFAULT_TYPE], Awaitable[None]]


# --- language -------------------------------------------------------------------------------


def lang_from_code(code: str | None) -> str:
    """Telegram's client language_code -> reply language."""
    c = (code or "").strip().lower().replace("_", "-")
    if c.startswith("en"):
        return LANG_EN
    if any(c == h or c.startswith(h + "-") for h in _HANT_CODES):
        return LANG_HANT
    return LANG_HANS


def user_lang(update: Update, context: ContextTypes.DEFAULT_TYPE) -> str:
    """Explicit /lang choice, else the script the user writes in, else the client's language."""
    data = context.user_data if context.user_data is not None else {}
    chosen = data.get(LANG_CHOICE) or data.get(LANG_SEEN)
    if chosen:
        return str(chosen)
    user = update.effective_user
    return lang_from_code(user.language_code if user else None)


# --- sending --------------------------------------------------------------------------------


def keyboard(buttons: Sequence[Sequence[Button]], secret: bytes) -> InlineKeyboardMarkup | None:
    rows: list[list[InlineKeyboardButton]] = []
    for row in buttons:
        out = []
        for button in row:
            try:
                out.append(InlineKeyboardButton(button.label, callback_data=callbacks.encode(button, secret)))
            except ValueError:
                # an id too long for 64 bytes is the knowledge editor's problem; the reply still goes out
                log.warning("button left out: %s/%s does not fit callback data", button.action, button.arg)
        if out:
            rows.append(out)
    return InlineKeyboardMarkup(rows) if rows else None


async def send_reply(
    bot: Bot,
    chat_id: int,
    reply: Reply,
    secret: bytes,
    *,
    reply_to: int | None = None,
) -> list[Message]:
    """Send `reply`, split on paragraph boundaries when over 4096 characters; buttons go on the
    last part, the quote (if any) on the first."""
    markup = keyboard(reply.buttons, secret)
    parts = replies.split_message(reply.html)
    sent: list[Message] = []
    for i, part in enumerate(parts):
        sent.append(
            await bot.send_message(
                chat_id,
                part,
                reply_markup=markup if i == len(parts) - 1 else None,
                reply_parameters=ReplyParameters(reply_to, allow_sending_without_reply=True)
                if reply_to is not None and i == 0
                else None,
            )
        )
    return sent


async def _send(
    update: Update, context: ContextTypes.DEFAULT_TYPE, reply: Reply, *, quote: bool = False
) -> None:
    chat = update.effective_chat
    if chat is None:
        return
    message = update.effective_message
    reply_to = message.message_id if quote and message is not None else None
    await send_reply(context.bot, chat.id, reply, context.bot_data[SECRET], reply_to=reply_to)


def _service(context: ContextTypes.DEFAULT_TYPE) -> Service:
    return context.bot_data[SERVICE]


def _querylog(context: ContextTypes.DEFAULT_TYPE) -> QueryLog | None:
    return context.bot_data.get(QUERYLOG)


def _is_group(update: Update) -> bool:
    chat = update.effective_chat
    return chat is not None and chat.type in (ChatType.GROUP, ChatType.SUPERGROUP)


# --- commands -------------------------------------------------------------------------------


async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    await _send(update, context, _service(context).welcome(user_lang(update, context)))


async def help_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    await _send(update, context, replies.help_reply(user_lang(update, context)))


async def topics_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    await _send(update, context, replies.topics(_service(context).kb, user_lang(update, context)))


async def lang_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    await _send(update, context, replies.choose_language())


def _after_command(message: Message) -> str:
    """The text after the leading /command (entity lengths are UTF-16, so use parse_entities)."""
    text = message.text or ""
    for entity, command in message.parse_entities([MessageEntity.BOT_COMMAND]).items():
        if entity.offset == 0:
            return text[len(command) :].strip()
    return text.strip()


async def ask_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    message = update.effective_message
    if message is None:
        return
    question = _after_command(message)
    if not question:
        await _send(update, context, replies.simple("ask_usage", user_lang(update, context)))
        return
    await _answer(update, context, question)


async def unknown_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    message = update.effective_message
    if message is None or message.text is None:
        return
    if _is_group(update):
        # In groups "/cmd" may be meant for another bot: answer only "/cmd@us".
        command = message.text.split(maxsplit=1)[0]
        _, _, target = command.partition("@")
        if target.lower() != (context.bot.username or "").lower():
            return
    await _send(update, context, replies.simple("unknown_command", user_lang(update, context)))


# --- questions ------------------------------------------------------------------------------


async def _answer(update: Update, context: ContextTypes.DEFAULT_TYPE, question: str) -> None:
    chat = update.effective_chat
    if chat is None:
        return
    lang = user_lang(update, context)
    answer = _service(context).ask(question, chat=f"tg:{chat.id}", lang=lang, channel=CHANNEL)
    written = detect_script(question, default="")
    if written and context.user_data is not None:
        context.user_data[LANG_SEEN] = written
    # Nothing is sent before the reply (no typing action): an emergency reply goes out at once.
    # Quote in groups (many people talk) and for edits (the answer belongs to the fixed text).
    quote = _is_group(update) or update.edited_message is not None
    await _send(update, context, answer.reply, quote=quote)


def _mention_pattern(username: str) -> re.Pattern[str]:
    return re.compile(rf"@{re.escape(username)}\b", re.IGNORECASE)


def _mentions_bot(message: Message, username: str) -> bool:
    wanted = "@" + username.lower()
    return any(text.lower() == wanted for text in message.parse_entities([MessageEntity.MENTION]).values())


def _replies_to_bot(message: Message, bot_id: int) -> bool:
    parent = message.reply_to_message
    return parent is not None and parent.from_user is not None and parent.from_user.id == bot_id


async def on_text(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A text message or an edited one: in private chats always a question; in groups only
    when it mentions the bot or replies to it."""
    message = update.effective_message
    if message is None or not message.text:
        return
    text = message.text
    if _is_group(update):
        username = context.bot.username or ""
        if username and _mentions_bot(message, username):
            text = _mention_pattern(username).sub(" ", text).strip()
            if not text:
                await _send(
                    update, context, replies.simple("ask_usage", user_lang(update, context)), quote=True
                )
                return
        elif not _replies_to_bot(message, context.bot.id):
            return  # group chatter not addressed to us
    await _answer(update, context, text)


async def on_non_text(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    message = update.effective_message
    if message is None:
        return
    if _is_group(update) and not _replies_to_bot(message, context.bot.id):
        return
    await _send(
        update, context, replies.simple("non_text", user_lang(update, context)), quote=_is_group(update)
    )


# --- buttons --------------------------------------------------------------------------------


async def on_callback(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    query = update.callback_query
    if query is None:
        return
    try:
        await query.answer()  # always, first: it stops the spinner on the resident's button
    except TelegramError as exc:  # e.g. the query is too old; the reply below still helps
        log.info("could not answer callback query: %s", exc)
    button = callbacks.decode(query.data, context.bot_data[SECRET])
    lang = user_lang(update, context)
    reply: Reply | None = None
    if button is not None and button.action == replies.ACT_LANG:
        if context.user_data is not None:
            context.user_data[LANG_CHOICE] = button.arg
        lang = button.arg
        reply = replies.simple("lang_set", lang)
    elif button is not None:
        reply = _service(context).press(button, lang)
    if reply is None:
        reply = replies.simple("expired", lang)
    chat_id = query.message.chat.id if query.message is not None else query.from_user.id
    await send_reply(context.bot, chat_id, reply, context.bot_data[SECRET])


# --- staff ----------------------------------------------------------------------------------


def staff_only(command: str) -> Callable[[Handler], Handler]:
    """Staff ids run the command; anyone else gets exactly the unknown-command reply, and the
    attempt is logged."""

    def wrap(func: Handler) -> Handler:
        @functools.wraps(func)
        async def wrapper(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
            cfg: Config = context.bot_data[CONFIG]
            user = update.effective_user
            if user is None or user.id not in cfg.staff_ids:
                querylog = _querylog(context)
                if querylog is not None and user is not None:
                    querylog.staff_attempt(f"tg:{user.id}", "/" + command)
                await _send(update, context, replies.simple("unknown_command", user_lang(update, context)))
                return
            await func(update, context)

        return wrapper

    return wrap


def _local_midnight(now: dt.datetime) -> dt.datetime:
    return now.replace(hour=0, minute=0, second=0, microsecond=0)


def format_stats(title: str, stats: Stats) -> str:
    """Staff report block: totals, share per status, feedback. HTML."""
    lines = [f"<b>{replies.esc(title)}</b>", f"total 总数: {stats.total}"]
    for status, zh in (
        ("answered", "已回答"),
        ("ambiguous", "待选择"),
        ("unanswered", "未回答"),
        ("emergency", "紧急"),
        ("smalltalk", "闲聊"),
    ):
        lines.append(f"{status} {zh}: {stats.count(status)} ({stats.share(status):.0%})")
        if status == "emergency" and stats.emergency_kinds:
            lines.append("  " + ", ".join(f"{k} {n}" for k, n in stats.emergency_kinds.items()))
    lines.append(f"👍 helpful 有帮助: {stats.helpful}　👎 unhelpful 没帮助: {stats.unhelpful}")
    lines.append(f"did-you-mean picked 选中: {stats.chose_entry}　none 都不是: {stats.chose_none}")
    return "\n".join(lines)


def format_groups(groups: Sequence[Group], possible: Sequence[PossibleEmergency] = ()) -> str:
    lines = []
    if possible:
        # first: questions the safety net did not flag but that carry risk words
        lines.append("<b>⚠️ Possible emergencies — please read 可能的紧急情况，请阅读</b>")
        for p in possible:
            lines.append(f"• {replies.esc(p.text[:200])} <i>({replies.esc(', '.join(p.risk))})</i>")
        lines.append("")
    if not groups:
        lines.append("No unanswered questions this week. 本周没有未回答的问题。")
        return "\n".join(lines)
    lines.append("<b>Unanswered this week 本周未回答</b>")
    for i, group in enumerate(groups, 1):
        lines.append(f"{i}. ({group.count}×) {replies.esc(group.example)}")
    return "\n".join(lines)


def format_reload(result: LoadResult, serving_version: str) -> str:
    if result.kb is not None:
        return replies.esc(f"reloaded: {len(result.kb.entries)} entries, version {result.kb.version}")
    errors = result.errors
    lines = [f"reload refused: {len(errors)} error(s); still serving version {serving_version}"]
    lines += [f"{p.file}:{p.line}: {p.message}" for p in errors[:MAX_RELOAD_ERRORS]]
    if len(errors) > MAX_RELOAD_ERRORS:
        lines.append(f"… {len(errors) - MAX_RELOAD_ERRORS} more")
    return replies.esc("\n".join(lines))


_NO_LOG = Reply("query log unavailable. 查询日志不可用。")


@staff_only("stats")
async def stats_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    querylog = _querylog(context)
    if querylog is None:
        await _send(update, context, _NO_LOG)
        return
    await querylog.flush()  # include the questions asked a moment ago
    now = dt.datetime.now().astimezone()
    offset = now.utcoffset() or dt.timedelta(0)
    today = _local_midnight(now)
    day = await querylog.stats(today, utc_offset=offset)
    week = await querylog.stats(today - dt.timedelta(days=6), utc_offset=offset)
    body = format_stats("Today 今天", day) + "\n\n" + format_stats("Last 7 days 近7天", week)
    await _send(update, context, Reply(body))


@staff_only("unanswered")
async def unanswered_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    querylog = _querylog(context)
    if querylog is None:
        await _send(update, context, _NO_LOG)
        return
    await querylog.flush()
    since = _local_midnight(dt.datetime.now().astimezone()) - dt.timedelta(days=6)
    groups = await querylog.unanswered_groups(since, limit=UNANSWERED_GROUPS)
    possible = await querylog.possible_emergencies(since, limit=UNANSWERED_GROUPS)
    await _send(update, context, Reply(format_groups(groups, possible)))


@staff_only("reload")
async def reload_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    service = _service(context)
    result = await asyncio.to_thread(service.reload)  # parsing YAML must not block other chats
    await _send(update, context, Reply(format_reload(result, service.kb.version)))


# --- errors ---------------------------------------------------------------------------------


async def on_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    # The update itself is not logged: it holds a resident's question and ids.
    log.error("error while handling an update", exc_info=context.error)
    if not isinstance(update, Update) or update.effective_chat is None:
        return
    try:
        reply = replies.simple("error", user_lang(update, context))
        await context.bot.send_message(update.effective_chat.id, reply.html)
    except Exception as exc:  # the error reply itself failed: nothing more to do than say so
        log.warning("could not send the error reply: %s", exc)


# --- wiring ---------------------------------------------------------------------------------

_NON_TEXT = (
    filters.PHOTO
    | filters.VOICE
    | filters.AUDIO
    | filters.VIDEO
    | filters.VIDEO_NOTE
    | filters.ANIMATION
    | filters.Sticker.ALL
    | filters.Document.ALL
    | filters.LOCATION
    | filters.VENUE
    | filters.CONTACT
    | filters.POLL
    | filters.Dice.ALL
)


def register(application: Application) -> None:
    new = filters.UpdateType.MESSAGE  # commands are not re-run when edited ...
    application.add_handler(CommandHandler("start", start, filters=new))
    application.add_handler(CommandHandler("help", help_command, filters=new))
    application.add_handler(CommandHandler("topics", topics_command, filters=new))
    application.add_handler(CommandHandler("lang", lang_command, filters=new))
    # ... except /ask, whose question a resident may fix by editing
    application.add_handler(CommandHandler("ask", ask_command, filters=filters.UpdateType.MESSAGES))
    application.add_handler(CommandHandler("stats", stats_command, filters=new))
    application.add_handler(CommandHandler("unanswered", unanswered_command, filters=new))
    application.add_handler(CommandHandler("reload", reload_command, filters=new))
    text = filters.TEXT & ~filters.COMMAND
    application.add_handler(MessageHandler(new & text, on_text))
    # filters.TEXT alone would also match edits; they are handled deliberately: a new question
    application.add_handler(MessageHandler(filters.UpdateType.EDITED_MESSAGE & text, on_text))
    application.add_handler(MessageHandler(new & _NON_TEXT, on_non_text))
    application.add_handler(MessageHandler(new & filters.COMMAND, unknown_command))
    application.add_handler(CallbackQueryHandler(on_callback))
    application.add_error_handler(on_error)
