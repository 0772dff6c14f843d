"""Webhook mode: Telegram posts updates to us; one small ASGI server (uvicorn) also answers the
load balancer's health check.

    POST <path of TELEGRAM_WEBHOOK_URL>   an update; the X-Telegram-Bot-Api-Secret-Token header
                                          must equal TELEGRAM_WEBHOOK_SECRET (else 403, unread)
    GET  /healthz                         200 when the knowledge is loaded and the log writable,
                                          else 503 (JSON says which)

Hand-written on uvicorn rather than python-telegram-bot's own webhook server, because that
server has no room for a second route (/healthz); this is the custom-server pattern of
python-telegram-bot's documentation. The webhook is registered once for all replicas with
`python -m policybot set-webhook`, never at start.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import sys
import urllib.parse
from typing import Any

from telegram import Bot, Update
from telegram.error import TelegramError

from policybot.bot.app import (
    ALLOWED_UPDATES,
    api_urls,
    build_application,
    post_init,
    post_shutdown,
    run_until_stopped,
)
from policybot.bot.context import BotApplication
from policybot.config import Config
from policybot.exitcodes import EXIT_ERRORS, EXIT_OK

log = logging.getLogger(__name__)

MAX_BODY = 1 << 20  # an update is a few kilobytes; Telegram never sends a megabyte
SECRET_HEADER = b"x-telegram-bot-api-secret-token"


def webhook_path(url: str) -> str:
    """The path Telegram posts to: the URL's own path ("/tg" for https://bot.example.org/tg)."""
    return urllib.parse.urlsplit(url).path or "/"


def health(application: BotApplication) -> tuple[bool, dict[str, Any]]:
    """(healthy, details): the knowledge is loaded and the query log takes rows."""
    service = application.bot_data.service
    knowledge = service.kb.version if service is not None else None
    querylog = service.querylog if service is not None else None
    if querylog is None:
        log_state = "unavailable"
    else:
        h = querylog.health()
        log_state = "writable" if not h.failures else f"failing ({h.failures} attempts)"
    ok = knowledge is not None and log_state == "writable"
    return ok, {"ok": ok, "knowledge": knowledge, "log": log_state}


class WebhookApp:
    """The ASGI application: the webhook path and /healthz, nothing else."""

    def __init__(self, application: BotApplication, path: str, secret: str) -> None:
        self.application = application
        self.path = path
        self.secret = secret.encode()
        self.refused = 0  # requests with a wrong or missing secret

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        method, path = scope["method"], scope["path"]
        if path == "/healthz" and method in ("GET", "HEAD"):
            ok, details = health(self.application)
            await _respond(send, 200 if ok else 503, details)
        elif path == self.path and method == "POST":
            await self._update(scope, receive, send)
        else:
            await _respond(send, 404, {"ok": False})

    async def _update(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        given = dict(scope.get("headers") or []).get(SECRET_HEADER, b"")
        if not hmac.compare_digest(given, self.secret):
            self.refused += 1
            await _respond(send, 403, {"ok": False})  # the body is never read
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if len(body) > MAX_BODY:
                await _respond(send, 413, {"ok": False})
                return
            if not message.get("more_body"):
                break
        try:
            update = Update.de_json(json.loads(body), self.application.bot)
        except Exception:  # not an update: Telegram never sends that, so nothing is lost
            await _respond(send, 400, {"ok": False})
            return
        await self.application.update_queue.put(update)
        await _respond(send, 200, {"ok": True})


async def _respond(send: Any, status: int, payload: dict[str, Any]) -> None:
    body = json.dumps(payload).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


def build_server(cfg: Config, application: BotApplication) -> Any:
    """The uvicorn server on POLICYBOT_LISTEN (its `should_exit` stops it)."""
    import uvicorn

    host, port = cfg.listen
    app = WebhookApp(application, webhook_path(cfg.webhook_url), cfg.webhook_secret)
    return uvicorn.Server(uvicorn.Config(app, host=host, port=port, lifespan="off", log_level="warning",
                                         access_log=False))


async def serve(cfg: Config, application: BotApplication | None = None, server: Any = None) -> None:
    """Run the bot in webhook mode until the server is told to stop (SIGINT, SIGTERM)."""
    application = application or build_application(cfg)
    server = server or build_server(cfg, application)
    await application.initialize()
    try:
        await post_init(application)
        await application.start()
        try:
            await server.serve()
        finally:
            await application.stop()
    finally:
        await application.shutdown()
        await post_shutdown(application)


async def set_webhook(cfg: Config, *, delete: bool = False) -> str:
    """Register (or remove) the webhook with Telegram: once per deployment, not per replica."""
    kwargs: dict[str, Any] = {}
    if cfg.api_base_url:
        kwargs["base_url"], kwargs["base_file_url"] = api_urls(cfg.api_base_url)
    async with Bot(cfg.token, **kwargs) as bot:
        if delete:
            await bot.delete_webhook()
            return "webhook removed: the bot can long-poll again"
        await bot.set_webhook(cfg.webhook_url, secret_token=cfg.webhook_secret, allowed_updates=ALLOWED_UPDATES)
        return f"webhook set to {cfg.webhook_url}"


def register(cfg: Config, *, delete: bool = False) -> int:
    """`set-webhook`: register or remove the webhook, say what happened; an exit status."""
    try:
        print(asyncio.run(set_webhook(cfg, delete=delete)))
    except TelegramError as exc:
        print(f"Telegram refused: {exc}", file=sys.stderr)
        return EXIT_ERRORS
    return EXIT_OK


def run(cfg: Config) -> int:
    """Webhook mode until interrupted; EXIT_ERRORS when the bot cannot start."""
    return run_until_stopped(lambda: asyncio.run(serve(cfg)))
