"""Two replicas, one PostgreSQL log, through the Bot API emulator.

    residents (emulator client API) -> telegram-test-api <- the test, as Telegram + load balancer:
                                                             takes each update and posts it to the
                                                             replicas' webhooks alternately
    replica A, replica B (webhook mode, real HTTP) -> Bridge -> telegram-test-api (the replies)

Each replica is a full Application with its own uvicorn server and port; both share one
throw-away PostgreSQL database. What is asserted is what the residents' clients receive.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from policybot.bot.app import build_application
from policybot.bot.webhook import build_server, serve
from policybot.config import Config
from tests.e2e.harness import Bridge, Emulator, Resident, free_port, text_of

pytestmark = pytest.mark.e2e

TOKEN = "424243:E2E-replicas-token_only-for-the-emulator"
SECRET = "replica-secret_0123"
STAFF = 7001
QUESTIONS = ["怎么在网上预约挂号", "门诊看病怎么报销", "外星人生病了怎么办", "那住院费用怎么报销"]


async def _balance(bridge: Bridge, ports: list[int], expected: int, header: str = SECRET) -> list[int]:
    """Telegram's side of a webhook behind a round-robin load balancer: every update the
    emulator holds is posted once, to the replicas in turn. Returns the HTTP statuses."""
    statuses: list[int] = []
    async with httpx.AsyncClient(timeout=10) as http:
        async with asyncio.timeout(30):
            while len(statuses) < expected:
                r = await http.post(f"{bridge.url}/bot{TOKEN}/getUpdates", json={"timeout": 0})
                for update in r.json()["result"]:
                    port = ports[len(statuses) % len(ports)]
                    posted = await http.post(f"http://127.0.0.1:{port}/tg", json=update,
                                             headers={"X-Telegram-Bot-Api-Secret-Token": header})
                    statuses.append(posted.status_code)
                await asyncio.sleep(0.05)
    return statuses


async def test_two_replicas_through_the_emulator(emulator: Emulator, postgres: Any, kb_dir: Path,
                                                 tmp_path: Path) -> None:
    url = postgres.createdb("replicas_e2e")
    async with Bridge(emulator.url) as bridge:
        servers, tasks, ports = [], [], []
        for i in range(2):
            ports.append(free_port())
            cfg = Config(token=TOKEN, api_base_url=bridge.url, knowledge_dir=kb_dir,
                         db_path=tmp_path / f"r{i}" / "unused.sqlite3", database_url=url,
                         hash_salt="shared-salt", staff_ids=frozenset({STAFF}), reload_interval=0,
                         webhook_url="https://bot.example.org/tg", webhook_secret=SECRET,
                         listen=("127.0.0.1", ports[-1]))
            app = build_application(cfg)
            servers.append(build_server(cfg, app))
            tasks.append(asyncio.create_task(serve(cfg, app, servers[-1])))
        residents = [Resident(emulator.url, TOKEN, user_id=5100 + n) for n in range(6)]
        staff = Resident(emulator.url, TOKEN, user_id=STAFF)
        try:
            async with asyncio.timeout(30):
                while not all(s.started for s in servers):
                    await asyncio.sleep(0.05)
            for question in QUESTIONS:
                for resident in residents:
                    await resident.send(question)
            total = len(QUESTIONS) * len(residents)
            assert await _balance(bridge, ports, total) == [200] * total

            # every question answered once, in its chat, whichever replica took it
            for resident in residents:
                got = await resident.replies(len(QUESTIONS), timeout=20)
                assert len(got) == len(QUESTIONS)
            await asyncio.sleep(0.5)
            for resident in residents:  # and nothing twice
                r = await resident.http.post("/getUpdates", json={"token": TOKEN, "chatId": resident.chat["id"]})
                assert r.json().get("result", []) == []

            # a wrong or missing secret is refused, and the update is not processed
            await residents[0].send("门诊看病怎么报销")
            assert await _balance(bridge, ports, 1, header="wrong") == [403]
            async with httpx.AsyncClient() as http:
                r = await http.post(f"http://127.0.0.1:{ports[1]}/tg", json={"update_id": 1})
                assert r.status_code == 403
                for port in ports:
                    assert (await http.get(f"http://127.0.0.1:{port}/healthz")).status_code == 200

            # every question logged once in the one database ...
            conn = await asyncpg.connect(url)
            try:
                async with asyncio.timeout(20):
                    while await conn.fetchval("SELECT count(*) FROM queries") < total:
                        await asyncio.sleep(0.1)
                await asyncio.sleep(1.0)  # anything more would be a double
                rows = await conn.fetch("SELECT text, count(*) FROM queries GROUP BY text")
                assert {r[0]: r[1] for r in rows} == {q: len(residents) for q in QUESTIONS}
                assert await conn.fetchval("SELECT count(DISTINCT chat_hash) FROM queries") == len(residents)
            finally:
                await conn.close()

            # ... so /stats is the same from either replica
            await staff.send("/stats")
            await staff.send("/stats")
            assert await _balance(bridge, ports, 2) == [200, 200]
            first, second = await staff.replies(2, timeout=20)
            assert text_of(first) == text_of(second)
            assert str(total) in text_of(first)
        finally:
            for resident in [*residents, staff]:
                await resident.aclose()
            for server in servers:
                server.should_exit = True
            await asyncio.wait_for(asyncio.gather(*tasks), 20)
    assert bridge.calls.count("sendMessage") == total + 2
