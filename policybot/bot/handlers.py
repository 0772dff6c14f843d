"""python-telegram-bot handlers: Telegram update -> Service call -> Telegram message.

Only translation happens here: every resident-facing word comes from `replies`, and every
reply is HTML that `replies` built with user and knowledge text already escaped. Button
semantics are `Service.press`, as in the console; the staff commands are in
`staff_commands`.
"""

from __future__ import annotations

import contextlib
import logging
import re

from telegram import Message, MessageEntity, Update
from telegram.constants import ChatType
from telegram.error import TelegramError
from telegram.ext import CallbackQueryHandler, CommandHandler, MessageHandler, TypeHandler, filters

from policybot import replies
from policybot.bot import callback_data, staff_commands
from policybot.bot.context import BotApplication, BotContext, user_lang
from policybot.bot.fairness import priority
from policybot.bot.sending import send, send_reply
from policybot.matching.normalise import detect_script
from policybot.model import Reply, Status

log = logging.getLogger(__name__)

CHANNEL = "telegram"


def _is_group(update: Update) -> bool:
    chat = update.effective_chat
    return chat is not None and chat.type in (ChatType.GROUP, ChatType.SUPERGROUP)


async def start(update: Update, context: BotContext) -> None:
    await send(update, context, context.bot_data.running().welcome(user_lang(update, context)))


async def help_command(update: Update, context: BotContext) -> None:
    await send(update, context, replies.help_reply(user_lang(update, context)))


async def topics_command(update: Update, context: BotContext) -> None:
    await send(update, context, replies.topics(context.bot_data.running().kb, user_lang(update, context)))


async def lang_command(update: Update, context: BotContext) -> None:
    await send(update, context, replies.choose_language())


# "/cmd" or "/cmd@bot" at the start of a message, as Telegram reads a command
_COMMAND = re.compile(r"/([A-Za-z0-9_]{1,32})(?:@([A-Za-z0-9_]{1,64}))?(?=\s|$)")


def _after_command(message: Message) -> str:
    """The text after the leading /command (entity lengths are UTF-16, so use parse_entities;
    some clients send no entity, so the text is read as well)."""
    text = message.text or ""
    for entity, command in message.parse_entities([MessageEntity.BOT_COMMAND]).items():
        if entity.offset == 0:
            return text[len(command) :].strip()
    m = _COMMAND.match(text)
    return (text[m.end() :] if m else text).strip()


def _command_in(text: str, username: str) -> str | None:
    """The command a message starts with, read from its text (a client may send no command
    entity: "/stats" is still a command, not a question); "" when it is for another bot."""
    m = _COMMAND.match(text)
    if m is None:
        return None
    target = m.group(2)
    if target and target.lower() != username.lower():
        return ""
    return m.group(1).lower()


async def ask_command(update: Update, context: BotContext) -> None:
    message = update.effective_message
    if message is None:
        return
    question = _after_command(message)
    if not question:
        await send(update, context, replies.simple("ask_usage", user_lang(update, context)))
        return
    await _answer(update, context, question)


async def unknown_command(update: Update, context: BotContext) -> None:
    message = update.effective_message
    if message is None or message.text is None:
        return
    if _is_group(update):
        # In groups "/cmd" may be meant for another bot: answer only "/cmd@us".
        command = message.text.split(maxsplit=1)[0]
        _, _, target = command.partition("@")
        if target.lower() != (context.bot.username or "").lower():
            return
    await send(update, context, replies.simple("unknown_command", user_lang(update, context)))


# --- questions ------------------------------------------------------------------------------


async def _answer(update: Update, context: BotContext, question: str) -> None:
    chat = update.effective_chat
    if chat is None:
        return
    lang = user_lang(update, context)
    service = context.bot_data.running()
    user = update.effective_user
    flood = context.bot_data.flood
    if user is not None and not flood.allow(user.id) and not service.is_emergency(question):
        # a flood: one "please slow down", then nothing; counted, never logged as questions
        if flood.hold(user.id) == "warn":
            await send(update, context, replies.simple("slow_down", lang), quote=_is_group(update))
        return
    answer = service.ask(question, chat=f"tg:{chat.id}", lang=lang, channel=CHANNEL)
    written = detect_script(question, default="")
    if written and context.user_data is not None:
        context.user_data.script = written
    # Nothing is sent before the reply (no typing action): an emergency reply goes out at once,
    # past Telegram's bot-wide send limit that other chats' replies wait for.
    # Quote in groups (many people talk) and for edits (the answer belongs to the fixed text).
    quote = _is_group(update) or update.edited_message is not None
    if answer.result.status is Status.EMERGENCY:
        with priority():
            await send(update, context, answer.reply, quote=quote)
    else:
        await send(update, context, answer.reply, quote=quote)


def _mention_pattern(username: str) -> re.Pattern[str]:
    return re.compile(rf"@{re.escape(username)}\b", re.IGNORECASE)


def _mentions_bot(message: Message, username: str) -> bool:
    wanted = "@" + username.lower()
    found = (message.parse_entities([MessageEntity.MENTION]) if message.text
             else message.parse_caption_entities([MessageEntity.MENTION]))
    return any(text.lower() == wanted for text in found.values())


def _replies_to_bot(message: Message, bot_id: int) -> bool:
    parent = message.reply_to_message
    return parent is not None and parent.from_user is not None and parent.from_user.id == bot_id


async def on_text(update: Update, context: BotContext) -> None:
    """A text message, an edited one or a photo (any media) with a caption: in private chats
    always a question; in groups only when it mentions the bot or replies to it."""
    message = update.effective_message
    if message is None:
        return
    text = message.text or message.caption
    if not text:
        return
    command = _command_in(text, context.bot.username or "") if message.text else None
    if command is not None:
        if command and (update.edited_message is None or command == "ask"):
            await _COMMANDS.get(command, unknown_command)(update, context)
        return
    if _is_group(update):
        username = context.bot.username or ""
        if username and _mentions_bot(message, username):
            text = _mention_pattern(username).sub(" ", text).strip()
            if not text:
                await send(
                    update, context, replies.simple("ask_usage", user_lang(update, context)), quote=True
                )
                return
        elif not _replies_to_bot(message, context.bot.id):
            return  # group chatter not addressed to us
    await _answer(update, context, text)


async def on_non_text(update: Update, context: BotContext) -> None:
    message = update.effective_message
    if message is None:
        return
    if _is_group(update) and not _replies_to_bot(message, context.bot.id):
        return
    await send(
        update, context, replies.simple("non_text", user_lang(update, context)), quote=_is_group(update)
    )


# --- buttons --------------------------------------------------------------------------------


async def on_callback(update: Update, context: BotContext) -> None:
    query = update.callback_query
    if query is None:
        return
    button = callback_data.decode(query.data, context.bot_data.secret, query.from_user.id)
    lang = user_lang(update, context)
    group = query.message is not None and query.message.chat.type != ChatType.PRIVATE
    if button is None and group:
        # most likely another resident's rating or choice: told to the presser alone (nothing
        # is posted to the group, nothing recorded)
        with contextlib.suppress(TelegramError):
            await query.answer(replies.text("not_yours", lang), show_alert=True)
        return
    try:
        await query.answer()  # always, first: it stops the spinner on the resident's button
    except TelegramError as exc:  # e.g. the query is too old; the reply below still helps
        log.info("could not answer callback query: %s", exc)
    reply: Reply | None = None
    if button is not None and button.action == replies.ACT_LANG:
        if context.user_data is not None:
            context.user_data.lang = button.arg
        querylog = context.bot_data.running().querylog
        if querylog is not None:
            querylog.set_lang(f"tg:{query.from_user.id}", button.arg)
        lang = button.arg
        reply = replies.language_set(lang)
    elif button is not None:
        reply = context.bot_data.running().press(button, lang)
    if reply is None:
        reply = replies.simple("expired", lang)
    chat_id = query.message.chat.id if query.message is not None else query.from_user.id
    await send_reply(context.bot, chat_id, reply, context.bot_data.secret, owner=query.from_user.id)


async def load_user_state(update: Update, context: BotContext) -> None:
    """Before any handler: the language a resident chose earlier (another process, before a
    restart), read once per user and process."""
    data, user = context.user_data, update.effective_user
    if data is None or user is None or data.lang_loaded:
        return
    data.lang_loaded = True
    service = context.bot_data.service
    if data.lang is None and service is not None and service.querylog is not None:
        try:
            data.lang = await service.querylog.lang_of(f"tg:{user.id}")
        except Exception:  # a language is a nicety: the question is answered anyway
            log.warning("could not read a resident's language choice")


# --- errors ---------------------------------------------------------------------------------


async def on_error(update: object, context: BotContext) -> None:
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


# what the command handlers do, for a command sent without its entity (see on_text)
_COMMANDS: dict[str, staff_commands.Handler] = {
    "start": start,
    "help": help_command,
    "topics": topics_command,
    "lang": lang_command,
    "ask": ask_command,
    **staff_commands.COMMANDS,
}


def register(application: BotApplication) -> None:
    application.add_handler(TypeHandler(Update, load_user_state), group=-1)
    new = filters.UpdateType.MESSAGE  # commands are not re-run when edited ...
    application.add_handler(CommandHandler("start", start, filters=new))
    application.add_handler(CommandHandler("help", help_command, filters=new))
    application.add_handler(CommandHandler("topics", topics_command, filters=new))
    application.add_handler(CommandHandler("lang", lang_command, filters=new))
    # ... except /ask, whose question a resident may fix by editing
    application.add_handler(CommandHandler("ask", ask_command, filters=filters.UpdateType.MESSAGES))
    for name, command in staff_commands.COMMANDS.items():
        application.add_handler(CommandHandler(name, command, filters=new))
    text = filters.TEXT & ~filters.COMMAND
    application.add_handler(MessageHandler(new & text, on_text))
    # filters.TEXT alone would also match edits; they are handled deliberately: a new question
    application.add_handler(MessageHandler(filters.UpdateType.EDITED_MESSAGE & text, on_text))
    # a photo that asks something in its caption is a question
    application.add_handler(MessageHandler(filters.UpdateType.MESSAGES & _NON_TEXT & filters.CAPTION, on_text))
    application.add_handler(MessageHandler(new & _NON_TEXT, on_non_text))
    application.add_handler(MessageHandler(new & filters.COMMAND, unknown_command))
    application.add_handler(CallbackQueryHandler(on_callback))
    application.add_error_handler(on_error)
