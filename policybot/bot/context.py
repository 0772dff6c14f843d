"""What the Telegram application keeps, typed: per-bot data (`BotData`), per-user data
(`UserData`), the callback context handlers receive (`BotContext`), and the user's language."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from telegram import Update
from telegram.ext import Application, CallbackContext, ContextTypes, ExtBot, JobQueue

from policybot.bot.fairness import FloodGate
from policybot.config import Config
from policybot.model import LANG_EN, LANG_HANS, LANG_HANT
from policybot.service import Service


@dataclass
class BotData:
    """Filled by `app.build_application` (config) and `app.post_init` (the rest)."""

    config: Config = field(default_factory=Config)
    service: Service | None = None  # None until post_init has run
    secret: bytes = b""  # the key that signs button data
    flood: FloodGate = field(default_factory=lambda: FloodGate(0))  # set from the config at build

    def running(self) -> Service:
        """The service; only handlers and jobs call this, and they run after post_init."""
        if self.service is None:
            raise RuntimeError("the bot has not started: post_init sets the service")
        return self.service


@dataclass
class UserData:
    """Per Telegram user, in memory; the /lang choice is also kept in the query log's database
    (so a restart or another replica remembers it) and read back once per process."""

    lang: str | None = None  # chosen with /lang
    script: str | None = None  # the script the user last wrote a question in
    lang_loaded: bool = False  # the stored choice has been looked up


BotContext = CallbackContext[ExtBot[Any], UserData, dict[Any, Any], BotData]
# ExtBot[int]: the rate limiter's retry count; the job queue's context type is not tracked.
BotApplication = Application[ExtBot[int], BotContext, UserData, dict[Any, Any], BotData, JobQueue[Any]]
CONTEXT_TYPES = ContextTypes(bot_data=BotData, user_data=UserData)

_HANT_CODES = ("zh-hant", "zh-tw", "zh-hk", "zh-mo")


def lang_from_code(code: str | None) -> str:
    """Telegram's client language_code -> reply language."""
    c = (code or "").strip().lower().replace("_", "-")
    if c.startswith("en"):
        return LANG_EN
    if any(c == h or c.startswith(h + "-") for h in _HANT_CODES):
        return LANG_HANT
    return LANG_HANS


def user_lang(update: Update, context: BotContext) -> str:
    """Explicit /lang choice, else the script the user writes in, else the client's language."""
    data = context.user_data
    chosen = (data.lang or data.script) if data is not None else None
    if chosen:
        return chosen
    user = update.effective_user
    return lang_from_code(user.language_code if user else None)
