"""Sending a `Reply` to Telegram: buttons as a signed inline keyboard, long text split into
messages within Telegram's limit (telegram.constants), buttons on the last part."""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence

from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, Message, ReplyParameters, Update
from telegram.constants import MessageLimit

from policybot.bot import callback_data
from policybot.bot.context import BotContext
from policybot.model import Button, Reply

log = logging.getLogger(__name__)

MAX_MESSAGE = int(MessageLimit.MAX_TEXT_LENGTH)


def keyboard(buttons: Sequence[Sequence[Button]], secret: bytes) -> InlineKeyboardMarkup | None:
    rows: list[list[InlineKeyboardButton]] = []
    for row in buttons:
        out = []
        for button in row:
            try:
                out.append(InlineKeyboardButton(button.label, callback_data=callback_data.encode(button, secret)))
            except ValueError:
                # an id too long for 64 bytes is the knowledge editor's problem; the reply still goes out
                log.warning("button left out: %s/%s does not fit callback data", button.action, button.arg)
        if out:
            rows.append(out)
    return InlineKeyboardMarkup(rows) if rows else None


def split_message(body: str, limit: int = MAX_MESSAGE) -> list[str]:
    """Split on paragraph boundaries (then lines, then hard) so each part fits one message."""
    if len(body) <= limit:
        return [body]
    parts: list[str] = []
    current = ""
    for para in re.split(r"(\n\n)", body):
        if len(current) + len(para) <= limit:
            current += para
            continue
        if current.strip():
            parts.append(current.strip("\n"))
        current = ""
        while len(para) > limit:
            cut = para.rfind("\n", 0, limit)
            cut = cut if cut > 0 else limit
            parts.append(para[:cut])
            para = para[cut:].lstrip("\n")
        current = para
    if current.strip():
        parts.append(current.strip("\n"))
    return parts


async def send_reply(
    bot: Bot,
    chat_id: int,
    reply: Reply,
    secret: bytes,
    *,
    reply_to: int | None = None,
) -> list[Message]:
    """Send `reply`, split on paragraph boundaries when over the limit; buttons go on the last
    part, the quote (if any) on the first."""
    markup = keyboard(reply.buttons, secret)
    parts = split_message(reply.html)
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


async def send(update: Update, context: BotContext, reply: Reply, *, quote: bool = False) -> None:
    """`reply` to the update's chat; `quote` replies to the update's message."""
    chat = update.effective_chat
    if chat is None:
        return
    message = update.effective_message
    reply_to = message.message_id if quote and message is not None else None
    await send_reply(context.bot, chat.id, reply, context.bot_data.secret, reply_to=reply_to)
