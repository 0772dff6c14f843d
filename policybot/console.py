"""The terminal chat: the same Service and replies as Telegram, rendered as text.

Buttons are shown as a numbered list; typing the number presses the button. /start, /help,
/topics, /lang and /quit work as in Telegram. Reads standard input line by line, so tests
(and editors) can pipe a conversation through it. Started by `python bot.py` without a token
and by `python -m policybot chat`.
"""

from __future__ import annotations

import asyncio
import html
import re
import sys
from typing import TextIO

from policybot import replies
from policybot.bootstrap import start_service, stop_service
from policybot.config import Config
from policybot.exitcodes import EXIT_ERRORS, EXIT_OK
from policybot.knowledge import KnowledgeError
from policybot.model import LANG_HANS, LANGUAGES, Button, Reply
from policybot.service import Service

CONSOLE_NOTICE = (
    "No TELEGRAM_BOT_TOKEN set: starting the console chat. "
    "To run on Telegram, put TELEGRAM_BOT_TOKEN=... in .env (see README)."
)
PROMPT = "> "
_TAG = re.compile(r"<[^>]+>")


def to_plain(body: str) -> str:
    """Telegram-HTML to terminal text (the console shows exactly what Telegram would)."""
    return html.unescape(_TAG.sub("", body))


def render(reply: Reply, numbered: bool = True) -> str:
    """Exactly the text Telegram shows, then the buttons as a numbered list."""
    out = to_plain(reply.html)
    labels = [b.label for row in reply.buttons for b in row]
    if labels and numbered:
        out += "\n" + "\n".join(f"  [{i}] {label}" for i, label in enumerate(labels, 1))
    return out


class ConsoleChat:
    """One resident at a terminal. `handle(line)` returns the text to print."""

    def __init__(self, service: Service, lang: str = LANG_HANS) -> None:
        self.service = service
        self.lang = lang
        self._buttons: list[Button] = []

    def _show(self, reply: Reply) -> str:
        self._buttons = [b for row in reply.buttons for b in row]
        return render(reply)

    def press(self, button: Button) -> Reply:
        if button.action == replies.ACT_LANG and button.arg in LANGUAGES:
            self.lang = button.arg
            return replies.language_set(self.lang)
        return self.service.press(button, self.lang) or replies.simple("expired", self.lang)

    def start(self) -> str:
        """The welcome, as /start gives it."""
        return self._show(self.service.welcome(self.lang))

    def handle(self, line: str) -> str | None:
        """The reply to one input line; None means the chat is over."""
        line = line.strip()
        if not line:
            return ""
        if line in ("/quit", "/exit"):
            return None
        if line.isdigit() and self._buttons:
            index = int(line) - 1
            if 0 <= index < len(self._buttons):
                return self._show(self.press(self._buttons[index]))
        command = line.split()[0].lower()
        if command == "/start":
            return self.start()
        if command == "/help":
            return self._show(replies.help_reply(self.lang))
        if command == "/topics":
            return self._show(replies.topics(self.service.kb, self.lang))
        if command == "/lang":
            return self._show(replies.choose_language())
        if command == "/ask":
            line = line[len("/ask") :].strip()
            if not line:
                return self._show(replies.simple("ask_usage", self.lang))
        elif command.startswith("/"):
            return self._show(replies.simple("unknown_command", self.lang))
        answer = self.service.ask(line, chat="console", lang=self.lang, channel="console")
        return self._show(answer.reply)


async def chat_loop(service: Service, stdin: TextIO, stdout: TextIO, interactive: bool) -> None:
    chat = ConsoleChat(service)
    stdout.write(chat.start() + "\n")
    while True:
        if interactive:
            stdout.write(PROMPT)
            stdout.flush()
        line = await asyncio.to_thread(stdin.readline)
        if not line:  # end of input
            break
        if service.knowledge_dir is not None:
            service.reload_if_changed()  # editors see their edits without a restart
        out = chat.handle(line)
        if out is None:
            break
        if out:
            stdout.write(out + "\n\n")
            stdout.flush()


async def _run(cfg: Config) -> int:
    try:
        service = await start_service(cfg, log_warnings=False)
    except KnowledgeError as exc:
        exc.print(sys.stderr, prefix="cannot start: ")
        return EXIT_ERRORS
    try:
        await chat_loop(service, sys.stdin, sys.stdout, interactive=sys.stdin.isatty())
    finally:
        await stop_service(service)
    return EXIT_OK


def run_console(cfg: Config, notice: bool = False) -> int:
    if notice:
        print(CONSOLE_NOTICE)
    try:
        return asyncio.run(_run(cfg))
    except KeyboardInterrupt:
        return EXIT_OK
