"""Webhook mode over real HTTP (uvicorn on 127.0.0.1): the secret header, the update path,
/healthz, and the settings that choose it. Telegram's side is the fake transport of
tests/test_handlers.py."""

from __future__ import annotations

import asyncio
import json
import socket
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from policybot.bot.app import build_application
from policybot.bot.webhook import build_server, serve, webhook_path
from policybot.cli import main
from policybot.config import Config, ConfigError
from tests.test_handlers import USER_ID, FakeTelegram, make_config

SECRET = "s3cret_token-for-tests"


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
async def webhook(tmp_path: Path, kb_dir: Path) -> AsyncIterator[tuple[str, FakeTelegram, Config]]:
    cfg = make_config(tmp_path, kb_dir, webhook_url="https://bot.example.org/tg", webhook_secret=SECRET,
                      listen=("127.0.0.1", _port()))
    fake = FakeTelegram()
    app = build_application(cfg, request=fake, get_updates_request=FakeTelegram())
    server = build_server(cfg, app)
    task = asyncio.create_task(serve(cfg, app, server))
    for _ in range(200):
        if server.started:
            break
        await asyncio.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{cfg.listen[1]}", fake, cfg
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10)


def _update(n: int, text: str) -> dict[str, Any]:
    return {"update_id": n, "message": {
        "message_id": n, "date": 1_700_000_000, "text": text,
        "chat": {"id": USER_ID, "type": "private"},
        "from": {"id": USER_ID, "is_bot": False, "first_name": "居民", "language_code": "zh-hans"}}}


async def _sent(fake: FakeTelegram, n: int) -> list[str]:
    for _ in range(200):
        texts = [str(p["text"]) for name, p in fake.calls if name == "sendMessage"]
        if len(texts) >= n:
            return texts
        await asyncio.sleep(0.02)
    return [str(p["text"]) for name, p in fake.calls if name == "sendMessage"]


async def test_only_updates_with_the_secret_are_handled(webhook: tuple[str, FakeTelegram, Config]) -> None:
    base, fake, cfg = webhook
    async with httpx.AsyncClient(base_url=base) as http:
        body = json.dumps(_update(1, "怎么在网上预约挂号"))
        assert (await http.post("/tg", content=body)).status_code == 403
        wrong = {"X-Telegram-Bot-Api-Secret-Token": "nope"}
        assert (await http.post("/tg", content=body, headers=wrong)).status_code == 403
        await asyncio.sleep(0.2)
        assert await _sent(fake, 0) == []  # refused requests are never processed
        good = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
        assert (await http.post("/tg", content=body, headers=good)).status_code == 200
        assert "健康城市" in (await _sent(fake, 1))[0]
        assert (await http.post("/tg", content=b"{not json", headers=good)).status_code == 400
        assert (await http.post("/elsewhere", content=body, headers=good)).status_code == 404
        health = await http.get("/healthz")
        assert health.status_code == 200
        assert health.json() == {"ok": True, "knowledge": health.json()["knowledge"], "log": "writable"}
    # the one accepted question, logged once (the writer flushes every half second)
    rows: list[tuple[str]] = []
    for _ in range(100):
        with sqlite3.connect(cfg.db_path) as db:
            rows = db.execute("SELECT text FROM queries").fetchall()
        if rows:
            break
        await asyncio.sleep(0.05)
    assert rows == [("怎么在网上预约挂号",)]


async def test_healthz_is_503_when_the_log_cannot_be_written(tmp_path: Path, kb_dir: Path) -> None:
    (tmp_path / "not-a-dir").write_text("x")
    cfg = make_config(tmp_path, kb_dir, db_path=tmp_path / "not-a-dir" / "log.sqlite3",
                      webhook_url="https://bot.example.org/tg", webhook_secret=SECRET, listen=("127.0.0.1", _port()))
    app = build_application(cfg, request=FakeTelegram(), get_updates_request=FakeTelegram())
    server = build_server(cfg, app)
    task = asyncio.create_task(serve(cfg, app, server))
    try:
        for _ in range(200):
            if server.started:
                break
            await asyncio.sleep(0.02)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{cfg.listen[1]}") as http:
            health = await http.get("/healthz")
        assert health.status_code == 503 and health.json()["log"] == "unavailable"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10)


def test_webhook_settings() -> None:
    cfg = Config.from_env({"TELEGRAM_WEBHOOK_URL": "https://bot.example.org/tg", "TELEGRAM_WEBHOOK_SECRET": SECRET,
                           "POLICYBOT_LISTEN": "10.0.0.5:8443"})
    assert (cfg.webhook_url, cfg.listen, webhook_path(cfg.webhook_url)) == ("https://bot.example.org/tg", ("10.0.0.5", 8443), "/tg")
    assert Config.from_env({}).listen == ("127.0.0.1", 8443) and Config.from_env({}).webhook_url == ""
    with pytest.raises(ConfigError, match="TELEGRAM_WEBHOOK_SECRET"):
        Config.from_env({"TELEGRAM_WEBHOOK_URL": "https://bot.example.org/tg"})
    with pytest.raises(ConfigError, match="https"):
        Config.from_env({"TELEGRAM_WEBHOOK_URL": "http://bot.example.org/tg", "TELEGRAM_WEBHOOK_SECRET": SECRET})
    with pytest.raises(ConfigError, match="POLICYBOT_LISTEN"):
        Config.from_env({"POLICYBOT_LISTEN": "8443"})
    assert "s3cret" not in repr(cfg)  # the secret is never printed


def test_set_webhook_needs_its_settings(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["set-webhook"], env={}) == 2
    assert "TELEGRAM_BOT_TOKEN" in capsys.readouterr().err
    assert main(["set-webhook"], env={"TELEGRAM_BOT_TOKEN": "1:x"}) == 2
    assert "TELEGRAM_WEBHOOK_URL" in capsys.readouterr().err
