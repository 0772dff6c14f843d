"""The bot token never reaches a log: httpx and python-telegram-bot put request URLs (which
contain it) into messages and exceptions, so every log handler gets a filter that masks it."""

from __future__ import annotations

import logging
import urllib.parse


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
    """Put a TokenRedactor on every root handler (and the last-resort one); quiet httpx, and
    keep the libraries that log residents' messages at DEBUG above it."""
    logging.getLogger("httpx").setLevel(logging.WARNING)  # it logs every URL at INFO
    # At DEBUG python-telegram-bot logs whole updates and API parameters (user ids, names,
    # questions) and aiosqlite every statement's parameters: they stay at INFO even when
    # POLICYBOT_LOG_LEVEL=DEBUG.
    for name in ("telegram", "httpcore", "apscheduler", "aiosqlite"):
        logger = logging.getLogger(name)
        logger.setLevel(max(logging.INFO, logger.getEffectiveLevel()))
    if not token:
        return
    targets = [*logging.getLogger().handlers]
    if logging.lastResort is not None:
        targets.append(logging.lastResort)
    for handler in targets:
        if not any(isinstance(f, TokenRedactor) and token in f.secrets for f in handler.filters):
            handler.addFilter(TokenRedactor(token))
