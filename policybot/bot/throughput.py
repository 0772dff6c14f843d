"""Updates per second through the real `Application`, beside a bare echo bot in the same run.

    python -m policybot.bot.throughput --questions FILE [--updates N] [--json]

Both applications get the same private text messages from many residents through their update
queue and answer through a local fake Bot API transport (no network): what is measured is the
application's own processing — python-telegram-bot, the safety net, the matcher, the reply and
the query log (SQLite, in a temporary folder) — not Telegram's. Telegram's send limits (about
30 messages a second per bot) are left out: the rate limiter is off for both bots, so the
figure says how much one process can do, not how fast Telegram lets it send.
`bench` runs this in a child process; FILE holds one question a line.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import itertools
import json
import sqlite3
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from telegram import Update
from telegram.ext import Application, ContextTypes, MessageHandler, filters
from telegram.request import BaseRequest, RequestData

from policybot.bot.app import build_application, post_init, post_shutdown
from policybot.config import Config

TOKEN = "123456789:AAE-throughput-not-a-real-token-000"  # noqa: S105 (fake; the transport never leaves the process)
BOT = {"id": 123456789, "is_bot": True, "first_name": "Policy", "username": "PolicyBenchBot"}
RESIDENTS = 200


class FakeBotAPI(BaseRequest):
    """Answers every Bot API call at once, as Telegram would, and counts the messages sent.
    (tests/test_handlers.FakeTelegram extends it to record the calls.)"""

    def __init__(self, bot: dict[str, Any] | None = None, first_message_id: int = 1000) -> None:
        self.bot = bot or BOT
        self.messages_sent = 0
        self._ids = itertools.count(first_message_id)

    @property
    def read_timeout(self) -> float | None:
        return 1.0

    async def initialize(self) -> None:
        pass

    async def shutdown(self) -> None:
        pass

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: Any = None,
        write_timeout: Any = None,
        connect_timeout: Any = None,
        pool_timeout: Any = None,
    ) -> tuple[int, bytes]:
        await asyncio.sleep(0)  # real I/O gives the loop back; so does this
        name = url.rsplit("/", 1)[-1]
        params = request_data.parameters if request_data else {}
        result: Any = True
        if name == "getMe":
            result = self.bot
        elif name in ("sendMessage", "editMessageText"):
            chat = int(str(params["chat_id"]))
            result = {
                "message_id": next(self._ids),
                "date": int(time.time()),
                "chat": {"id": chat, "type": "private" if chat > 0 else "supergroup"},
                "from": self.bot,
                "text": params["text"],
            }
            if name == "sendMessage":
                self.messages_sent += 1
        return 200, json.dumps({"ok": True, "result": result}).encode()


def distinct(questions: list[str], count: int, start: int = 0) -> list[str]:
    """`count` messages, no two alike: the questions cycled, each with its number (nothing a
    cache of recent messages could serve twice)."""
    return [f"{q}（{start + n}）" for n, q in zip(range(count), itertools.cycle(questions))]


def _updates(questions: list[str], count: int, app: Application[Any, Any, Any, Any, Any, Any]) -> list[Update]:
    now = int(dt.datetime.now(dt.UTC).timestamp())
    out = []
    for n, text in zip(range(count), itertools.cycle(questions)):
        user = 10_000 + n % RESIDENTS
        message = {
            "message_id": n + 1,
            "date": now,
            "chat": {"id": user, "type": "private"},
            "from": {"id": user, "is_bot": False, "first_name": "居民", "language_code": "zh-hans"},
            "text": text,
        }
        out.append(Update.de_json({"update_id": n + 1, "message": message}, app.bot))
    return out


class LoopLag:
    """How late a 1 ms ticker wakes up: the longest stretch the event loop was not free."""

    def __init__(self) -> None:
        self.lags: list[float] = []

    async def run(self) -> None:
        while True:
            t0 = time.perf_counter()
            await asyncio.sleep(0.001)
            self.lags.append(max(0.0, (time.perf_counter() - t0 - 0.001) * 1000))

    def summary(self) -> dict[str, float]:
        lags = sorted(self.lags) or [0.0]
        return {"lag_p99_ms": lags[int(0.99 * (len(lags) - 1))], "lag_max_ms": lags[-1]}


async def _drive(app: Application[Any, Any, Any, Any, Any, Any], fake: FakeBotAPI, updates: list[Update],
                 lag: LoopLag | None = None, rate: float = 0.0) -> float:
    """Seconds from the first update queued until every one has been handled (its replies sent).
    All at once, or `rate` a second (as they would arrive)."""
    fake.messages_sent = 0
    await app.start()
    ticker = asyncio.create_task(lag.run()) if lag else None
    t0 = time.perf_counter()
    for n, u in enumerate(updates):
        if rate:
            await asyncio.sleep(max(0.0, t0 + n / rate - time.perf_counter()))
        app.update_queue.put_nowait(u)
    await app.update_queue.join()  # python-telegram-bot marks each update done once handled
    elapsed = time.perf_counter() - t0
    if ticker:
        ticker.cancel()
    await app.stop()
    return elapsed


async def policybot_rate(knowledge: Path, questions: list[str], count: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "log.sqlite3"
        # the per-user limit off: 200 residents asking this fast would be a flood
        cfg = Config(token=TOKEN, knowledge_dir=knowledge, db_path=db, cache_dir=Path(tmp) / "cache",
                     hash_salt="throughput", reload_interval=0, user_limit=0)
        fake = FakeBotAPI()
        app = build_application(cfg, request=fake, get_updates_request=FakeBotAPI(), rate_limited=False)
        await app.initialize()
        await post_init(app)
        try:
            await _drive(app, fake, _updates(distinct(questions, 50, 10**6), 50, app))  # warm up
            # every message different: what matching costs without any repeat
            seconds = await _drive(app, fake, _updates(distinct(questions, count), count, app))
            sent = fake.messages_sent
            # the questions themselves, cycled: hot questions asked again and again
            cycled = await _drive(app, fake, _updates(questions, count, app))
            # A third pass, arriving at half the first rate, with a ticker on the loop: how long
            # one chat's work keeps the loop from everyone else's (an arriving crisis, say).
            # (Its wake-ups would slow a timed pass; all at once it would time the backlog.)
            lag = LoopLag()
            await _drive(app, fake, _updates(distinct(questions, count, 2 * count), count, app), lag,
                         rate=count / seconds / 2)
        finally:
            await app.shutdown()
            await post_shutdown(app)  # flushes the query log
        with sqlite3.connect(db) as conn:
            logged = conn.execute("SELECT count(*) FROM queries").fetchone()[0]
    return {"updates": count, "seconds": seconds, "per_second": count / seconds,
            "logged": logged - 50 - 2 * count, "sent": sent, "cycled_per_second": count / cycled,
            "lag_rate": count / seconds / 2, **lag.summary()}


async def echo_rate(questions: list[str], count: int) -> dict[str, float]:
    async def echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        if update.message is not None and update.message.text is not None:
            await update.message.reply_text(update.message.text)

    fake = FakeBotAPI()
    app = Application.builder().token(TOKEN).request(fake).get_updates_request(FakeBotAPI()).build()
    app.add_handler(MessageHandler(filters.TEXT, echo))
    await app.initialize()
    try:
        await _drive(app, fake, _updates(questions, min(count, 50), app))
        seconds = await _drive(app, fake, _updates(questions, count, app))
    finally:
        await app.shutdown()
    return {"updates": count, "seconds": seconds, "per_second": count / seconds, "sent": fake.messages_sent}


async def measure(knowledge: Path, questions: list[str], count: int) -> dict[str, Any]:
    ours = await policybot_rate(knowledge, questions, count)
    echo = await echo_rate(questions, count)
    return {"policybot": ours, "echo": echo, "ratio": ours["per_second"] / echo["per_second"]}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m policybot.bot.throughput", description=__doc__.splitlines()[0])
    p.add_argument("--questions", required=True, help="text file, one question a line")
    p.add_argument("--knowledge", default="knowledge")
    p.add_argument("--updates", type=int, default=2000)
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    questions = [q for q in Path(args.questions).read_text(encoding="utf-8").splitlines() if q.strip()]
    if not questions:
        print("no questions in " + args.questions, file=sys.stderr)
        return 2
    result = asyncio.run(measure(Path(args.knowledge), questions, args.updates))
    if args.json:
        print(json.dumps(result))
    else:
        ours, echo = result["policybot"], result["echo"]
        print(f"policybot: {ours['per_second']:.0f} updates/s, every message distinct ({ours['logged']} of "
              f"{ours['updates']} logged); {ours['cycled_per_second']:.0f} updates/s with the questions cycled; "
              f"echo bot: {echo['per_second']:.0f} updates/s; ratio {result['ratio']:.2f}; event loop late by "
              f"{ours['lag_p99_ms']:.1f} ms at p99, {ours['lag_max_ms']:.1f} ms at most")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
