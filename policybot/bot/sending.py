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


def keyboard(buttons: Sequence[Sequence[Button]], secret: bytes, owner: int | None = None) -> InlineKeyboardMarkup | None:
    rows: list[list[InlineKeyboardButton]] = []
    for row in buttons:
        out = []
        for button in row:
            try:
                out.append(InlineKeyboardButton(button.label, callback_data=callback_data.encode(button, secret, owner)))
            except ValueError:
                # an id too long for 64 bytes is the knowledge editor's problem; the reply still goes out
                log.warning("button left out: %s/%s does not fit callback data", button.action, button.arg)
        if out:
            rows.append(out)
    return InlineKeyboardMarkup(rows) if rows else None


# One atom of Telegram HTML: a tag, an entity, a paragraph break, a line break or a character.
_ATOM = re.compile(r"<[^>]*>|&(?:#\d+|#x[0-9a-fA-F]+|[A-Za-z]+);|\n\n|[\s\S]")
_TAG = re.compile(r"<(/?)([A-Za-z][\w-]*)")


def split_message(body: str, limit: int = MAX_MESSAGE) -> list[str]:
    """Split Telegram HTML so each part fits one message and is valid on its own: cuts fall on
    paragraph breaks, else line breaks, else between characters, never inside a tag or an
    entity (&amp;); tags open at a cut are closed at the end of the part and opened again at
    the start of the next."""
    if len(body) <= limit:
        return [body]
    body = body.strip("\n")
    parts: list[str] = []
    stack: list[tuple[str, str]] = []  # open tags: (name, the opening tag as written)
    part: list[str] = []  # atoms of the part being built, starting with its reopened tags
    size = 0
    breaks: list[tuple[int, int, list[tuple[str, str]]]] = []  # (priority, position, open tags there)

    def closing(tags: list[tuple[str, str]]) -> str:
        return "".join(f"</{name}>" for name, _ in reversed(tags))

    for atom in _ATOM.findall(body):
        tag = _TAG.match(atom)
        after = list(stack)
        if tag and tag.group(1):
            if after and after[-1][0] == tag.group(2).lower():
                after.pop()
        elif tag and not atom.endswith("/>"):
            after.append((tag.group(2).lower(), atom))
        while size + len(atom) + len(closing(after)) > limit and _visible("".join(part)):
            priority, cut, open_at_cut = max(breaks, default=(0, len(part), stack), key=lambda b: (b[0], b[1]))
            if priority == 0:  # no break in this part: cut here
                cut, open_at_cut = len(part), stack
            head = "".join(part[:cut]).rstrip("\n") + closing(open_at_cut)
            if _visible(head):
                parts.append(head)
            rest = part[cut:]
            while rest and rest[0] in ("\n", "\n\n"):
                rest = rest[1:]
            part = [_reopen(open_at_cut), *rest]
            size = sum(map(len, part))
            breaks = []
        part.append(atom)
        size += len(atom)
        stack = after
        if atom in ("\n", "\n\n"):
            breaks.append((2 if atom == "\n\n" else 1, len(part), list(stack)))
    tail = "".join(part).rstrip("\n") + closing(stack)
    if _visible(tail):
        parts.append(tail)
    return parts


def _reopen(tags: list[tuple[str, str]]) -> str:
    return "".join(raw for _, raw in tags)


def _visible(html: str) -> bool:
    """Does the part show anything (not only tags and whitespace)?"""
    return bool(re.sub(r"<[^>]*>", "", html).strip())


async def send_reply(
    bot: Bot,
    chat_id: int,
    reply: Reply,
    secret: bytes,
    *,
    reply_to: int | None = None,
    owner: int | None = None,
) -> list[Message]:
    """Send `reply`, split on paragraph boundaries when over the limit; buttons go on the last
    part, the quote (if any) on the first. Rating and choice buttons are signed for `owner`."""
    markup = keyboard(reply.buttons, secret, owner)
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
    user = update.effective_user
    await send_reply(context.bot, chat.id, reply, context.bot_data.secret, reply_to=reply_to,
                     owner=user.id if user is not None else None)
