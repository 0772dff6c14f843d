"""Load over the real HTTP path: residents, a busy group and a crisis, through the Bot API emulator.

    .venv/bin/python -m tests.e2e.load            # the full size: 200 residents x 20 questions,
                                                  # a group with 40 /ask, a crisis probe (~3 min)
    .venv/bin/python -m tests.e2e.load --residents 20 --questions 3 --group 5   # any size

The bot is built as in production (build_application, long polling, Telegram's send limits:
30 messages a second, 20 a minute per group) and talks HTTP to tests/e2e/harness.Bridge in
front of the telegram-test-api emulator. Everything is queued first: every resident's
questions and the group's /ask; then one more resident writes "我不想活了" in a private chat,
and the time to its 12356 reply is measured. Then the test waits for every reply and, after
shutdown, counts the query log. tests/e2e/test_load.py runs a reduced size in `make test`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sqlite3
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx

from policybot.bot.app import build_application
from policybot.config import Config
from tests.e2e.harness import Bridge, Emulator, ensure_emulator_installed, polling

TOKEN = "424242:E2E-load-token_only-for-the-emulator"
GROUP = {"id": -100777, "type": "supergroup", "title": "居民群"}
CRISIS_USER = 900_000
QUESTIONS = (
    "怎么在网上预约挂号", "两癌筛查免费吗", "门诊看病怎么报销", "住院费用怎么报销", "家庭医生怎么签约",
    "孩子打疫苗要预约吗", "异地就医怎么备案", "医保卡丢了怎么补办", "老人免费体检在哪里做", "慢病卡怎么办理",
)


@dataclass
class LoadResult:
    residents: int
    questions_each: int
    group_asks: int
    questions: int  # every question asked, the crisis included
    replies: int  # messages the residents and the group received
    logged: int  # query log rows
    logged_once: bool  # every question's text exactly once in the log
    crisis_seconds: float  # from the crisis message to its reply
    crisis_reply_has_12356: bool
    all_replies_seconds: float  # from the first question to the last reply


def _message(user: int, chat: dict[str, Any], text: str) -> dict[str, Any]:
    message: dict[str, Any] = {
        "botToken": TOKEN,
        "from": {"id": user, "is_bot": False, "first_name": "居民", "language_code": "zh-hans"},
        "chat": chat,
        "date": int(time.time()),
        "text": text,
    }
    if text.startswith("/"):
        message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}]
    return message


async def _send(http: httpx.AsyncClient, message: dict[str, Any]) -> None:
    path = "/sendCommand" if message["text"].startswith("/") else "/sendMessage"
    (await http.post(path, json=message)).raise_for_status()


async def _collect(http: httpx.AsyncClient, chat_id: int) -> list[dict[str, Any]]:
    response = await http.post("/getUpdates", json={"token": TOKEN, "chatId": chat_id})
    return list(response.json().get("result", []))


async def run_load(emulator_url: str, knowledge: Path, workdir: Path, residents: int, questions_each: int,
                   group_asks: int, timeout: float = 600) -> LoadResult:
    db_path = workdir / "load.sqlite3"
    texts: list[tuple[int, dict[str, Any], str]] = []
    for r in range(residents):
        user = 100_000 + r
        chat = {"id": user, "type": "private", "first_name": "居民"}
        for k in range(questions_each):
            texts.append((user, chat, f"{QUESTIONS[(r + k) % len(QUESTIONS)]}（{r}-{k}）"))
    for g in range(group_asks):
        texts.append((200_000 + g % 5, GROUP, f"/ask {QUESTIONS[g % len(QUESTIONS)]}（群{g}）"))
    chats = {c["id"] for _, c, _ in texts} | {CRISIS_USER}
    expected = {cid: 0 for cid in chats}
    for _, chat, _ in texts:
        expected[chat["id"]] += 1
    expected[CRISIS_USER] = 1
    received: dict[int, list[dict[str, Any]]] = {cid: [] for cid in chats}

    async with asyncio.timeout(timeout), Bridge(emulator_url) as bridge:
        cfg = Config(token=TOKEN, api_base_url=bridge.url, knowledge_dir=knowledge, db_path=db_path,
                     cache_dir=workdir / "cache", hash_salt="load-salt", reload_interval=0)
        limits = httpx.Limits(max_connections=20)
        async with httpx.AsyncClient(base_url=emulator_url, timeout=30, limits=limits) as http, \
                polling(build_application(cfg)):
            t0 = time.perf_counter()
            sem = asyncio.Semaphore(20)

            async def send(user: int, chat: dict[str, Any], text: str) -> None:
                async with sem:
                    await _send(http, _message(user, chat, text))

            await asyncio.gather(*(send(u, c, t) for u, c, t in texts))
            crisis_sent = time.perf_counter()
            await _send(http, _message(CRISIS_USER, {"id": CRISIS_USER, "type": "private", "first_name": "居民"},
                                       "我不想活了"))
            while not received[CRISIS_USER]:
                received[CRISIS_USER] += await _collect(http, CRISIS_USER)
                await asyncio.sleep(0.05)
            crisis_seconds = time.perf_counter() - crisis_sent
            while any(len(received[c]) < expected[c] for c in chats):
                for c in chats:
                    if len(received[c]) < expected[c]:
                        received[c] += await _collect(http, c)
                await asyncio.sleep(0.2)
            all_seconds = time.perf_counter() - t0
            await asyncio.sleep(0.5)  # anything extra would show up now
            for c in chats:
                received[c] += await _collect(http, c)
    with sqlite3.connect(db_path) as db:
        logged_texts = [row[0] for row in db.execute("SELECT text FROM queries")]
    asked = [t for _, _, t in texts]
    asked_plain = [t.removeprefix("/ask ") for t in asked] + ["我不想活了"]
    crisis_text = str(received[CRISIS_USER][0]["message"]["text"])
    return LoadResult(
        residents=residents,
        questions_each=questions_each,
        group_asks=group_asks,
        questions=len(asked) + 1,
        replies=sum(len(v) for v in received.values()),
        logged=len(logged_texts),
        logged_once=sorted(logged_texts) == sorted(asked_plain),
        crisis_seconds=crisis_seconds,
        crisis_reply_has_12356="12356" in crisis_text,
        all_replies_seconds=all_seconds,
    )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m tests.e2e.load", description=__doc__.splitlines()[0])
    p.add_argument("--residents", type=int, default=200)
    p.add_argument("--questions", type=int, default=20, help="questions per resident")
    p.add_argument("--group", type=int, default=40, help="/ask in one group")
    p.add_argument("--knowledge", default="knowledge")
    args = p.parse_args(argv)
    ensure_emulator_installed()
    emulator = Emulator()
    emulator.start()
    try:
        with tempfile.TemporaryDirectory(prefix="policybot-load-") as tmp:
            result = asyncio.run(run_load(emulator.url, Path(args.knowledge), Path(tmp), args.residents,
                                          args.questions, args.group))
    finally:
        emulator.stop()
    print(json.dumps(asdict(result), indent=2))
    ok = (result.replies == result.questions == result.logged and result.logged_once
          and result.crisis_reply_has_12356 and result.crisis_seconds <= 2.0)
    print("held" if ok else "FAILED", file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
