"""Two replicas, one PostgreSQL log: two bot processes' worth of webhook servers (each with its
own Application, port and fake Bot API transport) share one database; updates are posted to
them alternately, as a load balancer would."""

from __future__ import annotations

import asyncio
import datetime as dt
import socket
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from policybot.bot.app import build_application
from policybot.bot.webhook import build_server, serve
from tests.test_handlers import FakeTelegram, make_config

SECRET = "replica-secret_0123"


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _update(n: int, text: str, user: int) -> dict[str, Any]:
    return {"update_id": n, "message": {
        "message_id": n, "date": 1_700_000_000, "text": text,
        "chat": {"id": user, "type": "private"},
        "from": {"id": user, "is_bot": False, "first_name": "居民", "language_code": "zh-hans"}}}


async def test_two_replicas_one_database(postgres: Any, tmp_path: Path, kb_dir: Path) -> None:
    url = postgres.createdb("two_replicas")
    replicas = []
    for i in range(2):
        cfg = make_config(tmp_path / f"r{i}", kb_dir, database_url=url, hash_salt="shared-salt",
                          webhook_url="https://bot.example.org/tg", webhook_secret=SECRET,
                          listen=("127.0.0.1", _port()))
        fake = FakeTelegram()
        app = build_application(cfg, request=fake, get_updates_request=FakeTelegram())
        server = build_server(cfg, app)
        task = asyncio.create_task(serve(cfg, app, server))
        replicas.append((cfg, fake, app, server, task))
    for _, _, _, server, _ in replicas:
        for _ in range(300):
            if server.started:
                break
            await asyncio.sleep(0.02)
    questions = ["怎么在网上预约挂号", "门诊看病怎么报销", "外星人生病了怎么办", "那住院费用怎么报销"] * 5
    try:
        async with httpx.AsyncClient() as http:
            for n, q in enumerate(questions):
                cfg = replicas[n % 2][0]  # round robin
                r = await http.post(f"http://127.0.0.1:{cfg.listen[1]}/tg", json=_update(n + 1, q, 5000 + n),
                                    headers={"X-Telegram-Bot-Api-Secret-Token": SECRET})
                assert r.status_code == 200
            wrong = await http.post(f"http://127.0.0.1:{replicas[1][0].listen[1]}/tg", json=_update(999, "x", 1),
                                    headers={"X-Telegram-Bot-Api-Secret-Token": "wrong"})
            assert wrong.status_code == 403
            for cfg, *_ in replicas:
                assert (await http.get(f"http://127.0.0.1:{cfg.listen[1]}/healthz")).status_code == 200
        for _ in range(300):  # every update answered once, by the replica that got it
            sent = [sum(1 for name, _ in fake.calls if name == "sendMessage") for _, fake, *_ in replicas]
            if sum(sent) >= len(questions):
                break
            await asyncio.sleep(0.02)
        assert sent == [len(questions) // 2, len(questions) // 2]
        # /stats is the same from both (one database)
        logs = [app.bot_data.running().querylog for _, _, app, _, _ in replicas]
        for querylog in logs:  # what each replica holds is written first
            assert querylog is not None and await querylog.flush()
        stats = [await q.stats(dt.datetime(2000, 1, 1, tzinfo=dt.UTC)) for q in logs if q is not None]
        assert stats[0] == stats[1] and stats[0].total == len(questions)
    finally:
        for _, _, _, server, task in replicas:
            server.should_exit = True
            await asyncio.wait_for(task, 15)
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch("SELECT text, count(*) FROM queries GROUP BY text")
        assert {r[0]: r[1] for r in rows} == {q: 5 for q in set(questions)}  # each logged once
        assert await conn.fetchval("SELECT count(DISTINCT chat_hash) FROM queries") == len(questions)
    finally:
        await conn.close()
